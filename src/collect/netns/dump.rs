//! Dumping many network namespaces at once. Each foreign namespace is dumped on a fresh thread that enters
//! it with `setns(CLONE_NEWNET)` (which moves only the calling thread), opens its own `sock_diag` sockets
//! there and ends: no thread ever returns to the caller's namespace, and the main thread never leaves it. A
//! few run at a time, handed over in order ([`for_each_in_order`]); each labels its sockets with the
//! namespace's index in the snapshot's table.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::Found;
use crate::collect::procfs::sockstat::{self, SockStat};
use crate::collect::{self, CollectError, Query, Sink, Snapshot, SourceChoice, in_order};
use crate::model::Socket;
use crate::model::netns::NetnsId;

/// Namespaces dumped at the same time (each dump runs its tables in parallel too).
pub const DEFAULT_WORKERS: usize = 4;

/// Why a namespace was not listed.
#[derive(Debug, thiserror::Error)]
pub enum Skip {
    /// `setns` (or opening the namespace file) was refused: entering needs CAP_SYS_ADMIN.
    #[error("no permission to enter it ({0})")]
    NoPrivilege(io::Error),
    /// Every path to it is gone: its processes exited and no bind mount holds it.
    #[error("it disappeared during the dump")]
    Gone,
    /// Something else went wrong entering it.
    #[error("cannot enter it: {0}")]
    Enter(io::Error),
    /// Entered, but the dump failed.
    #[error("{0}")]
    Collect(CollectError),
}

/// The outcome of a multi-namespace collection.
#[derive(Debug, Default)]
pub struct Multi {
    /// Every socket, labelled; `namespaces` holds every namespace that was looked at (also those skipped and
    /// those without sockets), in the order given.
    pub snapshot: Snapshot,
    /// The namespaces that could not be read, and why.
    pub skipped: Vec<(NetnsId, Skip)>,
}

impl Multi {
    /// How many namespaces were read.
    pub fn read(&self) -> usize {
        self.snapshot.namespaces.len() - self.skipped.len()
    }

    /// Each namespace's sources and notes said once.
    pub fn tidy(&mut self) {
        self.snapshot.sources.dedup();
        let mut seen = std::collections::HashSet::new();
        self.snapshot.notes.retain(|n| seen.insert(n.clone()));
    }

    /// One note per kind of failure, naming the namespaces (for stderr).
    pub fn skip_notes(&self) -> Vec<String> {
        let ns = &self.snapshot.namespaces;
        let names = |pick: &dyn Fn(&Skip) -> bool| -> Vec<String> {
            self.skipped.iter().filter(|(_, s)| pick(s)).filter_map(|(i, _)| ns.get(*i).map(|n| n.label())).collect()
        };
        let list = |v: &[String]| {
            let shown: Vec<&str> = v.iter().take(10).map(String::as_str).collect();
            let more = if v.len() > 10 { format!(" and {} more", v.len() - 10) } else { String::new() };
            format!("{}{more}", shown.join(", "))
        };
        let mut notes = Vec::new();
        let denied = names(&|s| matches!(s, Skip::NoPrivilege(_)));
        if !denied.is_empty() {
            notes.push(format!(
                "could not enter {} network namespace(s) (entering another namespace needs CAP_SYS_ADMIN; run \
                 as root): {}",
                denied.len(),
                list(&denied)
            ));
        }
        let gone = names(&|s| matches!(s, Skip::Gone));
        if !gone.is_empty() {
            notes.push(format!("{} namespace(s) disappeared during the dump, skipped: {}", gone.len(), list(&gone)));
        }
        for (i, s) in &self.skipped {
            if matches!(s, Skip::Enter(_) | Skip::Collect(_)) {
                let label = ns.get(*i).map(|n| n.label()).unwrap_or_default();
                notes.push(format!("namespace {label} skipped: {s}"));
            }
        }
        notes
    }
}

/// What [`for_each_in_order`] hands over for a namespace: its sockets, batch after batch as the dump gives
/// them (each labelled with the namespace's index), then how the dump ended.
#[derive(Debug)]
pub enum Part {
    Sockets(Vec<Socket>),
    /// The dump is over: its sources and notes (no sockets), or why the namespace was not read.
    Done(Result<Snapshot, Skip>),
}

/// Namespaces being dumped ahead of the one being handed over, per worker.
const AHEAD_PER_WORKER: usize = 2;
/// Batches (of up to [`collect::netlink::BATCH`] sockets) a namespace dumped ahead may hold; a bigger one
/// waits for its turn in the kernel (the dump is held), so memory stays bounded for namespaces of any size.
const BATCHES_AHEAD: usize = 4;

/// Dump the namespaces of `found` and hand each one's [`Part`]s to `each` in discovery order, while the
/// others are dumped ([`collect::in_order`]: the first on this thread, the next ones by up to `workers`
/// threads, a few namespaces ahead at most). A namespace's sockets stream as its dump runs; the namespaces
/// after it are dumped into small bounded queues, so a slow consumer or a huge namespace holds only a few
/// batches. `each` returning false stops every dump.
pub fn for_each_in_order(
    found: &[Found],
    own: u64,
    source: SourceChoice,
    proc_root: &Path,
    q: &Query,
    workers: usize,
    each: &mut (dyn FnMut(NetnsId, Part) -> bool + Send),
) {
    let workers = workers.clamp(1, found.len().max(1));
    let ahead = in_order::Ahead { threads: workers, jobs: workers * AHEAD_PER_WORKER, items: BATCHES_AHEAD };
    in_order::run(
        found.len(),
        ahead,
        &|_| false,
        &|i, emit| dump_one(&found[i], own, source, proc_root, q, i as NetnsId, emit),
        &mut |i, part| {
            let part = match part {
                in_order::Part::Item(batch) => Part::Sockets(batch),
                in_order::Part::Done(r) => Part::Done(r),
                in_order::Part::Lost => Part::Done(Err(Skip::Enter(io::Error::other("the dump thread panicked")))),
            };
            each(i as NetnsId, part)
        },
    );
}

/// Dump one namespace (directly when it is ours, else on a fresh thread that enters it and ends), handing
/// its sockets, labelled `id`, to `emit` as they come; the snapshot returned has the sources and notes.
fn dump_one(
    f: &Found,
    own: u64,
    source: SourceChoice,
    proc_root: &Path,
    q: &Query,
    id: NetnsId,
    emit: &mut Sink<'_>,
) -> Result<Snapshot, Skip> {
    let mut send = |mut batch: Vec<Socket>| {
        for s in &mut batch {
            s.netns = id;
        }
        emit(batch)
    };
    match in_namespace(f, own, proc_root, |here| collect::open_here(source, here).stream(q, &mut send)) {
        Ok(r) => r.map_err(Skip::Collect),
        Err(Skip::NoPrivilege(e)) => match fallback_proc(f, source, proc_root, q) {
            Some(Ok(mut snap)) => {
                let sockets = std::mem::take(&mut snap.sockets);
                if !sockets.is_empty() {
                    send(sockets);
                }
                Ok(snap)
            }
            Some(Err(skip)) => Err(skip),
            None => Err(Skip::NoPrivilege(e)),
        },
        Err(e) => Err(e),
    }
}

/// Run `work` in namespace `f` and return what it gives: directly when `f` is the caller's own (`own`), with
/// `proc_root`; else on a fresh thread that enters `f` and ends, with `proc_root/thread-self` (which shows the
/// entered namespace). The thread's own threads inherit the namespace; the caller never leaves its own.
pub fn in_namespace<T: Send>(
    f: &Found,
    own: u64,
    proc_root: &Path,
    work: impl FnOnce(PathBuf) -> T + Send,
) -> Result<T, Skip> {
    if f.ns.inode == own {
        return Ok(work(proc_root.to_path_buf()));
    }
    let file = open_namespace(f)?;
    let entered = std::thread::scope(|s| {
        s.spawn(|| -> Result<T, io::Error> {
            crate::sys::enter_net_namespace(file.as_fd())?;
            // From here on this thread (and the threads it starts) lives in the namespace; it ends below.
            Ok(work(proc_root.join("thread-self")))
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
    });
    entered.map_err(|e| if is_denied(&e) { Skip::NoPrivilege(e) } else { Skip::Enter(e) })
}

/// The `ss -s` counters summed over `found` ([`SockStat::add_namespace`]), each read in its namespace (or,
/// without the privilege to enter, from `/proc/PID/net` of one of its processes), and the namespaces that
/// could not be read, by index.
pub fn sockstat_all(found: &[Found], own: u64, proc_root: &Path) -> (SockStat, Vec<(NetnsId, Skip)>) {
    let mut sum = SockStat::default();
    let mut skipped = Vec::new();
    for (i, f) in found.iter().enumerate() {
        let r = match in_namespace(f, own, proc_root, |here| sockstat::read(&here)) {
            Ok(r) => r.map_err(Skip::Enter),
            Err(Skip::NoPrivilege(e)) => f
                .pids
                .first()
                .and_then(|pid| sockstat::read(&proc_root.join(pid.to_string())).ok())
                .ok_or(Skip::NoPrivilege(e)),
            Err(e) => Err(e),
        };
        match r {
            Ok(stat) => sum.add_namespace(&stat),
            Err(e) => skipped.push((i as NetnsId, e)),
        }
    }
    (sum, skipped)
}

/// Without the privilege to enter, a namespace with a process we may read is still readable as text:
/// `/proc/PID/net/*` shows the sockets of PID's namespace.
fn fallback_proc(f: &Found, source: SourceChoice, proc_root: &Path, q: &Query) -> Option<Result<Snapshot, Skip>> {
    if source == SourceChoice::Netlink {
        return None;
    }
    let pid = *f.pids.first()?;
    let root: PathBuf = proc_root.join(pid.to_string());
    let mut snap = collect::open_here(SourceChoice::Proc, root).collect(q).ok()?;
    snap.notes.push(format!(
        "no permission to enter network namespace {} (needs CAP_SYS_ADMIN): read /proc/{pid}/net instead",
        f.ns.label()
    ));
    Some(Ok(snap))
}

fn is_denied(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::PermissionDenied) || e.raw_os_error() == Some(libc::EPERM)
}

/// Open the first path that still leads to the namespace (a process may have exited since discovery, and
/// its pid been reused: the inode is checked).
fn open_namespace(f: &Found) -> Result<File, Skip> {
    let mut denied = None;
    for p in &f.paths {
        // Without blocking, regular files only (nsfs files are): the path may have been replaced since.
        match crate::collect::input::open(p) {
            Ok(file) => match file.metadata() {
                Ok(m) if m.ino() == f.ns.inode => return Ok(file),
                _ => continue,
            },
            Err(e) if is_denied(&e) => denied = Some(e),
            Err(_) => continue,
        }
    }
    Err(denied.map_or(Skip::Gone, Skip::NoPrivilege))
}
