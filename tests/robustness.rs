//! Hostile and careless input at the binary's edges (issue 9): a wrong `--proc-root`, `/dev/zero` and FIFOs
//! where files should be, a full stderr, escape sequences in process names. Each test names what broke.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::bin;

/// A fake proc root: `net/tcp` with one listener on 127.0.0.1:8080 (inode 5555), held as fd 3 by pid 4242,
/// whose comm and cmdline are given.
struct Root(PathBuf);

const TCP_HEADER: &str =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
const TCP_LISTENER: &str = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5555 1 0000000000000000 100 0 0 10 0\n";

impl Root {
    fn new(tag: &str) -> Root {
        let dir = std::env::temp_dir().join(format!("sockscope-robustness-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("net")).unwrap();
        std::fs::write(dir.join("net/tcp"), format!("{TCP_HEADER}{TCP_LISTENER}")).unwrap();
        Root(dir)
    }

    fn with_process(self, comm: &[u8], cmdline: &[u8]) -> Root {
        let p = self.0.join("4242");
        std::fs::create_dir_all(p.join("fd")).unwrap();
        std::fs::write(p.join("comm"), [comm, b"\n"].concat()).unwrap();
        std::fs::write(p.join("cmdline"), cmdline).unwrap();
        std::fs::write(p.join("status"), "Name:\tx\nUid:\t1000\t1000\t1000\t1000\n").unwrap();
        std::fs::write(p.join("stat"), "4242 (x) S 1 4242 4242 0 -1 4194304 0 0 0 0\n").unwrap();
        symlink("socket:[5555]", p.join("fd/3")).unwrap();
        self
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mkfifo(path: &Path) {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
        .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
}

/// Run the binary, killing it after 20 s: a hang is a failure, not a stuck test run.
fn run_within(args: &[&str]) -> Output {
    let mut child =
        bin().args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("sockscope {args:?} hung: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_wrong_proc_root_is_an_error_naming_the_path_not_an_empty_success() {
    // Regression: `--proc-root /nonexistent` printed a header and exited 0; `audit` said "nothing flagged".
    let out = run_within(&["--source", "proc", "--proc-root", "/nonexistent", "-tn"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(stderr(&out).contains("/nonexistent/net"), "{out:?}");
    let out = run_within(&["audit", "--source", "proc", "--proc-root", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("nothing flagged"), "{out:?}");
    assert!(stderr(&out).contains("/nonexistent/net"), "{out:?}");
    // A `net/` without any of the tables asked for is no proc filesystem either.
    let root = Root::new("empty-net");
    std::fs::remove_file(root.path("net/tcp")).unwrap();
    let out = run_within(&["--source", "proc", "--proc-root", root.arg(), "-tuan"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("none of the socket tables asked for exists (udp, udp6, tcp, tcp6)"), "{out:?}");
    let out = run_within(&["audit", "--source", "proc", "--proc-root", root.arg()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // One table present is enough (tcp6 missing is a kernel without IPv6).
    let root = Root::new("tcp-only");
    let out = run_within(&["--source", "proc", "--proc-root", root.arg(), "-tanH"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1, "{out:?}");
}

#[test]
fn io_errors_name_their_cause_once() {
    // Regression: "(os error 2): No such file or directory (os error 2)".
    let out = run_within(&["--source", "proc", "--proc-root", "/nonexistent", "-tn"]);
    let err = stderr(&out);
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
}

#[test]
fn dev_zero_and_fifos_in_a_proc_root_are_refused_not_read() {
    // Regression: `ln -s /dev/zero P/net/tcp` allocated until OOM; a FIFO hung forever.
    for (kind, tag) in [("zero", "zero-tcp"), ("fifo", "fifo-tcp")] {
        let root = Root::new(tag);
        let tcp = root.path("net/tcp");
        std::fs::remove_file(&tcp).unwrap();
        match kind {
            "zero" => symlink("/dev/zero", &tcp).unwrap(),
            _ => mkfifo(&tcp),
        }
        let out = run_within(&["--source", "proc", "--proc-root", root.arg(), "-tan"]);
        assert_eq!(out.status.code(), Some(1), "{kind}: {out:?}");
        let err = stderr(&out);
        assert!(err.contains(&format!("{}", tcp.display())), "{kind}: names the path: {err}");
        let what = if kind == "zero" { "a character device, not a regular file" } else { "a FIFO" };
        assert!(err.contains(what), "{kind}: {err}");
    }
    // A line of megabytes (a regular file this time) is an error, not a buffer that grows with it.
    let root = Root::new("long-line");
    let mut big = TCP_HEADER.as_bytes().to_vec();
    big.resize(big.len() + (8 << 20), b'7');
    std::fs::write(root.path("net/tcp"), big).unwrap();
    let out = run_within(&["--source", "proc", "--proc-root", root.arg(), "-tan"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("a line is longer than"), "{}", stderr(&out));
}

#[test]
fn dev_zero_and_fifos_as_process_files_do_not_hang_or_flood_the_process_scan() {
    // Regression: P/<pid>/comm or cmdline as /dev/zero allocated until OOM; as a FIFO, hung.
    for (file, kind) in
        [("comm", "zero"), ("cmdline", "zero"), ("status", "zero"), ("comm", "fifo"), ("cmdline", "fifo")]
    {
        let root = Root::new(&format!("{file}-{kind}")).with_process(b"server", b"server\0-p\0");
        let p = root.path(&format!("4242/{file}"));
        std::fs::remove_file(&p).unwrap();
        match kind {
            "zero" => symlink("/dev/zero", &p).unwrap(),
            _ => mkfifo(&p),
        }
        let out = run_within(&["--source", "proc", "--proc-root", root.arg(), "-tlnp", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{file} {kind}: {out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 1, "{file} {kind}: the listener is still listed");
    }
}

#[test]
fn conntrack_as_dev_zero_or_a_fifo_is_refused() {
    for kind in ["zero", "fifo"] {
        let root = Root::new(&format!("conntrack-{kind}"));
        let p = root.path("net/nf_conntrack");
        match kind {
            "zero" => symlink("/dev/zero", &p).unwrap(),
            _ => mkfifo(&p),
        }
        let out = run_within(&["forwards", "--proc-root", root.arg()]);
        assert_eq!(out.status.code(), Some(1), "{kind}: {out:?}");
        assert!(stderr(&out).contains("nf_conntrack"), "{kind}: {out:?}");
    }
}

#[test]
fn a_full_stderr_does_not_panic_or_change_the_exit_status() {
    // Regression: every eprintln! panicked on `2>/dev/full` (exit 101).
    let root = Root::new("full").with_process(b"server", b"server\0");
    std::fs::remove_dir_all(root.path("4242/fd")).unwrap();
    std::fs::write(root.path("4242/fd"), "not a directory").unwrap();
    let cases: &[(&[&str], i32)] = &[
        (&["--port", "99999"], 2),
        (&["--source", "proc", "--proc-root", "/nonexistent", "-tn"], 1),
        // A note (an fd table that cannot be read), then a listing: exit 0.
        (&["--source", "proc", "--proc-root", root.arg(), "-tlnp"], 0),
        (&["services", "--services-file", "/nonexistent", "22"], 0),
        (&["--bogus-flag"], 2),
    ];
    for (args, code) in cases {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = bin().args(*args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(full).status().unwrap();
        assert_eq!(out.code(), Some(*code), "{args:?}");
    }
}

#[test]
fn an_fd_that_is_not_a_directory_is_not_blamed_on_the_kernel() {
    // Regression: "the kernel refused their /proc/PID/fd even to root" also when fd was simply not a directory.
    let root = Root::new("fd-file").with_process(b"server", b"server\0");
    std::fs::remove_dir_all(root.path("4242/fd")).unwrap();
    std::fs::write(root.path("4242/fd"), "not a directory").unwrap();
    let out = run_within(&["--source", "proc", "--proc-root", root.arg(), "-tlnp"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("1 of 1 processes could not be inspected"), "{err}");
    assert!(err.contains("could not be read as a directory"), "{err}");
    assert!(!err.contains("kernel refused") && !err.contains("needs root"), "{err}");
}

#[test]
fn escape_sequences_in_process_names_are_escaped_in_the_table_and_exact_in_json() {
    // Regression: a process named "\x1b[31mEVIL\nX" (prctl PR_SET_NAME, any user) went raw to root's terminal.
    let root = Root::new("evil").with_process(b"\x1b[31mEVIL\nX", b"evil\x1b]0;title\x07\0--flag\0");
    let out = run_within(&["--source", "proc", "--proc-root", root.arg(), "-tlnpH"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.bytes().any(|b| b == 0x1b), "raw ESC in {text:?}");
    assert_eq!(text.lines().count(), 1, "one row, no injected line break: {text:?}");
    assert!(text.contains(r#"users:(("\x1b[31mEVIL\x0aX",pid=4242,fd=3))"#), "{text}");
    let out = run_within(&["--source", "proc", "--proc-root", root.arg(), "-tlnp", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["processes"][0]["comm"], "\x1b[31mEVIL\nX");
    assert_eq!(v[0]["processes"][0]["cmdline"], "evil\x1b]0;title\x07 --flag");
    // The audit table names the holder too.
    let out = run_within(&["audit", "--source", "proc", "--proc-root", root.arg()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(r"\x1b[31mEVIL\x0aX[4242]"), "{text}");
    assert!(!text.bytes().any(|b| b == 0x1b), "raw ESC in {text:?}");
}

#[test]
fn an_unusable_services_file_says_so() {
    // Regression: it silently fell back to the built-in table.
    let out = run_within(&["services", "--services-file", "/nonexistent/services", "22"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("cannot use /nonexistent/services") && err.contains("built-in table only"), "{err}");
    let out = run_within(&["services", "--services-file", "/dev/zero", "22"]);
    assert!(stderr(&out).contains("character device"), "{out:?}");
}

#[test]
fn dport_ephemeral_reads_the_range_below_proc_root() {
    // Regression: `dport ephemeral` read the host's /proc, whatever --proc-root said.
    let root = Root::new("ephemeral");
    std::fs::create_dir_all(root.path("sys/net/ipv4")).unwrap();
    std::fs::write(root.path("sys/net/ipv4/ip_local_port_range"), "8000\t8100\n").unwrap();
    let out = run_within(&["--source", "proc", "--proc-root", root.arg(), "-tanH", "sport", "ephemeral"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1, "8080 is in 8000-8100: {out:?}");
    std::fs::write(root.path("sys/net/ipv4/ip_local_port_range"), "9000\t9100\n").unwrap();
    let out = run_within(&["--source", "proc", "--proc-root", root.arg(), "-tanH", "sport", "ephemeral"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 0, "{out:?}");
}

#[test]
fn a_deep_filter_is_a_usage_error_not_a_crash() {
    // Regression: SIGABRT (rc 134) from a stack overflow in the parser.
    let deep = format!("{}sport = :22{}", "(".repeat(16000), ")".repeat(16000));
    let bang = format!("{}sport = :22", "!".repeat(60000));
    let out = run_within(&["-tan", &deep]);
    assert_eq!(out.status.code(), Some(2), "{:?}", out.status);
    assert!(stderr(&out).contains("nest deeper than 100"), "{}", &stderr(&out)[..200.min(out.stderr.len())]);
    let out = run_within(&["-tanH", &bang]);
    assert_eq!(out.status.code(), Some(0), "{:?}", out.status);
}

#[test]
fn a_port_flag_takes_one_leading_colon_only() {
    // Regression: `--dport ::80` was accepted as port 80.
    for args in [&["--dport", "::80"][..], &["--sport", ":::22"], &["--port", "::80-90"]] {
        let out = run_within(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(args[1]), "names the value: {err}");
    }
    let out = run_within(&["-tanH", "--dport", ":80"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// A FIFO in a directory of the test's own, with its path as text.
fn fifo_in(dir: &common::TempDir) -> (PathBuf, String) {
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let text = fifo.to_str().expect("a UTF-8 temp dir").to_string();
    (fifo, text)
}

/// `out` failed with `code`, saying the path is a FIFO.
fn refused_as_fifo(args: &[&str], out: &Output, code: i32, path: &str) {
    assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
    let err = stderr(out);
    assert!(err.contains(path) && err.contains("a FIFO"), "{args:?}: names the path and what it is: {err}");
}

#[test]
fn a_fifo_as_the_token_file_is_refused_not_opened() {
    // Regression: `serve --token-file FIFO` blocked forever in open(2) (no writer), before listening.
    let dir = common::TempDir::new("fifo-token");
    let (_fifo, f) = fifo_in(&dir);
    let args = ["serve", "--token-file", &f, "--listen", "127.0.0.1:0"];
    refused_as_fifo(&args, &run_within(&args), 2, &f);
}

#[test]
fn a_fifo_as_a_recording_is_refused_not_opened() {
    // Regression: `list --from FIFO` (and `diff` of a recording or of two snapshots) blocked forever in
    // open(2); `record -o FIFO` was "disk I/O error".
    let dir = common::TempDir::new("fifo-recording");
    let (_fifo, f) = fifo_in(&dir);
    for (args, code) in [
        (vec!["list", "--from", &f, "--at", "-5m"], 1),
        (vec!["--from", &f, "--at", "-5m", "--json"], 1),
        (vec!["diff", &f], 2),
        (vec!["diff", &f, &f], 2),
        (vec!["record", "-o", &f, "-i", "1s"], 1),
    ] {
        refused_as_fifo(&args, &run_within(&args), code, &f);
    }
}

#[test]
fn a_fifo_as_a_network_namespace_is_refused_not_opened() {
    // Regression: `-N PATH` of a FIFO blocked forever in open(2) (so did a FIFO named in /run/netns: the
    // root-only test below).
    let dir = common::TempDir::new("fifo-netns");
    let (_fifo, f) = fifo_in(&dir);
    for args in [vec!["-N", &f, "-tn"], vec!["list", "-N", &f, "-tan"]] {
        refused_as_fifo(&args, &run_within(&args), 1, &f);
    }
}

/// Removes a file when dropped (one the test made outside its temp dir).
struct Remove(PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
#[ignore = "needs root: a FIFO in /run/netns"]
fn a_fifo_in_run_netns_is_refused_by_name_and_skipped_by_discovery() {
    // Regression: `-N NAME` of a FIFO in /run/netns blocked forever in open(2).
    common::require_root();
    std::fs::create_dir_all("/run/netns").unwrap();
    let name = format!("sockscope-fifo-{}", std::process::id());
    let fifo = Remove(Path::new("/run/netns").join(&name));
    mkfifo(&fifo.0);
    let args = ["-N", &name, "-tn"];
    refused_as_fifo(&args, &run_within(&args), 1, &fifo.0.display().to_string());
    // Every namespace: the FIFO is no namespace (not an nsfs mount), and nothing waits on it.
    let out = run_within(&["--all-netns", "-tln"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
