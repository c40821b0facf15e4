//! The subcommands and their dispatch: [`run`] takes an [`Invocation`] (the command a command line asks for,
//! with the checked configuration the `cli` layer built) and runs it: `list` (streams the one-shot listing),
//! `services`, `audit`, `forwards`, `watch`, `kill`, `record`, `diff`, `serve` (the exporter), and the
//! full-screen `top` and `replay` of `tui`. It returns the process exit status, or a [`Failure`] for main to
//! print.

pub mod audit;
pub mod doctor;
pub mod forwards;
pub mod history;
pub mod kill;
pub mod list;
pub mod record;
pub mod serve;
pub mod services;
pub mod watch;

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::tui;

/// What a command line asks for, its flags resolved (by `cli`).
#[derive(Debug)]
pub enum Invocation {
    /// The one-shot listing (`list`, or no subcommand).
    List(list::ListConfig),
    /// `list --from FILE --at TIME`: the sockets of one moment of a recording.
    ListAt {
        from: PathBuf,
        at: String,
        json: bool,
    },
    /// The dashboard (`top`, or bare `sockscope` on a terminal).
    Top(tui::TopConfig),
    Services(services::ServicesConfig),
    Audit(audit::AuditConfig),
    Doctor(doctor::DoctorConfig),
    Forwards(forwards::ForwardsConfig),
    /// `watch`, or `list -E`.
    Watch(watch::WatchConfig),
    /// `kill` (asking unless `--yes`), or `list -K` (as `ss -K`, without asking).
    Kill(kill::KillConfig, kill::Confirm),
    Record(record::RecordConfig),
    Diff(history::DiffConfig),
    /// `replay FILE`.
    Replay(PathBuf),
    Serve(serve::ServeConfig),
}

/// Why a command line did not succeed: what to say, and the exit status.
#[derive(Debug)]
pub struct Failure {
    pub error: anyhow::Error,
    /// 2 for a usage error (a bad flag value, no terminal for a full-screen command) and for `diff`'s trouble
    /// (as diff(1): 1 means different); 1 for every other failure.
    pub status: u8,
}

impl Failure {
    /// A usage error: one line, exit status 2.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { error: anyhow::Error::msg(message.into()), status: 2 }
    }

    /// A command that ran and failed: exit status 1.
    fn failed(error: anyhow::Error) -> Failure {
        Failure { error, status: 1 }
    }

    /// Is this the output pipe closing early (`| head`)? Not a failure: exit status 0, nothing said.
    pub fn is_broken_pipe(&self) -> bool {
        (self.error.chain())
            .any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
    }
}

/// Run what the command line asks for: its exit status on success (audit and diff have their own), or why not.
pub fn run(invocation: Invocation) -> Result<ExitCode, Failure> {
    let done = |()| ExitCode::SUCCESS;
    match invocation {
        Invocation::List(c) => list::run(c).map(done),
        Invocation::ListAt { from, at, json } => history::list_at(&from, &at, json),
        Invocation::Top(c) => {
            if !io::stdout().is_terminal() {
                return Err(Failure::usage(
                    "the dashboard needs a terminal; use `sockscope list` for a one-shot listing",
                ));
            }
            tui::run(c).map(done)
        }
        Invocation::Services(c) => services::run(&c),
        Invocation::Audit(c) => audit::run(&c),
        Invocation::Doctor(c) => doctor::run(c),
        Invocation::Forwards(c) => forwards::run(&c),
        Invocation::Watch(c) => watch::run(c),
        Invocation::Kill(c, confirm) => kill::run(c, confirm),
        Invocation::Record(c) => record::run(c),
        // As diff(1): 0 same, 1 different, 2 trouble.
        Invocation::Diff(c) => return history::diff(&c).map_err(|error| Failure { error, status: 2 }),
        Invocation::Replay(file) => {
            if !io::stdout().is_terminal() {
                return Err(Failure::usage(
                    "replay needs a terminal; `sockscope list --from FILE --at TIME` prints a moment",
                ));
            }
            tui::replay::run(&file).map(done)
        }
        Invocation::Serve(c) => serve::run(c),
    }
    .map_err(Failure::failed)
}
