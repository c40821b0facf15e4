//! `sockscope serve` against clients that do not play along (no token is the default): idle connections that
//! hold the slots, clients that ask for the API and never read, descriptor exhaustion; and the API's pages and
//! the token rotation that defend the rest. Hostile clients come from other loopback addresses (127.0.1.x),
//! the scrapes that must get through from 127.0.0.1.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Netns;
use common::serve::*;

/// A connection to `addr` from 127.0.1.`n` (any 127/8 address is loopback) with a small receive buffer.
fn connect_from(n: u8, addr: SocketAddr) -> TcpStream {
    use std::os::fd::AsFd;
    let sock = rustix::net::socket(rustix::net::AddressFamily::INET, rustix::net::SocketType::STREAM, None).unwrap();
    rustix::net::sockopt::set_socket_recv_buffer_size(sock.as_fd(), 4096).unwrap();
    rustix::net::bind(&sock, &SocketAddr::from((Ipv4Addr::new(127, 0, 1, n), 0))).unwrap();
    rustix::net::connect(&sock, &addr).unwrap_or_else(|e| panic!("connect from 127.0.1.{n}: {e}"));
    TcpStream::from(sock)
}

/// 40 scrapes, every other one of /healthz: how many got a 200.
fn scrapes(addr: SocketAddr) -> usize {
    (0..40)
        .filter(|i| {
            let path = if i % 2 == 0 { "/metrics" } else { "/healthz" };
            try_request(addr, "GET", path, &[]).is_ok_and(|r| r.status == 200)
        })
        .count()
}

/// 32 connections that send nothing held all 32 slots: 0 of 40 scrapes (/healthz too) got in until the
/// request timeout closed them. A new connection now closes an idle one, and one client (here: 32 from one
/// address) cannot hold more than its share.
#[test]
fn idle_connections_leave_room_for_scrapes() {
    let mut procs = Procs::default();
    let addr = serve_local(&mut procs, &["-t"]);
    let idle: Vec<TcpStream> = (1..=32).map(|n| connect_from(n, addr)).collect();
    assert_eq!(scrapes(addr), 40, "idle connections from 32 addresses");
    drop(idle);
    let one_peer: Vec<TcpStream> = (0..32).map(|_| TcpStream::connect(addr).unwrap()).collect();
    assert_eq!(scrapes(addr), 40, "idle connections from the scraper's own address");
    drop(one_peer);
}

/// The API answered in full (95 MB at 100k pairs), so the answers are paged: at most `limit` sockets, and a
/// `Link: <...>; rel="next"` header while there are more. Following the links gives each socket once, the
/// same set as one big page.
#[test]
fn api_pages_follow_the_link_header() {
    let listeners: Vec<std::net::TcpListener> =
        (0..7).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let ports: BTreeSet<u64> = listeners.iter().map(|l| u64::from(l.local_addr().unwrap().port())).collect();
    let mut procs = Procs::default();
    let addr = serve_local(&mut procs, &["-t", "--interval", "600s"]);
    let filter = ports.iter().map(|p| format!("sport = :{p}")).collect::<Vec<_>>().join(" or ");
    let filter = format!("state listening ( {filter} )");
    let mut target = format!("/api/v1/sockets?filter={}&limit=2", percent_encode(&filter));
    let (mut seen, mut pages) = (Vec::new(), 0);
    loop {
        let r = get(addr, &target);
        assert_eq!(r.status, 200, "{}", r.body);
        let page = r.json();
        let items = page.as_array().unwrap();
        assert!(items.len() <= 2, "{page}");
        seen.extend(items.iter().map(|s| s["local"]["port"].as_u64().unwrap()));
        pages += 1;
        let link = r.head.lines().find_map(|l| l.strip_prefix("link: "));
        let Some(link) = link else { break };
        assert!(link.ends_with(">; rel=\"next\""), "{link}");
        target = link.trim_start_matches('<').split('>').next().unwrap().to_string();
        assert!(pages < 10, "the links do not end: {seen:?}");
    }
    assert_eq!((pages, seen.len()), (4, 7), "{seen:?}");
    assert_eq!(seen.iter().copied().collect::<BTreeSet<_>>(), ports);
    let one = get(addr, &format!("/api/v1/sockets?filter={}&limit=100000", percent_encode(&filter)));
    assert!(!one.head.contains("link:"));
    assert_eq!(one.json().as_array().unwrap().len(), 7);
    let bad = get(addr, "/api/v1/sockets?limit=0");
    assert_eq!((bad.status, error_line(&bad).as_str()), (400, "bad limit '0': a number from 1 to 100000"));
    assert_eq!(get(addr, "/api/v1/groups?after=junk").status, 400);
    drop(listeners);
}

/// The token file was read once at start: rotating it needed a restart (and the old token stayed good).
#[test]
fn a_rotated_token_is_taken_without_a_restart() {
    let dir = common::TempDir::new("serve-rotate");
    let file = dir.join("token");
    std::fs::write(&file, "first-token\n").unwrap();
    let mut procs = Procs::default();
    let addr = serve_local(&mut procs, &["-t", "--token-file", file.to_str().unwrap()]);
    let with = |t: &str| request(addr, "GET", "/metrics", &[&format!("Authorization: Bearer {t}")]).status;
    assert_eq!(with("first-token"), 200);
    // Rotated as tools do it: a new file renamed over the old one.
    std::fs::write(dir.join("new"), "second-token\n").unwrap();
    std::fs::rename(dir.join("new"), &file).unwrap();
    assert_eq!((with("second-token"), with("first-token")), (200, 401));
    // An empty file lets nobody in (it does not fall back to no token), and says so in the log.
    std::fs::write(&file, "\n").unwrap();
    assert_eq!((with("second-token"), with("")), (503, 503));
    assert_eq!(get(addr, "/healthz").status, 200);
    // The log is read from the server's stderr on a thread of its own: it may come a little later.
    let said = || procs.log.lock().unwrap().iter().any(|l| l.contains("the first line is empty"));
    let start = std::time::Instant::now();
    while !said() && start.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(said(), "{:?}", procs.log.lock().unwrap());
}

/// Out of descriptors, `accept failed` was logged every 100 ms (and the server waited 100 ms each time, fds
/// free or not). It is now said once a minute with a count, and an idle connection is closed to make room.
#[test]
fn descriptor_exhaustion_is_not_logged_at_every_attempt() {
    let mut procs = Procs::default();
    let mut cmd = Command::new("sh");
    // Few descriptors: the connections below exhaust them.
    cmd.args(["-c", "ulimit -n 24 && exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_sockscope")]);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--no-processes", "-t", "--request-timeout", "120s"]);
    let addr = start_serve(&mut procs, cmd);
    // From 40 addresses: no per-peer limit closes them first.
    let held: Vec<TcpStream> = (1..=40).map(|n| connect_from(n, addr)).collect();
    // Wait (bounded) until the server has met the limit, then let it try for a while longer.
    let start = Instant::now();
    let failed = || procs.log.lock().unwrap().iter().filter(|l| l.contains("accept failed")).count();
    while failed() == 0 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(failed() > 0, "the descriptors never ran out: the test proves nothing");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(failed(), 1, "{:?}", procs.log.lock().unwrap());
    drop(held);
    assert_eq!(get(addr, "/healthz").status, 200);
}

/// 6000 connected pairs in a namespace (12k sockets: an API answer of several MB).
const PAIRS: &str = r#"
import resource, socket
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
l = socket.socket(); l.bind(("127.0.0.1", 7070)); l.listen(4096)
keep = []
for i in range(6000):
    c = socket.create_connection(("127.0.0.1", 7070)); a, _ = l.accept(); keep.extend([c, a])
print("READY", flush=True)
import sys; sys.stdin.read()
"#;

/// A field of `/proc/PID/status`, in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// 32 clients that ask for every socket and never read pushed the server to 3.0 GB for up to 300 s, each
/// answer rendered whole in memory. The answer is now rendered a chunk at a time as the client reads: the
/// server grows by a few chunks per client, whatever the answer's size; each response has `--write-timeout`
/// to be read, after which its connection is closed; scrapes are answered meanwhile.
#[test]
#[ignore = "needs root: a private network namespace holding 12k sockets"]
fn clients_that_do_not_read_cannot_grow_the_server() {
    common::require_root();
    common::require(&["ip", "python3"]);
    let mut ns = Netns::create("serve-slow");
    ns.run_python(PAIRS);
    let name = ns.name.clone();
    let mut procs = Procs::default();
    let mut serve = Command::new("ip");
    serve.args(["netns", "exec", &name, env!("CARGO_BIN_EXE_sockscope"), "serve", "--listen", "127.0.0.1:0"]);
    serve.args(["--no-processes", "-t", "--interval", "600s", "--request-timeout", "120s", "--write-timeout", "5s"]);
    // Room for the readers and the scrapes: none is closed to make room, the write deadline closes them.
    serve.args(["--max-connections", "64"]);
    let addr = start_serve(&mut procs, serve);
    let pid = procs.children[0].id();
    let all = "/api/v1/sockets?limit=100000";
    let full = in_netns(&name, move || get(addr, all));
    assert_eq!(full.status, 200);
    let size = full.body.len();
    assert!(size > 4 << 20, "the whole answer is {size} bytes");
    drop(full);
    let (base, fds) = (status_kb(pid, "VmRSS"), open_fds(pid));

    // 32 clients from 32 addresses read the first bytes of the answer, then nothing.
    let readers = in_netns(&name, move || {
        (1..=32)
            .map(|n| {
                let mut s = connect_from(n, addr);
                s.write_all(format!("GET {all} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
                let mut head = [0u8; 12];
                s.read_exact(&mut head).unwrap();
                assert_eq!(&head, b"HTTP/1.1 200");
                s
            })
            .collect::<Vec<_>>()
    });
    let mut peak = 0;
    for _ in 0..10 {
        peak = peak.max(status_kb(pid, "VmRSS"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let hwm = status_kb(pid, "VmHWM");
    let answers = in_netns(&name, move || scrapes(addr));
    eprintln!("answer {size} bytes; VmRSS {base} kB before, peak {peak} kB with 32 readers, VmHWM {hwm} kB");
    // 32 whole answers would be more than 32 * 4 MB; 32 chunks are 2 MB.
    assert!(peak < base + 32 * 1024, "VmRSS grew from {base} to {peak} kB (answer {size} bytes)");
    assert!(hwm < base + 48 * 1024, "VmHWM {hwm} kB from {base} kB (answer {size} bytes)");
    assert_eq!(answers, 40, "scrapes while 32 clients do not read");

    // Their time to read is up: the server closes them (bounded wait for what it does by itself).
    let start = Instant::now();
    while open_fds(pid) > fds && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(open_fds(pid) <= fds, "{} descriptors open, {fds} before the readers", open_fds(pid));
    drop(readers);
    drop(procs);
    drop(ns);
}
