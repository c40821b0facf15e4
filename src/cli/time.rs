//! Flags of the commands about time and intent: `watch` (and `list -E`), `kill` (and `list -K`), `record`,
//! `replay`, `diff`; resolved into checked configurations.

use std::path::PathBuf;

use clap::Args;

use super::{SelectArgs, UsageError};
use crate::collect::Query;
use crate::commands::history::DiffConfig;
use crate::commands::kill::KillConfig;
use crate::commands::record::RecordConfig;
use crate::commands::watch::WatchConfig;
use crate::model::StateSet;
use crate::ports::services::Services;

const WATCH_HELP: &str = "\
Events, one line each as they happen:
  open   a socket first seen (by a dump; `late` when it was seen only by its close)
  state  a TCP state change (seen by the next dump: SYN-SENT>ESTAB, ESTAB>CLOSE-WAIT, ...)
  close  the kernel freed the socket: lifetime, and its last tcp_info (bytes, retransmits, rtt)

Closes come from the kernel's sock_diag destroy groups (what `ss -E` reads), so every TCP and UDP socket
that closes is reported, also one that opened and closed between two dumps. Where they cannot be joined
(a kernel that wants CAP_NET_ADMIN for them, or --source proc) closes come from the dumps, a note on
stderr says so, and sockets that live between two dumps are missed. Opens and state changes always come from dumps every --interval.

The filter (ss's language) selects the events by the socket they are about; `state` words select by the
state the socket is in (for a close: its last state). Times are UTC.

--ndjson fields: time, time_ms, event, via (dump|destroy), late, preexisting, old_state, first_seen,
lifetime_ms, process {pid, comm, cmdline, uid}, socket {the object of `list --json`}.

Examples:
  sockscope watch dport :5432                  who connects to PostgreSQL, and for how long
  sockscope watch --ndjson sport :8080 | jq 'select(.event==\"close\") | .lifetime_ms'
  sockscope watch --for 60s -t state close-wait";

#[derive(Debug, Clone, Default, Args)]
#[command(after_help = WATCH_HELP)]
pub struct WatchArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Time between two dumps (opens, state changes): seconds or with a unit (500ms, 2s)
    #[arg(short = 'i', long, value_name = "TIME", default_value = "1s", help_heading = "Events")]
    pub interval: String,
    /// Also report the sockets already open at the start (as `open`, marked preexisting)
    #[arg(long, help_heading = "Events")]
    pub existing: bool,
    /// Stop after this long (10s, 5m); default: until interrupted
    #[arg(long = "for", value_name = "TIME", help_heading = "Events")]
    pub duration: Option<String>,
    /// Numeric ports (no service names)
    #[arg(short = 'n', long, help_heading = "Output")]
    pub numeric: bool,
    /// One JSON object per event (fields below)
    #[arg(long, help_heading = "Output")]
    pub ndjson: bool,
    /// Name the process of each new socket (a cached scan of /proc/*/fd; on a host with very many sockets the
    /// first scan can hold the stream for seconds, and sockets that live between two dumps are not named)
    #[arg(short = 'p', long, help_heading = "Output")]
    pub processes: bool,
}

/// The protocols to watch: TCP and UDP unless -t/-u/-x say otherwise (UNIX sockets only with -x: the
/// kernel reports no destroy events for them).
fn inet_query(sel: &SelectArgs) -> Query {
    let mut q = sel.query(StateSet::ALL);
    if !(sel.tcp || sel.udp || sel.unix) {
        q.unix = false;
    }
    q
}

impl WatchArgs {
    pub fn resolve(&self) -> Result<WatchConfig, UsageError> {
        self.resolve_as("watch")
    }

    /// As [`resolve`](Self::resolve), naming `command` (`watch`, `record`) when a filter term is refused.
    fn resolve_as(&self, command: &'static str) -> Result<WatchConfig, UsageError> {
        let services = Services::system();
        let (states, expr) = self.select.selection(&services)?;
        // Events are filtered as they come, many of them for sockets no process scan has seen (a close
        // carries no inode): `process`, `pid` and the workload terms cannot be decided for them.
        let root = &self.select.proc_root;
        let mut namer = crate::collect::cgroup::Namer::new(root, self.select.netns.state_roots());
        let netns = self.select.netns.choice()?;
        if netns.is_all() {
            return Err(UsageError(format!(
                "{command} follows one network namespace: name it with -N NAME|PID|PATH (--all-netns is for list, \
                 top, serve and kill)"
            )));
        }
        // `netns` terms bind against the namespace watched (its sockets are that table's first entry).
        let mut watched =
            crate::collect::open(self.select.source_choice(), &netns, root, self.select.netns.state_roots());
        let table = watched.namespaces().map_err(|e| UsageError(e.to_string()))?.clone();
        let workloads = crate::collect::workloads::Workloads::for_filter(&table, None, false, root, &mut namer);
        let mut have = crate::filter::Have::new(command).workloads(&workloads);
        have.no_holders = "its events are filtered as they happen, many for sockets whose holder no scan has seen \
                           (select by port or address, or use `list -p` / the dashboard)";
        let filter = crate::filter::bind(&expr, &have).map_err(|e| UsageError(e.to_string()))?;
        let interval = super::top::parse_interval(&self.interval)
            .map_err(|e| UsageError(format!("invalid value '{}' for --interval: {e}", self.interval)))?;
        let duration = match &self.duration {
            Some(d) => {
                Some(crate::clock::parse_duration(d).map_err(|e| UsageError(format!("invalid value for --for: {e}")))?)
            }
            None => None,
        };
        let mut query = inet_query(&self.select);
        query.bytecode = crate::filter::bytecode::compile(&expr);
        Ok(WatchConfig {
            query,
            filter,
            states,
            interval,
            existing: self.existing,
            duration,
            ndjson: self.ndjson,
            numeric: self.numeric,
            processes: self.processes,
            closes_only: false,
            source: self.select.source_choice(),
            proc_root: self.select.proc_root.clone(),
            netns,
            services,
        })
    }
}

const KILL_HELP: &str = "\
Closes the sockets the filter selects with the kernel's SOCK_DESTROY (what `ss -K` does): a TCP
socket sends a reset to its peer and its process gets ECONNABORTED; a UDP socket's process gets
ECONNABORTED on its next call. The process itself keeps running.

Like `list`, only connected sockets are selected unless the filter or --state says otherwise
(`state listening` to close listeners). On a terminal the sockets are listed and you are asked;
elsewhere --yes is required. A filter that selects every socket of the tables asked for (none, or one
every socket matches) is refused without --all. Each socket's outcome is reported on its own line:
  closed   the kernel closed it
  gone     it had closed before its turn came
  aborted  a UDP socket bound to its port: its process got ECONNABORTED, and the socket stays bound
           until the process closes it
  failed   still open, and why

With -N or --all-netns each socket is closed in its own network namespace (entering another one needs
CAP_SYS_ADMIN). Every member of a SO_REUSEPORT group is reached; the kernel checks each socket's cookie,
so a socket that took the same addresses since the listing is never hit. Sockets read from /proc carry
no cookie: kill refuses them (--source proc, or the /proc fallback).

Needs CAP_NET_ADMIN in the socket's network namespace and a kernel with CONFIG_INET_DIAG_DESTROY.

Exit status: 0 when every selected socket was closed (or was already gone), 1 when some could not be
closed or stay bound, or the user said no, 2 for a usage error or a refused filter.

Examples:
  sockscope kill dst 10.1.2.3 and dport :5432        one stuck client connection
  sockscope kill --yes state close-wait sport :8080   every CLOSE-WAIT left on 8080
  sockscope kill -N blue --yes dport :6379            the Redis clients in namespace blue";

#[derive(Debug, Clone, Default, Args)]
#[command(after_help = KILL_HELP)]
pub struct KillArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Do not ask (for scripts); required when stdin is not a terminal
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Allow a filter that selects every socket
    #[arg(long)]
    pub all: bool,
    /// List what would be closed and stop
    #[arg(long)]
    pub dry_run: bool,
    /// Numeric ports (no service names)
    #[arg(short = 'n', long)]
    pub numeric: bool,
}

impl KillArgs {
    pub fn resolve(&self) -> Result<KillConfig, UsageError> {
        let services = Services::system();
        let (states, filter) = self.select.selection(&services)?;
        let mut query = self.select.query(states.unwrap_or(StateSet::CONNECTED_DEFAULT));
        query.unix = false;
        query.tcp = self.select.tcp || !self.select.udp;
        query.udp = self.select.udp || !self.select.tcp;
        if self.select.unix && !(self.select.tcp || self.select.udp) {
            return Err(UsageError("UNIX sockets cannot be closed from outside (only TCP and UDP)".into()));
        }
        query.bytecode = crate::filter::bytecode::compile(&filter);
        if self.select.source == super::SourceArg::Proc {
            return Err(UsageError(
                "kill needs the netlink source: /proc rows carry no socket cookie, so a socket that replaced one \
                 since the listing could be closed instead"
                    .into(),
            ));
        }
        Ok(KillConfig {
            query,
            filter,
            yes: self.yes,
            all: self.all,
            dry_run: self.dry_run,
            numeric: self.numeric,
            source: self.select.source_choice(),
            proc_root: self.select.proc_root.clone(),
            netns: self.select.netns.choice()?,
            state_roots: self.select.netns.state_roots(),
            services,
        })
    }
}

impl super::ListArgs {
    /// `list -E`: the closes of `watch`, as `ss -E` prints them.
    pub fn as_watch(&self) -> Result<WatchConfig, UsageError> {
        let w = WatchArgs {
            select: self.selection_args()?,
            numeric: self.numeric,
            ndjson: self.ndjson || self.json,
            ..WatchArgs::default()
        };
        let mut cfg = WatchArgs { interval: "1s".into(), ..w }.resolve()?;
        cfg.closes_only = true;
        cfg.processes = self.processes;
        Ok(cfg)
    }

    /// `list -K`: `kill --yes`, but never with an empty filter.
    pub fn as_kill(&self) -> Result<KillConfig, UsageError> {
        let k = KillArgs { select: self.selection_args()?, yes: true, numeric: self.numeric, ..KillArgs::default() };
        let mut cfg = k.resolve()?;
        if self.all && self.select.state.is_empty() {
            cfg.query.states = StateSet::ALL;
        } else if self.listening && self.select.state.is_empty() {
            cfg.query.states = StateSet::of(&[crate::model::State::LISTEN, crate::model::State::CLOSE]);
        }
        if cfg.filter.is_true() {
            return Err(UsageError(
                "-K needs a filter that selects the sockets to close; `sockscope kill --all` closes every one".into(),
            ));
        }
        Ok(cfg)
    }
}

const RECORD_HELP: &str = "\
Records into an SQLite database (schema in the README), one sample per --interval: the dashboard's
groups (each listening endpoint with the sockets on its port, each outbound destination, each UNIX
path: counts by state, accept queue, distinct peers, owner process), and every socket event of
`sockscope watch` between two samples (tuple, cookie, process, lifetime, bytes), at most --max-events
per interval (more are counted, not stored). Each sample is one transaction; the file is bounded by
--keep and --max-size, oldest first. Ctrl-C writes the last sample and stops.

The defaults keep the cost low on a busy host: a full dump of 200k sockets costs the kernel about 0.2 s,
so every 10 s is about 2% of a core, and 500 events per interval (about 110 bytes each) bound the growth
from connection churn to about 20 MB an hour; the counts of opens and closes per sample stay exact.

Read it back with `sockscope list --from FILE --at TIME`, `sockscope diff FILE --from T1 --to T2`,
or sqlite3.";

#[derive(Debug, Clone, Args)]
#[command(after_help = RECORD_HELP)]
pub struct RecordArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// The database to write (created, or appended to)
    #[arg(short = 'o', long, value_name = "FILE", default_value = "sockscope.db")]
    pub out: PathBuf,
    /// Time between two samples (10s, 1m)
    #[arg(short = 'i', long, value_name = "TIME", default_value = "10s")]
    pub interval: String,
    /// Drop samples and events older than this (24h, 7d)
    #[arg(long, value_name = "TIME", default_value = "24h")]
    pub keep: String,
    /// Drop the oldest samples while the database is larger than this (1GiB, 500MB)
    #[arg(long, value_name = "SIZE", default_value = "1GiB")]
    pub max_size: String,
    /// Events stored per interval (the rest are counted in samples.events_dropped; samples.opened and
    /// samples.closed count them all)
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub max_events: usize,
    /// Stop after this long (default: until interrupted)
    #[arg(long = "for", value_name = "TIME")]
    pub duration: Option<String>,
    /// Do not record the processes holding each group's sockets (a /proc scan on a thread of its own)
    #[arg(long)]
    pub no_processes: bool,
}

/// `1GiB`, `500MB`, `100M`, `4096`: bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().map_err(|_| format!("expected a size like 1GiB or 500MB, got '{text}'"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        u => return Err(format!("unknown unit '{u}' in '{text}' (use KB, MB, GB, KiB, MiB, GiB)")),
    };
    let bytes = v * scale;
    if !(65536.0..=1e15).contains(&bytes) {
        return Err(format!("'{text}' must be between 64KiB and 1PB"));
    }
    Ok(bytes as u64)
}

impl RecordArgs {
    pub fn resolve(&self) -> Result<RecordConfig, UsageError> {
        let watch = WatchArgs {
            select: self.select.clone(),
            interval: self.interval.clone(),
            duration: self.duration.clone(),
            processes: !self.no_processes,
            ..WatchArgs::default()
        };
        let mut watch = watch.resolve_as("record")?;
        // Recordings hold UNIX groups too unless -t/-u say otherwise.
        watch.query.unix = self.select.unix || !(self.select.tcp || self.select.udp);
        let keep = crate::clock::parse_duration(&self.keep)
            .map_err(|e| UsageError(format!("invalid value for --keep: {e}")))?;
        let max_size =
            parse_size(&self.max_size).map_err(|e| UsageError(format!("invalid value for --max-size: {e}")))?;
        if self.max_events == 0 {
            return Err(UsageError("--max-events must be at least 1".into()));
        }
        Ok(RecordConfig {
            watch,
            out: self.out.clone(),
            limits: crate::record::writer::Limits {
                keep: Some(keep),
                max_size: Some(max_size),
                max_events: self.max_events,
            },
        })
    }
}

const DIFF_HELP: &str = "\
Two moments of a recording:   sockscope diff FILE.db [--from T1] [--to T2]
Two JSON snapshots:           sockscope diff before.json after.json   (from `sockscope list --json`)

For a recording: the groups that appeared (+), went away (-) and changed (~, with the counts by state
before and after), and the socket events between the two moments (opened, closed, state changes).
--from defaults to the first sample, --to to the last. For snapshots: the sockets opened (+), closed (-)
and changed state (~), matched by cookie (or by protocol and ends when there is none).

Times: 2026-11-30T20:31:02Z, 20:31 (today, UTC), -5m (ago), @UNIXSECONDS.
Exit status as diff(1): 0 no difference, 1 differences, 2 trouble.";

#[derive(Debug, Clone, Args)]
#[command(after_help = DIFF_HELP)]
pub struct DiffArgs {
    /// A recording, or two `--json` snapshots
    #[arg(value_name = "FILE", num_args = 1..=2, required = true)]
    pub files: Vec<PathBuf>,
    /// The earlier moment of a recording
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub from: Option<String>,
    /// The later moment of a recording
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub to: Option<String>,
    /// One JSON object instead of lines
    #[arg(long)]
    pub json: bool,
}

const REPLAY_HELP: &str = "\
Opens a recording (`sockscope record`) on a timeline: the groups of the sample under the cursor, the
trend of the selected group over the whole recording, and its events up to the cursor.

Keys: left/right step one sample, PgUp/PgDn ten, Home/End the first/last, up/down select a group,
: jump to a time (2026-11-30T20:31:00Z, 20:31, -5m, @UNIXSECONDS), q quit.";

#[derive(Debug, Clone, Args)]
#[command(after_help = REPLAY_HELP)]
pub struct ReplayArgs {
    /// The recording to open
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

impl DiffArgs {
    pub fn resolve(&self) -> DiffConfig {
        DiffConfig { files: self.files.clone(), from: self.from.clone(), to: self.to.clone(), json: self.json }
    }
}
