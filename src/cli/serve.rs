//! `sockscope serve`: flags of the exporter and their resolution into a checked [`ServeConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::top::parse_interval;
use super::{SelectArgs, UsageError};
use crate::commands::serve::ServeConfig;
use crate::commands::serve::collection::CollectionSettings;
use crate::commands::serve::conn::{FIRST_BYTE, Limits};
use crate::commands::serve::token::TokenFile;
use crate::model::StateSet;
use crate::output::metrics::Caps;
use crate::ports::services::Services;

pub const SERVE_HELP: &str = "\
Endpoints:
  /metrics                      Prometheus metrics (OpenMetrics when the scraper asks for it, else text 0.0.4)
  /api/v1/sockets?filter=EXPR   sockets as JSON (the --json schema), EXPR in the filter language
  /api/v1/groups[?filter=EXPR]  the dashboard's groups as JSON
  /healthz                      200 when the last collection worked (never needs the token)

Sockets are collected at most once per --interval, on the first request after the last collection is that
old: any number of scrapers cost one kernel dump per interval, and an idle exporter does nothing.

The selection flags and FILTER narrow what is collected and exported, as for `list`.

Namespaces: -N NAME|PID|PATH exports one network namespace instead of the exporter's own.
With --all-netns (or -N all) every namespace on the host is collected each interval, and every
per-socket and per-endpoint series gets `netns` (the namespace's name, or net:[INODE]) and
`container` (the container's name or id, empty when none) labels: the same port in two
containers is two series. The caps count across namespaces. The kernel counters
(sockscope_kernel_*) and the ephemeral range stay the exporter's own namespace's.

The API answers in pages of at most limit=N items (default 10000); a `Link: <...>; rel=\"next\"` header gives
the next page's query (after=CURSOR). Its filters take addresses, not host names.

Security: the exporter binds to loopback unless --listen names another address. With --token-file every
endpoint but /healthz needs `Authorization: Bearer TOKEN` (the file is read again when it changes). Requests
are bounded: header size, time to the first byte (3 s), to the request and to the answer (--request-timeout),
to read the answer (--write-timeout), connections at once and per client address; a connection beyond a limit
closes an idle one first. Without root (or CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE) other users' processes
are hidden (empty `process` label); sockets themselves need no privilege.

Example scrape config (prometheus.yml):
  scrape_configs:
    - job_name: sockscope
      static_configs: [{ targets: ['127.0.0.1:9830'] }]";

/// Flags of the exporter.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Address and port to listen on: loopback by default; any other address must be given here (port 0: any
    /// free port, printed on stderr)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9830", help_heading = "Exporter")]
    pub listen: String,
    /// Collect at most once per TIME: seconds (`5`) or with a unit (`500ms`, `15s`)
    #[arg(long, value_name = "TIME", default_value = "5s", help_heading = "Exporter")]
    pub interval: String,
    /// Listening endpoints with series of their own (the busiest); the rest are summed under `other`
    #[arg(long, value_name = "N", default_value_t = 100, help_heading = "Exporter")]
    pub max_listeners: usize,
    /// Remote endpoints (ports, addresses, ephemeral-port tuples) with series of their own
    #[arg(long, value_name = "N", default_value_t = 100, help_heading = "Exporter")]
    pub max_peers: usize,
    /// Require `Authorization: Bearer TOKEN`, TOKEN being this file's first line
    #[arg(long, value_name = "FILE", help_heading = "Exporter")]
    pub token_file: Option<PathBuf>,
    /// Connections served at once; a new one beyond closes an idle one (no request yet, or between requests)
    /// or the one longest stuck writing to a client that does not read, else it is closed at once
    #[arg(long, value_name = "N", default_value_t = 32, help_heading = "Exporter")]
    pub max_connections: usize,
    /// Connections of one client address (IPv6: one /64) at once [default: a quarter of --max-connections]
    #[arg(long, value_name = "N", help_heading = "Exporter")]
    pub max_connections_per_peer: Option<usize>,
    /// Time a client has to send its request headers, and a request has to be answered (a new connection
    /// has at most 3 s to send its first byte)
    #[arg(long, value_name = "TIME", default_value = "10s", help_heading = "Exporter")]
    pub request_timeout: String,
    /// Time a client has to read one response; a slower one is disconnected
    #[arg(long, value_name = "TIME", default_value = "30s", help_heading = "Exporter")]
    pub write_timeout: String,
    /// Do not look up the processes holding listeners (the `process` label stays empty)
    #[arg(long, help_heading = "Exporter")]
    pub no_processes: bool,
}

impl ServeArgs {
    pub fn resolve(&self) -> Result<ServeConfig, UsageError> {
        let services = Services::system();
        let (states, filter) = self.select.selection(&services)?;
        let mut query = self.select.query(states.unwrap_or(StateSet::ALL));
        query.bytecode = crate::filter::bytecode::compile(&filter);
        // A `cgroup PATH` term matches the kernel's cgroup id of each socket, sent with the details.
        query.details |= filter.needs().cgroup_ids;
        query.one_tcp_walk = true;
        query.receive_thread = false;
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            UsageError(format!(
                "invalid value '{}' for --listen: expected ADDRESS:PORT like 127.0.0.1:9830 or [::1]:9830",
                self.listen
            ))
        })?;
        let time = |flag: &str, text: &str| {
            parse_interval(text).map_err(|e| UsageError(format!("invalid value '{text}' for {flag}: {e}")))
        };
        let interval = time("--interval", &self.interval)?;
        let request_timeout = time("--request-timeout", &self.request_timeout)?;
        for (flag, n) in [
            ("--max-listeners", self.max_listeners),
            ("--max-connections", self.max_connections),
            ("--max-connections-per-peer", self.max_connections_per_peer.unwrap_or(1)),
        ] {
            if n == 0 {
                return Err(UsageError(format!("invalid value '0' for {flag}: must be at least 1")));
            }
        }
        let token = match &self.token_file {
            Some(path) => Some(
                TokenFile::open(path)
                    .map_err(|why| UsageError(format!("invalid value '{}' for --token-file: {why}", path.display())))?,
            ),
            None => None,
        };
        let write_timeout = time("--write-timeout", &self.write_timeout)?;
        let per_peer = self.max_connections_per_peer.unwrap_or(self.max_connections.div_ceil(4));
        Ok(ServeConfig {
            listen,
            interval,
            collection: CollectionSettings {
                query,
                filter,
                source: self.select.source_choice(),
                proc_root: self.select.proc_root.clone(),
                services,
                caps: Caps { max_listeners: self.max_listeners, max_peers: self.max_peers },
                processes: !self.no_processes,
                netns: self.select.netns.choice()?,
                state_roots: self.select.netns.state_roots(),
            },
            token,
            limits: Limits {
                max: self.max_connections,
                per_peer: per_peer.min(self.max_connections),
                first_byte: request_timeout.min(FIRST_BYTE),
                write: write_timeout,
            },
            request_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::{Cli, Command};
    use super::*;
    use std::time::Duration;

    fn serve(args: &[&str]) -> Result<ServeConfig, String> {
        let cli = Cli::try_parse_from(["sockscope", "serve"].into_iter().chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        let Some(Command::Serve(s)) = cli.command else { panic!("not serve") };
        s.resolve().map_err(|e| e.0)
    }

    #[test]
    fn defaults_are_loopback_and_every_state() {
        let c = serve(&[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9830".parse().unwrap());
        assert!(c.listen.ip().is_loopback());
        assert_eq!(c.interval, Duration::from_secs(5));
        assert_eq!(c.collection.query.states, StateSet::ALL);
        assert!(c.collection.query.one_tcp_walk && c.collection.processes && c.token.is_none());
        assert!(!c.collection.query.details, "cgroup ids only for a `cgroup PATH` term");
        assert_eq!(c.collection.caps, Caps { max_listeners: 100, max_peers: 100 });
        let first_byte = Duration::from_secs(3);
        assert_eq!(c.limits, Limits { max: 32, per_peer: 8, first_byte, write: Duration::from_secs(30) });
    }

    #[test]
    fn connection_limits() {
        let c = serve(&["--max-connections", "10", "--max-connections-per-peer", "3", "--write-timeout", "2s"]);
        let l = c.unwrap().limits;
        assert_eq!((l.max, l.per_peer, l.write), (10, 3, Duration::from_secs(2)));
        // The per-peer limit is at most the total; a short request timeout shortens the first-byte one.
        let l = serve(&["--max-connections", "2", "--max-connections-per-peer", "5"]).unwrap().limits;
        assert_eq!((l.max, l.per_peer), (2, 2));
        assert_eq!(serve(&["--max-connections", "1"]).unwrap().limits.per_peer, 1);
        let l = serve(&["--request-timeout", "1s"]).unwrap().limits;
        assert_eq!(l.first_byte, Duration::from_secs(1));
    }

    #[test]
    fn flags_and_filter() {
        let c =
            serve(&["-t", "--listen", "[::1]:0", "--interval", "15s", "--max-peers", "5", "sport", ":443"]).unwrap();
        assert_eq!(c.listen, "[::1]:0".parse().unwrap());
        assert_eq!(c.interval, Duration::from_secs(15));
        assert_eq!(c.collection.caps.max_peers, 5);
        assert!(c.collection.query.tcp && !c.collection.query.udp && !c.collection.query.unix);
        assert!(!c.collection.filter.is_true());
    }

    #[test]
    fn namespace_flags_reach_the_collection() {
        use crate::collect::netns::Choice;
        assert_eq!(serve(&[]).unwrap().collection.netns, Choice::Own);
        assert_eq!(serve(&["--all-netns"]).unwrap().collection.netns, Choice::All);
        assert_eq!(serve(&["-N", "all"]).unwrap().collection.netns, Choice::All);
        assert!(matches!(serve(&["-N", "blue"]).unwrap().collection.netns, Choice::One(_)));
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, want) in [
            (&["--listen", "localhost"][..], "for --listen"),
            (&["--interval", "0"], "'0' for --interval"),
            (&["--request-timeout", "soon"], "for --request-timeout"),
            (&["--max-listeners", "0"], "for --max-listeners"),
            (&["--max-connections-per-peer", "0"], "for --max-connections-per-peer"),
            (&["--write-timeout", "never"], "for --write-timeout"),
            (&["--token-file", "/nonexistent/token"], "for --token-file"),
            (&["sport", "=", "nope"], "bad filter"),
        ] {
            let e = serve(args).unwrap_err();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }
}
