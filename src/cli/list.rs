//! `sockscope list` (and bare `sockscope` with flags): the listing's flags and their check into a
//! [`ListConfig`] with ss's defaults worked out.

use clap::Args;

use super::{SelectArgs, SourceArg, TopArgs, UsageError};
use crate::commands::list::{Format, ListConfig};
use crate::model::{State, StateSet};
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
    /// Processes holding each socket: users:(("comm",pid=N,fd=N),...); for UNIX sockets also the peer's.
    /// Without root, other users' processes cannot be inspected (that needs CAP_SYS_PTRACE): their sockets
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
}

impl ListArgs {
    /// Check the values and work out ss's defaults.
    pub fn resolve(&self) -> Result<ListConfig, UsageError> {
        let services = Services::system();
        let (states, filter) = self.select.selection(&services)?;
        let states = match states {
            Some(s) => s,
            None if self.all => StateSet::ALL,
            None if self.listening => StateSet::of(&[State::LISTEN, State::CLOSE]),
            None => StateSet::CONNECTED_DEFAULT,
        };
        let mut query = self.select.query(states);
        query.bytecode = crate::filter::bytecode::compile(&filter);
        query.info = self.info;
        query.memory = self.memory;
        let protos = [query.tcp, query.udp, query.unix].iter().filter(|b| **b).count();
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
                netid: protos > 1,
                extended: self.extended,
                timers: self.options,
                info: self.info,
                memory: self.memory,
            },
            numeric: self.numeric,
            resolve: self.resolve,
            processes: self.processes,
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
