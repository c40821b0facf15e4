//! Dashboard state as plain data, and `update`, the state machine that applies one action to it. No I/O:
//! the event loop turns terminal events and collector results into actions, and reads back the settings.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::filter::{self, Selection};
use super::layout;
use super::live::Live;
use crate::filter::FilterError;
use crate::group::GroupKey;
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

/// Sort keys of the port view, in the order `s` cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSort {
    Sockets,
    Port,
    Established,
    TimeWait,
    Peers,
    AcceptQueue,
    /// Each namespace's (container's) groups together: grouping by container with `--all-netns`.
    Namespace,
}

/// Sort keys of the socket list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockSort {
    Age,
    State,
    Peer,
    Local,
    RecvQ,
    SendQ,
    Rtt,
    Retrans,
}

impl PortSort {
    pub fn name(self) -> &'static str {
        match self {
            PortSort::Sockets => "sockets",
            PortSort::Port => "port",
            PortSort::Established => "established",
            PortSort::TimeWait => "time-wait",
            PortSort::Peers => "peers",
            PortSort::AcceptQueue => "accept queue",
            PortSort::Namespace => "namespace",
        }
    }
    fn next(self) -> PortSort {
        use PortSort::*;
        match self {
            Sockets => Port,
            Port => Established,
            Established => TimeWait,
            TimeWait => Peers,
            Peers => AcceptQueue,
            AcceptQueue => Namespace,
            Namespace => Sockets,
        }
    }
}

impl SockSort {
    pub fn name(self) -> &'static str {
        match self {
            SockSort::Age => "age",
            SockSort::State => "state",
            SockSort::Peer => "peer",
            SockSort::Local => "local",
            SockSort::RecvQ => "recv-q",
            SockSort::SendQ => "send-q",
            SockSort::Rtt => "rtt",
            SockSort::Retrans => "retransmits",
        }
    }
    fn next(self) -> SockSort {
        use SockSort::*;
        match self {
            Age => State,
            State => Peer,
            Peer => Local,
            Local => RecvQ,
            RecvQ => SendQ,
            SendQ => Rtt,
            Rtt => Retrans,
            Retrans => Age,
        }
    }
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
    pub port_sort: PortSort,
    pub port_reverse: bool,
    pub sock_sort: SockSort,
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
    /// The applied filter text.
    pub filter_text: String,
    /// The filter being typed (`/`), if any.
    pub filter_input: Option<String>,
    pub filter_error: Option<FilterError>,
    /// Why the last collection failed; cleared by the next snapshot.
    pub collect_error: Option<String>,
    pub show_help: bool,
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
    /// A one-off message for the status line (what a kill did), until the next key.
    pub message: Option<String>,
    /// The socket list shows the group's event log below it (`e`).
    pub show_events: bool,
    /// Where `dport ephemeral` in a typed filter reads the range (`--proc-root`).
    pub proc_root: std::path::PathBuf,
}

/// One thing that happened.
#[derive(Debug, Clone)]
pub enum Action {
    Key(KeyEvent),
    /// Text pasted into the terminal (bracketed paste): typed into the `/` input at once.
    Paste(String),
    Mouse(MouseEvent),
    Data(Arc<Live>),
    /// A collection failed (the previous data stays on screen).
    CollectFailed(String),
    Resize(u16, u16),
    Tick(Instant),
    /// What closing the confirmed sockets did.
    KillDone(String),
}

impl App {
    pub fn new(settings: Settings, filter_text: String, services: Services, color: bool) -> App {
        App {
            live: None,
            screen: Screen::Ports,
            settings,
            port_sort: PortSort::Sockets,
            port_reverse: false,
            sock_sort: SockSort::Age,
            sock_reverse: false,
            port_rows: Vec::new(),
            port_sel: 0,
            group: None,
            sock_rows: Vec::new(),
            sock_sel: 0,
            detail: None,
            detail_id: None,
            filter_text,
            filter_input: None,
            filter_error: None,
            collect_error: None,
            show_help: false,
            quit: false,
            color,
            size: (80, 24),
            now: None,
            services,
            kill: None,
            kill_request: None,
            message: None,
            show_events: false,
            proc_root: "/proc".into(),
        }
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
        let key = |i: usize| -> (u64, u64) {
            let gr = &g[i];
            match self.port_sort {
                PortSort::Sockets => (gr.len() as u64, 0),
                PortSort::Port => (u64::MAX - gr.key.port().unwrap_or(u16::MAX) as u64, 0),
                PortSort::Established => (gr.states.get(State::ESTABLISHED) as u64, gr.len() as u64),
                PortSort::TimeWait => (gr.states.get(State::TIME_WAIT) as u64, gr.len() as u64),
                PortSort::Peers => (gr.peers as u64, gr.len() as u64),
                PortSort::AcceptQueue => (gr.accept_queue.map_or(0, |q| q.0 as u64), gr.len() as u64),
                // A namespace's (a container's) groups together, in the namespace table's order.
                PortSort::Namespace => (u64::MAX - gr.key.netns() as u64, gr.len() as u64),
            }
        };
        rows.sort_by(|&a, &b| {
            let o = key(b).cmp(&key(a)).then_with(|| g[a].key.cmp(&g[b].key));
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
        let mut rows: Vec<SockRow> = Vec::new();
        if let Some(gr) = live.groups.iter().find(|g| g.key == key) {
            rows.extend(gr.listeners.iter().chain(&gr.members).map(|&i| SockRow::Live(i)));
        }
        rows.extend(
            live.closed.iter().enumerate().filter(|(_, c)| c.group == key).map(|(i, _)| SockRow::Closed(i as u32)),
        );
        let sock = |r: &SockRow| match *r {
            SockRow::Live(i) => (&live.sockets[i as usize], live.first_seen(i as usize)),
            SockRow::Closed(i) => (&live.closed[i as usize].socket, live.closed[i as usize].first_seen),
        };
        let sort = self.sock_sort;
        rows.sort_by(|a, b| {
            let ((sa, ta), (sb, tb)) = (sock(a), sock(b));
            let o = match sort {
                SockSort::Age => tb.cmp(&ta),
                SockSort::State => sa.state.cmp(&sb.state),
                SockSort::Peer => cmp_end(&sa.peer, &sb.peer),
                SockSort::Local => cmp_end(&sa.local, &sb.local),
                SockSort::RecvQ => sb.recv_q.cmp(&sa.recv_q),
                SockSort::SendQ => sb.send_q.cmp(&sa.send_q),
                SockSort::Rtt => tcp(sb, |t| t.rtt_us()).cmp(&tcp(sa, |t| t.rtt_us())),
                SockSort::Retrans => tcp(sb, |t| t.total_retrans()).cmp(&tcp(sa, |t| t.total_retrans())),
            }
            .then_with(|| cmp_end(&sa.peer, &sb.peer));
            if self.sock_reverse { o.reverse() } else { o }
        });
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
        (Inet { .. }, Unix { .. }) => Ordering::Less,
        (Unix { .. }, Inet { .. }) => Ordering::Greater,
    }
}

/// A row's socket identity, stable across refreshes.
fn row_id(live: &Live, r: SockRow) -> Option<u64> {
    match r {
        SockRow::Live(i) => live.sockets.get(i as usize).map(super::live::socket_id),
        SockRow::Closed(i) => live.closed.get(i as usize).map(|c| super::live::socket_id(&c.socket)),
    }
}

/// Apply one action.
pub fn update(app: &mut App, action: Action) {
    match action {
        Action::Data(live) => {
            app.collect_error = None;
            if !app.settings.paused {
                app.now = Some(live.taken_at);
                app.live = Some(live);
                app.rebuild();
            }
        }
        Action::CollectFailed(e) => app.collect_error = Some(e),
        Action::Resize(w, h) => app.size = (w, h),
        Action::Tick(now) => app.now = Some(now),
        Action::KillDone(msg) => app.message = Some(msg),
        Action::Mouse(m) => mouse(app, m),
        Action::Key(k) => key(app, k),
        Action::Paste(text) => {
            if let Some(input) = app.filter_input.as_mut() {
                // Line breaks and tabs of a pasted multi-line filter are spaces, as words are joined.
                input.extend(text.chars().map(|c| if c.is_control() { ' ' } else { c }));
                app.filter_error = None;
            }
        }
    }
}

fn mouse(app: &mut App, m: MouseEvent) {
    match m.kind {
        MouseEventKind::ScrollDown => app.move_sel(3),
        MouseEventKind::ScrollUp => app.move_sel(-3),
        MouseEventKind::Down(MouseButton::Left) => {
            let areas = layout::areas(app.size);
            let body = areas.body;
            // The first body line is the table header.
            if m.row > body.y && m.row < body.y + body.height && app.screen != Screen::Detail {
                let visible = body.height.saturating_sub(1) as usize;
                let sel = match app.screen {
                    Screen::Ports => app.port_sel,
                    _ => app.sock_sel,
                };
                let offset = layout::scroll_offset(sel, visible);
                let idx = offset + (m.row - body.y - 1) as usize;
                if idx < app.rows_len() {
                    *app.sel_mut() = idx;
                }
            }
        }
        _ => {}
    }
}

/// A key: Ctrl-C always quits; while the filter is being typed keys edit it; the help overlay closes on any
/// key; otherwise [`command`].
fn key(app: &mut App, k: KeyEvent) {
    if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
        app.quit = true;
        return;
    }
    app.message = None;
    if let Some(d) = app.kill.take() {
        if matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
            app.message = Some(format!("closing {} sockets...", d.targets.len()));
            app.kill_request = Some(d.targets);
        } else {
            app.message = Some("nothing closed".into());
        }
    } else if app.filter_input.is_some() {
        filter_key(app, k);
    } else if app.show_help {
        app.show_help = false;
        if !matches!(k.code, KeyCode::Esc | KeyCode::Char('?')) {
            command(app, k);
        }
    } else {
        command(app, k);
    }
}

/// A key while the filter is being typed: edit, apply (Enter; a bad filter stays open with its error), or
/// cancel (Esc).
fn filter_key(app: &mut App, k: KeyEvent) {
    let Some(input) = app.filter_input.as_mut() else { return };
    match k.code {
        KeyCode::Esc => {
            app.filter_input = None;
            app.filter_error = None;
        }
        KeyCode::Enter => {
            let text = input.clone();
            match filter::parse(&text, &app.services, &app.proc_root) {
                Ok(sel) => {
                    app.settings.selection = sel;
                    app.filter_text = text;
                    app.filter_input = None;
                    app.filter_error = None;
                }
                Err(e) => app.filter_error = Some(e),
            }
        }
        KeyCode::Backspace => {
            input.pop();
            app.filter_error = None;
        }
        KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => input.clear(),
        KeyCode::Char(c) => {
            input.push(c);
            app.filter_error = None;
        }
        _ => {}
    }
}

/// A command key on the current screen (the list is in the help overlay).
fn command(app: &mut App, k: KeyEvent) {
    let page = layout::areas(app.size).body.height.saturating_sub(1).max(1) as isize;
    match k.code {
        KeyCode::Char('q') => app.quit = true,
        KeyCode::Char('?') => app.show_help = true,
        KeyCode::Down | KeyCode::Char('j') => app.move_sel(1),
        KeyCode::Up | KeyCode::Char('k') => app.move_sel(-1),
        KeyCode::PageDown => app.move_sel(page),
        KeyCode::PageUp => app.move_sel(-page),
        KeyCode::Home | KeyCode::Char('g') => app.move_sel(isize::MIN / 2),
        KeyCode::End | KeyCode::Char('G') => app.move_sel(isize::MAX / 2),
        KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => open(app),
        KeyCode::Esc | KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h') => back(app),
        KeyCode::Char('p') | KeyCode::Char(' ') => app.settings.paused = !app.settings.paused,
        KeyCode::Char('+') | KeyCode::Char('=') => step_interval(app, 1),
        KeyCode::Char('-') => step_interval(app, -1),
        KeyCode::Char('s') => {
            match app.screen {
                Screen::Ports => {
                    app.port_sort = app.port_sort.next();
                    // Sorting by namespace means something only when several are shown.
                    let several = app.live.as_ref().is_some_and(|l| l.namespaces.len() > 1);
                    if app.port_sort == PortSort::Namespace && !several {
                        app.port_sort = app.port_sort.next();
                    }
                }
                _ => app.sock_sort = app.sock_sort.next(),
            }
            app.rebuild();
        }
        KeyCode::Char('r') => {
            match app.screen {
                Screen::Ports => app.port_reverse = !app.port_reverse,
                _ => app.sock_reverse = !app.sock_reverse,
            }
            app.rebuild();
        }
        KeyCode::Char('t') => toggle(app, Proto::Tcp),
        KeyCode::Char('u') => toggle(app, Proto::Udp),
        KeyCode::Char('x') => toggle(app, Proto::Unix),
        KeyCode::Char('/') => {
            app.filter_input = Some(app.filter_text.clone());
            app.filter_error = None;
        }
        KeyCode::Char('K') => kill_dialog(app),
        KeyCode::Char('e') => app.show_events = !app.show_events,
        _ => {}
    }
}

/// Enter: open the selected group (its sockets get details and owners), or the selected socket's details.
fn open(app: &mut App) {
    match app.screen {
        Screen::Ports => {
            if let Some(g) = app.selected_group() {
                app.group = Some(g.key.clone());
                app.sock_sel = 0;
                app.sock_rows.clear();
                app.screen = Screen::Sockets;
                app.settings.details = true;
                app.settings.open_group = app.group.clone();
                app.rebuild_sockets();
            }
        }
        Screen::Sockets => {
            if let Some(r) = app.sock_rows.get(app.sock_sel).copied() {
                app.detail = Some(r);
                app.detail_id = app.live.as_ref().and_then(|l| row_id(l, r));
                app.screen = Screen::Detail;
            }
        }
        Screen::Detail => {}
    }
}

/// Esc: one screen back.
fn back(app: &mut App) {
    match app.screen {
        Screen::Detail => {
            app.screen = Screen::Sockets;
            app.detail = None;
            app.detail_id = None;
        }
        Screen::Sockets => {
            app.screen = Screen::Ports;
            app.group = None;
            app.sock_rows.clear();
            app.settings.details = false;
            app.settings.open_group = None;
        }
        Screen::Ports => {}
    }
}

/// `K`: ask about closing the selected group's connections, or the selected socket.
fn kill_dialog(app: &mut App) {
    let Some(live) = app.live.clone() else { return };
    let d = match app.screen {
        Screen::Ports => match app.selected_group() {
            Some(g) => super::kill::KillDialog::for_group(&live, g),
            None => return,
        },
        Screen::Sockets => match app.sock_rows.get(app.sock_sel) {
            Some(r) => super::kill::KillDialog::for_row(&live, *r),
            None => return,
        },
        Screen::Detail => match app.detail {
            Some(r) => super::kill::KillDialog::for_row(&live, r),
            None => return,
        },
    };
    match d {
        Ok(d) => app.kill = Some(d),
        Err(e) => app.message = Some(e),
    }
}

fn step_interval(app: &mut App, dir: isize) {
    let cur = INTERVALS.iter().position(|d| *d >= app.settings.interval).unwrap_or(INTERVALS.len() - 1);
    let next = (cur as isize + dir).clamp(0, INTERVALS.len() as isize - 1) as usize;
    app.settings.interval = INTERVALS[next];
}

fn toggle(app: &mut App, p: Proto) {
    let ps = &mut app.settings.protos;
    let flag = match p {
        Proto::Tcp => &mut ps.tcp,
        Proto::Udp => &mut ps.udp,
        _ => &mut ps.unix,
    };
    *flag = !*flag;
    if !(ps.tcp || ps.udp || ps.unix) {
        // Never show nothing at all: turning the last one off turns the others on.
        *ps = Protos { tcp: true, udp: true, unix: true };
    }
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
