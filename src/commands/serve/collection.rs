//! The exporter's collection: one socket dump (plus the listeners' processes, the host's port ranges and the
//! kernel counters) made into a [`Data`] that every request of the interval shares. Blocking; the server runs
//! it on tokio's blocking pool, one at a time.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::body::Bytes;

use crate::collect::cgroup::Namer;
use crate::collect::process::ProcessCache;
use crate::collect::procfs::counters;
use crate::collect::workloads::Workloads;
use crate::collect::{self, CollectError, Collector, Query, SourceChoice};
use crate::filter::{BindError, Bound, Expr, Have, bind};
use crate::group::{self, Group};
use crate::hash::FastSet;
use crate::model::Socket;
use crate::model::netns::Namespaces;
use crate::model::owners::ProcessMap;
use crate::output::Names;
use crate::output::metrics::{self, Caps, Exporter, Format, Input};
use crate::ports::classes::{self, HostPorts};
use crate::ports::services::Services;

/// What a collection selects and how it is exported.
#[derive(Debug)]
pub struct Settings {
    pub query: Query,
    pub filter: Expr,
    pub source: SourceChoice,
    pub proc_root: PathBuf,
    pub services: Services,
    pub caps: Caps,
    /// Look up the processes holding listeners.
    pub processes: bool,
    /// Which network namespaces (`-N`, `--all-netns`).
    pub netns: collect::netns::Choice,
    /// Where container and pod names are read.
    pub state_roots: collect::cgroup::StateRoots,
}

/// A new listener waits at most this long for its `process` label (a /proc scan reads every process's fds:
/// seconds at 100k sockets on a busy host, so it is not repeated for every collection).
const PROCESS_MIN_GAP: Duration = Duration::from_secs(15);
/// The listeners' processes are looked up again at least this often (a holder may exec or hand a socket on).
const PROCESS_MAX_AGE: Duration = Duration::from_secs(300);
/// API requests whose filter names processes refresh the process cache at most this often (each would
/// otherwise rescan /proc).
const BIND_REFRESH_GAP: Duration = Duration::from_secs(5);

/// One interval's data, shared read-only by the requests.
#[derive(Debug)]
pub struct Data {
    /// When the collection started (the data's age counts from here).
    pub at: Instant,
    /// The selected sockets and their groups were kept (for the API); a collection for /metrics alone keeps
    /// only the metrics, so an exporter nobody asks for JSON stays small.
    pub kept: bool,
    /// The selected sockets (empty when not kept or when the collection failed).
    pub sockets: Vec<Socket>,
    /// `group::group_with(&sockets, fold)`.
    pub groups: Vec<Group>,
    /// How the groups fold unconnected UDP sockets on ephemeral ports (the dashboard's rule), for the
    /// groups of a filter's sockets too.
    pub fold: Option<group::Fold>,
    /// Indices of `sockets` in [`Data::key`] order (the API's pages).
    pub order: Vec<u32>,
    /// What the sockets' JSON shows besides themselves (interfaces; namespaces and workloads with several).
    pub names: Names,
    /// The namespaces `Socket::netns` indexes (empty without namespace flags).
    pub namespaces: Namespaces,
    /// The metrics, rendered once per format.
    pub text: Bytes,
    pub openmetrics: Bytes,
    /// Why the collection failed.
    pub error: Option<String>,
}

/// A socket's place in the API's order: (cookie, namespace inode, inode). It outlives a collection, so a page
/// boundary means the same in the next one; only sockets with neither a cookie nor an inode share one.
pub type Key = (u64, u64, u64);

impl Data {
    /// The [`Key`] of `sockets[i]`.
    pub fn key(&self, i: u32) -> Key {
        let s = &self.sockets[i as usize];
        (s.cookie.unwrap_or(0), self.namespaces.get(s.netns).map_or(0, |n| n.inode), s.inode)
    }

    /// Keep `sockets` and their groups for the API, in [`Data::key`] order.
    pub fn keep(&mut self, sockets: Vec<Socket>, groups: Vec<Group>) {
        (self.sockets, self.groups, self.kept) = (sockets, groups, true);
        let mut order: Vec<u32> = (0..self.sockets.len() as u32).collect();
        order.sort_by_key(|&i| self.key(i));
        self.order = order;
    }

    /// No data, only why.
    pub fn failed(msg: String) -> Data {
        Data {
            at: Instant::now(),
            kept: false,
            sockets: Vec::new(),
            groups: Vec::new(),
            fold: None,
            order: Vec::new(),
            names: Names::default(),
            namespaces: Namespaces::default(),
            text: Bytes::new(),
            openmetrics: Bytes::new(),
            error: Some(msg),
        }
    }

    pub fn metrics(&self, format: Format) -> Bytes {
        match format {
            Format::Text => self.text.clone(),
            Format::OpenMetrics => self.openmetrics.clone(),
        }
    }
}

/// The collector and what lives from one collection to the next.
pub struct Collection {
    pub settings: Settings,
    collector: Box<dyn Collector>,
    /// Holders of sockets (the listeners' `process` label).
    pub processes: ProcessCache,
    /// When `processes` was last refreshed for the listeners, and the listeners it found no holder for.
    processes_at: Option<Instant>,
    unattributed: FastSet<u64>,
    /// When the process cache was last refreshed to bind a filter that names processes.
    bound_at: Option<Instant>,
    collections: u64,
    errors: u64,
    /// Notes already printed (a fallback to /proc is said once, not every interval).
    said: HashSet<String>,
}

impl Collection {
    pub fn new(settings: Settings) -> Collection {
        let collector = collect::netns::open_live(
            &settings.netns,
            settings.source,
            &settings.proc_root,
            settings.state_roots.clone(),
        );
        // A background exporter keeps its footprint small: two scanning threads, not one per CPU.
        let processes = ProcessCache::new().with_threads(2);
        Collection {
            settings,
            collector,
            processes,
            processes_at: None,
            unattributed: FastSet::default(),
            bound_at: None,
            collections: 0,
            errors: 0,
            said: HashSet::new(),
        }
    }

    /// Collect now; `keep` keeps the sockets and groups in the result (for the API).
    pub fn collect(&mut self, keep: bool) -> Data {
        let at = Instant::now();
        let result = self.gather();
        let took = at.elapsed();
        self.collections += 1;
        match result {
            Ok((sockets, groups, parts)) => {
                let mut data = self.finish(at, took, &sockets, &groups, &parts, None);
                (data.namespaces, data.fold) = (parts.namespaces, parts.fold);
                if keep {
                    data.names = self.json_names(&sockets, &data.namespaces);
                    data.keep(sockets, groups);
                }
                data
            }
            Err(e) => {
                self.errors += 1;
                crate::errln!("sockscope: collection failed: {e:#}");
                let msg = format!("{e:#}");
                // Nothing to keep: API requests get the error instead of collecting again.
                Data { kept: true, ..self.finish(at, took, &[], &[], &Parts::default(), Some(msg)) }
            }
        }
    }

    /// The names the API's JSON shows: interfaces, and with several namespaces each socket's namespace and
    /// container (looked up once per interval, not per request).
    fn json_names(&self, sockets: &[Socket], namespaces: &Namespaces) -> Names {
        let mut names = Names::default();
        names.load_interfaces(sockets);
        if namespaces.len() > 1 {
            let root = &self.settings.proc_root;
            names.workloads = Workloads::load(
                namespaces.clone(),
                Some(&ProcessMap::default()),
                root,
                &mut Namer::new(root, self.settings.state_roots.clone()),
            );
        }
        names
    }

    /// Look up the holders of the listeners when one is new (at most every [`PROCESS_MIN_GAP`]) or the last
    /// lookup is [`PROCESS_MAX_AGE`] old. Socket inodes are unique while the socket lives, so the map stays
    /// right for known listeners in between.
    fn refresh_listener_processes(&mut self, root: &Path, listeners: Vec<u64>) -> Result<(), CollectError> {
        let age = self.processes_at.map(|t| t.elapsed());
        let map = self.processes.map();
        let new = listeners.iter().any(|&i| i != 0 && !map.contains(i) && !self.unattributed.contains(&i));
        let due = age.is_none_or(|a| a >= PROCESS_MAX_AGE || (new && a >= PROCESS_MIN_GAP));
        if !due {
            return Ok(());
        }
        let map = self.processes.refresh(root, listeners.iter().copied())?;
        self.unattributed = listeners.into_iter().filter(|&i| i != 0 && !map.contains(i)).collect();
        self.processes_at = Some(Instant::now());
        Ok(())
    }

    /// Bind a filter (the exporter's own, or an API request's) for `sockets` of this interval: the holders
    /// from the process cache, refreshed for them when the filter names processes (at most once an interval
    /// for the API), and the workloads of `namespaces`.
    pub fn bind(
        &mut self,
        expr: &Expr,
        sockets: &[Socket],
        namespaces: &Namespaces,
        command: &'static str,
    ) -> Result<Bound, BindError> {
        let needs = expr.needs();
        let root = self.settings.proc_root.clone();
        if needs.processes && self.bound_at.is_none_or(|t| t.elapsed() >= BIND_REFRESH_GAP) {
            if let Err(e) = self.processes.refresh(&root, sockets.iter().map(|x| x.inode)) {
                crate::errln!("sockscope: process scan failed: {e}");
            }
            self.bound_at = Some(Instant::now());
        }
        let mut namer = Namer::new(&root, self.settings.state_roots.clone());
        let workloads =
            Workloads::for_filter(namespaces, Some(self.processes.map()), needs.workloads, &root, &mut namer);
        let have = Have::new(command)
            .holders(self.processes.map(), self.processes.stats().complete)
            .workloads(&workloads)
            .cgroup_ids(self.settings.query.details);
        bind(expr, &have)
    }

    fn gather(&mut self) -> anyhow::Result<(Vec<Socket>, Vec<Group>, Parts)> {
        let mut snap = self.collector.collect(&self.settings.query)?;
        for note in snap.notes.drain(..) {
            if self.said.insert(note.clone()) {
                crate::errln!("sockscope: note: {note}");
            }
        }
        let mut sockets = snap.sockets;
        let mut parts = Parts { namespaces: std::mem::take(&mut snap.namespaces), ..Parts::default() };
        let root = self.settings.proc_root.clone();
        let filter_needs_processes = self.settings.filter.needs().processes;
        if !self.settings.filter.is_true() {
            let expr = self.settings.filter.clone();
            let filter = self.bind(&expr, &sockets, &parts.namespaces, "serve")?;
            sockets.retain(|x| filter.matches(x));
        }
        if self.settings.processes {
            if !filter_needs_processes {
                let listeners = sockets.iter().filter(|x| x.is_listener()).map(|x| x.inode).collect();
                self.refresh_listener_processes(&root, listeners)?;
            }
            parts.processes = true;
        }
        let s = &self.settings;
        let host = match HostPorts::read(&s.proc_root) {
            Ok(h) => h,
            Err(e) => {
                let note = format!("{e}; assuming Linux's default ephemeral range");
                if self.said.insert(note.clone()) {
                    crate::errln!("sockscope: note: {note}");
                }
                HostPorts::linux_default()
            }
        };
        // Per namespace, in one pass (the range is the exporter's own namespace's).
        parts.pressure = classes::ephemeral_pressure(&sockets, &host);
        parts.capacity = Some(host.capacity());
        parts.counters = match counters::read(&s.proc_root) {
            Ok(c) => Some(c),
            Err(e) => {
                let note = format!("kernel counters left out: {e}");
                if self.said.insert(note.clone()) {
                    crate::errln!("sockscope: note: {note}");
                }
                None
            }
        };
        parts.fold = Some(group::Fold::of(&host));
        let groups = group::group_with(&sockets, parts.fold.as_ref());
        Ok((sockets, groups, parts))
    }

    fn finish(
        &self,
        at: Instant,
        took: Duration,
        sockets: &[Socket],
        groups: &[Group],
        parts: &Parts,
        error: Option<String>,
    ) -> Data {
        let s = &self.settings;
        let now = SystemTime::now().checked_sub(took).unwrap_or(UNIX_EPOCH);
        let input = Input {
            sockets,
            groups,
            pressure: &parts.pressure,
            ephemeral_capacity: parts.capacity,
            counters: parts.counters.as_ref(),
            services: &s.services,
            processes: parts.processes.then(|| self.processes.map()),
            caps: s.caps,
            exporter: Exporter {
                collection_seconds: took.as_secs_f64(),
                collections: self.collections,
                errors: self.errors,
                collected_at_unix: now.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
                success: error.is_none(),
            },
            namespaces: &parts.namespaces,
        };
        let reg = metrics::registry(&input);
        let text = Bytes::from(metrics::encode(&reg, Format::Text));
        let openmetrics = Bytes::from(metrics::encode(&reg, Format::OpenMetrics));
        Data { at, text, openmetrics, error, ..Data::failed(String::new()) }
    }
}

/// What a collection adds to the sockets for the metrics.
#[derive(Default)]
struct Parts {
    pressure: Vec<classes::Pressure>,
    /// The namespaces the sockets' `netns` indexes.
    namespaces: Namespaces,
    capacity: Option<u32>,
    fold: Option<group::Fold>,
    counters: Option<counters::Counters>,
    processes: bool,
}
