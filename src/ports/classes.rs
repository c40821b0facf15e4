//! Port knowledge that is not a name: the IANA port classes, the host's ephemeral range and reserved ports
//! (read from a proc root given as a parameter), and ephemeral-port pressure of outbound sockets (pure).

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::range::{self, PortRange};
use crate::hash::{FastMap, FastSet};
use crate::model::netns::NetnsId;
use crate::model::{Endpoint, Proto, Socket, State};

/// IANA's three port ranges (RFC 6335).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortClass {
    /// 0-1023, "system ports": binding them needs CAP_NET_BIND_SERVICE on Linux (below
    /// `net.ipv4.ip_unprivileged_port_start`, 1024 by default).
    WellKnown,
    /// 1024-49151, "user ports", assigned by IANA on request.
    Registered,
    /// 49152-65535, "dynamic/private ports", never assigned.
    Dynamic,
}

impl PortClass {
    pub fn of(port: u16) -> PortClass {
        match port {
            0..=1023 => PortClass::WellKnown,
            1024..=49151 => PortClass::Registered,
            _ => PortClass::Dynamic,
        }
    }

    /// `well-known`, `registered`, `dynamic`.
    pub fn name(self) -> &'static str {
        match self {
            PortClass::WellKnown => "well-known",
            PortClass::Registered => "registered",
            PortClass::Dynamic => "dynamic",
        }
    }

    /// The ports of the class, inclusive.
    pub fn range(self) -> PortRange {
        match self {
            PortClass::WellKnown => PortRange::new(0, 1023),
            PortClass::Registered => PortRange::new(1024, 49151),
            PortClass::Dynamic => PortRange::new(49152, 65535),
        }
    }

    /// A class name as a user may type it (case-insensitive): `well-known`/`wellknown`/`system`/`privileged`,
    /// `registered`/`user`, `dynamic`/`private`/`dynamic-private`. (`ephemeral` is not a class: it is the
    /// host's range, see [`HostPorts`].)
    pub fn parse(text: &str) -> Option<PortClass> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "well-known" | "wellknown" | "system" | "privileged" => Some(PortClass::WellKnown),
            "registered" | "user" => Some(PortClass::Registered),
            "dynamic" | "private" | "dynamic-private" | "dynamic/private" => Some(PortClass::Dynamic),
            _ => None,
        }
    }
}

impl fmt::Display for PortClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PortsError {
    /// The cause is in the message, and so not a `source`: printed once.
    #[error("cannot read {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error("{}: {msg}", path.display())]
    Parse { path: PathBuf, msg: String },
}

/// The host's port allocation: the ephemeral range `connect()` and `bind(0)` draw from, and the reserved
/// ports they skip. Both are per network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPorts {
    /// `net.ipv4.ip_local_port_range` (also used for IPv6).
    pub ephemeral: PortRange,
    /// `net.ipv4.ip_local_reserved_ports`, merged and sorted.
    pub reserved: Vec<PortRange>,
}

pub const LOCAL_PORT_RANGE: &str = "sys/net/ipv4/ip_local_port_range";
pub const LOCAL_RESERVED_PORTS: &str = "sys/net/ipv4/ip_local_reserved_ports";

impl HostPorts {
    /// Read both sysctls below `proc_root` (normally `/proc`). A missing reserved-ports file means none.
    pub fn read(proc_root: &Path) -> Result<HostPorts, PortsError> {
        let path = proc_root.join(LOCAL_PORT_RANGE);
        let text = std::fs::read_to_string(&path).map_err(|error| PortsError::Io { path: path.clone(), error })?;
        let ephemeral = parse_local_port_range(&text).map_err(|msg| PortsError::Parse { path, msg })?;
        let path = proc_root.join(LOCAL_RESERVED_PORTS);
        let reserved = match std::fs::read_to_string(&path) {
            Ok(text) => parse_reserved_ports(&text).map_err(|msg| PortsError::Parse { path, msg })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(PortsError::Io { path, error }),
        };
        Ok(HostPorts { ephemeral, reserved })
    }

    /// Linux's default: 32768-60999, nothing reserved.
    pub fn linux_default() -> HostPorts {
        HostPorts { ephemeral: PortRange { low: 32768, high: 60999 }, reserved: Vec::new() }
    }

    pub fn is_ephemeral(&self, port: u16) -> bool {
        self.ephemeral.contains(port)
    }

    pub fn is_reserved(&self, port: u16) -> bool {
        self.reserved.iter().any(|r| r.contains(port))
    }

    /// Reserved ports inside the ephemeral range.
    pub fn reserved_in_range(&self) -> u32 {
        self.reserved.iter().map(|r| r.overlap(self.ephemeral)).sum()
    }

    /// How many local ports one (local address, remote address, remote port) can use: the range less the
    /// reserved ports in it.
    pub fn capacity(&self) -> u32 {
        self.ephemeral.len().saturating_sub(self.reserved_in_range())
    }
}

/// Parse `ip_local_port_range`: two numbers, low and high (`32768\t60999`).
// Own parser: procfs has no reader for this sysctl.
pub fn parse_local_port_range(text: &str) -> Result<PortRange, String> {
    let nums: Vec<&str> = text.split_ascii_whitespace().collect();
    let [low, high] = nums[..] else {
        return Err(format!("expected two port numbers, found {:?}", text.trim()));
    };
    let num = |t: &str| range::number(t).map_err(|e| e.to_string());
    let span = PortRange { low: num(low)?, high: num(high)? };
    if span.is_empty() {
        return Err(format!("empty range {low}-{high}"));
    }
    Ok(span)
}

/// Parse `ip_local_reserved_ports`: comma-separated ports and ranges (`8080,9000-9010`), possibly empty.
/// The result is sorted with overlaps merged.
pub fn parse_reserved_ports(text: &str) -> Result<Vec<PortRange>, String> {
    let mut out = Vec::new();
    for part in text.trim().split(',').map(str::trim).filter(|p| !p.is_empty()) {
        out.push(range::parse_range(part, None).map_err(|e| format!("'{part}': {e}"))?);
    }
    out.sort();
    let mut merged: Vec<PortRange> = Vec::with_capacity(out.len());
    for s in out {
        match merged.last_mut() {
            Some(last) if u32::from(s.low) <= u32::from(last.high) + 1 => last.high = last.high.max(s.high),
            _ => merged.push(s),
        }
    }
    Ok(merged)
}

/// The sockets of one (protocol, local address, remote address, remote port): each holds a local port from
/// the ephemeral range, and all of them together may hold at most [`HostPorts::capacity`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pressure {
    /// The network namespace the tuple lies in (the snapshot's index): ports are per namespace, so the same
    /// tuple in two namespaces is two tuples, each with the whole range.
    #[serde(skip)]
    pub netns: NetnsId,
    pub proto: Proto,
    pub local_address: IpAddr,
    pub remote_address: IpAddr,
    pub remote_port: u16,
    /// Sockets holding a port for this tuple, TIME-WAIT included.
    pub sockets: u32,
    /// Of which in TIME-WAIT.
    pub time_wait: u32,
    /// Ports this tuple can use at most.
    pub capacity: u32,
    /// `sockets` as a percentage of `capacity` (100 and more when the capacity is 0).
    pub percent: f64,
}

impl Pressure {
    /// True when the tuple uses more than `threshold_pct` percent of the range.
    pub fn over(&self, threshold_pct: f64) -> bool {
        self.percent > threshold_pct
    }
}

/// Ephemeral-port use of outbound sockets, busiest tuple first: the one verdict of the dashboard, the
/// exporter and `audit`, in one pass over every namespace of the snapshot.
///
/// An outbound socket is a TCP or UDP socket that is not a listener, is connected (has a remote port), and
/// whose local port is in the ephemeral range and is not the port of a listener of the same protocol in the
/// same namespace (so the connections a server on an in-range port accepted are not counted). TIME-WAIT
/// sockets count: they keep their port until the timer ends (reused early only with
/// `net.ipv4.tcp_tw_reuse`). Tuples are keyed by namespace (see [`Pressure::netns`]); the range is `host`'s
/// for every namespace. Nothing is kept between calls: a namespace that is gone has no tuple.
pub fn ephemeral_pressure(socks: &[Socket], host: &HostPorts) -> Vec<Pressure> {
    ephemeral_pressure_of(socks, 0..socks.len(), host)
}

/// [`ephemeral_pressure`] counting only the sockets at indexes `which` (the dashboard passes the members of
/// its large outbound groups); listeners are still looked for among all of `socks`.
pub fn ephemeral_pressure_of(
    socks: &[Socket],
    which: impl IntoIterator<Item = usize>,
    host: &HostPorts,
) -> Vec<Pressure> {
    let listening: FastSet<(NetnsId, Proto, u16)> =
        socks.iter().filter(|s| s.is_listener()).filter_map(|s| Some((s.netns, s.proto, s.local.port()?))).collect();
    let mut counts: FastMap<Tuple, (u32, u32)> = FastMap::default();
    for s in which.into_iter().filter_map(|i| socks.get(i)) {
        if !matches!(s.proto, Proto::Tcp | Proto::Udp) || s.is_listener() {
            continue;
        }
        let (Endpoint::Inet { ip: lip, port: lport }, Endpoint::Inet { ip: rip, port: rport }) = (&s.local, &s.peer)
        else {
            continue;
        };
        if *rport == 0 || !host.is_ephemeral(*lport) || listening.contains(&(s.netns, s.proto, *lport)) {
            continue;
        }
        let c = counts.entry((s.netns, s.proto, *lip, *rip, *rport)).or_insert((0, 0));
        c.0 += 1;
        if s.state == State::TIME_WAIT {
            c.1 += 1;
        }
    }
    let capacity = host.capacity();
    let mut out: Vec<Pressure> = counts
        .into_iter()
        .map(|((netns, proto, l, r, rport), (n, tw))| Pressure {
            netns,
            proto,
            local_address: l,
            remote_address: r,
            remote_port: rport,
            sockets: n,
            time_wait: tw,
            capacity,
            percent: if capacity == 0 { 100.0 } else { f64::from(n) * 100.0 / f64::from(capacity) },
        })
        .collect();
    out.sort_by(|a, b| b.sockets.cmp(&a.sockets).then_with(|| a.tuple().cmp(&b.tuple())));
    out
}

/// A tuple's identity: namespace, protocol, local address, remote address and port.
type Tuple = (NetnsId, Proto, IpAddr, IpAddr, u16);

impl Pressure {
    fn tuple(&self) -> Tuple {
        (self.netns, self.proto, self.local_address, self.remote_address, self.remote_port)
    }
}

/// The busiest tuple towards one remote endpoint in one namespace (the dashboard's outbound group), if any.
pub fn pressure_towards(
    pressures: &[Pressure],
    netns: NetnsId,
    proto: Proto,
    ip: IpAddr,
    port: u16,
) -> Option<&Pressure> {
    // Sorted busiest first, so the first match is the worst.
    pressures.iter().find(|p| p.netns == netns && p.proto == proto && p.remote_address == ip && p.remote_port == port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn sock(proto: Proto, state: State, l: (Ipv4Addr, u16), r: (Ipv4Addr, u16)) -> Socket {
        Socket { inode: 1, ..Socket::inet(proto, state, (l.0.into(), l.1), (r.0.into(), r.1)) }
    }

    #[test]
    fn classes() {
        assert_eq!(PortClass::of(0), PortClass::WellKnown);
        assert_eq!(PortClass::of(1023), PortClass::WellKnown);
        assert_eq!(PortClass::of(1024), PortClass::Registered);
        assert_eq!(PortClass::of(49151), PortClass::Registered);
        assert_eq!(PortClass::of(49152), PortClass::Dynamic);
        assert_eq!(PortClass::of(65535), PortClass::Dynamic);
        assert_eq!(PortClass::parse("Well_Known"), Some(PortClass::WellKnown));
        assert_eq!(PortClass::parse("private"), Some(PortClass::Dynamic));
        assert_eq!(PortClass::parse("ephemeral"), None);
        for c in [PortClass::WellKnown, PortClass::Registered, PortClass::Dynamic] {
            assert_eq!(PortClass::parse(c.name()), Some(c));
            assert_eq!(PortClass::of(c.range().low), c);
            assert_eq!(PortClass::of(c.range().high), c);
        }
    }

    #[test]
    fn sysctl_parsers() {
        assert_eq!(parse_local_port_range("32768\t60999\n"), Ok(PortRange { low: 32768, high: 60999 }));
        assert!(parse_local_port_range("5 4").is_err());
        assert!(parse_local_port_range("1").is_err());
        assert!(parse_local_port_range("1 2 3").is_err());
        assert!(parse_local_port_range("a 99999").is_err());
        assert_eq!(parse_reserved_ports("\n"), Ok(vec![]));
        let r = parse_reserved_ports("9000-9010,8080,9005-9020,9021\n").unwrap();
        assert_eq!(r, vec![PortRange { low: 8080, high: 8080 }, PortRange { low: 9000, high: 9021 }]);
        assert!(parse_reserved_ports("80,x").is_err());
        assert!(parse_reserved_ports("90-80").is_err());
    }

    #[test]
    fn capacity_subtracts_reserved_ports_inside_the_range() {
        let h = HostPorts {
            ephemeral: PortRange { low: 40000, high: 40039 },
            reserved: vec![PortRange { low: 80, high: 80 }, PortRange { low: 40030, high: 40049 }],
        };
        assert_eq!(h.ephemeral.len(), 40);
        assert_eq!(h.reserved_in_range(), 10);
        assert_eq!(h.capacity(), 30);
        assert!(h.is_reserved(40035) && !h.is_reserved(40029) && h.is_ephemeral(40000));
    }

    #[test]
    fn reads_a_proc_root() {
        let dir = std::env::temp_dir().join(format!("sockscope-ports-{}", std::process::id()));
        let ipv4 = dir.join("sys/net/ipv4");
        std::fs::create_dir_all(&ipv4).unwrap();
        std::fs::write(ipv4.join("ip_local_port_range"), "40000\t40039\n").unwrap();
        let h = HostPorts::read(&dir).unwrap();
        assert_eq!((h.ephemeral.len(), h.reserved.len()), (40, 0));
        std::fs::write(ipv4.join("ip_local_reserved_ports"), "40000-40001\n").unwrap();
        assert_eq!(HostPorts::read(&dir).unwrap().capacity(), 38);
        std::fs::write(ipv4.join("ip_local_port_range"), "garbage\n").unwrap();
        assert!(matches!(HostPorts::read(&dir), Err(PortsError::Parse { .. })));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(HostPorts::read(&dir), Err(PortsError::Io { .. })));
    }

    #[test]
    fn pressure_counts_outbound_tuples_only() {
        let lo = Ipv4Addr::LOCALHOST;
        let other = Ipv4Addr::new(10, 0, 0, 1);
        let h = HostPorts { ephemeral: PortRange { low: 40000, high: 40039 }, reserved: vec![] };
        let mut socks = vec![sock(Proto::Tcp, State::LISTEN, (lo, 5000), (Ipv4Addr::UNSPECIFIED, 0))];
        for i in 0..30u16 {
            let st = if i < 4 { State::TIME_WAIT } else { State::ESTABLISHED };
            socks.push(sock(Proto::Tcp, st, (lo, 40000 + i), (lo, 5000)));
            // The accepted end: local port 5000, outside the range.
            socks.push(sock(Proto::Tcp, State::ESTABLISHED, (lo, 5000), (lo, 40000 + i)));
        }
        // Another destination, a UDP one, one outside the range, and one on an in-range listening port.
        socks.push(sock(Proto::Tcp, State::ESTABLISHED, (lo, 40001), (other, 443)));
        socks.push(sock(Proto::Udp, State::ESTABLISHED, (lo, 40002), (other, 53)));
        socks.push(sock(Proto::Tcp, State::ESTABLISHED, (lo, 50000), (other, 443)));
        socks.push(sock(Proto::Tcp, State::LISTEN, (lo, 40038), (Ipv4Addr::UNSPECIFIED, 0)));
        socks.push(sock(Proto::Tcp, State::ESTABLISHED, (lo, 40038), (other, 33333)));
        let p = ephemeral_pressure(&socks, &h);
        assert_eq!(p.len(), 3, "{p:#?}");
        let top = &p[0];
        assert_eq!((top.sockets, top.time_wait, top.capacity, top.remote_port), (30, 4, 40, 5000));
        assert_eq!(top.percent, 75.0);
        assert!(top.over(50.0) && !top.over(75.0));
        assert!(p[1..].iter().all(|x| x.sockets == 1));
        assert_eq!(p[2].proto, Proto::Udp);
        assert_eq!(pressure_towards(&p, 0, Proto::Tcp, lo.into(), 5000).map(|x| x.sockets), Some(30));
        assert!(pressure_towards(&p, 0, Proto::Udp, lo.into(), 5000).is_none());
        assert!(pressure_towards(&p, 1, Proto::Tcp, lo.into(), 5000).is_none());
        let none = HostPorts { ephemeral: PortRange { low: 40000, high: 40000 }, reserved: vec![h.ephemeral] };
        assert_eq!(ephemeral_pressure(&socks[..2], &none)[0].percent, 100.0);
    }

    /// Two namespaces with the same tuple: two tuples, each against the whole range; a listener in one does
    /// not hide the other's outbound sockets on its port.
    #[test]
    fn pressure_is_per_namespace() {
        let lo = Ipv4Addr::LOCALHOST;
        let h = HostPorts { ephemeral: PortRange { low: 40000, high: 40039 }, reserved: vec![] };
        let in_ns = |netns, s: Socket| Socket { netns, ..s };
        let mut socks = Vec::new();
        for i in 0..25u16 {
            socks.push(in_ns(1, sock(Proto::Tcp, State::ESTABLISHED, (lo, 40000 + i), (lo, 5000))));
        }
        for i in 0..10u16 {
            socks.push(in_ns(2, sock(Proto::Tcp, State::ESTABLISHED, (lo, 40000 + i), (lo, 5000))));
        }
        // A listener on 40001 in namespace 2 only: namespace 1's socket from 40001 still counts, namespace 2's
        // does not.
        socks.push(in_ns(2, sock(Proto::Tcp, State::LISTEN, (lo, 40001), (Ipv4Addr::UNSPECIFIED, 0))));
        let p = ephemeral_pressure(&socks, &h);
        let got: Vec<(NetnsId, u32)> = p.iter().map(|x| (x.netns, x.sockets)).collect();
        assert_eq!(got, [(1, 25), (2, 9)]);
        assert!(p[0].over(50.0) && !p[1].over(50.0), "one namespace's sockets do not fill the other's range");
        assert_eq!(pressure_towards(&p, 2, Proto::Tcp, lo.into(), 5000).map(|x| x.sockets), Some(9));
        // Namespace 1 is gone: the next pass has nothing of it.
        socks.retain(|s| s.netns != 1);
        let p = ephemeral_pressure(&socks, &h);
        assert_eq!(p.iter().map(|x| (x.netns, x.sockets)).collect::<Vec<_>>(), [(2, 9)]);
    }
}
