//! `watch` and `list -E` against a scripted workload in a private network namespace: every connection has
//! exactly one open and one close, also those shorter than the dump interval, and the state changes of a
//! scripted connection arrive in order.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Netns, lines_of, python, recv_until};
use serde_json::Value;

/// A listener on 127.0.0.1:5000; after "go" on stdin: SHORT connections closed at once, LONG ones held past
/// two dump intervals, and one scripted connection (the server closes first: the client sees CLOSE-WAIT,
/// then closes). Prints the client ports as JSON, then DONE.
const WORKLOAD: &str = r#"
import json, socket, sys, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 5000))
srv.listen(512)
print("READY", flush=True)
sys.stdin.readline()
short, long_, held = [], [], []
for i in range(SHORT):
    c = socket.create_connection(("127.0.0.1", 5000)); a, _ = srv.accept()
    short.append(c.getsockname()[1]); c.sendall(b"x" * 1000); a.recv(1000); c.close(); a.close()
for i in range(LONG):
    c = socket.create_connection(("127.0.0.1", 5000)); a, _ = srv.accept()
    long_.append(c.getsockname()[1]); held.append((c, a))
c = socket.create_connection(("127.0.0.1", 5000)); a, _ = srv.accept()
scripted = c.getsockname()[1]
time.sleep(1.2)
a.close()
time.sleep(1.2)
c.close()
for c2, a2 in held:
    c2.close(); a2.close()
time.sleep(0.3)
print(json.dumps({"short": short, "long": long_, "scripted": scripted}), flush=True)
print("DONE", flush=True)
sys.stdin.readline()
"#;

const SHORT: usize = 40;
const LONG: usize = 10;

fn port(v: &Value, end: &str) -> u64 {
    v["socket"][end]["port"].as_u64().unwrap_or(0)
}

#[test]
#[ignore = "needs root: a private network namespace and the destroy multicast groups (CAP_NET_ADMIN)"]
fn every_connection_has_one_open_and_one_close_and_states_arrive_in_order() {
    common::require_root();
    let ns = Netns::create("time-watch");
    let script = WORKLOAD.replace("SHORT", &SHORT.to_string()).replace("LONG", &LONG.to_string());
    let (mut py, py_out) = python(&ns, &script);
    let mut watch = Command::new("ip")
        .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_sockscope"), "watch", "--ndjson", "--existing"])
        .args(["-i", "500ms", "sport :5000 or dport :5000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    let events = lines_of(&mut watch);
    // The listener's open says the watch has subscribed and dumped once.
    let mut seen = recv_until(&events, |l| l.contains("\"listen\""), "the listener's open event");

    py.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let lines = recv_until(&py_out, |l| l == "DONE", "the workload");
    let ports: Value = serde_json::from_str(&lines[lines.len() - 2]).expect("ports line");
    // Every client socket closes (two ends: a close each); wait for as many client closes as connections
    // (on a loaded machine they may come late), then a little more for anything extra.
    let client_close =
        |l: &str| l.contains("\"event\":\"close\"") && l.contains("\"peer\":{\"address\":\"127.0.0.1\",\"port\":5000}");
    let mut closes = seen.iter().filter(|l| client_close(l)).count();
    if closes < SHORT + LONG + 1 {
        seen.extend(recv_until(
            &events,
            |l| {
                closes += usize::from(client_close(l));
                closes == SHORT + LONG + 1
            },
            "a close for every client socket",
        ));
    }
    std::thread::sleep(Duration::from_millis(1200));
    let _ = watch.kill();
    let _ = watch.wait();
    let _ = py.kill();
    let _ = py.wait();
    seen.extend(events.try_iter());

    let evs: Vec<Value> = seen.iter().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    // Client sockets by cookie (a local port may be reused): their events in order.
    let mut by_cookie: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for e in &evs {
        if port(e, "peer") == 5000 {
            by_cookie.entry(e["socket"]["cookie"].as_u64().unwrap()).or_default().push(e);
        }
    }
    let kinds = |v: &[&Value]| -> Vec<String> {
        v.iter().map(|e| e["event"].as_str().unwrap().to_string()).filter(|k| k != "state").collect()
    };
    for (cookie, v) in &by_cookie {
        assert_eq!(kinds(v), ["open", "close"], "socket {cookie}: {v:#?}");
    }
    assert_eq!(by_cookie.len(), SHORT + LONG + 1, "one client socket per connection");
    let local_ports: Vec<u64> = by_cookie.values().map(|v| port(v[0], "local")).collect();
    for key in ["short", "long"] {
        for p in ports[key].as_array().unwrap() {
            assert!(local_ports.contains(&p.as_u64().unwrap()), "{key} connection from port {p} not seen");
        }
    }
    // Closes of the short ones come from the kernel, with its last tcp_info.
    let short_closes = by_cookie.values().filter(|v| v[0]["late"] == true || v[0]["socket"]["state"] == "established");
    let with_data = short_closes
        .filter_map(|v| v.last().unwrap()["socket"]["tcp_info"]["bytes_acked"].as_u64())
        .filter(|b| *b > 1000)
        .count();
    assert!(with_data >= SHORT, "the closes of the short connections carry their bytes");
    assert!(by_cookie.values().all(|v| v.last().unwrap()["via"] == "destroy"));

    let scripted = ports["scripted"].as_u64().unwrap();
    let mine = by_cookie
        .values()
        .filter(|v| port(v[0], "local") == scripted)
        .max_by_key(|v| v[0]["time_ms"].as_u64())
        .unwrap();
    let story: Vec<(String, String)> = mine
        .iter()
        .map(|e| (e["event"].as_str().unwrap().into(), e["socket"]["state"].as_str().unwrap().into()))
        .collect();
    let want = [("open", "established"), ("state", "close-wait"), ("close", "close-wait")];
    assert_eq!(story, want.map(|(a, b)| (a.to_string(), b.to_string())), "{mine:#?}");
    let closed = mine.last().unwrap();
    // It lived 2.4 s; first seen by a dump at most one interval (0.5 s) after it opened.
    assert!(closed["lifetime_ms"].as_u64().unwrap() >= 1500, "{closed}");
}

#[test]
#[ignore = "needs root: a private network namespace and the destroy multicast groups (CAP_NET_ADMIN)"]
fn list_e_prints_closes_only_as_ss_does() {
    common::require_root();
    let ns = Netns::create("time-list-e");
    let script = WORKLOAD.replace("SHORT", "5").replace("LONG", "0");
    let (mut py, py_out) = python(&ns, &script);
    let mut watch = Command::new("ip")
        .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_sockscope"), "-E", "-tn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn list -E");
    let events = lines_of(&mut watch);
    recv_until(&events, |l| l.starts_with("Time"), "the header");
    std::thread::sleep(Duration::from_millis(300));
    py.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    recv_until(&py_out, |l| l == "DONE", "the workload");
    std::thread::sleep(Duration::from_millis(500));
    let _ = watch.kill();
    let _ = watch.wait();
    let _ = py.kill();
    let _ = py.wait();
    let lines: Vec<String> = events.try_iter().collect();
    assert!(lines.iter().all(|l| l.split_whitespace().nth(1) == Some("close")), "{lines:#?}");
    // Five short connections and the scripted one, both ends each.
    assert_eq!(lines.len(), 12, "{lines:#?}");
}

/// Run the scripted connection under `watch` as nobody with `extra` flags: its events and stderr.
fn watch_as_nobody(tag: &str, extra: &[&str]) -> (Vec<Value>, String) {
    let ns = Netns::create(tag);
    let script = WORKLOAD.replace("SHORT", "0").replace("LONG", "0");
    let (mut py, py_out) = python(&ns, &script);
    let nobody = common::AsNobody::new(env!("CARGO_BIN_EXE_sockscope"));
    let mut watch = Command::new("ip")
        .args(["netns", "exec", &ns.name, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(nobody.path())
        .args(["watch", "--ndjson", "--existing", "-i", "200ms", "--for", "4s"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    let events = lines_of(&mut watch);
    let mut seen = recv_until(&events, |l| l.contains("\"listen\""), "the listener's open event");
    py.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    recv_until(&py_out, |l| l == "DONE", "the workload");
    let out = watch.wait_with_output().unwrap();
    let _ = py.kill();
    let _ = py.wait();
    assert!(out.status.success());
    seen.extend(events.try_iter());
    (seen.iter().map(|l| serde_json::from_str(l).unwrap()).collect(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
#[ignore = "needs root: a private network namespace, and setpriv to drop privilege"]
fn without_privilege_the_destroy_groups_still_serve_and_proc_falls_back_with_a_note() {
    common::require_root();
    // This kernel lets any user join the destroy groups (NL_CFG_F_NONROOT_RECV): closes still come from them.
    let (evs, err) = watch_as_nobody("time-watch-nobody", &[]);
    let closes: Vec<&Value> = evs.iter().filter(|e| e["event"] == "close").collect();
    assert_eq!(closes.len(), 2, "both ends of the scripted connection: {evs:#?}");
    assert!(closes.iter().all(|e| e["via"] == "destroy"), "{closes:#?}");
    assert!(!err.contains("no kernel destroy events"), "{err}");

    // Without them (here: /proc as the source), closes come from the dumps and one note says what is missed.
    let (evs, err) = watch_as_nobody("time-watch-proc", &["--source", "proc"]);
    assert_eq!(err.matches("closes come from /proc reads every 200ms").count(), 1, "{err}");
    let closes: Vec<&Value> = evs.iter().filter(|e| e["event"] == "close").collect();
    assert_eq!(closes.len(), 2, "both ends of the scripted connection: {evs:#?}");
    assert!(closes.iter().all(|e| e["via"] == "dump"), "{closes:#?}");
}
