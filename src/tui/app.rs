//! Dashboard state as plain data, and `update`, the state machine that applies one action to it. No I/O:
//! the event loop turns terminal events and collector results into actions, and reads back the settings.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::columns::{PortCol, SockCol};
use super::filter::{self, Selection};
use super::history::{GroupSample, MAX_SOCKETS, Series, SocketHistory};
use super::layout;
use super::live::Live;
use super::refresh::ListenerPatch;
use crate::filter::FilterError;
use crate::group::GroupKey;
use crate::model::text::escape;
use crate::model::{Proto, State};
use crate::ports::services::Services;

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

/// Which protocols are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protos {
    pub tcp: bool,
    pub udp: bool,
    pub unix: bool,
}

/// What the collector thread needs to know; the event loop sends it whenever it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub interval: Duration,
    pub paused: bool,
    pub protos: Protos,
    pub selection: Selection,
    /// Ask the kernel for tcp_info and memory (while a group is open: it costs kernel time).
    pub details: bool,
    /// The group drilled into: its sockets get their processes looked up.
    pub open_group: Option<GroupKey>,
}

impl Default for Settings {
    /// The dashboard's defaults: a 1 s pause between refreshes, every protocol, no filter.
    fn default() -> Self {
        Settings {
            interval: Duration::from_secs(1),
            paused: false,
            protos: Protos { tcp: true, udp: true, unix: true },
            selection: Selection::default(),
            details: false,
            open_group: None,
        }
    }
}

/// Everything the dashboard shows. Plain data.
#[derive(Debug, Clone)]
pub struct App {
    pub live: Option<Arc<Live>>,
    pub screen: Screen,
    pub settings: Settings,
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
    pub kill: Option<super::kill::KillDialog>,
    /// Sockets the user confirmed closing; the event loop takes them (update does no I/O).
    pub kill_request: Option<Vec<crate::model::Socket>>,
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
    pub signals: super::signals::Requests,
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
    /// A signal arrived (see [`super::signals`]).
    Signal(super::signals::Signal),
}

impl App {
    pub fn new(settings: Settings, filter_text: String, services: Services, color: bool) -> App {
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
            kill_request: None,
            kill_wanted: None,
            message: None,
            show_events: false,
            proc_root: "/proc".into(),
            signals: super::signals::Requests::default(),
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

    fn rows_len(&self) -> usize {
        match self.screen {
            Screen::Ports => self.port_rows.len(),
            Screen::Sockets => self.sock_rows.len(),
            Screen::Detail => 0,
        }
    }

    fn sel_mut(&mut self) -> &mut usize {
        match self.screen {
            Screen::Sockets | Screen::Detail => &mut self.sock_sel,
            Screen::Ports => &mut self.port_sel,
        }
    }

    fn move_sel(&mut self, delta: isize) {
        let len = self.rows_len();
        let sel = self.sel_mut();
        *sel = if len == 0 { 0 } else { (*sel as isize + delta).clamp(0, len as isize - 1) as usize };
    }

    /// Rebuild the row orders after new data or a sort change, keeping the selection on the same item.
    fn rebuild(&mut self) {
        let Some(live) = self.live.clone() else { return };
        let keep = self.selected_group().map(|g| g.key.clone());
        let mut rows: Vec<usize> = (0..live.groups.len()).collect();
        let g = &live.groups;
        let owners = live.owners.as_ref();
        let holder = |i: usize| -> String {
            let o = owners.and_then(|o| Some((o.groups.get(i)?, &o.processes)));
            o.and_then(|(g, p)| crate::group::owners::by_name(g, p).into_iter().next()).map_or(String::new(), |e| e.0)
        };
        let trend = |k: &GroupKey| -> i64 {
            live.history.get(k).map_or(0, |h| *h.last().unwrap_or(&0) as i64 - *h.first().unwrap_or(&0) as i64)
        };
        let sort = self.port_sort;
        let services = &self.services;
        let service = |gr: &crate::group::Group| -> String {
            gr.key.port().and_then(|p| services.name(gr.key.proto(), p)).unwrap_or_default().to_string()
        };
        let num = |gr: &crate::group::Group| -> i64 {
            let st = |s: State| gr.states.get(s) as i64;
            match sort {
                PortCol::Sockets => gr.len() as i64,
                PortCol::Established => st(State::ESTABLISHED),
                PortCol::SynRecv => st(State::SYN_RECV),
                PortCol::TimeWait => st(State::TIME_WAIT),
                PortCol::CloseWait => st(State::CLOSE_WAIT),
                PortCol::FinWait => st(State::FIN_WAIT1) + st(State::FIN_WAIT2),
                PortCol::AcceptQueue => self.accept_queue(gr).map_or(-1, |q| q.0 as i64),
                PortCol::Peers => gr.peers as i64,
                PortCol::Trend => trend(&gr.key),
                _ => 0,
            }
        };
        rows.sort_by(|&a, &b| {
            let (ga, gb) = (&g[a], &g[b]);
            let o = match sort {
                PortCol::Proto => ga.key.proto().name().cmp(gb.key.proto().name()),
                PortCol::Endpoint => ga.key.cmp(&gb.key),
                PortCol::Service => {
                    let (sa, sb) = (service(ga), service(gb));
                    // Named services first, A to Z.
                    sa.is_empty().cmp(&sb.is_empty()).then(sa.cmp(&sb))
                }
                PortCol::Class => ga.key.port().cmp(&gb.key.port()),
                // A namespace's (a container's) groups together, in the namespace table's order.
                PortCol::Namespace => ga.key.netns().cmp(&gb.key.netns()),
                PortCol::Process => {
                    let (ha, hb) = (holder(a), holder(b));
                    ha.is_empty().cmp(&hb.is_empty()).then(ha.cmp(&hb))
                }
                _ => num(gb).cmp(&num(ga)),
            }
            .then_with(|| gb.len().cmp(&ga.len()))
            .then_with(|| ga.key.cmp(&gb.key));
            if self.port_reverse { o.reverse() } else { o }
        });
        self.port_rows = rows;
        if let Some(k) = keep
            && let Some(p) = self.port_rows.iter().position(|&i| live.groups[i].key == k)
        {
            self.port_sel = p;
        }
        self.port_sel = self.port_sel.min(self.port_rows.len().saturating_sub(1));
        self.rebuild_sockets();
    }

    fn rebuild_sockets(&mut self) {
        let Some(live) = self.live.clone() else { return };
        let Some(key) = self.group.clone() else {
            self.sock_rows.clear();
            return;
        };
        let keep = self.sock_rows.get(self.sock_sel).and_then(|r| row_id(&live, *r));
        // The open group's live sockets (a Live built before the group was opened may lack them until the
        // refresh the opening forced), then its recently closed ones.
        let mut items: Vec<(SockRow, &crate::model::Socket, Instant)> = Vec::new();
        if let Some(gr) = live.groups.iter().find(|g| g.key == key) {
            for &i in gr.listeners.iter().chain(&gr.members) {
                if let Some(s) = live.socket(i as usize) {
                    items.push((SockRow::Live(i), s, live.first_seen(i as usize)));
                }
            }
        }
        for (i, c) in live.closed.iter().enumerate().filter(|(_, c)| c.group == key) {
            items.push((SockRow::Closed(i as u32), &c.socket, c.first_seen));
        }
        let sort = self.sock_sort;
        // Process labels are made once per row, not once per comparison.
        let owners: Vec<(bool, String)> = if sort == SockCol::Process {
            items
                .iter()
                .map(|(r, _, _)| {
                    let label = match (r, &live.owners) {
                        (SockRow::Live(i), Some(o)) => o.label(*i as usize, usize::MAX),
                        _ => String::new(),
                    };
                    (matches!(label.as_str(), "" | "-" | "hidden"), label)
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by(|&x, &y| {
            let ((_, sa, ta), (_, sb, tb)) = (&items[x], &items[y]);
            let o = match sort {
                SockCol::Age => tb.cmp(ta),
                SockCol::State => sa.state.cmp(&sb.state),
                SockCol::Peer => cmp_end(&sa.peer, &sb.peer),
                SockCol::Local => cmp_end(&sa.local, &sb.local),
                SockCol::RecvQ => sb.recv_q.cmp(&sa.recv_q),
                SockCol::SendQ => sb.send_q.cmp(&sa.send_q),
                SockCol::Process => owners[x].cmp(&owners[y]),
                SockCol::Rtt => tcp(sb, |t| t.rtt_us()).cmp(&tcp(sa, |t| t.rtt_us())),
                SockCol::Retrans => tcp(sb, |t| t.total_retrans()).cmp(&tcp(sa, |t| t.total_retrans())),
            }
            .then_with(|| cmp_end(&sa.peer, &sb.peer));
            if self.sock_reverse { o.reverse() } else { o }
        });
        let rows: Vec<SockRow> = order.into_iter().map(|k| items[k].0).collect();
        self.sock_rows = rows;
        if let Some(id) = keep
            && let Some(p) = self.sock_rows.iter().position(|r| row_id(&live, *r) == Some(id))
        {
            self.sock_sel = p;
        }
        self.sock_sel = self.sock_sel.min(self.sock_rows.len().saturating_sub(1));
        if let Some(id) = self.detail_id {
            // Follow the detail socket to its new index; drop back to the list once it is gone for good.
            self.detail = self.sock_rows.iter().copied().find(|r| row_id(&live, *r) == Some(id));
            if self.detail.is_none() {
                self.detail_id = None;
                if self.screen == Screen::Detail {
                    self.screen = Screen::Sockets;
                }
            }
        }
    }
}

/// A tcp_info field of a socket, when the kernel sent one.
fn tcp(s: &crate::model::Socket, f: impl Fn(&crate::model::internals::TcpInfo) -> Option<u32>) -> Option<u32> {
    s.extra.as_deref().and_then(|x| x.tcp_info.as_ref()).and_then(f)
}

fn cmp_end(a: &crate::model::Endpoint, b: &crate::model::Endpoint) -> Ordering {
    use crate::model::Endpoint::*;
    match (a, b) {
        (Inet { ip: ia, port: pa }, Inet { ip: ib, port: pb }) => (ia, pa).cmp(&(ib, pb)),
        (Unix { inode: ia, .. }, Unix { inode: ib, .. }) => ia.cmp(ib),
        (Inet { .. }, _) => Ordering::Less,
        (_, Inet { .. }) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// A row's socket identity, stable across refreshes.
fn row_id(live: &Live, r: SockRow) -> Option<u64> {
    match r {
        SockRow::Live(i) => live.socket(i as usize).map(crate::model::Socket::identity),
        SockRow::Closed(i) => live.closed.get(i as usize).map(|c| c.socket.identity()),
    }
}

/// Apply one action.
pub fn update(app: &mut App, action: Action) {
    match action {
        Action::Data(live) => {
            app.collect_error = None;
            if !app.settings.paused {
                app.now = Some(app.now.map_or(live.taken_at, |n| n.max(live.taken_at)));
                if app.listeners.as_ref().and_then(|p| p.taken_at).is_some_and(|t| t <= live.taken_at) {
                    app.listeners = None;
                }
                app.live = Some(live);
                app.rebuild();
                record_sockets(app);
                input::wanted_kill_dialog(app);
            }
        }
        Action::Listeners(p) => {
            app.collect_error = None;
            if !app.settings.paused {
                app.now = p.taken_at.max(app.now);
                app.listeners = Some(p);
                if app.port_sort == PortCol::AcceptQueue {
                    app.rebuild();
                }
            }
        }
        Action::CollectFailed(e) => app.collect_error = Some(e),
        Action::Resize(w, h) => app.size = (w, h),
        Action::Tick(now) => app.now = Some(now),
        Action::KillDone(msg) => app.message = Some(msg),
        Action::Signal(s) => app.quit |= app.signals.apply(s),
        Action::Mouse(m) => input::mouse(app, m),
        Action::Key(k) => input::key(app, k),
        Action::Paste(text) => {
            if let Some(input) = app.filter_input.as_mut() {
                // Line breaks and tabs of a pasted multi-line filter are spaces, as words are joined.
                input.extend(text.chars().map(|c| if c.is_control() { ' ' } else { c }));
                app.filter_error = None;
            }
        }
    }
}

/// Add this refresh's tcp_info of the open group's sockets to their histories: those followed already, then
/// new ones in the list's order up to [`MAX_SOCKETS`], and always the open detail's. A socket no longer in
/// the group is forgotten (the open detail's is kept while it shows as closed).
fn record_sockets(app: &mut App) {
    let Some(live) = app.live.clone() else { return };
    if app.group.is_none() {
        app.sock_histories.clear();
        return;
    }
    let t = live.taken_at.saturating_duration_since(live.epoch).as_secs_f64();
    let mut pushed = 0;
    for r in &app.sock_rows {
        // Full, and every followed socket (the open detail's among them) has its sample: the rest of a big
        // group has nothing to add.
        if pushed >= MAX_SOCKETS
            && pushed == app.sock_histories.len()
            && app.detail_id.is_none_or(|d| app.sock_histories.contains_key(&d))
        {
            break;
        }
        let SockRow::Live(i) = *r else { continue };
        let Some(s) = live.socket(i as usize) else { continue };
        let Some(info) = s.extra.as_deref().and_then(|x| x.tcp_info.as_ref()) else { continue };
        let id = s.identity();
        let room = app.sock_histories.len() < MAX_SOCKETS || app.detail_id == Some(id);
        match app.sock_histories.get_mut(&id) {
            Some(h) => h.push(t, info),
            None if room => app.sock_histories.entry(id).or_default().push(t, info),
            None => continue,
        }
        pushed += 1;
    }
    let detail = app.detail_id;
    app.sock_histories.retain(|id, h| h.last_t() == Some(t) || Some(*id) == detail);
}

#[path = "app_input.rs"]
mod input;

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
