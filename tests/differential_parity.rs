//! Byte-for-byte differential test against iproute2's `ss`, in a private network namespace holding every
//! socket family this kernel has: TCP over IPv4/IPv6 in several states (listening, established, v4-mapped,
//! FIN-WAIT-2, CLOSE-WAIT, TIME-WAIT), UDP (bound and connected), UNIX stream/dgram/seqpacket (paths,
//! abstract names, socket pairs, a pending connection), raw (ICMP, ICMPv6), MPTCP, packet and netlink.
//!
//! A matrix of ss command lines runs through both tools; the outputs must be equal byte for byte after
//! masking only what moves between two runs: timer countdowns, rtt and the `last*` clocks, rates, and the
//! dumping tool's own netlink socket (each tool sees its own). Where a mask changes a value's width, the
//! trailing padding it implies is dropped from both sides. Our binary runs under the name `ss` so that
//! its own netlink socket reads `ss/PID` as ss's does. The matrix is printed with identical/different per
//! line.

mod common;

use std::process::Command;

use common::Netns;

/// Appended to `common::PY_INET_POPULATION`: keepalive timers, UNIX sockets of every type, raw, packet,
/// netlink and MPTCP sockets.
const EXTRA_POPULATION: &str = r#"
import os, shutil, tempfile
for c, a in pairs(l1, A4, "127.0.0.1", 8080, 3):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
d = tempfile.mkdtemp(prefix="sockscope-parity-")
for k, t in [("str", socket.SOCK_STREAM), ("seq", socket.SOCK_SEQPACKET)]:
    s = socket.socket(socket.AF_UNIX, t); s.bind(f"{d}/{k}.sock"); s.listen(5); keep.append(s)
    c = socket.socket(socket.AF_UNIX, t); c.connect(f"{d}/{k}.sock"); a, _ = s.accept(); keep += [c, a]
pend = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); pend.connect(f"{d}/str.sock"); keep.append(pend)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind("\0sockscope-parity"); s.listen(5); keep.append(s)
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.connect("\0sockscope-parity"); a, _ = s.accept(); keep += [c, a]
g = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); g.bind(f"{d}/dgram.sock"); keep.append(g)
gc = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); gc.connect(f"{d}/dgram.sock"); keep.append(gc)
# Bound and connected: the kernel keeps the names, the files may go (the test leaves nothing behind).
shutil.rmtree(d)
keep += list(socket.socketpair())
keep.append(socket.socket(A4, socket.SOCK_RAW, socket.IPPROTO_ICMP))
keep.append(socket.socket(A6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6))
keep.append(socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)))
pk = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800)); pk.bind(("lo", 0x0800)); keep.append(pk)
nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0); nl.bind((0, 0)); keep.append(nl)
ml = listen(A4, "127.0.0.1", 7000, backlog=5, proto=262)
pairs(ml, A4, "127.0.0.1", 7000, 1, proto=262)
"#;

/// The command lines, as ss takes them (each word one argument).
const MATRIX: &[&str] = &[
    "-tan",
    "-tln",
    "-tlnp",
    "-uan",
    "-xa",
    "-s",
    "-tanio",
    "-tanm",
    "-tane",
    "-tanpi",
    "-M",
    "-Ma",
    "-Mai",
    "-w",
    "-wa",
    "-wan",
    "-0",
    "-0a",
    "-0e",
    "-0ab",
    "-A inet,unix",
    "-A all -a",
    "-A u_str,u_dgr",
    "-A packet_raw",
    "-f inet6",
    "-f inet6 -a",
    "-f link",
    "-f netlink",
    "-f netlink -n",
    "-f netlink -e",
    "-f unix -a",
    "-O",
    "-Oa",
    "-tlnpO",
    "-tanOi",
    "-t",
    "-u",
    "-x",
    "-4",
    "-6",
    "-a",
    "-an",
    "-l",
    "-ln",
    "-al",
    "-la",
    "-n",
    "-e",
    "-o",
    "-m",
    "-p",
    "-i",
    "-H",
    "-T",
    "-b",
    "-xae",
    "-xam",
    "-xap",
    "-tanT",
    "-tan --tos",
    "-tan --cgroup",
    "-tan --inet-sockopt",
    "-tanoe",
    "-tanm -O",
    "-uanm",
    "-tnH state established",
    "-tn state established",
    "-ta exclude listening",
    "-tan state time-wait",
    "-ta sport = :8080 -n",
    "-tn state established ( dport = :8080 or sport = :8080 )",
    "-xa src *str.sock",
    "-f netlink -m",
    "-0m",
    "-wm",
    "-an -F FILTERFILE",
    "-tanr",
    "-r",
    "-s -t",
    "-A tcp,mptcp -a",
    "-x -4",
    "-tupl",
    "-Z",
];

fn require() {
    common::require_root();
    common::require(&["ip", "ss", "python3"]);
}

/// Run `bin args` inside the namespace: (stdout, pid of the process, exit status).
fn run_in(ns: &str, bin: &str, args: &[String]) -> (String, u32, Option<i32>) {
    let child = Command::new("ip")
        .args(["netns", "exec", ns, bin])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ip netns exec");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait");
    (String::from_utf8_lossy(&out.stdout).into_owned(), pid, out.status.code())
}

/// Replace each `key` + digits run (and a decimal part) with `key` + `#`.
fn mask_after(text: &str, key: &str, chars: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(key) {
        out.push_str(&rest[..i + key.len()]);
        rest = &rest[i + key.len()..];
        let end = rest.find(|c: char| !(c.is_ascii_digit() || chars.contains(c))).unwrap_or(rest.len());
        if end > 0 {
            out.push('#');
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Mask what moves between two runs; drop the dumping tool's own netlink sockets: the one with its `pid`, and
/// the ones the kernel numbers negative (a process's second and later sockets: sockscope dumps tables on
/// several threads at once, each on its own socket; ss uses one).
fn normalize(text: &str, pid: u32) -> String {
    let own = [format!(":ss/{pid} "), format!(":{pid} "), ":-".to_string()];
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !(l.contains("tcpdiag:") || l.contains(" 4:")) || !own.iter().any(|o| l.contains(o.as_str())))
        // The kernel's sock_diag socket queues the dump requests in flight: the tool's (several at once for
        // sockscope, which dumps tables in parallel), so its Recv-Q is the tool's too.
        .filter(|l| !(l.starts_with("nl") && (l.contains("tcpdiag:kernel ") || l.contains(" 4:0 "))))
        .collect();
    // The dropped row may have set a column's width (its queues are the tool's own): then padding is not
    // compared either.
    let own_row_dropped = kept.len() != text.lines().count();
    let mut t = kept.join("\n");
    t.push('\n');
    let before = if own_row_dropped { String::new() } else { t.clone() };
    // Timers count down, the last* clocks and rtts move, rates follow the rtt.
    for (key, chars) in [
        ("timer:(on,", "minsecm."),
        ("timer:(keepalive,", "minsecm."),
        ("timer:(timewait,", "minsecm."),
        ("timer:(persist,", "minsecm."),
        ("lastsnd:", ""),
        ("lastrcv:", ""),
        ("lastack:", ""),
        ("rtt:", "./"),
        ("minrtt:", "."),
        ("rcv_rtt:", "."),
        ("send ", ".kMGT"),
        ("pacing_rate ", ".kMGTbps/"),
        ("delivery_rate ", ".kMGT"),
        ("mrtt:", "."),
        ("busy:", "ms"),
        // -s: the kernel's count of allocated TCP sockets is machine-wide (other namespaces' sockets
        // come and go), and "closed" is derived from it.
        ("TCP:   ", ""),
        ("closed ", ""),
        // Sockets in use in the namespace: the tools' own, still being freed from the previous run, count.
        ("Total: ", ""),
    ] {
        t = mask_after(&t, key, chars);
    }
    if own_row_dropped {
        // A dropped row may have widened any column: compare the fields, not the padding between them.
        t = t.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>().join("\n");
        t.push('\n');
    } else if t != before {
        t = t.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
        t.push('\n');
    }
    t
}

#[test]
#[ignore = "needs root: creates a network namespace (ip netns add) and raw/packet sockets; compares with iproute2's ss"]
fn matrix_is_byte_identical_to_ss() {
    require();
    let mut ns = Netns::create("parity");
    // MPTCP is off by default in some kernels' new namespaces.
    let _ = Command::new("ip").args(["netns", "exec", &ns.name, "sysctl", "-qw", "net.mptcp.enabled=1"]).status();
    ns.run_python(&format!("{}{EXTRA_POPULATION}{}", common::PY_INET_POPULATION, common::PY_READY));
    std::thread::sleep(std::time::Duration::from_millis(300));

    // Our binary under the name `ss`, so that its own netlink socket reads as ss's.
    let dir = common::TempDir::new("parity-bin");
    let ours = dir.join("ss");
    std::fs::copy(env!("CARGO_BIN_EXE_sockscope"), &ours).unwrap();
    let filter_file = dir.join("filter");
    std::fs::write(&filter_file, "( sport = :8080 or dport = :8443 )\n").unwrap();
    let ss_path = String::from_utf8(Command::new("sh").args(["-c", "command -v ss"]).output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();

    let mut report = Vec::new();
    let mut failures = Vec::new();
    for line in MATRIX {
        let args: Vec<String> = line
            .split_whitespace()
            .map(|w| if w == "FILTERFILE" { filter_file.display().to_string() } else { w.to_string() })
            .collect();
        // Twice if needed: a socket may change state between the two tools' dumps (a TIME-WAIT expiring).
        let mut same = false;
        let mut last = (String::new(), String::new());
        for _ in 0..3 {
            let (theirs, ss_pid, ss_code) = run_in(&ns.name, &ss_path, &args);
            let (mine, my_pid, my_code) = run_in(&ns.name, ours.to_str().unwrap(), &args);
            let (t, m) = (normalize(&theirs, ss_pid), normalize(&mine, my_pid));
            let codes_agree = (ss_code == Some(0)) == (my_code == Some(0));
            if t == m && codes_agree {
                same = true;
                break;
            }
            last = (t, m);
        }
        report.push(format!("{:<10} ss {line}", if same { "identical" } else { "DIFFERENT" }));
        if !same {
            failures.push(format!("ss {line}\n--- ss\n{}\n--- sockscope\n{}", last.0, last.1));
        }
    }
    println!("ss parity matrix ({} command lines):\n{}", MATRIX.len(), report.join("\n"));
    assert!(failures.is_empty(), "outputs that differ from ss:\n{}", failures.join("\n\n"));
}

/// `-D FILE` writes what ss writes: ss lists our capture (`TCPDIAG_FILE`) exactly as we list it back with
/// `--from-dump`, and both match the live listing.
#[test]
#[ignore = "needs root: creates a network namespace (ip netns add); compares with iproute2's ss"]
fn diag_dump_replays_in_both_tools() {
    require();
    let mut ns = Netns::create("parity-dump");
    ns.run_python(
        "import socket, sys\nl = socket.socket(); l.bind(('127.0.0.1', 8080)); l.listen(8)\nkeep = []\n\
         for _ in range(5):\n    c = socket.create_connection(('127.0.0.1', 8080)); a, _ = l.accept(); keep += [c, a]\n\
         print('READY', flush=True)\nsys.stdin.read()\n",
    );
    let bin = env!("CARGO_BIN_EXE_sockscope");
    let dir = common::TempDir::new("parity-dump");
    let file = dir.join("dump");
    let f = file.to_str().unwrap();
    let (_, _, code) = run_in(&ns.name, bin, &["-4tan".into(), "-D".into(), f.into()]);
    assert_eq!(code, Some(0));
    assert!(std::fs::metadata(&file).unwrap().len() > 0, "the dump is empty");
    let live = run_in(&ns.name, bin, &["-4tan".into()]).0;
    let replay = run_in(&ns.name, bin, &["-4tan".into(), "--from-dump".into(), f.into()]).0;
    let out = Command::new("ss").args(["-tan"]).env("TCPDIAG_FILE", &file).output().unwrap();
    let ss_replay = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(replay, live, "--from-dump lists what the live dump listed");
    assert_eq!(ss_replay, replay, "ss reads our -D file as its own");
    assert_eq!(replay.lines().count(), 12, "{replay}");
    println!("-D/--from-dump: {} sockets, identical in ss (TCPDIAG_FILE) and sockscope", replay.lines().count() - 1);
}

#[test]
fn masks_only_moving_values() {
    let t = "ESTAB 0 0 a:1 b:2 timer:(keepalive,4min44sec,0)\n\t bbr rtt:0.008/0.004 lastsnd:523592 cwnd:10 send 328Gbps   \n";
    let n = normalize(t, 1);
    assert_eq!(n, "ESTAB 0 0 a:1 b:2 timer:(keepalive,#,0)\n\t bbr rtt:# lastsnd:# cwnd:10 send #bps\n");
    let own = "nl UNCONN 0 0 tcpdiag:ss/42 *\nnl UNCONN 0 0 rtnl:kernel *\n";
    assert_eq!(normalize(own, 42), "nl UNCONN 0 0 rtnl:kernel *\n");
}
