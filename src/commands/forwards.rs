//! `sockscope forwards`: port forwards in use, from the conntrack table: destination-NAT'ed flows grouped by
//! the external (address, port) clients used and the internal (address, port) that answered.

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
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
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let reason = format!(
                "{} does not exist: the nf_conntrack module is not loaded (nothing uses NAT or connection \
                 tracking yet) or the kernel lacks CONFIG_NF_CONNTRACK_PROCFS",
                path.display()
            );
            if args.json {
                let j = JsonOut {
                    available: false,
                    reason: Some(reason),
                    source: path.display().to_string(),
                    flows: 0,
                    snat_flows: 0,
                    skipped_lines: 0,
                    forwards: &[],
                };
                serde_json::to_writer_pretty(&mut out, &j).context("writing JSON")?;
                writeln!(out)?;
            } else {
                writeln!(out, "conntrack is not available, so port forwards cannot be shown: {reason}")?;
            }
            out.flush()?;
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(e).with_context(|| format!("cannot read {} (it needs root)", path.display()));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let table = conntrack::parse(io::BufReader::new(file)).with_context(|| format!("reading {}", path.display()))?;
    if table.skipped > 0 {
        eprintln!("sockscope: note: {} line(s) of {} not understood, skipped", table.skipped, path.display());
    }
    let forwards = conntrack::forwards(&table.flows);
    let dnat = table.flows.iter().filter(|f| f.is_dnat()).count();
    let snat = table.flows.iter().filter(|f| f.is_snat()).count();

    if args.json {
        let j = JsonOut {
            available: true,
            reason: None,
            source: path.display().to_string(),
            flows: table.flows.len(),
            snat_flows: snat,
            skipped_lines: table.skipped,
            forwards: &forwards,
        };
        serde_json::to_writer_pretty(&mut out, &j).context("writing JSON")?;
        writeln!(out)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }

    if forwards.is_empty() {
        writeln!(
            out,
            "No destination-NAT'ed flows among the {} tracked in {}: no port forward is in use right now \
             (conntrack holds flows, not rules).",
            table.flows.len(),
            path.display()
        )?;
    } else {
        writeln!(
            out,
            "Port forwards in use (destination NAT), from {}: {} forward{}, {dnat} of {} tracked flows",
            path.display(),
            forwards.len(),
            if forwards.len() == 1 { "" } else { "s" },
            table.flows.len()
        )?;
        writeln!(out)?;
        let rows: Vec<Vec<String>> = forwards
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
            &mut out,
            &["Proto", "External (dialled)", "", "Internal (answered)", "Flows", "Clients", "States"],
            &rows,
        )?;
    }
    if snat > 0 {
        writeln!(out, "Also {snat} source-NAT'ed (masqueraded) flow{}, not shown.", if snat == 1 { "" } else { "s" })?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn endpoint(ip: IpAddr, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{}:{p}", Bracketed(ip)),
        None => Bracketed(ip).to_string(),
    }
}
