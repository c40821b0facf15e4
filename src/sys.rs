//! System calls the rest of the crate needs, as safe functions: identity (euid), interface names and indexes,
//! the password database, reverse DNS, the clock tick, a thread's CPU time, signals caught and raised. The bottom
//! layer (below `collect`); the crate's only `unsafe` code lives here, each block with a `// SAFETY:` comment
//! (lint-enforced).

use std::ffi::CStr;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};

/// The effective uid of this process.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Move the calling thread (only it: `CLONE_NEWNET` is per thread) into the network namespace `ns` refers to
/// (`setns(fd, CLONE_NEWNET)`). Needs CAP_SYS_ADMIN over the namespace's user namespace.
pub fn enter_net_namespace(ns: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
    rustix::thread::move_into_link_name_space(ns, Some(rustix::thread::LinkNameSpaceType::Network))
        .map_err(std::io::Error::from)
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The unit of `tm->when` in `/proc/net/tcp` (USER_HZ, `sysconf(_SC_CLK_TCK)`; 100 on Linux). `None` if the
/// kernel did not say (an auxiliary vector without `AT_CLKTCK`).
pub fn clock_ticks_per_second() -> Option<u64> {
    Some(rustix::param::clock_ticks_per_second()).filter(|&t| t > 0)
}

/// CPU time the calling thread has used so far: (user, system), from `getrusage(RUSAGE_THREAD)`. Zero when
/// the kernel refuses (it does not for the calling thread).
pub fn thread_times() -> (std::time::Duration, std::time::Duration) {
    // SAFETY: `rusage` is plain data for which all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one `rusage` through a valid, exclusive pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) } != 0 {
        return Default::default();
    }
    let tv = |t: libc::timeval| {
        std::time::Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.clamp(0, 999_999) as u32) * 1000)
    };
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

/// CPU time (user and system) the whole process, every thread, has used so far, from
/// `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)` (exact, not sampled at ticks). Zero when the kernel refuses.
pub fn process_cpu_time() -> std::time::Duration {
    // SAFETY: `timespec` is plain data for which all-zero bytes are a valid value.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: clock_gettime writes one `timespec` through a valid, exclusive pointer.
    if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } != 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::new(ts.tv_sec.max(0) as u64, ts.tv_nsec.clamp(0, 999_999_999) as u32)
}

/// Blocks the allocator maps on their own and gives back when freed: the per-refresh socket tables of the
/// periodic views (the dashboard, `record`).
pub const LARGE_BLOCK: usize = 256 * 1024;

/// Ask the allocator (glibc) to serve every block of `bytes` or more by its own mapping, given back to the
/// kernel when freed, and to trim free heap memory above `bytes`. Without it glibc raises its threshold as
/// large blocks are freed, serves the next ones from its heaps, and keeps the freed memory: a long-running
/// process whose large tables come and go (the dashboard at 200k sockets) then holds the sum of every
/// refresh's peaks. Does nothing with another C library.
pub fn return_large_blocks(bytes: usize) {
    #[cfg(target_env = "gnu")]
    {
        let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes allocator parameters; it takes plain integers.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, v);
            libc::mallopt(libc::M_TRIM_THRESHOLD, v);
        }
    }
    #[cfg(not(target_env = "gnu"))]
    let _ = bytes;
}

/// A socket for the interface ioctls (`SIOCGIFINDEX`, `SIOCGIFNAME`), as `if_nametoindex(3)` opens one.
fn ioctl_socket() -> Option<OwnedFd> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    rustix::net::socket_with(AddressFamily::INET, SocketType::DGRAM, SocketFlags::CLOEXEC, None)
        .or_else(|_| rustix::net::socket_with(AddressFamily::UNIX, SocketType::DGRAM, SocketFlags::CLOEXEC, None))
        .ok()
}

/// The index of the network interface `name` in this network namespace (`if_nametoindex(3)`).
pub fn interface_index(name: &str) -> Option<u32> {
    if name.is_empty() || name.len() >= 16 {
        return None;
    }
    rustix::net::netdevice::name_to_index(ioctl_socket()?, name).ok().filter(|&i| i != 0)
}

/// The inode of directory `rel` below `root`, resolved without leaving it: no `..` above it, no symlinks, no
/// other mount (`openat2(2)` with `RESOLVE_BENEATH`; kernels before 5.6 fall back to a plain lookup, which the
/// callers' own refusal of `..` still keeps below `root`).
pub fn directory_inode_beneath(root: &std::path::Path, rel: &str) -> std::io::Result<u64> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let dir = rustix::fs::open(root, flags, Mode::empty())?;
    let resolve =
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV;
    let fd = match rustix::fs::openat2(&dir, rel, flags, Mode::empty(), resolve) {
        Err(rustix::io::Errno::NOSYS) => rustix::fs::openat(&dir, rel, flags | OFlags::NOFOLLOW, Mode::empty())?,
        r => r?,
    };
    Ok(rustix::fs::fstat(&fd)?.st_ino)
}

/// The name of interface `index` in this network namespace (`if_indextoname(3)`).
pub fn interface_name(index: u32) -> Option<String> {
    rustix::net::netdevice::index_to_name(ioctl_socket()?, index).ok()
}

/// The width of the terminal on stdout (`TIOCGWINSZ`), as ss uses it to spread its columns; `None` when
/// stdout is not a terminal.
pub fn terminal_width() -> Option<usize> {
    let ws = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    (ws.ws_col > 0).then_some(ws.ws_col as usize)
}

/// The user name of `uid` from the password database (`getpwuid_r(3)`, which may consult NSS), if it has one.
pub fn user_name(uid: u32) -> Option<String> {
    // SAFETY: `passwd` is plain old data (integers and pointers); all-zero is a valid value of it.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live, correctly sized storage; on success `out` points to `pw`, whose
    // strings live in `buf`.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: `pw_name` is non-null and points to a NUL-terminated string inside `buf`, which is alive here.
    Some(unsafe { CStr::from_ptr(pw.pw_name) }.to_string_lossy().into_owned())
}

/// The host name of `ip` from the resolver (`getnameinfo(3)` with `NI_NAMEREQD`; may query DNS).
pub fn reverse_lookup(ip: IpAddr) -> Option<String> {
    let sa = rustix::net::SocketAddrAny::from(SocketAddr::new(ip, 0));
    let mut host = [0u8; 1025];
    // SAFETY: `sa` holds a valid sockaddr of `addr_len()` bytes; `host` has the length we pass; the service
    // buffer is null with length 0, which getnameinfo accepts.
    let rc = unsafe {
        libc::getnameinfo(
            sa.as_ptr().cast(),
            sa.addr_len(),
            host.as_mut_ptr().cast(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    CStr::from_bytes_until_nul(&host).ok().map(|c| c.to_string_lossy().into_owned())
}

/// Call `handler` on SIGINT, SIGTERM and SIGHUP (its terminal went away) instead of dying (a long-running
/// command that must finish a write). A SIGHUP already ignored stays ignored (`nohup` asks for that).
/// The handler runs in signal context: it may only touch atomics.
pub fn on_termination(handler: extern "C" fn(libc::c_int)) {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: `handler` is an `extern "C" fn(c_int)`, the type signal(2) expects; it is async-signal-safe
        // by this function's contract. SIG_IGN, put back, is a valid disposition.
        unsafe {
            let old = libc::signal(sig, handler as *const () as libc::sighandler_t);
            if sig == libc::SIGHUP && old == libc::SIG_IGN {
                libc::signal(sig, libc::SIG_IGN);
            }
        }
    }
}

/// How many messages the kernel dropped for the socket `fd` because its receive buffer was full, since it was
/// opened (`SO_MEMINFO`'s `SK_MEMINFO_DROPS`, Linux 4.12; a 32-bit counter that wraps). `None` when the kernel
/// does not say.
pub fn socket_drops(fd: std::os::fd::BorrowedFd<'_>) -> Option<u32> {
    use std::os::fd::AsRawFd;
    const DROPS: usize = libc::SK_MEMINFO_DROPS as usize;
    // Room for more counters than the kernel has today; it fills what it has and says how many bytes.
    let mut mem = [0u32; 16];
    let mut len = std::mem::size_of_val(&mem) as libc::socklen_t;
    // SAFETY: `mem` is writable for `len` bytes and `len` is a valid, exclusive pointer; the kernel writes at
    // most `len` bytes and stores the length written in `len`.
    let rc = unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_MEMINFO, mem.as_mut_ptr().cast(), &mut len)
    };
    (rc == 0 && len as usize >= (DROPS + 1) * std::mem::size_of::<u32>()).then(|| mem[DROPS])
}

/// The highest signal number [`catch_signals`] notes: the standard signals (real-time ones are not caught).
const MAX_SIGNAL: usize = 31;

/// Per signal, when it last arrived (a number from [`ARRIVALS`]; 0: not since the last [`take_signals`]).
/// Written in signal context: atomics only.
static ARRIVED: [AtomicU64; MAX_SIGNAL + 1] = [const { AtomicU64::new(0) }; MAX_SIGNAL + 1];
static ARRIVALS: AtomicU64 = AtomicU64::new(0);

/// The handler [`catch_signals`] installs: notes the arrival, nothing else (async-signal-safe, errno untouched).
extern "C" fn note_signal(sig: libc::c_int) {
    if let Some(slot) = usize::try_from(sig).ok().and_then(|i| ARRIVED.get(i)) {
        slot.store(ARRIVALS.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
    }
}

/// Set the disposition of `sig` to `handler` (`SIG_DFL` or [`note_signal`]), restarting interrupted calls.
fn set_signal_action(sig: libc::c_int, handler: libc::sighandler_t) -> std::io::Result<()> {
    // SAFETY: `sigaction` is plain data (integers, a mask, a handler address) for which all-zero is valid.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = handler;
    sa.sa_flags = libc::SA_RESTART;
    // SAFETY: sigemptyset writes the mask through a valid, exclusive pointer.
    unsafe { libc::sigemptyset(&mut sa.sa_mask) };
    // SAFETY: `sa` is a valid, initialized sigaction; its handler is SIG_DFL or `note_signal`, an
    // `extern "C" fn(c_int)` that only touches atomics (async-signal-safe); the old action is not asked for.
    if unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Note each of `sigs` (standard signals) when it arrives, for [`take_signals`], instead of its default action;
/// interrupted system calls are restarted.
pub fn catch_signals(sigs: &[libc::c_int]) -> std::io::Result<()> {
    for &sig in sigs {
        if usize::try_from(sig).map_or(true, |i| i > MAX_SIGNAL) {
            return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        }
        set_signal_action(sig, note_signal as *const () as libc::sighandler_t)?;
    }
    Ok(())
}

/// Give each of `sigs` its default action back (undoing [`catch_signals`]).
pub fn default_signals(sigs: &[libc::c_int]) {
    for &sig in sigs {
        let _ = set_signal_action(sig, libc::SIG_DFL);
    }
}

/// The signals noted since the last call (each once), in the order of their last arrival.
pub fn take_signals() -> Vec<libc::c_int> {
    let mut got: Vec<(u64, libc::c_int)> = (0..=MAX_SIGNAL)
        .filter_map(|i| {
            let when = ARRIVED[i].swap(0, Ordering::SeqCst);
            (when != 0).then_some((when, i as libc::c_int))
        })
        .collect();
    got.sort_unstable();
    got.into_iter().map(|(_, sig)| sig).collect()
}

/// Whether this process is in the foreground of the terminal on stdout (a background job that changes the
/// terminal's modes is stopped by SIGTTOU); true when stdout is not a terminal.
pub fn in_terminal_foreground() -> bool {
    rustix::termios::tcgetpgrp(std::io::stdout()).map_or(true, |p| p == rustix::process::getpgrp())
}

/// What waiting for terminal input found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Input is waiting.
    Ready,
    /// Nothing came within the time.
    Quiet,
    /// The terminal on stdin hung up (its window closed, the ssh connection dropped): no input will come.
    HungUp,
}

/// Wait up to `timeout` for input on stdin (a terminal). Full-screen loops wait here before asking the
/// terminal library for events: its own wait spins without end on a terminal that hung up.
pub fn wait_input(timeout: std::time::Duration) -> Input {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let stdin = std::io::stdin();
    let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
    let ts = Timespec { tv_sec: timeout.as_secs() as i64, tv_nsec: timeout.subsec_nanos() as i64 };
    match rustix::event::poll(&mut fds, Some(&ts)) {
        Ok(0) | Err(_) => Input::Quiet,
        Ok(_) if fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) => Input::HungUp,
        Ok(_) => Input::Ready,
    }
}

/// Stop this process (`SIGSTOP`, as a job stops on ^Z); returns once it is continued (`SIGCONT`).
pub fn stop_self() {
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::STOP);
}

/// End this process as `sig` asked, after the caller has cleaned up: SIGTERM, SIGHUP and SIGINT are raised
/// again with their default action (the parent sees the process killed by the signal); any other (SIGQUIT,
/// whose default would write a core file) exits with status 128 + `sig`, the number a shell shows for it.
pub fn end_by_signal(sig: libc::c_int) -> ! {
    if matches!(sig, libc::SIGTERM | libc::SIGHUP | libc::SIGINT) && set_signal_action(sig, libc::SIG_DFL).is_ok() {
        // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialize it through valid pointers, and
        // pthread_sigmask only reads it (the old mask is not asked for).
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
        // SAFETY: raise takes a signal number; with the default action and the signal unblocked, it is
        // delivered to this thread before raise returns, ending the process.
        unsafe {
            libc::raise(sig);
        }
    }
    std::process::exit(128 + sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_an_index_and_a_name() {
        let i = interface_index("lo").expect("every network namespace has lo");
        assert!(i > 0);
        assert_eq!(interface_name(i).as_deref(), Some("lo"));
        assert_eq!(interface_index("no-such-if0"), None);
        assert_eq!(interface_index(""), None);
        assert_eq!(interface_index("a-name-longer-than-ifnamsiz"), None);
    }

    #[test]
    fn euid_matches_the_owner_of_our_proc_dir() {
        let st = rustix::fs::stat("/proc/self").expect("stat /proc/self");
        assert_eq!(euid(), st.st_uid);
        assert_eq!(is_root(), st.st_uid == 0);
    }

    #[test]
    fn root_has_a_user_name() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
    }

    #[test]
    fn loopback_reverse_lookup_does_not_crash() {
        // /etc/hosts names 127.0.0.1 on every Debian install; the v6 lookup may or may not have a name.
        assert!(reverse_lookup(IpAddr::from([127, 0, 0, 1])).is_some_and(|n| !n.is_empty()));
        let _ = reverse_lookup(IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
    }

    #[test]
    fn caught_signals_are_taken_once_in_arrival_order() {
        use rustix::process::{Signal, getpid, kill_process};
        catch_signals(&[libc::SIGUSR1, libc::SIGUSR2]).unwrap();
        for (sig, raw) in [(Signal::USR2, libc::SIGUSR2), (Signal::USR1, libc::SIGUSR1)] {
            kill_process(getpid(), sig).unwrap();
            // Delivered to some thread of this process; a bounded wait for its handler to note it.
            let start = std::time::Instant::now();
            while ARRIVED[raw as usize].load(Ordering::SeqCst) == 0 {
                assert!(start.elapsed() < std::time::Duration::from_secs(30), "signal {raw} not noted");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        assert_eq!(take_signals(), vec![libc::SIGUSR2, libc::SIGUSR1]);
        assert_eq!(take_signals(), Vec::<libc::c_int>::new());
        default_signals(&[libc::SIGUSR1, libc::SIGUSR2]);
        assert!(catch_signals(&[40]).is_err(), "real-time signals are not caught");
    }

    #[test]
    fn a_new_socket_has_dropped_nothing() {
        let (a, _b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        use std::os::fd::AsFd;
        assert_eq!(socket_drops(a.as_fd()), Some(0));
    }

    #[test]
    fn clock_ticks_match_the_kernel_user_hz() {
        // USER_HZ is 100 on every Linux architecture we build for; a clamp or a misread auxv shows here.
        assert_eq!(clock_ticks_per_second(), Some(100));
    }

    /// The lookup behind `cgroup PATH`: a directory below the root is found; a symlink out of it, a file and a
    /// missing name are not, whatever they point at.
    #[test]
    fn directory_lookups_stay_beneath_the_root() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("sockscope-beneath-{}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("file"), "").unwrap();
        std::os::unix::fs::symlink(&dir, root.join("out")).unwrap();
        let ino = |p: &std::path::Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(directory_inode_beneath(&root, "a/b").unwrap(), ino(&root.join("a/b")));
        assert_eq!(directory_inode_beneath(&root, ".").unwrap(), ino(&root));
        for rel in ["out", "out/root", "file", "missing", "../root", "a/../../root"] {
            assert!(directory_inode_beneath(&root, rel).is_err(), "{rel}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
