//! The dashboard's state as plain data: [`App`] (what is shown, the selection, the dialogs, what the
//! collector is asked) and [`Action`] (one thing that happened). No I/O and no logic beyond reading it:
//! the update floor changes it.

pub mod columns;
pub mod kill;
pub mod replay;
pub mod signals;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{KeyEvent, MouseEvent};

use crate::filter::FilterError;
use crate::group::GroupKey;
use crate::model::State;
use crate::ports::services::Services;
use crate::tui::model::collector::CollectSettings;
use crate::tui::model::history::{GroupSample, Series, SocketHistory};
use crate::tui::model::live::Live;
use crate::tui::model::refresh::ListenerPatch;
use columns::{PortCol, SockCol};

/// Refresh intervals `+`/`-` step through.
pub const INTERVALS: [Duration; 7] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(30),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Ports,
    Sockets,
    Detail,
}

/// A row of the socket list: a live socket or one that closed recently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockRow {
    Live(u32),
    Closed(u32),
}

/// Everything the dashboard shows. Plain data.
#[derive(Debug, Clone)]
pub struct App {
    pub live: Option<Arc<Live>>,
    pub screen: Screen,
    pub settings: CollectSettings,
    /// The column the group table is sorted by (numbers biggest first, names A to Z, unless reversed).
    pub port_sort: PortCol,
    pub port_reverse: bool,
    pub sock_sort: SockCol,
    pub sock_reverse: bool,
    /// Group indices of `live.groups` in display order.
    pub port_rows: Vec<usize>,
    pub port_sel: usize,
    /// The group drilled into.
    pub group: Option<GroupKey>,
    pub sock_rows: Vec<SockRow>,
    pub sock_sel: usize,
    /// The socket whose details are shown, and its identity (followed across refreshes).
    pub detail: Option<SockRow>,
    pub detail_id: Option<u64>,
    /// How far the detail's fields are scrolled (when they overflow a short window).
    pub detail_scroll: u16,
    /// The newest listeners-only refresh, newer than `live` (accept queues between full refreshes).
    pub listeners: Option<Arc<ListenerPatch>>,
    /// The open group's sockets' tcp_info (by socket id) since the group was opened or they appeared: the
    /// first [`MAX_SOCKETS`] listed and the open detail's; a socket gone is forgotten.
    pub sock_histories: crate::hash::FastMap<u64, SocketHistory>,
    /// The applied filter text.
    pub filter_text: String,
    /// The filter being typed (`/`), if any.
    pub filter_input: Option<String>,
    pub filter_error: Option<FilterError>,
    /// Why the last collection failed; cleared by the next snapshot.
    pub collect_error: Option<String>,
    pub show_help: bool,
    /// The sort column picker (`o`) is open, with this entry of the screen's columns highlighted.
    pub sort_picker: Option<usize>,
    pub quit: bool,
    pub color: bool,
    /// Terminal size, for paging and mouse hits.
    pub size: (u16, u16),
    pub now: Option<Instant>,
    pub services: Services,
    /// The `K` dialog, waiting for y.
    pub kill: Option<kill::KillDialog>,
    /// `K` on a group whose sockets are only counted: the group is asked of the collector (as an open group
    /// is) and the dialog opens when its sockets arrive.
    pub kill_wanted: Option<GroupKey>,
    /// A one-off message for the status line (what a kill did), until the next key.
    pub message: Option<String>,
    /// The socket list shows the group's event log below it (`e`).
    pub show_events: bool,
    /// Where `dport ephemeral` in a typed filter reads the range (`--proc-root`).
    pub proc_root: std::path::PathBuf,
    /// What the signals asked (end, stop, take the terminal again); the event loop acts on it.
    pub signals: signals::Requests,
}

/// One thing that happened.
#[derive(Debug, Clone)]
pub enum Action {
    Key(KeyEvent),
    /// Text pasted into the terminal (bracketed paste): typed into the `/` input at once.
    Paste(String),
    Mouse(MouseEvent),
    Data(Arc<Live>),
    /// Listeners refreshed between two full refreshes.
    Listeners(Arc<ListenerPatch>),
    /// A collection failed (the previous data stays on screen).
    CollectFailed(String),
    Resize(u16, u16),
    Tick(Instant),
    /// What closing the confirmed sockets did.
    KillDone(String),
    /// A signal arrived (see [`signals`]).
    Signal(signals::Signal),
    /// A filter typed after `/`, parsed by the loop (its lookups read the system): the text, what it selects.
    FilterParsed(String, Result<crate::filter::Parsed, FilterError>),
}

impl App {
    pub fn new(settings: CollectSettings, filter_text: String, services: Services, color: bool) -> App {
        App {
            live: None,
            screen: Screen::Ports,
            settings,
            port_sort: PortCol::Sockets,
            port_reverse: false,
            sock_sort: SockCol::Age,
            sock_reverse: false,
            port_rows: Vec::new(),
            port_sel: 0,
            group: None,
            sock_rows: Vec::new(),
            sock_sel: 0,
            detail: None,
            detail_id: None,
            detail_scroll: 0,
            sock_histories: Default::default(),
            listeners: None,
            filter_text,
            filter_input: None,
            filter_error: None,
            collect_error: None,
            show_help: false,
            sort_picker: None,
            quit: false,
            color,
            size: (80, 24),
            now: None,
            services,
            kill: None,
            kill_wanted: None,
            message: None,
            show_events: false,
            proc_root: "/proc".into(),
            signals: signals::Requests::default(),
        }
    }

    /// A group's accept queue, from the newest listeners refresh when there is one.
    pub fn accept_queue(&self, g: &crate::group::Group) -> Option<(u32, u32)> {
        let fresh = self.listeners.as_ref().and_then(|p| p.queues.get(&g.key).copied());
        g.accept_queue.map(|q| fresh.unwrap_or(q))
    }

    /// A socket's queues (recv, send), from the newest listeners refresh for a listener.
    pub fn queues(&self, s: &crate::model::Socket) -> (Option<u32>, Option<u32>) {
        if s.state == State::LISTEN
            && let Some(q) = self.listeners.as_ref().and_then(|p| p.sockets.get(&s.identity()))
        {
            return *q;
        }
        (s.recv_q, s.send_q)
    }

    /// The open group's series, with the newest listeners sample when there is one.
    pub fn open_series(&self) -> Option<&Series<GroupSample>> {
        let patched = self.listeners.as_ref().and_then(|p| p.open_series.as_ref());
        patched.or(self.live.as_ref().and_then(|l| l.open_series.as_ref()))
    }

    /// When the data shown was taken: the full table, and the listeners when they are newer.
    #[cfg(test)]
    pub fn data_times(&self) -> Option<(Instant, Instant)> {
        let live = self.live.as_ref()?;
        let listeners = self.listeners.as_ref().and_then(|p| p.taken_at).unwrap_or(live.taken_at);
        Some((live.taken_at, listeners.max(live.taken_at)))
    }

    /// The group currently selected in the port view.
    pub fn selected_group(&self) -> Option<&crate::group::Group> {
        let live = self.live.as_ref()?;
        live.groups.get(*self.port_rows.get(self.port_sel)?)
    }

    /// How many rows the current screen's table has.
    pub fn rows_len(&self) -> usize {
        match self.screen {
            Screen::Ports => self.port_rows.len(),
            Screen::Sockets => self.sock_rows.len(),
            Screen::Detail => 0,
        }
    }

    /// The current screen's selection.
    pub fn sel_mut(&mut self) -> &mut usize {
        match self.screen {
            Screen::Sockets | Screen::Detail => &mut self.sock_sel,
            Screen::Ports => &mut self.port_sel,
        }
    }

    /// Move the current screen's selection by `delta` rows, within the table.
    pub fn move_sel(&mut self, delta: isize) {
        let len = self.rows_len();
        let sel = self.sel_mut();
        *sel = if len == 0 { 0 } else { (*sel as isize + delta).clamp(0, len as isize - 1) as usize };
    }
}
