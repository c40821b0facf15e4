//! Scripted snapshots for tests and demos: a small host with a web server, a database, outbound clients,
//! UDP and UNIX sockets, built without touching the kernel.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::collect::process::Attribution;
use crate::collect::{Snapshot, Source, Table};
use crate::group::GroupKey;
use crate::model::owners::{ProcessInfo, ProcessMap};
use crate::model::{Endpoint, Family, Proto, Socket, State, UnixKind, UnixName};
use crate::ports::PortRange;
use crate::ports::audit::AuditOptions;
use crate::ports::classes::HostPorts;
use crate::tui::model::live::{Live, LiveTracker};

fn ip4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// One scripted socket; the cookie doubles as its identity.
pub fn inet(proto: Proto, state: State, local: (IpAddr, u16), peer: (IpAddr, u16), cookie: u64) -> Socket {
    Socket {
        send_q: Some(if state == State::LISTEN { 511 } else { 0 }),
        uid: Some(33),
        // The kernel reports no inode for TIME-WAIT sockets: nobody holds them.
        inode: if state == State::TIME_WAIT { 0 } else { 10_000 + cookie },
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
        let mut s = inet(tcp, state, (me, 443), (peer, 40000 + i as u16), 100 + i);
        if state == State::ESTABLISHED {
            // A connection that speeds up: rtt wobbles, the window opens, more bytes are acknowledged.
            let rtt = 20_000 + 4_000 * ((generation + i) % 4) as u32;
            let info = tcp_info(rtt, 10 + 4 * generation as u32, generation * generation * 40_000 + i * 1000);
            s.extra = Some(Box::new(crate::model::internals::Extra { tcp_info: Some(info), ..Default::default() }));
        }
        v.push(s);
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
    // A cache client: a TIME-WAIT socket first, then connections of two processes (one with a long name).
    let cache = ip4(10, 0, 0, 9);
    v.push(inet(tcp, State::TIME_WAIT, (me, 42000), (cache, 6379), 700));
    for i in 1..=4u64 {
        v.push(inet(tcp, State::ESTABLISHED, (me, 42000 + i as u16), (cache, 6379), 700 + i));
    }
    // A resolver binding a fresh ephemeral port per query: one folded row, not five.
    for i in 0..5u64 {
        v.push(inet(Proto::Udp, State::CLOSE, (me, 45000 + i as u16), (any, 0), 800 + i));
    }
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

/// The scripted processes: nginx (two workers) on 443 and 8080, postgres on 5432, the clients in an app
/// server, a benchmark with a long name and a cache warmer towards 6379, a resolver.
fn processes() -> Vec<Arc<ProcessInfo>> {
    let p = |pid, comm: &str, cmdline: &str, uid| {
        Arc::new(ProcessInfo { pid, comm: comm.into(), cmdline: cmdline.into(), uid })
    };
    vec![
        p(812, "nginx", "nginx: worker process", 33),
        p(813, "nginx", "nginx: worker process", 33),
        p(1201, "postgres", "postgres -D /var/lib/postgresql", 106),
        p(4242, "app", "/srv/app/bin/app --port 8080", 1000),
        p(
            11313,
            "redis-benchmark",
            "redis-benchmark -h 10.0.0.9 -c 3 -n 1000000 --csv -t get,set,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange,mset",
            1000,
        ),
        p(2002, "python3", "python3 warm_cache.py", 1000),
        p(53, "resolver", "/usr/lib/resolver", 101),
    ]
}

/// The process map a scan of the scripted host would give: the nginx workers share the listeners and take
/// turns with the connections; the UNIX socket belongs to another user's process that cannot be inspected
/// (the scan is incomplete), so it is hidden; the newest resolver socket is newer than the scan.
fn process_map(socks: &[Socket]) -> ProcessMap {
    let procs = processes();
    let mut held: Vec<Vec<(u64, u32)>> = vec![Vec::new(); procs.len()];
    // The newest resolver socket is not in the map: the scan is older than it.
    for s in socks.iter().filter(|s| s.inode != 0 && s.cookie != Some(UNSCANNED_COOKIE)) {
        let holders: &[usize] = match (s.local.port(), s.peer.port()) {
            (Some(443 | 8080), _) if s.state == State::LISTEN => &[0, 1],
            (Some(443 | 8080), _) => &[s.inode as usize % 2],
            (_, Some(6379)) if s.cookie == Some(704) => &[5],
            (_, Some(6379)) => &[4],
            (Some(53 | 45000..=45004), _) => &[6],
            (Some(5432), _) => &[2],
            (_, Some(5432 | 443)) => &[3],
            _ => &[],
        };
        for &p in holders {
            let fd = held[p].len() as u32 + 3;
            held[p].push((s.inode, fd));
        }
    }
    let fds = held.iter().map(Vec::len).sum();
    ProcessMap::build(procs.into_iter().zip(held.iter().map(|h| &h[..])), fds)
}

/// The newest resolver socket is newer than the last process scan: not looked up yet.
const UNSCANNED_COOKIE: u64 = 804;

/// Feed generations `0..=last` through a tracker, one second apart; returns the last result.
pub fn live(last: u64) -> (Arc<Live>, Instant) {
    lives(last).pop().unwrap_or_else(|| unreachable!("at least one generation"))
}

/// Every result of feeding generations `0..=last` through a tracker, one second apart, with the scripted
/// holders; the group `0.0.0.0:443` is open (its chart series is kept).
pub fn lives(last: u64) -> Vec<(Arc<Live>, Instant)> {
    lives_open(last, &GroupKey::Listen { proto: Proto::Tcp, ip: ip4(0, 0, 0, 0), port: 443, netns: 0 })
}

/// [`lives`] with another group open (its sockets kept one by one, its closed ones lingering).
pub fn lives_open(last: u64, open: &GroupKey) -> Vec<(Arc<Live>, Instant)> {
    let t0 = Instant::now();
    let ports = HostPorts { ephemeral: PortRange::new(32768, 60999), reserved: vec![] };
    let mut tr = LiveTracker::auditing(Some(ports), AuditOptions::default());
    let mut out = Vec::new();
    for g in 0..=last {
        let snap = Snapshot {
            sockets: host(g),
            sources: vec![(Table::Tcp4, Source::Netlink), (Table::Tcp6, Source::Netlink)],
            notes: vec![],
            namespaces: Default::default(),
        };
        let at = t0 + Duration::from_secs(g);
        // Attributed as the collector does it (tui::full_refresh), from a process map.
        let map = process_map(&snap.sockets);
        let looked = (snap.sockets.iter().map(|s| s.inode))
            .filter(|&i| !map.contains(i) && i != 10_000 + UNSCANNED_COOKIE)
            .collect();
        let procs = Attribution::new(Arc::new(map), false, Some(looked)).with_root(false);
        let live = tr.update_with(snap, Duration::from_millis(12), at, Some(&procs), Some(open));
        out.push((live, at));
    }
    out
}

/// A tcp_info as the kernel would send it, with the fields the charts use.
fn tcp_info(rtt_us: u32, cwnd: u32, bytes_acked: u64) -> crate::model::internals::TcpInfo {
    let mut b = vec![0u8; 232];
    b[68..72].copy_from_slice(&rtt_us.to_ne_bytes());
    b[80..84].copy_from_slice(&cwnd.to_ne_bytes());
    b[120..128].copy_from_slice(&bytes_acked.to_ne_bytes());
    crate::model::internals::TcpInfo::decode(&b)
}
