//! Live tests against sockets this test opens on loopback (no root needed): both collectors must report
//! them, with the right ports and states, and the simple filters must select exactly them.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixListener, UnixStream};

use common::{inode_of, key, ndjson};
use serde_json::Value;
use sockscope::collect::{self, Query, SourceChoice};
use sockscope::model::{Endpoint, Proto, Socket, State, StateSet};

const N: usize = 5;
const SOURCES: [&str; 2] = ["netlink", "proc"];

struct TcpFixture {
    port: u16,
    client_ports: BTreeSet<u16>,
    _listener: TcpListener,
    _clients: Vec<TcpStream>,
    _accepted: Vec<TcpStream>,
}

fn tcp_fixture() -> TcpFixture {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let clients: Vec<TcpStream> = (0..N).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    let accepted: Vec<TcpStream> = (0..N).map(|_| listener.accept().unwrap().0).collect();
    let client_ports = clients.iter().map(|c| c.local_addr().unwrap().port()).collect();
    TcpFixture { port, client_ports, _listener: listener, _clients: clients, _accepted: accepted }
}

fn port_of(e: &Value) -> u16 {
    e["port"].as_u64().unwrap() as u16
}

#[test]
fn tcp_listener_and_connections_from_both_sources() {
    let f = tcp_fixture();
    let p = f.port.to_string();
    for source in SOURCES {
        let all = ndjson(&["list", "-tan", "--source", source, "--port", &p]);
        let listeners: Vec<&Value> = all.iter().filter(|v| v["state"] == "listen").collect();
        assert_eq!(listeners.len(), 1, "{source}: {all:?}");
        assert_eq!(port_of(&listeners[0]["local"]), f.port);
        assert_eq!(listeners[0]["local"]["address"], "127.0.0.1");

        let est: Vec<&Value> = all.iter().filter(|v| v["state"] == "established").collect();
        assert_eq!(est.len(), 2 * N, "{source}: {all:?}");
        assert_eq!(all.len(), 2 * N + 1, "{source}: nothing else has port {p}");
        let server_side: BTreeSet<u16> =
            est.iter().filter(|v| port_of(&v["local"]) == f.port).map(|v| port_of(&v["peer"])).collect();
        let client_side: BTreeSet<u16> =
            est.iter().filter(|v| port_of(&v["peer"]) == f.port).map(|v| port_of(&v["local"])).collect();
        assert_eq!(server_side, f.client_ports, "{source}: accepted ends point at the clients");
        assert_eq!(client_side, f.client_ports, "{source}: client ends");

        // --state selects exactly the established ends, --sport with -l exactly the listener.
        let only_est = ndjson(&["list", "-t", "--state", "established", "--source", source, "--port", &p]);
        assert_eq!(only_est.len(), 2 * N, "{source}");
        assert!(only_est.iter().all(|v| v["state"] == "established"));
        let only_listen = ndjson(&["list", "-tl", "--source", source, "--sport", &p]);
        assert_eq!(only_listen.len(), 1, "{source}: {only_listen:?}");
        let by_dport = ndjson(&["list", "-ta", "--source", source, "--dport", &p]);
        assert_eq!(by_dport.len(), N, "{source}: the client ends only");
        // Default (no -a): connected sockets only, so no listener.
        let default = ndjson(&["list", "-t", "--source", source, "--port", &p]);
        assert_eq!(default.len(), 2 * N, "{source}");
    }
}

#[test]
fn collectors_agree_record_by_record() {
    let f = tcp_fixture();
    let q = Query { udp: false, unix: false, states: StateSet::ALL, ..Query::default() };
    let mine = |choice| -> Vec<Socket> {
        let snap = collect::open_here(choice, "/proc".into()).collect(&q).unwrap();
        let mut v: Vec<Socket> = snap
            .sockets
            .into_iter()
            .filter(|s| s.local.port() == Some(f.port) || s.peer.port() == Some(f.port))
            .map(normalize)
            .collect();
        v.sort_by_key(|s| (s.local.port(), s.peer.port(), s.state));
        v
    };
    assert_eq!(mine(SourceChoice::Netlink), mine(SourceChoice::Proc));
}

/// Blank the fields only one source has, so records from both can be compared whole.
fn normalize(mut s: Socket) -> Socket {
    s.cookie = None;
    s.ifindex = None;
    s.v6only = None;
    s.timer = None; // time left differs between two reads
    s.mark = None; // netlink only, and only for CAP_NET_ADMIN
    if s.proto == Proto::Tcp && s.state == State::LISTEN {
        s.send_q = None;
    }
    if s.proto == Proto::Unix {
        s.recv_q = None;
        s.send_q = None;
        s.uid = None;
        if let Endpoint::Unix { name, .. } = &mut s.peer {
            *name = None;
        }
        s.peer = Endpoint::Unix { name: None, inode: 0 };
    }
    s
}

#[test]
fn udp_sockets_from_both_sources() {
    let unconnected = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uport = unconnected.local_addr().unwrap().port();
    let connected = UdpSocket::bind("127.0.0.1:0").unwrap();
    connected.connect(("127.0.0.1", uport)).unwrap();
    let cport = connected.local_addr().unwrap().port();
    for source in SOURCES {
        let all = ndjson(&["list", "-uan", "--source", source, "--port", &uport.to_string()]);
        let keys: BTreeSet<_> = all.iter().map(key).collect();
        let want: BTreeSet<_> = [
            ("udp".into(), "close".into(), format!("127.0.0.1:{uport}"), "0.0.0.0:0".into()),
            ("udp".into(), "established".into(), format!("127.0.0.1:{cport}"), format!("127.0.0.1:{uport}")),
        ]
        .into_iter()
        .collect();
        assert_eq!(keys, want, "{source}");
        // Without -a only the connected one is listed; -l lists only the unconnected (bound) one.
        let default = ndjson(&["list", "-u", "--source", source, "--port", &uport.to_string()]);
        assert_eq!(default.len(), 1, "{source}");
        assert_eq!(default[0]["state"], "established");
        let listening = ndjson(&["list", "-ul", "--source", source, "--port", &uport.to_string()]);
        assert_eq!(listening.len(), 1, "{source}");
        assert_eq!(listening[0]["state"], "close");
    }
}

#[test]
fn unix_socketpair_and_listener_from_both_sources() {
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(b"hello").unwrap();
    let (ia, ib) = (inode_of(&a), inode_of(&b));
    let dir = std::env::temp_dir().join(format!("sockscope-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a b.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let il = inode_of(&listener);

    for source in SOURCES {
        let all = ndjson(&["list", "-xa", "--source", source]);
        let find = |ino: u64| all.iter().find(|v| v["inode"] == ino).unwrap_or_else(|| panic!("{source}: inode {ino}"));
        for (ino, peer) in [(ia, ib), (ib, ia)] {
            let v = find(ino);
            assert_eq!(v["state"], "established", "{source}");
            assert_eq!(v["kind"], "stream");
            if source == "netlink" {
                assert_eq!(v["peer"]["inode"], peer, "netlink knows the peer");
                assert_eq!(v["uid"], common::euid());
            }
        }
        if source == "netlink" {
            assert_eq!(find(ib)["recv_q"], 5, "5 unread bytes queued at b");
        }
        let l = find(il);
        assert_eq!(l["state"], "listen", "{source}");
        assert_eq!(l["local"]["path"], path.to_str().unwrap(), "{source}");
        // Ports never match UNIX sockets.
        assert!(ndjson(&["list", "-xa", "--source", source, "--port", "0-65535"]).is_empty());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(target_os = "linux")]
#[test]
fn unix_abstract_name_is_shown_with_at() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("sockscope-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let l = UnixListener::bind_addr(&addr).unwrap();
    let ino = inode_of(&l);
    for source in SOURCES {
        let all = ndjson(&["list", "-xl", "--source", source]);
        let v = all.iter().find(|v| v["inode"] == ino).unwrap_or_else(|| panic!("{source}"));
        assert_eq!(v["local"]["path"], format!("@{name}"), "{source}");
    }
}

#[test]
#[ignore = "needs root: runs the binary as nobody to see root's sockets"]
fn unprivileged_user_sees_other_users_sockets() {
    common::require_root();
    let f = tcp_fixture();
    let p = f.port.to_string();
    let nobody = common::AsNobody::new(env!("CARGO_BIN_EXE_sockscope"));
    for source in SOURCES {
        let out = nobody.output(&["list", "-tan", "--ndjson", "--source", source, "--port", &p]);
        assert!(out.status.success(), "{source}: {}", String::from_utf8_lossy(&out.stderr));
        let rows: Vec<Value> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(rows.len(), 2 * N + 1, "{source}: nobody sees root's sockets");
        assert!(rows.iter().all(|r| r["uid"] == 0), "{source}: with their owner");
    }
}

#[test]
fn tcp_info_on_a_live_connection_after_sending_data() {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (mut a, _) = listener.accept().unwrap();
    c.write_all(&[7u8; 65536]).unwrap();
    let mut buf = vec![0u8; 65536];
    a.read_exact(&mut buf).unwrap();
    let rows = ndjson(&["list", "-tni", "--source", "netlink", "--sport", &c.local_addr().unwrap().port().to_string()]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let t = &rows[0]["tcp_info"];
    assert!(t["bytes_acked"].as_u64().unwrap() > 0, "{t}");
    assert!(t["rtt_us"].as_u64().unwrap() > 0, "{t}");
    assert!(t["snd_cwnd"].as_u64().unwrap() > 0, "{t}");
    assert!(rows[0]["congestion"].is_string());
    // Without -i nothing is asked for (it costs kernel time).
    let plain = ndjson(&["list", "-tn", "--sport", &c.local_addr().unwrap().port().to_string()]);
    assert!(plain[0]["tcp_info"].is_null());
    // -m gives memory for the same socket.
    let mem = ndjson(&["list", "-tnm", "--source", "netlink", "--dport", &port.to_string()]);
    assert!(mem[0]["memory"]["rcvbuf"].as_u64().unwrap() > 0);
}

#[test]
fn one_tcp_walk_sees_both_families() {
    use std::net::Ipv6Addr;
    let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let v6 = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).expect("this test needs an IPv6 loopback (::1)");
    let ports = [v4.local_addr().unwrap().port(), v6.local_addr().unwrap().port()];
    for source in [SourceChoice::Netlink, SourceChoice::Proc] {
        let q = Query { udp: false, unix: false, one_tcp_walk: true, ..Query::default() };
        let snap = collect::open_here(source, "/proc".into()).collect(&q).unwrap();
        let found: BTreeSet<(u16, bool)> = snap
            .sockets
            .iter()
            .filter(|s| s.local.port().is_some_and(|p| ports.contains(&p)))
            .map(|s| (s.local.port().unwrap(), s.local.ip().unwrap().is_ipv6()))
            .collect();
        assert_eq!(found, BTreeSet::from([(ports[0], false), (ports[1], true)]), "{source:?}");
    }
}
