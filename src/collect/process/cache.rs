//! [`ProcessCache`]: the inode -> process map kept between the refreshes of a live view.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::sys::{Dir, Name};
use super::{
    CollectError, FxHashMap, ProcessInfo, ProcessMap, ScanStats, Scanned, open_and_list, scan_pids, tally, walk,
};

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
    /// Its number of open fds just before its fd table was read ([`fd_count`]); `None` when unknown.
    fds: Option<u64>,
    /// Refresh generation in which the process was last listed.
    seen: u64,
}

/// How many fds `pid` has open, for telling which fd tables changed since they were read: procfs gives it as
/// the size of `/proc/PID/fd` (Linux 6.2+, one `fstatat`, readable even for a process whose fds we may not
/// read); older kernels give 0, which says nothing (`None`). A fake tree counts its entries.
fn fd_count(proc: &Dir, procfs: bool, pid: u32) -> Option<u64> {
    let name = Name::pid_file(pid, b"fd");
    if procfs {
        return proc.size_of(&name).ok().filter(|&n| n > 0);
    }
    let mut n = 0;
    proc.open_dir(&name).ok()?.for_each_entry(&mut super::sys::dents_buf(4096), |_| n += 1).ok()?;
    Some(n)
}

/// What a look for new sockets may cost a refresh, in fds read (a process counts its fds plus
/// [`PROCESS_COST`]): the default of [`ProcessCache::with_look_budget`].
pub const LOOK_BUDGET: u64 = 4096;
/// The fixed cost of rescanning one process, in fds: opening and listing its fd directory, its stat.
const PROCESS_COST: u64 = 4;

/// The process map of a live view, rescanning as little as it can.
///
/// Policy, at each [`refresh_at`](Self::refresh_at):
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
/// * **New sockets are looked for at once**: when a wanted inode has no holder and was never looked for, the
///   visible processes whose fd count changed since their fd table was read ([`fd_count`]) are rescanned,
///   smallest first, then (if the inode is still not found) the smallest of the others, within a budget of
///   [`LOOK_BUDGET`] fds a refresh. A look that covered every visible process counts as a full rescan. What
///   it does not find waits for the next full rescan: such an inode is *not looked up yet*
///   ([`ProcessCache::looked_up`] is false), not unheld.
/// * Inodes still without holder after a full rescan (kernel sockets, sockets of hidden processes) are
///   remembered ([`ProcessCache::looked_up`]) and do not trigger another one; only inodes never seen
///   unattributed do.
/// * Known processes keep their comm, command line and hidden state until they are rescanned; a look for new
///   sockets keeps them too.
pub struct ProcessCache {
    full_interval: Duration,
    max_age: Duration,
    threads: usize,
    procs: FxHashMap<u32, Known>,
    /// Shared with the [`super::Attribution`]s handed out, replaced (not changed) when it changes.
    map: Arc<ProcessMap>,
    /// Inodes a full rescan found no holder for; shared as `map` is.
    unattributed: Arc<crate::hash::FastSet<u64>>,
    /// Inodes a look for new sockets did not find: not looked for again before the next full rescan.
    looked_for: crate::hash::FastSet<u64>,
    look_budget: u64,
    last_full: Option<Instant>,
    generation: u64,
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
            map: Arc::default(),
            unattributed: Arc::default(),
            looked_for: Default::default(),
            look_budget: LOOK_BUDGET,
            last_full: None,
            generation: 0,
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

    /// What a look for new sockets may read a refresh, in fds (default [`LOOK_BUDGET`]; 0: never look, wait
    /// for the full rescan).
    pub fn with_look_budget(mut self, fds: u64) -> Self {
        self.look_budget = fds;
        self
    }

    /// Threads used for scanning (default: the CPUs available).
    pub fn with_threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// The map as of the last refresh.
    pub fn map(&self) -> &ProcessMap {
        &self.map
    }

    /// The map and the inodes a full rescan found no holder for, as of the last refresh (shared, not copied).
    pub(super) fn shared(&self) -> (Arc<ProcessMap>, Arc<crate::hash::FastSet<u64>>) {
        (self.map.clone(), self.unattributed.clone())
    }

    /// What the last refresh did and saw. `hidden` and `failed` count every currently known process, not only
    /// the ones rescanned.
    pub fn stats(&self) -> &ScanStats {
        &self.stats
    }

    /// Whether a socket with this inode and no holder in the map was looked for in every process that could be
    /// inspected (by a full rescan): false for a socket newer than that, which may have a holder the cache has
    /// not seen yet (it is *not looked up yet*, neither unheld nor hidden).
    #[cfg(test)]
    pub fn looked_up(&self, inode: u64) -> bool {
        inode == 0 || self.map.contains(inode) || self.unattributed.contains(&inode)
    }

    /// Whether [`refresh_at`](Self::refresh_at) at `now` with these `unheld` inodes (the wanted ones the map has no
    /// holder for) would look for something: an inode never looked for, or a full rescan that is due.
    pub fn wants_refresh(&self, unheld: &[u64], now: Instant) -> bool {
        let Some(age) = self.last_full.map(|t| now.saturating_duration_since(t)) else { return true };
        if age >= self.max_age {
            return true;
        }
        // One pass: an inode never looked for, or (once a full rescan may run) one a look did not find.
        let rescan_allowed = age >= self.full_interval;
        (unheld.iter().filter(|&&i| i != 0 && !self.unattributed.contains(&i)))
            .any(|i| rescan_allowed || !self.looked_for.contains(i))
    }

    /// Refresh at `now`; `wanted` are the inodes the caller is about to look up (inode 0 is ignored).
    pub fn refresh_at(
        &mut self,
        proc_root: &Path,
        wanted: impl IntoIterator<Item = u64>,
        now: Instant,
    ) -> Result<&ProcessMap, CollectError> {
        let (proc, pids) = open_and_list(proc_root)?;
        self.generation += 1;
        let age = self.last_full.map(|t| now.saturating_duration_since(t));
        let full = age.is_none_or(|a| a >= self.max_age);
        self.stats = ScanStats { processes: pids.len(), full, ..ScanStats::default() };
        let todo = self.sweep(&proc, pids, full);
        // Sockets nobody is known to hold, and those of them never looked for.
        let unknown: Vec<u64> = wanted.into_iter().filter(|&i| i != 0 && !self.map.contains(i)).collect();
        let news: Vec<u64> = (unknown.iter().copied())
            .filter(|i| !self.unattributed.contains(i) && !self.looked_for.contains(i))
            .collect();
        let (full, looked_everywhere, unknown) = self.find(&proc, &todo, unknown, &news, (age, full));
        if full {
            self.last_full = Some(now);
        }
        self.remember(full || looked_everywhere, unknown, news);
        self.count();
        Ok(&self.map)
    }

    /// The incremental step (or the whole list when `full`): forget the processes gone, rescan the new ones
    /// and those whose identity changed. Returns the ones rescanned, sorted by pid.
    fn sweep(&mut self, proc: &Dir, pids: Vec<u32>, full: bool) -> Vec<(u32, Ident)> {
        let mut todo = Vec::new();
        for pid in pids {
            let Ok(ident) = proc.identity(&Name::num(pid)) else { continue };
            match self.procs.get_mut(&pid) {
                Some(k) => {
                    k.seen = self.generation;
                    if k.ident != ident && Self::same_process(proc, pid, k.start) {
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
        changed |= self.rescan(proc, &todo, false);
        if changed {
            self.rebuild();
        }
        todo
    }

    /// Look for the `unknown` inodes (`news`: never looked for) beyond what the sweep rescanned (`todo`):
    /// a look within the budget, or a full rescan when one is allowed (`age` since the last, `full`: one ran
    /// already). Returns whether a full rescan ran, whether every process was read, and what is still unknown.
    fn find(
        &mut self,
        proc: &Dir,
        todo: &[(u32, Ident)],
        mut unknown: Vec<u64>,
        news: &[u64],
        (age, mut full): (Option<Duration>, bool),
    ) -> (bool, bool, Vec<u64>) {
        let mut looked_everywhere = false;
        if !full && !news.is_empty() && self.look_budget > 0 {
            let (changed, everyone) = self.look_for(proc, todo, news);
            if changed {
                self.rebuild();
            }
            // Every process that could be inspected was read: as good as a full rescan for what it found
            // (not for max_age: the comm and command lines it kept are as old as before).
            looked_everywhere = everyone;
            self.stats.full = everyone;
            unknown.retain(|&i| !self.map.contains(i));
        }
        if !full
            && !looked_everywhere
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
            self.rescan(proc, &rest, false);
            self.rebuild();
        }
        (full, looked_everywhere, unknown)
    }

    /// What the refresh leaves known about sockets without a holder: after every process was read (`all`),
    /// the ones still unknown have none; else the ones a look did not find are not looked for again until a
    /// full rescan.
    fn remember(&mut self, all: bool, unknown: Vec<u64>, news: Vec<u64>) {
        if all {
            self.unattributed = Arc::new(unknown.into_iter().filter(|&i| !self.map.contains(i)).collect());
            self.looked_for.clear();
        } else if !news.is_empty() || !self.looked_for.is_empty() {
            // Only what is still wanted: the set stays small.
            let still: crate::hash::FastSet<u64> = unknown.into_iter().collect();
            self.looked_for.retain(|i| still.contains(i));
            self.looked_for.extend(news.into_iter().filter(|i| still.contains(i)));
        }
    }

    /// The stats of every currently known process (hidden, failed) and of the map.
    fn count(&mut self) {
        let mut st = ScanStats::default();
        tally(&mut st, self.procs.values().map(|k| (k.status, false)));
        self.stats.hidden = st.hidden;
        self.stats.failed = st.failed;
        self.stats.with_sockets = self.map.processes().len();
        self.stats.socket_fds = self.map.socket_fds();
        self.stats.complete = self.stats.hidden == 0 && self.stats.failed == 0;
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

    /// Look for `news` (inodes never looked for) in the processes likely to hold them, within the look
    /// budget: the visible processes whose fd count changed since their table was read, smallest first; then,
    /// when some are still not found, the smallest of the others. `done` (sorted by pid) were rescanned by
    /// this refresh already. Returns whether holders may have changed and whether every process that could be
    /// inspected was read.
    fn look_for(&mut self, proc: &Dir, done: &[(u32, Ident)], news: &[u64]) -> (bool, bool) {
        let procfs = proc.is_procfs();
        // (unchanged, fds, pid, identity) of every visible process not rescanned yet.
        let mut cands: Vec<(bool, u64, u32, Ident)> = (self.procs.iter())
            .filter(|(pid, k)| k.status != walk::Status::Hidden && done.binary_search_by_key(*pid, |t| t.0).is_err())
            .map(|(&pid, k)| {
                let now = fd_count(proc, procfs, pid);
                (now.is_some() && now == k.fds, now.or(k.fds).unwrap_or(0), pid, k.ident)
            })
            .collect();
        cands.sort_unstable();
        let mut budget = self.look_budget;
        let (mut changed, mut read) = (false, 0);
        let mut found = crate::hash::FastSet::default();
        for unchanged in [false, true] {
            let mut pick: Vec<(u32, Ident)> = Vec::new();
            for &(_, fds, pid, ident) in cands.iter().filter(|c| c.0 == unchanged) {
                let cost = fds.saturating_add(PROCESS_COST);
                if cost > budget {
                    break;
                }
                budget -= cost;
                pick.push((pid, ident));
            }
            read += pick.len();
            pick.sort_unstable_by_key(|t| t.0);
            changed |= self.rescan(proc, &pick, true);
            let held = pick.iter().filter_map(|(pid, _)| self.procs.get(pid)).flat_map(|k| k.sockets.iter());
            found.extend(held.map(|s| s.0));
            if news.iter().all(|i| found.contains(i)) {
                break;
            }
        }
        (changed, read == cands.len())
    }

    /// Scan `todo` (sorted by pid) and replace their entries; true when the socket holders may have changed.
    /// With `keep_info`, a process that held sockets keeps the comm and command line read before.
    fn rescan(&mut self, proc: &Dir, todo: &[(u32, Ident)], keep_info: bool) -> bool {
        if todo.is_empty() {
            return false;
        }
        let pids: Vec<u32> = todo.iter().map(|t| t.0).collect();
        let threads = if todo.len() < 4 { 1 } else { self.threads };
        let procfs = proc.is_procfs();
        let mut changed = false;
        self.stats.scanned += todo.len();
        // The fd counts before the tables are read: an fd opened meanwhile shows as a change next time.
        let counts: Vec<Option<u64>> = pids.iter().map(|&pid| fd_count(proc, procfs, pid)).collect();
        let known = |pid: u32| if keep_info { self.procs.get(&pid).and_then(|k| k.info.clone()) } else { None };
        let scanned = scan_pids(proc, &pids, threads, known);
        for ((s, &(_, ident)), fds) in scanned.into_iter().zip(todo).zip(counts) {
            let old = self.procs.remove(&s.pid);
            changed |= old.as_ref().is_some_and(|k| k.info.is_some()) || s.info.is_some();
            if s.status == walk::Status::Gone {
                self.stats.vanished += 1;
                continue;
            }
            let start = match old {
                Some(k) if k.ident == ident && k.start.is_some() => k.start,
                _ => Self::start_time(proc, s.pid),
            };
            let Scanned { status, info, sockets, .. } = s;
            let k = Known { ident, start, status, info, sockets, fds, seen: self.generation };
            self.procs.insert(s.pid, k);
        }
        changed
    }

    fn rebuild(&mut self) {
        // The old map goes first: two maps of 200k sockets at once would show in the peak memory.
        self.map = Arc::default();
        // Processes whose info was read (they hold sockets), by pid.
        let mut holders: Vec<(&u32, &Known)> = self.procs.iter().filter(|(_, k)| k.info.is_some()).collect();
        holders.sort_unstable_by_key(|(pid, _)| **pid);
        let fds = holders.iter().map(|(_, k)| k.sockets.len()).sum();
        let procs = holders.into_iter().filter_map(|(_, k)| Some((k.info.clone()?, &k.sockets[..])));
        self.map = Arc::new(ProcessMap::build(procs, fds));
    }
}
