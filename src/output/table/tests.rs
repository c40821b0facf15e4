//! Table renderer tests: rendered into a `Vec<u8>` and compared whole.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::model::{Family, State, UnixKind, UnixName};
use crate::ports::services::Services;

fn inet(state: State, l: (IpAddr, u16), p: (IpAddr, u16), q: (u32, Option<u32>)) -> Socket {
    Socket {
        recv_q: Some(q.0),
        send_q: q.1,
        uid: Some(1000),
        inode: 4242,
        cookie: Some(0x1f),
        ifindex: Some(0),
        ..Socket::inet(Proto::Tcp, state, (l.0, l.1), (p.0, p.1))
    }
}

fn render_str(socks: &[Socket], names: &Names, opts: TableOptions) -> String {
    let mut out = Vec::new();
    render(&mut out, socks, names, &opts).unwrap();
    String::from_utf8(out).unwrap()
}

fn sample() -> Vec<Socket> {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    let mapped = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
    let mut dual = inet(State::LISTEN, (any6, 443), (any6, 0), (0, Some(4096)));
    dual.v6only = Some(false);
    let mut v6only = inet(State::LISTEN, (any6, 8443), (any6, 0), (0, Some(128)));
    v6only.v6only = Some(true);
    let mut bound = inet(State::LISTEN, (lo, 53), (any4, 0), (0, None));
    bound.ifindex = Some(1);
    vec![
        inet(State::LISTEN, (any4, 22), (any4, 0), (0, Some(128))),
        inet(State::ESTABLISHED, (lo, 22), (lo, 50514), (0, Some(36))),
        dual,
        v6only,
        inet(State::TIME_WAIT, (mapped, 443), (mapped, 41000), (0, Some(0))),
        bound,
    ]
}

#[test]
fn aligns_like_ss_numeric() {
    let mut names = Names::default();
    names.interfaces.insert(1, "lo".into());
    let got = render_str(&sample(), &names, TableOptions { header: true, ..TableOptions::default() });
    let want = "\
State     Recv-Q Send-Q      Local Address:Port       Peer Address:Port
LISTEN    0      128               0.0.0.0:22              0.0.0.0:*
ESTAB     0      36              127.0.0.1:22            127.0.0.1:50514
LISTEN    0      4096                    *:443                   *:*
LISTEN    0      128                  [::]:8443               [::]:*
TIME-WAIT 0      0      [::ffff:127.0.0.1]:443  [::ffff:127.0.0.1]:41000
LISTEN    0      -            127.0.0.1%lo:53              0.0.0.0:*
";
    assert_eq!(got, want);
}

#[test]
fn no_header_and_service_names() {
    // Widths still make room for the header words, as ss -H does, so -H output lines up with ss's.
    let names = Names { services: Some(Services::parse("ssh 22/tcp\nhttps 443/tcp\n".as_bytes())), ..Names::default() };
    let got = render_str(&sample()[..3], &names, TableOptions { netid: true, ..TableOptions::default() });
    let want = "\
tcp   LISTEN 0      128          0.0.0.0:ssh        0.0.0.0:*
tcp   ESTAB  0      36         127.0.0.1:ssh      127.0.0.1:50514
tcp   LISTEN 0      4096               *:https            *:*
";
    assert_eq!(got, want);
}

#[test]
fn extended_and_unix_rows() {
    let unix = Socket {
        proto: Proto::Unix,
        family: Family::Unix,
        state: State::LISTEN,
        local: Endpoint::Unix { name: Some(UnixName::Path(b"/run/a b.sock".as_slice().into())), inode: 77 },
        peer: Endpoint::Unix { name: None, inode: 0 },
        recv_q: Some(0),
        send_q: Some(4096),
        uid: Some(0),
        inode: 77,
        cookie: Some(0xabc),
        ifindex: None,
        v6only: None,
        unix_kind: Some(UnixKind::Stream),
        timer: None,
        mark: None,
        extra: None,
        netns: 0,
    };
    let socks = vec![sample().remove(1), unix];
    let got = render_str(
        &socks,
        &Names::default(),
        TableOptions { header: true, netid: true, extended: true, ..TableOptions::default() },
    );
    let want = "\
Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port  Details
tcp   ESTAB  0      36         127.0.0.1:22      127.0.0.1:50514 uid:1000 ino:4242 sk:1f
u_str LISTEN 0      4096   /run/a b.sock 77              * *     uid:0 ino:77 sk:abc
";
    assert_eq!(got, want);
}

#[test]
fn many_rows_render_in_parallel_in_order() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let socks: Vec<Socket> = (0..40_000u32)
        .map(|i| inet(State::ESTABLISHED, (lo, (i % 60000) as u16 + 1), (lo, 80), (i, Some(0))))
        .collect();
    let got = render_str(&socks, &Names::default(), TableOptions::default());
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 40_000);
    for (i, l) in lines.iter().enumerate() {
        let q: u32 = l.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert_eq!(q, i as u32);
    }
}

#[test]
fn timers_and_second_line() {
    use crate::model::internals::{Extra, MemInfo};
    use crate::model::{Timer, TimerKind};
    let mut s = sample().remove(1);
    s.timer = Some(Timer { kind: TimerKind::Keepalive, expires_ms: 449_000, retrans: 0 });
    let mem = MemInfo { rmem_alloc: Some(0), rcvbuf: Some(131072), ..MemInfo::default() };
    s.extra =
        Some(Box::new(Extra { memory: Some(Box::new(mem)), congestion: Some("cubic".into()), ..Extra::default() }));
    let opts = TableOptions { timers: true, memory: true, info: true, ..TableOptions::default() };
    let got = render_str(&[s], &Names::default(), opts);
    assert_eq!(
        got,
        "ESTAB 0      36         127.0.0.1:22      127.0.0.1:50514 timer:(keepalive,7min29s,0)\n\tskmem:(r0,rb131072)\n"
    );
    assert_eq!(duration_ms(200), "200ms");
    assert_eq!(duration_ms(1500), "1.5s");
    assert_eq!(duration_ms(60_000), "1min0s");
}
