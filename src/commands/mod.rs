//! The subcommands: `list` (streams the one-shot listing), `services`, `audit`, `forwards`, `serve` (the
//! exporter). Each takes the checked configuration the `cli` layer built and returns the process exit status
//! (or an error for main to print).

pub mod audit;
pub mod forwards;
pub mod history;
pub mod kill;
pub mod list;
pub mod record;
pub mod serve;
pub mod services;
pub mod watch;
