//! Pure aggregation of a snapshot by port: each listening endpoint with the sockets it accepted, outbound
//! sockets by where they go, UNIX sockets by path. Counts by state, accept-queue fill, distinct peers.

use std::borrow::Borrow;
use std::fmt;
use std::net::IpAddr;

use crate::hash::FastMap;
use crate::model::Bracketed;
use crate::model::netns::NetnsId;
use crate::model::{Endpoint, Proto, Socket, State, UnixName};

pub mod owners;

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

impl GroupKey {
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

/// Socket counts by state (index = kernel state number).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts(pub [u32; 16]);

impl StateCounts {
    pub fn add(&mut self, s: State) {
        if let Some(c) = self.0.get_mut(s.0 as usize) {
            *c += 1;
        }
    }
    pub fn get(&self, s: State) -> u32 {
        self.0.get(s.0 as usize).copied().unwrap_or(0)
    }
    pub fn total(&self) -> u32 {
        self.0.iter().sum()
    }
}

/// One row of the port view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub key: GroupKey,
    /// Indices (into the snapshot) of the listening sockets: several with SO_REUSEPORT.
    pub listeners: Vec<u32>,
    /// Indices of the other sockets of the group.
    pub members: Vec<u32>,
    /// Counts by state over listeners and members.
    pub states: StateCounts,
    /// TCP listeners: connections waiting in the accept queue, and the queue's limit (summed over listeners).
    pub accept_queue: Option<(u32, u32)>,
    /// Distinct remote hosts among the members.
    pub peers: u32,
    /// The busiest remote hosts, most sockets first (at most 3).
    pub top_peers: Vec<(IpAddr, u32)>,
    /// A wildcard IPv6 listener that also accepts IPv4.
    pub dual_stack: bool,
}

impl Group {
    fn new(key: GroupKey) -> Group {
        Group {
            key,
            listeners: Vec::new(),
            members: Vec::new(),
            states: StateCounts::default(),
            accept_queue: None,
            peers: 0,
            top_peers: Vec::new(),
            dual_stack: false,
        }
    }
    /// Every socket of the group.
    pub fn len(&self) -> usize {
        self.listeners.len() + self.members.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn unix_name(e: &Endpoint) -> Option<&UnixName> {
    match e {
        Endpoint::Unix { name, .. } => name.as_ref(),
        _ => None,
    }
}

/// How to fold unconnected UDP sockets on ephemeral ports: the host's range, and whether each user's are a
/// fold of their own (the dashboard; a recording, whose rows have no user, folds per address).
pub struct Fold {
    pub ephemeral: (u16, u16),
    pub per_user: bool,
}

impl Fold {
    fn key(&self, s: &Socket) -> Option<GroupKey> {
        let Endpoint::Inet { ip, port } = s.local else { return None };
        let unconnected = s.peer.port().is_none_or(|p| p == 0);
        (s.proto == Proto::Udp
            && s.state == State::CLOSE
            && unconnected
            && (self.ephemeral.0..=self.ephemeral.1).contains(&port))
        .then_some(GroupKey::UdpEphemeral { ip, uid: if self.per_user { s.uid } else { None }, netns: s.netns })
    }
}

/// Group a snapshot (or a selection of one: `&[&Socket]`; indices are into `socks`). Groups come out with the
/// most sockets first.
pub fn group<S: Borrow<Socket>>(socks: &[S]) -> Vec<Group> {
    group_with(socks, None)
}

/// [`group`], folding unconnected UDP sockets on ephemeral ports per user and address when `fold` is given
/// (twenty resolver sockets are one row, not twenty).
pub fn group_with<S: Borrow<Socket>>(socks: &[S], fold: Option<&Fold>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: FastMap<GroupKey, usize> = FastMap::default();
    let mut slot = |key: GroupKey, groups: &mut Vec<Group>| -> usize {
        *index.entry(key.clone()).or_insert_with(|| {
            groups.push(Group::new(key));
            groups.len() - 1
        })
    };

    // Listeners by (namespace, proto, port): the candidates for each socket on that port.
    let mut listeners: FastMap<(NetnsId, Proto, u16), Vec<(IpAddr, usize)>> = FastMap::default();
    // UNIX names by inode, to place an unnamed client by the name of its peer.
    let mut unix_names: FastMap<u64, String> = FastMap::default();
    let mut folded = vec![false; if fold.is_some() { socks.len() } else { 0 }];
    for (i, s) in socks.iter().map(Borrow::borrow).enumerate() {
        if let Some(key) = fold.and_then(|f| f.key(s)) {
            let g = slot(key, &mut groups);
            groups[g].members.push(i as u32);
            groups[g].states.add(s.state);
            folded[i] = true;
            continue;
        }
        if let (Endpoint::Inet { ip, port }, true) = (&s.local, s.is_listener()) {
            let g = slot(GroupKey::Listen { proto: s.proto, ip: *ip, port: *port, netns: s.netns }, &mut groups);
            let gr = &mut groups[g];
            gr.listeners.push(i as u32);
            gr.states.add(s.state);
            gr.dual_stack |= ip.is_unspecified() && ip.is_ipv6() && s.v6only == Some(false);
            if s.proto == Proto::Tcp {
                let (q, b) = gr.accept_queue.unwrap_or((0, 0));
                gr.accept_queue = Some((q + s.recv_q.unwrap_or(0), b + s.send_q.unwrap_or(0)));
            }
            let cands = listeners.entry((s.netns, s.proto, *port)).or_default();
            if !cands.iter().any(|(a, _)| a == ip) {
                cands.push((*ip, g));
            }
        }
        if let Some(n) = unix_name(&s.local) {
            unix_names.insert(s.inode, n.display());
        }
    }

    let mut peer_counts: Vec<FastMap<IpAddr, u32>> = Vec::new();
    for (i, s) in socks.iter().map(Borrow::borrow).enumerate() {
        let g = match (&s.local, &s.peer) {
            (Endpoint::Inet { .. }, _) if s.is_listener() || folded.get(i) == Some(&true) => continue,
            (Endpoint::Inet { ip, port }, peer) => {
                let best = listeners.get(&(s.netns, s.proto, *port)).and_then(|c| {
                    c.iter()
                        .find(|(a, _)| a == ip)
                        .or_else(|| c.iter().find(|(a, _)| a.is_unspecified() && a.is_ipv4() == ip.is_ipv4()))
                });
                match (best, peer) {
                    (Some((_, g)), _) => *g,
                    (None, Endpoint::Inet { ip, port }) => {
                        slot(GroupKey::Outbound { proto: s.proto, ip: *ip, port: *port, netns: s.netns }, &mut groups)
                    }
                    (None, _) => continue,
                }
            }
            (Endpoint::Unix { name: Some(n), .. }, _) => {
                let g = slot(GroupKey::UnixPath(s.netns, n.display()), &mut groups);
                if matches!(s.state, State::LISTEN | State::CLOSE) {
                    groups[g].listeners.push(i as u32);
                    groups[g].states.add(s.state);
                    if s.state == State::LISTEN {
                        let (q, b) = groups[g].accept_queue.unwrap_or((0, 0));
                        groups[g].accept_queue = Some((q + s.recv_q.unwrap_or(0), b + s.send_q.unwrap_or(0)));
                    }
                    continue;
                }
                g
            }
            (Endpoint::Unix { name: None, .. }, peer) => {
                let peer_name = match peer {
                    Endpoint::Unix { inode, .. } if *inode != 0 => unix_names.get(inode),
                    _ => None,
                };
                match peer_name {
                    Some(n) => slot(GroupKey::UnixPeer(s.netns, n.clone()), &mut groups),
                    None => slot(GroupKey::UnixUnnamed(s.netns), &mut groups),
                }
            }
            // Packet and netlink sockets are not grouped (the dashboard does not collect them).
            _ => continue,
        };
        let gr = &mut groups[g];
        gr.members.push(i as u32);
        gr.states.add(s.state);
        if let Some(ip) = s.peer.ip().filter(|ip| !ip.is_unspecified()) {
            if peer_counts.len() <= g {
                peer_counts.resize_with(g + 1, FastMap::default);
            }
            *peer_counts[g].entry(ip).or_insert(0) += 1;
        }
    }

    for (g, counts) in peer_counts.into_iter().enumerate() {
        let gr = &mut groups[g];
        gr.peers = counts.len() as u32;
        let mut top: Vec<(IpAddr, u32)> = counts.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(3);
        gr.top_peers = top;
    }
    groups.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.key.cmp(&b.key)));
    groups
}

#[cfg(test)]
mod tests;
