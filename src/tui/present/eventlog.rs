//! The event log of the open group (`e` in the socket list): its sockets that opened since the dashboard
//! started and those that closed recently, newest first. Pure: built from what [`Live`] already tracks.

use std::time::{Duration, Instant};

use crate::group::GroupKey;
use crate::tui::model::live::Live;

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: Instant,
    pub open: bool,
    pub local: String,
    pub peer: String,
    /// For a close: how long it lived (as the dashboard saw it).
    pub lived: Option<Duration>,
}

/// The events of group `key`, newest first, at most `max`.
pub fn group_log(live: &Live, key: &GroupKey, max: usize) -> Vec<LogLine> {
    let end = |e: &crate::model::Endpoint| e.short_text();
    let mut out: Vec<LogLine> = Vec::new();
    if let Some(g) = live.groups.iter().find(|g| &g.key == key) {
        for &i in g.listeners.iter().chain(&g.members) {
            let first = live.first_seen(i as usize);
            // Sockets there at the start were not seen opening.
            if first > live.epoch
                && let Some(s) = live.socket(i as usize)
            {
                out.push(LogLine { at: first, open: true, local: end(&s.local), peer: end(&s.peer), lived: None });
            }
        }
    }
    for c in live.closed.iter().filter(|c| &c.group == key) {
        out.push(LogLine {
            at: c.closed_at,
            open: false,
            local: end(&c.socket.local),
            peer: end(&c.socket.peer),
            lived: Some(c.closed_at.saturating_duration_since(c.first_seen)),
        });
    }
    out.sort_by(|a, b| b.at.cmp(&a.at).then(a.open.cmp(&b.open)));
    out.truncate(max);
    out
}
