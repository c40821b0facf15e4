//! Helpers shared by the integration tests: running the binary (also as `nobody`), reading its NDJSON, root
//! and tool checks that fail loudly, network namespaces, a python listener.
#![allow(dead_code)]

pub mod serve;

use std::process::{Command, Output};

use serde_json::Value;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sockscope"))
}

/// Run the binary with `args`; panics with its stderr when it fails.
pub fn run_ok(args: &[&str]) -> String {
    let out = bin().args(args).output().expect("spawn sockscope");
    assert!(out.status.success(), "sockscope {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("spawn sockscope")
}

/// Run with `--ndjson` (appended unless given; a filter must then follow it) and parse every line.
pub fn ndjson(args: &[&str]) -> Vec<Value> {
    let mut all: Vec<&str> = args.to_vec();
    if !all.contains(&"--ndjson") {
        all.push("--ndjson");
    }
    run_ok(&all).lines().map(|l| serde_json::from_str(l).expect("valid JSON line")).collect()
}

pub fn is_root() -> bool {
    sockscope::sys::is_root()
}

pub fn euid() -> u32 {
    sockscope::sys::euid()
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().is_ok_and(|o| o.status.success())
}

/// For tests marked `#[ignore = "needs root: ..."]`: fail loudly (never pass silently) when not root.
pub fn require_root() {
    assert!(is_root(), "this test needs root (it is #[ignore]d; run it as root with `-- --include-ignored`)");
}

/// Fail loudly when a command the test needs is missing (`.ci/run` installs them all).
pub fn require(cmds: &[&str]) {
    let missing: Vec<&str> = cmds.iter().copied().filter(|c| !have(c)).collect();
    assert!(missing.is_empty(), "this test needs {missing:?} on PATH (.ci/run installs them)");
}

/// The inode of an open file or socket.
pub fn inode_of(fd: &impl std::os::fd::AsFd) -> u64 {
    rustix::fs::fstat(fd).expect("fstat").st_ino
}

/// uid and gid of `nobody`/`nogroup` on Debian.
pub const NOBODY: u32 = 65534;

/// An executable copied where `nobody` can run it (the build directory may be unreachable, e.g. under
/// `/root`), run as uid/gid `NOBODY` with no supplementary groups. The copy goes away on drop.
pub struct AsNobody {
    dir: std::path::PathBuf,
    exe: std::path::PathBuf,
}

impl AsNobody {
    /// Needs root (to change uid): call `require_root` first.
    pub fn new(exe: impl AsRef<std::path::Path>) -> AsNobody {
        use std::os::unix::fs::PermissionsExt;
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sockscope-nobody-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create a directory for the copy");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod the directory");
        let exe_name = exe.as_ref().file_name().expect("an executable file name");
        let copy = dir.join(exe_name);
        // Copied by cp(1), not std::fs::copy: a write descriptor held in this process would be inherited by a
        // child another test thread forks meanwhile, and exec of the copy would fail with ETXTBSY.
        let cp = Command::new("cp").arg(exe.as_ref()).arg(&copy).status().expect("run cp");
        assert!(cp.success(), "copy the executable");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod the copy");
        AsNobody { dir, exe: copy }
    }

    /// The command, ready for arguments; std drops the supplementary groups when it changes the uid.
    pub fn command(&self) -> Command {
        use std::os::unix::process::CommandExt;
        let mut c = Command::new(&self.exe);
        c.uid(NOBODY).gid(NOBODY);
        c
    }

    /// The copy, for commands that must enter a namespace before dropping privilege
    /// (`ip netns exec NS setpriv --reuid=65534 ... COPY`).
    pub fn path(&self) -> &std::path::Path {
        &self.exe
    }

    /// Run with `args`; panics when it cannot be started.
    pub fn output(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap_or_else(|e| panic!("run {} as nobody: {e}", self.exe.display()))
    }
}

impl Drop for AsNobody {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Start `cmd` with its stdin and stdout piped and wait for the first line it prints (stdin stays open).
pub fn spawn_first_line(cmd: &mut Command) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut line = String::new();
    let out = child.stdout.take().expect("piped stdout");
    std::io::BufReader::new(out).read_line(&mut line).unwrap_or_else(|e| panic!("read from {cmd:?}: {e}"));
    (child, line)
}

/// A python3 child holding a TCP listener on 127.0.0.1, optionally shared with a forked grandchild. Both
/// exit when stdin closes (on drop).
pub struct PyListener {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    pub pid: u32,
    pub forked: Option<u32>,
    pub port: u16,
    pub inode: u64,
    pub fd: u32,
}

const LISTENER_SCRIPT: &str = r#"
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
forked = 0
if sys.argv[1] == "fork":
    forked = os.fork()
    if forked == 0:
        sys.stdin.read()
        os._exit(0)
print(os.getpid(), forked, s.getsockname()[1], os.fstat(s.fileno()).st_ino, s.fileno(), flush=True)
sys.stdin.read()
"#;

impl PyListener {
    /// Start it and wait for its line; `fork`: share the listener with a child process.
    pub fn spawn(fork: bool) -> PyListener {
        require(&["python3"]);
        let (mut child, line) = spawn_first_line(Command::new("python3").args([
            "-c",
            LISTENER_SCRIPT,
            if fork { "fork" } else { "nofork" },
        ]));
        let f: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        assert_eq!(f.len(), 5, "python said {line:?}");
        let stdin = child.stdin.take();
        PyListener {
            child,
            stdin,
            pid: f[0] as u32,
            forked: (f[1] != 0).then_some(f[1] as u32),
            port: f[2] as u16,
            inode: f[3],
            fd: f[4] as u32,
        }
    }
}

impl Drop for PyListener {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The fields that identify a socket in the tests: (proto, state, local, peer).
pub fn key(v: &Value) -> (String, String, String, String) {
    let end = |e: &Value| match (e.get("address"), e.get("port"), e.get("path")) {
        (Some(a), Some(p), _) => format!("{}:{}", a.as_str().unwrap_or("?"), p),
        (_, _, Some(path)) => format!("{}#{}", path, e["inode"]),
        _ => format!("{e}"),
    };
    (
        v["proto"].as_str().unwrap_or("?").to_string(),
        v["state"].as_str().unwrap_or("?").to_string(),
        end(&v["local"]),
        end(&v["peer"]),
    )
}

/// A network namespace a test made, with the process that holds its sockets; both go away on drop (the
/// child's stdin is closed first, so a population waiting on it exits cleanly).
pub struct Netns {
    pub name: String,
    pub child: Option<std::process::Child>,
}

impl Netns {
    /// Run sockscope inside the namespace (stdin closed) and wait for it.
    pub fn sockscope(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, env!("CARGO_BIN_EXE_sockscope")])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run sockscope in the namespace")
    }

    /// Run `script` with python3 inside the namespace and wait until it prints READY; it keeps its sockets
    /// until the namespace is dropped (its stdin closes then).
    pub fn run_python(&mut self, script: &str) {
        let (child, line) =
            spawn_first_line(Command::new("ip").args(["netns", "exec", &self.name, "python3", "-c", script]));
        self.child = Some(child);
        assert_eq!(line.trim(), "READY", "the python script in {} did not start", self.name);
    }

    /// Create `sockscope-{tag}-{pid}` (removing a stale one of that name) with `lo` up.
    pub fn create(tag: &str) -> Netns {
        let name = format!("sockscope-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).stderr(std::process::Stdio::null()).status();
        assert!(sh(&["ip", "netns", "add", &name]), "ip netns add {name}");
        let ns = Netns { name, child: None };
        assert!(sh(&["ip", "-n", &ns.name, "link", "set", "lo", "up"]), "lo up in {}", ns.name);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            drop(c.stdin.take());
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// A directory of a test's own in the temp directory (`sockscope-{tag}-{pid}`), created empty and removed with
/// what is in it when dropped: tests leave nothing behind.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sockscope-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test's temp dir");
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run a command quietly; true when it succeeded.
pub fn sh(args: &[&str]) -> bool {
    Command::new(args[0]).args(&args[1..]).stderr(std::process::Stdio::null()).status().is_ok_and(|s| s.success())
}

/// A python population for the differential tests: TCP listeners (IPv4, IPv6, dual-stack, v6-only),
/// established pairs (v4, v6, v4-mapped), FIN-WAIT-2/CLOSE-WAIT and TIME-WAIT sockets, UDP bound and connected.
/// `listen(fam, addr, port, v6only, backlog, proto)` and `pairs(listener, fam, addr, port, n, proto)` stay
/// defined for what a test appends; end the script with [`PY_READY`].
pub const PY_INET_POPULATION: &str = r#"
import socket, sys
A4, A6 = socket.AF_INET, socket.AF_INET6
keep = []
def listen(fam, addr, port, v6only=None, backlog=128, proto=0):
    s = socket.socket(fam, socket.SOCK_STREAM, proto)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((addr, port)); s.listen(backlog); keep.append(s); return s
def pairs(l, fam, addr, port, n, proto=0):
    out = []
    for _ in range(n):
        c = socket.socket(fam, socket.SOCK_STREAM, proto); c.connect((addr, port))
        a, _ = l.accept(); keep.extend([c, a]); out.append((c, a))
    return out
l1 = listen(A4, "127.0.0.1", 8080)
l2 = listen(A4, "0.0.0.0", 8081)
l3 = listen(A6, "::", 8443, 0)
l4 = listen(A6, "::1", 9000, 1)
listen(A6, "::", 9001, 1)
listen(A4, "127.0.0.2", 9001)
pairs(l1, A4, "127.0.0.1", 8080, 20)
pairs(l3, A4, "127.0.0.1", 8443, 7)
pairs(l3, A6, "::1", 8443, 5)
pairs(l4, A6, "::1", 9000, 6)
for c, a in pairs(l2, A4, "127.0.0.3", 8081, 4):
    c.shutdown(socket.SHUT_WR)            # client FIN-WAIT-2, server CLOSE-WAIT
for c, a in pairs(l2, A4, "127.0.0.4", 8081, 6):
    c.close(); a.close()                   # client TIME-WAIT
for fam, addr in [(A4, "127.0.0.1"), (A4, "0.0.0.0"), (A6, "::1"), (A6, "::")]:
    u = socket.socket(fam, socket.SOCK_DGRAM); u.bind((addr, 0)); keep.append(u)
u = socket.socket(A4, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 5353)); keep.append(u)
c = socket.socket(A4, socket.SOCK_DGRAM); c.connect(("127.0.0.1", 5353)); keep.append(c)
c6 = socket.socket(A6, socket.SOCK_DGRAM); c6.connect(("::1", 5353)); keep.append(c6)
"#;

/// The end of a population script: say READY, keep the sockets until stdin closes.
pub const PY_READY: &str = "print(\"READY\", flush=True)\nsys.stdin.read()\n";
/// Lines of a child's stdout, read on a thread.
pub fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Receive lines until `done` says so (that line included); panics with what came after 30 s.
pub fn recv_until(
    rx: &std::sync::mpsc::Receiver<String>,
    mut done: impl FnMut(&str) -> bool,
    what: &str,
) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(l) => {
                let stop = done(&l);
                got.push(l);
                if stop {
                    return got;
                }
            }
            Err(_) => panic!("timed out waiting for {what}; got {got:#?}"),
        }
    }
}

/// Start `script` with python3 in the namespace, stdin piped; its stdout lines after the READY it prints.
/// (Unlike [`Netns::run_python`], the script's later output stays readable.)
pub fn python(ns: &Netns, script: &str) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    // Given on the command line: no file to leave behind.
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "python3", "-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let rx = lines_of(&mut child);
    recv_until(&rx, |l| l == "READY", "the script to start");
    (child, rx)
}

/// For [`python`]: a listener on 127.0.0.1:5000 and one connection to it; the client waits WAIT seconds for
/// data and prints RESET when the connection is reset, EOF on an orderly close, or TIMEOUT.
pub const ONE_CONNECTION: &str = r#"
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 5000))
srv.listen(8)
c = socket.create_connection(("127.0.0.1", 5000))
a, _ = srv.accept()
print("READY", flush=True)
c.settimeout(WAIT)
try:
    print("EOF" if c.recv(10) == b"" else "DATA", flush=True)
except ConnectionResetError:
    print("RESET", flush=True)
except socket.timeout:
    print("TIMEOUT", flush=True)
sys.stdin.readline()
"#;
