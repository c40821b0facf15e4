//! The subcommands beyond list and top: `services`, `audit`, `forwards`, `serve`. Each module owns its clap arguments
//! and a `run` that returns the process exit status.

pub mod audit;
pub mod forwards;
pub mod serve;
pub mod services;
