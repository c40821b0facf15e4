//! Turning successive snapshots into what the dashboard shows: groups, the age of each socket, which ones
//! are new, which closed recently (they linger for a while), and a per-group count history. Pure: the clock
//! comes in as an argument. Runs on the collector thread so the UI thread only swaps in the result.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::collect::Snapshot;
use crate::collect::process::{ProcessInfo, ProcessMap};
use crate::group::{self, Group, GroupKey, StateCounts};
use crate::hash::{FastHasher, FastMap, FastSet};
use crate::model::Socket;

/// How long a closed socket stays on screen, dimmed.
pub const LINGER: Duration = Duration::from_secs(5);
/// How much count history each group keeps (the sparkline).
pub const HISTORY: Duration = Duration::from_secs(60);

/// One processed refresh, as the UI shows it.
#[derive(Debug, Clone)]
pub struct Live {
    pub sockets: Vec<Socket>,
    pub groups: Vec<Group>,
    /// When each socket (same index as `sockets`) was first seen, in ms after `epoch` (4 bytes a socket
    /// instead of 16: at 200k sockets it shows in the memory high-water mark); see [`Live::first_seen`].
    pub first_seen_ms: Vec<u32>,
    pub epoch: Instant,
    /// Sockets not present in the previous refresh (none on the first one).
    pub is_new: Vec<bool>,
    /// Sockets gone since an earlier refresh, still within [`LINGER`].
    pub closed: Vec<Closed>,
    /// Socket counts of each group over the last [`HISTORY`], oldest first.
    pub history: FastMap<GroupKey, Vec<u32>>,
    /// Counts by state over all sockets.
    pub totals: StateCounts,
    /// Where the sockets came from ("netlink", "/proc", or "netlink+/proc").
    pub source: String,
    /// How long the collection took.
    pub collect_time: Duration,
    pub taken_at: Instant,
    /// Messages from the collector (fallbacks taken, errors).
    pub notes: Vec<String>,
    /// Who holds each socket (same index as `sockets`), when process attribution ran.
    pub owners: Option<Owners>,
    /// Audit findings of listening sockets (socket index -> reasons), as `sockscope audit` gives them.
    pub audit: FastMap<u32, Vec<String>>,
    /// Outbound groups using a large share of the ephemeral ports towards their destination:
    /// group -> (sockets from the busiest local address, usable ephemeral ports).
    pub pressure: FastMap<GroupKey, (u32, u32)>,
    /// The host's ephemeral port range, when it could be read.
    pub ephemeral: Option<(u16, u16)>,
    /// The label of each network namespace (index = `Socket::netns`), escaped; empty or one entry when one
    /// namespace is shown.
    pub namespaces: Vec<String>,
}

impl Live {
    /// The namespace column's text for a group, when several namespaces are shown.
    pub fn namespace_label(&self, netns: crate::model::netns::NetnsId) -> Option<&str> {
        if self.namespaces.len() > 1 { self.namespaces.get(netns as usize).map(String::as_str) } else { None }
    }
}

/// The processes holding the sockets the dashboard shows: each group's first listener (or first socket) and
/// every socket of the open group. Looking up all 200k sockets every second would cost more than the rest.
#[derive(Debug, Clone, Default)]
pub struct Owners {
    pub processes: Vec<Arc<ProcessInfo>>,
    /// Socket index -> [`Owner`], for the sockets looked up.
    pub of: FastMap<u32, Owner>,
    /// Every process's fd table could be read (without it, unattributed sockets show as hidden).
    pub complete: bool,
}

/// The holder of one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The first holder (index into [`Owners::processes`]) and how many processes hold it.
    Held { first: u32, count: u16 },
    /// Some processes could not be inspected and the holder may be one of them.
    Hidden,
    /// No process holds it (TIME-WAIT, request sockets) or attribution found none.
    None,
}

impl Owners {
    /// Look up the holders of `which` sockets in `map`.
    pub fn of(sockets: &[Socket], which: impl Iterator<Item = u32>, map: &ProcessMap, complete: bool) -> Owners {
        let processes: Vec<Arc<ProcessInfo>> = map.processes().to_vec();
        let index: FastMap<*const ProcessInfo, u32> =
            processes.iter().enumerate().map(|(i, p)| (Arc::as_ptr(p), i as u32)).collect();
        let mut of = FastMap::default();
        for i in which {
            let Some(s) = sockets.get(i as usize) else { continue };
            let owner = if s.inode == 0 {
                Owner::None
            } else {
                let mut holders = map.get(s.inode);
                let count = holders.len();
                match holders.next() {
                    Some(first) => Owner::Held {
                        first: index.get(&Arc::as_ptr(first.process)).copied().unwrap_or(0),
                        count: count.min(u16::MAX as usize) as u16,
                    },
                    None if complete => Owner::None,
                    None => Owner::Hidden,
                }
            };
            of.insert(i, owner);
        }
        Owners { processes, of, complete }
    }

    /// `nginx[812]`, `nginx[812] +2`, `hidden`, or `-`.
    pub fn label(&self, i: usize) -> String {
        match self.of.get(&(i as u32)) {
            Some(Owner::Held { first, count }) => {
                let p = &self.processes[*first as usize];
                if *count > 1 {
                    format!("{}[{}] +{}", p.comm, p.pid, count - 1)
                } else {
                    format!("{}[{}]", p.comm, p.pid)
                }
            }
            Some(Owner::Hidden) => "hidden".into(),
            _ => "-".into(),
        }
    }
}

impl Live {
    /// When socket `i` was first seen.
    pub fn first_seen(&self, i: usize) -> Instant {
        self.epoch + Duration::from_millis(self.first_seen_ms.get(i).copied().unwrap_or(0) as u64)
    }
}

/// A socket that has closed, shown dimmed in its group for a while.
#[derive(Debug, Clone)]
pub struct Closed {
    pub socket: Socket,
    pub group: GroupKey,
    pub first_seen: Instant,
    pub closed_at: Instant,
}

/// A socket's identity across refreshes: the kernel cookie where there is one, else its addresses and inode.
pub fn socket_id(s: &Socket) -> u64 {
    if let Some(c) = s.cookie {
        return c;
    }
    let mut h = FastHasher::default();
    (s.proto, &s.local, &s.peer, s.inode).hash(&mut h);
    h.finish() | (1 << 63)
}

/// Carries state from one refresh to the next.
#[derive(Default)]
pub struct Tracker {
    /// (id, index in `prev.sockets`, first seen) of the previous refresh, sorted by id. A sorted merge
    /// beats a hash map here: at 200k sockets the map's random accesses miss the cache on every lookup.
    seen: Vec<(u64, u32, u32)>,
    /// The time of the first refresh; first-seen times are kept in ms after it.
    epoch: Option<Instant>,
    prev: Option<Arc<Live>>,
    closed: Vec<Closed>,
    history: FastMap<GroupKey, VecDeque<(Instant, u32)>>,
    /// The host's ephemeral range and usable port count, for pressure warnings.
    host_ports: Option<((u16, u16), u32)>,
}

/// Share of the ephemeral range above which an outbound destination is flagged (as `sockscope audit`).
const PRESSURE_WARN: f64 = 0.5;

impl Tracker {
    pub fn new() -> Self {
        Tracker::default()
    }

    /// A tracker that knows the host's ephemeral port range (`proc_root/sys/net/ipv4/ip_local_port_range`).
    pub fn with_host_ports(proc_root: &std::path::Path) -> Self {
        let host_ports = crate::ports::classes::HostPorts::read(proc_root)
            .ok()
            .map(|h| ((h.ephemeral.low, h.ephemeral.high), h.capacity()));
        Tracker { host_ports, ..Tracker::default() }
    }

    /// Process a new snapshot taken at `now` that took `collect_time`; `owners` from process attribution.
    pub fn update(&mut self, snap: Snapshot, collect_time: Duration, now: Instant) -> Arc<Live> {
        self.update_with(snap, collect_time, now, None, None)
    }

    /// [`update`](Self::update) with process attribution: `procs` is the map and whether it is complete;
    /// holders are looked up for each group's first socket and for every socket of the `open` group.
    pub fn update_with(
        &mut self,
        snap: Snapshot,
        collect_time: Duration,
        now: Instant,
        procs: Option<(&ProcessMap, bool)>,
        open: Option<&GroupKey>,
    ) -> Arc<Live> {
        let sockets = snap.sockets;
        let groups = group::group(&sockets);
        let first = self.prev.is_none();
        let n = sockets.len();
        let mut totals = StateCounts::default();
        let mut cur: Vec<(u64, u32)> = Vec::with_capacity(n);
        for (i, s) in sockets.iter().enumerate() {
            cur.push((socket_id(s), i as u32));
            totals.add(s.state);
        }
        cur.sort_unstable_by_key(|e| e.0);
        let epoch = *self.epoch.get_or_insert(now);
        let now_ms = now.saturating_duration_since(epoch).as_millis().min(u32::MAX as u128) as u32;
        let mut first_seen = vec![now_ms; n];
        let mut is_new = vec![!first; n];
        let mut seen = Vec::with_capacity(n);
        let mut gone: Vec<(u32, u32)> = Vec::new();
        let old = std::mem::take(&mut self.seen);
        let mut a = 0;
        for (k, &(id, idx)) in cur.iter().enumerate() {
            while a < old.len() && old[a].0 < id {
                gone.push((old[a].1, old[a].2));
                a += 1;
            }
            // An id seen twice in one snapshot (a hash collision of cookie-less records) counts as new.
            let dup = k > 0 && cur[k - 1].0 == id;
            if !dup && a < old.len() && old[a].0 == id {
                first_seen[idx as usize] = old[a].2;
                is_new[idx as usize] = false;
                a += 1;
            }
            seen.push((id, idx, first_seen[idx as usize]));
        }
        gone.extend(old[a..].iter().map(|e| (e.1, e.2)));
        // What is gone closed since the last refresh: keep it, with its group, for a while.
        if let Some(prev) = &self.prev
            && !gone.is_empty()
        {
            let gone: FastMap<u32, u32> = gone.into_iter().collect();
            for g in &prev.groups {
                for i in g.listeners.iter().chain(&g.members) {
                    if let (Some(t), Some(s)) = (gone.get(i), prev.sockets.get(*i as usize)) {
                        let first_seen = epoch + Duration::from_millis(*t as u64);
                        let c = Closed { socket: s.clone(), group: g.key.clone(), first_seen, closed_at: now };
                        self.closed.push(c);
                    }
                }
            }
        }
        self.closed.retain(|c| now.saturating_duration_since(c.closed_at) < LINGER);
        self.seen = seen;

        for g in &groups {
            self.history.entry(g.key.clone()).or_default().push_back((now, g.len() as u32));
        }
        let present: FastSet<&GroupKey> = groups.iter().map(|g| &g.key).collect();
        for (k, h) in self.history.iter_mut() {
            if !present.contains(k) && h.back().is_some_and(|(t, _)| *t != now) {
                h.push_back((now, 0));
            }
            while h.front().is_some_and(|(t, _)| now.saturating_duration_since(*t) > HISTORY) {
                h.pop_front();
            }
        }
        self.history.retain(|_, h| h.iter().any(|(_, n)| *n > 0));
        let history = self.history.iter().map(|(k, h)| (k.clone(), h.iter().map(|(_, n)| *n).collect())).collect();

        let owners = procs.map(|(map, complete)| {
            let firsts = groups.iter().filter_map(|g| g.listeners.first().or(g.members.first()).copied());
            let open =
                groups.iter().filter(|g| Some(&g.key) == open).flat_map(|g| g.listeners.iter().chain(&g.members));
            Owners::of(&sockets, firsts.chain(open.copied()), map, complete)
        });
        let audit = audit_listeners(&sockets, &groups);
        let pressure = match self.host_ports {
            Some((_, cap)) => pressure(&sockets, &groups, cap),
            None => FastMap::default(),
        };
        let mut sources: Vec<String> = snap.sources.iter().map(|(_, s)| s.to_string()).collect();
        sources.dedup();
        let live = Arc::new(Live {
            sockets,
            groups,
            first_seen_ms: first_seen,
            epoch,
            is_new,
            closed: self.closed.clone(),
            history,
            totals,
            source: sources.join("+"),
            collect_time,
            taken_at: now,
            notes: snap.notes,
            owners,
            audit,
            pressure,
            ephemeral: self.host_ports.map(|h| h.0),
            namespaces: snap.namespaces.0.iter().map(|n| crate::output::printable(&n.label()).into_owned()).collect(),
        });
        self.prev = Some(live.clone());
        live
    }
}

/// `sockscope audit`'s findings for every listening socket (listeners are few; the rest is not looked at).
fn audit_listeners(sockets: &[Socket], groups: &[Group]) -> FastMap<u32, Vec<String>> {
    let opts = crate::ports::audit::AuditOptions::default();
    let mut out = FastMap::default();
    for &i in groups.iter().flat_map(|g| &g.listeners) {
        if let Some(s) = sockets.get(i as usize) {
            let flags = crate::ports::audit::assess(s, &opts);
            if !flags.is_empty() {
                out.insert(i, flags.into_iter().map(|f| f.reason).collect());
            }
        }
    }
    out
}

/// Outbound groups whose busiest local address holds more than [`PRESSURE_WARN`] of the usable ephemeral
/// ports towards the group's destination. A group smaller than that threshold cannot be over it, so only
/// the few large ones are counted by local address.
fn pressure(sockets: &[Socket], groups: &[Group], capacity: u32) -> FastMap<GroupKey, (u32, u32)> {
    let mut out = FastMap::default();
    let limit = (capacity as f64 * PRESSURE_WARN) as usize;
    for g in groups.iter().filter(|g| g.key.is_outbound() && g.members.len() > limit) {
        let mut by_local: FastMap<std::net::IpAddr, u32> = FastMap::default();
        for &i in &g.members {
            if let Some(ip) = sockets.get(i as usize).and_then(|s| s.local.ip()) {
                *by_local.entry(ip).or_insert(0) += 1;
            }
        }
        if let Some(&max) = by_local.values().max()
            && max as usize > limit
        {
            out.insert(g.key.clone(), (max, capacity));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::collect::{Source, Table};
    use crate::model::{Endpoint, Proto, State};

    fn sock(cookie: u64, lport: u16, state: State) -> Socket {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Socket {
            inode: cookie,
            cookie: Some(cookie),
            ifindex: Some(0),
            ..Socket::inet(
                Proto::Tcp,
                state,
                (ip, lport),
                (ip, if state == State::LISTEN { 0 } else { 40000 + cookie as u16 }),
            )
        }
    }

    fn snap(socks: Vec<Socket>) -> Snapshot {
        Snapshot {
            sockets: socks,
            sources: vec![(Table::Tcp4, Source::Netlink)],
            notes: vec![],
            namespaces: Default::default(),
        }
    }

    #[test]
    fn new_closed_and_ages() {
        let t0 = Instant::now();
        let mut tr = Tracker::new();
        let l = tr.update(snap(vec![sock(1, 80, State::LISTEN), sock(2, 80, State::ESTABLISHED)]), Duration::ZERO, t0);
        assert_eq!(l.is_new, vec![false, false], "nothing is new on the first refresh");
        assert_eq!(l.source, "netlink");

        let t1 = t0 + Duration::from_secs(1);
        let l = tr.update(snap(vec![sock(1, 80, State::LISTEN), sock(3, 80, State::ESTABLISHED)]), Duration::ZERO, t1);
        assert_eq!(l.is_new, vec![false, true]);
        assert_eq!((l.first_seen(0), l.first_seen(1)), (t0, t1));
        assert_eq!(l.closed.len(), 1);
        assert_eq!(l.closed[0].socket.cookie, Some(2));
        assert_eq!(
            l.closed[0].group,
            GroupKey::Listen { proto: Proto::Tcp, ip: IpAddr::V4(Ipv4Addr::LOCALHOST), port: 80, netns: 0 }
        );

        let t2 = t1 + LINGER;
        let l = tr.update(snap(vec![sock(1, 80, State::LISTEN), sock(3, 80, State::ESTABLISHED)]), Duration::ZERO, t2);
        assert!(l.closed.is_empty(), "closed sockets linger for LINGER only");
        assert_eq!(l.is_new, vec![false, false]);
        let key = &l.groups[0].key;
        assert_eq!(l.history[key], vec![2, 2, 2]);
    }

    #[test]
    fn history_keeps_a_minute() {
        let t0 = Instant::now();
        let mut tr = Tracker::new();
        let mut l = None;
        for i in 0..100u64 {
            let socks = (0..=(i % 5)).map(|c| sock(c + 1, 80, State::ESTABLISHED)).collect();
            l = Some(tr.update(snap(socks), Duration::ZERO, t0 + Duration::from_secs(i)));
        }
        let l = l.unwrap();
        let h = l.history.values().next().unwrap();
        assert_eq!(h.len(), 61);
    }

    #[test]
    fn ephemeral_pressure_flags_a_busy_destination() {
        let to_5000 = |c: u64| {
            let mut s = sock(c + 1, 40000 + c as u16, State::ESTABLISHED);
            s.peer = Endpoint::Inet { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), port: 5000 };
            s
        };
        let socks: Vec<Socket> = (0..30).map(to_5000).collect();
        let mut tr = Tracker { host_ports: Some(((40000, 40039), 40)), ..Tracker::default() };
        let l = tr.update(snap(socks.clone()), Duration::ZERO, Instant::now());
        let (k, v) = l.pressure.iter().next().expect("30 of 40 ports is over half");
        assert!(k.is_outbound());
        assert_eq!(*v, (30, 40));
        let mut roomy = Tracker { host_ports: Some(((10000, 60000), 50001)), ..Tracker::default() };
        assert!(roomy.update(snap(socks), Duration::ZERO, Instant::now()).pressure.is_empty());
    }

    #[test]
    fn ids_without_cookies_use_addresses() {
        let mut a = sock(1, 80, State::ESTABLISHED);
        a.cookie = None;
        let mut b = a.clone();
        assert_eq!(socket_id(&a), socket_id(&b));
        b.local = Endpoint::Inet { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), port: 81 };
        assert_ne!(socket_id(&a), socket_id(&b));
    }
}
