//! The subcommands but the dashboard: `list` (streams sockets to stdout), `services`, `audit`, `forwards`.
//! Each module owns its `run`; services, audit and forwards also their clap arguments and exit status.

pub mod audit;
pub mod forwards;
pub mod list;
pub mod services;
