//! Drawing: `view(&App, &mut Frame)` is pure. Only the visible rows are turned into widgets, so a group of
//! 100k sockets costs no more to draw than one of ten.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

use super::app::{App, Screen, SockRow};
use super::layout::{self, scroll_offset};
use super::live::{HeldBy, Live};
use crate::group::{Group, GroupKey};
use crate::model::owners::Owner;
use crate::model::text::escape;
use crate::model::{Endpoint, Proto, Socket, State};

const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

struct Theme {
    color: bool,
}

impl Theme {
    fn fg(&self, c: Color) -> Style {
        if self.color { Style::default().fg(c) } else { Style::default() }
    }
    fn header(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }
    fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    fn new_socket(&self) -> Style {
        if self.color { Style::default().fg(Color::Green) } else { Style::default().add_modifier(Modifier::BOLD) }
    }
    fn dim(&self) -> Style {
        Style::default().add_modifier(Modifier::DIM)
    }
    fn closed(&self) -> Style {
        Style::default().add_modifier(Modifier::DIM | Modifier::CROSSED_OUT)
    }
    fn alarm(&self) -> Style {
        if self.color {
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        }
    }
    fn bar(&self) -> Style {
        if self.color {
            Style::default().bg(Color::Blue).fg(Color::White)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }
}

/// Draw the whole screen.
pub fn view(app: &App, f: &mut Frame) {
    let area = f.area();
    let areas = layout::areas((area.width, area.height));
    let theme = Theme { color: app.color };
    f.render_widget(Paragraph::new(title(app, &theme)).style(theme.bar()), areas.title);
    match (&app.live, app.screen) {
        (None, _) => f.render_widget(Paragraph::new("  collecting sockets..."), areas.body),
        (Some(live), Screen::Ports) => ports(app, live, f, areas.body, &theme),
        (Some(live), Screen::Sockets) => sockets(app, live, f, areas.body, &theme),
        (Some(live), Screen::Detail) => detail(app, live, f, areas.body),
    }
    // A failed collection owns the whole bar (nothing of the usual text shows through), unless `/` is open.
    match app.collect_error.as_ref().filter(|_| app.filter_input.is_none()) {
        Some(e) => f.render_widget(
            Paragraph::new(format!(" collection failed: {}", escape(e))).style(theme.alarm()),
            areas.status,
        ),
        None => f.render_widget(Paragraph::new(status(app, &theme, areas.status.width)), areas.status),
    }
    if let (Some(input), Some(err)) = (&app.filter_input, &app.filter_error) {
        let text = err.render(input);
        let h = 5.min(areas.body.height);
        let r = Rect::new(0, areas.body.y + areas.body.height - h, area.width, h);
        f.render_widget(Clear, r);
        let block = Block::default().borders(Borders::ALL).title(" bad filter ").border_style(theme.alarm());
        f.render_widget(Paragraph::new(text).block(block).style(theme.alarm()), r);
    }
    if app.show_help {
        help(f, area);
    }
    if let Some(d) = &app.kill {
        kill_dialog(d, f, area, &theme);
    }
}

/// The open group's event log: opens and closes, newest first.
fn event_log(app: &App, live: &Live, key: &GroupKey, f: &mut Frame, area: Rect, theme: &Theme) {
    let now = app.now.unwrap_or(live.taken_at);
    let log = crate::tui::eventlog::group_log(live, key, area.height.saturating_sub(2) as usize);
    let lines: Vec<Line> = log
        .iter()
        .map(|l| {
            let ago = fmt_age(now.saturating_duration_since(l.at));
            let text = match l.lived {
                Some(d) => format!(" {ago:>6} ago  close {} {}  lived {}", l.local, l.peer, fmt_age(d)),
                None => format!(" {ago:>6} ago  open  {} {}", l.local, l.peer),
            };
            if l.open {
                Line::from(Span::styled(text, theme.new_socket()))
            } else {
                Line::from(Span::styled(text, theme.closed()))
            }
        })
        .collect();
    let block = Block::default().borders(Borders::TOP).title(" events (e hides) ");
    let body = if lines.is_empty() { vec![Line::from(" no opens or closes seen yet")] } else { lines };
    f.render_widget(Paragraph::new(body).block(block), area);
}

fn kill_dialog(d: &crate::tui::kill::KillDialog, f: &mut Frame, area: Rect, theme: &Theme) {
    let lines = d.lines();
    let w = (lines.iter().map(|l| l.chars().count()).max().unwrap_or(20) as u16 + 4).min(area.width);
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = Rect::new(area.width.saturating_sub(w) / 2, area.height.saturating_sub(h) / 2, w, h);
    let text: Vec<Line> = lines.into_iter().map(|l| Line::from(format!(" {l}"))).collect();
    f.render_widget(Clear, r);
    let block = Block::default().borders(Borders::ALL).title(" close sockets ").border_style(theme.alarm());
    f.render_widget(Paragraph::new(text).block(block).wrap(Wrap { trim: false }), r);
}

fn title(app: &App, theme: &Theme) -> Line<'static> {
    let mut spans = vec![Span::styled(" sockscope ", Style::default().add_modifier(Modifier::BOLD))];
    if let Some(live) = &app.live {
        let mut t = format!(
            "│ {} {} │ interval {} │ {} sockets:",
            live.source,
            fmt_ms(live.collect_time),
            fmt_interval(app.settings.interval),
            live.sockets.len()
        );
        for st in [
            State::ESTABLISHED,
            State::LISTEN,
            State::SYN_SENT,
            State::SYN_RECV,
            State::TIME_WAIT,
            State::CLOSE_WAIT,
            State::FIN_WAIT1,
            State::FIN_WAIT2,
            State::LAST_ACK,
            State::CLOSING,
            State::CLOSE,
        ] {
            let n = live.totals.get(st);
            if n > 0 {
                let _ = write!(t, " {} {n}", st.display_name(Proto::Tcp));
            }
        }
        spans.push(Span::raw(t));
    }
    if app.settings.paused {
        // Right after the name, so that it is never cut off.
        spans.insert(1, Span::styled(" PAUSED (p resumes) ", theme.alarm().add_modifier(Modifier::REVERSED)));
        spans.insert(2, Span::raw(" "));
    }
    Line::from(spans)
}

/// The status bar, `width` columns wide.
fn status(app: &App, theme: &Theme, width: u16) -> Line<'static> {
    if let Some(m) = &app.message {
        return Line::from(Span::styled(format!(" {}", escape(m)), theme.alarm()));
    }
    if let Some(input) = &app.filter_input {
        // The end of the input, where the cursor is, stays in view: a long filter scrolls to the left.
        let room = usize::from(width).saturating_sub(3);
        let shown: String = escape(input).chars().collect();
        let n = shown.chars().count();
        let visible = if n > room {
            let tail: String = shown.chars().skip(n + 1 - room).collect();
            format!("…{tail}")
        } else {
            shown
        };
        return Line::from(vec![
            Span::styled("/", theme.fg(Color::Yellow)),
            Span::raw(visible),
            Span::styled("█", Style::default().add_modifier(Modifier::SLOW_BLINK)),
            Span::styled(
                "  Enter apply  Esc cancel  e.g. state established sport = :443",
                Style::default().add_modifier(Modifier::DIM),
            ),
        ]);
    }
    let mut s = String::new();
    if !app.filter_text.trim().is_empty() {
        let _ = write!(s, " filter: {} │", app.filter_text.trim());
    }
    let p = app.settings.protos;
    let protos: Vec<&str> =
        [(p.tcp, "tcp"), (p.udp, "udp"), (p.unix, "unix")].iter().filter(|x| x.0).map(|x| x.1).collect();
    let (sort, rev) = match app.screen {
        Screen::Ports => (app.port_sort.name(), app.port_reverse),
        _ => (app.sock_sort.name(), app.sock_reverse),
    };
    let keys = match app.screen {
        Screen::Ports => "Enter open",
        Screen::Sockets => "Enter details  Esc back",
        Screen::Detail => "Esc back",
    };
    let _ = write!(
        s,
        " {} │ sort: {sort}{} │ ? help  q quit  {keys}  / filter  s sort  r reverse  t/u/x protocols  p pause  +/- interval",
        protos.join("+"),
        if rev { " reversed" } else { "" }
    );
    if let Some(note) = app.live.as_ref().and_then(|l| l.notes.first()) {
        return Line::from(vec![Span::styled(format!(" {}", escape(note)), theme.alarm()), Span::raw(s)]);
    }
    Line::from(s)
}

fn fmt_ms(d: Duration) -> String {
    if d >= Duration::from_secs(10) { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

fn fmt_interval(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

/// `12s`, `5m03s`, `2h10m`, `3d04h`.
pub fn fmt_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// The last `width` samples as block characters, scaled to their maximum.
pub fn sparkline(samples: &[u32], width: usize) -> String {
    let tail = &samples[samples.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0).max(1);
    tail.iter()
        .map(|&n| if n == 0 { ' ' } else { SPARKS[((n as u64 * 7).div_ceil(max as u64)) as usize % 8] })
        .collect()
}

/// `wk` (0-1023), `reg` (1024-49151), `dyn` (49152-65535), or `eph` inside the host's ephemeral range.
fn port_class(live: &Live, port: Option<u16>) -> &'static str {
    let Some(p) = port else { return "" };
    if live.ephemeral.is_some_and(|r| r.contains(p)) {
        return "eph";
    }
    match crate::ports::classes::PortClass::of(p).name() {
        "well-known" => "wk",
        "registered" => "reg",
        _ => "dyn",
    }
}

fn endpoint_label(k: &GroupKey, dual: bool) -> String {
    match k {
        GroupKey::Listen { ip, port, .. } if dual && ip.is_unspecified() => format!("*:{port}"),
        _ => k.to_string(),
    }
}

/// Columns of the port view: header, width, priority (0 = always shown).
const PORT_COLS: [(&str, u16, u8); 15] = [
    ("Proto", 5, 0),
    ("Endpoint", 0, 0),
    ("Service", 10, 2),
    ("Class", 5, 3),
    ("Socks", 7, 0),
    ("ESTAB", 6, 1),
    ("SYN-R", 5, 4),
    ("T-WAIT", 6, 2),
    ("C-WAIT", 6, 3),
    ("FIN-W", 5, 4),
    ("AcceptQ", 9, 2),
    ("Peers", 6, 2),
    ("Process", 16, 2),
    ("Last 60s", 12, 1),
    // Shown first, and only when several namespaces are.
    ("Namespace", 28, 1),
];
/// The index of the namespace column in [`PORT_COLS`].
const NAMESPACE_COL: usize = 14;

/// Pick the columns that fit `width`, most important first, keeping their order. Column 1 is flexible.
fn fit_columns(cols: &[(&str, u16, u8)], width: u16, flex_min: u16) -> Vec<usize> {
    let mut chosen: Vec<usize> = cols.iter().enumerate().filter(|(_, c)| c.2 == 0).map(|(i, _)| i).collect();
    let used = |ch: &[usize]| -> u16 {
        ch.iter().map(|&i| cols[i].1.max(if cols[i].1 == 0 { flex_min } else { 0 }) + 1).sum()
    };
    for prio in 1..=4 {
        for (i, c) in cols.iter().enumerate().filter(|(_, c)| c.2 == prio) {
            let mut trial = chosen.clone();
            trial.push(i);
            if used(&trial) <= width {
                chosen = trial;
            }
            let _ = c;
        }
    }
    chosen.sort_unstable();
    chosen
}

fn ports(app: &App, live: &Live, f: &mut Frame, area: Rect, theme: &Theme) {
    let several = live.namespaces.len() > 1;
    let fitted = if several {
        fit_columns(&PORT_COLS, area.width, 16)
    } else {
        fit_columns(&PORT_COLS[..NAMESPACE_COL], area.width, 16)
    };
    // The namespace column goes first.
    let cols: Vec<usize> = fitted
        .iter()
        .copied()
        .filter(|&c| c == NAMESPACE_COL)
        .chain(fitted.iter().copied().filter(|&c| c != NAMESPACE_COL))
        .collect();
    let visible = area.height.saturating_sub(1) as usize;
    let offset = scroll_offset(app.port_sel, visible);
    let rows = app.port_rows.iter().enumerate().skip(offset).take(visible).map(|(pos, &gi)| {
        let g = &live.groups[gi];
        let mut style = Style::default();
        if pos == app.port_sel {
            style = theme.selected();
        }
        let cells = cols.iter().map(|&c| port_cell(app, live, g, c, theme));
        Row::new(cells.collect::<Vec<_>>()).style(style)
    });
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|&c| if PORT_COLS[c].1 == 0 { Constraint::Min(16) } else { Constraint::Length(PORT_COLS[c].1) })
        .collect();
    let header = Row::new(cols.iter().map(|&c| PORT_COLS[c].0).collect::<Vec<_>>()).style(theme.header());
    if app.port_rows.is_empty() {
        f.render_widget(Paragraph::new("  no sockets match (t/u/x toggle protocols, / changes the filter)"), area);
        return;
    }
    f.render_widget(Table::new(rows, widths).header(header).column_spacing(1), area);
}

fn port_cell<'a>(app: &App, live: &Live, g: &Group, col: usize, theme: &Theme) -> Cell<'a> {
    let n = |s: State| -> String {
        let v = g.states.get(s);
        if v == 0 { String::new() } else { v.to_string() }
    };
    match col {
        0 => Cell::from(g.key.proto().name()),
        1 => {
            // "!" marks an audit finding on the listener or ephemeral-port pressure on an outbound group.
            let flagged = g.listeners.iter().any(|i| live.audit.contains_key(i)) || live.pressure.contains_key(&g.key);
            let label = endpoint_label(&g.key, g.dual_stack);
            if flagged { Cell::from(format!("! {label}")).style(theme.alarm()) } else { Cell::from(label) }
        }
        3 => Cell::from(port_class(live, g.key.port())),
        2 => Cell::from(g.key.port().and_then(|p| app.services.name(g.key.proto(), p)).unwrap_or_default().to_string()),
        4 => Cell::from(g.len().to_string()),
        5 => Cell::from(n(State::ESTABLISHED)),
        6 => Cell::from(n(State::SYN_RECV)),
        7 => Cell::from(n(State::TIME_WAIT)),
        8 => Cell::from(n(State::CLOSE_WAIT)),
        9 => {
            let v = g.states.get(State::FIN_WAIT1) + g.states.get(State::FIN_WAIT2);
            Cell::from(if v == 0 { String::new() } else { v.to_string() })
        }
        10 => match g.accept_queue {
            Some((q, b)) => {
                let cell = Cell::from(format!("{q}/{b}"));
                if b > 0 && q * 10 >= b * 8 { cell.style(theme.alarm()) } else { cell }
            }
            None => Cell::from(""),
        },
        11 => Cell::from(if g.peers == 0 { String::new() } else { g.peers.to_string() }),
        12 => {
            let first = g.listeners.first().or(g.members.first());
            match (&live.owners, first) {
                (Some(o), Some(&i)) => {
                    let label = o.label(i as usize);
                    if label == "hidden" { Cell::from(label).style(theme.dim()) } else { Cell::from(label) }
                }
                _ => Cell::from(""),
            }
        }
        13 => {
            Cell::from(sparkline(live.history.get(&g.key).map_or(&[][..], |h| &h[..]), 12)).style(theme.fg(Color::Cyan))
        }
        _ => Cell::from(live.namespace_label(g.key.netns()).unwrap_or_default().to_string()),
    }
}

const SOCK_COLS: [(&str, u16, u8); 8] = [
    ("Local", 0, 0),
    ("Peer", 0, 0),
    ("State", 11, 0),
    ("Recv-Q", 7, 2),
    ("Send-Q", 7, 3),
    ("Age", 7, 1),
    ("Process", 16, 2),
    ("RTT ms", 8, 3),
];

/// An endpoint as the socket list shows it.
pub fn end_label(e: &Endpoint) -> String {
    end_text(e)
}

fn end_text(e: &Endpoint) -> String {
    match e {
        Endpoint::Inet { ip, port } => {
            let port = if *port == 0 { "*".to_string() } else { port.to_string() };
            format!("{}:{port}", crate::output::Bracketed(*ip))
        }
        Endpoint::Unix { name, inode } => match name {
            Some(n) => format!("{} {inode}", n.display()),
            None if *inode == 0 => "*".into(),
            None => format!("* {inode}"),
        },
    }
}

fn row_socket(live: &Live, r: SockRow) -> (&Socket, Instant, bool, bool) {
    match r {
        SockRow::Live(i) => (&live.sockets[i as usize], live.first_seen(i as usize), live.is_new[i as usize], false),
        SockRow::Closed(i) => {
            let c = &live.closed[i as usize];
            (&c.socket, c.first_seen, false, true)
        }
    }
}

fn sockets(app: &App, live: &Live, f: &mut Frame, area: Rect, theme: &Theme) {
    let Some(key) = &app.group else { return };
    let mut spans = vec![
        Span::styled(format!(" {} {} ", key.proto().name(), key), Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!("— {} sockets", app.sock_rows.len())),
    ];
    if let Some(ns) = live.namespace_label(key.netns()) {
        spans.insert(1, Span::styled(format!("in {ns} "), theme.fg(Color::Cyan)));
    }
    let group = live.groups.iter().find(|g| &g.key == key);
    let reasons: Vec<String> = group
        .into_iter()
        .flat_map(|g| g.listeners.iter().filter_map(|i| live.audit.get(i)).flatten().cloned())
        .take(1)
        .collect();
    if let Some(r) = reasons.first() {
        spans.push(Span::styled(format!("  ! {r}"), theme.alarm()));
    }
    if let Some(crate::ports::classes::Pressure { sockets: n, capacity: cap, .. }) = live.pressure.get(key) {
        spans.push(Span::styled(
            format!("  ! {n} of {cap} ephemeral ports towards this destination from one address"),
            theme.alarm(),
        ));
    }
    let title_line = Line::from(spans);
    f.render_widget(Paragraph::new(title_line), Rect { height: 1, ..area });
    let mut area = Rect { y: area.y + 1, height: area.height.saturating_sub(1), ..area };
    if app.show_events && area.height > 12 {
        let h = 9;
        area.height -= h;
        event_log(app, live, key, f, Rect { y: area.y + area.height, height: h, ..area }, theme);
    }
    let cols = fit_columns(&SOCK_COLS, area.width, 20);
    let visible = area.height.saturating_sub(1) as usize;
    let offset = scroll_offset(app.sock_sel, visible);
    let now = app.now.unwrap_or(live.taken_at);
    let rows = app.sock_rows.iter().enumerate().skip(offset).take(visible).map(|(pos, r)| {
        let (s, first, new, closed) = row_socket(live, *r);
        let cells: Vec<Cell> = cols
            .iter()
            .map(|&c| match c {
                0 => Cell::from(end_text(&s.local)),
                1 => Cell::from(end_text(&s.peer)),
                2 => Cell::from(if closed { "closed" } else { s.state.display_name(s.proto) }),
                3 => Cell::from(s.recv_q.map_or("-".into(), |q| q.to_string())),
                4 => Cell::from(s.send_q.map_or("-".into(), |q| q.to_string())),
                5 => Cell::from(fmt_age(now.saturating_duration_since(first))),
                6 => Cell::from(match (&live.owners, r) {
                    (Some(o), SockRow::Live(i)) => o.label(*i as usize),
                    _ => "-".into(),
                }),
                _ => Cell::from(
                    s.extra
                        .as_deref()
                        .and_then(|x| x.tcp_info.as_ref())
                        .and_then(|t| t.rtt_us().filter(|r| *r != 0))
                        .map_or(String::new(), |us| format!("{:.3}", us as f64 / 1000.0)),
                ),
            })
            .collect();
        let mut style = if closed {
            theme.closed()
        } else if new {
            theme.new_socket()
        } else {
            Style::default()
        };
        if pos == app.sock_sel {
            style = style.patch(theme.selected());
        }
        Row::new(cells).style(style)
    });
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|&c| if SOCK_COLS[c].1 == 0 { Constraint::Fill(1) } else { Constraint::Length(SOCK_COLS[c].1) })
        .collect();
    let header = Row::new(cols.iter().map(|&c| SOCK_COLS[c].0).collect::<Vec<_>>()).style(theme.header());
    f.render_widget(Table::new(rows, widths).header(header).column_spacing(1), area);
}

fn detail(app: &App, live: &Live, f: &mut Frame, area: Rect) {
    let Some(r) = app.detail else { return };
    let (s, first, _, closed) = row_socket(live, r);
    let now = app.now.unwrap_or(live.taken_at);
    let opt = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
    let mut lines: Vec<(String, String)> = vec![
        ("protocol".into(), format!("{} ({})", s.netid(), s.family.name())),
        (
            "state".into(),
            if closed {
                format!("closed (was {})", s.state.display_name(s.proto))
            } else {
                s.state.display_name(s.proto).into()
            },
        ),
        ("local".into(), end_text(&s.local)),
        ("peer".into(), end_text(&s.peer)),
        ("recv-q".into(), opt(s.recv_q)),
        ("send-q".into(), opt(s.send_q)),
        ("uid".into(), opt(s.uid)),
        ("inode".into(), s.inode.to_string()),
        ("cookie".into(), s.cookie.map_or("-".into(), |c| format!("{c:#x}"))),
        ("age".into(), format!("{} (first seen by this dashboard)", fmt_age(now.saturating_duration_since(first)))),
    ];
    if let Some(i) = s.ifindex.filter(|i| *i != 0) {
        lines.push(("bound device".into(), format!("ifindex {i}")));
    }
    if let Some(v) = s.v6only {
        lines.push(("v6only".into(), if v { "yes" } else { "no (dual-stack)" }.into()));
    }
    if let Some(t) = s.timer {
        lines.push(("timer".into(), format!("{:?}, {} ms left, {} retransmits", t.kind, t.expires_ms, t.retrans)));
    }
    if let SockRow::Live(i) = r
        && let Some(reasons) = live.audit.get(&i)
    {
        for reason in reasons {
            lines.push(("audit".into(), format!("! {reason}")));
        }
    }
    if let Some(p) = s.local.port() {
        let class = crate::ports::classes::PortClass::of(p).name();
        let eph = live.ephemeral.is_some_and(|r| r.contains(p));
        lines.push(("local port".into(), format!("{class}{}", if eph { ", in the ephemeral range" } else { "" })));
    }
    if let (Some(o), SockRow::Live(i)) = (&live.owners, r) {
        let text = match o.of.get(&i) {
            Some(Owner::Held(HeldBy { first, count })) => {
                let p = &o.processes[*first as usize];
                let more = if *count > 1 { format!(" (and {} more)", count - 1) } else { String::new() };
                let (comm, cmdline) = (escape(&p.comm), escape(&p.cmdline));
                format!("{comm} pid {} uid {}: {cmdline}{more}", p.pid, p.uid)
            }
            Some(Owner::Hidden) => format!(
                "hidden: owned by uid {}; another user's processes need root or CAP_SYS_PTRACE to inspect",
                s.uid.map_or("?".into(), |u| u.to_string())
            ),
            _ => "none (no process holds this socket)".into(),
        };
        lines.push(("process".into(), text));
    }
    if let Some(x) = s.extra.as_deref() {
        if let Some(t) = &x.tcp_info {
            lines.push(("tcp_info".into(), crate::output::tcp_info::tcp_info(t, x.congestion.as_deref())));
        }
        if let Some(m) = x.memory.as_deref() {
            lines.push(("memory".into(), crate::output::tcp_info::memory(m)));
        }
    }
    let text: Vec<Line> = lines
        .into_iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:>14}  "), Style::default().add_modifier(Modifier::BOLD)),
                Span::raw(v),
            ])
        })
        .collect();
    let block = Block::default().borders(Borders::ALL).title(" socket ");
    f.render_widget(Paragraph::new(text).block(block).wrap(Wrap { trim: false }), area);
}

const HELP: &[(&str, &str)] = &[
    ("Up/Down j/k", "select"),
    ("PgUp/PgDn g/G", "page, first, last"),
    ("Enter", "open the group / the socket"),
    ("Esc", "back"),
    ("/", "filter in ss syntax, e.g. dport = :443"),
    ("s / r", "cycle sort (incl. rtt, namespace) / reverse"),
    ("t u x", "show or hide TCP, UDP, UNIX"),
    ("K", "close the group's connections or the socket"),
    ("e", "event log of the open group"),
    ("p or space", "pause (the snapshot freezes)"),
    ("+ / -", "longer / shorter pause between refreshes"),
    ("mouse", "wheel scrolls, click selects"),
    ("q, Ctrl-C", "quit"),
];

fn help(f: &mut Frame, area: Rect) {
    let w = 64.min(area.width);
    let h = (HELP.len() as u16 + 4).min(area.height);
    let r = Rect::new(area.width.saturating_sub(w) / 2, area.height.saturating_sub(h) / 2, w, h);
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!(" {k:<14} "), Style::default().add_modifier(Modifier::BOLD)),
                Span::raw(*v),
            ])
        })
        .collect();
    lines.push(Line::from(" any key closes this help"));
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" keys ")), r);
}
