//! Pure aggregation of a snapshot by port: each listening endpoint with the sockets it accepted, outbound
//! sockets by where they go, UNIX sockets by path. Counts by state, accept-queue fill, distinct peers.

use std::borrow::Borrow;
use std::net::IpAddr;

use crate::hash::FastMap;
use crate::model::netns::NetnsId;
use crate::model::{Endpoint, Proto, Socket, State, UnixName};

mod key;
pub mod owners;

pub use key::{Fold, GroupKey, GroupKind, KeyError};

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
