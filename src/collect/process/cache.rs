//! [`ProcessCache`]: the inode -> process map kept between the refreshes of a live view.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::sys::{Dir, Name};
use super::{CollectError, FxHashMap, ProcessInfo, ProcessMap, ScanStats, open_and_list, scan_pids, tally, walk};

/// Identity of a process instance: inode and ctime of its `/proc/PID` directory (see [`Dir::identity`]).
type Ident = (u64, i64, i64);

struct Known {
    ident: Ident,
    /// Start time from `/proc/PID/stat`, when it could be read: see [`ProcessCache::same_process`].
    start: Option<u64>,
    status: walk::Status,
    /// Set when the process holds sockets.
    info: Option<Arc<ProcessInfo>>,
    sockets: Vec<(u64, u32)>,
    /// Refresh generation in which the process was last listed.
    seen: u64,
}

/// The process map of a live view, rescanning as little as it can.
///
/// Policy, at each [`refresh`](Self::refresh):
/// * `/proc` is listed and each pid's `/proc/PID` identity (inode + ctime, one `fstatat`) is checked. Gone
///   pids are dropped; new pids and reused pids (same number, new identity) have their fd table scanned.
///   procfs gives a `/proc/PID` directory a new inode and ctime when its cached inode was reclaimed (memory
///   pressure, `drop_caches`): a changed identity is confirmed by the start time in `/proc/PID/stat` before
///   the fd table is read again (else, under memory pressure, processes with 20k sockets were rescanned on
///   every refresh).
///   Known processes are not rescanned, so the cost of an unchanged system is one `fstatat` per process plus
///   one map lookup per wanted inode.
/// * A **full rescan** (every process) happens on the first refresh; when a wanted inode has no holder after
///   the step above (an existing process opened or received a socket) and the last full rescan is at least
///   `full_interval` old (default 10 s); and anyway when it is `max_age` old (default 60 s), which bounds how
///   long a socket that moved between processes, or a changed comm / command line, stays stale.
/// * Inodes still without holder after a full rescan (kernel sockets, sockets of hidden processes) are
///   remembered and do not trigger another one; only inodes never seen unattributed do.
/// * Known processes keep their comm, command line and hidden state until they are rescanned.
pub struct ProcessCache {
    full_interval: Duration,
    max_age: Duration,
    threads: usize,
    procs: FxHashMap<u32, Known>,
    map: ProcessMap,
    unattributed: crate::hash::FastSet<u64>,
    last_full: Option<Instant>,
    generation: u64,
    /// Counts the maps built: see [`ProcessCache::version`].
    version: u64,
    stats: ScanStats,
}

impl Default for ProcessCache {
    fn default() -> Self {
        ProcessCache::new()
    }
}

impl ProcessCache {
    pub fn new() -> Self {
        ProcessCache {
            full_interval: Duration::from_secs(10),
            max_age: Duration::from_secs(60),
            threads: walk::threads(),
            procs: FxHashMap::default(),
            map: ProcessMap::default(),
            unattributed: HashSet::default(),
            last_full: None,
            generation: 0,
            version: 0,
            stats: ScanStats::default(),
        }
    }

    /// Minimum time between two full rescans caused by unknown inodes (default 10 s).
    pub fn with_full_interval(mut self, d: Duration) -> Self {
        self.full_interval = d;
        self
    }

    /// Maximum time between two full rescans (default 60 s).
    pub fn with_max_age(mut self, d: Duration) -> Self {
        self.max_age = d;
        self
    }

    /// Threads used for scanning (default: the CPUs available).
    pub fn with_threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Changes whenever the map is rebuilt: lookups made in the map stay valid while it stays the same.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The map as of the last refresh.
    pub fn map(&self) -> &ProcessMap {
        &self.map
    }

    /// What the last refresh did and saw. `hidden` and `failed` count every currently known process, not only
    /// the ones rescanned.
    pub fn stats(&self) -> &ScanStats {
        &self.stats
    }

    /// Refresh now; `wanted` are the inodes the caller is about to look up (inode 0 is ignored).
    pub fn refresh(
        &mut self,
        proc_root: &Path,
        wanted: impl IntoIterator<Item = u64>,
    ) -> Result<&ProcessMap, CollectError> {
        self.refresh_at(proc_root, wanted, Instant::now())
    }

    /// [`refresh`](Self::refresh) with the current time given, for tests.
    pub fn refresh_at(
        &mut self,
        proc_root: &Path,
        wanted: impl IntoIterator<Item = u64>,
        now: Instant,
    ) -> Result<&ProcessMap, CollectError> {
        let (proc, pids) = open_and_list(proc_root)?;
        self.generation += 1;
        let age = self.last_full.map(|t| now.saturating_duration_since(t));
        let mut full = age.is_none_or(|a| a >= self.max_age);
        self.stats = ScanStats { processes: pids.len(), full, ..ScanStats::default() };

        // Incremental step (or the whole list when a full rescan is due). `todo` stays sorted by pid.
        let mut todo = Vec::new();
        for pid in pids {
            let Ok(ident) = proc.identity(&Name::num(pid)) else { continue };
            match self.procs.get_mut(&pid) {
                Some(k) => {
                    k.seen = self.generation;
                    if k.ident != ident && Self::same_process(&proc, pid, k.start) {
                        k.ident = ident;
                    }
                    if k.ident != ident || full {
                        todo.push((pid, ident));
                    }
                }
                None => todo.push((pid, ident)),
            }
        }
        let (generation, before) = (self.generation, self.procs.len());
        let mut changed = false;
        self.procs.retain(|_, k| {
            changed |= k.seen != generation && k.info.is_some();
            k.seen == generation
        });
        self.stats.vanished += before - self.procs.len();
        changed |= self.rescan(&proc, &todo);
        if changed {
            self.rebuild();
        }

        // Sockets nobody is known to hold.
        let unknown: Vec<u64> = wanted.into_iter().filter(|&i| i != 0 && !self.map.contains(i)).collect();
        if !full
            && age.is_some_and(|a| a >= self.full_interval)
            && unknown.iter().any(|i| !self.unattributed.contains(i))
        {
            full = true;
            self.stats.full = true;
            let mut rest: Vec<(u32, Ident)> = (self.procs.iter())
                .filter(|(pid, _)| todo.binary_search_by_key(*pid, |t| t.0).is_err())
                .map(|(&pid, k)| (pid, k.ident))
                .collect();
            rest.sort_unstable_by_key(|t| t.0);
            self.rescan(&proc, &rest);
            self.rebuild();
        }
        if full {
            self.last_full = Some(now);
            self.unattributed = unknown.into_iter().filter(|&i| !self.map.contains(i)).collect();
        }

        let mut st = ScanStats::default();
        tally(&mut st, self.procs.values().map(|k| (k.status, false)));
        self.stats.hidden = st.hidden;
        self.stats.failed = st.failed;
        self.stats.with_sockets = self.map.processes().len();
        self.stats.socket_fds = self.map.socket_fds();
        self.stats.complete = self.stats.hidden == 0 && self.stats.failed == 0;
        Ok(&self.map)
    }

    /// Whether `pid` is still the process that started at `start` (its `/proc/PID/stat` says so).
    fn same_process(proc: &Dir, pid: u32, start: Option<u64>) -> bool {
        start.is_some() && Self::start_time(proc, pid) == start
    }

    fn start_time(proc: &Dir, pid: u32) -> Option<u64> {
        let mut buf = Vec::new();
        proc.read_file(&Name::pid_file(pid, b"stat"), &mut buf, super::sys::STAT_CAP).ok()?;
        super::sys::parse_stat_start(&buf)
    }

    /// Scan `todo` (sorted by pid) and replace their entries; true when the socket holders may have changed.
    fn rescan(&mut self, proc: &Dir, todo: &[(u32, Ident)]) -> bool {
        if todo.is_empty() {
            return false;
        }
        let pids: Vec<u32> = todo.iter().map(|t| t.0).collect();
        let threads = if todo.len() < 4 { 1 } else { self.threads };
        let mut changed = false;
        self.stats.scanned += todo.len();
        let scanned = scan_pids(proc, &pids, threads);
        debug_assert!(scanned.iter().map(|s| s.pid).eq(pids.iter().copied()));
        for (s, &(_, ident)) in scanned.into_iter().zip(todo) {
            let old = self.procs.remove(&s.pid);
            changed |= old.is_some_and(|k| k.info.is_some()) || s.info.is_some();
            if s.status == walk::Status::Gone {
                self.stats.vanished += 1;
                continue;
            }
            let start = Self::start_time(proc, s.pid);
            let k = Known { ident, start, status: s.status, info: s.info, sockets: s.sockets, seen: self.generation };
            self.procs.insert(s.pid, k);
        }
        changed
    }

    fn rebuild(&mut self) {
        // The old map goes first: two maps of 200k sockets at once would show in the peak memory.
        self.map = ProcessMap::default();
        self.version += 1;
        // Processes whose info was read (they hold sockets), by pid.
        let mut holders: Vec<(&u32, &Known)> = self.procs.iter().filter(|(_, k)| k.info.is_some()).collect();
        holders.sort_unstable_by_key(|(pid, _)| **pid);
        let fds = holders.iter().map(|(_, k)| k.sockets.len()).sum();
        let procs = holders.into_iter().filter_map(|(_, k)| Some((k.info.clone()?, &k.sockets[..])));
        self.map = ProcessMap::build(procs, fds);
    }
}
