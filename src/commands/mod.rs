//! The subcommands beyond list and top: `services`, `audit`, `forwards`. Each module owns its clap arguments
//! and a `run` that returns the process exit status.

pub mod audit;
pub mod forwards;
pub mod history;
pub mod kill;
pub mod record;
pub mod services;
pub mod watch;
