//! What the rules read: one namespace over a window ([`Window`]: two [`Sample`]s, its [`Limits`], who holds its
//! sockets), and [`Cx`], the window with the lookups every rule needs (a socket's previous sample, a counter's
//! delta, a holder's name, a socket as evidence).

use std::net::IpAddr;

use crate::collect::process::Attribution;
use crate::collect::procfs::counters::Counters;
use crate::collect::procfs::sockstat::SockStat;
use crate::collect::sysctl::NetLimits;
use crate::hash::FastMap;
use crate::model::netns::NetnsId;
use crate::model::owners::Owner;
use crate::model::{Endpoint, Socket};
use crate::ports::classes::HostPorts;

pub use crate::collect::sysctl::ConntrackStats as Conntrack;

use super::finding::{CounterDelta, SocketEvidence};

/// One moment of a namespace.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Milliseconds since the epoch.
    pub at_ms: u64,
    /// Its TCP and UDP sockets, with tcp_info and skmem where the kernel gave them.
    pub sockets: Vec<Socket>,
    /// `/proc/net/netstat` and `/proc/net/snmp` (`None`: unreadable).
    pub counters: Option<Counters>,
    pub sockstat: Option<SockStat>,
    /// `None`: no connection tracking in this namespace (the module is not loaded), or unreadable.
    pub conntrack: Option<Conntrack>,
}

/// What the checks compare with: the namespace's sysctls, and its ephemeral range and reserved ports.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub net: NetLimits,
    pub ports: Option<HostPorts>,
}

impl Limits {
    pub fn of(net: NetLimits, ports: Option<HostPorts>) -> Limits {
        Limits { net, ports }
    }
}

impl std::ops::Deref for Limits {
    type Target = NetLimits;
    fn deref(&self) -> &NetLimits {
        &self.net
    }
}

/// One namespace over a window.
pub struct Window<'a> {
    pub netns: NetnsId,
    /// The namespace's container or name; `None` for the host's own namespace.
    pub label: Option<String>,
    pub before: &'a Sample,
    pub now: &'a Sample,
    pub limits: &'a Limits,
    /// Who holds the sockets (`None`: not looked up: findings name no process).
    pub owners: Option<&'a Attribution>,
}

/// The window with what every rule looks up.
pub(crate) struct Cx<'a> {
    pub w: &'a Window<'a>,
    /// The previous sample's sockets by identity.
    before: FastMap<u64, &'a Socket>,
    pub secs: f64,
}

impl<'a> Cx<'a> {
    pub fn new(w: &'a Window<'a>) -> Cx<'a> {
        let before = w.before.sockets.iter().map(|s| (s.identity(), s)).collect();
        let secs = (w.now.at_ms.saturating_sub(w.before.at_ms) as f64 / 1000.0).max(0.001);
        Cx { w, before, secs }
    }

    pub fn now(&self) -> &'a [Socket] {
        &self.w.now.sockets
    }

    /// The same socket in the previous sample.
    pub fn before(&self, s: &Socket) -> Option<&'a Socket> {
        self.before.get(&s.identity()).copied()
    }

    /// A counter's value now and before (`None`: the kernel lacks it or the file was unreadable).
    pub fn counter(&self, section: &str, name: &str) -> Option<CounterDelta> {
        let now = self.w.now.counters.as_ref()?.get(section, name)?;
        let before = self.w.before.counters.as_ref().and_then(|c| c.get(section, name));
        let per_sec = before.map(|b| now.saturating_sub(b) as f64 / self.secs);
        Some(CounterDelta { name: format!("{section}:{name}"), before, now, per_sec })
    }

    /// `nginx[812]` (the first holder, `+N` more), when the owners were looked up and one is visible.
    pub fn process(&self, s: &Socket) -> Option<String> {
        let a = self.w.owners?;
        match a.owner(s.inode) {
            Owner::Held(h) => {
                let mut it = h.into_iter();
                let first = it.next()?;
                let more = it.count();
                let name = format!("{}[{}]", crate::model::text::escape(&first.process.comm), first.process.pid);
                Some(if more > 0 { format!("{name} +{more}") } else { name })
            }
            _ => None,
        }
    }

    /// A socket as evidence, with its numbers.
    pub fn evidence(&self, s: &Socket, values: &[(&str, u64)]) -> SocketEvidence {
        SocketEvidence {
            proto: s.proto.to_string(),
            state: s.state.display_name(s.proto).to_string(),
            local: s.local.short_text(),
            peer: s.peer.short_text(),
            cookie: s.cookie,
            process: self.process(s),
            values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }
}

/// What a counter rose by (a counter that went down was reset: 0).
pub fn delta(c: &CounterDelta) -> u64 {
    c.before.map_or(0, |b| c.now.saturating_sub(b))
}

/// The address and port of an IP endpoint.
pub fn inet(e: &Endpoint) -> Option<(IpAddr, u16)> {
    match e {
        Endpoint::Inet { ip, port } => Some((*ip, *port)),
        _ => None,
    }
}

/// A socket's skmem drop counter.
pub fn drops(s: &Socket) -> Option<u32> {
    s.extra.as_deref()?.memory.as_deref()?.drops
}

pub fn tcp_info(s: &Socket) -> Option<&crate::model::internals::TcpInfo> {
    s.extra.as_deref()?.tcp_info.as_ref()
}

pub fn mem(s: &Socket) -> Option<&crate::model::internals::MemInfo> {
    s.extra.as_deref()?.memory.as_deref()
}
