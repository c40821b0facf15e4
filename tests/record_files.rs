//! Recordings and snapshots as files: big ones read within a small heap, hostile ones (texts with escapes,
//! values out of range) read safely, one on a read-only mount read at all, one file refused to a second
//! recorder, and the final sample written on SIGHUP.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{Netns, TempDir};
use sockscope::record::synthetic;
use sockscope::record::writer::{Limits, Pending, Recorder, Sample};

/// The heap (`ulimit -d`, kB) the readers get in the memory tests: the 32 MB page cache of a snapshot diff
/// and some. Before streaming, `list --from --at` of the 35 MB recording below needed over 100 MB, `diff
/// --json` about 1 GB, and a diff of the two 24 MB snapshots over 600 MB.
const HEAP_KB: u32 = 80 * 1024;

/// Run the binary with `args` and at most [`HEAP_KB`] of heap.
fn small_heap(args: &[&str]) -> Output {
    Command::new("sh")
        .args(["-c", &format!("ulimit -d {HEAP_KB} && exec \"$0\" \"$@\""), env!("CARGO_BIN_EXE_sockscope")])
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn last_line(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).lines().last().unwrap_or_default().to_string()
}

/// Regression: the readers held a recording whole: `list --from --at` of 10M events peaked at 5.1 GB,
/// `diff` at 4.9 GB, `diff --json` was killed by the OOM killer at 24 GB. They stream now; with 300k
/// events (35 MB) they run within a heap of 80 MB.
#[test]
fn readers_of_a_big_recording_keep_a_small_heap() {
    let dir = TempDir::new("record-big");
    let db = dir.join("big.db");
    let shape = synthetic::Shape { events: 300_000, per_sample: 1000, groups: 50 };
    let w = synthetic::recording(&db, shape).unwrap();
    let at_ms = synthetic::T0 + w.samples * 1000;
    // What the answers must be, from the library's reader in this process.
    let rec = sockscope::record::reader::Recording::open(&db).unwrap();
    let open = rec.open_at(at_ms).unwrap().len();
    let (first, last) = rec.span().unwrap().unwrap();
    let counts = rec.event_counts(first.time_ms, last.time_ms).unwrap();
    let events = rec.events_between(first.time_ms, last.time_ms).unwrap().len();
    drop(rec);
    assert!(open > 300 && events > 290_000, "{open} open, {events} events");
    let db = db.to_str().unwrap();
    let at = format!("@{}", at_ms / 1000);
    let out = small_heap(&["list", "--from", db, "--at", &at]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(last_line(&out), format!("({open} sockets)"));
    let out = small_heap(&["list", "--from", db, "--at", &at, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["open_from_events"].as_array().map(Vec::len), Some(open));
    assert_eq!(v["groups"].as_array().map(Vec::len), Some(50));
    let out = small_heap(&["diff", db]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let totals = format!("opened {}, closed {}, changed {}", counts.opened, counts.closed, counts.changed);
    assert_eq!(last_line(&out), totals);
    let out = small_heap(&["diff", db, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["opened"].as_u64(), v["closed"].as_u64()), (Some(counts.opened), Some(counts.closed)));
    assert_eq!(v["events"].as_array().map(Vec::len), Some(events));
    assert_eq!(v["groups"]["changed"].as_array().map(Vec::len), Some(50));
}

/// Regression: `diff a.json b.json` of two 100 MB snapshots peaked at 2.4 GB (both parsed whole, then
/// mapped). The arrays stream into a temporary on-disk database; two 24 MB snapshots diff within 80 MB.
#[test]
fn diff_of_two_big_snapshots_keeps_a_small_heap() {
    let dir = TempDir::new("record-snapshots");
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    synthetic::snapshot(&mut std::fs::File::create(&a).unwrap(), 50_000, 1, 0).unwrap();
    synthetic::snapshot(&mut std::fs::File::create(&b).unwrap(), 50_000, 5001, 10).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let out = small_heap(&["diff", a, b]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(last_line(&out), "opened 5000, closed 5000, changed 4500");
    let out = small_heap(&["diff", a, b, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = |k: &str| v[k].as_array().map(Vec::len);
    assert_eq!((n("opened"), n("closed"), n("changed")), (Some(5000), Some(5000), Some(4500)));
    assert_eq!(v["changed"][0]["before"]["state"], "established");
    assert_eq!(v["changed"][0]["after"]["state"], "close-wait");
    assert_eq!(v["opened"][0]["cookie"], 50_001, "in the order of identity");
}

/// A recording at `path` with `groups` and `events` in its second sample (the first is empty).
fn recording(path: &Path, groups: &[sockscope::record::GroupRow], events: &[sockscope::record::EventRow]) {
    let mut r = Recorder::create(path, Limits { keep: None, max_size: None, max_events: usize::MAX }).unwrap();
    let none = Pending::default();
    r.write(&Sample { time_ms: 1_000_000, dump_ms: 1, sockets: 0, groups: &[], events: &none }).unwrap();
    let mut p = Pending::default();
    for e in events {
        p.push_row(e.clone(), usize::MAX);
    }
    r.write(&Sample { time_ms: 2_000_000, dump_ms: 1, sockets: 1, groups, events: &p }).unwrap();
}

fn group(port: u16) -> sockscope::record::GroupRow {
    synthetic::listener_group(std::net::Ipv4Addr::LOCALHOST.into(), port, 0)
}

/// The open of a listener on 127.0.0.1:5000 held by `srv[1]`.
fn event(time_ms: u64, cookie: u64) -> sockscope::record::EventRow {
    sockscope::record::EventRow {
        state: "listen".into(),
        peer_address: None,
        peer_port: None,
        pid: Some(1),
        comm: Some("srv".into()),
        ..synthetic::tcp_event(time_ms, "open", cookie, ("127.0.0.1", 5000), ("*", 0))
    }
}

/// Regression: recorded texts (`proto`, `event`, `state`, the process name, a path) reached the terminal
/// raw in `list --from` and `diff`; a recording anyone wrote could clear the screen or retitle it. JSON
/// stays exact.
#[test]
fn recorded_texts_reach_the_terminal_escaped_in_list_and_diff() {
    let dir = TempDir::new("record-escape");
    let db = dir.join("rec.db");
    let hostile = "\x1b]0;pwned\x07\x1b[2J";
    let g = sockscope::record::GroupRow {
        key: sockscope::group::GroupKey::UnixPath(0, format!("/run/{hostile}")),
        owner: Some(format!("evil{hostile}[1]")),
        ..group(1)
    };
    let e = sockscope::record::EventRow {
        event: format!("open{hostile}"),
        proto: format!("udp{hostile}"),
        state: format!("listen{hostile}"),
        local_address: Some(format!("/tmp/{hostile}")),
        local_port: None,
        comm: Some(format!("py{hostile}")),
        ..event(1_500_000, 7)
    };
    recording(&db, &[g], &[e]);
    let db = db.to_str().unwrap();
    for args in [&["list", "--from", db, "--at", "@3000"][..], &["diff", db], &["diff", db, "--from", "@0"]] {
        let out = common::run(args);
        assert!(out.status.code().is_some_and(|c| c <= 1), "{args:?}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{args:?} printed raw escapes: {text:?}");
        assert!(text.contains("\\x1b]0;pwned\\x07\\x1b[2J"), "{args:?}: {text}");
    }
    let out = common::run(&["diff", db, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["events"][0]["comm"], format!("py{hostile}"), "JSON is exact");
}

/// Regression: one value out of range (`port = 70000`) made the whole recording unreadable. The row is
/// skipped, the rest shown, and a note counts what was skipped.
#[test]
fn a_port_out_of_range_skips_its_row_with_a_note() {
    let dir = TempDir::new("record-range");
    let db = dir.join("rec.db");
    recording(&db, &[group(5000), group(6000)], &[event(1_500_000, 1), event(1_600_000, 2)]);
    let raw = rusqlite::Connection::open(&db).unwrap();
    raw.execute_batch(
        "UPDATE groups SET port = 70000 WHERE port = 6000; UPDATE events SET local_port = 70000 WHERE cookie = 2;",
    )
    .unwrap();
    drop(raw);
    let db = db.to_str().unwrap();
    let out = common::run(&["list", "--from", db, "--at", "@3000", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["groups"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["open_from_events"].as_array().map(Vec::len), Some(1), "{v}");
    let err = stderr(&out);
    assert!(err.contains("note:") && err.contains("skipped 2 rows with a value out of range"), "{err}");
    let out = common::run(&["diff", db]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("skipped 2 rows"), "{}", stderr(&out));
}

/// Regression: `diff --from @0` was an error ("no sample at or before 1970-01-01T00:00:00Z") instead of a
/// span from the first sample.
#[test]
fn diff_from_a_moment_before_the_recording_starts_at_its_first_sample() {
    let dir = TempDir::new("record-from0");
    let db = dir.join("rec.db");
    recording(&db, &[group(5000)], &[event(1_500_000, 1)]);
    let db = db.to_str().unwrap();
    let out = common::run(&["diff", db, "--from", "@0", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["from"], "1970-01-01T00:16:40.000Z", "the first sample: {v}");
    assert_eq!((v["opened"].as_u64(), v["groups"]["added"].as_array().map(Vec::len)), (Some(1), Some(1)), "{v}");
    let out = common::run(&["diff", db, "--from", "@0", "--to", "@1"]);
    assert_eq!(out.status.code(), Some(0), "the first sample against itself: {}", stderr(&out));
}

/// Regression: a WAL recording on a read-only mount was "not a sockscope recording" (SQLite cannot create its
/// -shm index there). It is read as an immutable file, with a note saying so, and what of a left-over
/// write-ahead log goes unread.
#[test]
#[ignore = "needs root: a tmpfs mounted read-only in a private mount namespace"]
fn a_wal_recording_on_a_read_only_mount_is_read() {
    common::require_root();
    common::require(&["unshare", "mount", "cp"]);
    let dir = TempDir::new("record-ro");
    let (src, mnt) = (dir.join("src"), dir.join("mnt"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&mnt).unwrap();
    let db = src.join("rec.db");
    recording(&db, &[group(5000)], &[event(1_500_000, 1)]);
    // A copy taken while a recorder is writing: its last sample is still in the write-ahead log.
    let live = src.join("live.db");
    std::fs::copy(&db, &live).unwrap();
    let mut r = Recorder::create(&live, Limits { keep: None, max_size: None, max_events: 10 }).unwrap();
    let none = Pending::default();
    r.write(&Sample { time_ms: 3_000_000, dump_ms: 1, sockets: 9, groups: &[], events: &none }).unwrap();
    let copy = dir.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["live.db", "live.db-wal"] {
        std::fs::copy(src.join(f), copy.join(f)).unwrap();
    }
    drop(r);
    let script = "mount -t tmpfs tmpfs \"$1\" && cp \"$2\" \"$3\"/* \"$1\"/ && mount -o remount,ro \"$1\" && \
                  \"$4\" list --from \"$1\"/rec.db --at @3000 --json && echo ==== && \
                  \"$4\" list --from \"$1\"/live.db --at @4000 --json";
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .args([&mnt, &db, &copy])
        .arg(env!("CARGO_BIN_EXE_sockscope"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (text, err) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(out.status.success(), "{err}");
    let (plain, live) = text.split_once("====\n").unwrap_or_else(|| panic!("{text}"));
    let v: serde_json::Value = serde_json::from_slice(plain.as_bytes()).unwrap();
    assert_eq!(v["groups"][0]["port"], 5000, "{v}");
    assert!(err.contains("rec.db: read as an immutable file") && err.contains("read-only file system"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(live.as_bytes()).unwrap();
    assert_eq!(v["sample"]["time"], "1970-01-01T00:33:20.000Z", "the sample in the log is not read: {v}");
    assert!(err.contains("live.db-wal") && err.contains("is not read"), "{err}");
    // The mount went with the namespace.
    assert_eq!(std::fs::read_dir(&mnt).unwrap().count(), 0);
}

/// A recorder a test started: killed if the test ends before it does (a failed assertion must not leave it
/// running, holding the test's output pipes).
struct Running(Option<std::process::Child>);

impl Running {
    fn pid(&self) -> String {
        self.0.as_ref().map_or(0, std::process::Child::id).to_string()
    }

    /// Wait for it to exit; its status and stderr.
    fn output(mut self) -> Output {
        self.0.take().map(|c| c.wait_with_output().unwrap()).unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `sockscope record` in namespace `ns` with `args`, its output discarded and its stderr piped.
fn record(ns: &Netns, args: &[&str]) -> Running {
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_sockscope"), "record"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Running(Some(child))
}

/// Wait (at most 60 s) until the recording at `db` has `n` samples.
fn wait_samples(db: &Path, n: usize) {
    for _ in 0..600 {
        let got = sockscope::record::reader::Recording::open(db).and_then(|r| r.samples()).map_or(0, |s| s.len());
        if got >= n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{}: fewer than {n} samples after 60 s", db.display());
}

/// Regression: SIGHUP (the terminal closing) killed `record` without its final sample. It is handled as
/// INT and TERM are: the last sample written, exit 0.
#[test]
#[ignore = "needs root: a private network namespace"]
fn record_writes_its_final_sample_on_sighup() {
    common::require_root();
    let ns = Netns::create("record-hup");
    let dir = TempDir::new("record-hup");
    let db = dir.join("rec.db");
    // An interval of an hour: the only samples are the first and the one the signal asks for.
    let rec = record(&ns, &["-t", "-i", "3600", "-o", db.to_str().unwrap()]);
    wait_samples(&db, 1);
    assert!(common::sh(&["kill", "-HUP", &rec.pid()]));
    let status = rec.output().status;
    assert!(status.success(), "record after SIGHUP: {status}");
    let samples = sockscope::record::reader::Recording::open(&db).unwrap().samples().unwrap();
    assert_eq!(samples.len(), 2, "the first sample and the final one: {samples:?}");
}

/// Regression: two recorders on one file interleaved their samples and pruned each other's rows. The
/// second is refused, naming the file and the first.
#[test]
#[ignore = "needs root: a private network namespace"]
fn a_second_recorder_on_one_file_is_refused() {
    common::require_root();
    let ns = Netns::create("record-two");
    let dir = TempDir::new("record-two");
    let db = dir.join("rec.db");
    let path = db.to_str().unwrap();
    let first = record(&ns, &["-t", "-i", "3600", "-o", path]);
    wait_samples(&db, 1);
    let second = record(&ns, &["-t", "-i", "3600", "-o", path, "--for", "1s"]).output();
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    let err = stderr(&second);
    let holder = format!("sockscope[{}]", first.pid());
    assert!(err.contains(&format!("{path}: another recorder is writing to it ({holder})")), "{err}");
    assert!(common::sh(&["kill", "-INT", &first.pid()]));
    assert!(first.output().status.success());
    let samples = sockscope::record::reader::Recording::open(&db).unwrap().samples().unwrap();
    assert_eq!(samples.len(), 2, "the first recorder's samples alone: {samples:?}");
}
