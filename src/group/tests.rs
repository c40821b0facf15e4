//! Grouping tests: listeners with accepted sockets, outbound groups, v4/v6 and wildcard/specific listeners.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::model::{Family, UnixKind};

fn ip4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn sock(proto: Proto, state: State, local: (IpAddr, u16), peer: (IpAddr, u16)) -> Socket {
    Socket {
        send_q: Some(if state == State::LISTEN { 128 } else { 0 }),
        ..Socket::inet(proto, state, (local.0, local.1), (peer.0, peer.1))
    }
}

fn tcp(state: State, local: (IpAddr, u16), peer: (IpAddr, u16)) -> Socket {
    sock(Proto::Tcp, state, local, peer)
}

fn find<'a>(groups: &'a [Group], key: &GroupKey) -> &'a Group {
    groups.iter().find(|g| &g.key == key).unwrap_or_else(|| panic!("no group {key:?} in {groups:#?}"))
}

#[test]
fn listener_with_many_accepted_sockets() {
    let any = ip4(0, 0, 0, 0);
    let me = ip4(10, 0, 0, 1);
    let mut socks = vec![tcp(State::LISTEN, (any, 443), (any, 0))];
    socks[0].recv_q = Some(3);
    for i in 0..100u16 {
        let peer = ip4(192, 168, 1, (i % 7) as u8 + 1);
        let state = if i < 90 { State::ESTABLISHED } else { State::TIME_WAIT };
        socks.push(tcp(state, (me, 443), (peer, 40000 + i)));
    }
    let groups = group(&socks);
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!(g.key, GroupKey::Listen { proto: Proto::Tcp, ip: any, port: 443, netns: 0 });
    assert_eq!((g.listeners.len(), g.members.len(), g.len()), (1, 100, 101));
    assert_eq!(g.states.get(State::ESTABLISHED), 90);
    assert_eq!(g.states.get(State::TIME_WAIT), 10);
    assert_eq!(g.states.get(State::LISTEN), 1);
    assert_eq!(g.accept_queue, Some((3, 128)));
    assert_eq!(g.peers, 7);
    assert_eq!(g.top_peers[0], (ip4(192, 168, 1, 1), 15));
}

#[test]
fn outbound_sockets_group_by_remote_endpoint() {
    let me = ip4(10, 0, 0, 1);
    let api = ip4(10, 0, 0, 5);
    let mut socks: Vec<Socket> = (0..120u16).map(|i| tcp(State::ESTABLISHED, (me, 50000 + i), (api, 443))).collect();
    socks.push(tcp(State::SYN_SENT, (me, 51000), (api, 443)));
    socks.push(tcp(State::ESTABLISHED, (me, 51001), (api, 5432)));
    let groups = group(&socks);
    assert_eq!(groups.len(), 2);
    let g = find(&groups, &GroupKey::Outbound { proto: Proto::Tcp, ip: api, port: 443, netns: 0 });
    assert_eq!(g.len(), 121);
    assert!(g.listeners.is_empty() && g.accept_queue.is_none());
    assert_eq!(g.states.get(State::SYN_SENT), 1);
    assert_eq!(g.peers, 1);
    assert_eq!(groups[0].key, g.key, "biggest group first");
    assert_eq!(g.key.to_string(), "-> 10.0.0.5:443");
}

#[test]
fn v4_and_v6_listeners_on_the_same_port() {
    let any4 = ip4(0, 0, 0, 0);
    let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let mut l6 = tcp(State::LISTEN, (any6, 80), (any6, 0));
    l6.v6only = Some(true);
    let socks = vec![
        tcp(State::LISTEN, (any4, 80), (any4, 0)),
        l6,
        tcp(State::ESTABLISHED, (ip4(127, 0, 0, 1), 80), (ip4(127, 0, 0, 1), 40000)),
        tcp(State::ESTABLISHED, (lo6, 80), (lo6, 40001)),
        tcp(State::ESTABLISHED, (lo6, 80), (lo6, 40002)),
    ];
    let groups = group(&socks);
    let g4 = find(&groups, &GroupKey::Listen { proto: Proto::Tcp, ip: any4, port: 80, netns: 0 });
    let g6 = find(&groups, &GroupKey::Listen { proto: Proto::Tcp, ip: any6, port: 80, netns: 0 });
    assert_eq!(g4.members, vec![2]);
    assert_eq!(g6.members, vec![3, 4]);
    assert!(!g6.dual_stack);
}

#[test]
fn dual_stack_listener_takes_mapped_connections() {
    let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    let mapped = IpAddr::V6(Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped());
    let mut l = tcp(State::LISTEN, (any6, 8080), (any6, 0));
    l.v6only = Some(false);
    let socks = vec![l, tcp(State::ESTABLISHED, (mapped, 8080), (mapped, 35440))];
    let groups = group(&socks);
    assert_eq!(groups.len(), 1);
    assert!(groups[0].dual_stack);
    assert_eq!(groups[0].members, vec![1]);
}

#[test]
fn wildcard_and_specific_listener_on_the_same_port() {
    let any = ip4(0, 0, 0, 0);
    let lo = ip4(127, 0, 0, 1);
    let pub_ip = ip4(10, 0, 0, 1);
    let socks = vec![
        tcp(State::LISTEN, (any, 53), (any, 0)),
        tcp(State::LISTEN, (lo, 53), (any, 0)),
        tcp(State::ESTABLISHED, (lo, 53), (lo, 41000)),
        tcp(State::ESTABLISHED, (pub_ip, 53), (ip4(10, 0, 0, 9), 41001)),
        // A second listener on the same address and port (SO_REUSEPORT) joins the same group.
        tcp(State::LISTEN, (any, 53), (any, 0)),
    ];
    let groups = group(&socks);
    let specific = find(&groups, &GroupKey::Listen { proto: Proto::Tcp, ip: lo, port: 53, netns: 0 });
    let wildcard = find(&groups, &GroupKey::Listen { proto: Proto::Tcp, ip: any, port: 53, netns: 0 });
    assert_eq!(specific.members, vec![2], "the exact address wins");
    assert_eq!(wildcard.members, vec![3]);
    assert_eq!(wildcard.listeners, vec![0, 4]);
    assert_eq!(wildcard.accept_queue, Some((0, 256)));
}

#[test]
fn udp_bound_sockets_are_listeners() {
    let lo = ip4(127, 0, 0, 1);
    let any = ip4(0, 0, 0, 0);
    let socks = vec![
        sock(Proto::Udp, State::CLOSE, (lo, 53), (any, 0)),
        sock(Proto::Udp, State::ESTABLISHED, (lo, 53), (lo, 5000)),
        sock(Proto::Udp, State::ESTABLISHED, (lo, 5000), (lo, 53)),
        // A TCP listener on the same port is another group.
        tcp(State::LISTEN, (lo, 53), (any, 0)),
    ];
    let groups = group(&socks);
    let udp = find(&groups, &GroupKey::Listen { proto: Proto::Udp, ip: lo, port: 53, netns: 0 });
    assert_eq!((udp.listeners.clone(), udp.members.clone()), (vec![0], vec![1]));
    assert!(udp.accept_queue.is_none());
    find(&groups, &GroupKey::Outbound { proto: Proto::Udp, ip: lo, port: 53, netns: 0 });
    find(&groups, &GroupKey::Listen { proto: Proto::Tcp, ip: lo, port: 53, netns: 0 });
}

fn unix(state: State, name: Option<&str>, inode: u64, peer: u64) -> Socket {
    Socket {
        proto: Proto::Unix,
        family: Family::Unix,
        state,
        local: Endpoint::Unix { name: name.map(|n| UnixName::Path(n.as_bytes().into())), inode },
        peer: Endpoint::Unix { name: None, inode: peer },
        recv_q: Some(0),
        send_q: Some(0),
        uid: Some(0),
        inode,
        cookie: None,
        ifindex: None,
        v6only: None,
        unix_kind: Some(UnixKind::Stream),
        timer: None,
        mark: None,
        extra: None,
        netns: 0,
    }
}

#[test]
fn unix_sockets_group_by_path_and_by_peer_path() {
    let socks = vec![
        unix(State::LISTEN, Some("/run/app.sock"), 10, 0),
        unix(State::ESTABLISHED, Some("/run/app.sock"), 11, 21),
        unix(State::ESTABLISHED, None, 21, 11),
        unix(State::ESTABLISHED, None, 30, 31),
        unix(State::ESTABLISHED, None, 31, 30),
    ];
    let groups = group(&socks);
    let path = find(&groups, &GroupKey::UnixPath(0, "/run/app.sock".into()));
    assert_eq!((path.listeners.clone(), path.members.clone()), (vec![0], vec![1]));
    let clients = find(&groups, &GroupKey::UnixPeer(0, "/run/app.sock".into()));
    assert_eq!(clients.members, vec![2]);
    assert_eq!(find(&groups, &GroupKey::UnixUnnamed(0)).members, vec![3, 4]);
}

#[test]
fn empty_snapshot_has_no_groups() {
    assert!(group::<Socket>(&[]).is_empty());
}

#[test]
fn the_same_port_in_two_namespaces_is_two_groups() {
    let any = ip4(0, 0, 0, 0);
    let lo = ip4(127, 0, 0, 1);
    let in_ns = |s: Socket, n| Socket { netns: n, ..s };
    let socks = vec![
        in_ns(tcp(State::LISTEN, (any, 80), (any, 0)), 0),
        in_ns(tcp(State::LISTEN, (any, 80), (any, 2)), 2),
        in_ns(tcp(State::ESTABLISHED, (lo, 80), (lo, 40000)), 2),
        in_ns(tcp(State::ESTABLISHED, (lo, 80), (lo, 40001)), 2),
        in_ns(tcp(State::ESTABLISHED, (lo, 80), (lo, 40002)), 0),
        // a namespace without a listener on 80: outbound, in its own namespace
        in_ns(tcp(State::ESTABLISHED, (lo, 80), (lo, 40003)), 5),
    ];
    let groups = group(&socks);
    let a = find(&groups, &GroupKey::Listen { proto: Proto::Tcp, ip: any, port: 80, netns: 0 });
    let b = find(&groups, &GroupKey::Listen { proto: Proto::Tcp, ip: any, port: 80, netns: 2 });
    assert_eq!((a.listeners.clone(), a.members.clone()), (vec![0], vec![4]));
    assert_eq!((b.listeners.clone(), b.members.clone()), (vec![1], vec![2, 3]));
    let c = find(&groups, &GroupKey::Outbound { proto: Proto::Tcp, ip: lo, port: 40003, netns: 5 });
    assert_eq!(c.key.netns(), 5);
    assert_eq!(groups.len(), 3);
}

/// Regression: the fold was keyed by the holding process's pid, 0 for sockets newer than the last process
/// scan, so one resolver's 20 sockets split into `resolver[12170] 11` and `hidden 9`, and the row's chart
/// went up and down with the scans. The key is now what the socket table says: address and owner uid.
#[test]
fn udp_fold_does_not_split_one_users_sockets_by_attribution() {
    let me = ip4(10, 0, 0, 1);
    let any = ip4(0, 0, 0, 0);
    let udp = |port, uid| Socket {
        uid: Some(uid),
        inode: u64::from(port),
        ..sock(Proto::Udp, State::CLOSE, (me, port), (any, 0))
    };
    let mut socks: Vec<Socket> = (0..20).map(|i| udp(45000 + i, 101)).collect();
    socks.push(udp(46000, 1000));
    // Outside the ephemeral range: a service of its own, not folded.
    socks.push(udp(53, 101));
    let fold = Fold { ephemeral: (32768, 60999) };
    let groups = group_with(&socks, Some(&fold));
    let resolver = find(&groups, &GroupKey::UdpEphemeral { ip: me, uid: Some(101), netns: 0 });
    assert_eq!(resolver.len(), 20);
    assert_eq!(find(&groups, &GroupKey::UdpEphemeral { ip: me, uid: Some(1000), netns: 0 }).len(), 1);
    assert_eq!(find(&groups, &GroupKey::Listen { proto: Proto::Udp, ip: me, port: 53, netns: 0 }).len(), 1);
    assert_eq!(groups.len(), 3);
}
