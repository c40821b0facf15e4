//! The one-shot listing (`sockscope list`, and `sockscope` with flags or into a pipe): collect once, filter,
//! attribute to processes with `-p`, render as the ss table or JSON.

use std::io::{self, Write};
use std::path::PathBuf;

use crate::collect::cgroup::{Namer, StateRoots};
use crate::collect::workloads::Workloads;
use crate::collect::{Query, SourceChoice, netns, process};
use crate::filter::Expr;
use crate::output::table::TableOptions;
use crate::output::{Names, Processes, json, table};
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

/// Collect, filter, attribute and render once.
pub fn run(config: ListConfig) -> anyhow::Result<()> {
    let roots = netns::Roots { proc_root: config.proc_root.clone(), ..netns::Roots::default() };
    let mut namer = Namer::new(&config.proc_root, config.state_roots.clone());
    // With -p the /proc/*/fd scan runs beside the socket dump: they share no state and each takes a while.
    let (multi, scan) = std::thread::scope(|s| {
        let want = config.processes || config.filter.needs_processes();
        let scan = want.then(|| s.spawn(|| process::scan(&config.proc_root)));
        let multi = netns::collect(&config.netns, &roots, &mut namer, config.source, &config.query);
        (multi, scan.map(|h| h.join()))
    });
    let multi = multi?;
    let namespaces_read = multi.read();
    let mut snap = multi.snapshot;
    for note in &snap.notes {
        eprintln!("sockscope: note: {note}");
    }
    let scan = match scan {
        Some(h) => Some(h.map_err(|_| anyhow::anyhow!("the process scan panicked"))??),
        None => None,
    };
    let filter = match &scan {
        Some(scan) if config.filter.needs_processes() => config.filter.resolve_processes(&scan.map),
        _ => config.filter.clone(),
    };
    let map = scan.as_ref().map(|s| &s.map);
    let workloads = Workloads::load(std::mem::take(&mut snap.namespaces), map, &config.proc_root, &mut namer);
    let filter = if filter.needs_workloads() { filter.resolve_workloads(&workloads, map) } else { filter };
    if !filter.is_true() {
        snap.sockets.retain(|s| filter.matches(s));
    }
    let mut names = Names {
        services: (!config.numeric).then_some(config.services),
        netns_column: config.netns.is_all() && namespaces_read > 1,
        workloads,
        ..Names::default()
    };
    if let Some(scan) = scan.filter(|_| config.processes) {
        if !scan.stats.complete {
            let n = scan.stats.hidden + scan.stats.failed;
            let of = scan.stats.processes;
            let why = if crate::sys::is_root() {
                "the kernel refused their /proc/PID/fd even to root"
            } else {
                "reading another user's /proc/PID/fd needs root or CAP_SYS_PTRACE"
            };
            eprintln!(
                "sockscope: note: {n} of {of} processes could not be inspected ({why}); \
                 sockets they may hold show users:(hidden,uid=...)"
            );
        }
        names.processes = Some(Processes { map: scan.map, complete: scan.stats.complete });
        names.load_users(&snap.sockets);
    }
    names.load_interfaces(&snap.sockets);
    if config.resolve {
        names.resolve_hosts(&snap.sockets);
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match config.format {
        Format::Table => table::render(&mut out, &snap.sockets, &names, &config.table)?,
        Format::Json => json::render_array(&mut out, &snap.sockets, &names)?,
        Format::Ndjson => json::render_lines(&mut out, &snap.sockets, &names)?,
    }
    out.flush()?;
    Ok(())
}
