//! Scripted snapshots for tests and demos: a small host with a web server, a database, outbound clients,
//! UDP and UNIX sockets, built without touching the kernel.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::live::{HeldBy, Live, Owners, Tracker};
use crate::collect::{Snapshot, Source, Table};
use crate::model::owners::{Owner, ProcessInfo};
use crate::model::{Endpoint, Family, Proto, Socket, State, UnixKind, UnixName};

fn ip4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// One scripted socket; the cookie doubles as its identity.
pub fn inet(proto: Proto, state: State, local: (IpAddr, u16), peer: (IpAddr, u16), cookie: u64) -> Socket {
    Socket {
        send_q: Some(if state == State::LISTEN { 511 } else { 0 }),
        uid: Some(33),
        inode: 10_000 + cookie,
        cookie: Some(cookie),
        ifindex: Some(0),
        v6only: if local.0.is_ipv6() { Some(false) } else { None },
        ..Socket::inet(proto, state, (local.0, local.1), (peer.0, peer.1))
    }
}

/// The scripted host at "generation" `gen`: each generation opens one more HTTPS connection and closes
/// the oldest database connection.
pub fn host(generation: u64) -> Vec<Socket> {
    let any = ip4(0, 0, 0, 0);
    let me = ip4(10, 0, 0, 1);
    let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    let tcp = Proto::Tcp;
    let mut v = Vec::new();
    let mut web = inet(tcp, State::LISTEN, (any, 443), (any, 0), 1);
    web.recv_q = Some(460);
    v.push(web);
    v.push(inet(tcp, State::LISTEN, (any6, 8080), (any6, 0), 2));
    v.push(inet(tcp, State::LISTEN, (ip4(127, 0, 0, 1), 5432), (any, 0), 3));
    for i in 0..(12 + generation) {
        let peer = ip4(203, 0, 113, (i % 4) as u8 + 10);
        let state = match i % 6 {
            4 => State::TIME_WAIT,
            5 => State::CLOSE_WAIT,
            _ => State::ESTABLISHED,
        };
        v.push(inet(tcp, state, (me, 443), (peer, 40000 + i as u16), 100 + i));
    }
    for i in generation..6 {
        let lo = ip4(127, 0, 0, 1);
        v.push(inet(tcp, State::ESTABLISHED, (lo, 5432), (lo, 50000 + i as u16), 200 + i));
        v.push(inet(tcp, State::ESTABLISHED, (lo, 50000 + i as u16), (lo, 5432), 300 + i));
    }
    for i in 0..3u64 {
        v.push(inet(tcp, State::ESTABLISHED, (me, 41000 + i as u16), (ip4(10, 0, 0, 5), 443), 400 + i));
    }
    v.push(inet(Proto::Udp, State::CLOSE, (ip4(127, 0, 0, 53), 53), (any, 0), 500));
    let mut unix = inet(Proto::Unix, State::LISTEN, (any, 0), (any, 0), 600);
    unix.family = Family::Unix;
    unix.local = Endpoint::Unix { name: Some(UnixName::Path(b"/run/app.sock".as_slice().into())), inode: 600 };
    unix.peer = Endpoint::Unix { name: None, inode: 0 };
    unix.unix_kind = Some(UnixKind::Stream);
    unix.v6only = None;
    unix.ifindex = None;
    v.push(unix);
    v
}

/// Scripted process attribution: nginx (two workers) on 443 and 8080, postgres on 5432, the clients in an
/// app server, and a UNIX socket of another user's process that cannot be inspected.
fn owners(socks: &[Socket]) -> Owners {
    let p = |pid, comm: &str, cmdline: &str, uid| {
        Arc::new(ProcessInfo { pid, comm: comm.into(), cmdline: cmdline.into(), uid })
    };
    let processes = vec![
        p(812, "nginx", "nginx: worker process", 33),
        p(1201, "postgres", "postgres -D /var/lib/postgresql", 106),
        p(4242, "app", "/srv/app/bin/app --port 8080", 1000),
    ];
    let of = socks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                i as u32,
                match (s.state, s.local.port(), s.peer.port()) {
                    (State::TIME_WAIT, ..) => Owner::None,
                    (_, Some(443 | 8080), _) => Owner::Held(HeldBy { first: 0, count: 2 }),
                    (_, Some(5432), _) => Owner::Held(HeldBy { first: 1, count: 1 }),
                    (_, _, Some(5432 | 443)) => Owner::Held(HeldBy { first: 2, count: 1 }),
                    (_, None, _) => Owner::Hidden,
                    _ => Owner::None,
                },
            )
        })
        .collect();
    Owners { processes, of, complete: false }
}

/// Feed generations `0..=last` through a tracker, one second apart; returns the last result.
pub fn live(last: u64) -> (Arc<Live>, Instant) {
    let t0 = Instant::now();
    let mut tr = Tracker::new();
    let mut out = None;
    for g in 0..=last {
        let snap = Snapshot {
            sockets: host(g),
            sources: vec![(Table::Tcp4, Source::Netlink), (Table::Tcp6, Source::Netlink)],
            notes: vec![],
            namespaces: Default::default(),
        };
        out = Some(tr.update(snap, Duration::from_millis(12), t0 + Duration::from_secs(g)));
    }
    let live = out.unwrap_or_else(|| unreachable!("at least one generation"));
    let mut with_owners = (*live).clone();
    with_owners.owners = Some(owners(&with_owners.sockets));
    (Arc::new(with_owners), t0 + Duration::from_secs(last))
}
