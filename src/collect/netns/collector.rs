//! The collector over a namespace [`Choice`] other than the caller's own ([`MultiCollector`]): each
//! collection discovers and dumps again, and a namespace keeps its id while it lives ([`Ids`]), so whatever a
//! view keys by namespace does not jump when one appears or goes; one gone for [`FORGET_AFTER`] is forgotten.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::dump::{self, Skip};
use super::{Choice, Found, NetnsError, Plan, Roots};
use crate::collect::cgroup::Namer;
use crate::collect::procfs::sockstat::SockStat;
use crate::collect::{CollectError, Collector, Query, Sink, Snapshot, SourceChoice};
use crate::model::netns::{Namespace, Namespaces, NetnsId};

/// How long a namespace that is gone keeps its id and its entry in the table (a view still shows its
/// closed sockets and their history) before it is forgotten and its id may be given to another: the
/// dashboard's history.
pub const FORGET_AFTER: Duration = Duration::from_secs(60);

/// Stable ids for the namespaces of successive discoveries: a namespace keeps the id it had; a new one
/// takes the lowest vacant id, else the next; one missing for [`FORGET_AFTER`] is forgotten (its id
/// vacant, the table shorter when it was the last). The table stays as long as the most namespaces that
/// lived at once within that time, not every namespace ever seen.
#[derive(Debug, Default)]
pub struct Ids {
    /// By id: the namespace, and since when it has been missing; `None`: vacant.
    slots: Vec<Option<(Found, Option<Instant>)>>,
    /// The table the ids index (a vacant id holds an empty entry that no socket refers to).
    table: Namespaces,
}

impl Ids {
    /// Give each of `found` (one discovery, at `now`) its id, and forget the namespaces missing for
    /// [`FORGET_AFTER`]. Returns the ids in `found`'s order.
    pub fn update(&mut self, found: &[Found], now: Instant) -> Vec<NetnsId> {
        let by_inode: crate::hash::FastMap<u64, usize> =
            self.slots.iter().enumerate().filter_map(|(i, s)| Some((s.as_ref()?.0.ns.inode, i))).collect();
        for (_, missing) in self.slots.iter_mut().flatten() {
            missing.get_or_insert(now);
        }
        let mut ids: Vec<Option<usize>> = vec![None; found.len()];
        for (f, id) in found.iter().zip(&mut ids) {
            if let Some(&i) = by_inode.get(&f.ns.inode) {
                self.slots[i] = Some((f.clone(), None));
                *id = Some(i);
            }
        }
        for slot in &mut self.slots {
            if matches!(slot, Some((_, Some(since))) if now.saturating_duration_since(*since) >= FORGET_AFTER) {
                *slot = None;
            }
        }
        let mut vacant = 0;
        for (f, id) in found.iter().zip(&mut ids).filter(|(_, id)| id.is_none()) {
            while vacant < self.slots.len() && self.slots[vacant].is_some() {
                vacant += 1;
            }
            if vacant == self.slots.len() {
                self.slots.push(None);
            }
            self.slots[vacant] = Some((f.clone(), None));
            *id = Some(vacant);
        }
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        let entry = |s: &Option<(Found, Option<Instant>)>| s.as_ref().map(|(f, _)| f.ns.clone()).unwrap_or_default();
        self.table = Namespaces(self.slots.iter().map(entry).collect());
        ids.into_iter().map(|id| id.unwrap_or_default() as NetnsId).collect()
    }

    /// The table the ids index.
    pub fn table(&self) -> &Namespaces {
        &self.table
    }

    /// Each id's namespace and the paths it was found by (a vacant id's: none).
    pub fn found(&self) -> Vec<Found> {
        let vacant = || Found { ns: Namespace::default(), paths: Vec::new(), pids: Vec::new() };
        self.slots.iter().map(|s| s.as_ref().map_or_else(vacant, |(f, _)| f.clone())).collect()
    }
}

/// A [`Collector`] over a namespace [`Choice`] (`-N`, `--all-netns`); see the module.
pub struct MultiCollector {
    choice: Choice,
    roots: Roots,
    namer: Namer,
    source: SourceChoice,
    /// The next collection's plan, found ahead (by [`MultiCollector::namespaces`]) or at the collection,
    /// with each of its namespaces' id.
    next: Option<(Plan, Vec<NetnsId>)>,
    ids: Ids,
    /// The caller's own namespace's inode, and the namespaces the last collection read.
    own: u64,
    read: usize,
}

impl MultiCollector {
    pub fn new(choice: Choice, roots: Roots, namer: Namer, source: SourceChoice) -> MultiCollector {
        MultiCollector { choice, roots, namer, source, next: None, ids: Ids::default(), own: 0, read: 0 }
    }

    /// The next collection's plan, found now if not yet.
    fn plan(&mut self) -> Result<&(Plan, Vec<NetnsId>), NetnsError> {
        if self.next.is_none() {
            let plan = Plan::new(&self.choice, &self.roots, &mut self.namer)?
                .ok_or_else(|| NetnsError::Nothing("no network namespace was chosen".into()))?;
            let ids = self.ids.update(&plan.found, Instant::now());
            self.own = plan.own();
            self.next = Some((plan, ids));
        }
        Ok(self.next.as_ref().expect("planned just above"))
    }

    /// The table the next collection's sockets index (see [`crate::collect::Opened::namespaces`]).
    pub fn namespaces(&mut self) -> Result<&Namespaces, NetnsError> {
        self.plan()?;
        Ok(self.ids.table())
    }

    /// Is one namespace chosen (`-N`)?
    pub fn is_one(&self) -> bool {
        matches!(self.choice, Choice::One(_))
    }

    /// The proc root namespaces are found in.
    pub fn proc_root(&self) -> &std::path::Path {
        &self.roots.proc_root
    }

    /// How many namespaces the last collection read.
    pub fn read(&self) -> usize {
        self.read
    }

    /// Each id's namespace and the paths it was found by, and the caller's own namespace's inode: where
    /// closing a socket in its own enters.
    pub fn found(&self) -> (Vec<Found>, u64) {
        (self.ids.found(), self.own)
    }

    /// The `ss -s` counters summed over the next collection's namespaces, and notes.
    pub fn sockstat(&mut self) -> Result<(SockStat, Vec<String>), NetnsError> {
        let proc_root = self.roots.proc_root.clone();
        self.plan()?.0.sockstat(&proc_root)
    }

    /// Run `work` in each namespace of the last collection's table (see
    /// [`crate::collect::Opened::in_each_namespace`]).
    pub fn in_each_namespace<T: Send>(
        &mut self,
        work: impl Fn(&std::path::Path) -> T + Sync,
    ) -> Vec<(NetnsId, Result<T, Skip>)> {
        let (found, own) = self.found();
        let proc_root = self.roots.proc_root.clone();
        let mut out = Vec::new();
        for (id, f) in found.iter().enumerate() {
            if f.paths.is_empty() && f.pids.is_empty() {
                continue;
            }
            out.push((id as NetnsId, dump::in_namespace(f, own, &proc_root, |here| work(&here))));
        }
        out
    }

    /// Run `work` in the first namespace of the next collection (`-N`'s one).
    pub fn in_the_namespace<T: Send>(&mut self, work: impl FnOnce() -> T + Send) -> Result<T, Skip> {
        let proc_root: PathBuf = self.roots.proc_root.clone();
        let (plan, _) = self.plan().map_err(|e| Skip::Enter(std::io::Error::other(e.to_string())))?;
        let f = plan.found.first().ok_or(Skip::Gone)?;
        dump::in_namespace(f, plan.own(), &proc_root, |_| work())
    }
}

impl Collector for MultiCollector {
    fn stream(&mut self, q: &Query, sink: &mut Sink<'_>) -> Result<Snapshot, CollectError> {
        let to_collect = |e: NetnsError| match e {
            NetnsError::Collect(c) => c,
            other => CollectError::Namespace(other.to_string()),
        };
        self.plan().map_err(to_collect)?;
        let (plan, ids) = self.next.take().expect("planned just above");
        let mut relabel = |mut batch: Vec<crate::model::Socket>| {
            for s in &mut batch {
                s.netns = ids.get(s.netns as usize).copied().unwrap_or(s.netns);
            }
            sink(batch)
        };
        let multi = plan.stream(self.source, &self.roots.proc_root, q, &mut relabel).map_err(to_collect)?;
        self.read = multi.read();
        let mut snap = multi.snapshot;
        snap.namespaces = self.ids.table().clone();
        Ok(snap)
    }
}
