//! Differential test against `ss` in a private network namespace the test creates (ignored without root,
//! run with `--include-ignored`; fails loudly when it cannot). A python3 helper builds a population of listeners (v4, v6, dual-stack), established
//! pairs (v4, v6, v4-mapped), FIN-WAIT-2/CLOSE-WAIT and TIME-WAIT sockets, and UDP sockets; then the set of
//! (state, local, peer) from `sockscope list -tanH` must equal the one from `ss -tanH`, and the same for UDP.

mod common;

use common::Netns;

use std::io::Write;
use std::process::Command;

const POPULATION: &str = r#"
import socket, sys
A4, A6 = socket.AF_INET, socket.AF_INET6
keep = []
def listen(fam, addr, port, v6only=None):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((addr, port)); s.listen(128); keep.append(s); return s
def pairs(l, fam, addr, port, n):
    out = []
    for _ in range(n):
        c = socket.socket(fam, socket.SOCK_STREAM); c.connect((addr, port))
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
print("READY", flush=True)
sys.stdin.read()
"#;

/// Root, and the tools the namespace and the population need (fails loudly otherwise).
fn require() {
    common::require_root();
    common::require(&["ip", "ss", "python3"]);
}

fn triples(out: &str) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5).then(|| (f[0].to_string(), f[3].to_string(), f[4].to_string()))
        })
        .collect();
    v.sort();
    v
}

fn exec_in(ns: &str, cmd: &[&str]) -> String {
    let out = Command::new("ip").args(["netns", "exec", ns]).args(cmd).output().expect("ip netns exec");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Create a namespace `sockscope-{tag}-PID` with the population running in it.
fn populate(tag: &str) -> Netns {
    let mut ns = Netns::create(tag);
    ns.run_python(POPULATION);
    // Let FIN/ACK exchanges on loopback settle into FIN-WAIT-2 / TIME-WAIT.
    std::thread::sleep(std::time::Duration::from_millis(300));
    ns
}

#[test]
#[ignore = "needs root: builds a private network namespace"]
fn same_sockets_as_ss_in_a_private_namespace() {
    require();
    let ns = populate("diff");
    let name = ns.name.clone();
    let bin = env!("CARGO_BIN_EXE_sockscope");
    for (what, flags) in [("TCP", "-tanH"), ("UDP", "-uanH")] {
        let ours = triples(&exec_in(&name, &[bin, "list", flags]));
        let theirs = triples(&exec_in(&name, &["ss", flags]));
        let only_ours: Vec<_> = ours.iter().filter(|t| !theirs.contains(t)).collect();
        let only_ss: Vec<_> = theirs.iter().filter(|t| !ours.contains(t)).collect();
        assert!(
            only_ours.is_empty() && only_ss.is_empty() && ours.len() == theirs.len(),
            "{what}: sockscope {flags} and ss {flags} differ\nonly sockscope: {only_ours:#?}\nonly ss: {only_ss:#?}"
        );
        let mut states: Vec<&str> = ours.iter().map(|t| t.0.as_str()).collect();
        states.dedup();
        println!(
            "differential {what}: {} sockets, identical to `ss {flags}` (states: {})",
            ours.len(),
            states.join(" ")
        );
        assert!(ours.len() >= 7, "{what}: population too small: {ours:?}");
    }
    let _ = std::io::stdout().flush();
}

/// Filters run by both tools on the same population. Each must select the same sockets.
const CORPUS: &[&str] = &[
    "sport = :8080",
    "dport = :8080",
    "sport != :8080",
    "sport > :9000",
    "sport >= :9000",
    "sport < :8081",
    "sport <= :8081",
    "dport eq :8443",
    "sport ge :8443 and sport le :9000",
    "dport gt :40000",
    "sport = :http-alt",
    "src 127.0.0.1",
    "src 127.0.0.0/8",
    "dst 127.0.0.3",
    "dst 127.0.0.4/32",
    "src 127.0.0.2:9001",
    "src [::1]",
    "src [::1]:9000",
    "dst [::1]",
    "src [::ffff:127.0.0.1]",
    "src ::1/128",
    "dst ::/0",
    "state established",
    "state listening",
    "state time-wait",
    "state connected",
    "state synchronized",
    "state bucket",
    "state big",
    "state close-wait",
    "state fin-wait-2",
    "exclude established",
    "state established ( sport = :8080 or dport = :8080 )",
    "not sport = :8080",
    "! dport = :8443",
    "sport = :8080 or dport = :8080 and src 127.0.0.1",
    "( sport = :8080 ) || ( sport = :9000 )",
    "sport = :8080 && dport > :40000",
    "src 127.0.0.1 dport = :8080",
    "dst 127.0.0.0/24 or dst [::1]",
    "exclude listening sport = :9001",
    "not ( src 127.0.0.1 or src [::1] )",
    "sport = :1",
];

/// The (local, peer) pairs of a `-H` listing, sorted. ss drops its State column when one state is selected,
/// so the last two columns are used: they are the addresses in both tools' output.
fn pairs(out: &str) -> Vec<(String, String)> {
    let mut v: Vec<_> = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4).then(|| (f[f.len() - 2].to_string(), f[f.len() - 1].to_string()))
        })
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "needs root: builds a private network namespace"]
fn filters_select_the_same_sockets_as_ss() {
    require();
    let ns = populate("filter");
    let bin = env!("CARGO_BIN_EXE_sockscope");
    let mut failures = Vec::new();
    let mut nonempty = 0;
    for expr in CORPUS {
        let words: Vec<&str> = expr.split_whitespace().collect();
        let mut ours_cmd = vec![bin, "list", "-tanH"];
        ours_cmd.extend(&words);
        let mut ss_cmd = vec!["ss", "-tanH"];
        ss_cmd.extend(&words);
        let ours = pairs(&exec_in(&ns.name, &ours_cmd));
        let theirs = pairs(&exec_in(&ns.name, &ss_cmd));
        if ours != theirs {
            failures.push(format!("{expr}: sockscope {ours:?}\n    ss {theirs:?}"));
        }
        nonempty += usize::from(!ours.is_empty());
        println!("filter {:>3} sockets  {expr}", ours.len());
    }
    assert!(failures.is_empty(), "filters that differ from ss:\n{}", failures.join("\n"));
    assert!(nonempty >= CORPUS.len() - 3, "most filters should select something");
    println!("filter differential: {} expressions, all identical to ss", CORPUS.len());
}
