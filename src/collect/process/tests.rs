//! Tests on fake proc trees: real directories, files and `socket:[N]` symlinks in a temporary directory.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;

struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new(name: &str) -> Tree {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("sockscope-proc-{}-{name}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        // Entries procfs also has, which are not processes.
        fs::create_dir(root.join("net")).unwrap();
        symlink("4242", root.join("self")).unwrap();
        fs::write(root.join("uptime"), "1.0 1.0\n").unwrap();
        Tree { root }
    }

    fn dir(&self, pid: u32) -> PathBuf {
        self.root.join(pid.to_string())
    }

    /// A process with comm, status, stat and cmdline files and an empty fd directory.
    fn process(&self, pid: u32, comm: &[u8], cmdline: &[u8], uid: u32) -> &Tree {
        self.process_at(&self.dir(pid), pid, comm, cmdline, uid, 0);
        self
    }

    fn process_at(&self, d: &Path, pid: u32, comm: &[u8], cmdline: &[u8], uid: u32, flags: u64) {
        fs::create_dir_all(d.join("fd")).unwrap();
        fs::write(d.join("comm"), [comm, b"\n"].concat()).unwrap();
        fs::write(d.join("cmdline"), cmdline).unwrap();
        let status = format!(
            "Name:\tx\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{pid}\nPid:\t{pid}\nPPid:\t1\nUid:\t{uid}\t{}\t{uid}\t{uid}\nGid:\t0\t0\t0\t0\n",
            uid + 1
        );
        fs::write(d.join("status"), status).unwrap();
        let mut stat = format!("{pid} (").into_bytes();
        stat.extend_from_slice(comm);
        stat.extend_from_slice(
            format!(") S 1 {pid} {pid} 0 -1 {flags} 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0\n").as_bytes(),
        );
        fs::write(d.join("stat"), stat).unwrap();
    }

    fn fd(&self, pid: u32, fd: u32, target: &str) -> &Tree {
        symlink(target, self.dir(pid).join("fd").join(fd.to_string())).unwrap();
        self
    }

    fn sock(&self, pid: u32, fd: u32, inode: u64) -> &Tree {
        self.fd(pid, fd, &format!("socket:[{inode}]"))
    }

    fn scan(&self) -> ScanResult {
        scan(&self.root).unwrap()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        // Restore modes a test took away, so the tree can be removed.
        if let Ok(rd) = fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let _ = fs::set_permissions(e.path(), fs::Permissions::from_mode(0o755));
                let _ = fs::set_permissions(e.path().join("fd"), fs::Permissions::from_mode(0o755));
            }
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn holders(map: &ProcessMap, inode: u64) -> Vec<(u32, Vec<u32>)> {
    map.get(inode).map(|h| (h.process.pid, h.fds.to_vec())).collect()
}

#[test]
fn shared_socket_lists_each_process_once_with_its_fds() {
    let t = Tree::new("shared");
    t.process(100, b"server", b"server\0-p\0", 0).sock(100, 3, 1000).sock(100, 4, 1000).sock(100, 5, 1001);
    t.process(200, b"worker", b"worker\0", 33).sock(200, 7, 1000);
    t.process(300, b"worker", b"worker\0", 33).sock(300, 3, 1000).sock(300, 9, 1002);
    let r = t.scan();
    assert_eq!(holders(&r.map, 1000), vec![(100, vec![3, 4]), (200, vec![7]), (300, vec![3])]);
    assert_eq!(holders(&r.map, 1001), vec![(100, vec![5])]);
    assert_eq!(holders(&r.map, 1002), vec![(300, vec![9])]);
    assert_eq!(r.map.get(1000).len(), 3);
    assert!(r.map.get(0).next().is_none() && r.map.get(999).next().is_none());
    assert!(r.map.contains(1001) && !r.map.contains(999));
    assert_eq!((r.map.len(), r.map.socket_fds()), (3, 6));

    // One ProcessInfo per process, shared by all its sockets.
    let a = r.map.get(1000).next().unwrap().process;
    let b = r.map.get(1001).next().unwrap().process;
    assert!(Arc::ptr_eq(a, b));
    assert_eq!(**a, ProcessInfo { pid: 100, comm: "server".into(), cmdline: "server -p".into(), uid: 0 });
    assert_eq!(r.map.processes().iter().map(|p| p.pid).collect::<Vec<_>>(), vec![100, 200, 300]);
    assert_eq!(r.map.processes()[1].uid, 33);

    let s = r.stats;
    assert_eq!((s.processes, s.scanned, s.with_sockets, s.socket_fds), (3, 3, 3, 6));
    assert_eq!((s.hidden, s.failed, s.vanished), (0, 0, 0));
    assert!(s.complete && s.full);
}

#[test]
fn only_well_formed_socket_links_count() {
    let t = Tree::new("links");
    t.process(10, b"mixed", b"mixed\0", 1000);
    let long = format!("socket:[{}]", "1".repeat(70));
    let junk = [
        "pipe:[123]",
        "/dev/null",
        "anon_inode:[eventfd]",
        "socket:[abc]",
        "socket:[",
        "socket:[]",
        "socket:[0]",
        "socket:[-5]",
        "socket:[+5]",
        "socket:[ 5]",
        "socket:[12]x",
        "xsocket:[5]",
        "socket:[99999999999999999999999]",
        "socket:[18446744073709551616]",
        &long,
    ];
    for (i, target) in junk.iter().enumerate() {
        t.fd(10, i as u32, target);
    }
    t.sock(10, 100, 18_446_744_073_709_551_615);
    // Not a link, and a name that is not an fd number.
    fs::write(t.dir(10).join("fd/200"), "x").unwrap();
    symlink("socket:[77]", t.dir(10).join("fd/notanfd")).unwrap();
    // A process with files and pipes only.
    t.process(11, b"cat", b"cat\0", 1000).fd(11, 0, "pipe:[5]").fd(11, 1, "/tmp/x");

    let r = t.scan();
    assert_eq!(r.map.len(), 1);
    assert_eq!(holders(&r.map, u64::MAX), vec![(10, vec![100])]);
    assert!(!r.map.contains(77) && !r.map.contains(5));
    assert_eq!((r.stats.processes, r.stats.with_sockets, r.stats.socket_fds), (2, 1, 1));
    assert!(r.stats.complete);
}

#[test]
fn exited_processes_are_skipped_not_hidden() {
    let t = Tree::new("exited");
    t.process(1, b"init", b"/sbin/init\0", 0).sock(1, 3, 50);
    // Exited before its fd directory was opened.
    fs::create_dir(t.dir(2)).unwrap();
    // Exited between the fd scan and the info read: its sockets are gone with it.
    t.process(3, b"gone", b"gone\0", 0).sock(3, 4, 51);
    fs::remove_file(t.dir(3).join("comm")).unwrap();
    // A zombie: no command line, no fds.
    t.process(4, b"zombie", b"", 0);
    // Empty command line but sockets: kept with an empty cmdline.
    t.process(5, b"kdaemon", b"", 0).sock(5, 0, 52);

    let r = t.scan();
    assert_eq!(holders(&r.map, 50), vec![(1, vec![3])]);
    assert!(!r.map.contains(51));
    assert_eq!(r.map.get(52).next().unwrap().process.cmdline, "");
    let s = r.stats;
    assert_eq!((s.processes, s.vanished, s.hidden, s.failed, s.with_sockets), (5, 2, 0, 0, 2));
    assert!(s.complete);
}

#[test]
fn cmdline_and_comm_are_decoded_lossily() {
    let t = Tree::new("cmdline");
    t.process(7, b"we\xffird", b"/usr/bin/srv\0--flag\0a b\0\xff\xfe\0\0", 1000).sock(7, 3, 9);
    let r = t.scan();
    let p = r.map.get(9).next().unwrap().process;
    assert_eq!(p.cmdline, "/usr/bin/srv --flag a b \u{fffd}\u{fffd}");
    assert_eq!(p.comm, "we\u{fffd}ird");
    assert_eq!(p.uid, 1000);
}

#[test]
fn denied_fd_directory_is_hidden_unless_kernel_thread() {
    let t = Tree::new("denied");
    t.process(1, b"mine", b"mine\0", 1000).sock(1, 3, 10);
    t.process(2, b"theirs", b"theirs\0", 0).sock(2, 3, 11);
    t.process_at(&t.dir(3), 3, b"kworker/0:1", b"", 0, 0x0020_0000);
    for pid in [2, 3] {
        fs::set_permissions(t.dir(pid).join("fd"), fs::Permissions::from_mode(0o000)).unwrap();
    }
    let r = t.scan();
    assert_eq!(holders(&r.map, 10), vec![(1, vec![3])]);
    if crate::sys::is_root() {
        // Root reads through mode 000: nothing is hidden.
        assert_eq!(holders(&r.map, 11), vec![(2, vec![3])]);
        assert!(r.stats.complete);
        return;
    }
    assert!(!r.map.contains(11));
    assert_eq!((r.stats.hidden, r.stats.failed), (1, 0));
    assert!(!r.stats.complete);
}

#[test]
fn parallel_scan_matches_single_threaded() {
    let t = Tree::new("parallel");
    // More fds than one chunk, so the big process is split over threads.
    t.process(1000, b"big", b"big\0", 0);
    for fd in 0..3000u32 {
        t.sock(1000, fd, 100_000 + u64::from(fd / 2));
    }
    for pid in 1..40u32 {
        t.process(pid, b"small", b"small\0", pid).sock(pid, 3, u64::from(pid)).sock(pid, 4, 100_000);
    }
    let one = scan_with_threads(&t.root, 1).unwrap();
    let many = scan_with_threads(&t.root, 4).unwrap();
    assert_eq!(one.stats, many.stats);
    assert_eq!(one.map.len(), 1539);
    for inode in (1..40).chain(100_000..101_500) {
        assert_eq!(holders(&one.map, inode), holders(&many.map, inode), "inode {inode}");
    }
    assert_eq!(holders(&many.map, 100_001), vec![(1000, vec![2, 3])]);
    let shared = holders(&many.map, 100_000);
    assert_eq!(shared.len(), 40);
    assert_eq!(shared[39], (1000, vec![0, 1]));
}

#[test]
fn missing_proc_root_is_an_error() {
    let e = scan(Path::new("/nonexistent/proc")).unwrap_err();
    assert!(matches!(e, CollectError::ProcIo { .. }), "{e}");
}

#[test]
fn parsers() {
    assert_eq!(sys::parse_socket_link(b"socket:[123]"), Some(123));
    assert_eq!(sys::parse_socket_link(b"socket:[18446744073709551615]"), Some(u64::MAX));
    assert_eq!(sys::parse_socket_link(b"socket:[18446744073709551616]"), None);
    assert_eq!(sys::parse_u32(b"4294967295"), Some(u32::MAX));
    assert_eq!(sys::parse_u32(b"4294967296"), None);
    assert_eq!(sys::parse_u32(b"self"), None);
    assert_eq!(sys::parse_status_uid(b"Name:\tx\nUid:\t1000\t0\t0\t0\n"), Some(1000));
    assert_eq!(sys::parse_status_uid(b"Name:\tx\n"), None);
    assert_eq!(sys::parse_cmdline(b""), "");
    assert_eq!(sys::parse_cmdline(b"\0\0"), "");
    assert_eq!(sys::parse_comm(b"a)b\n"), "a)b");
    // comm may hold ") " itself; fields are counted after the last ')'.
    assert!(sys::stat_has_no_files(b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0"));
    let stat = b"77 (a) b) S 1 77 77 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 98765 4096 1\n";
    assert_eq!(sys::parse_stat_start(stat), Some(98765));
    assert_eq!(sys::parse_stat_start(b"77 (a) S 1 77"), None);
    assert!(sys::stat_has_no_files(b"9 (a) Z) Z 1 9 9 0 -1 4194560 0 0"));
    assert!(!sys::stat_has_no_files(b"9 (a) Z) S 1 9 9 0 -1 4194560 0 0"));
    assert!(!sys::stat_has_no_files(b"garbage"));
}

// ---- cache ----

fn refresh(c: &mut ProcessCache, t: &Tree, wanted: &[u64], now: Instant) -> ScanStats {
    c.refresh_at(&t.root, wanted.iter().copied(), now).unwrap();
    *c.stats()
}

/// Replace a process directory by a new one (a reused pid): the new directory exists before the old one goes,
/// so it cannot get the old inode number.
fn reuse_pid(t: &Tree, pid: u32, comm: &[u8]) {
    let tmp = t.root.join("new");
    t.process_at(&tmp, pid, comm, b"", 0, 0);
    // A reused pid belongs to a process that started later.
    let stat = fs::read_to_string(tmp.join("stat")).unwrap().replace(" 12345 ", " 12399 ");
    fs::write(tmp.join("stat"), stat).unwrap();
    fs::remove_dir_all(t.dir(pid)).unwrap();
    fs::rename(&tmp, t.dir(pid)).unwrap();
}

#[test]
fn cache_picks_up_new_and_drops_gone_processes() {
    let t = Tree::new("cache-new");
    t.process(1, b"a", b"a\0", 0).sock(1, 3, 10);
    t.process(2, b"b", b"b\0", 0).sock(2, 3, 20);
    let t0 = Instant::now();
    let mut c = ProcessCache::new();
    let s = refresh(&mut c, &t, &[10, 20], t0);
    assert!(s.full);
    assert_eq!((s.processes, s.scanned, s.with_sockets), (2, 2, 2));

    // Nothing changed: nothing rescanned.
    let s = refresh(&mut c, &t, &[10, 20], t0 + Duration::from_secs(1));
    assert_eq!((s.scanned, s.full, s.with_sockets), (0, false, 2));

    t.process(3, b"c", b"c\0", 0).sock(3, 5, 30);
    fs::remove_dir_all(t.dir(2)).unwrap();
    let s = refresh(&mut c, &t, &[10, 30], t0 + Duration::from_secs(2));
    assert_eq!((s.processes, s.scanned, s.vanished, s.full), (2, 1, 1, false));
    assert_eq!(holders(c.map(), 30), vec![(3, vec![5])]);
    assert!(!c.map().contains(20));
    assert_eq!(holders(c.map(), 10), vec![(1, vec![3])]);

    // Pid 3 reused by a process without sockets.
    reuse_pid(&t, 3, b"d");
    let s = refresh(&mut c, &t, &[10], t0 + Duration::from_secs(3));
    assert_eq!((s.scanned, s.full, s.with_sockets), (1, false, 1));
    assert!(!c.map().contains(30));
}

/// Regression: under memory pressure procfs reclaims the inode of `/proc/PID` and gives the directory a new
/// inode number and ctime; each bench worker holding 20k sockets was then rescanned on every refresh. The
/// same start time in `/proc/PID/stat` says it is the same process.
#[test]
fn a_recycled_proc_inode_of_the_same_process_is_not_rescanned() {
    let t = Tree::new("cache-recycled");
    t.process(1, b"a", b"a\0", 0).sock(1, 3, 10);
    let t0 = Instant::now();
    let mut c = ProcessCache::new();
    refresh(&mut c, &t, &[10], t0);
    // The same process behind a new directory (new inode and ctime), its fd table unchanged.
    let tmp = t.root.join("new");
    t.process_at(&tmp, 1, b"a", b"a\0", 0, 0);
    symlink("socket:[10]", tmp.join("fd/3")).unwrap();
    fs::remove_dir_all(t.dir(1)).unwrap();
    fs::rename(&tmp, t.dir(1)).unwrap();
    let s = refresh(&mut c, &t, &[10], t0 + Duration::from_secs(1));
    assert_eq!((s.scanned, s.full, s.with_sockets), (0, false, 1));
    assert_eq!(holders(c.map(), 10), vec![(1, vec![3])]);
}

#[test]
fn unknown_inode_triggers_full_rescan_only_after_interval() {
    let t = Tree::new("cache-full");
    t.process(1, b"a", b"a\0", 0).sock(1, 3, 10);
    let t0 = Instant::now();
    let sec = |n| t0 + Duration::from_secs(n);
    // Without looks for new sockets (budget 0), as on a host where every fd table is too big for one.
    let mut c = ProcessCache::new()
        .with_full_interval(Duration::from_secs(10))
        .with_max_age(Duration::from_secs(60))
        .with_look_budget(0);
    refresh(&mut c, &t, &[10], t0);

    // A known process opens a socket: not seen until a full rescan is allowed.
    t.sock(1, 4, 11);
    let s = refresh(&mut c, &t, &[10, 11], sec(5));
    assert_eq!((s.scanned, s.full), (0, false));
    assert!(!c.map().contains(11));
    // Without unknown inodes the interval alone does not rescan.
    let s = refresh(&mut c, &t, &[10], sec(10));
    assert!(!s.full);
    let s = refresh(&mut c, &t, &[10, 11], sec(10));
    assert_eq!((s.scanned, s.full), (1, true));
    assert_eq!(holders(c.map(), 11), vec![(1, vec![4])]);

    // An inode nobody holds (a kernel socket) stays unattributed and does not trigger rescans again...
    let s = refresh(&mut c, &t, &[10, 11, 99], sec(20));
    assert!(s.full);
    assert!(!c.map().contains(99));
    let s = refresh(&mut c, &t, &[10, 11, 99], sec(30));
    assert!(!s.full);
    // ... but a new unknown one does.
    t.sock(1, 5, 12);
    let s = refresh(&mut c, &t, &[10, 11, 99, 12], sec(31));
    assert!(s.full);
    assert!(c.map().contains(12));

    // After max_age a full rescan happens anyway, and drops what a known process closed.
    fs::remove_file(t.dir(1).join("fd/3")).unwrap();
    let s = refresh(&mut c, &t, &[11], sec(60));
    assert!(!s.full);
    assert!(c.map().contains(10));
    let s = refresh(&mut c, &t, &[11], sec(91));
    assert!(s.full);
    assert!(!c.map().contains(10));
}

#[test]
fn cache_new_process_seen_without_full_rescan() {
    let t = Tree::new("cache-incr");
    t.process(1, b"a", b"a\0", 0).sock(1, 3, 10);
    let t0 = Instant::now();
    let mut c = ProcessCache::new();
    refresh(&mut c, &t, &[10], t0);
    // A new process holding an unknown inode is found by the incremental step; no full rescan needed.
    t.process(2, b"b", b"b\0", 0).sock(2, 3, 20);
    let s = refresh(&mut c, &t, &[10, 20], t0 + Duration::from_secs(11));
    assert_eq!((s.scanned, s.full), (1, false));
    assert_eq!(holders(c.map(), 20), vec![(2, vec![3])]);
}

/// Regression: the dashboard asked the cache at most every 5 s and a known process's new socket waited for
/// a full rescan (10 s), so fresh sockets showed as `hidden` (even as root, on a host with one process hidden
/// from root). A look at the processes whose fd count changed finds it at once; on a small host that look
/// reads every process and counts as a full rescan.
#[test]
fn a_new_socket_of_a_known_process_is_found_at_once() {
    let t = Tree::new("cache-look");
    t.process(1, b"resolver", b"r\0", 0).sock(1, 3, 10);
    t.process(2, b"idle", b"i\0", 0).fd(2, 0, "/dev/null");
    let t0 = Instant::now();
    let mut c = ProcessCache::new();
    refresh(&mut c, &t, &[10], t0);
    assert!(!c.wants_refresh(&[], t0 + Duration::from_secs(1)));
    t.sock(1, 4, 11);
    assert!(c.wants_refresh(&[11], t0 + Duration::from_secs(1)), "a socket never looked for");
    assert!(!c.looked_up(11));
    let s = refresh(&mut c, &t, &[10, 11], t0 + Duration::from_secs(1));
    assert_eq!(holders(c.map(), 11), vec![(1, vec![4])]);
    assert_eq!((s.scanned, s.full), (1, false), "only the process whose fd count changed is read");
    assert!(c.looked_up(11));
    // An inode nobody holds: the look reads every process, which is as good as a full rescan; it is known
    // to be nobody's (or hidden's), not "not looked up yet".
    let s = refresh(&mut c, &t, &[10, 11, 99], t0 + Duration::from_secs(2));
    assert!(s.full && c.looked_up(99) && !c.map().contains(99));
    assert!(!c.wants_refresh(&[99], t0 + Duration::from_secs(3)));
    // Such looks keep what they knew of a process: a changed command name shows at the max_age rescan,
    // which they do not put off.
    fs::write(t.dir(1).join("comm"), "resolver2\n").unwrap();
    t.sock(1, 5, 12);
    refresh(&mut c, &t, &[10, 11, 12], t0 + Duration::from_secs(4));
    assert_eq!(c.map().get(12).next().unwrap().process.comm, "resolver");
    assert!(c.wants_refresh(&[], t0 + Duration::from_secs(60)));
    let s = refresh(&mut c, &t, &[10, 11, 12], t0 + Duration::from_secs(60));
    assert!(s.full);
    assert_eq!(c.map().get(12).next().unwrap().process.comm, "resolver2");
}

/// The look is bounded: the changed fd tables are read smallest first within the budget, then the smallest
/// unchanged ones; an inode it cannot reach is *not looked up yet* until the next full rescan.
#[test]
fn the_look_for_new_sockets_stays_within_its_budget() {
    let t = Tree::new("cache-budget");
    t.process(1, b"big", b"b\0", 0);
    for fd in 0..40 {
        t.sock(1, fd, 1000 + u64::from(fd));
    }
    t.process(2, b"small", b"s\0", 0).sock(2, 3, 20);
    t.process(3, b"swapper", b"w\0", 0).sock(3, 3, 30);
    let t0 = Instant::now();
    let sec = |n| t0 + Duration::from_secs(n);
    let mut c = ProcessCache::new().with_full_interval(Duration::from_secs(10)).with_look_budget(20);
    let all: Vec<u64> = (1000..1040).chain([20, 30]).collect();
    refresh(&mut c, &t, &all, t0);

    // The big process opens a socket, the small one too, and the swapper replaces its socket (same count).
    t.sock(1, 40, 1040);
    t.sock(2, 4, 21);
    fs::remove_file(t.dir(3).join("fd/3")).unwrap();
    t.sock(3, 3, 31);
    // Inode 30 is closed: the dump no longer has it.
    let wanted: Vec<u64> = all.iter().copied().filter(|&i| i != 30).chain([1040, 21, 31]).collect();
    let s = refresh(&mut c, &t, &wanted, sec(1));
    assert!(!s.full, "the big table is over the budget");
    assert_eq!(s.scanned, 2, "the changed small table, then the unchanged small one");
    assert_eq!(holders(c.map(), 21), vec![(2, vec![4])]);
    assert_eq!(holders(c.map(), 31), vec![(3, vec![3])]);
    assert!(!c.map().contains(1040) && !c.looked_up(1040), "not looked up yet: neither nobody's nor hidden");
    // Looked for once: not again before the full rescan is due.
    assert!(!c.wants_refresh(&[1040], sec(2)));
    let s = refresh(&mut c, &t, &wanted, sec(2));
    assert_eq!(s.scanned, 0);
    assert!(c.wants_refresh(&[1040], sec(10)));
    let s = refresh(&mut c, &t, &wanted, sec(10));
    assert!(s.full);
    assert_eq!(holders(c.map(), 1040), vec![(1, vec![40])]);
}

// ---- attributor ----

use crate::model::owners::Owner;

/// Attribute `inodes` at `t0 + secs`; whether the attribution knows a holder of `probe`.
fn holds(a: &mut Attributor, t: &Tree, inodes: &[u64], at: Instant, probe: u64) -> bool {
    let got = a.attribute_inodes(&t.root, inodes.iter().copied(), at).unwrap();
    got.map().contains(probe)
}

#[test]
fn the_dashboard_looks_for_new_sockets_at_once_and_at_everything_every_5s() {
    let t = Tree::new("attr-dashboard");
    t.process(1, b"a", b"a\0", 0).sock(1, 3, 10);
    let t0 = Instant::now();
    let mut a = Attributor::new(Policy::dashboard());
    assert!(holds(&mut a, &t, &[10], t0, 10), "the first call looks");
    t.process(2, b"b", b"b\0", 0).sock(2, 3, 20);
    let s = Duration::from_secs;
    assert!(!holds(&mut a, &t, &[10], t0 + s(1), 20), "nothing missing, nothing due: no look");
    assert!(holds(&mut a, &t, &[10, 20], t0 + s(2), 20), "a socket never looked for: a look at once");
    t.process(3, b"c", b"c\0", 0).sock(3, 3, 30);
    assert!(!holds(&mut a, &t, &[10], t0 + s(6), 30), "5 s after the last look, not after the first");
    assert!(holds(&mut a, &t, &[10], t0 + s(7), 30), "every 5 s anyway");
    t.process(4, b"d", b"d\0", 0).sock(4, 3, 40);
    a.expire();
    assert!(holds(&mut a, &t, &[10], t0 + s(8), 40), "expired: the next call looks");
}

#[test]
fn the_exporter_lets_a_miss_wait_5s() {
    let t = Tree::new("attr-exporter");
    t.process(1, b"a", b"a\0", 0).sock(1, 3, 10);
    let t0 = Instant::now();
    let mut a = Attributor::new(Policy::exporter());
    assert_eq!(a.policy().threads, Some(2));
    assert!(holds(&mut a, &t, &[10], t0, 10));
    t.process(2, b"b", b"b\0", 0).sock(2, 3, 20);
    let s = Duration::from_secs;
    let got = a.attribute_inodes(&t.root, [10, 20], t0 + s(1)).unwrap();
    assert!(matches!(got.owner(20), Owner::NotLookedUp), "too soon: not looked up yet, neither hidden nor nobody's");
    assert!(holds(&mut a, &t, &[10, 20], t0 + s(5), 20), "5 s later it is");
    t.process(3, b"c", b"c\0", 0).sock(3, 3, 30);
    assert!(!holds(&mut a, &t, &[10, 20], t0 + s(200), 30), "no miss: the known holders stay");
    assert!(holds(&mut a, &t, &[10, 20], t0 + s(305), 30), "every 5 minutes anyway");
}

#[test]
fn watch_looks_only_for_misses_and_record_at_every_call() {
    let t = Tree::new("attr-watch");
    t.process(1, b"a", b"a\0", 0).sock(1, 3, 10);
    let t0 = Instant::now();
    let s = Duration::from_secs;
    let mut w = Attributor::new(Policy::watch(s(30)));
    let mut r = Attributor::new(Policy::recording());
    assert!(holds(&mut w, &t, &[10], t0, 10) && holds(&mut r, &t, &[10], t0, 10));
    t.process(2, b"b", b"b\0", 0).sock(2, 3, 20);
    assert!(!holds(&mut w, &t, &[], t0 + s(600), 20), "watch: nothing new, no look, however long");
    assert!(holds(&mut w, &t, &[20], t0 + s(601), 20), "watch: a new socket, a look");
    assert!(holds(&mut r, &t, &[], t0 + s(1), 20), "record: a look at every call");
}

#[test]
fn an_attribution_tells_hidden_nobodys_and_not_looked_up_apart() {
    let t = Tree::new("attr-owner");
    t.process(1, b"a", b"a\0", 0).sock(1, 3, 10);
    let t0 = Instant::now();
    let mut a = Attributor::new(Policy::watch(Duration::from_secs(10)));
    let got = a.attribute_inodes(&t.root, [10, 99], t0).unwrap();
    assert!(matches!(got.owner(10), Owner::Held(h) if h.len() == 1));
    assert!(matches!(got.owner(99), Owner::None), "looked for everywhere (a complete scan): nobody's");
    assert!(matches!(got.owner(0), Owner::None), "inode 0 has no holder");
    assert!(matches!(got.owner(77), Owner::NotLookedUp), "never asked about");
    // A one-shot scan looked for everything; an incomplete one makes the unheld hidden.
    let once = Attribution::of_scan(t.scan());
    assert!(matches!(once.owner(77), Owner::None));
    let map = Arc::new(t.scan().map);
    assert!(matches!(Attribution::new(map, false, None).owner(77), Owner::Hidden));
}
