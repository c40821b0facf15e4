//! `LiveTracker` tests: identity across refreshes, repeats in a dump, history, audit marks and pressure.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::collect::{Source, Table};
use crate::model::{Endpoint, Proto, State};
use crate::ports::PortRange;

fn sock(cookie: u64, lport: u16, state: State) -> Socket {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    Socket {
        inode: cookie,
        cookie: Some(cookie),
        ifindex: Some(0),
        ..Socket::inet(
            Proto::Tcp,
            state,
            (ip, lport),
            (ip, if state == State::LISTEN { 0 } else { 40000 + cookie as u16 }),
        )
    }
}

fn snap(socks: Vec<Socket>) -> Snapshot {
    Snapshot {
        sockets: socks,
        sources: vec![(Table::Tcp4, Source::Netlink)],
        notes: vec![],
        namespaces: Default::default(),
    }
}

#[test]
fn new_closed_and_ages() {
    let t0 = Instant::now();
    let mut tr = LiveTracker::new();
    let key = GroupKey::Listen { proto: Proto::Tcp, ip: IpAddr::V4(Ipv4Addr::LOCALHOST), port: 80, netns: 0 };
    let open = Some(&key);
    let two =
        |a, b| snap(vec![sock(1, 80, State::LISTEN), sock(a, 80, State::ESTABLISHED), sock(b, 81, State::ESTABLISHED)]);
    let l = tr.update_with(two(2, 9), Duration::ZERO, t0, None, open);
    assert_eq!((l.is_new(0), l.is_new(1)), (false, false), "nothing is new on the first refresh");
    assert_eq!(l.source, "netlink");
    assert_eq!((l.total, l.kept.clone()), (3, vec![0, 1]), "the open group is kept, the rest only counted");
    assert!(l.socket(2).is_none());

    let t1 = t0 + Duration::from_secs(1);
    let l = tr.update_with(two(3, 9), Duration::ZERO, t1, None, open);
    assert_eq!((l.is_new(0), l.is_new(1)), (false, true));
    assert_eq!((l.first_seen(0), l.first_seen(1)), (t0, t1));
    assert_eq!(l.closed.len(), 1);
    assert_eq!(l.closed[0].socket.cookie, Some(2));
    assert_eq!(l.closed[0].group, key);

    let t2 = t1 + LINGER;
    let l = tr.update_with(two(3, 10), Duration::ZERO, t2, None, open);
    assert!(l.closed.is_empty(), "closed sockets linger for LINGER only; one of a group not open is not kept");
    assert_eq!((l.is_new(0), l.is_new(1)), (false, false));
    assert_eq!(l.history[&key], vec![2, 2, 2]);
}

#[test]
fn history_keeps_a_minute() {
    let t0 = Instant::now();
    let mut tr = LiveTracker::new();
    let mut l = None;
    for i in 0..100u64 {
        let socks = (0..=(i % 5)).map(|c| sock(c + 1, 80, State::ESTABLISHED)).collect();
        l = Some(tr.update(snap(socks), Duration::ZERO, t0 + Duration::from_secs(i)));
    }
    let l = l.unwrap();
    let h = l.history.values().next().unwrap();
    assert_eq!(h.len(), 61);
}

#[test]
fn ephemeral_pressure_flags_a_busy_destination() {
    let to_5000 = |c: u64| {
        let mut s = sock(c + 1, 40000 + c as u16, State::ESTABLISHED);
        s.peer = Endpoint::Inet { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), port: 5000 };
        s
    };
    let socks: Vec<Socket> = (0..30).map(to_5000).collect();
    let host = |low, high| HostPorts { ephemeral: PortRange::new(low, high), reserved: vec![] };
    let mut tr = LiveTracker::auditing(Some(host(40000, 40039)), AuditOptions::default());
    let l = tr.update(snap(socks.clone()), Duration::ZERO, Instant::now());
    let (k, v) = l.pressure.iter().next().expect("30 of 40 ports is over half");
    assert!(k.is_outbound());
    assert_eq!((v.sockets, v.capacity), (30, 40));
    let mut roomy = LiveTracker::auditing(Some(host(10000, 60000)), AuditOptions::default());
    assert!(roomy.update(snap(socks), Duration::ZERO, Instant::now()).pressure.is_empty());
}

/// Regression: the dashboard audited with default options (a socket bound to `lo` was flagged there but
/// not by `sockscope audit`) and counted its own pressure (ports outside the ephemeral range and accepted
/// connections of an in-range listener included, the threshold hard-coded). Both now use `ports`' rules.
#[test]
fn dashboard_and_audit_give_the_same_verdict() {
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let far = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    let opts = AuditOptions { loopback_ifindex: Some(1), threshold_pct: 50.0 };
    let host = HostPorts { ephemeral: PortRange::new(40000, 40039), reserved: vec![] };
    let mut socks = vec![
        // Redis on all addresses but bound to the lo device: loopback only.
        Socket { inode: 1, ifindex: Some(1), ..Socket::inet(Proto::Tcp, State::LISTEN, (any, 6379), (any, 0)) },
        // memcached on all addresses, no device: exposed.
        Socket { inode: 2, ifindex: Some(0), ..Socket::inet(Proto::Tcp, State::LISTEN, (any, 11211), (any, 0)) },
    ];
    // 30 sockets to far:5432 from ports outside the ephemeral range: no pressure.
    for i in 0..30 {
        socks.push(Socket {
            inode: 100 + i,
            ..Socket::inet(Proto::Tcp, State::ESTABLISHED, (lo, 2000 + i as u16), (far, 5432))
        });
    }
    // 25 sockets to far:443 from in-range ports: 25 of 40 is over half.
    for i in 0..25 {
        socks.push(Socket {
            inode: 200 + i,
            ..Socket::inet(Proto::Tcp, State::ESTABLISHED, (lo, 40000 + i as u16), (far, 443))
        });
    }
    let listeners = audit::audit(&socks, &crate::ports::services::Services::builtin(), &opts);
    let audit_flagged: Vec<u16> = listeners.iter().filter(|l| !l.flags.is_empty()).map(|l| l.port).collect();
    let audit_pressure: Vec<u16> =
        classes::ephemeral_pressure(&socks, &host).iter().filter(|p| p.over(50.0)).map(|p| p.remote_port).collect();

    let l = LiveTracker::auditing(Some(host), opts).update(snap(socks), Duration::ZERO, Instant::now());
    let mut dash_flagged: Vec<u16> = l.audit.keys().filter_map(|i| l.sockets[*i as usize].local.port()).collect();
    dash_flagged.sort();
    let dash_pressure: Vec<u16> = l.pressure.keys().filter_map(GroupKey::port).collect();
    assert_eq!((dash_flagged, dash_pressure), (audit_flagged.clone(), audit_pressure.clone()));
    assert_eq!((audit_flagged, audit_pressure), (vec![11211], vec![443]));
}

#[test]
fn a_socket_the_dump_repeats_counts_once_with_its_first_record() {
    // The dashboard's dump leaves repeats to the tracker: a socket that went to TIME-WAIT while the dump
    // ran comes twice, with one cookie. Cookie-less records that look alike are not merged.
    let mut tw = sock(2, 80, State::ESTABLISHED);
    tw.state = State::TIME_WAIT;
    let mut bare = sock(7, 80, State::SYN_RECV);
    bare.cookie = None;
    let mut socks = vec![
        sock(1, 80, State::LISTEN),
        sock(2, 80, State::ESTABLISHED),
        bare.clone(),
        tw,
        sock(3, 80, State::ESTABLISHED),
        bare,
    ];
    // Process i holds the i-th inode of 1, 2, 7, 3.
    let held: Vec<[(u64, u32); 1]> = [1, 2, 7, 3].into_iter().map(|inode| [(inode, 3)]).collect();
    let info = |pid| Arc::new(ProcessInfo { pid, comm: format!("p{pid}"), cmdline: String::new(), uid: 0 });
    let map = crate::model::owners::ProcessMap::build((0..4).map(|i| (info(100 + i), &held[i as usize][..])), 4);
    let attribution = Attribution::new(Arc::new(map), true, None);
    let procs = Some(&attribution);
    let key = GroupKey::Listen { proto: Proto::Tcp, ip: IpAddr::V4(Ipv4Addr::LOCALHOST), port: 80, netns: 0 };
    let mut tr = LiveTracker::new();
    let t0 = Instant::now();
    let l = tr.update_with(snap(socks.clone()), Duration::ZERO, t0, procs, Some(&key));
    assert_eq!(l.total, 5);
    assert_eq!(
        (l.totals.get(State::ESTABLISHED), l.totals.get(State::TIME_WAIT), l.totals.get(State::SYN_RECV)),
        (2, 0, 2)
    );
    assert_eq!(l.groups.iter().map(Group::len).sum::<usize>(), 5);
    // The repeat is counted once: its holder holds one socket, the two look-alikes' holder two.
    let mut holders: Vec<(u32, u32)> =
        l.owners.as_ref().unwrap().groups.iter().flat_map(|g| g.holders.iter().copied()).collect();
    holders.sort_unstable();
    assert_eq!(holders, vec![(0, 1), (1, 1), (2, 2), (3, 1)]);
    // The identity table points at the right sockets: the one after the repeat closes as itself.
    socks.remove(4);
    socks.remove(3);
    let l = tr.update_with(snap(socks), Duration::ZERO, t0 + Duration::from_secs(1), None, Some(&key));
    let closed: Vec<u64> = l.closed.iter().filter_map(|c| c.socket.cookie).collect();
    assert_eq!(closed, vec![3]);
}
