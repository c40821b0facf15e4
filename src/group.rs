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
    /// A listener's accept queue (connections waiting, and the limit) added to the group's.
    fn add_accept_queue(&mut self, s: &Socket) {
        let (q, b) = self.accept_queue.unwrap_or((0, 0));
        self.accept_queue = Some((q + s.recv_q.unwrap_or(0), b + s.send_q.unwrap_or(0)));
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
///
/// Two passes over the snapshot: the first gathers the listeners (the groups the others join), the fold's
/// sockets and UNIX names by inode; the second decides each other socket's group and counts it there. Then the
/// groups' peers are summed up and the groups sorted.
pub fn group_with<S: Borrow<Socket>>(socks: &[S], fold: Option<&Fold>) -> Vec<Group> {
    let mut grouping = Grouping::new(if fold.is_some() { socks.len() } else { 0 });
    for (i, s) in socks.iter().map(Borrow::borrow).enumerate() {
        grouping.gather(i, s, fold);
    }
    for (i, s) in socks.iter().map(Borrow::borrow).enumerate() {
        if let Some(g) = grouping.member_group(i, s) {
            grouping.add_member(g, i, s);
        }
    }
    grouping.finish()
}

/// The groups so far, and each one's place by key.
#[derive(Default)]
struct Groups {
    list: Vec<Group>,
    index: FastMap<GroupKey, usize>,
}

impl Groups {
    /// The group of `key`, made if new.
    fn slot(&mut self, key: GroupKey) -> usize {
        let list = &mut self.list;
        *self.index.entry(key.clone()).or_insert_with(|| {
            list.push(Group::new(key));
            list.len() - 1
        })
    }
}

/// One grouping under way: the groups and what places a socket in one.
struct Grouping {
    groups: Groups,
    /// Listeners by (namespace, proto, port): the candidates for each socket on that port.
    listeners: FastMap<(NetnsId, Proto, u16), Vec<(IpAddr, usize)>>,
    /// UNIX names by inode, to place an unnamed client by the name of its peer.
    unix_names: FastMap<u64, String>,
    /// The sockets the fold placed, by index into the snapshot (empty without a fold).
    folded: Vec<bool>,
    /// The remote hosts of each group's members, by group index (grown as groups get a peer).
    peer_counts: Vec<FastMap<IpAddr, u32>>,
}

impl Grouping {
    fn new(folding: usize) -> Grouping {
        Grouping {
            groups: Groups::default(),
            listeners: FastMap::default(),
            unix_names: FastMap::default(),
            folded: vec![false; folding],
            peer_counts: Vec::new(),
        }
    }

    /// First pass: a socket the fold takes joins its fold group; an inet listener makes (or joins) its group
    /// and becomes a candidate for the sockets on its port; a named UNIX socket's name is kept by inode.
    fn gather(&mut self, i: usize, s: &Socket, fold: Option<&Fold>) {
        if let Some(key) = fold.and_then(|f| f.key(s)) {
            let g = self.groups.slot(key);
            let gr = &mut self.groups.list[g];
            gr.members.push(i as u32);
            gr.states.add(s.state);
            self.folded[i] = true;
            return;
        }
        if let (Endpoint::Inet { ip, port }, true) = (&s.local, s.is_listener()) {
            let g = self.groups.slot(GroupKey::Listen { proto: s.proto, ip: *ip, port: *port, netns: s.netns });
            let gr = &mut self.groups.list[g];
            gr.listeners.push(i as u32);
            gr.states.add(s.state);
            gr.dual_stack |= ip.is_unspecified() && ip.is_ipv6() && s.v6only == Some(false);
            if s.proto == Proto::Tcp {
                gr.add_accept_queue(s);
            }
            let cands = self.listeners.entry((s.netns, s.proto, *port)).or_default();
            if !cands.iter().any(|(a, _)| a == ip) {
                cands.push((*ip, g));
            }
        }
        if let Some(n) = unix_name(&s.local) {
            self.unix_names.insert(s.inode, n.display());
        }
    }

    /// Second pass: the group a socket joins as a member. An inet socket joins the listener on its address
    /// and port (else the wildcard one of its family), else its destination's outbound group; a named UNIX
    /// socket its path's group (a listening or unconnected one joins it as a listener, here: `None`); an
    /// unnamed one its peer's name, if known. `None` too for inet listeners and folded sockets (placed by the
    /// first pass) and for what is not grouped.
    fn member_group(&mut self, i: usize, s: &Socket) -> Option<usize> {
        match (&s.local, &s.peer) {
            (Endpoint::Inet { .. }, _) if s.is_listener() || self.folded.get(i) == Some(&true) => None,
            (Endpoint::Inet { ip, port }, peer) => {
                let best = self.listeners.get(&(s.netns, s.proto, *port)).and_then(|c| {
                    c.iter()
                        .find(|(a, _)| a == ip)
                        .or_else(|| c.iter().find(|(a, _)| a.is_unspecified() && a.is_ipv4() == ip.is_ipv4()))
                });
                match (best, peer) {
                    (Some(&(_, g)), _) => Some(g),
                    (None, Endpoint::Inet { ip, port }) => Some(self.groups.slot(GroupKey::Outbound {
                        proto: s.proto,
                        ip: *ip,
                        port: *port,
                        netns: s.netns,
                    })),
                    (None, _) => None,
                }
            }
            (Endpoint::Unix { name: Some(n), .. }, _) => {
                let g = self.groups.slot(GroupKey::UnixPath(s.netns, n.display()));
                if !matches!(s.state, State::LISTEN | State::CLOSE) {
                    return Some(g);
                }
                let gr = &mut self.groups.list[g];
                gr.listeners.push(i as u32);
                gr.states.add(s.state);
                if s.state == State::LISTEN {
                    gr.add_accept_queue(s);
                }
                None
            }
            (Endpoint::Unix { name: None, .. }, peer) => {
                let peer_name = match peer {
                    Endpoint::Unix { inode, .. } if *inode != 0 => self.unix_names.get(inode),
                    _ => None,
                };
                Some(match peer_name {
                    Some(n) => self.groups.slot(GroupKey::UnixPeer(s.netns, n.clone())),
                    None => self.groups.slot(GroupKey::UnixUnnamed(s.netns)),
                })
            }
            // Packet and netlink sockets are not grouped (the dashboard does not collect them).
            _ => None,
        }
    }

    /// Count a member in group `g`, and its remote host.
    fn add_member(&mut self, g: usize, i: usize, s: &Socket) {
        let gr = &mut self.groups.list[g];
        gr.members.push(i as u32);
        gr.states.add(s.state);
        if let Some(ip) = s.peer.ip().filter(|ip| !ip.is_unspecified()) {
            if self.peer_counts.len() <= g {
                self.peer_counts.resize_with(g + 1, FastMap::default);
            }
            *self.peer_counts[g].entry(ip).or_insert(0) += 1;
        }
    }

    /// The groups, each with its distinct peers and busiest ones, the most sockets first.
    fn finish(self) -> Vec<Group> {
        let mut groups = self.groups.list;
        for (g, counts) in self.peer_counts.into_iter().enumerate() {
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
}

#[cfg(test)]
mod tests;
