//! `sockscope doctor` flags and their check into a [`DoctorConfig`].

use std::time::Duration;

use super::{SelectArgs, UsageError};
use crate::commands::doctor::{DoctorConfig, DoctorOutput};
use crate::doctor::{Kind, Thresholds};
use crate::model::StateSet;
use crate::ports::services::Services;

pub(crate) const HELP: &str = "\
Observes the sockets for a window (a sample at its start and one at its end, so that the kernel's \
counters are read as rates, not as totals since boot), diagnoses each network namespace against its \
own counters and sysctls, and names what is wrong: the port, the address, the process and the \
container, with the evidence (the offending sockets and the counters with their deltas), the threshold \
crossed and a next step. Findings come worst first, then one line per check that passed or could not \
run (a check never passes silently).

Checks:
  accept-queue-overflow  a listener's accept queue full, its drop counter or ListenOverflows rising
  syn-queue-overflow     half-open connections piling up: a slow application or a flood
  backlog-clamped        a backlog cut to somaxconn, or too small for its load
  close-wait-leak        CLOSE-WAIT sockets piling up on a process (it never closes them)
  connect-stall          connects stuck in SYN-SENT towards one destination
  zero-window-stall      a peer advertising a zero window, or a local reader that does not read
  send-queue-buildup     a send queue growing, and what limits it
  retransmit-hotspot     retransmissions concentrated on one peer
  ephemeral-exhaustion   local ports per destination against the usable range
  time-wait-overflow     the TIME-WAIT table full (TCPTimeWaitOverflow, tcp_max_tw_buckets)
  orphan-pressure        orphaned sockets against tcp_max_orphans
  tcp-memory-pressure    TCP memory against tcp_mem
  udp-receive-drops      UDP receive buffer drops, traced to the socket
  conntrack-full         the connection tracking table against nf_conntrack_max
  fin-wait-2-held        FIN-WAIT-2 sockets a process holds (its peer never closes)

Thresholds have defaults (--set NAME=VALUE changes one; a wrong name lists them all), e.g.
  sockscope doctor --set close-wait-leak.min=50 --set connect-stall.min=20

Examples:
  sockscope doctor                       diagnose this namespace over 5 s
  sockscope doctor --window 30s sport = :443
  sockscope doctor --all-netns --json    every namespace (each against its own sysctls)

Without root, processes other users own are not named and other namespaces cannot be entered: the \
report says what it could not see.

Exit status: 0 when nothing is found, 1 when something is (or the sockets could not be read: stderr \
says so), 2 for a usage error.";

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = HELP)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// How long to observe: the time between the two samples (500ms, 5s, 1m)
    #[arg(short = 'w', long, value_name = "TIME", default_value = "5s", help_heading = "Diagnosis")]
    pub window: String,
    /// Change a threshold: CHECK.NAME=VALUE (repeatable; a wrong name lists every one)
    #[arg(long = "set", value_name = "CHECK.NAME=VALUE", help_heading = "Diagnosis")]
    pub set: Vec<String>,
    /// Do not look up processes (faster on hosts with very many; findings name no process)
    #[arg(long, help_heading = "Diagnosis")]
    pub no_processes: bool,
    /// One JSON object: the window, the thresholds, every finding with its evidence, every check
    #[arg(long, help_heading = "Output", conflicts_with = "ndjson")]
    pub json: bool,
    /// One JSON object per finding, then one per check
    #[arg(long, help_heading = "Output")]
    pub ndjson: bool,
}

/// The longest window: a diagnosis that takes longer is a recording's job.
const MAX_WINDOW: Duration = Duration::from_secs(3600);

impl DoctorArgs {
    pub fn resolve(&self) -> Result<DoctorConfig, UsageError> {
        let window = crate::clock::parse_duration(&self.window)
            .map_err(|e| UsageError(format!("invalid value '{}' for --window: {e}", self.window)))?;
        if window.is_zero() || window > MAX_WINDOW {
            return Err(UsageError(format!(
                "invalid value '{}' for --window: between 1ms and 1h (two samples make a window)",
                self.window
            )));
        }
        let mut thresholds = Thresholds::default();
        for s in &self.set {
            thresholds.set(s).map_err(|e| UsageError(format!("invalid value for --set: {e}")))?;
        }
        let services = Services::system();
        let (states, filter) = self.select.selection(&services)?;
        if self.select.unix && !(self.select.tcp || self.select.udp) {
            return Err(UsageError("doctor diagnoses TCP and UDP sockets (-x selects none of them)".into()));
        }
        let mut query = self.select.query(states.unwrap_or(StateSet::ALL));
        // UNIX sockets have no check; the rules read tcp_info and memory.
        query.unix = false;
        query.info = true;
        query.memory = true;
        query.details = filter.needs().cgroup_ids;
        query.bytecode = crate::filter::bytecode::compile(&filter);
        let output = match (self.json, self.ndjson) {
            (true, _) => DoctorOutput::Json,
            (_, true) => DoctorOutput::Ndjson,
            _ => DoctorOutput::Text,
        };
        Ok(DoctorConfig {
            window,
            output,
            thresholds,
            source: self.select.source.choice(),
            proc_root: self.select.proc_root.clone(),
            netns: self.select.netns.choice()?,
            state_roots: self.select.netns.state_roots(),
            query,
            filter,
            processes: !self.no_processes,
        })
    }
}

/// Every check's name, for completions and tests.
pub fn check_names() -> Vec<&'static str> {
    Kind::ALL.iter().map(|k| k.name()).collect()
}
