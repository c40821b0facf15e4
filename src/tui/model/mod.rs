//! The dashboard's model, kept by the collector thread: what it is asked and what it sends
//! ([`collector`]), snapshots tracked into what the dashboard shows ([`live`]), the bounded history of
//! groups and sockets ([`history`]), and what a refresh costs ([`refresh`]). No terminal, no ratatui.

pub mod collector;
pub mod history;
pub mod live;
pub mod refresh;
#[cfg(test)]
pub mod script;
