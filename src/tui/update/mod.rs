//! The dashboard's state machine: [`update`] applies one [`Action`] to the [`App`] and returns the
//! [`Effect`]s the loop is to perform (parse a filter with its lookups, close sockets, send the collector new
//! settings). No I/O. It reads the last frame's [`Shown`] for what the user sees: a click hits the row
//! drawn there, a page is the table's height, the sort picker and `s` offer the columns shown.

mod input;
pub mod replay;
pub mod rows;

use std::time::Duration;

use crate::filter::{FilterError, Parsed};
use crate::group::GroupKey;
use crate::model::Socket;
use crate::tui::model::collector::{CollectSettings, Protos};
use crate::tui::present::Shown;
use crate::tui::state::columns::PortCol;
use crate::tui::state::{Action, App};

/// What the loop does for `update` (the answers come back as actions).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Parse this filter text as typed after `/` (`dport ephemeral`, host names and interface names read the
    /// system); the loop answers with [`Action::FilterParsed`].
    ParseFilter(String),
    /// Close these sockets (confirmed in the `K` dialog); the loop answers with [`Action::KillDone`].
    Kill(Vec<Socket>),
    /// The collector thread's settings changed: send them.
    Collect(CollectSettings),
}

pub type Effects = Vec<Effect>;

/// Apply one action.
pub fn update(app: &mut App, shown: &Shown, action: Action) -> Effects {
    let before = marker(&app.settings);
    let mut fx = Effects::new();
    match action {
        Action::Data(live) => {
            app.collect_error = None;
            if !app.settings.paused {
                app.now = Some(app.now.map_or(live.taken_at, |n| n.max(live.taken_at)));
                if app.listeners.as_ref().and_then(|p| p.taken_at).is_some_and(|t| t <= live.taken_at) {
                    app.listeners = None;
                }
                app.live = Some(live);
                rows::rebuild(app);
                rows::record_sockets(app);
                input::wanted_kill_dialog(app);
            }
        }
        Action::Listeners(p) => {
            app.collect_error = None;
            if !app.settings.paused {
                app.now = p.taken_at.max(app.now);
                app.listeners = Some(p);
                if app.port_sort == PortCol::AcceptQueue {
                    rows::rebuild(app);
                }
            }
        }
        Action::CollectFailed(e) => app.collect_error = Some(e),
        Action::Resize(w, h) => app.size = (w, h),
        Action::Tick(now) => app.now = Some(now),
        Action::KillDone(msg) => app.message = Some(msg),
        Action::Signal(s) => app.quit |= app.signals.apply(s),
        Action::Mouse(m) => input::mouse(app, shown, m),
        Action::Key(k) => input::key(app, shown, k, &mut fx),
        Action::Paste(text) => {
            if let Some(input) = app.filter_input.as_mut() {
                // Line breaks and tabs of a pasted multi-line filter are spaces, as words are joined.
                input.extend(text.chars().map(|c| if c.is_control() { ' ' } else { c }));
                app.filter_error = None;
            }
        }
        Action::FilterParsed(text, parsed) => {
            if filter_parsed(app, text, parsed) {
                fx.push(Effect::Collect(app.settings.clone()));
            }
        }
    }
    if marker(&app.settings) != before && !fx.iter().any(|e| matches!(e, Effect::Collect(_))) {
        fx.push(Effect::Collect(app.settings.clone()));
    }
    fx
}

/// The settings but the selection (which changes only through [`filter_parsed`], which says so): what is
/// compared after each action, without cloning a filter per key.
fn marker(s: &CollectSettings) -> (Duration, bool, Protos, bool, Option<GroupKey>) {
    (s.interval, s.paused, s.protos, s.details, s.open_group.clone())
}

/// The answer to [`Effect::ParseFilter`]: applied (true: the selection changed) when it is the text still in
/// the input, else its error shown there.
fn filter_parsed(app: &mut App, text: String, parsed: Result<Parsed, FilterError>) -> bool {
    if app.filter_input.as_deref() != Some(text.as_str()) {
        // Typed on since: the next Enter asks again.
        return false;
    }
    match parsed {
        Ok(sel) => {
            app.filter_input = None;
            app.filter_error = None;
            app.filter_text = text;
            let changed = sel != app.settings.selection;
            app.settings.selection = sel;
            changed
        }
        Err(e) => {
            app.filter_error = Some(e);
            false
        }
    }
}

/// For tests: apply an action as the loop does, with the last frame laid out from the state first, and a
/// filter parse performed at once; the other effects are returned.
#[cfg(test)]
pub fn drive(app: &mut App, action: Action) -> Effects {
    let mut out = Effects::new();
    let mut queue = vec![action];
    while let Some(a) = queue.pop() {
        let shown = crate::tui::present::shown(app);
        for e in update(app, &shown, a) {
            match e {
                Effect::ParseFilter(text) => {
                    let lookup = crate::filter::SystemLookup::new(&app.proc_root);
                    let parsed = crate::filter::parse(&text, &app.services, &lookup);
                    queue.push(Action::FilterParsed(text, parsed));
                }
                e => out.push(e),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
