//! `sockscope doctor`: observe for a window (a sample at each end, so that counters are read as rates), diagnose
//! each network namespace against its own counters and sysctls, and print the findings worst first, then one
//! line per check. Exit 0 when nothing is found, 1 when something is (or the sockets could not be read), 2 for
//! a usage error.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::collect::cgroup::{Namer, StateRoots};
use crate::collect::netns::Choice;
use crate::collect::process::{self, Attribution};
use crate::collect::procfs::{counters, sockstat};
use crate::collect::workloads::Workloads;
use crate::collect::{self, Collector, Query, SourceChoice, sysctl};
use crate::doctor::{self, Limits, Report, Sample, Thresholds, Window};
use crate::filter::{Expr, Have, bind};
use crate::model::Socket;
use crate::model::netns::{Namespaces, NetnsId};
use crate::output::doctor::{Meta, write_json, write_ndjson, write_text};
use crate::ports::classes::HostPorts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoctorOutput {
    Text,
    Json,
    Ndjson,
}

/// A checked `doctor` command line.
#[derive(Debug, Clone)]
pub struct DoctorConfig {
    /// Between the two samples.
    pub window: Duration,
    pub output: DoctorOutput,
    pub thresholds: Thresholds,
    pub source: SourceChoice,
    pub proc_root: PathBuf,
    pub netns: Choice,
    pub state_roots: StateRoots,
    /// TCP and UDP, every state, with tcp_info and memory; the filter's program when it has one.
    pub query: Query,
    /// The filter, bound once the processes are known.
    pub filter: Expr,
    /// Name the processes (a scan of /proc/*/fd).
    pub processes: bool,
}

/// What one namespace's side files say at one moment.
#[derive(Debug, Default)]
struct Side {
    counters: Option<counters::Counters>,
    sockstat: Option<sockstat::SockStat>,
    conntrack: Option<sysctl::ConntrackStats>,
    limits: Option<Limits>,
}

/// One sample of every namespace: the sockets (each tagged with its namespace) and the side files.
struct Moment {
    at_ms: u64,
    sockets: Vec<Socket>,
    namespaces: Namespaces,
    sides: Vec<(NetnsId, Side)>,
    notes: Vec<String>,
}

fn read_side(proc_root: &Path, here: &Path, limits: bool) -> Side {
    Side {
        counters: counters::read(here).ok(),
        sockstat: sockstat::read(here).ok(),
        conntrack: sysctl::read_conntrack(proc_root, here),
        // `/proc/sys/net` shows the reading thread's namespace.
        limits: limits.then(|| Limits::of(sysctl::read_limits(proc_root), HostPorts::read(proc_root).ok())),
    }
}

/// Take one sample: the sockets, then each namespace's counters (and its sysctls, the first time).
fn sample(c: &mut collect::Opened, cfg: &DoctorConfig, limits: bool) -> anyhow::Result<Moment> {
    let at_ms = crate::clock::now_ms();
    let snap = c.collect(&cfg.query)?;
    let proc_root = cfg.proc_root.clone();
    let mut notes = snap.notes.clone();
    let mut sides = Vec::new();
    // tcp_mem and tcp_max_orphans exist in the host's namespace only and hold for all: read them here.
    let global = limits.then(|| sysctl::read_limits(&proc_root));
    for (id, r) in c.in_each_namespace(|here| {
        let mut side = read_side(&proc_root, here, limits);
        if let (Some(l), Some(g)) = (side.limits.as_mut(), &global) {
            l.net.tcp_mem = l.net.tcp_mem.or(g.tcp_mem);
            l.net.max_orphans = l.net.max_orphans.or(g.max_orphans);
        }
        side
    }) {
        match r {
            Ok(s) => sides.push((id, s)),
            Err(e) => {
                let name = snap.namespaces.get(id).map_or_else(|| format!("namespace {id}"), |n| n.label());
                notes.push(format!(
                    "{name}: its counters and sysctls were not read ({e}); only its sockets are diagnosed"
                ));
                sides.push((id, Side::default()));
            }
        }
    }
    Ok(Moment { at_ms, sockets: snap.sockets, namespaces: snap.namespaces, sides, notes })
}

/// Split a moment's sockets by namespace into samples (the side files moved in).
fn samples(m: Moment, keep: impl Fn(&Socket) -> bool) -> (Vec<(NetnsId, Sample, Option<Limits>)>, Namespaces) {
    let mut out: Vec<(NetnsId, Sample, Option<Limits>)> = m
        .sides
        .into_iter()
        .map(|(id, s)| {
            let sample = Sample {
                at_ms: m.at_ms,
                sockets: Vec::new(),
                counters: s.counters,
                sockstat: s.sockstat,
                conntrack: s.conntrack,
            };
            (id, sample, s.limits)
        })
        .collect();
    // Namespace id -> its place in `out`: one lookup per socket, whatever the number of namespaces.
    let mut at: crate::hash::FastMap<NetnsId, usize> = out.iter().enumerate().map(|(k, e)| (e.0, k)).collect();
    for s in m.sockets.into_iter().filter(|s| keep(s)) {
        let k = *at.entry(s.netns).or_insert_with(|| {
            out.push((s.netns, Sample { at_ms: m.at_ms, ..Sample::default() }, None));
            out.len() - 1
        });
        out[k].1.sockets.push(s);
    }
    (out, m.namespaces)
}

/// The namespace's label for findings: none for the host's own namespace.
fn label(namespaces: &Namespaces, id: NetnsId) -> Option<String> {
    namespaces.get(id).filter(|n| !n.host).map(|n| n.label())
}

pub fn run(cfg: DoctorConfig) -> anyhow::Result<ExitCode> {
    let mut opened = collect::open(cfg.source, &cfg.netns, &cfg.proc_root, cfg.state_roots.clone());
    let first = sample(&mut opened, &cfg, true)?;
    std::thread::sleep(cfg.window);
    let second = sample(&mut opened, &cfg, false)?;
    let mut notes = second.notes.clone();
    let scan = if cfg.processes { process::scan(&cfg.proc_root).ok() } else { None };
    let mut namer = Namer::new(&cfg.proc_root, cfg.state_roots.clone());
    let workloads = Workloads::for_filter(
        &second.namespaces,
        scan.as_ref().map(|s| &s.map),
        cfg.filter.needs().workloads,
        &cfg.proc_root,
        &mut namer,
    );
    let mut have = Have::new("doctor").workloads(&workloads).cgroup_ids(cfg.query.details);
    if let Some(s) = &scan {
        have = have.holders(&s.map, s.stats.complete);
        if !s.stats.complete && !crate::sys::is_root() {
            notes
                .push("processes of other users were not inspected: run as root to name every socket's process".into());
        }
    }
    let filter = bind(&cfg.filter, &have).map_err(|e| anyhow::anyhow!("{e}"))?;
    let owners = scan.map(Attribution::of_scan);
    let (befores, _) = samples(first, |s| filter.matches(s));
    let (nows, namespaces) = samples(second, |s| filter.matches(s));
    let mut report = Report::default();
    let sockets = nows.iter().map(|n| n.1.sockets.len()).sum();
    for (id, now, _) in &nows {
        let empty = Sample::default();
        let (before, limits) = match befores.iter().find(|b| b.0 == *id) {
            Some((_, b, l)) => (b, l.clone().unwrap_or_default()),
            None => (&empty, Limits::default()),
        };
        let w = Window {
            netns: *id,
            label: label(&namespaces, *id),
            before,
            now,
            limits: &limits,
            owners: owners.as_ref(),
        };
        let r = doctor::diagnose(&w, &cfg.thresholds);
        report.findings.extend(r.findings);
        report.checks.extend(r.checks);
    }
    report.sort();
    let meta = Meta {
        window_s: cfg.window.as_secs_f64(),
        namespaces: nows.len(),
        sockets,
        notes,
        thresholds: cfg.thresholds.listing(),
    };
    let mut out = io::stdout().lock();
    match cfg.output {
        DoctorOutput::Text => write_text(&mut out, &report, &meta)?,
        DoctorOutput::Json => write_json(&mut out, &report, &meta)?,
        DoctorOutput::Ndjson => write_ndjson(&mut out, &report)?,
    }
    out.flush()?;
    Ok(if report.findings.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
