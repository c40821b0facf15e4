//! `sockscope audit`: the exposure audit of listening sockets and the ephemeral-port pressure of outbound
//! ones, as a table or JSON, with exit status 1 when anything is flagged (for cron and CI).

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::collect::process::ScanResult;
use crate::collect::{self, Collector, Query, SourceChoice, netns};
use crate::model::Socket;
use crate::model::StateSet;
use crate::model::owners::Owner;
use crate::output::Bracketed;
use crate::output::plain::write_table;
use crate::ports::audit::{self, AuditOptions, Listener, Reach};
use crate::ports::classes::{self as ports, HostPorts, PortsError, Pressure};
use crate::ports::services::Services;

/// Said in every report, table or JSON.
pub const FIREWALL_NOTE: &str = "sockscope sees sockets, not the firewall: a listener on all addresses may \
still be blocked by nftables/iptables or a cloud security group, and a loopback-only one may still be reachable \
through a port forward or a proxy (see `sockscope forwards`). Treat a flag as \"this socket accepts traffic from \
there if nothing in front of it stops it\".";

/// A checked `audit` request.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub json: bool,
    /// The rules' options (loopback device, pressure threshold), the same the dashboard audits with.
    pub audit: AuditOptions,
    pub source: SourceChoice,
    pub proc_root: PathBuf,
    /// Which network namespaces (`-N`, `--all-netns`).
    pub netns: netns::Choice,
    /// Where container and pod names are read.
    pub state_roots: crate::collect::cgroup::StateRoots,
}

#[derive(Serialize)]
struct JsonRange {
    low: u16,
    high: u16,
}

#[derive(Serialize)]
struct JsonEphemeral<'a> {
    range: Option<JsonRange>,
    reserved_in_range: Option<u32>,
    capacity: Option<u32>,
    threshold_percent: f64,
    warnings: Vec<JsonPressure<'a>>,
    busiest: Vec<JsonPressure<'a>>,
    error: Option<String>,
}

/// A tuple's use, with its namespace's label under `--all-netns`.
#[derive(Serialize)]
struct JsonPressure<'a> {
    #[serde(flatten)]
    pressure: &'a Pressure,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    listeners: &'a [Listener],
    ephemeral: JsonEphemeral<'a>,
    flagged_listeners: usize,
    pressure_warnings: usize,
    note: &'static str,
}

/// How many of the busiest outbound tuples to show when none is over the threshold.
const BUSIEST: usize = 5;

pub fn run(args: &AuditConfig) -> anyhow::Result<ExitCode> {
    let query = Query { unix: false, states: StateSet::ALL, bytecode: None, ..Query::default() };
    let mut namer = crate::collect::cgroup::Namer::new(&args.proc_root, args.state_roots.clone());
    let mut collector = collect::open(args.source, &args.netns, &args.proc_root, args.state_roots.clone());
    let mut snap = collector.collect(&query).context("reading sockets")?;
    let several = args.netns.is_all() && collector.read() > 1;
    for note in &snap.notes {
        crate::errln!("sockscope: note: {note}");
    }
    // The owning process of each listener, where /proc lets us see it (another user's processes need root).
    let scan = crate::collect::process::scan(&args.proc_root).ok();
    let host = HostPorts::read(&args.proc_root);
    let mut findings = Findings::new(&snap.sockets, &Services::system(), &args.audit, scan.as_ref(), host);
    if several {
        // Each endpoint's namespace and container, as the listing labels them.
        let workloads = crate::collect::workloads::Workloads::load(
            std::mem::take(&mut snap.namespaces),
            scan.as_ref().map(|s| &s.map),
            &args.proc_root,
            &mut namer,
        );
        let names = crate::output::Names { workloads, ..crate::output::Names::default() };
        for l in &mut findings.listeners {
            l.namespace = Some(names.netns_label(l.netns));
        }
        for p in &findings.pressures {
            findings.pressure_namespaces.entry(p.netns).or_insert_with(|| names.netns_label(p.netns));
        }
        findings.namespaces = true;
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.json {
        write_json(&mut out, &findings)?;
    } else {
        write_text(&mut out, &findings)?;
    }
    out.flush()?;
    Ok(if findings.clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The audit's verdicts: every listening endpoint with its flags and owner, and the ephemeral-port use of
/// outbound sockets (empty when the range is unknown).
struct Findings {
    listeners: Vec<Listener>,
    host: Result<HostPorts, PortsError>,
    pressures: Vec<Pressure>,
    threshold_pct: f64,
    /// Listeners of several namespaces: the table gets a Namespace column.
    namespaces: bool,
    /// The label of each namespace a tuple of `pressures` lies in, with several namespaces.
    pressure_namespaces: crate::hash::FastMap<crate::model::netns::NetnsId, String>,
}

impl Findings {
    fn new(
        sockets: &[Socket],
        services: &Services,
        opts: &AuditOptions,
        scan: Option<&ScanResult>,
        host: Result<HostPorts, PortsError>,
    ) -> Findings {
        let mut listeners = audit::audit(sockets, services, opts);
        if let Some(scan) = scan {
            for l in &mut listeners {
                l.process = match scan.map.owner(l.inode, scan.stats.complete) {
                    Owner::Held(h) => {
                        Some(h.map(|h| format!("{}[{}]", h.process.comm, h.process.pid)).collect::<Vec<_>>().join(","))
                    }
                    Owner::Hidden => Some("hidden".into()),
                    Owner::None | Owner::NotLookedUp => None,
                };
            }
        }
        let pressures = match &host {
            Ok(h) => ports::ephemeral_pressure(sockets, h),
            Err(_) => Vec::new(),
        };
        let threshold_pct = opts.threshold_pct;
        Findings {
            listeners,
            host,
            pressures,
            threshold_pct,
            namespaces: false,
            pressure_namespaces: Default::default(),
        }
    }

    /// The namespace label of tuple `p`, with several namespaces.
    fn namespace_of(&self, p: &Pressure) -> Option<&str> {
        self.pressure_namespaces.get(&p.netns).map(String::as_str)
    }

    fn json<'a>(&'a self, p: &'a Pressure) -> JsonPressure<'a> {
        JsonPressure { pressure: p, namespace: self.namespace_of(p) }
    }

    fn flagged(&self) -> usize {
        self.listeners.iter().filter(|l| !l.flags.is_empty()).count()
    }

    fn warnings(&self) -> Vec<&Pressure> {
        self.pressures.iter().filter(|p| p.over(self.threshold_pct)).collect()
    }

    /// Nothing flagged: exit status 0.
    fn clean(&self) -> bool {
        self.flagged() == 0 && self.warnings().is_empty()
    }
}

fn write_json(out: &mut dyn Write, f: &Findings) -> anyhow::Result<()> {
    let h = f.host.as_ref().ok();
    let warnings = f.warnings();
    let report = JsonReport {
        listeners: &f.listeners,
        ephemeral: JsonEphemeral {
            range: h.map(|h| JsonRange { low: h.ephemeral.low, high: h.ephemeral.high }),
            reserved_in_range: h.map(HostPorts::reserved_in_range),
            capacity: h.map(HostPorts::capacity),
            threshold_percent: f.threshold_pct,
            warnings: warnings.iter().map(|p| f.json(p)).collect(),
            busiest: f.pressures.iter().take(BUSIEST).map(|p| f.json(p)).collect(),
            error: f.host.as_ref().err().map(|e| e.to_string()),
        },
        flagged_listeners: f.flagged(),
        pressure_warnings: warnings.len(),
        note: FIREWALL_NOTE,
    };
    serde_json::to_writer_pretty(&mut *out, &report).context("writing JSON")?;
    writeln!(out)?;
    Ok(())
}

fn write_text(out: &mut dyn Write, f: &Findings) -> io::Result<()> {
    let (flagged, warnings) = (f.flagged(), f.warnings());
    listeners_table(out, &f.listeners, f.namespaces)?;
    writeln!(out)?;
    match &f.host {
        Ok(h) => pressure_section(out, h, f, &warnings)?,
        Err(e) => writeln!(out, "Ephemeral ports: cannot check the pressure, the range is unknown: {e}")?,
    }
    writeln!(out)?;
    if flagged == 0 && warnings.is_empty() {
        let n = f.listeners.len();
        writeln!(out, "Result: nothing flagged ({n} listening endpoint{}).", if n == 1 { "" } else { "s" })?;
    } else {
        writeln!(
            out,
            "Result: {flagged} of {} listening endpoints flagged, {} ephemeral-port warning{}.",
            f.listeners.len(),
            warnings.len(),
            if warnings.len() == 1 { "" } else { "s" }
        )?;
    }
    writeln!(out)?;
    for line in wrap(&format!("Note: {FIREWALL_NOTE}"), 100) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn listeners_table(out: &mut dyn Write, listeners: &[Listener], namespaces: bool) -> io::Result<()> {
    writeln!(
        out,
        "Listening endpoints: {} (TCP LISTEN and bound UDP; UNIX sockets left out: not reachable over the network)",
        listeners.len()
    )?;
    if listeners.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let mut head = vec!["Proto", "Address", "Port", "Service", "Reach", "Uid", "Process", "Flags"];
    if namespaces {
        head.insert(0, "Namespace");
    }
    let rows: Vec<Vec<String>> = listeners
        .iter()
        .map(|l| {
            let mut row = vec![
                l.proto.to_string(),
                address(l.address, l.ifindex),
                l.port.to_string(),
                l.service.clone().unwrap_or_else(|| "-".into()),
                reach_short(l.reach, l.address),
                l.uid.map_or_else(|| "-".into(), |u| u.to_string()),
                l.process.clone().unwrap_or_else(|| "-".into()),
                if l.flags.is_empty() {
                    String::new()
                } else {
                    format!("! {}", l.flags.iter().map(|f| f.kind.name()).collect::<Vec<_>>().join(","))
                },
            ];
            if namespaces {
                row.insert(0, l.namespace.clone().unwrap_or_else(|| "-".into()));
            }
            row
        })
        .collect();
    write_table(out, &head, &rows)?;
    let flagged: Vec<&Listener> = listeners.iter().filter(|l| !l.flags.is_empty()).collect();
    if !flagged.is_empty() {
        writeln!(out)?;
        writeln!(out, "Flags:")?;
        for l in flagged {
            for f in &l.flags {
                let text = format!("{} {}:{}: {}", l.proto, address(l.address, l.ifindex), l.port, f.reason);
                write_wrapped(out, &text)?;
            }
        }
    }
    Ok(())
}

fn pressure_section(out: &mut dyn Write, h: &HostPorts, f: &Findings, warnings: &[&Pressure]) -> io::Result<()> {
    let (pressures, threshold) = (&f.pressures, f.threshold_pct);
    let tuple = |p: &Pressure| match f.namespace_of(p) {
        Some(ns) => format!("{ns} {}", tuple(p)),
        None => tuple(p),
    };
    let reserved = h.reserved_in_range();
    writeln!(
        out,
        "Ephemeral ports: range {} ({} ports{}), warning above {}% for one (local address, destination)",
        h.ephemeral,
        h.ephemeral.len(),
        if reserved > 0 { format!(", {reserved} reserved in it: {} usable", h.capacity()) } else { String::new() },
        pct(threshold)
    )?;
    if pressures.is_empty() {
        return writeln!(out, "  no outbound connections hold a port from the range");
    }
    if warnings.is_empty() {
        let p = &pressures[0];
        return writeln!(out, "  ok: the busiest is {} ({})", tuple(p), usage(p));
    }
    for p in warnings {
        let text = format!(
            "{}: {}. New connections from {} to this destination fail with \"Cannot assign requested address\" \
             (EADDRNOTAVAIL) once the range is used up: reuse connections (keep-alive, pooling), add local \
             addresses, or widen net.ipv4.ip_local_port_range",
            tuple(p),
            usage(p),
            p.local_address
        );
        write_wrapped(out, &text)?;
    }
    Ok(())
}

fn tuple(p: &Pressure) -> String {
    format!("{} {} -> {}", p.proto, Bracketed(p.local_address), SpanAddr(p.remote_address, p.remote_port))
}

fn usage(p: &Pressure) -> String {
    format!("{} of {} ports ({}%), {} in TIME-WAIT", p.sockets, p.capacity, pct(p.percent), p.time_wait)
}

/// A percentage with at most one decimal, without a trailing `.0`.
fn pct(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

struct SpanAddr(IpAddr, u16);

impl std::fmt::Display for SpanAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", Bracketed(self.0), self.1)
    }
}

fn address(ip: IpAddr, ifindex: Option<u32>) -> String {
    match ifindex {
        Some(i) => format!("{}%{i}", Bracketed(ip)),
        None => Bracketed(ip).to_string(),
    }
}

fn reach_short(r: Reach, ip: IpAddr) -> String {
    match r {
        Reach::Loopback => "loopback".into(),
        Reach::Specific => format!("specific ({})", audit::address_kind(ip)),
        Reach::AllIpv4 => "all IPv4".into(),
        Reach::AllDualStack => "all (dual-stack)".into(),
        Reach::AllIpv6Only => "all IPv6 (v6-only)".into(),
        Reach::AllIpv6 => "all IPv6 (v6only ?)".into(),
    }
}

/// A flagged item: `  ! ` and the text, wrapped at 100 columns with continuation lines indented under it.
fn write_wrapped(out: &mut dyn Write, text: &str) -> io::Result<()> {
    for (i, line) in wrap(text, 96).into_iter().enumerate() {
        writeln!(out, "{}{line}", if i == 0 { "  ! " } else { "    " })?;
    }
    Ok(())
}

/// Greedy word wrap at `width` columns.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ') {
        if !cur.is_empty() && cur.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// The index of the loopback device in this network namespace, for sockets bound to it.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(pct(75.0), "75");
        assert_eq!(pct(0.0354), "0");
        assert_eq!(pct(12.26), "12.3");
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
    }
}
