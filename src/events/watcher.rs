//! [`Watcher`]: the [`EventTracker`] fed from the kernel: the destroy multicast groups for closes (every one,
//! with the last tcp_info), periodic dumps for opens and state changes (and closes without the groups).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Event, EventTracker, Lost};
use crate::clock;
use crate::collect::netlink::destroy::{DestroyEvents, SubscribeError};
use crate::collect::netns::Choice;
use crate::collect::process::{Attributor, Policy, ProcessInfo};
use crate::collect::{self, CollectError, Collector, Query, SourceChoice};
use crate::model::{Family, Proto, State, StateSet};

/// What to watch and how often to dump.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Protocols, families and the kernel filter program; the states are set here (see [`dump_states`]).
    pub query: Query,
    pub interval: Duration,
    pub source: SourceChoice,
    pub proc_root: PathBuf,
    /// Name the process of each new socket (a cached /proc scan).
    pub processes: bool,
    /// The longest the process cache waits before rescanning every process for sockets it cannot place (each
    /// full rescan reads every fd of every process: on a host with 200k sockets, most of a second).
    pub process_rescan: Duration,
    /// Keep each dump (every state, TIME-WAIT included) for [`Watcher::last_dump`] (`record` groups it).
    pub keep_dumps: bool,
    /// Report the sockets open at the start as `open` events (`watch --existing`); otherwise they only start
    /// the live set.
    pub existing: bool,
    /// The network namespace watched (`-N`): its dumps are taken in it and its destroy groups joined from
    /// it. One namespace: the caller's own, or one other.
    pub netns: Choice,
}

/// The states a dump asks for: every state of a full socket. TIME-WAIT sockets are remnants of a closed one
/// (same cookie) and SYN-RECV ones are request sockets the kernel never reports destroyed.
pub fn dump_states() -> StateSet {
    StateSet(StateSet::ALL.0 & !State::TIME_WAIT.bit() & !State::SYN_RECV.bit())
}

/// The longest dumps hold their closes while destroy messages are still queued (reading a full receive
/// buffer of 50k messages takes a few seconds).
const MAX_HOLD: Duration = Duration::from_secs(30);

/// The collector of the watch: the caller's own namespace, or the one `-N` names (more than one is refused).
fn watched_namespace(opts: &WatchOptions) -> Result<collect::Opened, CollectError> {
    let mut collector = collect::open(opts.source, &opts.netns, &opts.proc_root, Default::default());
    if opts.netns != Choice::Own {
        collector.namespaces().map_err(|e| CollectError::Namespace(e.to_string()))?;
        if !collector.is_one() {
            return Err(CollectError::Namespace("events are watched in one network namespace".into()));
        }
    }
    Ok(collector)
}

/// The kernel's destroy groups, joined in the watched namespace when the query has TCP or UDP; `None` (and a
/// note saying what is missed) when they are not used or cannot be joined.
fn subscribe_destroy(
    opts: &WatchOptions,
    collector: &mut collect::Opened,
    notes: &mut Vec<String>,
) -> Option<DestroyEvents> {
    let wants_inet = opts.query.tcp || opts.query.udp;
    match (wants_inet, opts.source) {
        (false, _) => None,
        (true, SourceChoice::Proc) => {
            notes.push(format!(
                "closes come from /proc reads every {}: sockets that open and close between two reads are \
                 missed",
                every(opts.interval)
            ));
            None
        }
        (true, _) => {
            let q = &opts.query;
            let join = || DestroyEvents::subscribe_for(q.tcp, q.udp, q.ipv4, q.ipv6);
            // A netlink socket belongs to the namespace it was made in, whichever thread reads it after.
            let joined = collector
                .in_the_namespace(join)
                .unwrap_or_else(|skip| Err(SubscribeError::Io(std::io::Error::other(skip.to_string()))));
            match joined {
                Ok(d) => Some(d),
                Err(e) => {
                    let why = match e {
                        SubscribeError::NeedsPrivilege => "they need CAP_NET_ADMIN".to_string(),
                        SubscribeError::Io(e) => e.to_string(),
                    };
                    notes.push(format!(
                        "no kernel destroy events ({why}): closes come from dumps every {}, so sockets that open \
                         and close between two dumps are missed and closes carry no tcp_info",
                        every(opts.interval)
                    ));
                    None
                }
            }
        }
    }
}

/// `200ms`, `1s`, `1.5s`: a dump interval in a note.
fn every(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 || !ms.is_multiple_of(100) { format!("{ms}ms") } else { format!("{}s", d.as_secs_f64()) }
}

pub struct Watcher {
    tracker: EventTracker,
    destroy: Option<DestroyEvents>,
    collector: Box<dyn Collector>,
    procs: Option<Attributor>,
    opts: WatchOptions,
    next_dump: Instant,
    destroyed: Vec<crate::model::Socket>,
    last: Vec<crate::model::Socket>,
    /// Things to tell the user once (on stderr): no destroy groups, dropped messages, hidden processes.
    notes: Vec<String>,
    hidden_said: bool,
    /// Destroy messages the kernel dropped (buffer overflows seen).
    pub overflows: u64,
    /// Closes lost since the last [`Watcher::take_lost`] (also said in a note).
    lost: Option<Lost>,
    /// The accounting of lost destroy messages (see [`Losses`]).
    losses: Losses,
    /// The last read of destroy messages left some queued; and since when dumps have held their closes
    /// because of such a backlog (see [`EventTracker::hold_closes`]).
    backlog: bool,
    held_since: Option<Instant>,
    /// How long the last dump took (collection only).
    pub last_dump_time: Duration,
    /// When the last dump was taken (ms since the epoch).
    pub last_dump_ms: u64,
    /// Sockets in the last dump (the next one's table is sized from it).
    last_count: usize,
}

impl Watcher {
    /// Subscribe to the destroy groups (when the query has TCP or UDP), then take the first dump: every
    /// socket open now is an `open` event, with `first_seen_ms` = now.
    pub fn start(mut opts: WatchOptions, out: &mut Vec<Event>) -> Result<Watcher, CollectError> {
        opts.query.states = if opts.keep_dumps { StateSet::ALL } else { dump_states() };
        opts.query.info = false;
        opts.query.memory = false;
        let mut notes = Vec::new();
        let mut collector = watched_namespace(&opts)?;
        let destroy = subscribe_destroy(&opts, &mut collector, &mut notes);
        let mut w = Watcher {
            tracker: if opts.existing {
                EventTracker::new(destroy.is_some())
            } else {
                EventTracker::new(destroy.is_some()).without_first_opens()
            },
            destroy,
            collector: Box::new(collector),
            procs: opts.processes.then(|| Attributor::new(Policy::watch(opts.process_rescan))),
            next_dump: Instant::now(),
            opts,
            destroyed: Vec::new(),
            notes,
            hidden_said: false,
            overflows: 0,
            lost: None,
            losses: Losses::default(),
            backlog: false,
            held_since: None,
            last_dump_time: Duration::ZERO,
            last_dump_ms: 0,
            last: Vec::new(),
            last_count: 0,
        };
        w.losses.counted = w.destroy.as_ref().and_then(DestroyEvents::dropped);
        w.dump(out)?;
        Ok(w)
    }

    /// Closes lost since the last call, if any were: destroy messages the kernel dropped, and how many of
    /// those closes came from the dumps instead. (Each report is also a note.)
    pub fn take_lost(&mut self) -> Option<Lost> {
        self.lost.take()
    }

    /// True when closes come from the kernel's destroy messages.
    pub fn has_destroy_events(&self) -> bool {
        self.destroy.is_some()
    }

    /// Notes for the user since the last call.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// The live set.
    pub fn tracker(&self) -> &EventTracker {
        &self.tracker
    }

    /// Wait for the next events: destroy messages as they come, and a dump when one is due. Returns after at
    /// most `max_wait` (with or without events); true when a dump was taken.
    pub fn poll(&mut self, max_wait: Duration, out: &mut Vec<Event>) -> Result<bool, CollectError> {
        let until = (Instant::now() + max_wait).min(self.next_dump);
        self.drain(until.saturating_duration_since(Instant::now()), out)?;
        if Instant::now() >= self.next_dump {
            self.dump(out)?;
            // Closes during the dump belong before the next one.
            self.drain(Duration::ZERO, out)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Take a dump now (and the closes it raced), out of schedule.
    pub fn dump_now(&mut self, out: &mut Vec<Event>) -> Result<(), CollectError> {
        self.drain(Duration::ZERO, out)?;
        self.dump(out)?;
        self.drain(Duration::ZERO, out)
    }

    /// The last dump, when `keep_dumps` was asked for.
    pub fn last_dump(&self) -> &[crate::model::Socket] {
        &self.last
    }

    fn drain(&mut self, wait: Duration, out: &mut Vec<Event>) -> Result<(), CollectError> {
        let Some(d) = &mut self.destroy else {
            std::thread::sleep(wait);
            return Ok(());
        };
        let got = d.recv(wait, &mut self.destroyed).map_err(CollectError::NetlinkUnavailable)?;
        self.backlog = got.backlog;
        if got.overflowed {
            self.overflows += 1;
            // Where the kernel counts its drops, how many were lost is said after the dumps that find the
            // sockets gone (see `Losses`); else now, and then the closes the dumps find.
            if self.losses.counted.is_none() && self.overflows == 1 {
                self.notes.push(
                    "the kernel dropped destroy messages (our receive buffer was full; it does not say how many): \
                     closes of sockets seen open come from the next dumps, without tcp_info; sockets that opened \
                     and closed meanwhile are missing"
                        .into(),
                );
            }
        }
        let now = clock::now_ms();
        let q = &self.opts.query;
        for s in self.destroyed.drain(..) {
            let proto = match s.proto {
                Proto::Tcp => q.tcp,
                Proto::Udp => q.udp,
                _ => false,
            };
            let family = match s.family {
                Family::Inet => q.ipv4,
                Family::Inet6 => q.ipv6,
                Family::Unix | Family::Packet | Family::Netlink => false,
            };
            if proto && family {
                self.tracker.apply_destroyed(now, s, out);
            }
        }
        Ok(())
    }

    fn dump(&mut self, out: &mut Vec<Event>) -> Result<(), CollectError> {
        let started = Instant::now();
        // Into the last dump's table (or one the size of the last dump): no growth, no second table while
        // the new one fills.
        let table = std::mem::take(&mut self.last);
        let table =
            if table.capacity() > 0 { table } else { Vec::with_capacity(self.last_count + self.last_count / 8) };
        // The kernel's count of dropped messages just before the walk: every socket whose message it counts
        // closed before this dump (see `Losses`).
        let dropped = self.destroy.as_ref().and_then(DestroyEvents::dropped);
        let snap = collect::collect_into(&mut *self.collector, &self.opts.query, table)?;
        self.last_dump_time = started.elapsed();
        for n in &snap.notes {
            if !self.notes.contains(n) {
                self.notes.push(n.clone());
            }
        }
        let now = clock::now_ms();
        self.last_dump_ms = now;
        let socks = snap.sockets;
        self.last_count = socks.len();
        let mut attribution = None;
        if let Some(procs) = &mut self.procs {
            let new: Vec<u64> =
                socks.iter().filter(|s| s.cookie.is_some_and(|c| !self.tracker.is_live(c))).map(|s| s.inode).collect();
            if !new.is_empty() {
                match procs.attribute_inodes(&self.opts.proc_root, new, Instant::now()) {
                    Ok(a) => attribution = Some(a),
                    Err(e) => self.notes.push(format!("processes not named: {e}")),
                }
            }
            let root = crate::sys::is_root();
            if !root && !self.hidden_said && !procs.stats().complete && procs.stats().processes > 0 {
                self.hidden_said = true;
                self.notes.push(
                    "some processes could not be inspected (another user's /proc/PID/fd needs root or \
                     CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH): their sockets show no process"
                        .into(),
                );
            }
        }
        let name = |s: &crate::model::Socket| -> Option<Arc<ProcessInfo>> {
            attribution.as_ref().and_then(|a| a.map().get(s.inode).next().map(|r| r.process.clone()))
        };
        // A socket this dump misses may have its destroy message among those still queued: its close waits
        // for it (with the last tcp_info), for MAX_HOLD at most (a backlog that never clears must not keep
        // dead sockets live).
        let hold = self.backlog && self.held_since.is_none_or(|t| t.elapsed() < MAX_HOLD);
        self.held_since = if hold { self.held_since.or(Some(started)) } else { None };
        self.tracker.hold_closes(hold);
        self.tracker.apply_dump(now, &socks, name, out);
        if self.destroy.is_some()
            && let Some(lost) = self.losses.after_dump(now, dropped, self.tracker.closed_by_dumps(), hold)
        {
            self.notes.push(lost.to_string());
            match &mut self.lost {
                Some(l) => l.merge(lost),
                None => self.lost = Some(lost),
            }
        }
        if self.opts.keep_dumps {
            self.last = socks;
        }
        // The next dump is one interval after this one started, but never sooner than the dump took after it
        // ended: a dump slower than the interval gets at most half of the time, the destroy messages the rest.
        let took = started.elapsed();
        self.next_dump = (started + self.opts.interval).max(Instant::now() + took);
        Ok(())
    }
}

/// The accounting of lost destroy messages, dump by dump. The kernel counts the messages it drops for our
/// socket (read just before each dump's walk); the tracker counts the sockets a dump finds gone without their
/// message. A socket seen open whose message was dropped before the read of dump k was closed before walk k,
/// so walks k and k+1 both miss it, and the tracker closes it at dump k+1 (its grace of one dump): at dump
/// k+1, every drop counted at dump k is either such a close or a socket no dump ever listed (it opened and
/// closed between two dumps), of which nothing else is known. A dump that holds its closes (destroy messages
/// still queued) settles nothing: the next one that does not hold them settles the drops counted before it.
#[derive(Debug, Default)]
struct Losses {
    /// The kernel's counter at the last read (it wraps at 32 bits); `None` when it does not say.
    counted: Option<u32>,
    /// Drops counted up to the previous dump's read, and up to the last one.
    dropped_before: u64,
    dropped: u64,
    /// What the reports so far said: drops, closes by dumps, and sockets with no event.
    said_dropped: u64,
    said_by_dumps: u64,
    said_unseen: u64,
}

impl Losses {
    /// Account for a dump at `now` whose read of the kernel's counter was `counter`, the tracker's count of
    /// closes by dumps being `by_dumps` after it (`held`: the dump closed nothing): what to report, if
    /// anything is new.
    fn after_dump(&mut self, now: u64, counter: Option<u32>, by_dumps: u64, held: bool) -> Option<Lost> {
        self.dropped_before = self.dropped;
        if let (Some(old), Some(new)) = (self.counted, counter) {
            self.dropped += u64::from(new.wrapping_sub(old));
        }
        let exact = self.counted.is_some() && counter.is_some();
        self.counted = counter;
        if held {
            // The closes of sockets seen open are not settled while the dumps hold them.
            return None;
        }
        let new_by_dumps = by_dumps - self.said_by_dumps.min(by_dumps);
        let lost = if exact {
            // Drops counted before the previous dump are settled now; later ones wait for the next dump.
            let new_dropped = self.dropped_before.saturating_sub(self.said_dropped);
            let unseen = self.dropped_before.saturating_sub(by_dumps).saturating_sub(self.said_unseen);
            if new_dropped == 0 && new_by_dumps == 0 {
                return None;
            }
            self.said_dropped += new_dropped;
            self.said_unseen += unseen;
            Lost { time_ms: now, dropped: Some(new_dropped), closed_by_dumps: new_by_dumps, unseen: Some(unseen) }
        } else {
            if new_by_dumps == 0 {
                return None;
            }
            Lost { time_ms: now, dropped: None, closed_by_dumps: new_by_dumps, unseen: None }
        };
        self.said_by_dumps = by_dumps;
        Some(lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_messages_are_settled_one_dump_later_as_closes_by_dumps_or_unseen() {
        let mut l = Losses { counted: Some(0), ..Losses::default() };
        assert_eq!(l.after_dump(1, Some(0), 0, false), None, "nothing lost");
        // 100 dropped before dump 2 (3 of them of sockets seen open): said at dump 3, when the tracker has
        // closed those 3.
        assert_eq!(l.after_dump(2, Some(100), 0, false), None, "not settled yet");
        let lost = l.after_dump(3, Some(100), 3, false).unwrap();
        assert_eq!(lost, Lost { time_ms: 3, dropped: Some(100), closed_by_dumps: 3, unseen: Some(97) });
        assert_eq!(l.after_dump(4, Some(100), 3, false), None, "said once");
        // The counter wraps.
        let mut l = Losses { counted: Some(u32::MAX - 4), ..Losses::default() };
        assert_eq!(l.after_dump(1, Some(5), 0, false), None);
        assert_eq!(l.after_dump(2, Some(5), 0, false).unwrap().unseen, Some(10));
    }

    #[test]
    fn dumps_that_hold_their_closes_settle_nothing() {
        let mut l = Losses { counted: Some(0), ..Losses::default() };
        assert_eq!(l.after_dump(1, Some(50), 0, true), None);
        assert_eq!(l.after_dump(2, Some(50), 0, true), None, "still held: the closes have not come");
        let lost = l.after_dump(3, Some(50), 4, false).unwrap();
        assert_eq!(lost, Lost { time_ms: 3, dropped: Some(50), closed_by_dumps: 4, unseen: Some(46) });
    }

    #[test]
    fn without_the_kernels_count_closes_by_dumps_are_a_lower_bound() {
        let mut l = Losses::default();
        assert_eq!(l.after_dump(1, None, 0, false), None);
        let lost = l.after_dump(2, None, 7, false).unwrap();
        assert_eq!(lost, Lost { time_ms: 2, dropped: None, closed_by_dumps: 7, unseen: None });
        assert!(lost.to_string().contains("at least 7"), "{lost}");
        assert_eq!(l.after_dump(3, None, 7, false), None);
    }

    #[test]
    fn a_report_says_how_many_closes_were_lost() {
        let lost = Lost { time_ms: 0, dropped: Some(7572), closed_by_dumps: 2, unseen: Some(7570) };
        let text = lost.to_string();
        assert!(text.contains("dropped 7572 destroy message(s)") && text.contains("7570 socket(s)"), "{text}");
        let mut sum = lost;
        sum.merge(Lost { time_ms: 9, dropped: Some(1), closed_by_dumps: 1, unseen: Some(0) });
        assert_eq!(sum, Lost { time_ms: 9, dropped: Some(7573), closed_by_dumps: 3, unseen: Some(7570) });
    }
}
