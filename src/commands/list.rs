//! `sockscope list`: sockets are filtered, formatted and written as the collector hands them over, batch by
//! batch, instead of being held until the dump ends, so memory stays bounded for any number of sockets. The
//! collector runs on its own thread; a bounded channel between the two lets the dump and the formatting
//! overlap. The table aligns its columns per chunk, as `ss` does. With `-p` (or a `process`/`pid` filter)
//! rows wait for the `/proc` scan that runs beside the dump; the channel then holds more batches so the dump
//! is not held up.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::Context;

use crate::collect::cgroup::{Namer, StateRoots};
use crate::collect::process::{self, ScanResult};
use crate::collect::workloads::Workloads;
use crate::collect::{self, Collector, Query, SourceChoice, netns};
use crate::filter::{Expr, Have, bind};
use crate::model::netns::Namespaces;
use crate::model::{Proto, Socket};
use crate::output::json::JsonWriter;
use crate::output::table::{TableOptions, TableWriter};
use crate::output::{Names, Processes, summary};
use crate::ports::classes::HostPorts;
use crate::ports::services::Services;

/// Output format of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Ndjson,
}

/// A checked listing configuration.
#[derive(Debug)]
pub struct ListConfig {
    pub query: Query,
    /// `-s`: print the summary first; `summary_only` when no table was asked for (`ss -s`).
    pub summary: bool,
    pub summary_only: bool,
    /// `-D FILE`: write the raw TCP dump there and list nothing.
    pub diag: Option<PathBuf>,
    /// `--from-dump FILE`: list from a dump instead of the kernel.
    pub from_dump: Option<PathBuf>,
    /// `-T`: threads in users:(...).
    pub threads: bool,
    /// `-e`, `--cgroup`: cgroup ids to paths.
    pub cgroups: bool,
    /// The whole selection beyond protocols, families and states; applied after collection (the kernel has
    /// already applied what `query.bytecode` carries).
    pub filter: Expr,
    pub format: Format,
    pub table: TableOptions,
    pub numeric: bool,
    pub resolve: bool,
    /// Attribute sockets to processes (`-p`).
    pub processes: bool,
    pub source: SourceChoice,
    pub proc_root: PathBuf,
    pub services: Services,
    /// Which network namespaces (`-N`, `--all-netns`).
    pub netns: netns::Choice,
    /// Where container and pod names are read.
    pub state_roots: StateRoots,
}

/// Batches in flight between the collector and the writer (a batch is up to 1024 sockets).
const IN_FLIGHT: usize = 4;
/// Batches in flight while rows wait for the process scan.
const IN_FLIGHT_WAITING: usize = 64;

/// The table or JSON writer the rows go to.
enum Writer<W: Write> {
    Table(Box<TableWriter<W>>),
    Json(JsonWriter<W>),
}

impl<W: Write> Writer<W> {
    fn push(&mut self, s: &Socket, names: &Names) -> io::Result<()> {
        match self {
            Writer::Table(t) => t.push(s, names),
            Writer::Json(j) => j.push(s, names),
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Writer::Table(t) => t.finish(),
            Writer::Json(j) => j.finish(),
        }
    }
}

/// The namespace table and workloads the rows are labelled with, known before the first row is written.
struct Labels {
    namespaces: Namespaces,
    /// Show the Namespace column (`--all-netns` over more than one namespace).
    column: bool,
    namer: Namer,
}

/// List the sockets `config` asks for on stdout (after the summary with `-s`; `-D` writes the dump instead).
pub fn run(config: ListConfig) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let open = |c: &ListConfig| collect::open(c.source, &c.netns, &c.proc_root, c.state_roots.clone());
    // -s: the counters of the namespaces listed (-N: that one; --all-netns: summed over all of them).
    let mut opened = None;
    if config.summary {
        let mut collector = open(&config);
        let (stat, notes) = collector.sockstat()?;
        for note in notes {
            crate::errln!("sockscope: note: {note}");
        }
        opened = Some(collector);
        let mut out = stdout.lock();
        match config.format {
            Format::Table => summary::render(&mut out, &stat)?,
            _ => summary::render_json(&mut out, &stat)?,
        }
        out.flush()?;
        if config.summary_only {
            return Ok(());
        }
    }
    if let Some(path) = &config.diag {
        let n = collect::netlink::write_tcp_dump(&config.query, path)?;
        if path.as_os_str() != "-" {
            crate::errln!("sockscope: note: wrote {n} bytes of TCP sock_diag messages to {}", path.display());
        }
        return Ok(());
    }
    let mut table = config.table;
    if config.format == Format::Table && io::stdout().is_terminal() {
        table.screen_width = crate::sys::terminal_width();
    }
    let config = ListConfig { table, ..config };
    if let Some(path) = &config.from_dump {
        let collector = Box::new(collect::netlink::dump::DumpCollector::open(path)?) as Box<dyn Collector>;
        return run_with(config, collector, stdout.lock());
    }
    let mut collector = opened.unwrap_or_else(|| open(&config));
    // The namespaces are known before any is dumped (-N / --all-netns: their sockets stream namespace after
    // namespace, a few namespaces dumped at once, each on a thread that enters it).
    let namespaces = collector.namespaces()?.clone();
    let column = config.netns.is_all() && namespaces.len() > 1;
    let labels = Labels { namespaces, column, namer: Namer::new(&config.proc_root, config.state_roots.clone()) };
    stream_rows(config, labels, Box::new(collector), stdout.lock())
}

/// [`run`] in the caller's own namespace with any collector, into any writer.
pub fn run_with(config: ListConfig, collector: Box<dyn Collector>, out: impl Write) -> anyhow::Result<()> {
    let namespaces = Workloads::own_namespace(&config.proc_root);
    let labels = Labels { namespaces, column: false, namer: Namer::new(&config.proc_root, config.state_roots.clone()) };
    stream_rows(config, labels, collector, out)
}

/// Run `collector` on a collector thread and write the rows it hands over as they arrive, beside the `/proc`
/// scan.
fn stream_rows(
    mut config: ListConfig,
    labels: Labels,
    mut collector: Box<dyn Collector>,
    out: impl Write,
) -> anyhow::Result<()> {
    let services = std::mem::take(&mut config.services);
    let config = &config;
    let want_procs = config.processes || config.filter.needs().processes;
    let depth = if want_procs { IN_FLIGHT_WAITING } else { IN_FLIGHT };
    let (tx, rx) = mpsc::sync_channel::<Vec<Socket>>(depth);
    std::thread::scope(|s| {
        // The /proc/*/fd scan and the socket dump share no state and each takes a while: both run at once.
        let scan = want_procs.then(|| s.spawn(|| process::scan(&config.proc_root)));
        let dump = std::thread::Builder::new()
            .name("collector".into())
            .spawn_scoped(s, move || collector.stream(&config.query, &mut |batch| tx.send(batch).is_ok()))
            .context("starting the collector thread")?;
        let scan = match scan {
            Some(h) => Some(h.join().map_err(|_| anyhow::anyhow!("the process scan panicked"))??),
            None => None,
        };
        let written = write_rows(config, services, scan, labels, &rx, out);
        // A failed write ends the listing: the closed channel stops the dump.
        drop(rx);
        let snap = dump.join().map_err(|_| anyhow::anyhow!("the collector thread panicked"))?;
        match (snap, written) {
            (Err(e), _) => Err(e.into()),
            (Ok(_), Err(e)) => Err(e.into()),
            (Ok(snap), Ok(writer)) => {
                for note in &snap.notes {
                    crate::errln!("sockscope: note: {note}");
                }
                writer.finish()?;
                Ok(())
            }
        }
    })
}

/// Take batches until the collector is done, writing the rows that pass the filter; the writer is returned
/// unfinished (the caller closes it once the collection is known to have succeeded).
fn write_rows<W: Write>(
    config: &ListConfig,
    services: Services,
    scan: Option<ScanResult>,
    labels: Labels,
    rx: &mpsc::Receiver<Vec<Socket>>,
    out: W,
) -> io::Result<Writer<W>> {
    let Labels { namespaces, column, mut namer } = labels;
    let map = scan.as_ref().map(|s| &s.map);
    let workloads = Workloads::load(namespaces, map, &config.proc_root, &mut namer);
    let mut have = Have::new("list").workloads(&workloads).cgroup_ids(config.query.details);
    if let Some(scan) = &scan {
        have = have.holders(&scan.map, scan.stats.complete);
    }
    let filter = bind(&config.filter, &have).map_err(io::Error::other)?;
    let mut names = Names {
        services: (!config.numeric).then_some(services),
        numeric: config.numeric,
        ephemeral: HostPorts::read(&config.proc_root).ok().map(|h| (h.ephemeral.low, h.ephemeral.high)),
        netns_column: column,
        workloads,
        ..Names::default()
    };
    if let Some(scan) = scan.filter(|_| config.processes) {
        if let Some(note) = scan.stats.note(crate::sys::is_root()) {
            crate::errln!("sockscope: note: {note}");
        }
        if config.threads {
            names.threads = Some(collect::names::threads(scan.map.pids(), &config.proc_root));
        }
        names.processes = Some(Processes { map: scan.map, complete: scan.stats.complete });
    }
    if config.cgroups {
        names.cgroups = collect::cgroup::cgroup_paths(&config.proc_root);
    }
    let types = config.query.types;
    let mut writer = match config.format {
        Format::Table => Writer::Table(Box::new(TableWriter::new(out, &names, &config.table))),
        Format::Json => Writer::Json(JsonWriter::array(out)),
        Format::Ndjson => Writer::Json(JsonWriter::lines(out)),
    };
    for mut batch in rx {
        if !filter.is_true() || !types.all() {
            batch.retain(|s| types.keeps(s) && filter.matches(s));
        }
        // Names are looked up once per distinct value, as batches bring them.
        look_up_names(&mut names, &batch, config);
        for s in &batch {
            writer.push(s, &names)?;
        }
    }
    Ok(writer)
}

/// Fill `names` with what `batch` brings that earlier batches did not: the names of the users behind hidden
/// holders, interfaces, IP protocols (raw sockets), netlink port owners, and with `-r` host names.
fn look_up_names(names: &mut Names, batch: &[Socket], config: &ListConfig) {
    if names.processes.as_ref().is_some_and(|p| !p.complete) {
        collect::names::users(batch, &mut names.users);
    }
    collect::names::interfaces(batch, &mut names.interfaces);
    // Once per listing, when a raw socket shows up.
    if !config.numeric && names.protocols.is_empty() && batch.iter().any(|s| s.proto == Proto::Raw) {
        names.protocols = collect::names::protocols(Path::new(collect::names::ETC));
    }
    if !config.numeric {
        collect::names::netlink_owners(batch, &config.proc_root, &mut names.netlink_owners);
    }
    if config.resolve {
        collect::names::hosts(batch, &mut names.hosts);
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests;
