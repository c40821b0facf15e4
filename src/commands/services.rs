//! `sockscope services [PORT|RANGE|NAME]`: what a port or a service name means (names from /etc/services and
//! the built-in table, port class, the host's ephemeral range and reserved ports).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::model::Proto;
use crate::output::plain::write_table;
use crate::ports::classes::{HostPorts, PortClass};
use crate::ports::range::{self, PortError, PortRange, PortSpec};
use crate::ports::services::{Service, Services};

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

#[derive(Serialize)]
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
    let query = args.query.clone();
    let services = Services::load(&args.services_file).with_builtin();
    let host = HostPorts::read(&args.proc_root);
    let mut entries: Vec<Service<'_>> = match &query {
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
    let host_ok = host.as_ref().ok();
    let ports = match query {
        Query::Ports(span) => Some(port_summary(span, host_ok)),
        _ => None,
    };

    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let json = JsonOut {
            services: entries
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
            host_error: host.as_ref().err().map(|e| e.to_string()),
            ports,
        };
        serde_json::to_writer_pretty(&mut out, &json).context("writing JSON")?;
        writeln!(out)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }

    let file = args.services_file.display().to_string();
    let rows: Vec<Vec<String>> = entries
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
                    crate::ports::services::ServiceSource::File => file.clone(),
                    crate::ports::services::ServiceSource::Builtin => "built-in".into(),
                },
                e.description.unwrap_or("").to_string(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        write_table(
            &mut out,
            &["Port", "Proto", "Service", "Aliases", "Class", "Host", "Source", "Description"],
            &rows,
        )?;
    }
    if let (Query::Ports(span), Some(p)) = (&query, &ports) {
        if rows.is_empty() {
            writeln!(out, "{span}: no service name known (in {file} or the built-in table)")?;
        }
        writeln!(out, "{}", describe_span(*span, p, host_ok))?;
    }
    match &host {
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
        )?,
        Err(e) => writeln!(out, "Ephemeral range of this host unknown: {e}")?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
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
