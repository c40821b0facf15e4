//! `sockscope forwards`: the hand-written conntrack fixtures (see fixtures/conntrack/README.md) give the
//! expected grouping, conntrack missing is one line and exit 0, and a live DNAT rule in a private network
//! namespace shows up (needs root, python3 and nft or iptables: ignored without root, fails loudly when it cannot).

mod common;

use common::Netns;
use std::io::BufReader;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use sockscope::ports::conntrack;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/conntrack").join(name)
}

fn forwards_json(args: &[&str]) -> Value {
    let mut all = vec!["forwards", "--json"];
    all.extend(args);
    serde_json::from_str(&common::run_ok(&all)).expect("valid JSON")
}

/// (proto, external, internal, flows, clients) of each forward.
fn summary(v: &Value) -> Vec<(String, String, String, u64, u64)> {
    let end = |a: &Value, p: &Value| {
        let a = a.as_str().unwrap_or("?");
        let a = if a.contains(':') { format!("[{a}]") } else { a.to_string() };
        if p.is_null() { a } else { format!("{a}:{p}") }
    };
    v["forwards"]
        .as_array()
        .expect("forwards array")
        .iter()
        .map(|f| {
            (
                f["proto"].as_str().unwrap_or("?").to_string(),
                end(&f["external_address"], &f["external_port"]),
                end(&f["internal_address"], &f["internal_port"]),
                f["flows"].as_u64().unwrap_or(0),
                f["clients"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn router_fixture_groups_dnat_flows() {
    let path = fixture("router").join("net/nf_conntrack");
    let table = conntrack::parse(BufReader::new(std::fs::File::open(&path).unwrap())).unwrap();
    assert_eq!((table.flows.len(), table.skipped), (18, 0));
    assert_eq!(table.flows.iter().filter(|f| f.is_dnat()).count(), 10);
    assert_eq!(table.flows.iter().filter(|f| f.is_snat()).count(), 4);

    let root = fixture("router");
    let v = forwards_json(&["--proc-root", root.to_str().unwrap()]);
    assert_eq!(v["available"], true);
    assert_eq!(
        (v["flows"].as_u64(), v["snat_flows"].as_u64(), v["skipped_lines"].as_u64()),
        (Some(18), Some(4), Some(0))
    );
    let s = |p: &str, e: &str, i: &str, f: u64, c: u64| (p.to_string(), e.to_string(), i.to_string(), f, c);
    assert_eq!(
        summary(&v),
        vec![
            s("tcp", "93.184.216.34:80", "192.168.1.1:3128", 1, 1),
            s("tcp", "198.51.100.10:443", "10.0.0.11:8443", 2, 2),
            s("tcp", "198.51.100.10:443", "10.0.0.12:8443", 1, 1),
            s("tcp", "198.51.100.10:5432", "172.17.0.3:5432", 1, 1),
            s("tcp", "198.51.100.10:8080", "172.17.0.2:80", 3, 2),
            s("tcp", "[2001:db8::10]:443", "[fd00::2]:8443", 1, 1),
            s("udp", "198.51.100.10:5353", "172.17.0.4:53", 1, 1),
        ]
    );
    let web = &v["forwards"][4];
    assert_eq!(web["states"]["ESTABLISHED"], 2);
    assert_eq!(web["states"]["TIME_WAIT"], 1);
    assert_eq!(v["forwards"][3]["states"]["SYN_SENT"], 1);
    assert_eq!(v["forwards"][6]["states"]["-"], 1);

    let out = common::run_ok(&["forwards", "--proc-root", root.to_str().unwrap()]);
    assert!(out.contains("7 forwards, 10 of 18 tracked flows"), "{out}");
    let row = out.lines().find(|l| l.contains("198.51.100.10:8080")).expect("8080 row");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[..6], ["tcp", "198.51.100.10:8080", "->", "172.17.0.2:80", "3", "2"], "{row}");
    assert!(row.ends_with("ESTABLISHED 2, TIME_WAIT 1"), "{row}");
    assert!(out.contains("Also 4 source-NAT'ed (masqueraded) flows, not shown."), "{out}");
}

#[test]
fn empty_table_says_no_forward_in_use() {
    let root = fixture("empty");
    let out = common::run_ok(&["forwards", "--proc-root", root.to_str().unwrap()]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("No destination-NAT'ed flows among the 0 tracked"), "{out}");
    let v = forwards_json(&["--proc-root", root.to_str().unwrap()]);
    assert_eq!((v["available"].as_bool(), v["flows"].as_u64()), (Some(true), Some(0)));
    assert_eq!(v["forwards"].as_array().map(Vec::len), Some(0));
}

#[test]
fn without_conntrack_one_line_and_exit_0() {
    let out = common::run(&["forwards", "--proc-root", "/nonexistent/proc"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("conntrack is not available"), "{text}");
    assert!(text.contains("/nonexistent/proc/net/nf_conntrack"), "{text}");
    assert!(out.stderr.is_empty());
    let v = forwards_json(&["--proc-root", "/nonexistent/proc"]);
    assert_eq!(v["available"], false);
    assert!(v["reason"].as_str().unwrap().contains("nf_conntrack"));
}

fn in_ns(ns: &str, args: &[&str]) -> std::process::Output {
    Command::new("ip").args(["netns", "exec", ns]).args(args).output().expect("ip netns exec")
}

const CLIENTS: &str = r#"
import socket, sys
keep = []
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", 18081)); l.listen(16); keep.append(l)
for _ in range(3):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM); c.connect(("127.0.0.1", 18080))
    a, _ = l.accept(); keep.extend([c, a])
print("READY", flush=True)
sys.stdin.read()
"#;

#[test]
#[ignore = "needs root: a network namespace with a DNAT rule (and nft or iptables)"]
fn live_dnat_rule_in_a_namespace() {
    common::require_root();
    common::require(&["ip", "python3"]);
    let (nft, ipt) = (common::have("nft"), common::have("iptables"));
    assert!(nft || ipt, "this test needs nft or iptables to add a DNAT rule (.ci/run installs nftables)");
    let mut ns = Netns::create("fwd");
    let name = ns.name.clone();
    let rule = if nft {
        in_ns(
            &name,
            &[
                "nft",
                "add table ip sockscope_fwd; \
                 add chain ip sockscope_fwd out { type nat hook output priority -100; policy accept; }; \
                 add rule ip sockscope_fwd out ip daddr 127.0.0.1 tcp dport 18080 dnat to 127.0.0.1:18081",
            ],
        )
    } else {
        in_ns(
            &name,
            &[
                "iptables",
                "-t",
                "nat",
                "-A",
                "OUTPUT",
                "-p",
                "tcp",
                "-d",
                "127.0.0.1",
                "--dport",
                "18080",
                "-j",
                "DNAT",
                "--to-destination",
                "127.0.0.1:18081",
            ],
        )
    };
    assert!(
        rule.status.success(),
        "the kernel refused the DNAT rule (nf_tables / iptable_nat not available?): {}",
        String::from_utf8_lossy(&rule.stderr).trim()
    );
    assert!(
        in_ns(&name, &["test", "-e", "/proc/net/nf_conntrack"]).status.success(),
        "/proc/net/nf_conntrack is missing in the namespace (no CONFIG_NF_CONNTRACK_PROCFS)"
    );
    ns.run_python(CLIENTS);

    let out = in_ns(&name, &[env!("CARGO_BIN_EXE_sockscope"), "forwards", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["available"], true, "{v:#}");
    let rows = summary(&v);
    assert!(
        rows.contains(&("tcp".into(), "127.0.0.1:18080".into(), "127.0.0.1:18081".into(), 3, 1)),
        "expected 3 flows 127.0.0.1:18080 -> 127.0.0.1:18081 in {v:#}"
    );
    let text =
        String::from_utf8_lossy(&in_ns(&name, &[env!("CARGO_BIN_EXE_sockscope"), "forwards"]).stdout).into_owned();
    assert!(text.contains("127.0.0.1:18080") && text.contains("127.0.0.1:18081"), "{text}");
    println!(
        "live forwards: DNAT 127.0.0.1:18080 -> 127.0.0.1:18081 seen with 3 flows ({})",
        if nft { "nft" } else { "iptables" }
    );
}
