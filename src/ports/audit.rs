//! The exposure audit, pure: which listening endpoints (TCP LISTEN, bound unconnected UDP) are reachable from
//! where, and which of them deserve a flag (a risky service not confined to loopback, a privileged port not
//! owned by root). No I/O: `commands::audit` collects and prints.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use crate::model::{Endpoint, Proto, Socket};
use crate::ports::services::Services;

/// Who can reach a listening endpoint, as far as its bound address says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reach {
    /// 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104, or any address on a socket bound to the loopback device.
    Loopback,
    /// One address that is not loopback.
    Specific,
    /// 0.0.0.0.
    AllIpv4,
    /// :: without IPV6_V6ONLY: every IPv6 and IPv4 address.
    AllDualStack,
    /// :: with IPV6_V6ONLY.
    AllIpv6Only,
    /// :: where the source cannot say whether IPV6_V6ONLY is set (`/proc` does not show it).
    AllIpv6,
}

impl Reach {
    /// True for everything but loopback.
    pub fn exposed(self) -> bool {
        self != Reach::Loopback
    }

    /// `loopback`, `specific`, `all-ipv4`, ... (the JSON value).
    pub fn name(self) -> &'static str {
        match self {
            Reach::Loopback => "loopback",
            Reach::Specific => "specific",
            Reach::AllIpv4 => "all-ipv4",
            Reach::AllDualStack => "all-dual-stack",
            Reach::AllIpv6Only => "all-ipv6-only",
            Reach::AllIpv6 => "all-ipv6",
        }
    }

    /// Where the endpoint accepts traffic, in words, for the bound address `ip`.
    pub fn describe(self, ip: IpAddr) -> String {
        match self {
            Reach::Loopback => "loopback only".into(),
            Reach::Specific => format!("{} only ({} address)", ip, address_kind(ip)),
            Reach::AllIpv4 => "all IPv4 addresses".into(),
            Reach::AllDualStack => "all IPv4 and IPv6 addresses (dual-stack)".into(),
            Reach::AllIpv6Only => "all IPv6 addresses (IPv6-only)".into(),
            Reach::AllIpv6 => "all IPv6 addresses (and IPv4 unless IPV6_V6ONLY: unknown from this source)".into(),
        }
    }
}

impl fmt::Display for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `private`, `link-local`, `shared (CGNAT)`, `unique-local`, `multicast`, `public`.
pub fn address_kind(ip: IpAddr) -> &'static str {
    let v4 = |a: Ipv4Addr| {
        let o = a.octets();
        if a.is_loopback() {
            "loopback"
        } else if a.is_private() {
            "private"
        } else if a.is_link_local() {
            "link-local"
        } else if o[0] == 100 && (64..128).contains(&o[1]) {
            "shared (CGNAT)"
        } else if a.is_multicast() {
            "multicast"
        } else {
            "public"
        }
    };
    match ip {
        IpAddr::V4(a) => v4(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(m) => v4(m),
            None if a.is_loopback() => "loopback",
            None if (a.segments()[0] & 0xfe00) == 0xfc00 => "unique-local",
            None if (a.segments()[0] & 0xffc0) == 0xfe80 => "link-local",
            None if a.is_multicast() => "multicast",
            None => "public",
        },
    }
}

/// True for 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_loopback(),
        IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|m| m.is_loopback()),
    }
}

/// What the audit needs to know beyond the sockets. `sockscope audit` and the dashboard use the same, so they
/// give the same verdict for the same socket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuditOptions {
    /// The loopback device's index: a socket bound to it (`SO_BINDTODEVICE`) is loopback-only whatever its
    /// address. `None` when unknown.
    pub loopback_ifindex: Option<u32>,
    /// Ephemeral-port pressure above this percentage of the usable range is flagged (above 0, at most 100).
    pub threshold_pct: f64,
}

impl AuditOptions {
    /// The pressure threshold when none is given: half the range.
    pub const DEFAULT_THRESHOLD_PCT: f64 = 50.0;
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions { loopback_ifindex: None, threshold_pct: Self::DEFAULT_THRESHOLD_PCT }
    }
}

/// The reachability of an IPv4/IPv6 socket (`None` for UNIX sockets).
pub fn reachability(s: &Socket, opts: &AuditOptions) -> Option<Reach> {
    let Endpoint::Inet { ip, .. } = s.local else { return None };
    let on_lo = opts.loopback_ifindex.is_some_and(|lo| s.ifindex == Some(lo));
    Some(match ip {
        _ if is_loopback(ip) || on_lo => Reach::Loopback,
        IpAddr::V4(a) if a.is_unspecified() => Reach::AllIpv4,
        IpAddr::V6(a) if a.is_unspecified() => match s.v6only {
            Some(false) => Reach::AllDualStack,
            Some(true) => Reach::AllIpv6Only,
            None => Reach::AllIpv6,
        },
        _ => Reach::Specific,
    })
}

/// Why a kind of service should not face untrusted networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    ClearText,
    FileSharing,
    Rpc,
    Database,
    Cache,
    MessageBroker,
    AdminApi,
    RemoteDesktop,
    Amplifier,
}

impl Category {
    pub fn name(self) -> &'static str {
        match self {
            Category::ClearText => "clear-text login",
            Category::FileSharing => "file sharing",
            Category::Rpc => "RPC",
            Category::Database => "database",
            Category::Cache => "cache",
            Category::MessageBroker => "message broker",
            Category::AdminApi => "admin API",
            Category::RemoteDesktop => "remote desktop",
            Category::Amplifier => "UDP amplifier",
        }
    }
}

/// A port range that should not face untrusted networks.
#[derive(Debug, Clone, Copy)]
pub struct Risk {
    pub first: u16,
    pub last: u16,
    pub tcp: bool,
    pub udp: bool,
    /// The service, as an operator knows it.
    pub what: &'static str,
    pub category: Category,
    /// Why, in one clause.
    pub why: &'static str,
}

const fn r(
    first: u16,
    last: u16,
    tcp: bool,
    udp: bool,
    what: &'static str,
    category: Category,
    why: &'static str,
) -> Risk {
    Risk { first, last, tcp, udp, what, category, why }
}

use Category::*;

/// The services flagged when they are reachable beyond loopback, by port.
pub const RISKY: &[Risk] = &[
    r(23, 23, true, false, "telnet", ClearText, "logins and passwords cross the network in clear text; use SSH"),
    r(69, 69, false, true, "tftp", FileSharing, "TFTP has no authentication at all"),
    r(111, 111, true, true, "rpcbind", Rpc, "the RPC port mapper reveals RPC services and is a DDoS amplifier"),
    r(135, 135, true, true, "msrpc", Rpc, "the Windows RPC endpoint mapper is a long-standing attack target"),
    r(137, 139, true, true, "NetBIOS", FileSharing, "NetBIOS leaks host and share names and carries old SMB"),
    r(161, 161, false, true, "snmp", AdminApi, "SNMP v1/v2c community strings are clear text and often guessable"),
    r(445, 445, true, false, "SMB", FileSharing, "SMB is a prime target for worms and credential attacks"),
    r(512, 514, true, false, "r-services", ClearText, "rexec/rlogin/rsh trust host names and send clear text"),
    r(873, 873, true, false, "rsync daemon", FileSharing, "rsync modules are often readable without a password"),
    r(1433, 1433, true, false, "mssql", Database, "databases should be reached through the application, not directly"),
    r(1521, 1521, true, false, "oracle", Database, "databases should be reached through the application, not directly"),
    r(1900, 1900, false, true, "ssdp", Amplifier, "SSDP answers spoofed requests with large replies (DDoS amplifier)"),
    r(2049, 2049, true, true, "nfs", FileSharing, "NFS trusts client-supplied uids unless Kerberos is configured"),
    r(2181, 2181, true, false, "zookeeper", AdminApi, "ZooKeeper has no authentication by default"),
    r(
        2375,
        2375,
        true,
        false,
        "docker API",
        AdminApi,
        "the plain Docker API is unauthenticated root access to the host",
    ),
    r(
        2379,
        2380,
        true,
        false,
        "etcd",
        Database,
        "etcd holds cluster secrets and often runs without client certificates",
    ),
    r(3306, 3306, true, false, "mysql", Database, "databases should be reached through the application, not directly"),
    r(3389, 3389, true, true, "rdp", RemoteDesktop, "exposed RDP is a constant brute-force and exploit target"),
    r(4369, 4369, true, false, "epmd", AdminApi, "the Erlang port mapper leads to the Erlang distribution port"),
    r(
        5432,
        5432,
        true,
        false,
        "postgresql",
        Database,
        "databases should be reached through the application, not directly",
    ),
    r(
        5900,
        5903,
        true,
        false,
        "vnc",
        RemoteDesktop,
        "VNC passwords are weak (8 characters) and traffic is unencrypted",
    ),
    r(
        5984,
        5984,
        true,
        false,
        "couchdb",
        Database,
        "databases should be reached through the application, not directly",
    ),
    r(6000, 6007, true, false, "X11", RemoteDesktop, "an open X server lets anyone read keystrokes and the screen"),
    r(6379, 6379, true, false, "redis", Cache, "Redis has no authentication by default and can be made to write files"),
    r(
        8086,
        8086,
        true,
        false,
        "influxdb",
        Database,
        "databases should be reached through the application, not directly",
    ),
    r(8500, 8500, true, false, "consul", AdminApi, "the Consul HTTP API has no ACLs by default"),
    r(
        9042,
        9042,
        true,
        false,
        "cassandra",
        Database,
        "databases should be reached through the application, not directly",
    ),
    r(9090, 9090, true, false, "prometheus", AdminApi, "Prometheus exposes its targets and an admin API without auth"),
    r(9092, 9092, true, false, "kafka", MessageBroker, "Kafka accepts unauthenticated clients by default"),
    r(
        9200,
        9200,
        true,
        false,
        "elasticsearch",
        Database,
        "Elasticsearch/OpenSearch without security is readable and writable by anyone",
    ),
    r(
        9300,
        9300,
        true,
        false,
        "elasticsearch transport",
        Database,
        "the node-to-node transport should stay on the cluster network",
    ),
    r(10250, 10250, true, false, "kubelet", AdminApi, "the kubelet API can run commands in pods if misconfigured"),
    r(
        10255,
        10255,
        true,
        false,
        "kubelet read-only",
        AdminApi,
        "the read-only kubelet port leaks pod specs without auth",
    ),
    r(
        11211,
        11211,
        true,
        true,
        "memcached",
        Cache,
        "memcached has no authentication and its UDP side is a DDoS amplifier",
    ),
    r(26379, 26379, true, false, "redis sentinel", Cache, "Sentinel has no authentication by default"),
    r(
        27017,
        27019,
        true,
        false,
        "mongodb",
        Database,
        "MongoDB deployments without auth are routinely wiped and ransomed",
    ),
    r(
        33060,
        33060,
        true,
        false,
        "mysqlx",
        Database,
        "databases should be reached through the application, not directly",
    ),
];

/// The risk of a listening (protocol, port), if it is a service that should not face untrusted networks.
pub fn risk_of(proto: Proto, port: u16) -> Option<&'static Risk> {
    RISKY
        .iter()
        .find(|r| (r.first..=r.last).contains(&port) && (proto == Proto::Tcp && r.tcp || proto == Proto::Udp && r.udp))
}

/// What a flag is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlagKind {
    /// A risky service ([`RISKY`]) reachable beyond loopback.
    ExposedService,
    /// A port below 1024 held by a socket whose owner is not root.
    PrivilegedNotRoot,
}

impl FlagKind {
    /// `exposed-service`, `privileged-not-root` (the JSON value).
    pub fn name(self) -> &'static str {
        match self {
            FlagKind::ExposedService => "exposed-service",
            FlagKind::PrivilegedNotRoot => "privileged-not-root",
        }
    }
}

/// One audit finding on a listener, with its reason in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    pub kind: FlagKind,
    /// The risky service's category (`database`, ...) for `exposed-service`; `null` otherwise.
    pub category: Option<Category>,
    pub reason: String,
}

/// The flags of one listening socket (empty when it is fine or is not a listener).
pub fn assess(s: &Socket, opts: &AuditOptions) -> Vec<Flag> {
    let (Some(reach), Endpoint::Inet { ip, port }) = (reachability(s, opts), &s.local) else { return Vec::new() };
    if !s.is_listener() {
        return Vec::new();
    }
    let mut flags = Vec::new();
    if let Some(risk) = risk_of(s.proto, *port).filter(|_| reach.exposed()) {
        flags.push(Flag {
            kind: FlagKind::ExposedService,
            category: Some(risk.category),
            reason: format!(
                "{} ({}) reachable on {}: {}; bind it to 127.0.0.1 or keep it behind a firewall",
                risk.what,
                risk.category.name(),
                reach.describe(*ip),
                risk.why
            ),
        });
    }
    if *port < 1024
        && let Some(uid) = s.uid.filter(|u| *u != 0)
    {
        flags.push(Flag {
            kind: FlagKind::PrivilegedNotRoot,
            category: None,
            reason: format!(
                "port {port} is privileged (below 1024) but the socket belongs to uid {uid}, not root: a daemon that \
                 dropped privileges after binding, or net.ipv4.ip_unprivileged_port_start was lowered so any user \
                 may bind it; check that this is the service you expect"
            ),
        });
    }
    flags
}

/// One listening endpoint of the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub proto: Proto,
    pub address: IpAddr,
    pub port: u16,
    /// `SO_BINDTODEVICE` interface index, when bound to one.
    pub ifindex: Option<u32>,
    pub reach: Reach,
    /// Reachable beyond loopback (`reach` is not `loopback`).
    pub exposed: bool,
    /// Service name for the port (file, then built-in table).
    pub service: Option<String>,
    /// Owner uid of the (first) socket.
    pub uid: Option<u32>,
    /// Inode of the (first) socket.
    pub inode: u64,
    /// Sockets on this endpoint (more than one with SO_REUSEPORT).
    pub sockets: u32,
    /// The owning process, when known. Not filled in by [`audit`]: the caller attributes it (by inode).
    pub process: Option<String>,
    pub flags: Vec<Flag>,
    /// The network namespace (index in the snapshot's table): endpoints in different namespaces are apart.
    #[serde(skip)]
    pub netns: crate::model::netns::NetnsId,
    /// The namespace and container label, with `--all-netns`. Filled in by the caller, like `process`.
    pub namespace: Option<String>,
}

/// Every listening endpoint of `socks` (TCP LISTEN and bound unconnected UDP; UNIX sockets are not reachable
/// over the network and are left out), one per (protocol, address, port, device), with its flags. Sorted by
/// protocol, port, address.
pub fn audit(socks: &[Socket], services: &Services, opts: &AuditOptions) -> Vec<Listener> {
    let mut out: Vec<Listener> = Vec::new();
    type Key = (Proto, IpAddr, u16, Option<u32>, Option<bool>, crate::model::netns::NetnsId);
    let mut index: std::collections::HashMap<Key, usize> = std::collections::HashMap::new();
    for s in socks.iter().filter(|s| s.is_listener()) {
        let (Some(reach), Endpoint::Inet { ip, port }) = (reachability(s, opts), &s.local) else { continue };
        let ifindex = s.ifindex.filter(|i| *i != 0);
        let key = (s.proto, *ip, *port, ifindex, s.v6only, s.netns);
        let flags = assess(s, opts);
        match index.get(&key) {
            Some(&i) => {
                let l = &mut out[i];
                l.sockets += 1;
                for f in flags {
                    if !l.flags.iter().any(|g| g.kind == f.kind) {
                        l.flags.push(f);
                    }
                }
            }
            None => {
                index.insert(key, out.len());
                out.push(Listener {
                    proto: s.proto,
                    address: *ip,
                    port: *port,
                    ifindex,
                    reach,
                    exposed: reach.exposed(),
                    service: services.name(s.proto, *port).map(str::to_string),
                    uid: s.uid,
                    inode: s.inode,
                    sockets: 1,
                    process: None,
                    flags,
                    netns: s.netns,
                    namespace: None,
                });
            }
        }
    }
    out.sort_by_key(|l| (l.proto, l.port, l.address, l.ifindex, l.netns));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, State};
    use std::net::Ipv6Addr;

    fn listener(proto: Proto, ip: IpAddr, port: u16, uid: u32, v6only: Option<bool>) -> Socket {
        let any: IpAddr = if ip.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
        Socket {
            proto,
            family: if ip.is_ipv4() { Family::Inet } else { Family::Inet6 },
            state: if proto == Proto::Tcp { State::LISTEN } else { State::CLOSE },
            local: Endpoint::Inet { ip, port },
            peer: Endpoint::Inet { ip: any, port: 0 },
            recv_q: Some(0),
            send_q: Some(128),
            uid: Some(uid),
            inode: 7,
            cookie: None,
            ifindex: Some(0),
            v6only,
            unix_kind: None,
            timer: None,
            mark: None,
            extra: None,
            netns: 0,
        }
    }

    const OPTS: AuditOptions = AuditOptions { loopback_ifindex: Some(1), threshold_pct: 50.0 };

    #[test]
    fn equal_endpoints_in_two_namespaces_stay_apart() {
        let a = listener(Proto::Tcp, Ipv4Addr::UNSPECIFIED.into(), 8080, 0, None);
        let b = Socket { netns: 3, ..a.clone() };
        let l = audit(&[a.clone(), b, a], &Services::default(), &OPTS);
        assert_eq!(l.iter().map(|l| (l.netns, l.sockets)).collect::<Vec<_>>(), vec![(0, 2), (3, 1)]);
    }

    #[test]
    fn reachability_classes() {
        let v4 = |s: &str| -> IpAddr { s.parse().unwrap() };
        let cases = [
            ("127.0.0.1", None, Reach::Loopback),
            ("127.8.9.10", None, Reach::Loopback),
            ("::1", Some(true), Reach::Loopback),
            ("::ffff:127.0.0.1", Some(false), Reach::Loopback),
            ("0.0.0.0", None, Reach::AllIpv4),
            ("::", Some(false), Reach::AllDualStack),
            ("::", Some(true), Reach::AllIpv6Only),
            ("::", None, Reach::AllIpv6),
            ("10.1.2.3", None, Reach::Specific),
            ("fe80::1", Some(true), Reach::Specific),
        ];
        for (ip, v6only, want) in cases {
            let s = listener(Proto::Tcp, v4(ip), 6379, 0, v6only);
            assert_eq!(reachability(&s, &OPTS), Some(want), "{ip}");
        }
        let mut on_lo = listener(Proto::Tcp, v4("0.0.0.0"), 6379, 0, None);
        on_lo.ifindex = Some(1);
        assert_eq!(reachability(&on_lo, &OPTS), Some(Reach::Loopback));
        assert_eq!(address_kind(v4("10.1.2.3")), "private");
        assert_eq!(address_kind(v4("100.64.0.1")), "shared (CGNAT)");
        assert_eq!(address_kind(v4("203.0.113.9")), "public");
        assert_eq!(address_kind(v4("fd00::1")), "unique-local");
        assert_eq!(address_kind(v4("fe80::1")), "link-local");
        assert!(Reach::Specific.describe(v4("10.1.2.3")).contains("10.1.2.3 only (private address)"));
    }

    #[test]
    fn risky_services_flagged_only_beyond_loopback() {
        let lo = listener(Proto::Tcp, Ipv4Addr::LOCALHOST.into(), 6379, 0, None);
        assert!(assess(&lo, &OPTS).is_empty());
        let all = listener(Proto::Tcp, Ipv4Addr::UNSPECIFIED.into(), 6379, 0, None);
        let f = assess(&all, &OPTS);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].kind, f[0].category), (FlagKind::ExposedService, Some(Category::Cache)));
        assert!(f[0].reason.starts_with("redis (cache) reachable on all IPv4 addresses: "), "{}", f[0].reason);
        let v6 = listener(Proto::Tcp, Ipv6Addr::UNSPECIFIED.into(), 27018, 0, Some(false));
        assert!(assess(&v6, &OPTS)[0].reason.contains("mongodb (database) reachable on all IPv4 and IPv6"));
        // memcached's UDP side too, but not a UDP socket on a TCP-only risk's port.
        assert_eq!(assess(&listener(Proto::Udp, Ipv4Addr::UNSPECIFIED.into(), 11211, 0, None), &OPTS).len(), 1);
        assert!(assess(&listener(Proto::Udp, Ipv4Addr::UNSPECIFIED.into(), 6379, 0, None), &OPTS).is_empty());
        // Fine services are not flagged anywhere.
        assert!(assess(&listener(Proto::Tcp, Ipv4Addr::UNSPECIFIED.into(), 443, 0, None), &OPTS).is_empty());
        // A connected socket on a risky port is not a listener.
        let mut est = all.clone();
        est.state = State::ESTABLISHED;
        assert!(assess(&est, &OPTS).is_empty());
    }

    #[test]
    fn privileged_port_not_owned_by_root() {
        let s = listener(Proto::Tcp, Ipv4Addr::LOCALHOST.into(), 80, 33, None);
        let f = assess(&s, &OPTS);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FlagKind::PrivilegedNotRoot);
        assert!(f[0].reason.contains("uid 33"));
        assert!(assess(&listener(Proto::Tcp, Ipv4Addr::LOCALHOST.into(), 1024, 33, None), &OPTS).is_empty());
        let mut unknown = s.clone();
        unknown.uid = None;
        assert!(assess(&unknown, &OPTS).is_empty());
        // Both flags at once.
        let both = listener(Proto::Tcp, Ipv4Addr::UNSPECIFIED.into(), 23, 1000, None);
        assert_eq!(assess(&both, &OPTS).len(), 2);
    }

    #[test]
    fn audit_merges_reuseport_sockets_and_sorts() {
        let services = Services::builtin();
        let mut socks = vec![
            listener(Proto::Tcp, Ipv4Addr::UNSPECIFIED.into(), 6379, 0, None),
            listener(Proto::Tcp, Ipv4Addr::UNSPECIFIED.into(), 6379, 0, None),
            listener(Proto::Tcp, Ipv4Addr::LOCALHOST.into(), 22, 0, None),
            listener(Proto::Udp, Ipv4Addr::LOCALHOST.into(), 53, 0, None),
        ];
        let mut client = listener(Proto::Tcp, Ipv4Addr::LOCALHOST.into(), 40000, 0, None);
        client.state = State::ESTABLISHED;
        socks.push(client);
        let l = audit(&socks, &services, &OPTS);
        assert_eq!(l.len(), 3);
        assert_eq!((l[0].port, l[0].service.as_deref(), l[0].reach), (22, Some("ssh"), Reach::Loopback));
        assert_eq!((l[1].port, l[1].sockets, l[1].flags.len()), (6379, 2, 1));
        assert_eq!((l[2].proto, l[2].service.as_deref()), (Proto::Udp, Some("domain")));
        assert!(l.iter().all(|x| x.process.is_none()));
    }
}
