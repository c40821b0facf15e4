//! `-p` from the command line: a child process the test spawns holds a listener and is named with its pid;
//! a socket shared by two processes lists both; as `nobody`, root's sockets show their uid and a hidden
//! marker, with one note on stderr.

mod common;

use std::process::Command;

use common::PyListener;
use serde_json::Value;

#[test]
fn listener_is_attributed_to_both_processes_that_hold_it() {
    let py = PyListener::spawn(true);
    let (port, pid, child_pid) = (py.port, py.pid, py.forked.expect("forked"));
    let rows = common::ndjson(&["list", "-tlnp", "--sport", &port.to_string()]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let procs = rows[0]["processes"].as_array().expect("processes listed");
    let mut pids: Vec<u64> = procs.iter().map(|p| p["pid"].as_u64().unwrap()).collect();
    pids.sort();
    let mut want = vec![pid as u64, child_pid as u64];
    want.sort();
    if common::is_root() {
        assert_eq!(pids, want, "{procs:?}");
        assert_eq!(rows[0]["process_hidden"], false);
    } else {
        assert!(pids.iter().all(|p| want.contains(p)));
    }
    for p in procs {
        assert!(p["comm"].as_str().unwrap().starts_with("python3"), "{p}");
        assert!(p["cmdline"].as_str().unwrap().contains("-c"), "{p}");
        assert!(!p["fds"].as_array().unwrap().is_empty());
    }
    // The filter terms `pid N` and `process GLOB` select by holder, without -p too.
    let by_pid =
        common::ndjson(&["list", "--ndjson", "-tln", "--sport", &port.to_string(), "pid", &child_pid.to_string()]);
    assert_eq!(by_pid.len(), usize::from(common::is_root()), "{by_pid:?}");
    let by_name =
        common::ndjson(&["list", "--ndjson", "-tln", "process", "python3*", "and", "sport", &format!(":{port}")]);
    assert_eq!(by_name.len(), 1, "{by_name:?}");
    let neither =
        common::ndjson(&["list", "--ndjson", "-tln", "--sport", &port.to_string(), "not", "process", "python3*"]);
    assert!(neither.is_empty(), "{neither:?}");
    let table = common::run_ok(&["list", "-tlnpH", "--sport", &port.to_string()]);
    assert!(table.contains(&format!("pid={pid},")) && table.contains("users:((\"python3\""), "{table}");
}

#[test]
fn processes_exiting_during_the_scan_do_not_fail_the_listing() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = Command::new("true").status();
            }
        })
    };
    for _ in 0..10 {
        let out = common::run(&["list", "-tanp"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
}

#[test]
#[ignore = "needs root: runs the binary as nobody next to a root-owned listener"]
fn nobody_sees_root_sockets_as_hidden_with_their_uid() {
    common::require_root();
    let py = PyListener::spawn(true);
    let port = py.port;
    let nobody = common::AsNobody::new(env!("CARGO_BIN_EXE_sockscope"));
    let out = nobody.output(&["list", "-tlnp", "--ndjson", "--sport", &port.to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["uid"], 0, "the owner uid comes from sock_diag without privilege");
    assert_eq!(rows[0]["process_hidden"], true);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("could not be inspected").count(), 1, "one note, not one per row: {err}");
    assert!(err.contains("CAP_SYS_PTRACE"), "{err}");
    let table = nobody.output(&["list", "-tlnpH", "--sport", &port.to_string()]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("users:(hidden,uid=0(root))"), "{text}");
}
