//! Turning successive snapshots into what the dashboard shows: groups, the age of each socket, which ones
//! are new, which closed recently (they linger for a while), and a per-group count history. Pure: the clock
//! comes in as an argument. Runs on the collector thread so the UI thread only swaps in the result.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::collect::Snapshot;
use crate::collect::process::Attribution;
use crate::group::owners::GroupOwners;
use crate::group::{self, Group, GroupKey, StateCounts};
use crate::hash::{FastMap, FastSet};
use crate::model::Socket;
use crate::model::owners::Owner;
use crate::model::owners::ProcessInfo;
use crate::model::text::escape;
use crate::ports::audit::{self, AuditOptions};
use crate::ports::classes::{self, HostPorts, Pressure};
use crate::tui::model::history::{self, GroupSample, Series};
use crate::tui::model::refresh::ListenerPatch;

/// How long a closed socket stays on screen, dimmed.
pub const LINGER: Duration = Duration::from_secs(5);
/// How much count history each group keeps (the sparkline).
pub const HISTORY: Duration = Duration::from_secs(60);

/// One processed refresh, as the UI shows it.
#[derive(Debug, Clone)]
pub struct Live {
    /// The sockets a screen can show one by one: every group's listeners and every socket of the open
    /// group (the rest is counted in the groups, then dropped: at 200k sockets, keeping two full tables,
    /// the one shown and the one being read, would double the memory). Look them up with [`Live::socket`].
    pub sockets: Vec<Socket>,
    /// The snapshot index of each kept socket (same order as `sockets`), ascending. Groups, owners and
    /// audit findings use snapshot indices.
    pub kept: Vec<u32>,
    /// Every socket of the snapshot, kept or not.
    pub total: usize,
    pub groups: Vec<Group>,
    /// When each kept socket (same index as `sockets`) was first seen, in ms after `epoch` (4 bytes a socket
    /// instead of 16: at 200k sockets it shows in the memory high-water mark); see [`Live::first_seen`].
    pub first_seen_ms: Vec<u32>,
    pub epoch: Instant,
    /// Kept sockets not present in the previous refresh (none on the first one).
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
    pub owners: Option<SocketOwners>,
    /// Audit findings of listening sockets (socket index -> reasons), as `sockscope audit` gives them.
    pub audit: FastMap<u32, Vec<String>>,
    /// Outbound groups over the audit's ephemeral-port pressure threshold: group -> its busiest (local
    /// address, remote address, remote port) tuple, as `sockscope audit` reports it.
    pub pressure: FastMap<GroupKey, Pressure>,
    /// The host's ephemeral port range, when it could be read.
    pub ephemeral: Option<crate::ports::PortRange>,
    /// The open group's sockets by state and accept queue over all the time it has been watched.
    pub open_series: Option<Series<GroupSample>>,
    /// The time between full refreshes when it adapts to their cost (zero: every interval).
    pub full_every: Duration,
    /// The label of each network namespace (index = `Socket::netns`), escaped; empty or one entry when one
    /// namespace is shown.
    pub namespaces: Vec<String>,
    /// The namespaces themselves (same index): where a socket is closed (`K`).
    pub netns_table: Arc<crate::model::netns::Namespaces>,
}

impl Live {
    /// The namespace column's text for a group, when several namespaces are shown.
    pub fn namespace_label(&self, netns: crate::model::netns::NetnsId) -> Option<&str> {
        if self.namespaces.len() > 1 { self.namespaces.get(netns as usize).map(String::as_str) } else { None }
    }
}

/// The processes holding the sockets the dashboard shows: the holders of each group's sockets, counted, and
/// the holder of every socket of the open group.
#[derive(Debug, Clone, Default)]
pub struct SocketOwners {
    pub processes: Vec<Arc<ProcessInfo>>,
    /// Socket index -> who holds it, for the sockets of the open group.
    pub of: FastMap<u32, Owner<HeldBy>>,
    /// The holders of each group (same index as [`Live::groups`]).
    pub groups: Vec<GroupOwners>,
    /// We run as root: hidden processes are hidden even from root, not for want of privilege.
    pub root: bool,
}

/// The holders of one socket, compactly: the first (index into [`SocketOwners::processes`]) and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldBy {
    pub first: u32,
    pub count: u16,
}

impl SocketOwners {
    /// Look up the holders of `which` sockets as attributed.
    pub fn of(sockets: &[Socket], which: impl Iterator<Item = u32>, a: &Attribution) -> SocketOwners {
        let mut of = FastMap::default();
        for i in which {
            let Some(s) = sockets.get(i as usize) else { continue };
            let owner = a.owner(s.inode).map(|mut holders| {
                let count = holders.len().min(u16::MAX as usize) as u16;
                HeldBy { first: holders.next().map_or(0, |h| h.index), count }
            });
            of.insert(i, owner);
        }
        let processes = a.map().processes().to_vec();
        SocketOwners { processes, of, groups: Vec::new(), root: a.root() }
    }

    /// `nginx[812]`, `nginx[812] +2`, `hidden`, `new` (not looked up yet), or `-`, fitted to `max` characters
    /// (the name shortens).
    pub fn label(&self, i: usize, max: usize) -> String {
        match self.of.get(&(i as u32)) {
            Some(Owner::Held(HeldBy { first, count })) => {
                let p = &self.processes[*first as usize];
                let more = if *count > 1 { format!(" +{}", count - 1) } else { String::new() };
                crate::group::owners::name_pid(&p.comm, p.pid, &more, max)
            }
            Some(Owner::Hidden) => "hidden".into(),
            Some(Owner::NotLookedUp) => "new".into(),
            _ => "-".into(),
        }
    }

    /// What the detail says about who holds socket `i` (`uid` is the socket's owner).
    pub fn describe(&self, i: u32, uid: Option<u32>) -> String {
        match self.of.get(&i) {
            Some(Owner::NotLookedUp) => "not looked up yet: the socket is newer than the last look through the \
                                         processes' fd tables; its holder shows within about 10 s"
                .into(),
            Some(Owner::Held(HeldBy { first, count })) => {
                let p = &self.processes[*first as usize];
                let more = if *count > 1 { format!(" (and {} more)", count - 1) } else { String::new() };
                let (comm, cmdline) = (escape(&p.comm), escape(&p.cmdline));
                format!("{comm} pid {} uid {}: {cmdline}{more}", p.pid, p.uid)
            }
            Some(Owner::Hidden) => format!(
                "hidden: owned by uid {}; no process that could be inspected holds it, and some could not be \
                 ({}): one of those may",
                uid.map_or("?".into(), |u| u.to_string()),
                crate::collect::process::hidden_why(self.root)
            ),
            _ => "none (no process holds this socket)".into(),
        }
    }
}

impl Live {
    fn pos(&self, i: usize) -> Option<usize> {
        self.kept.binary_search(&u32::try_from(i).ok()?).ok()
    }

    /// Socket `i` of the snapshot, when it was kept.
    pub fn socket(&self, i: usize) -> Option<&Socket> {
        self.pos(i).and_then(|p| self.sockets.get(p))
    }

    /// When socket `i` of the snapshot was first seen.
    pub fn first_seen(&self, i: usize) -> Instant {
        let ms = self.pos(i).and_then(|p| self.first_seen_ms.get(p)).copied().unwrap_or(0);
        self.epoch + Duration::from_millis(ms as u64)
    }

    /// Whether socket `i` of the snapshot is new since the previous refresh.
    pub fn is_new(&self, i: usize) -> bool {
        self.pos(i).and_then(|p| self.is_new.get(p)).copied().unwrap_or(false)
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

/// (id, index, first seen = `now_ms`) of every socket, sorted by id: the tracker's table (one table of 16
/// bytes a socket: at 200k sockets it shows in the peak memory).
fn identify(sockets: &[Socket], now_ms: u32) -> Vec<(u64, u32, u32)> {
    let mut seen: Vec<(u64, u32, u32)> =
        sockets.iter().enumerate().map(|(i, s)| (s.identity(), i as u32, now_ms)).collect();
    seen.sort_unstable_by_key(|e| e.0);
    seen
}

/// The indices, ascending, of the records that repeat an earlier one's cookie (a dump is not atomic: a
/// socket can be sent twice); the first of each cookie stays. From [`identify`]'s table, where they are
/// neighbours.
fn repeated(seen: &[(u64, u32, u32)], sockets: &[Socket]) -> Vec<u32> {
    let cookie = |i: u32| sockets.get(i as usize).and_then(|s| s.cookie);
    let mut out = Vec::new();
    let mut run = 0;
    while run < seen.len() {
        let end = run + seen[run..].iter().take_while(|e| e.0 == seen[run].0).count();
        if end - run > 1 && cookie(seen[run].1).is_some() {
            let first = seen[run..end].iter().map(|e| e.1).min().unwrap_or(0);
            out.extend(seen[run..end].iter().map(|e| e.1).filter(|&i| i != first && cookie(i) == cookie(first)));
        }
        run = end;
    }
    out.sort_unstable();
    out
}

/// Carries state from one refresh to the next.
#[derive(Default)]
pub struct LiveTracker {
    /// (id, index in `prev.sockets`, first seen) of the previous refresh, sorted by id. A sorted merge
    /// beats a hash map here: at 200k sockets the map's random accesses miss the cache on every lookup.
    seen: Vec<(u64, u32, u32)>,
    /// The time of the first refresh; first-seen times are kept in ms after it.
    epoch: Option<Instant>,
    prev: Option<Arc<Live>>,
    closed: Vec<Closed>,
    history: FastMap<GroupKey, VecDeque<(Instant, u32)>>,
    /// Each group's states over time, for the group screen's chart (bounded: [`history::MAX_GROUPS`]).
    series: FastMap<GroupKey, Series<GroupSample>>,
    /// The time between full refreshes the collector chose (shown in the header).
    pub full_every: Duration,
    /// The host's ephemeral range and reserved ports, for pressure warnings; `None` when unknown.
    host: Option<HostPorts>,
    /// The audit's options, the same `sockscope audit` uses.
    audit: AuditOptions,
    /// The last snapshot's table, emptied, for the next collection to fill: see [`LiveTracker::take_spare`].
    spare: Vec<Socket>,
}

impl LiveTracker {
    #[cfg(test)]
    pub fn new() -> Self {
        LiveTracker::default()
    }

    /// A tracker that audits listeners and ephemeral-port pressure as `sockscope audit` does: with the host's
    /// ports (`None` when unknown: no pressure warnings) and the audit's options.
    pub fn auditing(host: Option<HostPorts>, audit: AuditOptions) -> Self {
        LiveTracker { host, audit, ..LiveTracker::default() }
    }

    /// The last snapshot's socket table, emptied but with its capacity: filling it again (see
    /// [`crate::collect::collect_into`]) spares a large allocation and its page faults every refresh (at 200k sockets
    /// a 34 MB table, as many faults as the decoding has work).
    pub fn take_spare(&mut self) -> Vec<Socket> {
        std::mem::take(&mut self.spare)
    }

    /// A listeners-only refresh at `now`: the accept queues laid over the last full data, and the open
    /// group's series with a new sample.
    pub fn listeners(&mut self, sockets: &[Socket], now: Instant, open: Option<&GroupKey>) -> ListenerPatch {
        let mut patch = ListenerPatch::from_listeners(sockets, now);
        if let (Some(key), Some(prev), Some(epoch)) = (open, &self.prev, self.epoch)
            && let Some(g) = prev.groups.iter().find(|g| &g.key == key)
            && let Some(q) = patch.queues.get(key)
        {
            let mut sample = GroupSample::of(g, now.saturating_duration_since(epoch).as_secs_f64());
            sample.queue_pct = if q.1 > 0 { (q.0 as f32 * 100.0 / q.1 as f32).min(100.0) } else { 0.0 };
            let series = self.series.entry(key.clone()).or_default();
            series.push(sample);
            patch.open_series = Some(series.clone());
        }
        patch
    }

    /// Process a new snapshot taken at `now` that took `collect_time`, without process attribution.
    #[cfg(test)]
    pub fn update(&mut self, snap: Snapshot, collect_time: Duration, now: Instant) -> Arc<Live> {
        self.update_with(snap, collect_time, now, None, None)
    }

    /// Process a new snapshot taken at `now` that took `collect_time`, with process attribution: the holders of every group's sockets are counted,
    /// and those of every socket of the `open` group kept.
    pub fn update_with(
        &mut self,
        snap: Snapshot,
        collect_time: Duration,
        now: Instant,
        procs: Option<&Attribution>,
        open: Option<&GroupKey>,
    ) -> Arc<Live> {
        let mut sockets = snap.sockets;
        let epoch = *self.epoch.get_or_insert(now);
        let now_ms = now.saturating_duration_since(epoch).as_millis().min(u32::MAX as u128) as u32;
        // The dump leaves repeated records (by cookie) to this match, which sorts every id anyway.
        let mut seen = identify(&sockets, now_ms);
        drop_repeats(&mut sockets, &mut seen);
        let fold = self.host.as_ref().map(group::Fold::of);
        let groups = group::group_with(&sockets, fold.as_ref());
        let totals = sockets.iter().fold(StateCounts::default(), |mut t, s| {
            t.add(s.state);
            t
        });
        let (first_seen, is_new) = self.track(&sockets, seen, epoch, now);
        let history = self.record_history(&groups, now);
        let open_series = self.push_series(&groups, now.saturating_duration_since(epoch).as_secs_f64(), open);
        let owners = procs.map(|a| {
            let open =
                groups.iter().filter(|g| Some(&g.key) == open).flat_map(|g| g.listeners.iter().chain(&g.members));
            let mut o = SocketOwners::of(&sockets, open.copied(), a);
            o.groups = crate::group::owners::summarize(&sockets, &groups, a);
            o
        });
        let audit = audit_listeners(&sockets, &groups, &self.audit);
        let pressure = match &self.host {
            Some(host) => pressure(&sockets, &groups, host, self.audit.threshold_pct),
            None => FastMap::default(),
        };
        let total = sockets.len();
        let (kept, kept_sockets) = keep_shown(&mut sockets, &groups, open);
        // The emptied table is kept for the next collection, unless it is far larger than this one needed.
        if sockets.capacity() > 2 * total + 4096 {
            sockets.shrink_to(total + total / 8);
        }
        self.spare = sockets;
        let first_seen: Vec<u32> = kept.iter().map(|&i| first_seen[i as usize]).collect();
        let is_new: Vec<bool> = kept.iter().map(|&i| is_new[i as usize]).collect();
        let mut sources: Vec<String> = snap.sources.iter().map(|(_, s)| s.to_string()).collect();
        sources.dedup();
        let live = Arc::new(Live {
            sockets: kept_sockets,
            kept,
            total,
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
            ephemeral: self.host.as_ref().map(|h| h.ephemeral),
            namespaces: snap.namespaces.0.iter().map(|n| crate::model::text::escape(&n.label()).into_owned()).collect(),
            netns_table: Arc::new(snap.namespaces),
            open_series,
            full_every: self.full_every,
        });
        self.prev = Some(live.clone());
        live
    }

    /// Add this refresh's sample (at `t` seconds) to each group's series, the biggest
    /// [`history::MAX_GROUPS`] groups only; the others' series are forgotten (the open group's kept). The open
    /// group's series, for its charts.
    fn push_series(&mut self, groups: &[Group], t: f64, open: Option<&GroupKey>) -> Option<Series<GroupSample>> {
        // Groups come biggest first: the ones past the bound are the smallest.
        for g in groups.iter().take(history::MAX_GROUPS) {
            self.series.entry(g.key.clone()).or_default().push(GroupSample::of(g, t));
        }
        if self.series.len() > groups.len().min(history::MAX_GROUPS) {
            let keep: FastSet<&GroupKey> = groups.iter().take(history::MAX_GROUPS).map(|g| &g.key).collect();
            self.series.retain(|k, _| keep.contains(k) || Some(k) == open);
        }
        open.and_then(|k| self.series.get(k)).cloned()
    }

    /// Match the sockets against the previous refresh by identity: when each was first seen (ms after `epoch`)
    /// and whether it is new; sockets gone since are kept in `closed`, with their group, for [`LINGER`].
    /// `seen` is [`identify`]'s table of `sockets`: filled in place, it becomes the next refresh's.
    fn track(
        &mut self,
        sockets: &[Socket],
        mut seen: Vec<(u64, u32, u32)>,
        epoch: Instant,
        now: Instant,
    ) -> (Vec<u32>, Vec<bool>) {
        let n = sockets.len();
        let now_ms = now.saturating_duration_since(epoch).as_millis().min(u32::MAX as u128) as u32;
        let mut first_seen = vec![now_ms; n];
        let mut is_new = vec![self.prev.is_some(); n];
        let mut gone: Vec<(u32, u32)> = Vec::new();
        let old = std::mem::take(&mut self.seen);
        let mut a = 0;
        let mut last = None;
        for e in seen.iter_mut() {
            let (id, idx) = (e.0, e.1);
            while a < old.len() && old[a].0 < id {
                gone.push((old[a].1, old[a].2));
                a += 1;
            }
            // An id seen twice in one snapshot (a hash collision of cookie-less records) counts as new.
            let dup = last == Some(id);
            last = Some(id);
            if !dup && a < old.len() && old[a].0 == id {
                first_seen[idx as usize] = old[a].2;
                is_new[idx as usize] = false;
                e.2 = old[a].2;
                a += 1;
            }
        }
        gone.extend(old[a..].iter().map(|e| (e.1, e.2)));
        // What is gone closed since the last refresh: keep it, with its group, for a while.
        if let Some(prev) = &self.prev
            && !gone.is_empty()
        {
            let gone: FastMap<u32, u32> = gone.into_iter().collect();
            for g in &prev.groups {
                for i in g.listeners.iter().chain(&g.members) {
                    if let (Some(t), Some(s)) = (gone.get(i), prev.socket(*i as usize)) {
                        let first_seen = epoch + Duration::from_millis(*t as u64);
                        let c = Closed { socket: s.clone(), group: g.key.clone(), first_seen, closed_at: now };
                        self.closed.push(c);
                    }
                }
            }
        }
        self.closed.retain(|c| now.saturating_duration_since(c.closed_at) < LINGER);
        self.seen = seen;
        (first_seen, is_new)
    }

    /// Add this refresh's group sizes to the history (0 for a group that disappeared), drop what is older
    /// than [`HISTORY`], and give each group's counts, oldest first.
    fn record_history(&mut self, groups: &[Group], now: Instant) -> FastMap<GroupKey, Vec<u32>> {
        for g in groups {
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
        self.history.iter().map(|(k, h)| (k.clone(), h.iter().map(|(_, n)| *n).collect())).collect()
    }
}

/// Drop the sockets a dump repeated (by identity; the first one stays) from `sockets` and from `seen`, the
/// table of (identity, index, ...) sorted by identity, whose indices after each dropped one shift down.
fn drop_repeats(sockets: &mut Vec<Socket>, seen: &mut Vec<(u64, u32, u32)>) {
    let repeats = repeated(seen, sockets);
    if repeats.is_empty() {
        return;
    }
    let mut keep = vec![true; sockets.len()];
    for &i in &repeats {
        if let Some(k) = keep.get_mut(i as usize) {
            *k = false;
        }
    }
    let mut k = keep.iter();
    sockets.retain(|_| k.next().copied().unwrap_or(true));
    // The table stays sorted by id: drop the repeats' entries and shift the indices after them.
    seen.retain(|e| repeats.binary_search(&e.1).is_err());
    for e in seen.iter_mut() {
        e.1 -= repeats.partition_point(|&r| r < e.1) as u32;
    }
}

/// What a screen can show one by one (every listener, and the open group's sockets): their indices, and the
/// sockets themselves, moved out of `sockets` (left empty); the rest lives on in the counts.
fn keep_shown(sockets: &mut Vec<Socket>, groups: &[Group], open: Option<&GroupKey>) -> (Vec<u32>, Vec<Socket>) {
    let mut kept: Vec<u32> = groups.iter().flat_map(|g| g.listeners.iter().copied()).collect();
    if let Some(g) = groups.iter().find(|g| Some(&g.key) == open) {
        kept.extend(g.members.iter().copied());
    }
    kept.sort_unstable();
    kept.dedup();
    let mut want = kept.iter().peekable();
    let mut kept_sockets = Vec::with_capacity(kept.len());
    for (i, s) in sockets.drain(..).enumerate() {
        if want.peek().is_some_and(|&&k| k as usize == i) {
            kept_sockets.push(s);
            want.next();
        }
    }
    (kept, kept_sockets)
}

/// `sockscope audit`'s findings for every listening socket (listeners are few; the rest is not looked at).
fn audit_listeners(sockets: &[Socket], groups: &[Group], opts: &AuditOptions) -> FastMap<u32, Vec<String>> {
    let mut out = FastMap::default();
    for &i in groups.iter().flat_map(|g| &g.listeners) {
        if let Some(s) = sockets.get(i as usize) {
            let flags = audit::assess(s, opts);
            if !flags.is_empty() {
                out.insert(i, flags.into_iter().map(|f| f.reason).collect());
            }
        }
    }
    out
}

/// Outbound groups whose busiest tuple is over `threshold_pct` of the usable ephemeral ports, by the audit's
/// rules ([`classes::ephemeral_pressure`]). A tuple is at most its group, so only groups larger than the
/// threshold can be over it: only their sockets are counted (at 200k sockets, the rest would cost more than
/// everything else).
fn pressure(sockets: &[Socket], groups: &[Group], host: &HostPorts, threshold_pct: f64) -> FastMap<GroupKey, Pressure> {
    let limit = f64::from(host.capacity()) * threshold_pct / 100.0;
    let large: Vec<&Group> = groups
        .iter()
        .filter(|g| matches!(g.key, GroupKey::Outbound { .. }) && g.members.len() as f64 > limit)
        .collect();
    if large.is_empty() {
        return FastMap::default();
    }
    let which = large.iter().flat_map(|g| g.members.iter().map(|&i| i as usize));
    let pressures = classes::ephemeral_pressure_of(sockets, which, host);
    let mut out = FastMap::default();
    for g in large {
        let GroupKey::Outbound { proto, ip, port, netns } = g.key else { continue };
        if let Some(p) = classes::pressure_towards(&pressures, netns, proto, ip, port).filter(|p| p.over(threshold_pct))
        {
            out.insert(g.key.clone(), p.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests;
