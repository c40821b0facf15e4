//! sockscope: a socket-state monitor for Linux. The library holds everything; `main.rs` is a thin shell.

// `eprint!` panics when stderr cannot be written: messages go through `errln!` (diag.rs).
#![deny(clippy::print_stderr)]
// A panic on input-derived data is a bug: no `unwrap()` outside tests (see DEVELOPERS.md, Habits).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod cli;
pub mod clock;
pub mod collect;
pub mod commands;
pub mod diag;
pub mod doctor;
pub mod events;
pub mod filter;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod group;
pub mod hash;
pub mod model;
pub mod output;
pub mod ports;
pub mod record;
#[allow(unsafe_code)] // the one module allowed to call into libc unsafely
pub mod sys;
pub mod tui;
