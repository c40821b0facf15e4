//! `sockscope forwards`: port forwards in use, from the conntrack table: destination-NAT'ed flows grouped by
//! the external (address, port) clients used and the internal (address, port) that answered.

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::output::Bracketed;
use crate::output::plain::write_table;
use crate::ports::conntrack::{self, Forward, PROC_FILE};

/// A checked `forwards` request.
#[derive(Debug, Clone)]
pub struct ForwardsConfig {
    pub json: bool,
    /// The proc filesystem to read `net/nf_conntrack` from.
    pub proc_root: PathBuf,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    available: bool,
    reason: Option<String>,
    source: String,
    flows: usize,
    snat_flows: usize,
    skipped_lines: usize,
    forwards: &'a [Forward],
}

pub fn run(args: &ForwardsConfig) -> anyhow::Result<ExitCode> {
    let path = args.proc_root.join(PROC_FILE);
    let report = Report::read(&path)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.json {
        write_json(&mut out, &report)?;
    } else {
        write_text(&mut out, &report)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// What the conntrack table shows: the forwards, or why conntrack is not available.
struct Report {
    /// The file read.
    source: String,
    /// `Err(reason)` when conntrack is not available (not an error: exit status 0).
    found: Result<Found, String>,
}

struct Found {
    flows: usize,
    dnat: usize,
    snat: usize,
    skipped: usize,
    forwards: Vec<Forward>,
}

impl Report {
    /// Read and digest the table at `path`. A missing file means conntrack is not available; any other read
    /// error is an error.
    fn read(path: &Path) -> anyhow::Result<Report> {
        let source = path.display().to_string();
        let file = match crate::collect::input::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let reason = format!(
                    "{source} does not exist: the nf_conntrack module is not loaded (nothing uses NAT or connection \
                     tracking yet) or the kernel lacks CONFIG_NF_CONNTRACK_PROCFS"
                );
                return Ok(Report { source, found: Err(reason) });
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(e).with_context(|| format!("cannot read {source} (it needs root)"));
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {source}")),
        };
        let table = conntrack::parse(io::BufReader::new(file)).with_context(|| format!("reading {source}"))?;
        if table.skipped > 0 {
            crate::errln!("sockscope: note: {} line(s) of {source} not understood, skipped", table.skipped);
        }
        Ok(Report { source, found: Ok(Found::of(&table)) })
    }
}

impl Found {
    fn of(table: &conntrack::Table) -> Found {
        Found {
            flows: table.flows.len(),
            dnat: table.flows.iter().filter(|f| f.is_dnat()).count(),
            snat: table.flows.iter().filter(|f| f.is_snat()).count(),
            skipped: table.skipped,
            forwards: conntrack::forwards(&table.flows),
        }
    }
}

fn write_json(out: &mut dyn Write, r: &Report) -> anyhow::Result<()> {
    let j = match &r.found {
        Ok(f) => JsonOut {
            available: true,
            reason: None,
            source: r.source.clone(),
            flows: f.flows,
            snat_flows: f.snat,
            skipped_lines: f.skipped,
            forwards: &f.forwards,
        },
        Err(reason) => JsonOut {
            available: false,
            reason: Some(reason.clone()),
            source: r.source.clone(),
            flows: 0,
            snat_flows: 0,
            skipped_lines: 0,
            forwards: &[],
        },
    };
    serde_json::to_writer_pretty(&mut *out, &j).context("writing JSON")?;
    writeln!(out)?;
    Ok(())
}

fn write_text(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    let f = match &r.found {
        Ok(f) => f,
        Err(reason) => {
            return writeln!(out, "conntrack is not available, so port forwards cannot be shown: {reason}");
        }
    };
    if f.forwards.is_empty() {
        writeln!(
            out,
            "No destination-NAT'ed flows among the {} tracked in {}: no port forward is in use right now \
             (conntrack holds flows, not rules).",
            f.flows, r.source
        )?;
    } else {
        writeln!(
            out,
            "Port forwards in use (destination NAT), from {}: {} forward{}, {} of {} tracked flows",
            r.source,
            f.forwards.len(),
            if f.forwards.len() == 1 { "" } else { "s" },
            f.dnat,
            f.flows
        )?;
        writeln!(out)?;
        let rows: Vec<Vec<String>> = f
            .forwards
            .iter()
            .map(|f| {
                vec![
                    f.proto.to_string(),
                    endpoint(f.external_address, f.external_port),
                    "->".into(),
                    endpoint(f.internal_address, f.internal_port),
                    f.flows.to_string(),
                    f.clients.to_string(),
                    f.states.iter().map(|(s, n)| format!("{s} {n}")).collect::<Vec<_>>().join(", "),
                ]
            })
            .collect();
        write_table(
            out,
            &["Proto", "External (dialled)", "", "Internal (answered)", "Flows", "Clients", "States"],
            &rows,
        )?;
    }
    if f.snat > 0 {
        let s = if f.snat == 1 { "" } else { "s" };
        writeln!(out, "Also {} source-NAT'ed (masqueraded) flow{s}, not shown.", f.snat)?;
    }
    Ok(())
}

fn endpoint(ip: IpAddr, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{}:{p}", Bracketed(ip)),
        None => Bracketed(ip).to_string(),
    }
}
