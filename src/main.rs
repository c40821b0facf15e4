//! The `sockscope` binary: parse arguments, run them (`commands::run`), map the outcome to an exit status.

// `eprintln!` panics when stderr cannot be written: messages go through `sockscope::errln!`.
#![deny(clippy::print_stderr)]
// A panic on input-derived data is a bug: no `unwrap()` outside tests (see DEVELOPERS.md, Habits).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};

use sockscope::cli::{Cli, Command, UsageError};
use sockscope::commands::{self, Failure};

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
    let outcome = cli.resolve().map_err(|UsageError(msg)| Failure::usage(msg)).and_then(commands::run);
    match outcome {
        Ok(code) => code,
        Err(f) if f.is_broken_pipe() => ExitCode::SUCCESS,
        Err(f) => {
            sockscope::errln!("sockscope: {:#}", f.error);
            ExitCode::from(f.status)
        }
    }
}
