//! `sockscope services [PORT|RANGE|NAME]`: what a port or a service name means (names from /etc/services and
//! the built-in table, port class, the host's ephemeral range and reserved ports).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::model::Proto;
use crate::output::plain::write_table;
use crate::ports::classes::{HostPorts, PortClass, PortsError};
use crate::ports::range::{self, PortError, PortRange, PortSpec};
use crate::ports::services::{Service, ServiceSource, Services};

/// A checked `services` request.
#[derive(Debug, Clone)]
pub struct ServicesConfig {
    pub query: Query,
    /// Only this protocol.
    pub proto: Option<Proto>,
    pub json: bool,
    pub services_file: PathBuf,
    pub proc_root: PathBuf,
}

/// What the user asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    All,
    Ports(PortRange),
    Name(String),
}

/// The `[PORT|NAME]` argument: a port or a range of ports (numbers, by the one port parser), `*` for the whole
/// table, or else a service name (looked up in every protocol).
pub fn parse_query(q: Option<&str>) -> Result<Query, PortError> {
    let Some(q) = q else { return Ok(Query::All) };
    match range::parse(q, None) {
        Ok(PortSpec::Range(r)) => Ok(Query::Ports(r)),
        Ok(PortSpec::Any) => Ok(Query::All),
        Err(PortError::Unknown(name)) => Ok(Query::Name(name)),
        Err(e) => Err(e),
    }
}

#[derive(Serialize)]
struct JsonEntry<'a> {
    proto: Proto,
    port: u16,
    name: &'a str,
    aliases: Vec<&'a str>,
    class: PortClass,
    ephemeral: Option<bool>,
    reserved: Option<bool>,
    source: &'static str,
    description: Option<&'static str>,
}

#[derive(Serialize)]
struct JsonHost<'a> {
    ephemeral: PortRange,
    reserved: &'a [PortRange],
    /// Ephemeral ports one destination can use: the range less the reserved ports in it.
    capacity: u32,
}

#[derive(Clone, Serialize)]
struct JsonPorts {
    low: u16,
    high: u16,
    count: u32,
    well_known: u32,
    registered: u32,
    dynamic: u32,
    ephemeral: Option<u32>,
    reserved: Option<u32>,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    services: Vec<JsonEntry<'a>>,
    host: Option<JsonHost<'a>>,
    host_error: Option<String>,
    ports: Option<JsonPorts>,
}

pub fn run(args: &ServicesConfig) -> anyhow::Result<ExitCode> {
    let services = match Services::load(&args.services_file) {
        Ok(s) => s,
        Err(e) => {
            crate::errln!(
                "sockscope: note: cannot use {}: {e}; names come from the built-in table only",
                args.services_file.display()
            );
            Services::default()
        }
    }
    .with_builtin();
    let host = HostPorts::read(&args.proc_root);
    let report = Report::new(args, &services, host)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.json {
        write_json(&mut out, &report)?;
    } else {
        write_text(&mut out, &report, &args.services_file.display().to_string())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// What `services` found: the table entries asked for, the host's ports, and for a port or range its summary.
struct Report<'a> {
    query: Query,
    entries: Vec<Service<'a>>,
    host: Result<HostPorts, PortsError>,
    ports: Option<JsonPorts>,
}

impl<'a> Report<'a> {
    /// Select the entries; an unknown name is an error.
    fn new(args: &ServicesConfig, services: &'a Services, host: Result<HostPorts, PortsError>) -> anyhow::Result<Self> {
        let mut entries: Vec<Service<'a>> = match &args.query {
            Query::All => services.all(),
            Query::Ports(span) => (span.low..=span.high).flat_map(|p| services.for_port(p)).collect(),
            Query::Name(n) => {
                let found = services.lookup(n);
                if found.is_empty() {
                    anyhow::bail!(
                        "unknown service name '{n}': neither {} nor the built-in table has it",
                        args.services_file.display()
                    );
                }
                found
            }
        };
        if let Some(p) = args.proto {
            entries.retain(|e| e.proto == p);
        }
        let ports = match args.query {
            Query::Ports(span) => Some(port_summary(span, host.as_ref().ok())),
            _ => None,
        };
        Ok(Report { query: args.query.clone(), entries, host, ports })
    }
}

fn write_json(out: &mut dyn Write, r: &Report<'_>) -> anyhow::Result<()> {
    let host_ok = r.host.as_ref().ok();
    let json = JsonOut {
        services: r
            .entries
            .iter()
            .map(|e| JsonEntry {
                proto: e.proto,
                port: e.port,
                name: e.name,
                aliases: e.aliases.iter().map(|a| &**a).collect(),
                class: PortClass::of(e.port),
                ephemeral: host_ok.map(|h| h.is_ephemeral(e.port)),
                reserved: host_ok.map(|h| h.is_reserved(e.port)),
                source: e.source.name(),
                description: e.description,
            })
            .collect(),
        host: host_ok.map(|h| JsonHost { ephemeral: h.ephemeral, reserved: &h.reserved, capacity: h.capacity() }),
        host_error: r.host.as_ref().err().map(|e| e.to_string()),
        ports: r.ports.clone(),
    };
    serde_json::to_writer_pretty(&mut *out, &json).context("writing JSON")?;
    writeln!(out)?;
    Ok(())
}

/// The table, the port or range summary, and the host's ephemeral range; `file` names the services file.
fn write_text(out: &mut dyn Write, r: &Report<'_>, file: &str) -> io::Result<()> {
    let host_ok = r.host.as_ref().ok();
    let rows: Vec<Vec<String>> = r
        .entries
        .iter()
        .map(|e| {
            vec![
                e.port.to_string(),
                e.proto.to_string(),
                e.name.to_string(),
                if e.aliases.is_empty() { "-".into() } else { e.aliases.join(",") },
                PortClass::of(e.port).to_string(),
                host_text(host_ok, e.port),
                match e.source {
                    ServiceSource::File => file.to_string(),
                    ServiceSource::Builtin => "built-in".into(),
                },
                e.description.unwrap_or("").to_string(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        write_table(out, &["Port", "Proto", "Service", "Aliases", "Class", "Host", "Source", "Description"], &rows)?;
    }
    if let (Query::Ports(span), Some(p)) = (&r.query, &r.ports) {
        if rows.is_empty() {
            writeln!(out, "{span}: no service name known (in {file} or the built-in table)")?;
        }
        writeln!(out, "{}", describe_span(*span, p, host_ok))?;
    }
    match &r.host {
        Ok(h) => writeln!(
            out,
            "Ephemeral range of this host: {} ({} ports){}",
            h.ephemeral,
            h.ephemeral.len(),
            match h.reserved.len() {
                0 => String::from(", no reserved ports"),
                _ => format!(
                    ", reserved ports: {} ({} of them in the range)",
                    h.reserved.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(","),
                    h.reserved_in_range()
                ),
            }
        ),
        Err(e) => writeln!(out, "Ephemeral range of this host unknown: {e}"),
    }
}

fn host_text(host: Option<&HostPorts>, port: u16) -> String {
    let Some(h) = host else { return "?".into() };
    match (h.is_ephemeral(port), h.is_reserved(port)) {
        (true, true) => "ephemeral,reserved".into(),
        (true, false) => "ephemeral".into(),
        (false, true) => "reserved".into(),
        (false, false) => "-".into(),
    }
}

fn port_summary(span: PortRange, host: Option<&HostPorts>) -> JsonPorts {
    let overlap = |c: PortRange| span.overlap(c);
    let class = |c: PortClass| span.overlap(c.range());
    JsonPorts {
        low: span.low,
        high: span.high,
        count: span.len(),
        well_known: class(PortClass::WellKnown),
        registered: class(PortClass::Registered),
        dynamic: class(PortClass::Dynamic),
        ephemeral: host.map(|h| overlap(h.ephemeral)),
        reserved: host.map(|h| h.reserved.iter().map(|r| overlap(*r)).sum()),
    }
}

fn describe_span(span: PortRange, p: &JsonPorts, host: Option<&HostPorts>) -> String {
    let classes: Vec<String> =
        [(p.well_known, PortClass::WellKnown), (p.registered, PortClass::Registered), (p.dynamic, PortClass::Dynamic)]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, c)| if n == p.count { c.name().to_string() } else { format!("{n} {}", c.name()) })
            .collect();
    let mut s = if span.low == span.high {
        let mut s = format!("Port {span}: {}", classes.join(", "));
        if span.low < 1024 {
            s.push_str(" (binding it needs root or CAP_NET_BIND_SERVICE)");
        }
        s
    } else {
        format!("Ports {span}: {} ports, {}", p.count, classes.join(", "))
    };
    match (host, p.ephemeral, p.reserved) {
        (Some(h), Some(e), Some(r)) => {
            let range = h.ephemeral;
            s.push_str(&match (span.low == span.high, e > 0) {
                (true, true) => format!("; inside this host's ephemeral range {range}"),
                (true, false) => format!("; outside this host's ephemeral range {range}"),
                (false, _) => format!("; {e} inside this host's ephemeral range {range}"),
            });
            if r > 0 {
                s.push_str(&if span.low == span.high { "; reserved".to_string() } else { format!("; {r} reserved") });
            }
        }
        _ => s.push_str("; ephemeral range unknown"),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        assert!(matches!(parse_query(None), Ok(Query::All)));
        assert!(matches!(parse_query(Some("443")), Ok(Query::Ports(PortRange { low: 443, high: 443 }))));
        assert!(matches!(parse_query(Some(":80-81")), Ok(Query::Ports(PortRange { low: 80, high: 81 }))));
        assert!(matches!(parse_query(Some("http-alt")), Ok(Query::Name(n)) if n == "http-alt"));
        assert!(parse_query(Some("70000")).unwrap_err().to_string().contains("out of range"));
        assert!(parse_query(Some("9-1")).unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn text_report_of_a_range() {
        let services = Services::parse("http 80/tcp www\nhttp-alt 8080/tcp\n".as_bytes());
        let args = ServicesConfig {
            query: Query::Ports(PortRange::new(80, 81)),
            proto: None,
            json: false,
            services_file: "/etc/services".into(),
            proc_root: "/nonexistent".into(),
        };
        let host = Ok(HostPorts { ephemeral: PortRange::new(32768, 60999), reserved: vec![PortRange::one(8080)] });
        let r = Report::new(&args, &services, host).unwrap();
        let mut v = Vec::new();
        write_text(&mut v, &r, "/etc/services").unwrap();
        let text = String::from_utf8(v).unwrap();
        assert!(
            text.starts_with("Port  Proto  Service  Aliases  Class       Host  Source         Description\n80"),
            "{text}"
        );
        assert!(text.contains("Ports 80-81: 2 ports, well-known; 0 inside this host's ephemeral range 32768-60999"));
        assert!(text.ends_with("reserved ports: 8080 (0 of them in the range)\n"), "{text}");
        let bad = ServicesConfig { query: Query::Name("nope".into()), ..args };
        assert!(Report::new(&bad, &services, Ok(HostPorts::linux_default())).is_err());
    }

    #[test]
    fn span_summary() {
        let h = HostPorts { ephemeral: PortRange { low: 32768, high: 60999 }, reserved: vec![] };
        let span = PortRange { low: 1000, high: 1100 };
        let p = port_summary(span, Some(&h));
        assert_eq!((p.count, p.well_known, p.registered, p.ephemeral), (101, 24, 77, Some(0)));
        let d = describe_span(span, &p, Some(&h));
        assert_eq!(
            d,
            "Ports 1000-1100: 101 ports, 24 well-known, 77 registered; 0 inside this host's ephemeral range 32768-60999"
        );
        let one = PortRange { low: 40000, high: 40000 };
        let d = describe_span(one, &port_summary(one, Some(&h)), Some(&h));
        assert_eq!(d, "Port 40000: registered; inside this host's ephemeral range 32768-60999");
    }
}
