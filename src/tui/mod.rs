//! The full-screen commands, `top` (the live dashboard) and `replay`, in floors, each importing only the
//! floors below it:
//! - [`model`]: the collector thread (collect, bind the filter, track snapshots into a [`model::live::Live`]);
//!   no terminal.
//! - [`state`]: plain data: the [`state::App`], the replay's state, the [`state::Action`]s.
//! - [`present`]: one frame as geometry and text ([`present::Shown`]), computed once per frame and shared by
//!   update (clicks, pages, the sort choices) and view.
//! - [`update`]: the state machines: `update(&mut App, &Shown, Action) -> Effects`, no I/O (filter parsing with
//!   its lookups, closing sockets and the collector's settings are effects the loop performs).
//! - [`view`]: ratatui widgets from the state and the presentation.
//!
//! `run` is the loop on top: the terminal, the collector thread, and the effects. [`bench`] is the small
//! facade the refresh benchmark drives.

pub mod bench;
pub(crate) mod model;
pub(crate) mod present;
mod run;
#[cfg(test)]
mod screens;
pub(crate) mod state;
pub(crate) mod update;
pub(crate) mod view;

pub use run::{TopConfig, run};
pub use view::Theme;

/// `sockscope replay FILE`.
pub mod replay {
    pub use super::run::replay::run;
}
