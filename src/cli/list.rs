//! `sockscope list` (and bare `sockscope` with flags): the listing's flags and their check into a
//! [`ListConfig`] with ss's defaults worked out (ss's selection flags replayed in command-line order).

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Args;

use super::{SelectArgs, SourceArg, TopArgs, UsageError, select};
use crate::commands::list::{Format, ListConfig};
use crate::model::State;
use crate::output::table::TableOptions;
use crate::ports::services::Services;

#[derive(Debug, Clone, Default, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Sockets in every state (default: connected ones only)
    #[arg(short = 'a', long, help_heading = "Selection")]
    pub all: bool,
    /// Listening sockets only (TCP LISTEN, unconnected UDP/UNIX)
    #[arg(short = 'l', long, help_heading = "Selection")]
    pub listening: bool,

    /// Numeric ports (no service names)
    #[arg(short = 'n', long, help_heading = "Output")]
    pub numeric: bool,
    /// Resolve addresses to host names (reverse DNS; slow on large listings)
    #[arg(short = 'r', long, help_heading = "Output")]
    pub resolve: bool,
    /// No header line
    #[arg(short = 'H', long = "no-header", help_heading = "Output")]
    pub no_header: bool,
    /// Extended details: uid, inode, socket cookie (sk), v6only
    #[arg(short = 'e', long, help_heading = "Output")]
    pub extended: bool,
    /// Processes holding each socket: users:(("comm",pid=N,fd=N),...), as ss prints them.
    /// Without root, other users' processes cannot be inspected (that needs CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH): their sockets
    /// show users:(hidden,uid=N(name)), and a note on stderr says how many processes were hidden
    #[arg(short = 'p', long, help_heading = "Output")]
    pub processes: bool,
    /// Timers: timer:(on|keepalive|timewait|persist, time left, retransmits)
    #[arg(short = 'o', long, help_heading = "Output")]
    pub options: bool,
    /// TCP internals from tcp_info on a second line: rtt, rto, cwnd, ssthresh, mss, retransmits, bytes,
    /// rates, windows, congestion control (costs about 40% more kernel time)
    #[arg(short = 'i', long, help_heading = "Output")]
    pub info: bool,
    /// Socket memory on a second line: skmem:(r rmem_alloc, rb rcvbuf, t wmem_alloc, tb sndbuf, f fwd_alloc,
    /// w wmem_queued, o optmem, bl backlog, d drops)
    #[arg(short = 'm', long, help_heading = "Output")]
    pub memory: bool,
    /// One JSON array of socket objects (field names in the README)
    #[arg(long, conflicts_with = "ndjson", help_heading = "Output")]
    pub json: bool,
    /// One JSON object per line
    #[arg(long, help_heading = "Output")]
    pub ndjson: bool,

    /// RAW sockets (read from /proc/net/raw{,6} when the kernel has no raw_diag)
    #[arg(short = 'w', long, help_heading = "Socket types")]
    pub raw: bool,
    /// MPTCP sockets
    #[arg(short = 'M', long, help_heading = "Socket types")]
    pub mptcp: bool,
    /// PACKET sockets (same as -f link)
    #[arg(short = '0', long, help_heading = "Socket types")]
    pub packet: bool,
    /// SCTP sockets (nothing is listed when the kernel has no sctp_diag; a note says so)
    #[arg(short = 'S', long, help_heading = "Socket types")]
    pub sctp: bool,
    /// DCCP sockets (as SCTP: listed only where the kernel has dccp_diag)
    #[arg(short = 'd', long, help_heading = "Socket types")]
    pub dccp: bool,
    /// vsock sockets
    #[arg(long, help_heading = "Socket types")]
    pub vsock: bool,
    /// TIPC sockets
    #[arg(long, help_heading = "Socket types")]
    pub tipc: bool,
    /// XDP sockets
    #[arg(long, help_heading = "Socket types")]
    pub xdp: bool,
    /// Sockets of FAMILY: inet inet6 link unix netlink vsock tipc xdp (repeatable)
    #[arg(short = 'f', long, value_name = "FAMILY", help_heading = "Socket types")]
    pub family: Vec<String>,
    /// Socket tables, comma-separated: all inet tcp mptcp udp raw unix unix_dgram unix_stream unix_seqpacket
    /// packet packet_raw packet_dgram netlink dccp sctp vsock_stream vsock_dgram tipc xdp (`!NAME` removes one)
    #[arg(short = 'A', long = "query", visible_alias = "socket", value_name = "QUERY", help_heading = "Socket types")]
    pub query: Vec<String>,
    /// TCP sockets bound to a port but neither listening nor connected (Linux 6.5+)
    #[arg(short = 'B', long, help_heading = "Selection")]
    pub bound_inactive: bool,

    /// Socket summary from the kernel's counters (/proc/net/sockstat); with --json, one object; with -N that
    /// namespace's counters, with --all-netns the sum over every namespace
    #[arg(short = 's', long, help_heading = "Output")]
    pub summary: bool,
    /// Each socket on one line (the -i/-m/-e second lines joined)
    #[arg(short = 'O', long, help_heading = "Output")]
    pub oneline: bool,
    /// Threads holding each socket: users:(("comm",pid=N,tid=N,fd=N),...)
    #[arg(short = 'T', long, help_heading = "Output")]
    pub threads: bool,
    /// TOS / traffic class / class id of inet sockets
    #[arg(long, help_heading = "Output")]
    pub tos: bool,
    /// The cgroup (v2) path of inet sockets
    #[arg(long, help_heading = "Output")]
    pub cgroup: bool,
    /// inet socket options: recverr, freebind, transparent, ...
    #[arg(long, help_heading = "Output")]
    pub inet_sockopt: bool,
    /// Classic BPF filters attached to packet sockets
    #[arg(short = 'b', long, help_heading = "Output")]
    pub bpf: bool,
    /// TIPC internals (TIPC sockets only)
    #[arg(long, help_heading = "Output")]
    pub tipcinfo: bool,
    /// Process SELinux contexts (as ss: an error when SELinux is not enabled)
    #[arg(short = 'Z', long, help_heading = "Output")]
    pub context: bool,
    /// Process and socket SELinux contexts (as -Z)
    #[arg(short = 'z', long, help_heading = "Output")]
    pub contexts: bool,

    /// Read the filter from FILE (`-` for stdin) instead of the command line
    #[arg(short = 'F', long = "filter", value_name = "FILE", help_heading = "Files")]
    pub filter_file: Option<PathBuf>,
    /// Write the raw netlink dump of the TCP sockets to FILE (`-` for stdout) and exit, as ss -D does
    #[arg(short = 'D', long = "diag", value_name = "FILE", help_heading = "Files")]
    pub diag: Option<PathBuf>,
    /// List sockets from a dump written by -D (or ss -D) instead of the kernel: replayable bug reports
    #[arg(long, value_name = "FILE", help_heading = "Files")]
    pub from_dump: Option<PathBuf>,

    /// Print sockets as they close, as `ss -E` does (`sockscope watch` also shows opens and state changes)
    #[arg(short = 'E', long = "events", help_heading = "Time")]
    pub events: bool,
    /// Close the selected sockets without asking, as `ss -K` does (needs CAP_NET_ADMIN; an empty filter is
    /// refused; `sockscope kill` lists and asks first)
    #[arg(short = 'K', long = "kill", conflicts_with = "events", help_heading = "Time")]
    pub kill: bool,
    /// List the groups of a recording (`sockscope record`) as they were at --at, and the sockets its events
    /// knew open then
    #[arg(long, value_name = "FILE", requires = "at", conflicts_with_all = ["events", "kill"], help_heading = "Time")]
    pub from: Option<std::path::PathBuf>,
    /// The moment for --from: 2026-11-30T20:31:02Z, 20:31 (today, UTC), -5m (ago), @UNIXSECONDS
    #[arg(long, value_name = "TIME", requires = "from", allow_hyphen_values = true, help_heading = "Time")]
    pub at: Option<String>,

    /// Command-line positions of the selection flags (filled from clap's matches; ss's flags act in order).
    #[arg(skip)]
    pub positions: HashMap<String, Vec<usize>>,
}

impl ListArgs {
    /// The selection flags in command-line order (ss applies them in order: `-al` is not `-la`).
    fn events(&self) -> Result<Vec<select::Event>, UsageError> {
        use select::{Af, Db, Event};
        let mut ev: Vec<(usize, Event)> = Vec::new();
        let pos = |id: &str, i: usize, fallback: usize| -> usize {
            self.positions.get(id).and_then(|v| v.get(i).or(v.last())).copied().unwrap_or(fallback)
        };
        for (i, q) in self.query.iter().enumerate() {
            ev.push((pos("query", i, i), Event::Query(q.clone())));
        }
        let s = &self.select;
        for (id, on, e) in [
            ("tcp", s.tcp, Event::Db(Db::Tcp)),
            ("udp", s.udp, Event::Db(Db::Udp)),
            ("raw", self.raw, Event::Db(Db::Raw)),
            ("mptcp", self.mptcp, Event::Db(Db::Mptcp)),
            ("sctp", self.sctp, Event::Db(Db::Sctp)),
            ("dccp", self.dccp, Event::Db(Db::Dccp)),
            ("unix", s.unix, Event::Af(Af::Unix)),
            ("ipv4", s.ipv4, Event::Af(Af::Inet)),
            ("ipv6", s.ipv6, Event::Af(Af::Inet6)),
            ("packet", self.packet, Event::Af(Af::Packet)),
            ("vsock", self.vsock, Event::Af(Af::Vsock)),
            ("tipc", self.tipc, Event::Af(Af::Tipc)),
            ("xdp", self.xdp, Event::Af(Af::Xdp)),
            ("all", self.all, Event::All),
            ("listening", self.listening, Event::Listening),
        ] {
            if on {
                ev.push((pos(id, 0, 100 + ev.len()), e));
            }
        }
        for (i, f) in self.family.iter().enumerate() {
            let af = Af::parse(f).ok_or_else(|| {
                UsageError(format!("\"{f}\" is invalid family (known: inet inet6 link unix netlink vsock tipc xdp)"))
            })?;
            ev.push((pos("family", i, 100 + ev.len()), Event::Af(af)));
        }
        ev.sort_by_key(|(p, _)| *p);
        Ok(ev.into_iter().map(|(_, e)| e).collect())
    }

    /// The selection flags with the filter words ss would read: the command line's words, then those of the
    /// -F file, one stream of tokens (as ss's lexer reads them, so juxtaposition joins the two with `and`);
    /// with -x / -f unix last, `src X` names a UNIX socket. The listing, `-K` and `-E` all select with it, so
    /// `-K` never closes more than the same words list.
    pub(crate) fn selection_args(&self) -> Result<super::SelectArgs, UsageError> {
        let mut select = self.select.clone();
        if let Some(text) = self.filter_text()? {
            select.filter.extend(text.split_whitespace().map(str::to_string));
        }
        if select::preferred_unix(&self.events()?) {
            select.filter = unix_hosts(&select.filter);
        }
        Ok(select)
    }

    /// The text of the -F file (`-` for stdin): lines that start with `#` or `0` are skipped, as ss skips
    /// them, and `#` also starts a comment within a line.
    fn filter_text(&self) -> Result<Option<String>, UsageError> {
        let Some(path) = &self.filter_file else { return Ok(None) };
        const LIMIT: u64 = 1 << 20;
        let mut text = String::new();
        let read = if path.as_os_str() == "-" {
            std::io::Read::read_to_string(&mut std::io::Read::take(std::io::stdin(), LIMIT), &mut text)
        } else {
            std::fs::File::open(path)
                .and_then(|f| std::io::Read::read_to_string(&mut std::io::Read::take(f, LIMIT), &mut text))
        };
        read.map_err(|e| UsageError(format!("cannot read filter file {}: {e}", path.display())))?;
        let body: Vec<&str> = text
            .lines()
            .filter(|l| !(l.starts_with('#') || l.starts_with('0')))
            .map(|l| l.split('#').next().unwrap_or(""))
            .collect();
        Ok(Some(body.join(" ")))
    }

    /// Check the values and work out ss's defaults.
    pub fn resolve(&self) -> Result<ListConfig, UsageError> {
        if self.context || self.contexts {
            return Err(UsageError(if std::path::Path::new("/sys/fs/selinux/enforce").exists() {
                "SELinux contexts (-Z/-z) are not supported by sockscope".into()
            } else {
                "SELinux is not enabled.".into()
            }));
        }
        let services = Services::system();
        let events = self.events()?;
        let (states, filter) = self.selection_args()?.selection(&services)?;
        let extra = if self.bound_inactive { State::BOUND_INACTIVE.bit() } else { 0 };
        let sel = select::Selection::replay(&events, states, extra).map_err(UsageError)?;
        let mut query = sel.query();
        query.bytecode = crate::filter::bytecode::compile(&filter);
        query.info = self.info;
        query.memory = self.memory;
        query.details =
            self.extended || self.tos || self.cgroup || self.inet_sockopt || self.bpf || filter.needs().cgroup_ids;
        let named = |names: &[&str]| {
            self.query.iter().flat_map(|q| q.split(',')).any(|n| names.iter().any(|m| n.starts_with(m)))
                || self.family.iter().any(|f| names.contains(&f.as_str()))
        };
        query.note_missing = self.sctp
            || self.dccp
            || self.vsock
            || self.tipc
            || self.xdp
            || named(&["sctp", "dccp", "vsock", "v_", "tipc", "xdp"]);
        let any_table = self.select.tcp
            || self.select.udp
            || self.select.unix
            || self.select.ipv4
            || self.select.ipv6
            || self.raw
            || self.mptcp
            || self.packet
            || self.sctp
            || self.dccp
            || self.vsock
            || self.tipc
            || self.xdp
            || !self.family.is_empty()
            || !self.query.is_empty();
        let filter_given = !self.select.filter.is_empty() || self.filter_file.is_some();
        if self.diag.is_some() && !query.tcp {
            return Err(UsageError("tcpdiag dump requested and no tcp in filter.".into()));
        }
        Ok(ListConfig {
            format: if self.json {
                Format::Json
            } else if self.ndjson {
                Format::Ndjson
            } else {
                Format::Table
            },
            table: TableOptions {
                header: !self.no_header,
                netid: sel.netid_column(),
                state: sel.state_column(),
                extended: self.extended,
                // ss's -e and -b imply -o.
                timers: self.options || self.extended || self.bpf,
                info: self.info,
                memory: self.memory,
                oneline: self.oneline,
                tos: self.tos,
                cgroup: self.cgroup,
                inet_sockopt: self.inet_sockopt,
                bpf: self.bpf,
                numeric: self.numeric,
                screen_width: None,
            },
            summary: self.summary,
            summary_only: self.summary && !any_table && !filter_given,
            diag: self.diag.clone(),
            from_dump: self.from_dump.clone(),
            threads: self.threads,
            cgroups: self.extended || self.cgroup,
            numeric: self.numeric,
            resolve: self.resolve,
            processes: self.processes || self.threads,
            source: self.select.source_choice(),
            proc_root: self.select.proc_root.clone(),
            query,
            filter,
            services,
            netns: self.select.netns.choice()?,
            state_roots: self.select.netns.state_roots(),
        })
    }

    /// True when no flag at all was given (then a terminal gets the dashboard).
    pub fn is_empty(&self) -> bool {
        let s = &self.select;
        !(s.tcp || s.udp || s.unix || s.ipv4 || s.ipv6 || self.all || self.listening || self.numeric)
            && !(self.resolve || self.no_header || self.extended || self.json || self.ndjson)
            && !(self.options || self.info || self.memory || self.processes || self.events || self.kill)
            && !(self.raw || self.mptcp || self.packet || self.sctp || self.dccp || self.vsock || self.tipc)
            && !(self.xdp || self.summary || self.oneline || self.threads || self.tos || self.cgroup)
            && !(self.inet_sockopt || self.bpf || self.bound_inactive || self.context || self.contexts || self.tipcinfo)
            && self.family.is_empty()
            && self.query.is_empty()
            && self.filter_file.is_none()
            && self.diag.is_none()
            && self.from_dump.is_none()
            && self.from.is_none()
            && s.state.is_empty()
            && s.port.is_empty()
            && s.sport.is_empty()
            && s.dport.is_empty()
            && s.source == SourceArg::Auto
            && s.proc_root.as_os_str() == "/proc"
            && s.filter.is_empty()
            && s.netns.is_default()
    }

    /// The dashboard with the selection these flags make (for `sockscope` on a terminal).
    pub fn as_top(&self) -> TopArgs {
        TopArgs { select: self.select.clone(), interval: "1".into() }
    }
}

/// The filter words with `unix:` put before the host of each `src`/`dst` that has no family prefix.
fn unix_hosts(words: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut want_host = false;
    for w in words {
        let lower = w.to_ascii_lowercase();
        if want_host && !matches!(lower.as_str(), "=" | "==" | "!=" | "eq" | "ne" | "neq") {
            let prefixed =
                ["unix:", "inet:", "inet6:", "link:", "netlink:", "vsock:"].iter().any(|p| lower.starts_with(p));
            out.push(if prefixed { w.clone() } else { format!("unix:{w}") });
            want_host = false;
            continue;
        }
        want_host = want_host || lower == "src" || lower == "dst";
        out.push(w.clone());
    }
    out
}
