//! The `sockscope` binary: parse arguments, run, map the outcome to an exit status.

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use sockscope::cli::{Cli, Command, TopArgs, UsageError};
use sockscope::{commands, tui};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
            eprintln!("sockscope: {}", first.trim_start_matches("error: "));
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
        // Bare `sockscope` on a terminal is the dashboard; with flags, or into a pipe, the listing.
        None if cli.list.is_empty() && io::stdout().is_terminal() && io::stdin().is_terminal() => {
            return top(&cli.list.as_top());
        }
        None => cli.list,
    };
    match args.resolve() {
        Ok(config) => finish(commands::list::run(config).map(|()| ExitCode::SUCCESS)),
        Err(e) => usage(e),
    }
}

/// A bad flag value: one line, exit status 2.
fn usage(UsageError(msg): UsageError) -> ExitCode {
    eprintln!("sockscope: {msg}");
    ExitCode::from(2)
}

fn top(args: &TopArgs) -> ExitCode {
    let config = match args.resolve() {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    if !io::stdout().is_terminal() {
        eprintln!("sockscope: the dashboard needs a terminal; use `sockscope list` for a one-shot listing");
        return ExitCode::from(2);
    }
    finish(tui::run(config).map(|()| ExitCode::SUCCESS))
}

/// Exit status of a subcommand: its own on success, 0 for a closed output pipe, 1 for an error.
fn finish(r: anyhow::Result<ExitCode>) -> ExitCode {
    match r {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockscope: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
}
