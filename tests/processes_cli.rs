//! `-p` from the command line: a child process the test spawns holds a listener and is named with its pid;
//! a socket shared by two processes lists both; as `nobody`, root's sockets show their uid and a hidden
//! marker, with one note on stderr.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A python3 child that listens on loopback, forks once (so both processes hold the listener), prints
/// "port pid child_pid" and waits.
fn spawn_listener() -> Option<(Kid, u16, u32, u32)> {
    if !common::have("python3") {
        println!("SKIPPED process test: needs python3 for the child process");
        return None;
    }
    let script = r#"
import os, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
pid = os.fork()
if pid == 0:
    time.sleep(60); os._exit(0)
print(s.getsockname()[1], os.getpid(), pid, flush=True)
sys.stdin.read()
os.kill(pid, 9)
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let v: Vec<u32> = line.split_whitespace().map(|w| w.parse().unwrap()).collect();
    Some((Kid(child), v[0] as u16, v[1], v[2]))
}

#[test]
fn listener_is_attributed_to_both_processes_that_hold_it() {
    let Some((_kid, port, pid, child_pid)) = spawn_listener() else { return };
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
fn nobody_sees_root_sockets_as_hidden_with_their_uid() {
    if !common::is_root() || !common::have("setpriv") {
        println!("SKIPPED hidden-process test: needs root to drop to nobody with setpriv");
        return;
    }
    let Some((_kid, port, _, _)) = spawn_listener() else { return };
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_sockscope"))
        .args(["list", "-tlnp", "--ndjson", "--sport", &port.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["uid"], 0, "the owner uid comes from sock_diag without privilege");
    assert_eq!(rows[0]["process_hidden"], true);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("could not be inspected").count(), 1, "one note, not one per row: {err}");
    assert!(err.contains("CAP_SYS_PTRACE"), "{err}");
    let table = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_sockscope"))
        .args(["list", "-tlnpH", "--sport", &port.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("users:(hidden,uid=0(root))"), "{text}");
}
