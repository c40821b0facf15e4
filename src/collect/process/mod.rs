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
//! A live view asks an [`Attributor`] (one [`Policy`] per command), which keeps the map between refreshes in a
//! process cache (its rescan rules are documented there); every caller reads a socket's holder from an
//! [`Attribution`].

mod attrib;
mod cache;
mod sys;
#[cfg(test)]
mod tests;
mod walk;

use std::path::Path;
use std::sync::Arc;

pub use crate::model::owners::{Holders, ProcessInfo, ProcessMap, ProcessRef};
pub use attrib::{Attribution, Attributor, Policy};
#[cfg(test)]
use cache::ProcessCache;

/// The pure parsers of `/proc/PID` files: fd link targets, `status`, `stat`, `comm`, `cmdline`.
pub mod parse {
    pub use super::sys::{
        parse_cmdline, parse_comm, parse_socket_link, parse_stat_start, parse_status_uid, stat_has_no_files,
    };
}

use super::CollectError;
use sys::Dir;

/// Inodes and pids are dense integers: the crate's fast hasher, not SipHash.
pub(crate) type FxHashMap<K, V> = crate::hash::FastMap<K, V>;

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

impl ScanStats {
    /// The note for stderr when some fd tables could not be read, saying why as far as it is known; `None`
    /// when the scan was complete. `root` is whether we run as root.
    pub fn note(&self, root: bool) -> Option<String> {
        if self.complete {
            return None;
        }
        let of = self.processes;
        let mut parts = Vec::new();
        if self.hidden > 0 {
            let why = hidden_why(root);
            parts.push(format!("{} of {of} processes could not be inspected ({why})", self.hidden));
        }
        if self.failed > 0 || parts.is_empty() {
            parts.push(format!(
                "{} of {of} processes could not be inspected (their /proc/PID/fd could not be read as a directory)",
                self.failed
            ));
        }
        Some(format!("{}; sockets they may hold show users:(hidden,uid=...)", parts.join("; ")))
    }
}

/// Why processes are hidden ([`ScanStats::hidden`]), as far as it is known: `root` is whether we run as root.
pub fn hidden_why(root: bool) -> &'static str {
    if root {
        "the kernel refused their /proc/PID/fd even to root"
    } else {
        "reading another user's /proc/PID/fd needs root or CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"
    }
}

/// The result of [`scan`].
#[derive(Debug, Clone, Default)]
pub struct ScanResult {
    pub map: ProcessMap,
    pub stats: ScanStats,
}

/// Open the proc root and list its processes.
fn open_and_list(proc_root: &Path) -> Result<(Dir, Vec<u32>), CollectError> {
    let err = |error| CollectError::ProcIo { path: proc_root.to_path_buf(), error };
    let dir = Dir::open(proc_root).map_err(err)?;
    let mut pids = Vec::new();
    let mut buf = sys::dents_buf(32 * 1024);
    dir.for_each_entry(&mut buf, |name| pids.extend(sys::parse_u32(name))).map_err(err)?;
    pids.sort_unstable();
    Ok((dir, pids))
}

/// One process as the scan left it.
struct Scanned {
    pid: u32,
    status: walk::Status,
    /// Set when the process holds sockets and its info could be read (or was known).
    info: Option<Arc<ProcessInfo>>,
    /// Its sockets; empty unless `info` is set.
    sockets: Vec<(u64, u32)>,
}

/// Scan the fd tables of `pids` (sorted) on `threads` threads, then read the info of those holding sockets
/// that `known` has none for (a cache keeps what it read before). The one place of the exit race: a process
/// that exits between the two steps is reported [`walk::Status::Gone`] without sockets. One result per pid,
/// in order.
fn scan_pids(
    proc: &Dir,
    pids: &[u32],
    threads: usize,
    known: impl Fn(u32) -> Option<Arc<ProcessInfo>>,
) -> Vec<Scanned> {
    let outcomes = walk::scan_fds(proc, pids, threads);
    debug_assert!(outcomes.iter().map(|o| o.pid).eq(pids.iter().copied()));
    let kept: Vec<Option<Arc<ProcessInfo>>> =
        outcomes.iter().map(|o| if o.sockets.is_empty() { None } else { known(o.pid) }).collect();
    let need: Vec<u32> = (outcomes.iter().zip(&kept))
        .filter(|(o, k)| !o.sockets.is_empty() && k.is_none())
        .map(|(o, _)| o.pid)
        .collect();
    let mut infos = walk::read_infos(proc, &need, threads).into_iter();
    (outcomes.into_iter().zip(kept))
        .map(|(o, kept)| {
            let mut s = Scanned { pid: o.pid, status: o.status, info: None, sockets: o.sockets };
            if !s.sockets.is_empty() {
                s.info = kept.or_else(|| infos.next().flatten().map(Arc::new));
                if s.info.is_none() {
                    s.status = walk::Status::Gone;
                    s.sockets = Vec::new();
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
// Own scan, not procfs: `Process::fd()` allocates a path and a target per fd; this is getdents64 + readlinkat.
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
            std::fs::read(proc_root.join(p.to_string()).join("comm")).is_ok_and(|c| keep(&parse::parse_comm(&c)))
        })
        .collect();
    Ok(scan_listed(&proc, &named, total, 1))
}

fn scan_listed(proc: &Dir, pids: &[u32], total: usize, threads: usize) -> ScanResult {
    let scanned = scan_pids(proc, pids, threads, |_| None);
    let mut stats = ScanStats { processes: total, full: pids.len() == total, ..ScanStats::default() };
    tally(&mut stats, scanned.iter().map(|s| (s.status, s.info.is_some())));
    stats.scanned = scanned.len();
    let fds = scanned.iter().map(|s| s.sockets.len()).sum();
    let map = ProcessMap::build(scanned.iter().filter_map(|s| Some((s.info.clone()?, &s.sockets[..]))), fds);
    stats.socket_fds = map.socket_fds();
    stats.complete = stats.hidden == 0 && stats.failed == 0;
    ScanResult { map, stats }
}
