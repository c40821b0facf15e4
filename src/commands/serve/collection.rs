//! The exporter's collection: one socket dump (plus the listeners' processes, the host's port ranges and the
//! kernel counters) made into a [`Data`] that every request of the interval shares. Blocking; the server runs
//! it on tokio's blocking pool, one at a time.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::body::Bytes;

use crate::collect::cgroup::Namer;
use crate::collect::process::{Attribution, Attributor, Policy};
use crate::collect::procfs::counters;
use crate::collect::workloads::Workloads;
use crate::collect::{self, Collector, Query, SourceChoice};
use crate::filter::{BindError, Bound, Expr, Have};
use crate::group::{self, Group};
use crate::model::Socket;
use crate::model::netns::Namespaces;
use crate::model::owners::ProcessMap;
use crate::output::Names;
use crate::output::metrics::{self, Caps, Exporter, Format, Input};
use crate::ports::classes::{self, HostPorts};
use crate::ports::services::Services;

/// What a collection selects and how it is exported.
#[derive(Debug)]
pub struct CollectionSettings {
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
    /// Who holds each of `sockets`, when the collection looked them all up (a filter names processes): what
    /// the API binds its `process` and `pid` terms to, never looking through /proc itself.
    pub attribution: Option<Attribution>,
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
            attribution: None,
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
    pub settings: CollectionSettings,
    collector: Box<dyn Collector>,
    /// Holders of sockets (the listeners' `process` label; every socket's when a filter names processes),
    /// as the exporter's [`Policy`] says.
    processes: Attributor,
    collections: u64,
    errors: u64,
    /// Notes already printed (a fallback to /proc is said once, not every interval).
    said: HashSet<String>,
    /// Sockets in the last collection (the next one's table is sized from it).
    last_count: usize,
}

impl Collection {
    pub fn new(settings: CollectionSettings) -> Collection {
        let collector = Box::new(collect::open(
            settings.source,
            &settings.netns,
            &settings.proc_root,
            settings.state_roots.clone(),
        ));
        Collection {
            settings,
            collector,
            processes: Attributor::new(Policy::exporter()),
            collections: 0,
            errors: 0,
            said: HashSet::new(),
            last_count: 0,
        }
    }

    /// Collect now; `keep` keeps the sockets and groups in the result (for the API), `processes` also who
    /// holds each of them (for an API filter that names processes).
    pub fn collect(&mut self, keep: bool, processes: bool) -> Data {
        let at = Instant::now();
        let result = self.gather(keep && processes);
        let took = at.elapsed();
        self.collections += 1;
        match result {
            Ok((sockets, groups, parts)) => {
                let mut data = self.finish(at, took, &sockets, &groups, &parts, None);
                data.namespaces = parts.namespaces;
                data.attribution = parts.every_socket;
                data.fold = parts.fold;
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
        crate::collect::names::interfaces(sockets, &mut names.interfaces);
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

    /// Who holds every one of `sockets` (for a filter that names processes); when /proc cannot be looked
    /// through, what was known.
    fn attribute_all(&mut self, sockets: &[Socket]) -> Attribution {
        match self.processes.attribute(&self.settings.proc_root, sockets) {
            Ok(a) => a,
            Err(e) => {
                crate::errln!("sockscope: process scan failed: {e}");
                self.processes.current()
            }
        }
    }

    /// Collect, filter and count; `every_socket`: look up who holds every socket (an API filter names
    /// processes).
    fn gather(&mut self, every_socket: bool) -> anyhow::Result<(Vec<Socket>, Vec<Group>, Parts)> {
        // Into a table the size of the last one (and a little more): no growth while it fills.
        let table = Vec::with_capacity(self.last_count + self.last_count / 8);
        let mut snap = collect::collect_into(&mut *self.collector, &self.settings.query, table)?;
        self.last_count = snap.sockets.len();
        for note in snap.notes.drain(..) {
            if self.said.insert(note.clone()) {
                crate::errln!("sockscope: note: {note}");
            }
        }
        let mut sockets = snap.sockets;
        let mut parts = Parts { namespaces: std::mem::take(&mut snap.namespaces), ..Parts::default() };
        let root = self.settings.proc_root.clone();
        if every_socket || self.settings.filter.needs().processes {
            parts.every_socket = Some(self.attribute_all(&sockets));
        }
        if !self.settings.filter.is_true() {
            let s = &self.settings;
            let (expr, roots) = (s.filter.clone(), s.state_roots.clone());
            let filter =
                bind(&expr, parts.every_socket.as_ref(), &parts.namespaces, (&root, roots, s.query.details), "serve")?;
            sockets.retain(|x| filter.matches(x));
        }
        if self.settings.processes {
            parts.processes = Some(match &parts.every_socket {
                Some(a) => a.clone(),
                None => {
                    let listeners = sockets.iter().filter(|x| x.is_listener()).map(|x| x.inode);
                    self.processes.attribute_inodes(&root, listeners, Instant::now())?
                }
            });
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
            processes: parts.processes.as_ref().map(Attribution::map),
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
    /// Who holds the listeners, for their `process` label.
    processes: Option<Attribution>,
    /// Who holds every socket, when a filter names processes.
    every_socket: Option<Attribution>,
}

/// Bind a filter (the exporter's own, or an API request's) for the sockets of one interval: `processes` is
/// who holds them as the collection looked them up (`None`: not looked up; a term naming processes then
/// sees every socket as hidden), `(proc_root, state_roots, cgroup_ids)` where workloads are read and whether
/// the sockets carry their cgroup ids.
pub fn bind(
    expr: &Expr,
    processes: Option<&Attribution>,
    namespaces: &Namespaces,
    (root, state_roots, cgroup_ids): (&Path, collect::cgroup::StateRoots, bool),
    command: &'static str,
) -> Result<Bound, BindError> {
    let needs = expr.needs();
    let none = Attribution::default();
    let processes = processes.unwrap_or(&none);
    let mut namer = Namer::new(root, state_roots);
    let workloads = Workloads::for_filter(namespaces, Some(processes.map()), needs.workloads, root, &mut namer);
    let have =
        Have::new(command).holders(processes.map(), processes.complete()).workloads(&workloads).cgroup_ids(cgroup_ids);
    crate::filter::bind(expr, &have)
}
