//! The collector thread: what it is asked ([`CollectSettings`], sent by the UI loop whenever they change), how
//! often it pays for a full refresh, and what it sends back ([`Refresh`]): every interval the listeners, the
//! full table when its cost allows, each bound to the filter and turned into a [`Live`] by the
//! [`LiveTracker`]. No terminal here.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use super::refresh;
use crate::collect::process::{Attribution, Attributor, Policy};
use crate::collect::{self, Collector, Query};
use crate::group::GroupKey;
use crate::model::StateSet;
use crate::tui::model::live::{Live, LiveTracker};
use crate::tui::model::refresh::ListenerPatch;

/// What a filter text selects: states (pushed to the collector) and an expression over records.
pub use crate::filter::Parsed as Selection;

/// Which protocols are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protos {
    pub tcp: bool,
    pub udp: bool,
    pub unix: bool,
}

/// What the collector thread needs to know; the event loop sends it whenever it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectSettings {
    pub interval: Duration,
    pub paused: bool,
    pub protos: Protos,
    pub selection: Selection,
    /// Ask the kernel for tcp_info and memory (while a group is open: it costs kernel time).
    pub details: bool,
    /// The group drilled into: its sockets get their processes looked up.
    pub open_group: Option<GroupKey>,
}

impl Default for CollectSettings {
    /// The dashboard's defaults: a 1 s pause between refreshes, every protocol, no filter.
    fn default() -> Self {
        CollectSettings {
            interval: Duration::from_secs(1),
            paused: false,
            protos: Protos { tcp: true, udp: true, unix: true },
            selection: Selection::default(),
            details: false,
            open_group: None,
        }
    }
}

/// Messages from the collector thread.
pub enum Refresh {
    Full(Arc<Live>),
    /// A listeners-only refresh between full ones.
    Listeners(Arc<ListenerPatch>),
    Error(String),
}

/// The query a collection needs for these settings.
pub fn query_for(settings: &CollectSettings, ipv4: bool, ipv6: bool) -> Query {
    Query {
        tcp: settings.protos.tcp,
        udp: settings.protos.udp,
        unix: settings.protos.unix,
        ipv4,
        ipv6,
        states: settings.selection.states.unwrap_or(StateSet::ALL),
        bytecode: crate::filter::bytecode::compile(&settings.selection.expr),
        info: settings.details,
        memory: settings.details,
        // A `cgroup PATH` term matches the kernel's cgroup id of each socket, sent with the details.
        details: settings.selection.expr.needs().cgroup_ids,
        one_tcp_walk: true,
        receive_thread: false,
        // The tracker drops what a dump repeats, in the sort by cookie it does anyway.
        dedupe: false,
        ..Query::default()
    }
}

/// The collector thread's stack: explicit, so what the tests prove about filter depth holds in the dashboard.
pub const COLLECTOR_STACK: usize = 2 << 20;

/// Collect, filter and track on this thread until the UI goes away. Every interval the listeners are
/// dumped (cheap); the full table when [`refresh::full_every`] says its cost allows, at least every
/// [`refresh::MAX_AGE`]. Settings that change what is shown force a full refresh.
pub fn collector_loop(
    collector: Box<dyn Collector>,
    tracker: LiveTracker,
    (proc_root, state_roots): (PathBuf, crate::collect::cgroup::StateRoots),
    mut settings: CollectSettings,
    families: (bool, bool),
    commands: Receiver<CollectSettings>,
    updates: Sender<Refresh>,
) {
    let namer = crate::collect::cgroup::Namer::new(&proc_root, state_roots);
    let mut c = Collecting {
        collector,
        tracker,
        attributor: Attributor::new(Policy::dashboard()),
        namer,
        proc_root,
        families,
        last_full: None,
        full_every: settings.interval,
        force: true,
    };
    loop {
        if !settings.paused && updates.send(c.refresh(&settings)).is_err() {
            return;
        }
        // The interval is the pause between two refreshes (as top's delay): a host where collecting takes
        // long is not polled back to back. A full refresh that is due sooner shortens the wait.
        let until_full = c.last_full.map_or(Duration::ZERO, |t| c.full_every.saturating_sub(t.elapsed()));
        let pause = if settings.paused { settings.interval } else { settings.interval.min(until_full) };
        match wait(&commands, &mut settings, pause) {
            Some(force) => c.force |= force,
            None => return,
        }
    }
}

/// What the collector thread keeps between refreshes.
struct Collecting {
    collector: Box<dyn Collector>,
    tracker: LiveTracker,
    attributor: Attributor,
    namer: crate::collect::cgroup::Namer,
    proc_root: PathBuf,
    families: (bool, bool),
    last_full: Option<Instant>,
    /// How often a full refresh is paid for, from what the last one cost.
    full_every: Duration,
    /// The next refresh is a full one, processes looked through again (what is shown changed).
    force: bool,
}

impl Collecting {
    /// One refresh: the full table when it is due or forced, else the listeners.
    fn refresh(&mut self, settings: &CollectSettings) -> Refresh {
        let started = Instant::now();
        let full = self.force || self.last_full.is_none_or(|t| t.elapsed() >= self.full_every);
        if !full {
            return self.listeners(settings, started);
        }
        let cpu = refresh::cpu_time();
        // The processes are looked through as the dashboard's policy says, and when what is shown changed.
        if self.force {
            self.attributor.expire();
        }
        let msg = full_refresh(
            &mut *self.collector,
            &mut self.attributor,
            &mut self.tracker,
            settings,
            self.families,
            (&self.proc_root, &mut self.namer),
            started,
        );
        self.full_every =
            refresh::full_every(settings.interval, refresh::cpu_time().saturating_sub(cpu), started.elapsed());
        self.tracker.full_every = self.full_every;
        self.last_full = Some(started);
        self.force = false;
        msg
    }

    /// A listeners-only refresh: their accept queues, and the open group's series a sample longer.
    fn listeners(&mut self, settings: &CollectSettings, started: Instant) -> Refresh {
        let mut q = query_for(settings, self.families.0, self.families.1);
        q.states = StateSet::of(&[crate::model::State::LISTEN]);
        // Listeners go to the screen without the tracker's match.
        q.dedupe = true;
        q.info = false;
        q.memory = false;
        let snap = match self.collector.collect(&q) {
            Ok(s) => s,
            Err(e) => return Refresh::Error(e.to_string()),
        };
        let known = self.attributor.current();
        match resolve(&settings.selection.expr, &snap, &known, &self.proc_root, &mut self.namer) {
            Ok(expr) => {
                let keep: Vec<crate::model::Socket> = snap.sockets.into_iter().filter(|s| expr.matches(s)).collect();
                Refresh::Listeners(Arc::new(self.tracker.listeners(&keep, started, settings.open_group.as_ref())))
            }
            Err(e) => Refresh::Error(e.to_string()),
        }
    }
}

/// Wait up to `pause` for new settings, taking each one that comes. `Some(true)` when one changes what is
/// shown (a full refresh at once), `Some(false)` when the pause ran out, `None` when the UI is gone.
fn wait(commands: &Receiver<CollectSettings>, settings: &mut CollectSettings, pause: Duration) -> Option<bool> {
    let start = Instant::now();
    loop {
        match commands.recv_timeout(pause.saturating_sub(start.elapsed())) {
            Ok(new) => {
                let now = new.selection != settings.selection
                    || new.protos != settings.protos
                    || (settings.paused && !new.paused)
                    || (new.details && !settings.details)
                    || (new.open_group.is_some() && new.open_group != settings.open_group);
                *settings = new;
                if now {
                    return Some(true);
                }
            }
            Err(RecvTimeoutError::Timeout) => return Some(false),
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// One full refresh: every socket, processes attributed as the dashboard's [`Policy`] says, tracked against
/// the last one.
fn full_refresh(
    collector: &mut dyn Collector,
    attributor: &mut Attributor,
    tracker: &mut LiveTracker,
    settings: &CollectSettings,
    (ipv4, ipv6): (bool, bool),
    (proc_root, namer): (&std::path::Path, &mut crate::collect::cgroup::Namer),
    started: Instant,
) -> Refresh {
    let q = query_for(settings, ipv4, ipv6);
    match collect::collect_into(collector, &q, tracker.take_spare()) {
        Ok(mut snap) => {
            let took = started.elapsed();
            // When the processes cannot be looked through, the filter binds to what was known.
            let procs = attributor.attribute(proc_root, &snap.sockets).ok();
            let known = procs.clone().unwrap_or_else(|| attributor.current());
            let expr = match resolve(&settings.selection.expr, &snap, &known, proc_root, namer) {
                Ok(e) => e,
                Err(e) => return Refresh::Error(e.to_string()),
            };
            if !expr.is_true() {
                snap.sockets.retain(|s| expr.matches(s));
            }
            Refresh::Full(tracker.update_with(snap, took, started, procs.as_ref(), settings.open_group.as_ref()))
        }
        Err(e) => Refresh::Error(e.to_string()),
    }
}

/// The dashboard's filter bound for this snapshot: its `process`/`pid` terms against the attribution, its
/// `netns`/`container`/`unit`/`cgroup` terms against the snapshot's namespaces.
fn resolve(
    expr: &crate::filter::Expr,
    snap: &crate::collect::Snapshot,
    procs: &Attribution,
    proc_root: &std::path::Path,
    namer: &mut crate::collect::cgroup::Namer,
) -> Result<crate::filter::Bound, crate::filter::BindError> {
    use crate::collect::workloads::Workloads;
    let needs = expr.needs();
    let w = Workloads::for_filter(&snap.namespaces, Some(procs.map()), needs.workloads, proc_root, namer);
    let have = crate::filter::Have::new("the dashboard")
        .holders(procs.map(), procs.complete())
        .workloads(&w)
        .cgroup_ids(needs.cgroup_ids);
    crate::filter::bind(expr, &have)
}

#[cfg(test)]
mod tests;
