//! `sockscope serve` end to end: the HTTP endpoints and their errors, the bearer token, one collection per
//! interval whatever the number of scrapes, garbage over a raw TCP socket, `promtool check metrics` and
//! `promtool test rules`, and a real Prometheus scraping the exporter in a private network namespace.
//! Every process a test starts is killed when the test ends, also when it panics ([`Procs`]).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Netns;
use common::serve::*;

#[test]
fn endpoints_answer_and_errors_are_json() {
    let mut procs = Procs::default();
    let addr = serve_local(&mut procs, &["-t", "--interval", "1s"]);

    let health = get(addr, "/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));

    let plain = get(addr, "/metrics");
    assert_eq!(plain.status, 200, "{}", plain.body);
    assert!(plain.head.contains("content-type: text/plain; version=0.0.4"), "{}", plain.head);
    // Our own listener is a listening endpoint of the host.
    let port = addr.port();
    assert!(
        plain.body.contains(&format!(r#"sockscope_listener_sockets{{proto="tcp",address="127.0.0.1",port="{port}""#))
    );

    let om = request(addr, "GET", "/metrics", &["Accept: application/openmetrics-text;version=1.0.0,*/*;q=0.1"]);
    assert!(om.head.contains("content-type: application/openmetrics-text; version=1.0.0"), "{}", om.head);
    assert!(om.body.ends_with("# EOF\n"));

    let filter = percent_encode(&format!("state listening sport = :{port}"));
    let socks = get(addr, &format!("/api/v1/sockets?filter={filter}"));
    assert_eq!(socks.status, 200, "{}", socks.body);
    assert!(socks.head.contains("content-type: application/json"));
    let v = socks.json();
    let arr = v.as_array().expect("an array");
    assert_eq!(arr.len(), 1, "{v}");
    assert_eq!(arr[0]["local"]["port"], port);
    assert_eq!(arr[0]["state"], "listen");

    let groups = get(addr, &format!("/api/v1/groups?filter={filter}")).json();
    assert_eq!(groups[0]["kind"], "listen");
    assert_eq!(groups[0]["port"], port);
    assert!(get(addr, "/api/v1/groups").json().as_array().is_some_and(|a| !a.is_empty()));

    let bad = get(addr, &format!("/api/v1/sockets?filter={}", percent_encode("sport = bogus")));
    assert_eq!(bad.status, 400);
    let msg = bad.json()["error"].as_str().expect("an error message").to_string();
    assert!(msg.starts_with("bad filter: expected a port after 'sport ='"), "{msg}");
    assert!(msg.ends_with("  sport = bogus\n          ^^^^^"), "{msg}");

    assert_eq!(get(addr, "/nope").status, 404);
    let post = request(addr, "POST", "/metrics", &["Content-Length: 0"]);
    assert_eq!(post.status, 405);
    assert!(post.head.contains("allow: get, head"));
    let head = request(addr, "HEAD", "/metrics", &[]);
    assert_eq!((head.status, head.body.as_str()), (200, ""));
}

#[test]
fn one_collection_per_interval_whatever_the_scrape_count() {
    let mut procs = Procs::default();
    let addr = serve_local(&mut procs, &["-t", "--interval", "600s"]);
    for _ in 0..20 {
        let r = get(addr, "/metrics");
        assert_eq!(sample(&r.body, "sockscope_collections_total"), Some(1.0), "{}", r.body);
    }
    // A collection for /metrics alone does not keep the sockets: the first API request collects once
    // more and keeps them, and from then on API and scrapes share that data.
    for path in ["/api/v1/sockets", "/api/v1/groups", "/metrics", "/api/v1/sockets", "/metrics"] {
        assert_eq!(get(addr, path).status, 200, "{path}");
    }
    let r = get(addr, "/metrics");
    assert_eq!(sample(&r.body, "sockscope_collections_total"), Some(2.0), "{}", r.body);
    assert_eq!(sample(&r.body, "sockscope_collection_success"), Some(1.0));
}

#[test]
fn a_failed_collection_is_said_not_hidden() {
    // A proc tree whose TCP table cannot be parsed.
    let root = std::env::temp_dir().join(format!("sockscope-serve-badproc-{}", std::process::id()));
    std::fs::create_dir_all(root.join("net")).unwrap();
    std::fs::write(root.join("net/tcp"), "  sl  local_address rem_address   st\n   0: garbage\n").unwrap();
    let mut procs = Procs::with_dir(&root);
    let root = root.to_str().unwrap();
    let addr = serve_local(&mut procs, &["-t4", "--source", "proc", "--proc-root", root, "--interval", "5s"]);
    let m = get(addr, "/metrics");
    assert_eq!(m.status, 200);
    assert_eq!(sample(&m.body, "sockscope_collection_success"), Some(0.0), "{}", m.body);
    assert_eq!(sample(&m.body, "sockscope_collection_errors_total"), Some(1.0));
    assert!(!m.body.contains("sockscope_sockets{"), "no socket series from a failed collection");
    let h = get(addr, "/healthz");
    assert_eq!(h.status, 503);
    assert!(h.json()["error"].as_str().is_some_and(|e| e.contains("net/tcp:2")), "{}", h.body);
    assert_eq!(get(addr, "/api/v1/sockets").status, 503);
    std::thread::sleep(Duration::from_millis(5100));
    let again = get(addr, "/metrics").body;
    assert_eq!(sample(&again, "sockscope_collection_errors_total"), Some(2.0), "the next interval tries again");
}

#[test]
fn bearer_token_guards_everything_but_health() {
    let dir = std::env::temp_dir().join(format!("sockscope-serve-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut procs = Procs::with_dir(&dir);
    let file = dir.join("token");
    std::fs::write(&file, "s3cret\n").unwrap();
    let addr = serve_local(&mut procs, &["-t", "--token-file", file.to_str().unwrap()]);
    for path in ["/metrics", "/api/v1/sockets", "/api/v1/groups", "/"] {
        let r = get(addr, path);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.head.contains("www-authenticate: bearer"), "{}", r.head);
        assert_eq!(request(addr, "GET", path, &["Authorization: Bearer wrong"]).status, 401);
        assert_eq!(request(addr, "GET", path, &["Authorization: Bearer s3cret"]).status, 200, "{path}");
    }
    assert_eq!(get(addr, "/healthz").status, 200);
}

/// Raw bytes a broken or hostile client may send; after each the server must answer a valid request.
#[test]
fn garbage_requests_never_take_the_server_down() {
    let mut procs = Procs::default();
    // Every request is answered well within the short timeout (no process lookup).
    let addr = serve_local(&mut procs, &["-t", "--request-timeout", "3s"]);
    let many_headers: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases: Vec<Vec<u8>> = vec![
        b"\x00\x01\x02\xff\xfe garbage \r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/1.1\r\nHost x\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/1.1\r\nHost: \x00\x7f\r\n\r\n".to_vec(),
        format!("GET /metrics HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(64 * 1024)).into_bytes(),
        format!("GET /metrics HTTP/1.1\r\n{many_headers}\r\n").into_bytes(),
        format!("GET /{} HTTP/1.1\r\n\r\n", "x".repeat(100_000)).into_bytes(),
        b"GET /metrics HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n".to_vec(),
        b"GET /api/v1/sockets?filter=%ZZ%00( HTTP/1.1\r\n\r\n".to_vec(),
        b"GET /metr".to_vec(),
        b"\r\n\r\n\r\n".to_vec(),
        (0..=255u8).cycle().take(10_000).collect(),
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // The server may close early on a bad head; a reset while we still write is fine.
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        let status = String::from_utf8_lossy(&reply);
        // Nothing, a 4xx, or an answer to the valid prefix (503 when a loaded machine makes the first
        // collection outlast the request timeout).
        let answered = ["HTTP/1.1 2", "HTTP/1.1 4", "HTTP/1.1 503"].iter().any(|p| status.starts_with(p));
        assert!(reply.is_empty() || answered, "case {i}: {status}");
        let ok = get(addr, "/healthz");
        assert_eq!(ok.status, 200, "after case {i} the server stopped answering");
    }
    // A client that sends nothing is dropped after the request timeout; meanwhile others are served.
    let idle = TcpStream::connect(addr).unwrap();
    assert_eq!(get(addr, "/metrics").status, 200);
    idle.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!((&idle).read(&mut buf).unwrap_or(0), 0, "an idle connection is closed");
}

fn promtool() -> &'static str {
    common::require(&["promtool"]);
    "promtool"
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
#[ignore = "needs promtool: Debian's prometheus package (.ci/run installs it)"]
fn promtool_accepts_the_metrics() {
    let mut procs = Procs::default();
    let addr = serve_local(&mut procs, &[]);
    promtool_check(&get(addr, "/metrics").body);
}

/// `promtool check metrics` finds nothing to say about `body`.
fn promtool_check(body: &str) {
    let mut check = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs promtool: Debian's prometheus package (.ci/run installs it)"]
fn promtool_tests_the_alert_rules() {
    let dir = repo().join("contrib/prometheus");
    let check = Command::new(promtool()).args(["check", "rules", "sockscope.rules.yml"]).current_dir(&dir).output();
    let check = check.unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    let test = Command::new(promtool()).args(["test", "rules", "sockscope.rules.test.yml"]).current_dir(&dir).output();
    let test = test.unwrap();
    assert!(
        test.status.success(),
        "promtool test rules: {}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
}

/// The value of a PromQL query with one result, as Prometheus answers it (`None`: no result yet).
fn query(ns: &str, prometheus: SocketAddr, promql: &str) -> Option<f64> {
    let target = format!("/api/v1/query?query={}", percent_encode(promql));
    // Prometheus may not be listening yet.
    let reply = in_netns(ns, move || try_request(prometheus, "GET", &target, &[])).ok()?;
    if reply.status != 200 {
        return None;
    }
    let v = reply.json();
    assert_eq!(v["status"], "success", "{v}");
    let result = v["data"]["result"].as_array()?;
    assert!(result.len() <= 1, "{promql}: {v}");
    result.first()?["value"][1].as_str()?.parse().ok()
}

/// Poll `promql` until it equals `want` (Prometheus scrapes every second); panics after a minute.
fn wait_for(ns: &str, prometheus: SocketAddr, promql: &str, want: f64, log: &Path) {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < Duration::from_secs(60) {
        last = query(ns, prometheus, promql);
        if last == Some(want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    panic!("{promql}: wanted {want}, Prometheus says {last:?}\nprometheus log:\n{log}");
}

const POPULATION: &str = r#"
import socket, sys
P, N = 7070, 25
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", P)); l.listen(1024)
keep = []
def add(n):
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", P)); a, _ = l.accept(); keep.extend([c, a])
add(N)
print("READY", flush=True)
for line in sys.stdin:
    w = line.split()
    if len(w) == 2 and w[0] == "add":
        add(int(w[1]))
"#;

#[test]
#[ignore = "needs root: a private network namespace, and Debian's prometheus (.ci/run installs it)"]
fn real_prometheus_scrapes_per_port_connections() {
    common::require_root();
    common::require(&["ip", "prometheus", "python3"]);
    // Dropped last: the processes below go first, then the population and the namespace.
    let mut ns = Netns::create("serve");
    ns.run_python(POPULATION);
    let name = ns.name.clone();
    let dir = std::env::temp_dir().join(format!("sockscope-serve-prometheus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut procs = Procs::with_dir(&dir);

    let mut serve = Command::new("ip");
    serve.args(["netns", "exec", &name, env!("CARGO_BIN_EXE_sockscope"), "serve"]);
    serve.args(["--listen", "127.0.0.1:0", "--interval", "500ms", "--request-timeout", "120s"]);
    let exporter = start_serve(&mut procs, serve);

    // promtool reads what this exporter serves in the namespace.
    let metrics = in_netns(&name, move || get(exporter, "/metrics")).body;
    let established = r#"sockscope_listener_connections{proto="tcp",address="127.0.0.1",port="7070",service="",class="registered",process="python3",state="established"}"#;
    assert_eq!(sample(&metrics, established), Some(25.0), "{metrics}");

    // Any port is free in a namespace of our own.
    let prometheus: SocketAddr = "127.0.0.1:19090".parse().unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: sockscope\n    \
         static_configs:\n      - targets: ['{exporter}']\n"
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let log = dir.join("prometheus.log");
    let logfile = std::fs::File::create(&log).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &name, "prometheus"])
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address={prometheus}"))
        .stdout(logfile.try_clone().unwrap())
        .stderr(logfile)
        .spawn()
        .expect("spawn prometheus");
    procs.children.push(child);

    wait_for(&name, prometheus, r#"up{job="sockscope"}"#, 1.0, &log);
    let q = r#"sockscope_listener_connections{port="7070",state="established"}"#;
    wait_for(&name, prometheus, q, 25.0, &log);
    wait_for(&name, prometheus, r#"sockscope_outbound_connections{port="7070",state="established"}"#, 25.0, &log);

    // More connections: the next scrapes see them.
    let stdin = ns.child.as_mut().and_then(|c| c.stdin.as_mut()).expect("the population's stdin");
    stdin.write_all(b"add 10\n").unwrap();
    stdin.flush().unwrap();
    wait_for(&name, prometheus, q, 35.0, &log);
    wait_for(&name, prometheus, r#"sockscope_listener_peers{port="7070"}"#, 1.0, &log);
    drop(procs);
    drop(ns);
}

/// The capabilities the systemd unit grants, in setpriv's spelling (`+dac_read_search,+sys_ptrace`).
fn unit_capabilities() -> String {
    let unit = std::fs::read_to_string(repo().join("contrib/systemd/sockscope.service")).unwrap();
    let line = unit.lines().find_map(|l| l.strip_prefix("AmbientCapabilities=")).expect("AmbientCapabilities=");
    line.split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_ascii_lowercase()))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
#[ignore = "needs root: a private network namespace, setpriv to run as nobody with capabilities"]
fn the_units_capabilities_name_other_users_processes() {
    common::require_root();
    // setpriv (util-linux) drops privileges and keeps capabilities as systemd would.
    common::require(&["ip", "python3", "setpriv"]);
    // Dropped last: the exporters below go first.
    let mut ns = Netns::create("serve-caps");
    ns.run_python(POPULATION);
    let name = ns.name.clone();
    let caps = unit_capabilities();
    let exe = common::AsNobody::new(env!("CARGO_BIN_EXE_sockscope"));
    let (exe, nobody) = (exe.path().to_path_buf(), exe);
    let label = |procs: &mut Procs, caps: Option<&str>| {
        let mut cmd = Command::new("ip");
        let id = common::NOBODY;
        cmd.args(["netns", "exec", &name, "setpriv", &format!("--reuid={id}"), &format!("--regid={id}")]);
        cmd.arg("--clear-groups");
        if let Some(c) = caps {
            cmd.arg(format!("--inh-caps={c}")).arg(format!("--ambient-caps={c}"));
        }
        cmd.arg(&exe).args(["serve", "--listen", "127.0.0.1:0", "--request-timeout", "120s"]);
        let addr = start_serve(procs, cmd);
        let body = in_netns(&name, move || get(addr, "/metrics")).body;
        let prefix = r#"sockscope_listener_sockets{proto="tcp",address="127.0.0.1",port="7070","#;
        let line = body.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{body}")).to_string();
        line.split("process=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("?").to_string()
    };
    let mut procs = Procs::default();
    assert_eq!(caps, "+dac_read_search,+sys_ptrace");
    assert_eq!(label(&mut procs, Some(&caps)), "python3", "with the unit's capabilities");
    assert_eq!(label(&mut procs, None), "", "nobody without capabilities cannot see root's process");
    drop(procs);
    drop(nobody);
    drop(ns);
}

/// `serve --all-netns` in the host namespace: a listener on the same port with 25 connections in each of two
/// namespaces is two series, told apart by the `netns` label (no container: `container=""`); the API's
/// sockets carry their namespace; `promtool check metrics` accepts the labelled exposition.
#[test]
#[ignore = "needs root: two private network namespaces, entered by the exporter (and promtool from Debian's prometheus)"]
fn all_netns_labels_the_same_port_in_two_namespaces() {
    common::require_root();
    common::require(&["ip", "python3", "promtool"]);
    let mut a = Netns::create("servens-a");
    a.run_python(POPULATION);
    let mut b = Netns::create("servens-b");
    b.run_python(POPULATION);
    let mut procs = Procs::default();
    // Other namespaces on the host (a benchmark's, say) may hold many listeners: no cap folds ours away.
    let addr = serve_local(
        &mut procs,
        &["--all-netns", "-t", "--interval", "1s", "--max-listeners", "100000", "--max-peers", "100000"],
    );
    let body = get(addr, "/metrics").body;
    for ns in [&a.name, &b.name] {
        let established = body.lines().find(|l| {
            l.starts_with("sockscope_listener_connections{")
                && l.contains(r#"port="7070""#)
                && l.contains(&format!(r#"netns="{ns}",container="""#))
                && l.contains(r#"state="established""#)
        });
        assert_eq!(established.and_then(|l| l.rsplit(' ').next()), Some("25"), "{ns}:\n{body}");
        let listener = format!(r#"netns="{ns}",container="""#);
        assert!(
            body.lines().any(|l| l.starts_with("sockscope_listener_sockets{") && l.contains(&listener)),
            "{ns}:\n{body}"
        );
        assert!(
            body.lines().any(|l| l.starts_with("sockscope_outbound_connections{")
                && l.contains(r#"port="7070""#)
                && l.contains(&listener)),
            "{ns}:\n{body}"
        );
    }
    // The exporter's own listener is in the host namespace, labelled too.
    let own = format!(r#"port="{}""#, addr.port());
    assert!(
        body.lines().any(|l| l.starts_with("sockscope_listener_sockets{") && l.contains(&own) && l.contains("netns="))
    );
    assert!(body.contains("exporter's own network namespace only"), "{body}");
    promtool_check(&body);

    let filter = percent_encode("state listening sport = :7070");
    let socks = get(addr, &format!("/api/v1/sockets?filter={filter}")).json();
    let mut names: Vec<String> =
        socks.as_array().unwrap().iter().map(|s| s["netns"]["name"].as_str().unwrap_or("?").to_string()).collect();
    names.sort();
    let mut want = vec![a.name.clone(), b.name.clone()];
    want.sort();
    assert_eq!(names, want, "{socks}");
    drop(procs);
}

/// `cgroup ../../../../etc/shadow` and `cgroup ../../../../nonexistent` got different 400s (the path was
/// stat'ed with the exporter's privileges): any client could learn which files exist. Now both are refused
/// for their `..` before any lookup, in the same words; and where the exporter does not collect cgroup ids a
/// path is not looked up either, existing or not.
#[test]
fn cgroup_paths_are_no_file_existence_oracle() {
    let mut procs = Procs::default();
    let addr = serve_local(&mut procs, &["-t"]);
    let ask = |filter: &str| get(addr, &format!("/api/v1/sockets?filter={}", percent_encode(filter)));
    let (shadow, missing) = (ask("cgroup ../../../../etc/shadow"), ask("cgroup ../../../../nonexistent"));
    assert_eq!((shadow.status, missing.status), (400, 400), "{} {}", shadow.body, missing.body);
    assert_eq!(error_line(&shadow), error_line(&missing));
    assert!(error_line(&shadow).contains("'..' is not allowed"), "{}", shadow.body);
    let (root, nope) = (ask("cgroup /"), ask("cgroup /no-such-cgroup-anywhere"));
    assert_eq!((root.status, nope.status), (400, 400));
    // Only the hint (a glob for the path given) differs.
    let reason = |r: &Reply| error_line(r).split(';').next().unwrap().to_string();
    assert_eq!(reason(&root), reason(&nope));
    assert!(reason(&root).ends_with("collects only when its own filter has such a term"), "{}", root.body);
}

/// `/etc/netns/NAME/` files (which `ip netns exec` mounts over `/etc`), removed on drop.
struct NetnsEtc(PathBuf);

impl Drop for NetnsEtc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A resolver on 127.0.0.1:53 in the namespace: answers every query NXDOMAIN and appends its name to a file.
const FAKE_DNS: &str = r#"
import socket, sys
log = open(sys.argv[1], "a")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("READY", flush=True)
while True:
    q, peer = s.recvfrom(512)
    i, labels = 12, []
    while i < len(q) and q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode(errors="replace")); i += 1 + q[i]
    log.write(".".join(labels) + "\n"); log.flush()
    end = i + 5
    s.sendto(q[:2] + b"\x81\x83" + q[4:6] + b"\0\0\0\0\0\0" + q[12:end], peer)
"#;

/// `?filter=dst name.attacker.example` made the exporter resolve names of the client's choosing (DNS queries
/// on its behalf; four at once held the blocking pool and /metrics took 8.5 s). Now the API takes addresses
/// only: a 400 naming the term, and the namespace's resolver (a fake one that logs) sees no query, while
/// `list` (the operator's own filter) still resolves through it, which shows the fake resolver is the one used.
#[test]
#[ignore = "needs root: a private network namespace with its own resolv.conf and a resolver on port 53"]
fn api_filters_make_no_dns_queries() {
    common::require_root();
    common::require(&["ip", "python3"]);
    let mut ns = Netns::create("serve-dns");
    let name = ns.name.clone();
    let etc = NetnsEtc(PathBuf::from(format!("/etc/netns/{name}")));
    std::fs::create_dir_all(&etc.0).unwrap();
    std::fs::write(etc.0.join("resolv.conf"), "nameserver 127.0.0.1\noptions timeout:2 attempts:1\n").unwrap();
    let dir = common::TempDir::new("serve-dns");
    let log = dir.join("queries");
    std::fs::write(&log, "").unwrap();
    let (child, line) = common::spawn_first_line(Command::new("ip").args([
        "netns",
        "exec",
        &name,
        "python3",
        "-c",
        FAKE_DNS,
        log.to_str().unwrap(),
    ]));
    ns.child = Some(child);
    assert_eq!(line.trim(), "READY");

    let mut procs = Procs::default();
    let mut serve = Command::new("ip");
    serve.args(["netns", "exec", &name, env!("CARGO_BIN_EXE_sockscope"), "serve", "--listen", "127.0.0.1:0"]);
    serve.args(["--no-processes", "--request-timeout", "120s"]);
    let addr = start_serve(&mut procs, serve);
    let target = format!("/api/v1/sockets?filter={}", percent_encode("sport = :1 or dst api-probe.attacker.example"));
    let r = in_netns(&name, move || get(addr, &target));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        error_line(&r).contains("after 'dst', found 'api-probe.attacker.example' (host names are not resolved"),
        "{}",
        r.body
    );
    let groups = format!("/api/v1/groups?filter={}", percent_encode("src groups-probe.example"));
    assert_eq!(in_netns(&name, move || get(addr, &groups)).status, 400);

    // The operator's `list` resolves its own filter's names, through the fake resolver.
    let out = Command::new("ip")
        .args(["netns", "exec", &name, env!("CARGO_BIN_EXE_sockscope"), "-tn", "dst", "cli-probe.example"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let queries = std::fs::read_to_string(&log).unwrap();
    assert!(queries.contains("cli-probe.example"), "the fake resolver is not the one used: {queries:?}");
    assert!(!queries.contains("probe.attacker") && !queries.contains("groups-probe"), "{queries:?}");
    drop(procs);
    drop(ns);
}
