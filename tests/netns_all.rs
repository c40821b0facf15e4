//! `--all-netns` and `-N` against `ip netns exec NS ss` in 30 network namespaces the test makes (needs root):
//! listeners, loopback connections, UDP sockets, and a veth pair between two of the namespaces with a
//! connection across it (addresses exist only inside those namespaces). One python process creates every
//! socket, entering each namespace with setns in turn, so the namespaces hold sockets but no process.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use common::{Netns, sh};
use serde_json::Value;

const COUNT: usize = 30;

/// Enters each namespace named on the command line, makes its sockets there, prints READY, waits on stdin.
const POPULATION: &str = r#"
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
keep = []
def enter(name):
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns " + name)
    os.close(fd)
def listen(addr, port):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(64); keep.append(s); return s
def connect(l, addr, port, n):
    for _ in range(n):
        c = socket.create_connection((addr, port)); a, _ = l.accept(); keep.extend([c, a])
names = sys.argv[1:]
for i, name in enumerate(names):
    enter(name)
    l = listen("127.0.0.1", 8000 + i)
    connect(l, "127.0.0.1", 8000 + i, 1 + i % 4)
    listen("::1", 9000 + i)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 5300 + i)); keep.append(u)
# across the veth pair: a listener in the second namespace, a client in the first
enter(names[1]); far = listen("10.199.0.2", 7000)
enter(names[0]); c = socket.create_connection(("10.199.0.2", 7000)); keep.append(c)
enter(names[1]); a, _ = far.accept(); keep.append(a)
print("READY", flush=True)
sys.stdin.read()
"#;

fn prerequisites() {
    assert!(common::is_root(), "needs root to create network namespaces");
    for cmd in ["ip", "ss", "python3"] {
        assert!(common::have(cmd), "needs {cmd}");
    }
}

/// The population: 30 namespaces (guards), a veth pair between the first two, and the python process.
struct Population {
    namespaces: Vec<Netns>,
    child: std::process::Child,
}

impl Drop for Population {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn populate(tag: &str) -> Population {
    let namespaces: Vec<Netns> = (0..COUNT).map(|i| Netns::create(&format!("netns-{tag}{i}"))).collect();
    let (a, b) = (&namespaces[0].name, &namespaces[1].name);
    assert!(sh(&["ip", "-n", a, "link", "add", "ssv0", "type", "veth", "peer", "name", "ssv1", "netns", b]), "veth");
    for (ns, dev, addr) in [(a, "ssv0", "10.199.0.1/30"), (b, "ssv1", "10.199.0.2/30")] {
        assert!(sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]), "address in {ns}");
        assert!(sh(&["ip", "-n", ns, "link", "set", dev, "up"]), "{dev} up in {ns}");
    }
    let mut child = Command::new("python3")
        .args(["-c", POPULATION])
        .args(namespaces.iter().map(|n| n.name.as_str()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("READY");
    let pop = Population { namespaces, child };
    assert_eq!(line.trim(), "READY", "the population did not start");
    pop
}

/// Lines with their whitespace runs collapsed, sorted: column widths differ between tools, content must not.
fn normalized<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = lines.map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    v.retain(|l| !l.is_empty());
    v.sort();
    v
}

/// ss's output in namespace `ns`, as it printed it.
fn ss_raw(ns: &str, flags: &str) -> String {
    let out = Command::new("ip").args(["netns", "exec", ns, "ss", flags]).output().expect("ip netns exec ss");
    assert!(out.status.success(), "ss in {ns}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn ss_in(ns: &str, flags: &str) -> Vec<String> {
    normalized(ss_raw(ns, flags).lines())
}

/// Whitespace runs collapsed, in the order printed.
fn in_order<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    lines.map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|l| !l.is_empty()).collect()
}

#[test]
#[ignore = "needs root: creates 30 network namespaces"]
fn all_netns_reports_what_ss_reports_in_each_namespace() {
    prerequisites();
    let pop = populate("ss");
    for flags in ["-tanH", "-uanH", "-tlnH"] {
        let out = common::run(&["--all-netns", flags]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).expect("utf-8");
        // The first column is the namespace: split the listing by it.
        let mut ours: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for line in text.lines() {
            let (ns, rest) = line.split_once(' ').expect("a namespace column");
            ours.entry(ns.to_string()).or_default().push(rest);
        }
        for ns in &pop.namespaces {
            let got = normalized(ours.get(&ns.name).cloned().unwrap_or_default().into_iter());
            let want = ss_in(&ns.name, flags);
            assert!(!want.is_empty(), "ss sees nothing in {}", ns.name);
            assert_eq!(got, want, "{flags} in {}", ns.name);
            // and in ss's order: a namespace's TCP is dumped in one walk for both families, its rows put back
            // as the two per-family dumps give them (IPv4 first)
            let got = in_order(ours.get(&ns.name).cloned().unwrap_or_default().into_iter());
            assert_eq!(got, in_order(ss_raw(&ns.name, flags).lines()), "{flags} in {}: row order", ns.name);
        }
    }
    // A reader that is gone ends the listing, dumps still running included: exit 0. (Closed before the first
    // write: a reader of one line could leave the whole listing in the pipe's buffer and test nothing.)
    let mut child = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["--all-netns", "-tanH"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sockscope");
    drop(child.stdout.take());
    assert!(child.wait().expect("wait").success(), "a closed pipe is not an error");
    // -N: byte for byte what ss prints there (one namespace, no Namespace column)
    for ns in &pop.namespaces[..3] {
        for flags in ["-tanH", "-tan", "-tuanH"] {
            let out = common::run(&["-N", &ns.name, flags]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8_lossy(&out.stdout), ss_raw(&ns.name, flags), "-N {} {flags}", ns.name);
        }
    }
    // The veth connection is labelled with the namespaces at its two ends.
    let ours = |r: &Value| pop.namespaces.iter().any(|n| r["netns"]["name"] == n.name.as_str());
    let mut rows = common::ndjson(&["--all-netns", "-tan", "--ndjson", "dst", "10.199.0.2:7000"]);
    rows.retain(ours);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["netns"]["name"], pop.namespaces[0].name.as_str());
    let mut rows = common::ndjson(&["--all-netns", "-tan", "--ndjson", "src", "10.199.0.2:7000"]);
    rows.retain(ours);
    let names: Vec<&str> = rows.iter().map(|r| r["netns"]["name"].as_str().unwrap_or("?")).collect();
    assert_eq!(names, vec![pop.namespaces[1].name.as_str(); 2], "listener and accepted socket");
}

#[test]
#[ignore = "needs root: creates 30 network namespaces"]
fn json_labels_filters_and_dash_n_agree() {
    prerequisites();
    let pop = populate("json");
    let ns = &pop.namespaces[7];
    let inode = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/run/netns/{}", ns.name)).expect("stat the namespace").ino()
    };
    // the `netns` filter term by name and by inode, and -N NAME / -N PATH, select the same sockets
    let by_name = common::ndjson(&["--all-netns", "-tan", "--ndjson", "netns", &ns.name]);
    let by_inode = common::ndjson(&["-N", "all", "-tan", "--ndjson", "netns", &inode.to_string()]);
    let dash_n = common::ndjson(&["-N", &ns.name, "-tan"]);
    let path = format!("/run/netns/{}", ns.name);
    let dash_n_path = common::ndjson(&["-N", &path, "-tan"]);
    let keys = |v: &[Value]| {
        let mut k: Vec<_> = v.iter().map(common::key).collect();
        k.sort();
        k
    };
    assert_eq!(by_name.len(), 2 + 2 * (1 + 7 % 4), "two listeners and connection pairs: {by_name:?}");
    assert_eq!(keys(&by_name), keys(&by_inode));
    assert_eq!(keys(&by_name), keys(&dash_n));
    assert_eq!(keys(&by_name), keys(&dash_n_path));
    for r in by_name.iter().chain(&dash_n) {
        assert_eq!(r["netns"]["name"], ns.name.as_str());
        assert_eq!(r["netns"]["inode"], inode);
        assert!(r.get("container").is_some() && r.get("unit").is_some(), "fields are always present: {r}");
    }
    // `not netns` keeps every other namespace's sockets, the host's too
    let others = common::ndjson(&["--all-netns", "-tln", "--ndjson", "not", "netns", &ns.name]);
    assert!(others.iter().all(|r| r["netns"]["name"] != ns.name.as_str()));
    assert!(others.iter().any(|r| r["netns"]["name"] == pop.namespaces[8].name.as_str()));
    // audit labels each listening endpoint with its namespace
    let out = common::run(&["audit", "--all-netns", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("audit JSON");
    let listeners = report["listeners"].as_array().expect("listeners");
    for (i, n) in pop.namespaces.iter().enumerate().take(3) {
        let port = 8000 + i as u64;
        let mine: Vec<&Value> = listeners.iter().filter(|l| l["namespace"] == n.name.as_str()).collect();
        assert!(mine.iter().any(|l| l["port"] == port), "audit has {}:{port}: {mine:?}", n.name);
    }
    let ipv6_9000: Vec<&Value> = listeners
        .iter()
        .filter(|l| l["port"] == 9000 && pop.namespaces.iter().any(|n| l["namespace"] == n.name.as_str()))
        .collect();
    assert_eq!(ipv6_9000.len(), 1, "{ipv6_9000:?}");
    // -N with a name that does not exist: one line, exit 1
    let out = common::run(&["-N", "sockscope-netns-no-such", "-tan"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sockscope-netns-no-such") && err.lines().count() == 1, "{err}");
}

#[test]
#[ignore = "needs root: creates network namespaces, then lists them as nobody"]
fn without_privilege_the_own_namespace_is_listed_and_the_others_named() {
    prerequisites();
    assert!(common::have("setpriv"), "needs setpriv");
    let pop = populate("nobody");
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_sockscope"))
        .args(["--all-netns", "-tanH", "--ndjson"])
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("could not enter") && err.contains("CAP_SYS_ADMIN"), "{err}");
    // The note names the namespaces (the first ten, then how many more: other namespaces on a busy host may
    // come first) and counts at least ours.
    let count: usize = err
        .split("could not enter ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(count >= COUNT, "at least our {COUNT} namespaces could not be entered: {err}");
    assert!(err.contains(&pop.namespaces[0].name) || err.contains(" more"), "{err}");
    let own = std::fs::read_link("/proc/self/ns/net").expect("own namespace").to_string_lossy().into_owned();
    let rows: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!rows.is_empty(), "the own namespace is still listed");
    for r in &rows {
        assert_eq!(format!("net:[{}]", r["netns"]["inode"]), own, "only the own namespace: {r}");
    }
    // -N of a namespace that cannot be entered is an error naming it, exit 1
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_sockscope"))
        .args(["-N", &pop.namespaces[0].name, "-tan"])
        .output()
        .expect("setpriv");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&pop.namespaces[0].name) && err.contains("permission"), "{err}");
}

/// `ss -s` counters from its text: the `Total:` line and the transport table's rows, whitespace collapsed.
fn summary_counts(text: &str) -> Vec<String> {
    let keep = |l: &&str| ["Total:", "RAW", "UDP", "TCP\t", "INET", "FRAG"].iter().any(|p| l.starts_with(p));
    in_order(text.lines().filter(keep))
}

#[test]
#[ignore = "needs root: creates 30 network namespaces"]
fn summary_is_per_namespace_with_dash_n_and_summed_with_all_netns() {
    prerequisites();
    let pop = populate("stat");
    // -s -N: that namespace's counters, as ss -s prints them there
    let mut ours = (0u64, 0u64, 0u64);
    for ns in &pop.namespaces {
        // The kernel frees closed sockets a moment later (RCU), so a count read just after the population was
        // built can still move: read both again until they agree, a few times at most (a real difference stays).
        let mut pair = (Vec::new(), vec![String::new()]);
        for _ in 0..10 {
            let out = common::run(&["-s", "-N", &ns.name]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            pair = (summary_counts(&String::from_utf8_lossy(&out.stdout)), summary_counts(&ss_raw(&ns.name, "-s")));
            if pair.0 == pair.1 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        assert_eq!(pair.0, pair.1, "-s -N {}", ns.name);
        let v: Value = serde_json::from_slice(&common::run(&["-s", "-N", &ns.name, "--json"]).stdout).expect("JSON");
        ours.0 += v["transport"]["tcp"]["total"].as_u64().expect("tcp");
        ours.1 += v["transport"]["udp"]["total"].as_u64().expect("udp");
        ours.2 += v["tcp"]["established"].as_u64().expect("estab");
    }
    assert_eq!(ours.1, COUNT as u64, "one UDP socket in each");
    // --all-netns: the sum over every namespace, ours included; host-wide counters are counted once
    let out = common::run(&["-s", "--all-netns", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let all: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let own: Value = serde_json::from_slice(&common::run(&["-s", "--json"]).stdout).expect("JSON");
    assert!(all["transport"]["tcp"]["total"].as_u64().unwrap() >= ours.0, "{all}");
    assert!(all["transport"]["udp"]["total"].as_u64().unwrap() >= ours.1, "{all}");
    assert!(all["tcp"]["established"].as_u64().unwrap() >= ours.2, "{all}");
    assert!(all["total"].as_u64().unwrap() > own["total"].as_u64().unwrap(), "more than the own namespace: {all}");
    let (a, o) = (all["tcp"]["memory_pages"].as_u64().unwrap(), own["tcp"]["memory_pages"].as_u64().unwrap());
    assert!(a < o + 1000, "TCP memory is host-wide, not summed per namespace: {a} against {o}");
    // without privilege: the own namespace is counted, the others are named on stderr, exit 0
    assert!(common::have("setpriv"), "needs setpriv");
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_sockscope"))
        .args(["-s", "--all-netns"])
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("could not enter") && err.contains("the summary does not count them"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Total: "));
    // -s -N of a namespace that cannot be entered: an error naming it
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_sockscope"))
        .args(["-s", "-N", &pop.namespaces[0].name])
        .output()
        .expect("setpriv");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&pop.namespaces[0].name));
}
