//! `sockscope audit`: the exposure audit of listening sockets and the ephemeral-port pressure of outbound
//! ones, as a table or JSON, with exit status 1 when anything is flagged (for cron and CI).

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use super::services::write_table;
use crate::cli::SourceArg;
use crate::collect::cgroup::Namer;
use crate::collect::workloads::Workloads;
use crate::collect::{Query, SourceChoice, netns};
use crate::model::StateSet;
use crate::ports::audit::{self, AuditOptions, Listener, Reach};
use crate::ports::classes::{self as ports, HostPorts, Pressure};
use crate::ports::services::Services;

/// Said in every report, table or JSON.
pub const FIREWALL_NOTE: &str = "sockscope sees sockets, not the firewall: a listener on all addresses may \
still be blocked by nftables/iptables or a cloud security group, and a loopback-only one may still be reachable \
through a port forward or a proxy (see `sockscope forwards`). Treat a flag as \"this socket accepts traffic from \
there if nothing in front of it stops it\".";

const HELP: &str = "\
Every listening endpoint (TCP LISTEN, bound unconnected UDP; UNIX sockets are left out: they
cannot be reached over the network) and where it can be reached from:
  loopback          127.0.0.0/8, ::1 (or bound to the lo device)
  specific          one address (private, public, link-local: shown)
  all-ipv4          0.0.0.0
  all-dual-stack    :: accepting IPv4 too
  all-ipv6-only     :: with IPV6_V6ONLY
  all-ipv6          :: where the source cannot tell (/proc does not show IPV6_V6ONLY)
Flagged, with the reason:
  exposed-service      a service that should not face untrusted networks and is not
                       loopback-only: telnet, NetBIOS, SMB, rpcbind, databases and caches
                       (MySQL, PostgreSQL, Redis, memcached, MongoDB, ...), unauthenticated
                       admin APIs (Docker, etcd, kubelet, ...)
  privileged-not-root  a port below 1024 held by a socket whose owner is not root
  ephemeral pressure   outbound sockets of one (local address, remote address, remote port)
                       using more than --threshold percent of the ephemeral range, TIME-WAIT
                       included: when it runs out, connect() fails with \"Cannot assign
                       requested address\"

sockscope sees sockets, not the firewall: see the note at the end of the report.

JSON (--json), one object:
  listeners[]   proto, address, port, ifindex, reach, exposed, service, uid, inode, sockets,
                process (comm[pid] of each holder; hidden when a process we may not inspect may hold it; null: none),
                flags[] {kind, category, reason}
  ephemeral     range {low, high} | null, reserved_in_range, capacity, threshold_percent,
                warnings[] and busiest[] {proto, local_address, remote_address, remote_port,
                sockets, time_wait, capacity, percent}, error (null, or why the range is unknown)
  flagged_listeners, pressure_warnings, note

Exit status: 0 when nothing is flagged, 1 when something is (or the sockets could not be
read: stderr says so), 2 for a usage error.";

#[derive(Debug, Clone, Default, clap::Args)]
#[command(after_help = HELP)]
pub struct AuditArgs {
    /// One JSON object instead of the table (fields below)
    #[arg(long)]
    pub json: bool,
    /// Ephemeral-port warning threshold: percent of the range one destination may use
    #[arg(long, value_name = "PCT", default_value = "50", value_parser = parse_threshold)]
    pub threshold: f64,
    /// Where sockets come from
    #[arg(long, value_enum, default_value_t = SourceArg::Auto, value_name = "SOURCE")]
    pub source: SourceArg,
    /// The proc filesystem to read for --source proc, the fallback, and the ephemeral range
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    pub proc_root: PathBuf,
    #[command(flatten)]
    pub netns: crate::cli::NetnsArgs,
}

fn parse_threshold(text: &str) -> Result<f64, String> {
    let v: f64 = text.trim().trim_end_matches('%').parse().map_err(|_| "expected a percentage like 50".to_string())?;
    if !(v > 0.0 && v <= 100.0) {
        return Err("must be above 0 and at most 100".into());
    }
    Ok(v)
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
    warnings: Vec<&'a Pressure>,
    busiest: Vec<&'a Pressure>,
    error: Option<String>,
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

pub fn run(args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let choice = match args.source {
        SourceArg::Auto => SourceChoice::Auto,
        SourceArg::Netlink => SourceChoice::Netlink,
        SourceArg::Proc => SourceChoice::Proc,
    };
    let query = Query { unix: false, states: StateSet::ALL, bytecode: None, ..Query::default() };
    let netns_choice = args.netns.choice().map_err(|e| anyhow::anyhow!(e.0))?;
    let roots = netns::Roots { proc_root: args.proc_root.clone(), ..netns::Roots::default() };
    let mut namer = Namer::new(&args.proc_root, args.netns.state_roots());
    let multi = netns::collect(&netns_choice, &roots, &mut namer, choice, &query).context("reading sockets")?;
    let several = netns_choice.is_all() && multi.read() > 1;
    let mut snap = multi.snapshot;
    for note in &snap.notes {
        eprintln!("sockscope: note: {note}");
    }
    let services = Services::system();
    let opts = AuditOptions { loopback_ifindex: loopback_ifindex() };
    let mut listeners = audit::audit(&snap.sockets, &services, &opts);
    // The owning process of each listener, where /proc lets us see it (another user's processes need root).
    let scan = crate::collect::process::scan(&args.proc_root).ok();
    let workloads = Workloads::load(
        std::mem::take(&mut snap.namespaces),
        scan.as_ref().map(|s| &s.map),
        &args.proc_root,
        &mut namer,
    );
    if several {
        let names = crate::output::Names { workloads, ..crate::output::Names::default() };
        for l in &mut listeners {
            l.namespace = Some(names.netns_label(l.netns));
        }
    }
    if let Some(scan) = scan {
        for l in &mut listeners {
            let names: Vec<String> =
                scan.map.get(l.inode).map(|h| format!("{}[{}]", h.process.comm, h.process.pid)).collect();
            l.process = if !names.is_empty() {
                Some(names.join(","))
            } else if l.inode != 0 && !scan.stats.complete {
                Some("hidden".into())
            } else {
                None
            };
        }
    }

    let host = HostPorts::read(&args.proc_root);
    let pressures = match &host {
        Ok(h) => ports::ephemeral_pressure(&snap.sockets, h),
        Err(_) => Vec::new(),
    };
    let warnings: Vec<&Pressure> = pressures.iter().filter(|p| p.over(args.threshold)).collect();
    let flagged = listeners.iter().filter(|l| !l.flags.is_empty()).count();
    let code = if flagged > 0 || !warnings.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS };

    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let h = host.as_ref().ok();
        let report = JsonReport {
            listeners: &listeners,
            ephemeral: JsonEphemeral {
                range: h.map(|h| JsonRange { low: h.ephemeral.low, high: h.ephemeral.high }),
                reserved_in_range: h.map(HostPorts::reserved_in_range),
                capacity: h.map(HostPorts::capacity),
                threshold_percent: args.threshold,
                warnings: warnings.clone(),
                busiest: pressures.iter().take(BUSIEST).collect(),
                error: host.as_ref().err().map(|e| e.to_string()),
            },
            flagged_listeners: flagged,
            pressure_warnings: warnings.len(),
            note: FIREWALL_NOTE,
        };
        serde_json::to_writer_pretty(&mut out, &report).context("writing JSON")?;
        writeln!(out)?;
        out.flush()?;
        return Ok(code);
    }

    listeners_table(&mut out, &listeners, several)?;
    writeln!(out)?;
    match &host {
        Ok(h) => pressure_section(&mut out, h, &pressures, &warnings, args.threshold)?,
        Err(e) => writeln!(out, "Ephemeral ports: cannot check the pressure, the range is unknown: {e}")?,
    }
    writeln!(out)?;
    if flagged == 0 && warnings.is_empty() {
        let n = listeners.len();
        writeln!(out, "Result: nothing flagged ({n} listening endpoint{}).", if n == 1 { "" } else { "s" })?;
    } else {
        writeln!(
            out,
            "Result: {flagged} of {} listening endpoints flagged, {} ephemeral-port warning{}.",
            listeners.len(),
            warnings.len(),
            if warnings.len() == 1 { "" } else { "s" }
        )?;
    }
    writeln!(out)?;
    for line in wrap(&format!("Note: {FIREWALL_NOTE}"), 100) {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(code)
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

fn pressure_section(
    out: &mut dyn Write,
    h: &HostPorts,
    pressures: &[Pressure],
    warnings: &[&Pressure],
    threshold: f64,
) -> io::Result<()> {
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
    format!("{} {} -> {}", p.proto, bracket(p.local_address), SpanAddr(p.remote_address, p.remote_port))
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
        write!(f, "{}:{}", bracket(self.0), self.1)
    }
}

fn bracket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

fn address(ip: IpAddr, ifindex: Option<u32>) -> String {
    match ifindex {
        Some(i) => format!("{}%{i}", bracket(ip)),
        None => bracket(ip),
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
fn loopback_ifindex() -> Option<u32> {
    // SAFETY: the argument is a valid NUL-terminated string; if_nametoindex only reads it.
    let i = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    (i != 0).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_values() {
        assert_eq!(parse_threshold("50"), Ok(50.0));
        assert_eq!(parse_threshold("12.5%"), Ok(12.5));
        assert!(parse_threshold("0").is_err());
        assert!(parse_threshold("101").is_err());
        assert!(parse_threshold("lots").is_err());
    }

    #[test]
    fn helpers() {
        assert_eq!(pct(75.0), "75");
        assert_eq!(pct(0.0354), "0");
        assert_eq!(pct(12.26), "12.3");
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
    }
}
