//! The small facade `examples/refresh_bench` drives: the dashboard's full refresh after the collection
//! (track, group, update, one frame drawn off screen) and its listeners-only refresh, as the dashboard does
//! them, without exposing the floors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::collect::process::Attribution;
use crate::collect::{Query, Snapshot};
use crate::model::{Socket, State, StateSet};
use crate::ports::audit::AuditOptions;
use crate::ports::classes::HostPorts;
use crate::ports::services::Services;
use crate::tui::model::collector::{CollectSettings, query_for};
use crate::tui::model::live::{Live, LiveTracker};
use crate::tui::present;
use crate::tui::state::{Action, App};
use crate::tui::update::update;
use crate::tui::view::view;

/// The dashboard with its default settings, drawing into an off-screen terminal.
pub struct Dashboard {
    tracker: LiveTracker,
    app: App,
    settings: CollectSettings,
    term: Terminal<TestBackend>,
}

/// A tracked refresh, ready to be shown.
pub struct Tracked(Arc<Live>);

impl Dashboard {
    /// With the host's ports for the audit marks and the pressure (as `top` reads them), `width` x `height`.
    pub fn new(host: Option<HostPorts>, width: u16, height: u16) -> std::io::Result<Dashboard> {
        let settings = CollectSettings::default();
        let mut app = App::new(settings.clone(), String::new(), Services::system(), true);
        let shown = present::shown(&app);
        update(&mut app, &shown, Action::Resize(width, height));
        Ok(Dashboard {
            tracker: LiveTracker::auditing(host, AuditOptions::default()),
            app,
            settings,
            term: Terminal::new(TestBackend::new(width, height)).map_err(std::io::Error::other)?,
        })
    }

    /// The query of a full refresh.
    pub fn query(&self) -> Query {
        query_for(&self.settings, true, true)
    }

    /// The query of a listeners-only refresh.
    pub fn listeners_query(&self) -> Query {
        let mut q = self.query();
        q.states = StateSet::of(&[State::LISTEN]);
        q.dedupe = true;
        q.info = false;
        q.memory = false;
        q
    }

    /// The last table's memory, for the next collection to fill.
    pub fn take_spare(&mut self) -> Vec<Socket> {
        self.tracker.take_spare()
    }

    /// Track a full refresh's snapshot against the last one (ages, closed sockets, groups, owners, marks).
    pub fn track(&mut self, snap: Snapshot, took: Duration, procs: Option<&Attribution>) -> Tracked {
        Tracked(self.tracker.update_with(snap, took, Instant::now(), procs, None))
    }

    /// Show a tracked refresh: update, lay out and draw one frame.
    pub fn show(&mut self, t: Tracked) -> std::io::Result<()> {
        let shown = present::shown(&self.app);
        update(&mut self.app, &shown, Action::Data(t.0));
        let shown = present::shown(&self.app);
        self.term.draw(|f| view(&self.app, &shown, f)).map_err(std::io::Error::other)?;
        Ok(())
    }

    /// A listeners-only refresh of these sockets.
    pub fn listeners(&mut self, sockets: &[Socket]) {
        drop(self.tracker.listeners(sockets, Instant::now(), None));
    }
}
