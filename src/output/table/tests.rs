//! Table renderer tests: rendered into a `Vec<u8>` and compared whole, against what ss 6.1 prints for the
//! same sockets (trailing spaces included).

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
    let mut bound = inet(State::LISTEN, (lo, 53), (any4, 0), (0, Some(5)));
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

fn opts() -> TableOptions {
    TableOptions { header: true, state: true, ..TableOptions::default() }
}

#[test]
fn aligns_like_ss_numeric() {
    let mut names = Names::default();
    names.interfaces.insert(1, "lo".into());
    let got = render_str(&sample(), &names, opts());
    let want = "\
State     Recv-Q Send-Q      Local Address:Port       Peer Address:Port Process
LISTEN    0      128               0.0.0.0:22              0.0.0.0:*           
ESTAB     0      36              127.0.0.1:22            127.0.0.1:50514       
LISTEN    0      4096                    *:443                   *:*           
LISTEN    0      128                  [::]:8443               [::]:*           
TIME-WAIT 0      0      [::ffff:127.0.0.1]:443  [::ffff:127.0.0.1]:41000       
LISTEN    0      5            127.0.0.1%lo:53              0.0.0.0:*           
";
    assert_eq!(got, want);
}

#[test]
fn names_from_the_system_are_escaped() {
    // A PTR record, an interface name and a service name are text any admin or DNS owner controls: an escape
    // sequence in them must not reach the terminal (regression: the table printed them raw).
    let mut names = Names::default();
    names.interfaces.insert(1, "l\x1b[2Jo".into());
    names.hosts.insert("127.0.0.1".parse().unwrap(), "evil\x1b]0;owned\x07".into());
    names.services = Some(Services::parse("s\x1b[31mh 22/tcp\n".as_bytes()));
    let got = render_str(&sample(), &names, opts());
    assert!(!got.contains('\x1b') && !got.contains('\x07'), "{got:?}");
    assert!(got.contains("evil\\x1b]0;owned\\x07:"), "{got}");
    assert!(got.contains("%l\\x1b[2Jo:"), "{got}");
}

#[test]
fn one_state_drops_the_state_column_and_several_tables_add_netid() {
    // ss -tnH state established: no State column; -H keeps the widths of the content only.
    let est = &sample()[1..2];
    let got = render_str(est, &Names::default(), TableOptions::default());
    assert_eq!(got, "0      36     127.0.0.1:22 127.0.0.1:50514\n");
    let names = Names { services: Some(Services::parse("ssh 22/tcp\nhttps 443/tcp\n".as_bytes())), ..Names::default() };
    let got = render_str(&sample()[..3], &names, TableOptions { netid: true, state: true, ..TableOptions::default() });
    let want = "\
tcp LISTEN 0      128      0.0.0.0:ssh     0.0.0.0:*    
tcp ESTAB  0      36     127.0.0.1:ssh   127.0.0.1:50514
tcp LISTEN 0      4096           *:https         *:*    
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
    let got = render_str(&socks, &Names::default(), TableOptions { netid: true, extended: true, ..opts() });
    // -e on TCP: uid (not 0), ino, sk; on UNIX only shutdown/vfs details (none here). A UNIX peer without
    // a socket prints `* 0`, as ss does.
    let want = "\
Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process                 
tcp   ESTAB  0      36         127.0.0.1:22      127.0.0.1:50514 uid:1000 ino:4242 sk:1f
u_str LISTEN 0      4096   /run/a b.sock 77              * 0                            
";
    assert_eq!(got, want);
}

#[test]
fn many_rows_render_in_order() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let socks: Vec<Socket> = (0..40_000u32)
        .map(|i| inet(State::ESTABLISHED, (lo, (i % 60000) as u16 + 1), (lo, 80), (i, Some(0))))
        .collect();
    let got = render_str(&socks, &Names::default(), TableOptions { state: true, ..TableOptions::default() });
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
    s.timer = Some(Timer { kind: TimerKind::Keepalive, expires_ms: 284_000, retrans: 0 });
    let mem = MemInfo { rmem_alloc: Some(0), rcvbuf: Some(131072), ..MemInfo::default() };
    s.extra =
        Some(Box::new(Extra { memory: Some(Box::new(mem)), congestion: Some("cubic".into()), ..Extra::default() }));
    let o = TableOptions { timers: true, memory: true, info: true, state: true, ..TableOptions::default() };
    let got = render_str(&[s.clone()], &Names::default(), o);
    assert_eq!(
        got,
        "ESTAB 0      36     127.0.0.1:22 127.0.0.1:50514 timer:(keepalive,4min44sec,0)\n\t skmem:(r0,rb131072,t0,tb0,f0,w0,o0)\n"
    );
    let got = render_str(&[s], &Names::default(), TableOptions { oneline: true, ..o });
    assert!(got.ends_with("timer:(keepalive,4min44sec,0) skmem:(r0,rb131072,t0,tb0,f0,w0,o0)\n"), "{got}");
}

#[test]
fn terminal_width_is_spread_over_the_columns() {
    let got = render_str(&sample()[..1], &Names::default(), TableOptions { screen_width: Some(80), ..opts() });
    for l in got.lines() {
        assert_eq!(l.len(), 80, "{l:?}");
    }
    assert!(got.starts_with("State"), "{got}");
}

#[test]
fn packet_and_netlink_rows() {
    let packet = Socket {
        proto: Proto::Packet,
        family: Family::Packet,
        local: Endpoint::Link { protocol: 0x0800, ifindex: 0 },
        peer: Endpoint::None,
        unix_kind: Some(UnixKind::Dgram),
        ..Socket::inet(
            Proto::Packet,
            State::CLOSE,
            (Ipv4Addr::UNSPECIFIED.into(), 0),
            (Ipv4Addr::UNSPECIFIED.into(), 0),
        )
    };
    let netlink = Socket {
        proto: Proto::Netlink,
        family: Family::Netlink,
        local: Endpoint::Netlink { protocol: 0, portid: 0 },
        peer: Endpoint::None,
        ..packet.clone()
    };
    let got = render_str(&[packet, netlink], &Names::default(), TableOptions { netid: true, ..opts() });
    let want = "\
Netid State  Recv-Q Send-Q Local Address:Port   Peer Address:PortProcess
p_dgr UNCONN 0      0                 ip:*                  *           
nl    UNCONN 0      0               rtnl:kernel             *           
";
    assert_eq!(got, want);
}

/// Regression (ss parity at scale): ss prints in blocks of about 4 MiB with the widths seen so far, so a
/// wide socket late in a long listing does not widen the rows printed before its block.
#[test]
fn long_listings_widen_by_block_as_ss_does() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 3, 4, 5, 6));
    let mut socks: Vec<Socket> =
        (0..70_000u32).map(|i| inet(State::ESTABLISHED, (lo, 1 + (i % 9) as u16), (lo, 80), (0, Some(0)))).collect();
    socks.push(inet(State::ESTABLISHED, (v6, 1), (v6, 80), (0, Some(0))));
    let got = render_str(&socks, &Names::default(), TableOptions { state: true, ..TableOptions::default() });
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 70_001);
    assert!(lines[0].len() < lines[70_000].len(), "the first block keeps its narrow columns");
    // Every block's rows are padded alike, and widths only grow.
    let mut widths: Vec<usize> = lines.iter().map(|l| l.len()).collect();
    widths.dedup();
    assert_eq!(widths.len(), 2, "two blocks: {widths:?}");
    let mut sim = SsBuffer::default();
    let row = [0, 5, 6, 6, 10, 1, 10, 2, 0, 0, 0];
    let mut rows = 0;
    while !sim.full() {
        sim.row(&row, &[true, true, false, false, false, false, false, false, false, false, false]);
        rows += 1;
    }
    // 4 chunks of (1 MiB - 16) bytes fill with rows of 9 tokens (2-byte lengths, even-padded text: 54 bytes)
    // before the fifth chunk starts and ss prints.
    assert_eq!(rows, 4 * (1024 * 1024 - 16) / 54);
}

#[test]
fn streamed_blocks_never_narrow_a_column() {
    // The streaming writer prints block by block (memory bounded); a block after a wide one keeps its widths,
    // as ss's columns only grow.
    let wide = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 3, 4, 5, 6));
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let names = Names::default();
    let mut out = Vec::new();
    let mut t = TableWriter::new(&mut out, &names, &opts()).with_chunk_bytes(40);
    for a in [wide, wide, lo, lo] {
        t.push(&inet(State::ESTABLISHED, (a, 1), (a, 80), (0, Some(0))), &names).unwrap();
    }
    t.finish().unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    // The narrow rows came in a later block, yet line up with the wide ones.
    let colon = |l: &str| l.find(":1 ").unwrap();
    assert_eq!(colon(lines[1]), colon(lines[4]), "{text}");
    assert!(lines[1..].iter().all(|l| l.len() == lines[1].len()), "{text}");
}
