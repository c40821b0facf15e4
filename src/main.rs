//! The `sockscope` binary: parse arguments, run, map the outcome to an exit status.

// `eprintln!` panics when stderr cannot be written: messages go through `sockscope::errln!`.
#![deny(clippy::print_stderr)]
// A panic on input-derived data is a bug: no `unwrap()` outside tests (see DEVELOPERS.md, Habits).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};

use sockscope::cli::{Cli, Command, TopArgs, UsageError};
use sockscope::{commands, tui};

fn main() -> ExitCode {
    let argv = sockscope::cli::argv::permute(std::env::args_os().collect(), &Cli::command());
    let parsed = Cli::command().try_get_matches_from(argv).and_then(|m| {
        let mut cli = Cli::from_arg_matches(&m)?;
        // ss applies its selection flags in command-line order: keep each one's positions.
        let list_matches = match m.subcommand() {
            Some(("list", sub)) => sub,
            _ => &m,
        };
        let list = match &mut cli.command {
            Some(Command::List(l)) => Some(l),
            None => Some(&mut cli.list),
            _ => None,
        };
        if let Some(l) = list {
            for id in list_matches.ids() {
                if let Some(ix) = list_matches.indices_of(id.as_str()) {
                    l.positions.insert(id.to_string(), ix.collect());
                }
            }
        }
        Ok(cli)
    });
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                // Help into a closed pipe is not an error either.
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: clap's first line names the bad argument or value.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            sockscope::errln!("sockscope: {}", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    let args = match cli.command {
        Some(Command::List(a)) => a,
        Some(Command::Top(t)) => return top(&t),
        Some(Command::Services(a)) => {
            return match a.resolve() {
                Ok(c) => finish(commands::services::run(&c)),
                Err(e) => usage(e),
            };
        }
        Some(Command::Audit(a)) => {
            return match a.resolve() {
                Ok(c) => finish(commands::audit::run(&c)),
                Err(e) => usage(e),
            };
        }
        Some(Command::Forwards(a)) => return finish(commands::forwards::run(&a.resolve())),
        Some(Command::Watch(a)) => return checked(a.resolve(), commands::watch::run),
        Some(Command::Record(a)) => return checked(a.resolve(), commands::record::run),
        // As diff(1): 0 same, 1 different, 2 trouble.
        Some(Command::Diff(a)) => {
            return match commands::history::diff(&a.resolve()) {
                Ok(code) => code,
                Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
                Err(e) => {
                    sockscope::errln!("sockscope: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
        Some(Command::Replay(a)) => {
            if !io::stdout().is_terminal() {
                sockscope::errln!(
                    "sockscope: replay needs a terminal; `sockscope list --from FILE --at TIME` prints a moment"
                );
                return ExitCode::from(2);
            }
            return finish(tui::replay::run(&a.file).map(|()| ExitCode::SUCCESS));
        }
        Some(Command::Kill(a)) => {
            let confirm = if a.yes { commands::kill::Confirm::Given } else { commands::kill::Confirm::Ask };
            return checked(a.resolve(), |c| commands::kill::run(c, confirm));
        }
        Some(Command::Serve(a)) => {
            return match a.resolve() {
                Ok(config) => finish(commands::serve::run(config)),
                Err(e) => usage(e),
            };
        }
        // Bare `sockscope` on a terminal is the dashboard; with flags, or into a pipe, the listing.
        None if cli.list.is_empty() && io::stdout().is_terminal() && io::stdin().is_terminal() => {
            return top(&cli.list.as_top());
        }
        None => cli.list,
    };
    if let (Some(from), Some(at)) = (&args.from, &args.at) {
        return finish(commands::history::list_at(from, at, args.json || args.ndjson));
    }
    if args.events {
        return checked(args.as_watch(), commands::watch::run);
    }
    if args.kill {
        return checked(args.as_kill(), |c| commands::kill::run(c, commands::kill::Confirm::Given));
    }
    match args.resolve() {
        Ok(config) => finish(commands::list::run(config).map(|()| ExitCode::SUCCESS)),
        Err(e) => usage(e),
    }
}

/// A bad flag value: one line, exit status 2.
fn usage(UsageError(msg): UsageError) -> ExitCode {
    sockscope::errln!("sockscope: {msg}");
    ExitCode::from(2)
}

fn top(args: &TopArgs) -> ExitCode {
    let config = match args.resolve() {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    if !io::stdout().is_terminal() {
        sockscope::errln!("sockscope: the dashboard needs a terminal; use `sockscope list` for a one-shot listing");
        return ExitCode::from(2);
    }
    finish(tui::run(config).map(|()| ExitCode::SUCCESS))
}

/// Run a subcommand whose flags resolved, or report the bad flag (exit status 2).
fn checked<C>(config: Result<C, UsageError>, run: impl FnOnce(C) -> anyhow::Result<ExitCode>) -> ExitCode {
    match config {
        Ok(c) => finish(run(c)),
        Err(e) => usage(e),
    }
}

/// Exit status of a subcommand: its own on success, 0 for a closed output pipe, 1 for an error.
fn finish(r: anyhow::Result<ExitCode>) -> ExitCode {
    match r {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            sockscope::errln!("sockscope: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
}
