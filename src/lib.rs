//! sockscope: a socket-state monitor for Linux. The library holds everything; `main.rs` is a thin shell.

pub mod collect;
pub mod model;
pub mod filter;
pub mod services;
pub mod cli;
pub mod output;
