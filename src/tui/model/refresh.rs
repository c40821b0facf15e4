//! What a refresh costs and how often the dashboard pays for a full one. Listeners (few, and the kernel
//! walks only its listening hash for a LISTEN-only dump) are refreshed every interval; the full table is
//! dumped again once its CPU cost fits [`CPU_BUDGET`] of one core, but never so rarely that the data shown
//! gets older than [`MAX_AGE`]. The header shows the age of the data.

use std::time::{Duration, Instant};

use crate::group::GroupKey;
use crate::hash::FastMap;
use crate::model::{Endpoint, Socket, State};

use crate::tui::model::history::{GroupSample, Series};

/// The oldest the full table may get on screen (when the user's interval is not longer).
pub const MAX_AGE: Duration = Duration::from_secs(3);
/// The share of one core full refreshes may take by default.
pub const CPU_BUDGET: f64 = 0.10;
/// The share of one core full refreshes never exceed, even when that lets the data get older than
/// [`MAX_AGE`] (a host so busy that a dump takes seconds is not helped by dumping back to back).
pub const CPU_CEILING: f64 = 0.25;

/// The time between the starts of two full refreshes, for a full refresh that cost `cpu` (the process's CPU
/// time) and took `wall`: at least `interval`, at most what keeps the data younger than [`MAX_AGE`]
/// (or the interval, when the user asked for a longer one), and never so often that they take more than
/// [`CPU_CEILING`] of a core.
pub fn full_every(interval: Duration, cpu: Duration, wall: Duration) -> Duration {
    let want = cpu.div_f64(CPU_BUDGET);
    // The next full refresh may take a little longer than the last one: keep a quarter of it in reserve.
    let cap = MAX_AGE.saturating_sub(wall + wall / 4).max(interval).max(cpu.div_f64(CPU_CEILING));
    want.clamp(interval, cap)
}

/// CPU time (user and system) used by the whole process so far: a collection runs on several threads (the
/// kernel's dump is received on one, decoded on another, other tables dumped on their own), and what a
/// refresh costs is all of it.
pub fn cpu_time() -> Duration {
    crate::sys::process_cpu_time()
}

/// A listeners-only refresh between two full ones: fresh accept queues, laid over the last full data.
#[derive(Debug, Clone, Default)]
pub struct ListenerPatch {
    /// When the listeners were dumped.
    pub taken_at: Option<Instant>,
    /// Accept queue (waiting, backlog) of each listening group, summed over its listeners.
    pub queues: FastMap<GroupKey, (u32, u32)>,
    /// Queues of each listening socket, by socket identity.
    pub sockets: FastMap<u64, (Option<u32>, Option<u32>)>,
    /// The open group's series with the new accept-queue sample.
    pub open_series: Option<Series<GroupSample>>,
}

impl ListenerPatch {
    /// Build from a listeners-only snapshot.
    pub fn from_listeners(sockets: &[Socket], taken_at: Instant) -> ListenerPatch {
        let mut p = ListenerPatch { taken_at: Some(taken_at), ..Default::default() };
        for s in sockets.iter().filter(|s| s.state == State::LISTEN) {
            p.sockets.insert(s.identity(), (s.recv_q, s.send_q));
            let key = match &s.local {
                Endpoint::Inet { ip, port } => {
                    GroupKey::Listen { proto: s.proto, ip: *ip, port: *port, netns: s.netns }
                }
                Endpoint::Unix { name: Some(n), .. } => GroupKey::UnixPath(s.netns, n.display()),
                // No groups for unnamed UNIX listeners, nor for the families the dashboard does not collect.
                _ => continue,
            };
            let q = p.queues.entry(key).or_insert((0, 0));
            q.0 += s.recv_q.unwrap_or(0);
            q.1 += s.send_q.unwrap_or(0);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_refreshes_adapt_to_their_cost() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // (interval, cpu, wall) -> time between full refreshes
        let cases = [
            ((s(1), ms(20), ms(25)), s(1)),        // a small host: every interval
            ((s(1), ms(150), ms(180)), ms(1500)),  // 10% of a core
            ((s(1), ms(400), ms(400)), ms(2500)),  // expensive: capped so the data stays under 3 s old
            ((s(5), ms(400), ms(450)), s(5)),      // the user's longer interval wins
            ((s(1), ms(900), ms(2500)), ms(3600)), // a dump taking seconds: at most a quarter of a core
            ((ms(250), ms(10), ms(12)), ms(250)),
        ];
        for ((interval, cpu, wall), want) in cases {
            assert_eq!(full_every(interval, cpu, wall), want, "{interval:?} {cpu:?} {wall:?}");
        }
    }

    #[test]
    fn cpu_time_moves_forward() {
        let a = cpu_time();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_time() > a);
    }
}
