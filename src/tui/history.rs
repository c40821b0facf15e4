//! What the dashboard remembers over time, in bounded memory: each group's sockets by state and its accept
//! queue (for the group screen's charts), and the tcp_info of the socket whose detail is open (rtt, cwnd,
//! throughput). A series keeps the whole time it has watched in at most [`CAP`] samples: when it is full,
//! neighbouring samples merge and each sample then stands for twice as many refreshes.

use std::collections::VecDeque;

use crate::group::Group;
use crate::model::{Proto, State};
use crate::record::GroupRow;

/// Samples a series keeps, whatever the time it covers.
pub const CAP: usize = 120;
/// Group series kept at most (the biggest groups win); beyond, the smallest are forgotten.
pub const MAX_GROUPS: usize = 512;

/// The state bands of the group chart, in drawing order. The first two are named per protocol as ss names
/// them: see [`band_name`].
pub const BANDS: [&str; 6] = ["ESTAB", "UNCONN", "SYN", "C-WAIT", "closing", "T-WAIT"];

/// A band's name for a group of protocol `proto`: ESTAB for connected sockets (TCP, connected UDP, UNIX
/// streams), UNCONN for unconnected ones (state 7: an unconnected UDP or UNIX datagram socket), as ss says.
pub fn band_name(band: usize, proto: Proto) -> &'static str {
    match band {
        0 => State::ESTABLISHED.display_name(proto),
        1 => State::CLOSE.display_name(proto),
        b => BANDS.get(b).copied().unwrap_or("?"),
    }
}

/// One point of a group's series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GroupSample {
    /// Seconds since the dashboard started (or since the recording's start).
    pub t: f64,
    /// Sockets by band ([`BANDS`]), averaged over the refreshes the sample stands for.
    pub bands: [f32; 6],
    /// Accept-queue fill of the group's listeners in percent of the backlog (the highest seen).
    pub queue_pct: f32,
    /// Sockets in the group, averaged.
    pub total: f32,
}

impl GroupSample {
    /// A live group at `t`.
    pub fn of(g: &Group, t: f64) -> GroupSample {
        let counts = |s: State| g.states.get(s);
        GroupSample::counted(&counts, g.len() as u32, g.listeners.len() as u32, g.accept_queue, t)
    }

    /// A recorded group at `t` (seconds since the recording's first sample).
    pub fn of_row(g: &GroupRow, t: f64) -> GroupSample {
        let queue = g.accept_queue.zip(g.accept_backlog);
        GroupSample::counted(&|s: State| g.state(s), g.sockets, g.listeners, queue, t)
    }

    /// The bands from counts by state, the group's size and its listeners (which no band counts).
    fn counted(
        counts: &dyn Fn(State) -> u32,
        total: u32,
        listeners: u32,
        accept_queue: Option<(u32, u32)>,
        t: f64,
    ) -> GroupSample {
        let st = |s: State| counts(s) as f32;
        let estab = st(State::ESTABLISHED);
        let syn = st(State::SYN_SENT) + st(State::SYN_RECV);
        let close_wait = st(State::CLOSE_WAIT);
        let closing = st(State::FIN_WAIT1) + st(State::FIN_WAIT2) + st(State::LAST_ACK) + st(State::CLOSING);
        let tw = st(State::TIME_WAIT);
        let total = total as f32;
        // The rest, listeners aside, is unconnected (state 7: UDP and UNIX datagram sockets, a bound TCP socket).
        let unconn = (total - estab - syn - close_wait - closing - tw - listeners as f32).max(0.0);
        let queue_pct = match accept_queue {
            Some((q, b)) if b > 0 => (q as f32 * 100.0 / b as f32).min(100.0),
            _ => 0.0,
        };
        GroupSample { t, bands: [estab, unconn, syn, close_wait, closing, tw], queue_pct, total }
    }

    fn merge(a: &GroupSample, b: &GroupSample) -> GroupSample {
        let mut bands = [0.0; 6];
        for (i, v) in bands.iter_mut().enumerate() {
            *v = (a.bands[i] + b.bands[i]) / 2.0;
        }
        GroupSample { t: b.t, bands, queue_pct: a.queue_pct.max(b.queue_pct), total: (a.total + b.total) / 2.0 }
    }
}

/// A bounded series: at most [`CAP`] samples covering all the time since its first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series<T> {
    pub samples: Vec<T>,
    /// Refreshes each sample stands for (1, 2, 4, ...).
    pub stride: u32,
    /// Refreshes gathered into the last sample so far.
    fill: u32,
}

/// How two samples of a series become one.
pub trait Merge: Copy {
    fn merge(a: &Self, b: &Self) -> Self;
}

impl Merge for GroupSample {
    fn merge(a: &Self, b: &Self) -> Self {
        GroupSample::merge(a, b)
    }
}

impl<T: Merge> Series<T> {
    pub fn push(&mut self, s: T) {
        self.stride = self.stride.max(1);
        if self.fill > 0 && self.fill < self.stride {
            if let Some(last) = self.samples.last_mut() {
                *last = T::merge(last, &s);
            }
            self.fill += 1;
            return;
        }
        if self.samples.len() >= CAP {
            self.samples =
                self.samples.chunks(2).map(|c| if c.len() == 2 { T::merge(&c[0], &c[1]) } else { c[0] }).collect();
            self.stride *= 2;
        }
        self.samples.push(s);
        self.fill = 1;
    }
}

/// One point of a socket's series, from its tcp_info.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SocketSample {
    pub t: f64,
    pub rtt_ms: f64,
    pub cwnd: f64,
    /// Bytes acknowledged per second since the previous sample.
    pub throughput: f64,
}

/// The open detail socket's tcp_info over time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SocketHistory {
    /// The socket followed; a different one starts a new history.
    pub id: u64,
    pub samples: VecDeque<SocketSample>,
    last_acked: Option<(f64, u64)>,
}

/// Socket samples kept (an hour at one a second).
pub const SOCKET_CAP: usize = 3600;

impl SocketHistory {
    pub fn new(id: u64) -> Self {
        SocketHistory { id, ..Default::default() }
    }

    /// Add the socket's tcp_info seen at `t` seconds; a repeated `t` (the same refresh) is ignored.
    pub fn push(&mut self, t: f64, info: &crate::model::internals::TcpInfo) {
        if self.samples.back().is_some_and(|s| s.t >= t) {
            return;
        }
        let acked = info.bytes_acked();
        let throughput = match (self.last_acked, acked) {
            (Some((t0, a0)), Some(a1)) if t > t0 => a1.saturating_sub(a0) as f64 / (t - t0),
            _ => 0.0,
        };
        if let Some(a) = acked {
            self.last_acked = Some((t, a));
        }
        let rtt_ms = info.rtt_us().map_or(0.0, |us| us as f64 / 1000.0);
        let cwnd = info.snd_cwnd().map_or(0.0, |c| c as f64);
        if self.samples.len() >= SOCKET_CAP {
            self.samples.pop_front();
        }
        self.samples.push_back(SocketSample { t, rtt_ms, cwnd, throughput });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: f64, n: f32) -> GroupSample {
        GroupSample { t, bands: [n, 0.0, 0.0, 0.0, 0.0, 0.0], queue_pct: n, total: n }
    }

    #[test]
    fn a_series_keeps_all_its_time_in_bounded_samples() {
        let mut series = Series::default();
        for i in 0..10_000 {
            series.push(s(i as f64, (i % 7) as f32));
        }
        assert!(series.samples.len() <= CAP, "{}", series.samples.len());
        assert!(series.samples.len() > CAP / 2);
        let first = series.samples[0].t;
        assert!(first < series.stride as f64, "the oldest sample stands for the start: {first}");
        assert_eq!(series.samples.last().unwrap().t, 9999.0);
        assert!(series.stride >= 32);
    }

    #[test]
    fn merged_samples_average_counts_and_keep_the_highest_queue() {
        let m = GroupSample::merge(&s(1.0, 2.0), &s(2.0, 4.0));
        assert_eq!(m.bands[0], 3.0);
        assert_eq!(m.queue_pct, 4.0);
        assert_eq!(m.t, 2.0);
    }
}
