//! `sockscope audit` flags and their check into an [`AuditConfig`].

use std::path::PathBuf;

use super::SourceArg;
use crate::commands::audit::AuditConfig;
use crate::ports::audit::AuditOptions;

/// The audit's options on this host, for `sockscope audit` and the dashboard alike.
pub(crate) fn audit_options(threshold_pct: f64) -> AuditOptions {
    AuditOptions { loopback_ifindex: crate::sys::interface_index("lo"), threshold_pct }
}

pub(crate) const HELP: &str = "\
Every listening endpoint (TCP LISTEN, bound unconnected UDP; UNIX sockets are left out: they \
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
                process (comm[pid] of each holder; \"hidden\" when a process we may not
                inspect may hold it; null: none), flags[] {kind, category, reason}, namespace (with \
                --all-netns: the endpoint's namespace and container; else null)
  ephemeral     range {low, high} | null, reserved_in_range, capacity, threshold_percent,
                warnings[] and busiest[] {proto, local_address, remote_address, remote_port,
                sockets, time_wait, capacity, percent}, error (null, or why the range is unknown)
  flagged_listeners, pressure_warnings, note

Exit status: 0 when nothing is flagged, 1 when something is (or the sockets could not be \
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
    pub netns: super::NetnsArgs,
}

fn parse_threshold(text: &str) -> Result<f64, String> {
    let v: f64 = text.trim().trim_end_matches('%').parse().map_err(|_| "expected a percentage like 50".to_string())?;
    if !(v > 0.0 && v <= 100.0) {
        return Err("must be above 0 and at most 100".into());
    }
    Ok(v)
}

impl AuditArgs {
    pub fn resolve(&self) -> Result<AuditConfig, super::UsageError> {
        Ok(AuditConfig {
            json: self.json,
            audit: audit_options(self.threshold),
            source: self.source.choice(),
            proc_root: self.proc_root.clone(),
            netns: self.netns.choice()?,
            state_roots: self.netns.state_roots(),
        })
    }
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
}
