//! Tests of request encoding and message decoding on hand-built kernel messages, including truncated and
//! random input (which must give errors, never panics).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::FirstByCookie;
use super::decode::{self, Message};
use super::request;
use crate::collect::{Query, Table};
use crate::model::{Endpoint, Family, Proto, State, StateSet, TimerKind, UnixKind, UnixName};

fn nlmsg(kind: u16, payload: &[u8]) -> Vec<u8> {
    let len = 16 + payload.len();
    let mut m = Vec::new();
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(payload);
    m.resize((m.len() + 3) & !3, 0);
    m
}

fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    a.extend_from_slice(&kind.to_ne_bytes());
    a.extend_from_slice(data);
    a.resize((a.len() + 3) & !3, 0);
    a
}

/// An inet_diag_msg: family, state, timer, retrans, id (sport, dport, src[16], dst[16], if, cookie[8]),
/// expires, rqueue, wqueue, uid, inode.
fn inet_msg(family: u8, state: u8, src: [u8; 16], sport: u16, dst: [u8; 16], dport: u16, attrs: &[u8]) -> Vec<u8> {
    let mut p = vec![family, state, 2, 3];
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&1u32.to_ne_bytes()); // ifindex
    p.extend_from_slice(&0x11u32.to_ne_bytes());
    p.extend_from_slice(&0x22u32.to_ne_bytes()); // cookie
    for v in [7000u32, 5, 6, 1000, 4242] {
        p.extend_from_slice(&v.to_ne_bytes());
    }
    p.extend_from_slice(attrs);
    p
}

fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut b = [0; 16];
    b[..4].copy_from_slice(&a);
    b
}

fn decode_all(buf: &[u8], table: Table) -> Result<Vec<Message>, String> {
    let mut out = Vec::new();
    decode::for_each_message(buf, table, false, |m| {
        out.push(m);
        true
    })?;
    Ok(out)
}

#[test]
fn request_layout() {
    let r = request::dump_request(
        Table::Tcp6,
        &Query { states: StateSet::of(&[State::SYN_RECV]), ..Query::default() },
        None,
        7,
    );
    assert_eq!(r.len(), 16 + 56);
    assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 72);
    assert_eq!(u16::from_ne_bytes(r[4..6].try_into().unwrap()), 20, "SOCK_DIAG_BY_FAMILY");
    assert_eq!(u16::from_ne_bytes(r[6..8].try_into().unwrap()), 0x301, "REQUEST|DUMP");
    assert_eq!(u32::from_ne_bytes(r[8..12].try_into().unwrap()), 7);
    assert_eq!((r[16], r[17]), (libc::AF_INET6 as u8, libc::IPPROTO_TCP as u8));
    let states = u32::from_ne_bytes(r[20..24].try_into().unwrap());
    assert_eq!(states, (1 << 3) | (1 << 12), "SYN_RECV also asks for request sockets");

    let u = request::dump_request(Table::Unix, &Query::default(), Some(&[1, 2, 3, 4]), 1);
    assert_eq!(u.len(), 16 + 24);
    assert_eq!(u[16], libc::AF_UNIX as u8);
    let show = u32::from_ne_bytes(u[28..32].try_into().unwrap());
    assert_eq!(show, 0x1 | 0x4 | 0x10 | 0x40, "name, peer, rqlen, uid");
    let udp = request::dump_request(Table::Udp4, &Query::default(), None, 1);
    assert_eq!((udp[16], udp[17]), (libc::AF_INET as u8, libc::IPPROTO_UDP as u8));
    assert_eq!(u.len(), 16 + 24, "UNIX dumps never carry a program");
    let f = request::dump_request(Table::Tcp4, &Query::default(), Some(&[1, 4, 8, 0]), 1);
    assert_eq!(f.len(), 16 + 56 + 8);
    let i = request::dump_request(Table::Tcp4, &Query { info: true, memory: true, ..Query::default() }, None, 1);
    assert_eq!(i[18], 0x2 | 0x4 | 0x8 | 0x40, "INFO, VEGASINFO (brings BBR and DCTCP), CONG and SKMEMINFO");
    assert_eq!(u32::from_ne_bytes(f[0..4].try_into().unwrap()), 80, "the length covers the attribute");
    assert_eq!(&f[72..80], &[8, 0, 1, 0, 1, 4, 8, 0], "nlattr len 8, type INET_DIAG_REQ_BYTECODE, program");
}

#[test]
fn decodes_inet_messages() {
    let mapped = Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped().octets();
    let mut buf = nlmsg(20, &inet_msg(2, 1, v4([127, 0, 0, 1]), 22, v4([10, 1, 2, 3]), 50000, &[]));
    buf.extend(nlmsg(20, &inet_msg(10, 10, [0; 16], 443, mapped, 0, &attr(11, &[0]))));
    buf.extend(nlmsg(3, &0i32.to_ne_bytes()));
    let msgs = decode_all(&buf, Table::Tcp4).unwrap();
    assert_eq!(msgs.len(), 3);
    let Message::Socket(s) = &msgs[0] else { panic!("{:?}", msgs[0]) };
    assert_eq!((s.proto, s.family, s.state), (Proto::Tcp, Family::Inet, State::ESTABLISHED));
    assert_eq!(s.local, Endpoint::Inet { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), port: 22 });
    assert_eq!(s.peer, Endpoint::Inet { ip: IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), port: 50000 });
    assert_eq!((s.recv_q, s.send_q, s.uid, s.inode), (Some(5), Some(6), Some(1000), 4242));
    assert_eq!(s.cookie, Some(0x22_0000_0011));
    assert_eq!(s.ifindex, Some(1));
    let t = s.timer.unwrap();
    assert_eq!((t.kind, t.expires_ms, t.retrans), (TimerKind::Keepalive, 7000, 3));
    assert_eq!(msgs[1], Message::Skip, "an AF_INET6 socket in an AF_INET dump is skipped");
    assert_eq!(msgs[2], Message::Done(0));

    let msgs =
        decode_all(&nlmsg(20, &inet_msg(10, 10, [0; 16], 443, mapped, 0, &attr(11, &[0]))), Table::Tcp6).unwrap();
    let Message::Socket(s) = &msgs[0] else { panic!() };
    assert_eq!(s.v6only, Some(false));
    assert_eq!(s.peer.ip(), Some(IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped())));
    assert_eq!(s.local.ip(), Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
}

#[test]
fn decodes_unix_messages() {
    // unix_diag_msg: family, type, state, pad, ino, cookie[8]
    let mut p = vec![1u8, 5, 10, 0];
    p.extend_from_slice(&99u32.to_ne_bytes());
    p.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    p.extend(attr(0, b"\0bus\0x"));
    p.extend(attr(2, &100u32.to_ne_bytes()));
    p.extend(attr(4, &[3, 0, 0, 0, 128, 0, 0, 0]));
    p.extend(attr(7, &1000u32.to_ne_bytes()));
    p.extend(attr(42, b"unknown attributes are ignored"));
    let msgs = decode_all(&nlmsg(20, &p), Table::Unix).unwrap();
    let Message::Socket(s) = &msgs[0] else { panic!("{msgs:?}") };
    assert_eq!(s.unix_kind, Some(UnixKind::Seqpacket));
    assert_eq!(s.state, State::LISTEN);
    assert_eq!(s.local, Endpoint::Unix { name: Some(UnixName::Abstract(b"bus\0x".as_slice().into())), inode: 99 });
    assert_eq!(s.peer, Endpoint::Unix { name: None, inode: 100 });
    assert_eq!((s.recv_q, s.send_q, s.uid, s.cookie), (Some(3), Some(128), Some(1000), Some(1)));
}

#[test]
fn done_and_error_codes() {
    let m = decode_all(&nlmsg(3, &(-libc::ENOENT).to_ne_bytes()), Table::Unix).unwrap();
    assert_eq!(m, vec![Message::Done(-libc::ENOENT)]);
    let m = decode_all(&nlmsg(2, &(-libc::EPERM).to_ne_bytes()), Table::Tcp4).unwrap();
    assert_eq!(m, vec![Message::Error(-libc::EPERM)]);
    assert!(decode_all(&nlmsg(2, &[1]), Table::Tcp4).is_err(), "truncated NLMSG_ERROR");
    assert!(decode_all(&nlmsg(99, &[]), Table::Tcp4).is_err(), "unknown message type");
}

/// The receiving thread stops on the buffer that ends the dump, and only there (an acknowledgement does not).
#[test]
fn ends_dump_sees_done_errors_and_broken_framing() {
    let sock = nlmsg(20, &inet_msg(2, 1, v4([127, 0, 0, 1]), 80, v4([127, 0, 0, 1]), 9000, &[]));
    let done = nlmsg(3, &0i32.to_ne_bytes());
    let ack = nlmsg(2, &0i32.to_ne_bytes());
    let failed = nlmsg(2, &(-libc::EIO).to_ne_bytes());
    for (name, buf, ends) in [
        ("empty", Vec::new(), false),
        ("sockets only", [sock.clone(), sock.clone()].concat(), false),
        ("acknowledgement", ack.clone(), false),
        ("sockets then done", [sock.clone(), done.clone()].concat(), true),
        ("error", [sock.clone(), failed].concat(), true),
        ("half a header", [sock.clone(), vec![0; 7]].concat(), true),
        ("length below a header", [&4u32.to_ne_bytes()[..], &20u16.to_ne_bytes(), &[0; 10]].concat(), true),
        ("zero length", [&0u32.to_ne_bytes()[..], &20u16.to_ne_bytes(), &[0; 10]].concat(), true),
    ] {
        assert_eq!(decode::ends_dump(&buf), ends, "{name}");
    }
}

#[test]
fn truncated_and_random_input_never_panics() {
    let good = nlmsg(20, &inet_msg(2, 1, v4([127, 0, 0, 1]), 22, v4([127, 0, 0, 1]), 1, &attr(11, &[1])));
    for cut in 0..good.len() {
        let _ = decode_all(&good[..cut], Table::Tcp4);
        let mut bad = good.clone();
        bad[cut] ^= 0xff;
        let _ = decode_all(&bad, Table::Tcp4);
        let _ = decode_all(&bad, Table::Unix);
    }
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 160) as usize;
        let mut buf: Vec<u8> = (0..len).map(|i| (x >> (i % 8 * 8)) as u8 ^ i as u8).collect();
        if buf.len() >= 6 {
            buf[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
            buf[4..6].copy_from_slice(&[20, 0]);
        }
        for t in [Table::Tcp4, Table::Tcp6, Table::Unix] {
            let _ = decode_all(&buf, t);
        }
    }
}

#[test]
fn dedupe_keeps_first_of_each_cookie() {
    let mk = |cookie, port| {
        let mut buf = nlmsg(20, &inet_msg(2, 1, v4([127, 0, 0, 1]), port, v4([127, 0, 0, 1]), 1, &[]));
        buf[16 + 44..16 + 52].copy_from_slice(&(cookie as u64).to_ne_bytes());
        match decode_all(&buf, Table::Tcp4).unwrap().remove(0) {
            Message::Socket(s) => s,
            m => panic!("{m:?}"),
        }
    };
    let mut v = vec![mk(1, 10), mk(2, 20), mk(1, 30), mk(3, 40), mk(2, 50)];
    let mut first = FirstByCookie::default();
    v.retain(|s| first.keep(s));
    let ports: Vec<_> = v.iter().map(|s| s.local.port().unwrap()).collect();
    assert_eq!(ports, vec![10, 20, 40]);
}

#[test]
fn dedupe_remembers_a_bounded_window_of_cookies() {
    let mut first = FirstByCookie::default();
    let mut s = crate::model::Socket::inet(
        crate::model::Proto::Tcp,
        crate::model::State::ESTABLISHED,
        (std::net::Ipv4Addr::LOCALHOST.into(), 1),
        (std::net::Ipv4Addr::LOCALHOST.into(), 2),
    );
    for c in 1..=(3 * super::REPEAT_WINDOW as u64) {
        s.cookie = Some(c);
        assert!(first.keep(&s));
        // A repeat from the batch before is dropped.
        s.cookie = Some(c.saturating_sub(900).max(1));
        assert!(!first.keep(&s), "cookie {c}");
    }
    assert!(first.seen.len() <= super::REPEAT_WINDOW && first.order.len() <= super::REPEAT_WINDOW);
}

/// A real dump from Linux 6.18 (fixtures/netlink/capture.py): a listener and both ends of a loopback
/// connection that moved 100000 bytes one way and 5000 back, with INFO, CONG and SKMEMINFO. The expected
/// values are those `ss -tnim` printed for the same sockets (tcp_info_dump.txt).
#[test]
fn decodes_a_captured_kernel_dump_with_tcp_info() {
    let dump = include_bytes!("../../../fixtures/netlink/tcp_info_dump.bin");
    let msgs = decode_all(dump, Table::Tcp4).unwrap();
    assert_eq!(msgs.last(), Some(&Message::Done(0)));
    let socks: Vec<_> =
        msgs.into_iter().filter_map(|m| if let Message::Socket(s) = m { Some(s) } else { None }).collect();
    let est: Vec<_> = socks.iter().filter(|s| s.state == State::ESTABLISHED).collect();
    assert_eq!(est.len(), 2);
    for s in &est {
        let x = s.extra.as_deref().expect("extensions decoded");
        assert_eq!(x.congestion.as_deref(), Some("bbr"));
        let t = x.tcp_info.as_ref().expect("tcp_info");
        assert!(t.rtt_us().unwrap() > 0 && t.snd_cwnd().unwrap() > 0 && t.bytes_acked().unwrap() > 0);
        assert_eq!(t.rto_us(), Some(204_000));
        assert!(t.rcv_wnd().is_some(), "a 6.18 kernel sends the longer struct");
        assert_eq!(x.memory.as_deref().unwrap().rcvbuf, Some(131072));
    }
    let sender =
        est.iter().find(|s| s.extra.as_deref().unwrap().tcp_info.as_ref().unwrap().bytes_sent() == Some(100000));
    let t = sender.expect("the sending end").extra.as_deref().unwrap().tcp_info.clone().unwrap();
    assert_eq!(
        (t.bytes_acked(), t.bytes_received(), t.snd_mss(), t.snd_cwnd()),
        (Some(100001), Some(5000), Some(47616), Some(13))
    );
    assert_eq!((t.segs_out(), t.segs_in(), t.snd_wscale(), t.rcv_wscale()), (Some(6), Some(4), Some(10), Some(10)));
}

fn words(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

#[test]
fn decodes_packet_messages() {
    // packet_diag_msg: family, type (SOCK_DGRAM), protocol ETH_P_IP, inode, cookie.
    let mut m = vec![17u8, 2];
    m.extend_from_slice(&0x0800u16.to_ne_bytes());
    m.extend(words(&[4242, 7, 0]));
    m.extend(attr(0, &words(&[1, 2, 0, 0, 0, 1]))); // info: ifindex 1, TPACKET_V3, running
    m.extend(attr(5, &words(&[1000]))); // uid
    m.extend(attr(6, &words(&[1666, 212992, 0, 212992, 0, 0, 0, 0, 0]))); // meminfo
    let Message::Socket(s) = decode::decode_packet(&m, true).unwrap() else { panic!("not a socket") };
    assert_eq!(s.netid(), "p_dgr");
    assert_eq!(s.local, Endpoint::Link { protocol: 0x0800, ifindex: 1 });
    assert_eq!((s.recv_q, s.uid, s.inode, s.cookie), (Some(1666), Some(1000), 4242, Some(7)));
    let p = s.extra.unwrap().details.unwrap().packet.unwrap();
    assert_eq!((p.version, p.flags), (Some(2), Some(1)));
    assert!(decode::decode_packet(&m[..10], false).is_err(), "a short message is an error, not a panic");
}

#[test]
fn decodes_netlink_messages() {
    // netlink_diag_msg: family, type, protocol (NETLINK_ROUTE), state (connected), portid, dst portid,
    // dst group, inode, cookie.
    let mut m = vec![16u8, 3, 0, 1];
    m.extend(words(&[1234, 0, 5, 99, 3, 0]));
    m.extend(attr(0, &words(&[10, 212992, 20, 212992, 0, 0, 0, 0, 0])));
    m.extend(attr(1, &words(&[0x11, 0])));
    let Message::Socket(s) = decode::decode_netlink(&m, true).unwrap() else { panic!("not a socket") };
    assert_eq!(s.netid(), "nl");
    assert_eq!(s.local, Endpoint::Netlink { protocol: 0, portid: 1234 });
    assert_eq!(s.peer, Endpoint::NetlinkPeer { group: 5, portid: 0 });
    assert_eq!((s.recv_q, s.send_q, s.inode), (Some(10), Some(20), 99));
    assert_eq!(s.extra.unwrap().details.unwrap().netlink_groups, Some(0x11));
    assert!(decode::decode_netlink(&m[..27], false).is_err());
}

#[test]
fn mptcp_requests_carry_the_protocol_attribute() {
    let q = Query { mptcp: true, ..Query::default() };
    let r = request::dump_request(Table::Mptcp4, &q, None, 1);
    assert_eq!(r.len(), 16 + 56 + 8);
    assert_eq!(r[17], 6, "262 & 0xff in the header, as ss sends it");
    assert_eq!(&r[72..76], &[8, 0, 3, 0], "INET_DIAG_REQ_PROTOCOL");
    assert_eq!(u32::from_ne_bytes(r[76..80].try_into().unwrap()), 262);
    let p = request::dump_request(Table::Packet, &q, None, 1);
    assert_eq!((p.len(), p[16]), (16 + 20, 17));
}

#[test]
fn family_requests_have_their_structs_sizes() {
    // Regression: the vsock request was cut to 20 bytes; vsock_diag refuses anything shorter than its
    // 24-byte vsock_diag_req with EINVAL, which failed the whole listing.
    let q = Query::default();
    for (table, family, body) in [(Table::Vsock, 40, 24), (Table::Tipc, 30, 20), (Table::Netlink, 16, 20)] {
        let r = request::dump_request(table, &q, None, 1);
        assert_eq!((r.len(), r[16]), (16 + body, family), "{table:?}");
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()) as usize, r.len(), "{table:?}: nlmsg_len");
    }
}
