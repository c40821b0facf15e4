//! Command-line definitions (clap) and their resolution into checked configurations: the top-level parser and
//! the selection flags the listing and the dashboard share live here, each subcommand's flags in its own file.
//! The configurations are the consumers' types (`commands::*::*Config`, `tui::TopConfig`); this layer builds
//! them and never reaches into UI state.

pub mod audit;
pub mod doctor;
pub mod forwards;
pub mod list;
pub mod services;
pub mod top;

pub mod serve;

pub mod argv;
pub mod select;

use std::io::{self, IsTerminal};
use std::path::PathBuf;

pub mod time;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use list::ListArgs;
pub use top::TopArgs;

use crate::collect::cgroup::StateRoots;
use crate::collect::{Query, SourceChoice, netns};
use crate::commands::{Invocation, kill};
use crate::filter::{self, End, Expr};
use crate::model::StateSet;
use crate::ports::range;
use crate::ports::services::Services;

const ABOUT: &str = "Who is on which port, in what state, from where: a socket monitor for Linux.";

const LONG_ABOUT: &str = "\
Who is on which port, in what state, from where: a socket monitor for Linux.

With no subcommand, sockscope lists sockets like `ss` does (the same as `sockscope list`), so the ss flags \
you know work unchanged: `sockscope -tan`, `sockscope -ltn`, `sockscope -uan`.

Sockets come from the kernel's netlink sock_diag interface; where that is unavailable (some containers and \
sandboxes) sockscope reads /proc/net/* instead and says so on stderr. No root is needed: an unprivileged user \
sees every socket of its network namespace, with owner uid and inode.";

pub(crate) const AFTER_HELP: &str = "\
Defaults, as in ss:
  no table flag    every socket table (TCP, UDP, UNIX, raw, MPTCP, ...; packet and netlink only with -a/-l, as
                   they are never connected); -4/-6 every inet table of that family; -x the UNIX tables
  no -a/-l/--state connected sockets only: every state but LISTEN, UNCONN (closed), TIME-WAIT and SYN-RECV;
                   -u and -w alone: ESTAB only (their default, as in ss)
  -l               listening TCP sockets and unconnected (bound) UDP/UNIX/raw/packet/netlink sockets
  -al / -la        the later flag wins, as in ss
  no -n            ports shown as service names from /etc/services (never in the ephemeral range, as ss);
                   addresses never resolved without -r
  options          anywhere on the line, also after the filter (`sockscope -ta sport = :22 -n`)

States for --state (case-insensitive, repeatable, or comma-separated):
  established syn-sent syn-recv fin-wait-1 fin-wait-2 time-wait closed close-wait last-ack listening closing
  bound-inactive (Linux 6.5+, netlink only)
  all           every state above but bound-inactive
  connected     all but listening and closed
  synchronized  connected, but not syn-sent
  bucket        syn-recv and time-wait      big   all but syn-recv and time-wait

FILTERS (ss's language, after the options; quote parentheses for the shell):
  FILTER := [ state STATE | exclude STATE ]... [ EXPRESSION ]
  sport|dport|port [OP] :PORT     OP: = == != < > <= >= eq ne lt gt le ge; PORT: number, service, range, *
  src|dst ADDR[/PLEN][:PORT]      also [v6addr]:port, *:PORT, host names; `src unix:GLOB` for UNIX paths
  dev IFNAME   fwmark VALUE[/MASK]   cgroup PATH (the socket's own cgroup2 directory, exactly)
  and && &  or || |  not !  ( )   juxtaposition means and
  and/or bind equally and group from the left, as in ss: `a or b and c` is `(a or b) and c`.
sockscope extras: `port` (either end), ranges (`sport :8000-8100`), `proto tcp|udp|unix`, `uid OP N`, \
`path GLOB` (UNIX name), `process GLOB` and `pid N` (the socket's holders, read from /proc), port classes \
`sport class well-known|registered|dynamic` and `dport ephemeral`; the namespace and workload terms `netns NAME|INODE`, \
`container GLOB`, `unit GLOB` and `cgroup GLOB` (the holder's cgroup path: `cgroup '/system.slice/*'`). \
On the netlink path the kernel evaluates \
what it can (bytecode); the rest is checked in userspace.

Examples:
  sockscope -tan                             every TCP socket, numeric
  sockscope -ltn                             TCP listeners
  sockscope -tn --port 443                   connected TCP sockets with 443 at either end
  sockscope -tan --state time-wait --dport 8000-8100
  sockscope -tn state established '( dport = :443 or sport = :443 )'
  sockscope -tan dst 10.0.0.0/8 and not sport :22
  sockscope -tan --json | jq '.[] | select(.peer.port == 5432)'
  sockscope -xa --ndjson                     UNIX sockets, one JSON object per line

Output streams: rows are written as the kernel sends them, so memory stays small at any socket count. The \
table aligns its columns per chunk of about 60k rows, as ss does; --json is one array all the same. With -p \
(or a process/pid filter) rows wait for the /proc scan, which runs beside the dump. Nothing is sorted.

Exit status: 0 on success (also when the output pipe closes early, as with `| head`), 1 when sockets could \
not be read, 2 for a usage error.";

#[derive(Debug, Parser)]
#[command(
    name = "sockscope",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub list: ListArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List sockets once, like `ss` (the default when stdout is not a terminal, or any flag is given).
    #[command(after_help = AFTER_HELP)]
    List(list::ListArgs),
    /// Live dashboard: sockets grouped by listening port (the default on a terminal without flags).
    #[command(after_help = top::HELP)]
    Top(top::TopArgs),
    /// What a port or service name means: service names, port classes, the ephemeral range.
    Services(services::ServicesArgs),
    /// Exposure audit of listening sockets; exit status 1 when something is flagged.
    Audit(audit::AuditArgs),
    /// Diagnose the sockets: name what is wrong (full accept queues, leaks, stalls, drops) with the evidence;
    /// exit status 1 when something is found.
    Doctor(doctor::DoctorArgs),
    /// Port forwards and NAT flows seen by conntrack.
    Forwards(forwards::ForwardsArgs),
    /// Socket events as they happen: opens, TCP state changes, closes with lifetime and bytes (`ss -E`+).
    Watch(time::WatchArgs),
    /// Close the sockets a filter selects (SOCK_DESTROY, as `ss -K`), after asking.
    Kill(time::KillArgs),
    /// Record groups and socket events into an SQLite database, for `list --from`, `diff` and sqlite3.
    Record(time::RecordArgs),
    /// What changed between two moments of a recording, or between two `list --json` snapshots.
    Diff(time::DiffArgs),
    /// The dashboard of a recording, on a timeline.
    Replay(time::ReplayArgs),
    /// Prometheus exporter and JSON API over HTTP: per-port connections, accept queues, ephemeral ports.
    #[command(after_help = serve::SERVE_HELP)]
    Serve(serve::ServeArgs),
}

impl Cli {
    /// The command this line asks for, its flags checked. Bare `sockscope` on a terminal is the dashboard;
    /// with flags, or into a pipe, the listing.
    pub fn resolve(self) -> Result<Invocation, UsageError> {
        Ok(match self.command {
            Some(Command::List(a)) => return a.invocation(),
            Some(Command::Top(t)) => Invocation::Top(t.resolve()?),
            Some(Command::Services(a)) => Invocation::Services(a.resolve()?),
            Some(Command::Audit(a)) => Invocation::Audit(a.resolve()?),
            Some(Command::Doctor(a)) => Invocation::Doctor(a.resolve()?),
            Some(Command::Forwards(a)) => Invocation::Forwards(a.resolve()),
            Some(Command::Watch(a)) => Invocation::Watch(a.resolve()?),
            Some(Command::Kill(a)) => {
                let confirm = if a.yes { kill::Confirm::Given } else { kill::Confirm::Ask };
                Invocation::Kill(a.resolve()?, confirm)
            }
            Some(Command::Record(a)) => Invocation::Record(a.resolve()?),
            Some(Command::Diff(a)) => Invocation::Diff(a.resolve()),
            Some(Command::Replay(a)) => Invocation::Replay(a.file),
            Some(Command::Serve(a)) => Invocation::Serve(a.resolve()?),
            None if self.list.is_empty() && io::stdout().is_terminal() && io::stdin().is_terminal() => {
                Invocation::Top(self.list.as_top().resolve()?)
            }
            None => return self.list.invocation(),
        })
    }
}

impl ListArgs {
    /// `list`'s flags: a moment of a recording (`--from --at`), the event stream (`-E`), closing (`-K`, without
    /// asking, as ss), or the listing.
    fn invocation(self) -> Result<Invocation, UsageError> {
        if let (Some(from), Some(at)) = (&self.from, &self.at) {
            return Ok(Invocation::ListAt { from: from.clone(), at: at.clone(), json: self.json || self.ndjson });
        }
        Ok(if self.events {
            Invocation::Watch(self.as_watch()?)
        } else if self.kill {
            Invocation::Kill(self.as_kill()?, kill::Confirm::Given)
        } else {
            Invocation::List(self.resolve()?)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SourceArg {
    /// netlink sock_diag, falling back to /proc/net for what netlink cannot serve
    #[default]
    Auto,
    /// netlink only: fail instead of falling back
    Netlink,
    /// /proc/net text files only
    Proc,
}

impl SourceArg {
    pub fn choice(self) -> SourceChoice {
        match self {
            SourceArg::Auto => SourceChoice::Auto,
            SourceArg::Netlink => SourceChoice::Netlink,
            SourceArg::Proc => SourceChoice::Proc,
        }
    }
}

#[derive(Debug, Clone, Default, Args)]
pub struct SelectArgs {
    /// TCP sockets
    #[arg(short = 't', long, help_heading = "Socket types")]
    pub tcp: bool,
    /// UDP sockets
    #[arg(short = 'u', long, help_heading = "Socket types")]
    pub udp: bool,
    /// UNIX domain sockets
    #[arg(short = 'x', long, help_heading = "Socket types")]
    pub unix: bool,
    /// IPv4 only
    #[arg(short = '4', long, help_heading = "Socket types")]
    pub ipv4: bool,
    /// IPv6 only
    #[arg(short = '6', long, help_heading = "Socket types")]
    pub ipv6: bool,

    /// Only sockets in STATE (see the list below); repeat or comma-separate for several. Overrides -a/-l
    #[arg(long, value_name = "STATE", help_heading = "Selection")]
    pub state: Vec<String>,
    /// Port at either end: a number, a service name or a range like 8000-8100 (repeat: any of them)
    #[arg(long, value_name = "PORT", help_heading = "Selection")]
    pub port: Vec<String>,
    /// Local (source) port, as --port
    #[arg(long, value_name = "PORT", help_heading = "Selection")]
    pub sport: Vec<String>,
    /// Remote (destination) port, as --port
    #[arg(long, value_name = "PORT", help_heading = "Selection")]
    pub dport: Vec<String>,

    /// Where sockets come from
    #[arg(long, value_enum, default_value_t = SourceArg::Auto, value_name = "SOURCE", help_heading = "Source")]
    pub source: SourceArg,
    /// The proc filesystem to read for --source proc and the fallback (for containers and tests)
    #[arg(long, value_name = "DIR", default_value = "/proc", help_heading = "Source")]
    pub proc_root: PathBuf,

    #[command(flatten)]
    pub netns: NetnsArgs,

    /// A filter in ss's language, after the options: `state established '( dport = :443 or sport = :443 )'`
    /// (see FILTERS below)
    #[arg(value_name = "FILTER", trailing_var_arg = true)]
    pub filter: Vec<String>,
}

/// Which network namespaces, and where container names are read (list, top, audit).
#[derive(Debug, Clone, Default, Args)]
pub struct NetnsArgs {
    /// Network namespace to list, as ss -N: a name under /run/netns (`ip netns`), a PID, or a path such as
    /// /proc/PID/ns/net or /run/docker/netns/ID; `all` is the same as --all-netns
    #[arg(short = 'N', long = "net", value_name = "NAME|PID|PATH", help_heading = "Namespaces")]
    pub net: Option<String>,
    /// Every network namespace on the host (those of all processes, /run/netns and other bind mounts such as
    /// /run/docker/netns), each socket labelled with its namespace and container. Entering another namespace
    /// needs CAP_SYS_ADMIN: without it the ones that could not be entered are named on stderr. `list` writes
    /// the namespaces in discovery order, each one's rows as its dump arrives (a few namespaces are dumped
    /// ahead at once, each holding at most a few thousand sockets until its turn)
    #[arg(long, conflicts_with = "net", help_heading = "Namespaces")]
    pub all_netns: bool,
    /// Docker's data root, for container names (<DIR>/containers/<id>/config.v2.json)
    #[arg(long, value_name = "DIR", default_value = "/var/lib/docker", help_heading = "Namespaces")]
    pub docker_root: PathBuf,
    /// The kubelet's pod log directory, for pod names (<DIR>/<namespace>_<pod>_<uid>)
    #[arg(long, value_name = "DIR", default_value = "/var/log/pods", help_heading = "Namespaces")]
    pub pods_root: PathBuf,
}

impl NetnsArgs {
    /// `-N` and `--all-netns` as a choice.
    pub fn choice(&self) -> Result<netns::Choice, UsageError> {
        netns::Choice::from_flags(self.net.as_deref(), self.all_netns)
            .map_err(|e| UsageError(format!("invalid value '{}' for --net: {e}", self.net.as_deref().unwrap_or(""))))
    }

    pub fn state_roots(&self) -> StateRoots {
        StateRoots { docker: self.docker_root.clone(), pods: self.pods_root.clone() }
    }

    /// True when every flag has its default.
    pub fn is_default(&self) -> bool {
        self.net.is_none()
            && !self.all_netns
            && self.docker_root.as_os_str() == "/var/lib/docker"
            && self.pods_root.as_os_str() == "/var/log/pods"
    }
}

/// A bad flag value: printed as one line, exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl SelectArgs {
    /// Protocols and families with ss's defaults: no -t/-u/-x means all three (UNIX only without -4/-6).
    pub(crate) fn query(&self, states: StateSet) -> Query {
        let any_proto = self.tcp || self.udp || self.unix;
        let family_given = self.ipv4 || self.ipv6;
        Query {
            tcp: self.tcp || !any_proto,
            udp: self.udp || !any_proto,
            unix: self.unix || (!any_proto && !family_given),
            ipv4: self.ipv4 || !self.ipv6,
            ipv6: self.ipv6 || !self.ipv4,
            states,
            bytecode: None,
            ..Query::default()
        }
    }

    /// The port flags as one expression: repeats of a flag are "any of", different flags "and".
    fn port_filter(&self, services: &Services) -> Result<Expr, UsageError> {
        let mut filter = Expr::True;
        for (flag, values, end) in [
            ("--port", &self.port, End::Either),
            ("--sport", &self.sport, End::Local),
            ("--dport", &self.dport, End::Peer),
        ] {
            let mut any = Vec::new();
            for v in values {
                let spec = range::parse(v, Some(services))
                    .map_err(|e| UsageError(format!("invalid value '{v}' for {flag}: {e}")))?;
                any.push(Expr::port(end, spec));
            }
            filter = filter.and(Expr::any_of(any));
        }
        Ok(filter)
    }

    /// The union of the --state values, or `None` when the flag was not given.
    fn states(&self) -> Result<Option<StateSet>, UsageError> {
        if self.state.is_empty() {
            return Ok(None);
        }
        let mut set = StateSet::EMPTY;
        for v in &self.state {
            for name in v.split(',').filter(|n| !n.trim().is_empty()) {
                let s = filter::parse_state(name)
                    .map_err(|e| UsageError(format!("invalid value '{v}' for --state: {e}")))?;
                set = set.union(s);
            }
        }
        if set.is_empty() {
            return Err(UsageError("--state needs at least one state name".into()));
        }
        Ok(Some(set))
    }

    /// The filter words, the --state flags and the port flags as one selection: the states (`None`: the
    /// caller's default) and the expression every socket must match. `state` words in the filter and
    /// --state flags add up, as repeated `state` words do in ss.
    pub(crate) fn selection(&self, services: &Services) -> Result<(Option<StateSet>, Expr), UsageError> {
        let text = filter::join_args(&self.filter);
        let parsed = filter::parse(&text, services, &filter::SystemLookup::new(&self.proc_root))
            .map_err(|e| UsageError(format!("bad filter: {}", e.render(&text))))?;
        let states = match (parsed.states, self.states()?) {
            (Some(a), Some(b)) => Some(a.union(b)),
            (a, b) => a.or(b),
        };
        Ok((states, parsed.expr.and(self.port_filter(services)?)))
    }

    pub(crate) fn source_choice(&self) -> SourceChoice {
        self.source.choice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::list::ListConfig;
    use crate::model::State;
    use crate::tui::TopConfig;
    use std::time::Duration;
    use top::parse_interval;

    fn parse(args: &[&str]) -> Result<ListConfig, String> {
        let cli =
            Cli::try_parse_from(std::iter::once("sockscope").chain(args.iter().copied())).map_err(|e| e.to_string())?;
        let list = match cli.command {
            Some(Command::List(l)) => l,
            Some(_) => return Err("not a listing".into()),
            None => cli.list,
        };
        list.resolve().map_err(|e| e.0)
    }

    fn top(args: &[&str]) -> Result<TopConfig, String> {
        let cli = Cli::try_parse_from(["sockscope", "top"].into_iter().chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        let Some(Command::Top(t)) = cli.command else { panic!("not top") };
        t.resolve().map_err(|e| e.0)
    }

    #[test]
    fn top_flags_preset_the_filter() {
        let c = top(&["-t", "--port", "443", "--state", "established,time-wait", "-i", "500ms"]).unwrap();
        assert_eq!(c.filter_text, "state established state time-wait port :443");
        let c2 = top(&["--sport", "80", "--sport", "8080", "dst", "10.0.0.0/8"]).unwrap();
        assert_eq!(c2.filter_text, "dst 10.0.0.0/8 ( sport :80 or sport :8080 )");
        assert_eq!(c.interval, Duration::from_millis(500));
        assert!(c.tcp && !c.udp && !c.unix);
        assert_eq!(c.selection.states, Some(StateSet::of(&[State::ESTABLISHED, State::TIME_WAIT])));
        assert!(top(&["-i", "0"]).unwrap_err().contains("'0' for --interval"));
        assert!(top(&["--port", "x-y-z"]).unwrap_err().contains("for --port"));
        assert_eq!(parse_interval("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_interval("2s").unwrap(), Duration::from_secs(2));
        assert!(parse_interval("fast").is_err());
    }

    /// Regression: hand-wrapped help paragraphs broke mid-sentence on a 100-column terminal ("the ss flags\nyou
    /// know"). Prose is left to clap to wrap: a line is only broken where the next word would not fit.
    #[test]
    fn help_prose_is_wrapped_by_clap_at_100_columns() {
        use clap::CommandFactory;
        let mut root = Cli::command().term_width(100);
        let mut helps = vec![root.render_long_help().to_string()];
        for sub in ["list", "top", "services", "audit", "forwards"] {
            let cmd = root.find_subcommand_mut(sub).unwrap();
            helps.push(cmd.clone().term_width(100).render_long_help().to_string());
        }
        for help in &helps {
            let lines: Vec<&str> = help.lines().collect();
            for pair in lines.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                assert!(a.chars().count() <= 100, "too wide: {a}");
                // Two lines of one paragraph at the left margin: the first word of the second would not fit.
                if !a.is_empty() && !a.starts_with(' ') && b.starts_with(|c: char| c.is_ascii_lowercase()) {
                    let word = b.split(' ').next().unwrap_or("");
                    assert!(a.chars().count() + 1 + word.chars().count() > 100, "hand-wrapped:\n{a}\n{b}");
                }
            }
        }
    }

    #[test]
    fn no_flags_means_dashboard_on_a_terminal() {
        let cli = Cli::try_parse_from(["sockscope"]).unwrap();
        assert!(cli.command.is_none() && cli.list.is_empty());
        let cli = Cli::try_parse_from(["sockscope", "-t"]).unwrap();
        assert!(!cli.list.is_empty());
    }

    #[test]
    fn ss_defaults() {
        let c = parse(&[]).unwrap();
        assert!(c.query.tcp && c.query.udp && c.query.unix && c.query.ipv4 && c.query.ipv6);
        assert_eq!(c.query.states, StateSet(select::SS_CONN), "ss's SS_CONN");
        assert!(c.table.netid && c.table.header && c.table.state);
        assert!(c.query.raw && c.query.mptcp && !c.query.packet, "every table, as ss; packet needs UNCONN");

        let c = parse(&["-tan"]).unwrap();
        assert!(c.query.tcp && !c.query.udp && !c.query.unix && !c.query.raw && !c.query.mptcp);
        assert_eq!(c.query.states, StateSet(select::SS_ALL));
        assert!(!c.table.netid && c.numeric);

        let c = parse(&["-4"]).unwrap();
        assert!(c.query.tcp && c.query.udp && !c.query.unix && c.query.ipv4 && !c.query.ipv6);

        let c = parse(&["list", "-lu6"]).unwrap();
        assert!(c.query.udp && !c.query.tcp && c.query.ipv6 && !c.query.ipv4);
        assert_eq!(c.query.states, StateSet::of(&[State::LISTEN, State::CLOSE]));

        let c = parse(&["-ta", "--state", "established,time-wait", "--state", "listen"]).unwrap();
        assert_eq!(c.query.states, StateSet::of(&[State::ESTABLISHED, State::TIME_WAIT, State::LISTEN]));
    }

    #[test]
    fn bad_values_name_the_value() {
        let e = parse(&["--port", "99999"]).unwrap_err();
        assert_eq!(e, "invalid value '99999' for --port: port 99999 is out of range (0-65535)");
        let e = parse(&["--state", "estab,bogus"]).unwrap_err();
        assert!(e.starts_with("invalid value 'estab,bogus' for --state: unknown state 'bogus'"), "{e}");
        let e = parse(&["--sport", "9-1"]).unwrap_err();
        assert!(e.contains("'9-1' for --sport"), "{e}");
        assert!(parse(&["--source", "magic"]).unwrap_err().contains("magic"));
        assert!(parse(&["--json", "--ndjson"]).is_err());
    }

    /// Regression: `--port http-alt` was split at its dash ("'alt' is neither a port number nor a known service
    /// name", exit 2) while the filter `port :http-alt` worked, and `--dport ::80` was taken for port 80. The
    /// flags and the filter now share one port parser.
    #[test]
    fn port_flags_take_what_the_filter_takes() {
        for v in ["http-alt", ":http-alt", "8000-8100", ":443", "ssh-https", "http-alt-9000", "*"] {
            let flag = parse(&["-tan", "--port", v]).unwrap_or_else(|e| panic!("--port {v}: {e}"));
            let text = format!("port :{}", v.trim_start_matches(':'));
            let filter = filter::parse(&text, &Services::system(), &filter::NoLookup).unwrap();
            assert_eq!(flag.filter, filter.expr, "--port {v} and `{text}` differ");
        }
        let e = parse(&["--dport", "::80"]).unwrap_err();
        assert!(e.starts_with("invalid value '::80' for --dport"), "{e}");
    }

    #[test]
    fn port_flags_build_one_expression() {
        let c = parse(&["--port", "22", "--port", "80", "--dport", "1000-2000"]).unwrap();
        let Expr::And(parts) = &c.filter else { panic!("{:?}", c.filter) };
        assert_eq!(parts.len(), 2);
        assert!(matches!(&parts[0], Expr::Or(v) if v.len() == 2));
    }
}
