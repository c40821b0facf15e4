//! The parallel `/proc/PID/fd` walk and the per-process info reads.
//!
//! Work is a shared stack of tasks: "list the fd directory of PID" and "read the links of fds `i..i+CHUNK` of
//! an already listed process". A thread that lists a process with more than [`CHUNK`] fds pushes the rest of
//! its fds as chunk tasks, so one process holding 20k sockets is split over every thread instead of pinning
//! one of them. A thread only leaves when the stack is empty and no other thread is still listing (and so
//! may still push chunks).
//!
//! Large fd tables on procfs are not listed at all when they are dense: procfs (Linux 6.2+) gives the number
//! of open fds N as the `fd` directory's size, the kernel hands out the lowest free fd, so fds `0..N` are
//! read by number, and the directory is listed only when some of them turn out to be holes (then only for
//! fds `>= N`). Listing costs about a fifth of the kernel time of a scan; a miss costs about as much as a hit,
//! hence the density check on the first fds before committing to probing.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::ProcessInfo;
use super::sys::{self, Dir, Failure, Name};

/// fds per chunk task: about 3 ms of `readlinkat` calls.
const CHUNK: usize = 1024;
/// Fd tables at least this large (as procfs counts them) are probed by number rather than listed.
const PROBE_MIN: usize = 256;
/// The fds probed first to judge whether the table is dense; the first chunk of a probed table.
const PROBE_FIRST: usize = PROBE_MIN;
/// `getdents64` buffer: 64 KiB holds about 2500 fd entries.
const DENTS_BUF: usize = 64 * 1024;
/// Link buffer: `socket:[` + 20 digits + `]` is 29 bytes; a longer target is not a socket.
const LINK_BUF: usize = 64;

/// What became of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Status {
    /// Its fd table was read (it may hold no socket at all).
    Read,
    /// It exited before its fd directory could be opened or listed.
    Gone,
    /// An unexpected error on its fd directory.
    Failed,
    /// Permission denied on its fd directory or on some of its fds.
    Hidden,
}

/// The socket fds of one process, as `(inode, fd)` in fd order per chunk.
#[derive(Debug)]
pub(super) struct Outcome {
    pub pid: u32,
    pub status: Status,
    pub sockets: Vec<(u64, u32)>,
}

/// Threads to use: the CPUs this process may run on.
pub(super) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run `work` on up to `n` threads, this one included, and return what each returned. A thread that cannot be
/// spawned (e.g. after `setns()` into another PID namespace, where `clone(CLONE_THREAD)` fails with `EINVAL`)
/// is simply not used: the work is shared through queues, so fewer threads only take longer.
fn on_threads<S: Send>(n: usize, work: impl Fn() -> S + Sync) -> Vec<S> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (1..n).map_while(|_| std::thread::Builder::new().spawn_scoped(s, &work).ok()).collect();
        let mut out = vec![work()];
        for h in handles {
            match h.join() {
                Ok(v) => out.push(v),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        out
    })
}

/// How the fds of a listed process are enumerated.
enum Fds {
    /// Names from `getdents64`; a chunk task covers indices `i..i+CHUNK`.
    Names(Vec<u32>),
    /// No listing: fd numbers `0..end` are read directly, `end` being the open-fd count procfs reports as the
    /// directory's size; a chunk task covers numbers `i..i+CHUNK`. Whoever finishes the last chunk lists the
    /// directory for the fds `>= end` if fewer than `end` were found (a table with holes).
    Probe { end: u32, found: AtomicUsize, pending: AtomicUsize, denied: AtomicBool },
}

struct Listing {
    pid: u32,
    dir: Dir,
    fds: Fds,
}

enum Task {
    Pid(u32),
    Part(Arc<Listing>, usize),
}

struct Queue {
    tasks: Vec<Task>,
    /// Threads that are listing a process and may push chunk tasks.
    listing: usize,
}

struct Shared<'p> {
    proc: &'p Dir,
    /// Probing needs procfs's fd count; a fake tree's directory size means nothing.
    procfs: bool,
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared<'_> {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next task, or `None` once there is nothing left and nothing more can come.
    fn next(&self) -> Option<Task> {
        let mut q = self.lock();
        loop {
            if let Some(t) = q.tasks.pop() {
                if matches!(t, Task::Pid(_)) {
                    q.listing += 1;
                }
                return Some(t);
            }
            if q.listing == 0 {
                return None;
            }
            q = self.wake.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Ends a listing even if the thread unwinds, so the other threads do not wait forever.
struct ListingDone<'a, 'p>(&'a Shared<'p>, Vec<Task>);

impl Drop for ListingDone<'_, '_> {
    fn drop(&mut self) {
        let mut q = self.0.lock();
        q.listing -= 1;
        q.tasks.append(&mut self.1);
        drop(q);
        self.0.wake.notify_all();
    }
}

/// Read the fd tables of `pids` below `proc`, on up to `threads` threads. One outcome per pid, by pid.
pub(super) fn scan_fds(proc: &Dir, pids: &[u32], threads: usize) -> Vec<Outcome> {
    let shared = Shared {
        proc,
        procfs: proc.is_procfs(),
        queue: Mutex::new(Queue { tasks: pids.iter().rev().map(|&p| Task::Pid(p)).collect(), listing: 0 }),
        wake: Condvar::new(),
    };
    let parts = on_threads(threads.clamp(1, pids.len().max(1)), || worker(&shared));
    merge(parts.into_iter().flatten())
}

fn worker(sh: &Shared) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut dents = sys::dents_buf(DENTS_BUF);
    while let Some(task) = sh.next() {
        match task {
            Task::Pid(pid) => {
                let mut done = ListingDone(sh, Vec::new());
                match list(sh, pid, &mut dents, &mut out) {
                    Ok(l) => {
                        let l = Arc::new(l);
                        let (first, total) = match &l.fds {
                            Fds::Names(names) => (0, names.len()),
                            Fds::Probe { end, .. } => (PROBE_FIRST, *end as usize),
                        };
                        done.1.extend((first..total).step_by(CHUNK).skip(1).map(|i| Task::Part(l.clone(), i)));
                        drop(done);
                        out.push(read_part(&l, first, &mut dents));
                    }
                    Err(status) => out.push(Outcome { pid, status, sockets: Vec::new() }),
                }
            }
            Task::Part(l, start) => out.push(read_part(&l, start, &mut dents)),
        }
    }
    out
}

/// Open `PID/fd` and decide how to enumerate it: large, dense tables on procfs are probed by number (this saves
/// the `getdents64` pass, about a fifth of the kernel time); the others are listed. Probing starts with fds
/// `0..PROBE_FIRST`, read here (their outcome goes to `out`); if more than an eighth of them are holes the
/// table is listed after all.
fn list(
    sh: &Shared,
    pid: u32,
    dents: &mut [std::mem::MaybeUninit<u8>],
    out: &mut Vec<Outcome>,
) -> Result<Listing, Status> {
    let fail = |e: std::io::Error| failure_status(sh.proc, pid, &e);
    let dir = sh.proc.open_dir(&Name::pid_file(pid, b"fd")).map_err(fail)?;
    let count = if sh.procfs { dir.size().unwrap_or(0) } else { 0 };
    let mut skip_below = 0;
    if count >= PROBE_MIN as u64 {
        let end = u32::try_from(count).unwrap_or(u32::MAX);
        let (first, found, denied) = probe(&dir, pid, 0..PROBE_FIRST as u32);
        let dense = found * 8 >= PROBE_FIRST * 7;
        out.push(first);
        if denied {
            return Err(Status::Hidden);
        }
        if dense {
            // Chunks of `PROBE_FIRST..end`; at least one (maybe empty), whose end runs the tail check.
            let pending = (end as usize - PROBE_FIRST).div_ceil(CHUNK).max(1);
            let fds = Fds::Probe {
                end,
                found: AtomicUsize::new(found),
                pending: AtomicUsize::new(pending),
                denied: AtomicBool::new(false),
            };
            return Ok(Listing { pid, dir, fds });
        }
        skip_below = PROBE_FIRST as u32;
    }
    let mut fds = Vec::new();
    dir.for_each_entry(dents, |name| fds.extend(sys::parse_u32(name).filter(|&fd| fd >= skip_below))).map_err(fail)?;
    Ok(Listing { pid, dir, fds: Fds::Names(fds) })
}

/// A denied fd directory hides the process's sockets, unless it is a kernel thread or a zombie: those have no
/// fd table, and their `fd` directory is root's even when the process is not.
fn failure_status(proc: &Dir, pid: u32, e: &std::io::Error) -> Status {
    match sys::classify(e) {
        Failure::Gone => Status::Gone,
        Failure::Other => Status::Failed,
        Failure::Denied => {
            let mut buf = Vec::new();
            match proc.read_file(&Name::pid_file(pid, b"stat"), &mut buf, sys::STAT_CAP) {
                Ok(()) if sys::stat_has_no_files(&buf) => Status::Read,
                _ => Status::Hidden,
            }
        }
    }
}

/// Read one chunk task of a listed process.
fn read_part(l: &Listing, start: usize, dents: &mut [std::mem::MaybeUninit<u8>]) -> Outcome {
    match &l.fds {
        Fds::Names(names) => read_links(&l.dir, l.pid, names[start..names.len().min(start + CHUNK)].iter().copied()).0,
        Fds::Probe { end, found, pending, denied } => {
            let range = start as u32..(*end).min((start + CHUNK) as u32);
            let (mut out, n, was_denied) = probe(&l.dir, l.pid, range);
            if was_denied {
                denied.store(true, Ordering::Relaxed);
            }
            found.fetch_add(n, Ordering::Relaxed);
            // The last chunk done: list the fds past `end` if some are missing below it.
            if pending.fetch_sub(1, Ordering::AcqRel) == 1
                && !denied.load(Ordering::Relaxed)
                && found.load(Ordering::Relaxed) < *end as usize
            {
                let mut rest = Vec::new();
                match l.dir.for_each_entry(dents, |name| rest.extend(sys::parse_u32(name).filter(|fd| fd >= end))) {
                    Ok(()) => {
                        let (tail, _) = read_links(&l.dir, l.pid, rest.into_iter());
                        out.status = out.status.max(tail.status);
                        out.sockets.extend(tail.sockets);
                    }
                    Err(e) if sys::classify(&e) == Failure::Denied => out.status = Status::Hidden,
                    Err(_) => out.status = out.status.max(Status::Gone),
                }
            }
            out
        }
    }
}

/// Probe fd numbers `range`: the outcome, how many fds exist, and whether access was denied.
fn probe(dir: &Dir, pid: u32, range: Range<u32>) -> (Outcome, usize, bool) {
    let (out, found) = read_links(dir, pid, range);
    let denied = out.status == Status::Hidden;
    (out, found, denied)
}

/// `readlinkat` each fd and keep the sockets. Also returns how many of the fds exist.
fn read_links(dir: &Dir, pid: u32, fds: impl Iterator<Item = u32>) -> (Outcome, usize) {
    let mut link = [0u8; LINK_BUF];
    let mut out = Outcome { pid, status: Status::Read, sockets: Vec::new() };
    let mut found = 0;
    for fd in fds {
        match dir.read_link(&Name::num(fd), &mut link) {
            Ok(t) => {
                found += 1;
                if t.len() < LINK_BUF
                    && let Some(inode) = sys::parse_socket_link(t)
                {
                    out.sockets.push((inode, fd));
                }
            }
            // Lost the right to look mid-scan (the process went setuid or non-dumpable): the rest is hidden too.
            Err(e) if sys::classify(&e) == Failure::Denied => {
                out.status = Status::Hidden;
                break;
            }
            // A closed fd or a hole (ENOENT), or a non-link in a fake tree (EINVAL): nothing to see.
            Err(_) => {}
        }
    }
    (out, found)
}

/// One outcome per pid: the sockets of all its chunks, the worst status (Hidden > Failed > Gone > Read).
fn merge(parts: impl Iterator<Item = Outcome>) -> Vec<Outcome> {
    let mut by_pid: Vec<Outcome> = parts.collect();
    by_pid.sort_unstable_by_key(|o| o.pid);
    let mut out: Vec<Outcome> = Vec::with_capacity(by_pid.len());
    for o in by_pid {
        match out.last_mut() {
            Some(last) if last.pid == o.pid => {
                last.status = last.status.max(o.status);
                last.sockets.extend(o.sockets);
            }
            _ => out.push(o),
        }
    }
    out
}

/// Read comm, real uid and command line of each pid, in parallel. `None` for a process that exited meanwhile.
pub(super) fn read_infos(proc: &Dir, pids: &[u32], threads: usize) -> Vec<Option<ProcessInfo>> {
    let next = AtomicUsize::new(0);
    let threads = if pids.len() < 64 { 1 } else { threads };
    let parts = on_threads(threads, || {
        let mut buf = Vec::with_capacity(4096);
        let mut got = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&pid) = pids.get(i) else { return got };
            got.push((i, read_info(proc, pid, &mut buf)));
        }
    });
    let mut out: Vec<Option<ProcessInfo>> = (0..pids.len()).map(|_| None).collect();
    for (i, info) in parts.into_iter().flatten() {
        out[i] = info;
    }
    out
}

fn read_info(proc: &Dir, pid: u32, buf: &mut Vec<u8>) -> Option<ProcessInfo> {
    proc.read_file(&Name::pid_file(pid, b"comm"), buf, sys::COMM_CAP).ok()?;
    let comm = sys::parse_comm(buf);
    proc.read_file(&Name::pid_file(pid, b"status"), buf, sys::STATUS_CAP).ok()?;
    let uid = sys::parse_status_uid(buf)?;
    // A zombie has an empty command line; so may a process that exits right now. Neither is an error.
    let cmdline = match proc.read_file(&Name::pid_file(pid, b"cmdline"), buf, sys::CMDLINE_CAP) {
        Ok(()) => sys::parse_cmdline(buf),
        Err(_) => String::new(),
    };
    Some(ProcessInfo { pid, comm, cmdline, uid })
}
