//! `kill` and the commands about time across network namespaces, and the sockets a plain lookup cannot
//! reach: `-N` closes (and watches, records) in the named namespace and nowhere else, `--all-netns` closes
//! each socket in its own, every member of a `SO_REUSEPORT` group is reached, and rows without a cookie are
//! never closed. Each test plays the host in a namespace of its own ("here") beside the one it names.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::Netns;

/// A listener on 127.0.0.1:PORT with CONNS connections to it, held until stdin closes.
const CONNECTIONS: &str = r#"
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", PORT))
srv.listen(64)
cs = [socket.create_connection(("127.0.0.1", PORT)) for _ in range(CONNS)]
acc = [srv.accept()[0] for _ in range(CONNS)]
print("READY", flush=True)
sys.stdin.readline()
"#;

fn hold(ns: &Netns, port: u16, conns: usize) -> std::process::Child {
    let script = CONNECTIONS.replace("PORT", &port.to_string()).replace("CONNS", &conns.to_string());
    common::python(ns, &script).0
}

/// Established sockets with local port `port` in `ns`, by ss.
fn established_on(ns: &Netns, port: u16) -> usize {
    let sport = format!(":{port}");
    let args = ["-N", &ns.name, "-tnH", "state", "established", "sport", "=", &sport];
    let out = Command::new("ss").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `kill -N a` closed the host's sockets and left `a`'s: `-N`, `--all-netns` were accepted and dropped.
#[test]
#[ignore = "needs root: private network namespaces, setns and CAP_NET_ADMIN for SOCK_DESTROY"]
fn kill_dash_n_closes_in_the_named_namespace_and_nowhere_else() {
    common::require_root();
    let here = Netns::create("kill-netns-here");
    let there = Netns::create("kill-netns-there");
    const P: u16 = 47201;
    let mut held = vec![hold(&here, P, 3), hold(&there, P, 3)];
    let out = here.sockscope(&["kill", "-N", &there.name, "--yes", "sport", ":47201"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("closed  tcp ESTAB")).count(), 3);
    assert_eq!((established_on(&here, P), established_on(&there, P)), (3, 0), "{}", text(&out));

    // ss's spelling, options after the filter.
    const Q: u16 = 47202;
    held.extend([hold(&here, Q, 2), hold(&there, Q, 2)]);
    let out = here.sockscope(&["-K", "sport", ":47202", "-N", &there.name]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!((established_on(&here, Q), established_on(&there, Q)), (2, 0), "{}", text(&out));

    // Every namespace: each socket is closed in its own (the port is this test's alone on the host).
    const R: u16 = 47203;
    held.extend([hold(&here, R, 2), hold(&there, R, 4)]);
    let out = here.sockscope(&["kill", "--all-netns", "--yes", "sport", ":47203"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("closed")).count(), 6);
    assert_eq!((established_on(&here, R), established_on(&there, R)), (0, 0), "{}", text(&out));

    // A namespace that does not exist is an error naming it, and nothing is closed.
    let out = here.sockscope(&["kill", "-N", "sockscope-no-such-namespace", "--yes", "sport", ":47201"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("sockscope-no-such-namespace"), "{}", text(&out));
    assert_eq!(established_on(&here, P), 3);
    for mut c in held {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// `watch -N`, `-E -N` and `record -N` showed and recorded the host.
#[test]
#[ignore = "needs root: private network namespaces, setns and the destroy groups (CAP_NET_ADMIN)"]
fn watch_e_and_record_follow_the_named_namespace() {
    common::require_root();
    let here = Netns::create("watch-netns-here");
    let there = Netns::create("watch-netns-there");
    let dir = common::TempDir::new("watch-netns");
    let db = dir.join("rec.db");
    let bin = env!("CARGO_BIN_EXE_sockscope");
    let filter = "sport :47211 or dport :47211 or sport :47212 or dport :47212";
    let spawn = |args: &[&str]| {
        Command::new("ip")
            .args(["netns", "exec", &here.name, bin])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // 47211 in the namespace named, 47212 here: only the first may be seen.
    let mut a = hold(&there, 47211, 3);
    let mut b = hold(&here, 47212, 3);
    let mut watch = spawn(&["watch", "-N", &there.name, "--ndjson", "--existing", "-i", "300ms", filter]);
    let events = common::lines_of(&mut watch);
    let closes = spawn(&["-t", "-E", "-N", &there.name, filter]);
    let db_arg = db.to_str().unwrap();
    let record = spawn(&["record", "-N", &there.name, "-o", db_arg, "-i", "1s"]);
    // The listener's open says the watch has subscribed and dumped; a moment more for -E and record.
    let mut seen = common::recv_until(&events, |l| l.contains("\"listen\""), "the listener's open event");
    std::thread::sleep(Duration::from_millis(2500));
    let mid = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    std::thread::sleep(Duration::from_millis(1200));
    for c in [&mut a, &mut b] {
        drop(c.stdin.take());
        let _ = c.wait();
    }
    // The listener and both ends of three connections close.
    let mut n = 0;
    seen.extend(common::recv_until(
        &events,
        |l| {
            n += usize::from(l.contains("\"close\""));
            n == 7
        },
        "seven closes",
    ));
    std::thread::sleep(Duration::from_millis(1500));
    for child in [&watch, &closes, &record] {
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    }
    seen.extend(events.try_iter());
    let watch = watch.wait_with_output().unwrap();
    seen.extend(events.try_iter());
    let rec = record.wait_with_output().unwrap();
    let closes = closes.wait_with_output().unwrap();

    let lines: Vec<serde_json::Value> = seen.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let on = |port: u64| {
        lines
            .iter()
            .filter(|e| e["event"] == "close")
            .filter(|e| e["socket"]["local"]["port"] == port || e["socket"]["peer"]["port"] == port)
            .count()
    };
    // The listener and both ends of three connections.
    assert_eq!((on(47211), on(47212)), (7, 0), "{}", text(&watch));
    let e = String::from_utf8_lossy(&closes.stdout);
    assert_eq!(e.lines().filter(|l| l.contains(":47211")).count(), 7, "{e}");
    assert!(!e.contains(":47212"), "{e}");
    assert!(rec.status.success(), "{}", text(&rec));
    let listed = common::run_ok(&["list", "--from", db_arg, "--at", &format!("@{mid}")]);
    assert!(listed.contains(":47211") && !listed.contains(":47212"), "{listed}");

    // Several namespaces at once are refused, naming the flag.
    let out = here.sockscope(&["watch", "--all-netns", "--for", "1s"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("one network namespace"), "{}", text(&out));
}

/// Four UDP sockets on one port (SO_REUSEPORT): kill said 1 closed and 3 "gone" (the kernel's lookup picked
/// a sibling every time) with exit 0, and all four stayed bound. Six TCP listeners likewise.
#[test]
#[ignore = "needs root: a private network namespace and CAP_NET_ADMIN for SOCK_DESTROY"]
fn kill_reaches_every_member_of_a_reuseport_group() {
    common::require_root();
    let ns = Netns::create("kill-reuseport");
    let script = r#"
import socket, sys, threading
def member(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 47221))
    return s
udp = [member(socket.SOCK_DGRAM) for _ in range(4)]
tcp = [member(socket.SOCK_STREAM) for _ in range(6)]
for t in tcp:
    t.listen(8)
said = threading.Lock()
def wait(i, s):
    try:
        s.recv(10)
        what = "DATA"
    except ConnectionAbortedError:
        what = "ABORTED"
    with said:
        print(what, i, flush=True)
for i, s in enumerate(udp):
    threading.Thread(target=wait, args=(i, s), daemon=True).start()
print("READY", flush=True)
sys.stdin.readline()
"#;
    let (mut py, lines) = common::python(&ns, script);
    let out = ns.sockscope(&["kill", "--yes", "--all", "-u", "state", "all", "sport", ":47221"]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(said.lines().filter(|l| l.starts_with("aborted udp")).count(), 4, "{}", text(&out));
    // Still bound: the exit status says not everything was closed, and stderr says why.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("4 aborted but still bound"), "{}", text(&out));
    let mut aborted: Vec<String> = (0..4).map(|_| lines.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
    aborted.sort();
    assert_eq!(aborted, ["ABORTED 0", "ABORTED 1", "ABORTED 2", "ABORTED 3"], "each member's process was told");

    let out = ns.sockscope(&["kill", "--yes", "--all", "-t", "state", "listening", "sport", ":47221"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("closed  tcp LISTEN")).count(), 6);
    let left = Command::new("ss").args(["-N", &ns.name, "-tlnH", "sport", "=", ":47221"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&left.stdout).lines().count(), 0, "no listener is left");
    drop(py.stdin.take());
    let _ = py.kill();
    let _ = py.wait();
}

/// `kill --source proc` destroyed a listener that replaced the one listed: /proc rows carry no cookie.
#[test]
#[ignore = "needs root: a private network namespace"]
fn kill_refuses_rows_without_a_cookie() {
    common::require_root();
    let ns = Netns::create("kill-proc");
    let mut held = hold(&ns, 47231, 1);
    let out = ns.sockscope(&["kill", "--source", "proc", "--yes", "sport", ":47231"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("needs the netlink source"), "{}", text(&out));
    assert_eq!(established_on(&ns, 47231), 1, "nothing was closed");
    drop(held.stdin.take());
    let _ = held.wait();
}
