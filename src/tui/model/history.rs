//! What the dashboard remembers over time, in bounded memory: each group's sockets by state and its accept
//! queue (for the group screen's charts), and the tcp_info of the open group's sockets (rtt, cwnd,
//! throughput: [`MAX_SOCKETS`] of them, for their detail's charts). A series keeps the whole time it has
//! watched in at most [`CAP`] samples: when it is full, neighbouring samples merge and each sample then stands
//! for twice as many refreshes.

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

impl Merge for SocketSample {
    fn merge(a: &Self, b: &Self) -> Self {
        SocketSample {
            t: b.t,
            rtt_ms: (a.rtt_ms + b.rtt_ms) / 2.0,
            cwnd: (a.cwnd + b.cwnd) / 2.0,
            throughput: (a.throughput + b.throughput) / 2.0,
        }
    }
}

/// One socket's tcp_info over the time it has been watched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SocketHistory {
    pub series: Series<SocketSample>,
    last_acked: Option<(f64, u64)>,
}

/// Sockets of the open group whose tcp_info is followed (the first ones listed, and the open detail's).
pub const MAX_SOCKETS: usize = 256;

impl SocketHistory {
    /// Add the socket's tcp_info seen at `t` seconds; a repeated `t` (the same refresh) is ignored.
    pub fn push(&mut self, t: f64, info: &crate::model::internals::TcpInfo) {
        if self.series.samples.last().is_some_and(|s| s.t >= t) {
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
        self.series.push(SocketSample { t, rtt_ms, cwnd, throughput });
    }

    /// When the last sample was taken.
    pub fn last_t(&self) -> Option<f64> {
        self.series.samples.last().map(|s| s.t)
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

#[cfg(test)]
mod socket_tests {
    use super::*;

    fn info(rtt_us: u32, acked: u64) -> crate::model::internals::TcpInfo {
        let mut b = vec![0u8; 232];
        b[68..72].copy_from_slice(&rtt_us.to_ne_bytes());
        b[120..128].copy_from_slice(&acked.to_ne_bytes());
        crate::model::internals::TcpInfo::decode(&b)
    }

    #[test]
    fn a_socket_history_is_bounded_and_keeps_its_whole_time() {
        let mut h = SocketHistory::default();
        for i in 0..5000u64 {
            h.push(i as f64, &info(1000, i * 100));
        }
        h.push(4999.0, &info(9, 0));
        assert!(h.series.samples.len() <= CAP);
        assert!(h.series.samples[0].t < h.series.stride as f64, "it starts where the watching started");
        assert_eq!(h.last_t(), Some(4999.0), "a repeated refresh is ignored");
        assert_eq!(h.series.samples.last().unwrap().throughput, 100.0);
    }
}
