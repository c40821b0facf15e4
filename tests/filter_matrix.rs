//! One filter, one meaning: in a network namespace of the test's own holding several processes' sockets,
//! `list`, `kill --dry-run`, `watch --existing`, the exporter's `/api/v1/sockets` and a recording read back by
//! `list --from` select the same sockets for each filter of one matrix (ports, states, addresses, process,
//! pid, netns, unit and container terms, with and without `not`, with `-F`), or refuse a term they cannot
//! bind, naming it. Then `kill` with a multi-socket filter closes exactly those sockets and no other.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::serve::{Procs, get, in_netns, percent_encode, start_serve};
use common::{Netns, TempDir};
use serde_json::Value;

/// Three processes with names of their own (prctl): `mtxweb` listens on 7100 and 7300/udp, `mtxcli` makes
/// three connections to 7100 and two to 7200, `mtxdb` listens on 7200. Listeners first (READY), the
/// connections when a line comes on stdin (OPEN), so that a recording started in between sees them open.
const POPULATION: &str = r#"
import ctypes, os, socket, sys, time
libc = ctypes.CDLL(None)
def name(n):
    libc.prctl(15, n.encode(), 0, 0, 0)
def listen(port, backlog=16):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(backlog); return s
r1, w1 = os.pipe(); r2, w2 = os.pipe()
kids = []
for role in ("mtxweb", "mtxdb"):
    pid = os.fork()
    if pid == 0:
        name(role)
        if role == "mtxweb":
            l = listen(7100); u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 7300))
        else:
            l = listen(7200)
        os.write(w1, b"x")
        held = []
        l.settimeout(0.2)
        while True:
            try:
                held.append(l.accept()[0])
            except socket.timeout:
                pass
    kids.append(pid)
os.read(r1, 1); os.read(r1, 1)
pid = os.fork()
if pid == 0:
    name("mtxcli")
    os.read(r2, 1)
    cs = [socket.create_connection(("127.0.0.1", 7100)) for _ in range(3)]
    cs += [socket.create_connection(("127.0.0.1", 7200)) for _ in range(2)]
    print("OPEN %d" % os.getpid(), flush=True)
    time.sleep(3600)
kids.append(pid)
print("READY", flush=True)
sys.stdin.readline()
os.write(w2, b"x")
sys.stdin.readline()
for k in kids:
    os.kill(k, 9)
"#;

/// A socket as the tests compare them: "proto local peer".
type Sock = String;

fn sock_of_json(v: &Value) -> Sock {
    let (proto, _, local, peer) = common::key(v);
    format!("{proto} {local} {peer}")
}

/// What one command answered for one filter: the sockets, or the refusal's text.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Sockets(BTreeSet<Sock>),
    Refused(String),
}

fn answer(out: &Output, parse: impl Fn(&str, &str) -> BTreeSet<Sock>) -> Answer {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.code() == Some(2) {
        return Answer::Refused(stderr.into_owned());
    }
    assert!(out.status.success(), "exit {:?}: {stdout}{stderr}", out.status.code());
    Answer::Sockets(parse(&stdout, &stderr))
}

fn words(filter: &str) -> Vec<String> {
    filter.split_whitespace().map(str::to_string).collect()
}

fn list(ns: &Netns, filter: &str, file: Option<&std::path::Path>) -> Answer {
    let mut args: Vec<String> = vec!["list".into(), "-tun".into(), "--json".into()];
    if let Some(f) = file {
        args.extend(["-F".into(), f.display().to_string()]);
    }
    args.extend(words(filter));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    answer(&ns.sockscope(&args), |out, _| {
        let v: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
        v.as_array().expect("an array").iter().map(sock_of_json).collect()
    })
}

/// `kill --dry-run --all` (the guard against selecting everything is not what is compared): what it would
/// close, printed on stderr as ss's table.
fn kill_dry_run(ns: &Netns, filter: &str, file: Option<&std::path::Path>) -> Answer {
    let mut args: Vec<String> = vec!["kill".into(), "--dry-run".into(), "--all".into(), "-n".into()];
    args.extend(words(filter));
    if let Some(f) = file {
        // kill has no -F: the file's words come after the command line's, as `list -F` joins them.
        let text = std::fs::read_to_string(f).expect("filter file");
        let body = text.lines().filter(|l| !l.starts_with('#'));
        args.extend(body.flat_map(str::split_whitespace).map(str::to_string));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    answer(&ns.sockscope(&args), |_, err| {
        err.lines()
            .filter(|l| l.starts_with("tcp ") || l.starts_with("udp "))
            .map(|l| {
                // Netid, [State,] Recv-Q, Send-Q, Local, Peer, details: the first two fields with a port.
                let f: Vec<&str> = l.split_whitespace().collect();
                let ends: Vec<&str> = f[1..].iter().copied().filter(|w| w.contains(':')).take(2).collect();
                format!("{} {}", f[0], ends.join(" "))
            })
            .collect()
    })
}

fn watch_existing(ns: &Netns, filter: &str) -> Answer {
    let mut args: Vec<String> =
        vec!["watch".into(), "--existing".into(), "--ndjson".into(), "--for".into(), "1500ms".into(), "-tu".into()];
    args.extend(words(filter));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    answer(&ns.sockscope(&args), |out, _| {
        out.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == "open" && v["preexisting"] == true)
            .map(|v| sock_of_json(&v["socket"]))
            .collect()
    })
}

fn api(ns: &Netns, addr: std::net::SocketAddr, filter: &str) -> Answer {
    let target = format!("/api/v1/sockets?filter={}", percent_encode(filter));
    let reply = in_netns(&ns.name, move || get(addr, &target));
    if reply.status == 400 {
        return Answer::Refused(reply.body);
    }
    assert_eq!(reply.status, 200, "{}", reply.body);
    let v = reply.json();
    let inet = v.as_array().expect("an array").iter().filter(|s| s["proto"] == "tcp" || s["proto"] == "udp");
    Answer::Sockets(inet.map(sock_of_json).collect())
}

/// The recording's sockets open at the end, from `list --from FILE --at NOW --json`.
fn recorded(db: &std::path::Path) -> BTreeSet<Sock> {
    let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["list", "--from"])
        .arg(db)
        .args(["--at", "-0s", "--json"])
        .output()
        .expect("list --from");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    v["open_from_events"]
        .as_array()
        .expect("open_from_events")
        .iter()
        .filter(|e| e["proto"] == "tcp" || e["proto"] == "udp")
        .map(|e| {
            format!(
                "{} {}:{} {}:{}",
                e["proto"].as_str().unwrap_or("?"),
                e["local_address"].as_str().unwrap_or("?"),
                e["local_port"],
                e["peer_address"].as_str().unwrap_or("?"),
                e["peer_port"]
            )
        })
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs root: a private network namespace holding several processes' sockets, and an exporter in it"]
fn every_command_selects_the_same_sockets_for_one_filter() {
    common::require_root();
    let mut ns = Netns::create("filter-matrix");
    let dir = TempDir::new("filter-matrix");
    let (mut pop, lines) = common::python(&ns, POPULATION);
    let inum = String::from_utf8(
        Command::new("ip")
            .args(["netns", "exec", &ns.name, "stat", "-L", "-c", "%i", "/proc/self/ns/net"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();

    // The recordings, one per filter a recording can take, start before the connections open.
    let record_filters =
        ["state connected sport = :7100", "state connected dport = :7200", "state connected not dport = :7100"];
    let mut recorders = Vec::new();
    for (i, f) in record_filters.iter().enumerate() {
        let db = dir.join(format!("rec{i}.db"));
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_sockscope"), "record", "-t", "-i", "500ms", "-o"])
            .arg(&db)
            .args(words(f))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        recorders.push((f, db.clone(), cmd.spawn().expect("record")));
        wait_for("the recording's first sample", || db.exists());
    }
    std::thread::sleep(Duration::from_millis(800));
    pop.stdin.as_mut().expect("stdin").write_all(b"go\n").unwrap();
    let open = common::recv_until(&lines, |l| l.starts_with("OPEN "), "the connections");
    let cli_pid: String = open.last().expect("OPEN").trim_start_matches("OPEN ").trim().to_string();
    // The server side has accepted them all.
    wait_for("the accepts", || match list(&ns, "state established", None) {
        Answer::Sockets(s) => s.len() == 10,
        Answer::Refused(_) => false,
    });

    let mut procs = Procs::default();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_sockscope"), "serve", "--listen", "127.0.0.1:0"]);
    cmd.args(["--interval", "1s", "--request-timeout", "60s"]);
    let addr = start_serve(&mut procs, cmd);

    let file = dir.join("filter");
    std::fs::write(&file, "# the file's part\nsport = :7100\n").unwrap();
    let matrix: Vec<(String, bool)> = [
        ("state connected sport = :7100".to_string(), false),
        ("state connected dport = :7100".into(), false),
        ("state established sport = :7100 or sport = :7200".into(), false),
        ("state connected not sport = :7100".into(), false),
        ("state connected dst 127.0.0.1 and dport = :7200".into(), false),
        ("state connected src 127.0.0.1/8 and not dport >= :7200".into(), false),
        ("state connected process mtxweb".into(), false),
        ("state connected not process mtxweb".into(), false),
        ("state connected process mtx* and not process mtxdb".into(), false),
        (format!("state connected pid {cli_pid}"), false),
        (format!("state connected not pid {cli_pid}"), false),
        (format!("state connected netns {inum}"), false),
        (format!("state connected sport = :7100 and not netns {inum}"), false),
        ("state connected container nosuchcontainer".into(), false),
        ("state connected not container nosuchcontainer".into(), false),
        ("state connected unit nosuch.service".into(), false),
        ("state connected not unit nosuch.service".into(), false),
        // With -F: the file's `sport = :7100` and the command line's words, joined with `and`.
        ("state connected dst 127.0.0.9".into(), true),
        ("state established".into(), true),
    ]
    .into_iter()
    .collect();

    // The test's own requests to the exporter come and go (and linger in TIME-WAIT): not compared.
    let port = format!(":{}", addr.port());
    let population = |a: Answer| match a {
        Answer::Sockets(s) => Answer::Sockets(s.into_iter().filter(|x| !x.contains(&port)).collect()),
        a => a,
    };
    let mut report = Vec::new();
    for (filter, with_file) in &matrix {
        let file = with_file.then_some(file.as_path());
        let want = population(list(&ns, filter, file));
        let Answer::Sockets(want_set) = &want else { panic!("list refused {filter}: {want:?}") };
        let mut got = vec![("kill --dry-run", kill_dry_run(&ns, filter, file))];
        if !with_file {
            got.push(("watch --existing", watch_existing(&ns, filter)));
            got.push(("the API", api(&ns, addr, filter)));
        }
        for (cmd, answer) in got {
            let answer = population(answer);
            match &answer {
                Answer::Sockets(s) => {
                    assert_eq!(s, want_set, "{cmd} and list differ on `{filter}` (file: {with_file})");
                }
                Answer::Refused(why) => {
                    // Only a term the command cannot bind, named.
                    let named = ["process", "pid", "container", "unit"]
                        .iter()
                        .any(|t| filter.contains(t) && why.contains(&format!("the filter term `{t}")));
                    assert!(named, "{cmd} refused `{filter}` without naming a term it cannot bind: {why}");
                    assert!(cmd == "watch --existing", "{cmd} refused `{filter}`: {why}");
                }
            }
            report.push(format!("{cmd:<17} {filter}: {answer:?}"));
        }
    }
    for r in &report {
        eprintln!("{r}");
    }
    // Sanity: the matrix is not trivially empty.
    assert!(matches!(list(&ns, "state connected sport = :7100", None), Answer::Sockets(s) if s.len() == 3));
    assert!(
        matches!(list(&ns, "state connected sport = :7100 and not netns 1", None), Answer::Sockets(s) if s.len() == 3)
    );

    // The recordings: stop them (SIGINT writes the final sample), then read them back.
    for (filter, db, mut child) in recorders {
        unsafe_free_sigint(child.id());
        let status = child.wait().expect("record ends");
        assert!(status.success(), "record {filter}: {status:?}");
        let want = match population(list(&ns, filter, None)) {
            Answer::Sockets(s) => s.into_iter().filter(|s| s.starts_with("tcp ")).collect::<BTreeSet<_>>(),
            a => panic!("{a:?}"),
        };
        assert_eq!(recorded(&db), want, "the recording of `{filter}` and list differ");
    }
    drop(procs);
    let _ = pop.stdin.as_mut().map(|s| s.write_all(b"end\n"));
    let _ = pop.wait();
    ns.child = None;
}

/// SIGINT to `pid` (through kill(1): the tests use no unsafe code).
fn unsafe_free_sigint(pid: u32) {
    assert!(Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap().success());
}

fn ss_established(ns: &Netns) -> BTreeSet<String> {
    let out =
        Command::new("ip").args(["netns", "exec", &ns.name, "ss", "-tnH", "state", "established"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            format!("{} {}", f[2], f[3])
        })
        .collect()
}

#[test]
#[ignore = "needs root: a private network namespace and CAP_NET_ADMIN for SOCK_DESTROY"]
fn kill_with_a_multi_socket_filter_closes_exactly_those_sockets() {
    common::require_root();
    let ns = Netns::create("kill-many");
    let (mut pop, lines) = common::python(&ns, POPULATION);
    pop.stdin.as_mut().expect("stdin").write_all(b"go\n").unwrap();
    common::recv_until(&lines, |l| l.starts_with("OPEN "), "the connections");
    wait_for("the accepts", || ss_established(&ns).len() == 10);
    let before = ss_established(&ns);
    // The README's and kill --help's shape: every established connection the server side holds on 7100.
    let out = ns.sockscope(&["kill", "--yes", "-n", "state", "established", "sport", "=", ":7100"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.lines().filter(|l| l.starts_with("closed ")).count(), 3, "{text}");
    let after = ss_established(&ns);
    // Gone: the three server-side sockets on 7100 and, reset by them, their clients. Kept: everything on 7200.
    let gone: BTreeSet<String> = before.difference(&after).cloned().collect();
    assert_eq!(gone.len(), 6, "{gone:?}");
    assert!(gone.iter().all(|l| l.contains(":7100")), "{gone:?}");
    assert_eq!(after.len(), 4, "{after:?}");
    assert!(after.iter().all(|l| l.contains(":7200")), "{after:?}");
    let _ = pop.stdin.as_mut().map(|s| s.write_all(b"end\n"));
    let _ = pop.wait();
}

#[test]
#[ignore = "needs root: root's sockets in a private network namespace, inspected as nobody"]
fn a_hidden_holder_never_satisfies_not_process() {
    common::require_root();
    let ns = Netns::create("hidden-holder");
    // root's processes hold every socket here; nobody cannot read their fds.
    let (mut pop, lines) = common::python(&ns, POPULATION);
    pop.stdin.as_mut().expect("stdin").write_all(b"go\n").unwrap();
    common::recv_until(&lines, |l| l.starts_with("OPEN "), "the connections");
    wait_for("the accepts", || ss_established(&ns).len() == 10);
    let nobody = common::AsNobody::new(env!("CARGO_BIN_EXE_sockscope"));
    let as_nobody = |args: &[&str]| {
        let exe = nobody.path().display().to_string();
        let mut all = vec!["netns", "exec", &ns.name, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
        all.push(&exe);
        all.extend_from_slice(args);
        Command::new("ip").args(&all).stdin(Stdio::null()).output().expect("run as nobody")
    };
    for args in [
        &["list", "-tnH", "state", "established", "not", "process", "python3", "and", "sport", "=", ":7100"][..],
        &["kill", "--dry-run", "state", "established", "not", "process", "python3", "and", "sport", "=", ":7100"],
        &["list", "-tnH", "state", "established", "not", "container", "x", "and", "sport", "=", ":7100"],
    ] {
        let out = as_nobody(args);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{args:?}: {stdout}{stderr}");
        assert!(
            !stdout.contains(":7100") && !stderr.contains("ESTAB"),
            "{args:?} selected hidden sockets: {stdout}{stderr}"
        );
    }
    // As root, who sees the holders, the same words select mtxweb's three sockets.
    let out = ns.sockscope(&[
        "list",
        "-tnH",
        "state",
        "established",
        "not",
        "process",
        "python3",
        "and",
        "sport",
        "=",
        ":7100",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    let _ = pop.stdin.as_mut().map(|s| s.write_all(b"end\n"));
    let _ = pop.wait();
}

#[test]
fn dash_f_and_the_command_line_join_with_and() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = TempDir::new("dash-f");
    let file = dir.join("f");
    std::fs::write(&file, format!("# comment\n0 skipped as ss skips it\nsport = :{port}\n")).unwrap();
    let run = |extra: &[&str]| {
        let mut c = common::bin();
        c.args(["-tlnH", "-F"]).arg(&file).args(extra);
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert_eq!(run(&[]), 1, "the file alone selects the listener");
    assert_eq!(run(&["dst", "127.0.0.9"]), 0, "the command line's words narrow it, as ss reads them");
    assert_eq!(run(&["src", "127.0.0.1"]), 1);
    // state words on the command line count too.
    assert_eq!(run(&["state", "established"]), 0);
}
