//! Process attribution: which processes hold a socket, found by reading every `/proc/PID/fd/*` link.
//!
//! A socket fd's link reads `socket:[INODE]`, and INODE is the inode the socket collectors report, so one scan
//! of all fd tables gives a map inode -> holders (process, fds). The scan uses directory fds and raw system
//! calls only: `openat(proc, "PID/fd")`, `getdents64` with a 64 KiB buffer (skipped for large dense tables,
//! see `walk`), one `readlinkat(fd_dir, "N")` per fd into a stack buffer. The kernel cost of that `readlinkat`
//! is the floor, so the work is spread over all CPUs, a large fd table split in chunks. Threads share the fd table of their process,
//! so `/proc/PID/task/*` is never read. comm, real uid (`Uid:` of `/proc/PID/status`; the owner of `/proc/PID`
//! would be the effective uid, or root for a non-dumpable process) and command line are read only for
//! processes that hold a socket.
//!
//! **Hidden processes.** Without privileges, the fd table of another user's process cannot be read
//! (`EACCES`/`EPERM`): such a process is *hidden*, not absent, and may hold any of the sockets left without
//! a holder. [`ScanStats::hidden`] counts them and [`ScanStats::complete`] is false when there is any. Kernel
//! threads and zombies have no fd table; their denied `fd` directory does not count. Processes that exit
//! mid-scan and fds closed mid-scan are skipped silently. With `hidepid=2` processes of other users are not
//! even listed, and cannot be counted.
//!
//! [`ProcessCache`] keeps the map between refreshes for a live view; its policy is documented there.

mod cache;
mod sys;
#[cfg(test)]
mod tests;
mod walk;

use std::collections::hash_map::Entry;

use std::path::Path;
use std::sync::Arc;

pub use cache::ProcessCache;

use super::CollectError;
use sys::Dir;

/// One process that holds at least one socket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProcessInfo {
    pub pid: u32,
    /// `/proc/PID/comm` (at most 15 bytes, set by the process), lossy UTF-8.
    pub comm: String,
    /// The arguments, space-joined, lossy UTF-8; empty for a zombie.
    pub cmdline: String,
    /// Real uid.
    pub uid: u32,
}

/// One holder of a socket: the process and the fds (ascending) through which it holds it.
#[derive(Debug, Clone, Copy)]
pub struct ProcessRef<'a> {
    pub process: &'a Arc<ProcessInfo>,
    pub fds: &'a [u32],
}

/// Inodes and pids are dense integers: the crate's fast hasher, not SipHash.
pub(crate) type FxHashMap<K, V> = crate::hash::FastMap<K, V>;

/// The holders of one inode. Nearly every socket has one holder with one fd, stored inline.
#[derive(Debug, Clone, Copy)]
enum Slot {
    One {
        process: u32,
        fd: u32,
    },
    /// Index into [`ProcessMap::shared`].
    Many(u32),
}

#[derive(Debug, Clone)]
struct Holder {
    process: u32,
    fds: Vec<u32>,
}

/// Socket inode -> the processes holding it, each listed once with its fds.
#[derive(Debug, Clone, Default)]
pub struct ProcessMap {
    processes: Vec<Arc<ProcessInfo>>,
    index: FxHashMap<u64, Slot>,
    shared: Vec<Vec<Holder>>,
    fds: usize,
}

impl ProcessMap {
    /// Build from each process and its `(inode, fd)` pairs.
    fn build<'a>(procs: impl IntoIterator<Item = (Arc<ProcessInfo>, &'a [(u64, u32)])>, fds_hint: usize) -> Self {
        let mut m = ProcessMap {
            index: FxHashMap::with_capacity_and_hasher(fds_hint, Default::default()),
            ..ProcessMap::default()
        };
        for (info, sockets) in procs {
            let p = m.processes.len() as u32;
            m.processes.push(info);
            m.fds += sockets.len();
            for &(inode, fd) in sockets {
                match m.index.entry(inode) {
                    Entry::Vacant(v) => {
                        v.insert(Slot::One { process: p, fd });
                    }
                    Entry::Occupied(mut o) => {
                        let holders = match *o.get() {
                            Slot::One { process, fd } => {
                                o.insert(Slot::Many(m.shared.len() as u32));
                                m.shared.push(vec![Holder { process, fds: vec![fd] }]);
                                m.shared.last_mut().unwrap()
                            }
                            Slot::Many(i) => &mut m.shared[i as usize],
                        };
                        // A process's pairs come together, so its holder, if any, is the last one.
                        match holders.last_mut() {
                            Some(h) if h.process == p => h.fds.push(fd),
                            _ => holders.push(Holder { process: p, fds: vec![fd] }),
                        }
                    }
                }
            }
        }
        for h in m.shared.iter_mut().flatten() {
            h.fds.sort_unstable();
        }
        m
    }

    /// The holders of a socket inode; empty when no visible process holds it (inode 0 never has one).
    pub fn get(&self, inode: u64) -> Holders<'_> {
        let it = match self.index.get(&inode) {
            None => HoldersIter::One(None),
            Some(Slot::One { process, fd }) => HoldersIter::One(Some((*process, fd))),
            Some(Slot::Many(i)) => HoldersIter::Many(self.shared[*i as usize].iter()),
        };
        Holders { processes: &self.processes, it }
    }

    /// Whether any visible process holds this inode.
    pub fn contains(&self, inode: u64) -> bool {
        self.index.contains_key(&inode)
    }

    /// Every socket inode held, in no particular order.
    pub fn inodes(&self) -> impl Iterator<Item = u64> + '_ {
        self.index.keys().copied()
    }

    /// Every process holding at least one socket, by pid.
    pub fn processes(&self) -> &[Arc<ProcessInfo>] {
        &self.processes
    }

    /// Distinct socket inodes held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Socket fds found, over all processes.
    pub fn socket_fds(&self) -> usize {
        self.fds
    }
}

/// Iterator over the holders of one inode, by pid.
#[derive(Debug, Clone)]
pub struct Holders<'a> {
    processes: &'a [Arc<ProcessInfo>],
    it: HoldersIter<'a>,
}

#[derive(Debug, Clone)]
enum HoldersIter<'a> {
    One(Option<(u32, &'a u32)>),
    Many(std::slice::Iter<'a, Holder>),
}

impl<'a> Iterator for Holders<'a> {
    type Item = ProcessRef<'a>;

    fn next(&mut self) -> Option<ProcessRef<'a>> {
        let (p, fds) = match &mut self.it {
            HoldersIter::One(one) => one.take().map(|(p, fd)| (p, std::slice::from_ref(fd)))?,
            HoldersIter::Many(it) => it.next().map(|h| (h.process, &h.fds[..]))?,
        };
        Some(ProcessRef { process: &self.processes[p as usize], fds })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.it {
            HoldersIter::One(one) => usize::from(one.is_some()),
            HoldersIter::Many(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Holders<'_> {}

/// What a scan (or a cache refresh) saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Processes (thread-group leaders) listed in the proc root.
    pub processes: usize,
    /// Processes whose fd table this call tried to read; for a cache refresh, only the ones rescanned.
    pub scanned: usize,
    /// Processes whose fd table we may not read (`EACCES`/`EPERM`): their sockets are missing from the map.
    pub hidden: usize,
    /// Processes whose fd table could not be read for another reason; also missing from the map.
    pub failed: usize,
    /// Processes that exited during this call.
    pub vanished: usize,
    /// Processes holding at least one socket.
    pub with_sockets: usize,
    /// Socket fds found (a socket held through 3 fds counts 3).
    pub socket_fds: usize,
    /// No process was hidden or failed: every socket held by a process this namespace shows is attributed.
    pub complete: bool,
    /// Every listed process was (re)scanned by this call; always true for [`scan`].
    pub full: bool,
}

/// The result of [`scan`].
#[derive(Debug, Clone, Default)]
pub struct ScanResult {
    pub map: ProcessMap,
    pub stats: ScanStats,
}

/// Open the proc root and list its processes.
fn open_and_list(proc_root: &Path) -> Result<(Dir, Vec<u32>), CollectError> {
    let err = |source| CollectError::ProcIo { path: proc_root.to_path_buf(), source };
    let dir = Dir::open(proc_root).map_err(err)?;
    let mut pids = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    dir.for_each_entry(&mut buf, |name| pids.extend(sys::parse_u32(name))).map_err(err)?;
    pids.sort_unstable();
    Ok((dir, pids))
}

/// One process as the scan left it.
struct Scanned {
    pid: u32,
    status: walk::Status,
    /// Set when the process holds sockets and its info could be read.
    info: Option<Arc<ProcessInfo>>,
    sockets: Vec<(u64, u32)>,
}

/// Scan the fd tables of `pids` on `threads` threads, then read the info of those holding sockets. A process
/// that exits between the two steps is reported [`walk::Status::Gone`] without sockets.
fn scan_pids(proc: &Dir, pids: &[u32], threads: usize) -> Vec<Scanned> {
    let outcomes = walk::scan_fds(proc, pids, threads);
    let holders: Vec<u32> = outcomes.iter().filter(|o| !o.sockets.is_empty()).map(|o| o.pid).collect();
    let mut infos = walk::read_infos(proc, &holders, threads).into_iter();
    outcomes
        .into_iter()
        .map(|o| {
            let mut s = Scanned { pid: o.pid, status: o.status, info: None, sockets: o.sockets };
            if !s.sockets.is_empty() {
                match infos.next().flatten() {
                    Some(info) => s.info = Some(Arc::new(info)),
                    None => {
                        s.status = walk::Status::Gone;
                        s.sockets = Vec::new();
                    }
                }
            }
            s
        })
        .collect()
}

/// Add up the per-process results into `stats` (`processes` and `full` are left to the caller).
fn tally(stats: &mut ScanStats, scanned: impl IntoIterator<Item = (walk::Status, bool)>) {
    for (status, holds) in scanned {
        match status {
            walk::Status::Read => {}
            walk::Status::Gone => stats.vanished += 1,
            walk::Status::Failed => stats.failed += 1,
            walk::Status::Hidden => stats.hidden += 1,
        }
        stats.with_sockets += usize::from(holds);
    }
}

/// Scan every process under `proc_root` (normally `/proc`) on all CPUs. Fails only when the proc root itself
/// cannot be opened or listed.
pub fn scan(proc_root: &Path) -> Result<ScanResult, CollectError> {
    scan_with_threads(proc_root, walk::threads())
}

/// [`scan`] with a given number of threads (1 = single-threaded).
pub fn scan_with_threads(proc_root: &Path, threads: usize) -> Result<ScanResult, CollectError> {
    let (proc, pids) = open_and_list(proc_root)?;
    Ok(scan_listed(&proc, &pids, pids.len(), threads))
}

/// Scan only the processes whose command name (`/proc/PID/comm`) `keep` accepts: a targeted scan, such as
/// every `docker-proxy`, at the cost of one small read per process instead of a walk of every fd table.
pub fn scan_named(proc_root: &Path, keep: &dyn Fn(&str) -> bool) -> Result<ScanResult, CollectError> {
    let (proc, pids) = open_and_list(proc_root)?;
    let total = pids.len();
    let named: Vec<u32> = pids
        .into_iter()
        .filter(|p| {
            std::fs::read(proc_root.join(p.to_string()).join("comm"))
                .is_ok_and(|c| keep(String::from_utf8_lossy(&c).trim_end_matches('\n')))
        })
        .collect();
    Ok(scan_listed(&proc, &named, total, 1))
}

fn scan_listed(proc: &Dir, pids: &[u32], total: usize, threads: usize) -> ScanResult {
    let scanned = scan_pids(proc, pids, threads);
    let mut stats = ScanStats { processes: total, full: pids.len() == total, ..ScanStats::default() };
    tally(&mut stats, scanned.iter().map(|s| (s.status, s.info.is_some())));
    stats.scanned = scanned.len();
    let fds = scanned.iter().map(|s| s.sockets.len()).sum();
    let map = ProcessMap::build(scanned.iter().filter_map(|s| Some((s.info.clone()?, &s.sockets[..]))), fds);
    stats.socket_fds = map.socket_fds();
    stats.complete = stats.hidden == 0 && stats.failed == 0;
    ScanResult { map, stats }
}
