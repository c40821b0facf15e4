//! What a group stands for: [`GroupKey`], its one kind vocabulary ([`GroupKind`]: the API's, the metrics',
//! the recordings' word), the key rebuilt from those words and columns, and [`Fold`], the one rule that folds
//! unconnected UDP sockets on ephemeral ports into a row (the dashboard, `record`, the exporter and the API).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::model::netns::NetnsId;
use crate::model::text::escape;
use crate::model::{Bracketed, Endpoint, Proto, Socket, State, UnknownProto};
use crate::ports::classes::HostPorts;

/// What a group stands for. Every group lies in one network namespace (`netns`, the snapshot's index; 0 when
/// one namespace is shown): the same port in two containers is two groups.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupKey {
    /// A listening endpoint (a TCP listener, a bound unconnected UDP socket) and the sockets on its port.
    Listen { proto: Proto, ip: IpAddr, port: u16, netns: NetnsId },
    /// Sockets whose local port has no listener, by the remote endpoint they talk to.
    Outbound { proto: Proto, ip: IpAddr, port: u16, netns: NetnsId },
    /// A named UNIX socket (listener or bound datagram socket) and the connections it accepted.
    UnixPath(NetnsId, String),
    /// Unnamed UNIX sockets connected to a named one, by that name.
    UnixPeer(NetnsId, String),
    /// Unnamed UNIX sockets whose peer has no name (socketpairs and the like).
    UnixUnnamed(NetnsId),
    /// Unconnected UDP sockets of one user (`uid`, the socket's owner as the kernel reports it) bound to ports
    /// in the ephemeral range of one address: resolvers and clients that bind before sending, folded into one
    /// row. Keyed by what the socket table itself says, not by the holding process: a process's sockets
    /// newer than the last process scan would otherwise make a row of their own, and the row would come and
    /// go with the scans. The row's holders say which processes they are.
    UdpEphemeral { ip: IpAddr, uid: Option<u32>, netns: NetnsId },
}

/// The kind of a [`GroupKey`], one word each: what the API's `kind`, the recordings' `kind` column and
/// anything else that names a group's kind say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupKind {
    Listen,
    Outbound,
    UnixPath,
    UnixPeer,
    UnixUnnamed,
    UdpEphemeral,
}

impl GroupKind {
    pub const ALL: [GroupKind; 6] = [
        GroupKind::Listen,
        GroupKind::Outbound,
        GroupKind::UnixPath,
        GroupKind::UnixPeer,
        GroupKind::UnixUnnamed,
        GroupKind::UdpEphemeral,
    ];

    /// `listen`, `outbound`, `unix_path`, `unix_peer`, `unix_unnamed`, `udp_ephemeral`.
    pub fn name(self) -> &'static str {
        match self {
            GroupKind::Listen => "listen",
            GroupKind::Outbound => "outbound",
            GroupKind::UnixPath => "unix_path",
            GroupKind::UnixPeer => "unix_peer",
            GroupKind::UnixUnnamed => "unix_unnamed",
            GroupKind::UdpEphemeral => "udp_ephemeral",
        }
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GroupKind {
    type Err = KeyError;
    /// The inverse of [`GroupKind::name`] (exactly those words).
    fn from_str(s: &str) -> Result<GroupKind, KeyError> {
        GroupKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| KeyError::Kind(s.to_string()))
    }
}

/// Words and columns that make no [`GroupKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("unknown group kind '{}'", escape(.0))]
    Kind(String),
    #[error(transparent)]
    Proto(#[from] UnknownProto),
    #[error("a {kind} group of protocol {proto}")]
    KindProto { kind: GroupKind, proto: Proto },
    #[error("a {kind} group without {what}")]
    Missing { kind: GroupKind, what: &'static str },
    #[error("a {kind} group with the address '{}', not an IP address", escape(.address))]
    Address { kind: GroupKind, address: String },
}

impl GroupKey {
    pub fn kind(&self) -> GroupKind {
        match self {
            GroupKey::Listen { .. } => GroupKind::Listen,
            GroupKey::Outbound { .. } => GroupKind::Outbound,
            GroupKey::UnixPath(..) => GroupKind::UnixPath,
            GroupKey::UnixPeer(..) => GroupKind::UnixPeer,
            GroupKey::UnixUnnamed(_) => GroupKind::UnixUnnamed,
            GroupKey::UdpEphemeral { .. } => GroupKind::UdpEphemeral,
        }
    }
    pub fn proto(&self) -> Proto {
        match self {
            GroupKey::Listen { proto, .. } | GroupKey::Outbound { proto, .. } => *proto,
            GroupKey::UdpEphemeral { .. } => Proto::Udp,
            _ => Proto::Unix,
        }
    }
    pub fn port(&self) -> Option<u16> {
        match self {
            GroupKey::Listen { port, .. } | GroupKey::Outbound { port, .. } => Some(*port),
            _ => None,
        }
    }
    /// The IP address of the key: the local one of a listener or a fold, the remote one of an outbound group.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            GroupKey::Listen { ip, .. } | GroupKey::Outbound { ip, .. } | GroupKey::UdpEphemeral { ip, .. } => {
                Some(*ip)
            }
            _ => None,
        }
    }
    /// The UNIX path of the key.
    pub fn path(&self) -> Option<&str> {
        match self {
            GroupKey::UnixPath(_, p) | GroupKey::UnixPeer(_, p) => Some(p),
            _ => None,
        }
    }
    /// The user of a fold of unconnected UDP sockets.
    pub fn uid(&self) -> Option<u32> {
        match self {
            GroupKey::UdpEphemeral { uid, .. } => *uid,
            _ => None,
        }
    }
    pub fn is_outbound(&self) -> bool {
        matches!(self, GroupKey::Outbound { .. } | GroupKey::UnixPeer(..))
    }
    /// The network namespace the group lies in.
    pub fn netns(&self) -> NetnsId {
        match self {
            GroupKey::Listen { netns, .. }
            | GroupKey::Outbound { netns, .. }
            | GroupKey::UdpEphemeral { netns, .. } => *netns,
            GroupKey::UnixPath(n, _) | GroupKey::UnixPeer(n, _) | GroupKey::UnixUnnamed(n) => *n,
        }
    }

    /// The same key in namespace `netns`.
    pub fn in_netns(mut self, id: NetnsId) -> GroupKey {
        match &mut self {
            GroupKey::Listen { netns, .. }
            | GroupKey::Outbound { netns, .. }
            | GroupKey::UdpEphemeral { netns, .. }
            | GroupKey::UnixPath(netns, _)
            | GroupKey::UnixPeer(netns, _)
            | GroupKey::UnixUnnamed(netns) => *netns = id,
        }
        self
    }

    /// The key that `kind`, `proto`, `address` (an IP address, or a UNIX path), `port` and `uid` name, as a
    /// recording's columns give them: the inverse of [`GroupKey::kind`], [`GroupKey::proto`], the IP
    /// address or the path, [`GroupKey::port`] and [`GroupKey::uid`]. What the kind has no use for is ignored.
    pub fn from_parts(
        kind: GroupKind,
        proto: Proto,
        address: Option<&str>,
        port: Option<u16>,
        uid: Option<u32>,
        netns: NetnsId,
    ) -> Result<GroupKey, KeyError> {
        let want = match kind {
            GroupKind::Listen | GroupKind::Outbound => proto.is_inet(),
            GroupKind::UdpEphemeral => proto == Proto::Udp,
            GroupKind::UnixPath | GroupKind::UnixPeer | GroupKind::UnixUnnamed => proto == Proto::Unix,
        };
        if !want {
            return Err(KeyError::KindProto { kind, proto });
        }
        let missing = |what| KeyError::Missing { kind, what };
        let ip = || -> Result<IpAddr, KeyError> {
            let a = address.ok_or(missing("an address"))?;
            a.parse().map_err(|_| KeyError::Address { kind, address: a.to_string() })
        };
        let path = || address.map(str::to_string).ok_or(missing("a path"));
        Ok(match kind {
            GroupKind::Listen => GroupKey::Listen { proto, ip: ip()?, port: port.ok_or(missing("a port"))?, netns },
            GroupKind::Outbound => GroupKey::Outbound { proto, ip: ip()?, port: port.ok_or(missing("a port"))?, netns },
            GroupKind::UnixPath => GroupKey::UnixPath(netns, path()?),
            GroupKind::UnixPeer => GroupKey::UnixPeer(netns, path()?),
            GroupKind::UnixUnnamed => GroupKey::UnixUnnamed(netns),
            GroupKind::UdpEphemeral => GroupKey::UdpEphemeral { ip: ip()?, uid, netns },
        })
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupKey::Listen { ip, port, .. } => write!(f, "{}:{port}", Bracketed(*ip)),
            GroupKey::Outbound { ip, port, .. } => write!(f, "-> {}:{port}", Bracketed(*ip)),
            GroupKey::UnixPath(_, p) => f.write_str(p),
            GroupKey::UnixPeer(_, p) => write!(f, "-> {p}"),
            GroupKey::UnixUnnamed(_) => f.write_str("(unnamed)"),
            GroupKey::UdpEphemeral { ip, .. } => write!(f, "{}:(eph)", Bracketed(*ip)),
        }
    }
}

/// How to fold unconnected UDP sockets on ephemeral ports: each user's sockets on one address of the host's
/// ephemeral range are one row. The one rule of the dashboard, `record`, the exporter and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fold {
    pub ephemeral: (u16, u16),
}

impl Fold {
    /// The fold over the host's ephemeral range.
    pub fn of(host: &HostPorts) -> Fold {
        Fold { ephemeral: (host.ephemeral.low, host.ephemeral.high) }
    }

    /// The fold's key for `s`, when `s` is one of the sockets it folds.
    pub(super) fn key(&self, s: &Socket) -> Option<GroupKey> {
        let Endpoint::Inet { ip, port } = s.local else { return None };
        let unconnected = s.peer.port().is_none_or(|p| p == 0);
        (s.proto == Proto::Udp
            && s.state == State::CLOSE
            && unconnected
            && (self.ephemeral.0..=self.ephemeral.1).contains(&port))
        .then_some(GroupKey::UdpEphemeral { ip, uid: s.uid, netns: s.netns })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_what_they_say() {
        for k in GroupKind::ALL {
            assert_eq!(k.to_string().parse::<GroupKind>(), Ok(k));
        }
        assert_eq!("unix".parse::<GroupKind>(), Err(KeyError::Kind("unix".into())));
        assert!("udp-ephemeral".parse::<GroupKind>().is_err());
        assert_eq!("udp".parse::<Proto>(), Ok(Proto::Udp));
        assert!("tcp6".parse::<Proto>().is_err());
    }

    #[test]
    fn keys_are_rebuilt_from_their_parts() {
        let keys = [
            GroupKey::Listen { proto: Proto::Tcp, ip: "::".parse().unwrap(), port: 80, netns: 0 },
            GroupKey::Outbound { proto: Proto::Udp, ip: "10.0.0.1".parse().unwrap(), port: 53, netns: 0 },
            GroupKey::UnixPath(0, "/run/x.sock".into()),
            GroupKey::UnixPeer(0, "@bus".into()),
            GroupKey::UnixUnnamed(0),
            GroupKey::UdpEphemeral { ip: "127.0.0.1".parse().unwrap(), uid: Some(7), netns: 0 },
        ];
        for k in keys {
            let address = k.ip().map(|ip| ip.to_string()).or(k.path().map(str::to_string));
            let back = GroupKey::from_parts(k.kind(), k.proto(), address.as_deref(), k.port(), k.uid(), 0);
            assert_eq!(back.as_ref(), Ok(&k));
        }
        let bad = GroupKey::from_parts(GroupKind::Listen, Proto::Tcp, Some("x\x1b"), Some(1), None, 0);
        assert_eq!(bad.unwrap_err().to_string(), "a listen group with the address 'x\\x1b', not an IP address");
        assert!(GroupKey::from_parts(GroupKind::UnixPath, Proto::Tcp, Some("/x"), None, None, 0).is_err());
        assert!(GroupKey::from_parts(GroupKind::Listen, Proto::Tcp, Some("::1"), None, None, 0).is_err());
    }
}
