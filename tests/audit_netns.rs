//! `sockscope audit` in private network namespaces the tests create (ignored without root, run with
//! `--include-ignored`; fails loudly when it cannot): a redis-port listener on 127.0.0.1 is not flagged, on 0.0.0.0 and on :: it is; a privileged port
//! held by a non-root socket is flagged; exit status 0/1; the JSON shape; ephemeral-port pressure with a
//! 40-port `ip_local_port_range` and 30 connections to one destination.

mod common;

use common::{Netns, sh};

use std::process::{Command, Output};

use serde_json::Value;

/// Helpers the per-test python bodies use; the body runs between them and READY.
const PRELUDE: &str = r#"
import socket, sys, os
A4, A6 = socket.AF_INET, socket.AF_INET6
keep = []
def listen(fam, addr, port, v6only=None, uid=None):
    if uid is not None:
        os.seteuid(uid)          # the socket belongs to the fsuid at creation
    s = socket.socket(fam, socket.SOCK_STREAM)
    if uid is not None:
        os.seteuid(0)            # back to root to bind a privileged port
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((addr, port)); s.listen(128); keep.append(s); return s
def udp(fam, addr, port):
    u = socket.socket(fam, socket.SOCK_DGRAM); u.bind((addr, port)); keep.append(u); return u
def connect_n(l, addr, port, n):
    for _ in range(n):
        c = socket.socket(A4, socket.SOCK_STREAM); c.connect((addr, port))
        a, _ = l.accept(); keep.extend([c, a])
"#;

/// Root, and the tools the namespaces need (fails loudly otherwise).
fn require() {
    common::require_root();
    common::require(&["ip", "python3"]);
}

/// A namespace `sockscope-audit-{tag}-PID` with `lo` up; `setup` runs in it (as `sh -c`) before `body`, a
/// python body using the prelude's helpers, is started and has printed READY.
fn namespace(tag: &str, setup: Option<&str>, body: &str) -> Netns {
    let mut ns = Netns::create(&format!("audit-{tag}"));
    let name = ns.name.clone();
    if let Some(cmd) = setup {
        assert!(sh(&["ip", "netns", "exec", &name, "sh", "-c", cmd]), "{cmd}");
    }
    ns.run_python(&format!("{PRELUDE}\n{body}\nprint(\"READY\", flush=True)\nsys.stdin.read()\n"));
    ns
}

fn audit(ns: &Netns, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_sockscope"), "audit"])
        .args(args)
        .output()
        .expect("run sockscope audit")
}

fn audit_json(ns: &Netns, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json"];
    all.extend(args);
    let out = audit(ns, &all);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("audit --json: {e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), v)
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn listener<'a>(v: &'a Value, proto: &str, port: u64) -> &'a Value {
    v["listeners"]
        .as_array()
        .and_then(|a| a.iter().find(|l| l["proto"] == proto && l["port"] == port))
        .unwrap_or_else(|| panic!("no {proto} listener on {port} in {v:#}"))
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    k.sort();
    k
}

#[test]
#[ignore = "needs root: builds private network namespaces"]
fn redis_port_flagged_unless_loopback_only() {
    require();
    // One namespace per address: 127.0.0.1:6379 and 0.0.0.0:6379 cannot both listen in one.
    let lo = namespace("lo", None, "listen(A4, '127.0.0.1', 6379)\nudp(A4, '127.0.0.1', 5353)");
    let (code, v) = audit_json(&lo, &[]);
    assert_eq!(code, 0, "{v:#}");
    let l = listener(&v, "tcp", 6379);
    assert_eq!((l["reach"].as_str(), l["exposed"].as_bool()), (Some("loopback"), Some(false)));
    assert_eq!(l["service"], "redis");
    assert_eq!(l["flags"].as_array().map(Vec::len), Some(0));
    assert_eq!(listener(&v, "udp", 5353)["reach"], "loopback");
    assert_eq!(v["flagged_listeners"], 0);
    let out = audit(&lo, &[]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out);
    assert!(t.contains("Result: nothing flagged"), "{t}");
    assert!(t.contains("sockscope sees sockets, not the firewall"), "{t}");
    assert!(t.contains("UNIX sockets left out"), "{t}");

    let any4 = namespace("any4", None, "listen(A4, '0.0.0.0', 6379)");
    let (code, v) = audit_json(&any4, &[]);
    assert_eq!(code, 1, "{v:#}");
    let l = listener(&v, "tcp", 6379);
    assert_eq!(l["reach"], "all-ipv4");
    assert_eq!(l["flags"][0]["kind"], "exposed-service");
    assert_eq!(l["flags"][0]["category"], "cache");
    assert!(l["flags"][0]["reason"].as_str().unwrap().starts_with("redis (cache) reachable on all IPv4 addresses"));
    let out = audit(&any4, &[]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("! exposed-service") && t.contains("\n  ! tcp 0.0.0.0:6379: redis (cache)"), "{t}");
    assert!(t.contains("Result: 1 of 1 listening endpoints flagged"), "{t}");

    let any6 = namespace("any6", None, "listen(A6, '::', 6379, v6only=0)\nlisten(A6, '::', 6380, v6only=1)");
    let (code, v) = audit_json(&any6, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(listener(&v, "tcp", 6379)["reach"], "all-dual-stack");
    assert_eq!(listener(&v, "tcp", 6379)["flags"][0]["kind"], "exposed-service");
    assert_eq!(listener(&v, "tcp", 6380)["reach"], "all-ipv6-only");
    // /proc does not show IPV6_V6ONLY: still flagged, reach says it cannot tell.
    let (code, v) = audit_json(&any6, &["--source", "proc"]);
    assert_eq!(code, 1);
    assert_eq!(listener(&v, "tcp", 6379)["reach"], "all-ipv6");
    println!("audit: redis on 127.0.0.1 not flagged, on 0.0.0.0 and :: flagged; exit 0/1");
}

#[test]
#[ignore = "needs root: builds private network namespaces"]
fn json_shape_is_stable() {
    require();
    let ns = namespace("json", None, "listen(A4, '0.0.0.0', 11211)\nudp(A4, '0.0.0.0', 11211)");
    let (code, v) = audit_json(&ns, &[]);
    assert_eq!(code, 1);
    assert_eq!(keys(&v), ["ephemeral", "flagged_listeners", "listeners", "note", "pressure_warnings"]);
    let l = listener(&v, "udp", 11211);
    assert_eq!(
        keys(l),
        [
            "address",
            "exposed",
            "flags",
            "ifindex",
            "inode",
            "namespace",
            "port",
            "process",
            "proto",
            "reach",
            "service",
            "sockets",
            "uid"
        ]
    );
    assert_eq!(keys(&l["flags"][0]), ["category", "kind", "reason"]);
    // The python process that holds the socket, found through /proc (the test runs as root).
    assert!(l["process"].as_str().is_some_and(|p| p.starts_with("python3[")), "{}", l["process"]);
    assert_eq!(l["address"], "0.0.0.0");
    assert_eq!(
        keys(&v["ephemeral"]),
        ["busiest", "capacity", "error", "range", "reserved_in_range", "threshold_percent", "warnings"]
    );
    assert_eq!(v["ephemeral"]["threshold_percent"], 50.0);
    assert_eq!(v["flagged_listeners"], 2);
    assert!(v["note"].as_str().unwrap().contains("not the firewall"));
}

#[test]
#[ignore = "needs root: builds private network namespaces"]
fn privileged_port_held_by_non_root_is_flagged() {
    require();
    let ns = namespace("priv", None, "listen(A4, '127.0.0.1', 80, uid=65534)\nlisten(A4, '127.0.0.1', 81)");
    let (code, v) = audit_json(&ns, &[]);
    assert_eq!(code, 1, "{v:#}");
    let l = listener(&v, "tcp", 80);
    assert_eq!(l["uid"], 65534);
    assert_eq!(l["flags"][0]["kind"], "privileged-not-root");
    assert!(l["flags"][0]["category"].is_null());
    assert_eq!(listener(&v, "tcp", 81)["flags"].as_array().map(Vec::len), Some(0));
    let t = text(&audit(&ns, &[]));
    assert!(t.contains("privileged-not-root") && t.contains("uid 65534"), "{t}");
}

#[test]
#[ignore = "needs root: builds private network namespaces"]
fn ephemeral_pressure_with_a_small_range() {
    require();
    let ns = namespace(
        "ephemeral",
        Some("echo '40000 40039' > /proc/sys/net/ipv4/ip_local_port_range"),
        "l = listen(A4, '127.0.0.1', 5000)\nconnect_n(l, '127.0.0.1', 5000, 30)",
    );
    let (code, v) = audit_json(&ns, &[]);
    assert_eq!(code, 1, "{v:#}");
    let e = &v["ephemeral"];
    assert_eq!((e["range"]["low"].as_u64(), e["range"]["high"].as_u64()), (Some(40000), Some(40039)));
    assert_eq!(e["capacity"], 40);
    let w = &e["warnings"][0];
    assert_eq!((w["proto"].as_str(), w["local_address"].as_str()), (Some("tcp"), Some("127.0.0.1")));
    assert_eq!((w["remote_address"].as_str(), w["remote_port"].as_u64()), (Some("127.0.0.1"), Some(5000)));
    assert_eq!(
        (w["sockets"].as_u64(), w["capacity"].as_u64(), w["percent"].as_f64()),
        (Some(30), Some(40), Some(75.0))
    );
    assert_eq!(e["warnings"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["flagged_listeners"], 0);
    assert_eq!(v["pressure_warnings"], 1);

    let out = audit(&ns, &[]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("range 40000-40039 (40 ports)"), "{t}");
    assert!(t.contains("\n  ! tcp 127.0.0.1 -> 127.0.0.1:5000: 30 of 40 ports (75%), 0 in TIME-WAIT"), "{t}");
    assert!(t.contains("Cannot assign requested address"), "{t}");

    // Above the usage: no warning, nothing flagged.
    let (code, v) = audit_json(&ns, &["--threshold", "80"]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["ephemeral"]["busiest"][0]["sockets"], 30);
    let t = text(&audit(&ns, &["--threshold", "80"]));
    assert!(t.contains("ok: the busiest is tcp 127.0.0.1 -> 127.0.0.1:5000 (30 of 40 ports (75%)"), "{t}");
    println!("ephemeral pressure: 30 of 40 ports (75%) reported for 127.0.0.1 -> 127.0.0.1:5000");
}

#[test]
fn bad_threshold_is_a_usage_error() {
    let out = common::run(&["audit", "--threshold", "150"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("150"), "{err}");
}
