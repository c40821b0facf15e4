//! [`Watcher`]: the [`Tracker`] fed from the kernel: the destroy multicast groups for closes (every one,
//! with the last tcp_info), periodic dumps for opens and state changes (and closes without the groups).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Event, Tracker};
use crate::clock;
use crate::collect::netlink::destroy::{DestroyEvents, SubscribeError};
use crate::collect::process::{ProcessCache, ProcessInfo};
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
}

/// The states a dump asks for: every state of a full socket. TIME-WAIT sockets are remnants of a closed one
/// (same cookie) and SYN-RECV ones are request sockets the kernel never reports destroyed.
pub fn dump_states() -> StateSet {
    StateSet(StateSet::ALL.0 & !State::TIME_WAIT.bit() & !State::SYN_RECV.bit())
}

/// `200ms`, `1s`, `1.5s`: a dump interval in a note.
fn every(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 || !ms.is_multiple_of(100) { format!("{ms}ms") } else { format!("{}s", d.as_secs_f64()) }
}

pub struct Watcher {
    tracker: Tracker,
    destroy: Option<DestroyEvents>,
    collector: Box<dyn Collector>,
    cache: Option<ProcessCache>,
    opts: WatchOptions,
    next_dump: Instant,
    destroyed: Vec<crate::model::Socket>,
    last: Vec<crate::model::Socket>,
    /// Things to tell the user once (on stderr): no destroy groups, dropped messages, hidden processes.
    notes: Vec<String>,
    hidden_said: bool,
    /// Destroy messages the kernel dropped (buffer overflows seen).
    pub overflows: u64,
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
        let wants_inet = opts.query.tcp || opts.query.udp;
        let destroy = match (wants_inet, opts.source) {
            (false, _) => None,
            (true, SourceChoice::Proc) => {
                notes.push(format!(
                    "closes come from /proc reads every {}: sockets that open and close between two reads are \
                     missed",
                    every(opts.interval)
                ));
                None
            }
            (true, _) => match DestroyEvents::subscribe() {
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
            },
        };
        let mut w = Watcher {
            tracker: if opts.existing {
                Tracker::new(destroy.is_some())
            } else {
                Tracker::new(destroy.is_some()).without_first_opens()
            },
            destroy,
            collector: collect::open(opts.source, opts.proc_root.clone()),
            cache: opts.processes.then(|| ProcessCache::new().with_full_interval(opts.process_rescan)),
            next_dump: Instant::now(),
            opts,
            destroyed: Vec::new(),
            notes,
            hidden_said: false,
            overflows: 0,
            last_dump_time: Duration::ZERO,
            last_dump_ms: 0,
            last: Vec::new(),
            last_count: 0,
        };
        w.dump(out)?;
        Ok(w)
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
    pub fn tracker(&self) -> &Tracker {
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
        if got.overflowed {
            self.overflows += 1;
            self.notes.push(
                "the kernel dropped destroy messages (our receive buffer was full): those closes come from the \
                 next dumps, without tcp_info"
                    .into(),
            );
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
        let mut refreshed = false;
        if let Some(cache) = &mut self.cache {
            let new: Vec<u64> =
                socks.iter().filter(|s| s.cookie.is_some_and(|c| !self.tracker.is_live(c))).map(|s| s.inode).collect();
            if !new.is_empty() {
                match cache.refresh(&self.opts.proc_root, new) {
                    Ok(_) => refreshed = true,
                    Err(e) => self.notes.push(format!("processes not named: {e}")),
                }
            }
            let root = crate::sys::is_root();
            if !root && !self.hidden_said && !cache.stats().complete && cache.stats().processes > 0 {
                self.hidden_said = true;
                self.notes.push(
                    "some processes could not be inspected (another user's /proc/PID/fd needs root or \
                     CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH): their sockets show no process"
                        .into(),
                );
            }
        }
        let lookup = self.cache.as_ref().filter(|_| refreshed).map(|c| c.map());
        let name = |s: &crate::model::Socket| -> Option<Arc<ProcessInfo>> {
            lookup.and_then(|m| m.get(s.inode).next().map(|r| r.process.clone()))
        };
        self.tracker.apply_dump(now, &socks, name, out);
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
