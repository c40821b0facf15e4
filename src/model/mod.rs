//! The normalized socket record: the one type every layer above the collectors sees.
//!
//! States are kept as the kernel's own numbers (`TCP_ESTABLISHED` = 1, ...), because the kernel reuses the TCP
//! state numbers for every protocol: an unconnected UDP socket is `TCP_CLOSE`, a listening UNIX socket is
//! `TCP_LISTEN`. Filters therefore work on one bit set for all protocols, as in `ss`, and only the display name
//! depends on the protocol.

pub mod internals;
pub mod netns;
pub mod owners;
pub mod text;

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// Transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Unix,
    Raw,
    Sctp,
    Mptcp,
    /// `AF_PACKET` (link layer).
    Packet,
    /// `AF_NETLINK`.
    Netlink,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Unix => "unix",
            Proto::Raw => "raw",
            Proto::Sctp => "sctp",
            Proto::Mptcp => "mptcp",
            Proto::Packet => "packet",
            Proto::Netlink => "netlink",
        }
    }

    /// True for the protocols whose ends are IP addresses and ports.
    pub fn is_inet(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Udp | Proto::Raw | Proto::Sctp | Proto::Mptcp)
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Text that names no protocol (`Proto::from_str`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol '{}'", text::escape(.0))]
pub struct UnknownProto(pub String);

impl std::str::FromStr for Proto {
    type Err = UnknownProto;
    /// The inverse of [`Proto::name`] (exactly those words, lower case).
    fn from_str(s: &str) -> Result<Proto, UnknownProto> {
        const ALL: [Proto; 8] =
            [Proto::Tcp, Proto::Udp, Proto::Unix, Proto::Raw, Proto::Sctp, Proto::Mptcp, Proto::Packet, Proto::Netlink];
        ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| UnknownProto(s.to_string()))
    }
}

/// Address family of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Inet,
    Inet6,
    Unix,
    /// `AF_PACKET`, which `ss -f` calls `link`.
    Packet,
    Netlink,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
            Family::Unix => "unix",
            Family::Packet => "link",
            Family::Netlink => "netlink",
        }
    }
}

/// Kind of a UNIX socket (`SOCK_STREAM`, `SOCK_DGRAM`, `SOCK_SEQPACKET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnixKind {
    Stream,
    Dgram,
    Seqpacket,
    /// `SOCK_RAW` (packet sockets).
    Raw,
    /// A type number we do not know, kept as the kernel sent it.
    #[serde(untagged)]
    Other(u8),
}

impl UnixKind {
    pub fn from_raw(t: u32) -> UnixKind {
        match t {
            1 => UnixKind::Stream,
            2 => UnixKind::Dgram,
            3 => UnixKind::Raw,
            5 => UnixKind::Seqpacket,
            n => UnixKind::Other(n.min(255) as u8),
        }
    }

    /// The `Netid` column value `ss` uses.
    pub fn netid(self) -> &'static str {
        match self {
            UnixKind::Stream => "u_str",
            UnixKind::Dgram => "u_dgr",
            UnixKind::Seqpacket => "u_seq",
            // ss names every other type as a datagram socket.
            UnixKind::Raw | UnixKind::Other(_) => "u_dgr",
        }
    }
}

/// Socket state, as the kernel's TCP state number (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct State(pub u8);

impl State {
    pub const UNKNOWN: State = State(0);
    pub const ESTABLISHED: State = State(1);
    pub const SYN_SENT: State = State(2);
    pub const SYN_RECV: State = State(3);
    pub const FIN_WAIT1: State = State(4);
    pub const FIN_WAIT2: State = State(5);
    pub const TIME_WAIT: State = State(6);
    pub const CLOSE: State = State(7);
    pub const CLOSE_WAIT: State = State(8);
    pub const LAST_ACK: State = State(9);
    pub const LISTEN: State = State(10);
    pub const CLOSING: State = State(11);
    /// A request socket (a SYN answered, handshake not finished). The kernel reports these as SYN_RECV.
    pub const NEW_SYN_RECV: State = State(12);
    /// A TCP socket bound to a port but neither listening nor connected (Linux 6.5+, netlink only).
    pub const BOUND_INACTIVE: State = State(13);

    /// The bit of this state in a [`StateSet`].
    pub const fn bit(self) -> u32 {
        if self.0 < 32 { 1 << self.0 } else { 0 }
    }

    /// The name `ss` prints in its State column for this state and protocol.
    pub fn display_name(self, proto: Proto) -> &'static str {
        match (self.0, proto) {
            (7, Proto::Udp | Proto::Unix | Proto::Raw) => "UNCONN",
            (2, Proto::Unix) => "CONNECTING",
            (1, _) => "ESTAB",
            (2, _) => "SYN-SENT",
            (3, _) => "SYN-RECV",
            (4, _) => "FIN-WAIT-1",
            (5, _) => "FIN-WAIT-2",
            (6, _) => "TIME-WAIT",
            (7, _) => "UNCONN",
            (8, _) => "CLOSE-WAIT",
            (9, _) => "LAST-ACK",
            (10, _) => "LISTEN",
            (11, _) => "CLOSING",
            (12, _) => "NEW-SYN-RECV",
            (13, _) => "BOUND-INACTIVE",
            _ => "UNKNOWN",
        }
    }

    /// The lower-case name used in JSON and in `--state` (`established`, `time-wait`, ...).
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "established",
            2 => "syn-sent",
            3 => "syn-recv",
            4 => "fin-wait-1",
            5 => "fin-wait-2",
            6 => "time-wait",
            7 => "close",
            8 => "close-wait",
            9 => "last-ack",
            10 => "listen",
            11 => "closing",
            12 => "new-syn-recv",
            13 => "bound-inactive",
            _ => "unknown",
        }
    }
}

/// A set of [`State`]s as a bit mask (bit n = state n), the same layout as the kernel's `idiag_states`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StateSet(pub u32);

impl StateSet {
    pub const EMPTY: StateSet = StateSet(0);
    /// Every state `ss` knows as `all`: 1..=12. BOUND_INACTIVE must be asked for by name.
    pub const ALL: StateSet = StateSet(0x1ffe);
    /// `ss`'s default without `-a`/`-l`: everything but LISTEN, CLOSE (unconnected), TIME-WAIT and SYN-RECV.
    pub const CONNECTED_DEFAULT: StateSet = StateSet(
        Self::ALL.0
            & !(State::LISTEN.bit() | State::CLOSE.bit() | State::TIME_WAIT.bit() | State::SYN_RECV.bit())
            & !State::NEW_SYN_RECV.bit(),
    );

    pub fn of(states: &[State]) -> StateSet {
        StateSet(states.iter().fold(0, |m, s| m | s.bit()))
    }
    pub fn contains(self, s: State) -> bool {
        self.0 & s.bit() != 0
    }
    pub fn union(self, o: StateSet) -> StateSet {
        StateSet(self.0 | o.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The mask to send to the kernel: SYN_RECV also selects request sockets (NEW_SYN_RECV).
    pub fn kernel_mask(self) -> u32 {
        let mut m = self.0;
        if m & State::SYN_RECV.bit() != 0 {
            m |= State::NEW_SYN_RECV.bit();
        }
        m
    }
    /// The states in this set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = State> {
        (0u8..32).map(State).filter(move |s| self.contains(*s))
    }
}

/// A UNIX socket's bound name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UnixName {
    /// A filesystem path (bytes as the kernel gave them; not necessarily UTF-8).
    Path(Box<[u8]>),
    /// An abstract-namespace name, without the leading NUL byte. Shown as `@name`.
    Abstract(Box<[u8]>),
}

impl UnixName {
    /// Decode a `sun_path` as the kernel reports it: a leading NUL means an abstract name.
    pub fn from_sun_path(raw: &[u8]) -> Option<UnixName> {
        match raw.split_first() {
            None => None,
            Some((0, rest)) => Some(UnixName::Abstract(rest.into())),
            Some(_) => {
                let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                Some(UnixName::Path(raw[..end].into()))
            }
        }
    }

    /// Text form: `/run/x.sock`, or `@name` for an abstract name. Non-printable bytes are escaped as `\xNN`,
    /// NUL bytes inside an abstract name are shown as `@` as the kernel's `/proc/net/unix` does.
    pub fn display(&self) -> String {
        let (prefix, bytes) = match self {
            UnixName::Path(b) => ("", &b[..]),
            UnixName::Abstract(b) => ("@", &b[..]),
        };
        let mut s = String::with_capacity(prefix.len() + bytes.len());
        s.push_str(prefix);
        for (i, part) in bytes.split(|&b| b == 0).enumerate() {
            if i > 0 {
                s.push('@');
            }
            text::push_escaped_bytes(&mut s, part);
        }
        s
    }
}

/// The `Netid` column: `u_str`/`u_dgr`/`u_seq` for UNIX sockets, `p_raw`/`p_dgr` for packet sockets, `nl` for
/// netlink, else the protocol name.
pub fn netid(proto: Proto, kind: Option<UnixKind>) -> &'static str {
    match (proto, kind) {
        (Proto::Unix, Some(k)) => k.netid(),
        (Proto::Packet, Some(UnixKind::Raw)) => "p_raw",
        (Proto::Packet, _) => "p_dgr",
        (Proto::Netlink, _) => "nl",
        (p, _) => p.name(),
    }
}

/// One end of a socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// An IPv4 or IPv6 address and port. IPv4-mapped IPv6 addresses stay IPv6 (the socket is AF_INET6)
    /// and print in RFC 5952 form, `[::ffff:10.0.0.1]:443`.
    Inet { ip: IpAddr, port: u16 },
    /// A UNIX socket end: its name, if bound, and its inode (0 when unknown).
    Unix { name: Option<UnixName>, inode: u64 },
    /// A packet socket's bound end: the link-layer protocol (`ETH_P_*`, host order; 3 = every protocol) and
    /// the interface index (0 = every interface).
    Link { protocol: u16, ifindex: u32 },
    /// A netlink socket's own end: its netlink protocol (`NETLINK_ROUTE` = 0, ...) and port id (-1: unbound).
    Netlink { protocol: u8, portid: i32 },
    /// A connected netlink socket's destination: multicast group and port id (0 = the kernel).
    NetlinkPeer { group: u32, portid: u32 },
    /// No peer (packet sockets, unconnected netlink sockets).
    None,
}

impl Endpoint {
    /// The endpoint in a few characters, for screens and reports: `127.0.0.1:*`, `[::1]:443`,
    /// `/run/app.sock 1234`, `* 1234` (a UNIX name escaped, as [`UnixName::display`] does).
    pub fn short_text(&self) -> String {
        match self {
            Endpoint::Inet { ip, port } => {
                let port = if *port == 0 { "*".to_string() } else { port.to_string() };
                format!("{}:{port}", Bracketed(*ip))
            }
            Endpoint::Unix { name, inode } => match name {
                Some(n) => format!("{} {inode}", n.display()),
                None if *inode == 0 => "*".into(),
                None => format!("* {inode}"),
            },
            _ => "*".into(),
        }
    }

    pub fn port(&self) -> Option<u16> {
        match self {
            Endpoint::Inet { port, .. } => Some(*port),
            _ => None,
        }
    }
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Endpoint::Inet { ip, .. } => Some(*ip),
            _ => None,
        }
    }
    /// True for the wildcard address (0.0.0.0 or ::).
    pub fn is_unspecified(&self) -> bool {
        matches!(self, Endpoint::Inet { ip, .. } if ip.is_unspecified())
    }
}

/// Which timer is pending on a socket (`ss -o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimerKind {
    On,
    Keepalive,
    Timewait,
    Persist,
    /// A timer code we do not know, kept as the kernel sent it.
    #[serde(untagged)]
    Other(u8),
}

/// A pending socket timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timer {
    pub kind: TimerKind,
    /// Time left until it fires, in milliseconds (negative values from the kernel are clamped to 0).
    pub expires_ms: u64,
    /// Retransmissions or probes so far.
    pub retrans: u32,
}

impl Timer {
    /// Build from the kernel's timer code (as in `idiag_timer` and `/proc/net/tcp`'s `tr`): 0 none, 1 retransmit,
    /// 2 keepalive, 3 TIME_WAIT, 4 zero-window probe. Code 0 yields `None`.
    pub fn from_code(code: u8, expires_ms: u64, retrans: u32) -> Option<Timer> {
        let kind = match code {
            0 => return None,
            1 => TimerKind::On,
            2 => TimerKind::Keepalive,
            3 => TimerKind::Timewait,
            4 => TimerKind::Persist,
            n => TimerKind::Other(n),
        };
        Some(Timer { kind, expires_ms, retrans })
    }
}

/// The normalized record of one socket. Fields only one source can fill are `Option`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub proto: Proto,
    pub family: Family,
    pub state: State,
    pub local: Endpoint,
    pub peer: Endpoint,
    /// Bytes (or, for a listener, connections) waiting to be read / accepted. `None` where the source does
    /// not say (a UNIX socket read from `/proc`).
    pub recv_q: Option<u32>,
    /// Bytes not yet acknowledged; for a TCP listener the accept backlog limit. `None` where the source
    /// does not say (a TCP listener read from `/proc`, a UNIX socket read from `/proc`).
    pub send_q: Option<u32>,
    /// Owner uid. `None` for UNIX sockets from `/proc`, which does not show it.
    pub uid: Option<u32>,
    /// Socket inode (0 for TIME-WAIT and request sockets, which have no file).
    pub inode: u64,
    /// The kernel's socket cookie (netlink only).
    pub cookie: Option<u64>,
    /// Interface the socket is bound to (`SO_BINDTODEVICE`), 0 for none (netlink only).
    pub ifindex: Option<u32>,
    /// For an IPv6 socket, whether it is IPv6-only (`IPV6_V6ONLY`); `Some(false)` on a wildcard listener means
    /// dual-stack. netlink only; `None` otherwise.
    pub v6only: Option<bool>,
    /// Socket type of a UNIX or packet socket (`SOCK_STREAM`, `SOCK_DGRAM`, ...); `None` for others.
    pub unix_kind: Option<UnixKind>,
    pub timer: Option<Timer>,
    /// The socket mark (`SO_MARK`); netlink reports it only to CAP_NET_ADMIN.
    pub mark: Option<u32>,
    /// tcp_info, congestion control and memory, when asked for (`-i`, `-m`).
    pub extra: Option<Box<crate::model::internals::Extra>>,
    /// The network namespace, as an index into the snapshot's namespace table
    /// ([`netns::Namespaces`]); 0 when the collection looked at one namespace only.
    pub netns: netns::NetnsId,
}

impl Socket {
    /// Who this socket is from one dump to the next: the one identity rule of the dashboard, `watch`,
    /// `record` and `-E`. Its cookie; from `/proc`, which has none, a hash of its protocol and ends, with the
    /// inode only when it has no peer (SO_REUSEPORT siblings share their ends but never an inode, while a
    /// connection's inode turns 0 when its process lets go). The high bit marks a hash, so it never equals a
    /// cookie (the kernel counts cookies up from 1).
    pub fn identity(&self) -> u64 {
        if let Some(c) = self.cookie {
            return c;
        }
        let unconnected = match &self.peer {
            Endpoint::Inet { ip, port } => ip.is_unspecified() && *port == 0,
            Endpoint::None => true,
            _ => false,
        };
        let inode = if unconnected { self.inode } else { 0 };
        crate::hash::hash_one((self.proto, &self.local, &self.peer, inode)) | (1 << 63)
    }

    /// A TCP/UDP record with everything but its protocol, state and ends left plain: empty queues known to
    /// be 0, uid 0, no inode, and `None` for what only some sources give. The family follows the local address.
    pub fn inet(proto: Proto, state: State, local: (IpAddr, u16), peer: (IpAddr, u16)) -> Socket {
        Socket {
            proto,
            family: if local.0.is_ipv4() { Family::Inet } else { Family::Inet6 },
            state,
            local: Endpoint::Inet { ip: local.0, port: local.1 },
            peer: Endpoint::Inet { ip: peer.0, port: peer.1 },
            recv_q: Some(0),
            send_q: Some(0),
            uid: Some(0),
            inode: 0,
            cookie: None,
            ifindex: None,
            v6only: None,
            unix_kind: None,
            timer: None,
            mark: None,
            extra: None,
            netns: 0,
        }
    }

    /// A listening endpoint: a TCP LISTEN socket, or a bound (non-zero local port) UDP socket with no peer.
    /// The audit examines these, the dashboard groups the sockets on their port under them, and ephemeral-port
    /// pressure leaves them out.
    pub fn is_listener(&self) -> bool {
        match self.proto {
            Proto::Tcp => self.state == State::LISTEN,
            Proto::Udp => {
                self.state == State::CLOSE
                    && self.local.port().is_some_and(|p| p != 0)
                    && self.peer.port().is_none_or(|p| p == 0)
            }
            _ => false,
        }
    }

    /// `ss`'s Netid column: `tcp`, `udp`, `u_str`, ...
    pub fn netid(&self) -> &'static str {
        netid(self.proto, self.unix_kind)
    }

    /// The UNIX peer's inode, when the source knows it.
    pub fn unix_peer_inode(&self) -> Option<u64> {
        match &self.peer {
            Endpoint::Unix { inode, .. } if *inode != 0 => Some(*inode),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_their_text_are_bracketed_alike() {
        for a in ["127.0.0.1", "::1", "::ffff:10.0.0.1", "fe80::1"] {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(Bracketed(ip).to_string(), Bracketed(a).to_string(), "{a}");
        }
        assert_eq!(Bracketed("::1").to_string(), "[::1]");
        assert_eq!(Bracketed("host.example").to_string(), "host.example");
    }

    #[test]
    fn identity_is_the_cookie_else_the_ends_with_the_inode_only_without_a_peer() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        let mut a = Socket::inet(Proto::Tcp, State::ESTABLISHED, (lo, 80), (lo, 40000));
        a.cookie = Some(7);
        assert_eq!(a.identity(), 7);
        a.cookie = None;
        let mut b = a.clone();
        assert_eq!(a.identity(), b.identity());
        // A connection keeps its identity when its process lets go (the inode turns 0).
        a.inode = 99;
        assert_eq!(a.identity(), b.identity());
        assert_ne!(a.identity() & (1 << 63), 0, "a hash never looks like a cookie");
        b.local = Endpoint::Inet { ip: lo, port: 81 };
        assert_ne!(a.identity(), b.identity());
        // SO_REUSEPORT siblings share their ends: the inode tells them apart.
        let any = IpAddr::from([0, 0, 0, 0]);
        let mut u1 = Socket::inet(Proto::Udp, State::CLOSE, (lo, 53), (any, 0));
        let mut u2 = u1.clone();
        (u1.inode, u2.inode) = (1, 2);
        assert_ne!(u1.identity(), u2.identity());
    }

    #[test]
    fn state_default_set_excludes_listen_and_timewait() {
        let d = StateSet::CONNECTED_DEFAULT;
        assert!(d.contains(State::ESTABLISHED));
        assert!(d.contains(State::CLOSE_WAIT));
        for s in [State::LISTEN, State::CLOSE, State::TIME_WAIT, State::SYN_RECV, State::NEW_SYN_RECV] {
            assert!(!d.contains(s), "{s:?}");
        }
    }

    #[test]
    fn syn_recv_mask_includes_request_sockets() {
        assert_eq!(StateSet::of(&[State::SYN_RECV]).kernel_mask(), State::SYN_RECV.bit() | State::NEW_SYN_RECV.bit());
    }

    #[test]
    fn unix_names_decode_and_display() {
        assert_eq!(UnixName::from_sun_path(b""), None);
        let a = UnixName::from_sun_path(b"\0foo\0bar").unwrap();
        assert_eq!(a.display(), "@foo@bar");
        let p = UnixName::from_sun_path(b"/run/x.sock\0\0\0").unwrap();
        assert_eq!(p.display(), "/run/x.sock");
        let odd = UnixName::Path(b"/tmp/\xff\n".as_slice().into());
        assert_eq!(odd.display(), "/tmp/\\xff\\x0a");
    }

    #[test]
    fn display_names_follow_ss() {
        assert_eq!(State::CLOSE.display_name(Proto::Udp), "UNCONN");
        assert_eq!(State::CLOSE.display_name(Proto::Tcp), "UNCONN");
        assert_eq!(State::ESTABLISHED.display_name(Proto::Unix), "ESTAB");
        assert_eq!(State(99).display_name(Proto::Tcp), "UNKNOWN");
    }
}

/// An address as it appears before `:PORT`: IPv4 as is, IPv6 in brackets (`[::1]`), so the port stays
/// readable. Every endpoint the tool prints (the listing, the dashboard, `audit`, `forwards`, recordings,
/// `diff`) goes through it. `Bracketed(&str)` does the same for an address or host name held as text (read
/// back from a file, a PTR record): bracketed when it holds a `:`, which only an IPv6 address does.
#[derive(Debug, Clone, Copy)]
pub struct Bracketed<T = IpAddr>(pub T);

impl std::fmt::Display for Bracketed<IpAddr> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}"),
            IpAddr::V6(a) => write!(f, "[{a}]"),
        }
    }
}

impl std::fmt::Display for Bracketed<&str> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.contains(':') { write!(f, "[{}]", self.0) } else { f.write_str(self.0) }
    }
}
