//! The two tables of the dashboard, the groups (home) and one group's sockets: cell texts, columns sized to
//! the content of the visible rows, the sort column marked in the header. Pure; only visible rows are built.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::app::{App, SockRow};
use super::columns::{self, PortCol, SockCol, Spec};
use super::layout::scroll_offset;
use super::live::Live;
use super::view::{Theme, fmt_age};
use crate::group::GroupKey;
use crate::group::owners::{self, ellipsize};
use crate::model::text::escape;
use crate::model::{Endpoint, Socket, State};

const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// Width of the trend column (one character a refresh).
const TREND: usize = 12;
/// Content-sized columns still stop here (a 200-character UNIX path does not push everything off).
const MAX_NATURAL: usize = 48;

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

pub fn endpoint_label(k: &GroupKey, dual: bool) -> String {
    match k {
        GroupKey::Listen { ip, port, .. } if dual && ip.is_unspecified() => format!("*:{port}"),
        _ => escape(&k.to_string()).into_owned(),
    }
}

pub fn end_text(e: &Endpoint) -> String {
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
        // The dashboard collects TCP, UDP and UNIX only.
        _ => "*".into(),
    }
}

/// A socket row's socket, first-seen time, and whether it is new or closed.
pub fn row_socket(live: &Live, r: SockRow) -> Option<(&Socket, Instant, bool, bool)> {
    match r {
        SockRow::Live(i) => {
            let i = i as usize;
            live.socket(i).map(|s| (s, live.first_seen(i), live.is_new(i), false))
        }
        SockRow::Closed(i) => live.closed.get(i as usize).map(|c| (&c.socket, c.first_seen, false, true)),
    }
}

fn flagged(live: &Live, gi: usize) -> bool {
    let g = &live.groups[gi];
    g.listeners.iter().any(|i| live.audit.contains_key(i)) || live.pressure.contains_key(&g.key)
}

/// The text of one cell of the group table, at most `max` characters where the column can shorten.
fn port_text(app: &App, live: &Live, gi: usize, col: PortCol, max: usize) -> String {
    let g = &live.groups[gi];
    let n = |v: u32| if v == 0 { String::new() } else { v.to_string() };
    match col {
        PortCol::Namespace => ellipsize(live.namespace_label(g.key.netns()).unwrap_or_default(), max),
        PortCol::Proto => g.key.proto().name().into(),
        PortCol::Endpoint => {
            // "!" marks an audit finding on the listener or ephemeral-port pressure on an outbound group.
            let label = endpoint_label(&g.key, g.dual_stack);
            ellipsize(&if flagged(live, gi) { format!("! {label}") } else { label }, max)
        }
        PortCol::Service => {
            ellipsize(g.key.port().and_then(|p| app.services.name(g.key.proto(), p)).unwrap_or_default(), max)
        }
        PortCol::Class => port_class(live, g.key.port()).into(),
        PortCol::Sockets => g.len().to_string(),
        PortCol::Established => n(g.states.get(State::ESTABLISHED)),
        PortCol::SynRecv => n(g.states.get(State::SYN_RECV)),
        PortCol::TimeWait => n(g.states.get(State::TIME_WAIT)),
        PortCol::CloseWait => n(g.states.get(State::CLOSE_WAIT)),
        PortCol::FinWait => n(g.states.get(State::FIN_WAIT1) + g.states.get(State::FIN_WAIT2)),
        PortCol::AcceptQueue => app.accept_queue(g).map_or(String::new(), |(q, b)| format!("{q}/{b}")),
        PortCol::Peers => n(g.peers),
        PortCol::Process => match &live.owners {
            Some(o) => o.groups.get(gi).map_or(String::new(), |go| owners::row_label(go, &o.processes, max)),
            None => String::new(),
        },
        PortCol::Trend => sparkline(live.history.get(&g.key).map_or(&[][..], |h| &h[..]), TREND),
    }
}

/// Colour only where it means something: audit marks and near-full accept queues alarm, hidden is dim.
fn port_style(app: &App, live: &Live, gi: usize, col: PortCol, text: &str, theme: &Theme) -> Style {
    let g = &live.groups[gi];
    match col {
        PortCol::Endpoint if flagged(live, gi) => theme.alarm(),
        PortCol::AcceptQueue => match app.accept_queue(g) {
            Some((q, b)) if b > 0 && q * 10 >= b * 8 => theme.alarm(),
            _ => Style::default(),
        },
        PortCol::Process if text == "hidden" => theme.dim(),
        // The trend is a picture, not an alarm: drawn quietly.
        PortCol::Trend => theme.dim(),
        _ => Style::default(),
    }
}

/// Header cells with the sort column marked (`▼` biggest or A first, `▲` reversed).
fn header<'a>(specs: &[Spec], chosen: &[(usize, u16)], sorted: usize, reverse: bool, theme: &Theme) -> Row<'a> {
    let cells = chosen.iter().map(|&(i, _)| {
        let s = specs[i];
        let text =
            if i == sorted { format!("{}{}", s.head, if reverse { "▲" } else { "▼" }) } else { s.head.into() };
        let line = if s.right { Line::from(text).right_aligned() } else { Line::from(text) };
        Cell::from(line)
    });
    Row::new(cells.collect::<Vec<_>>()).style(theme.header())
}

fn cell<'a>(text: String, spec: Spec, style: Style) -> Cell<'a> {
    let line = if spec.right { Line::from(text).right_aligned() } else { Line::from(text) };
    Cell::from(line).style(style)
}

fn chars(s: &str) -> u16 {
    s.chars().count().min(u16::MAX as usize) as u16
}

/// The columns of the group table on a screen `width` wide, for the rows now visible: (column, width).
pub fn port_layout(app: &App, live: &Live, width: u16, visible: usize) -> Vec<(usize, u16)> {
    let specs: Vec<Spec> = PortCol::ALL.iter().map(|c| c.spec()).collect();
    // The header's sort marker takes one more character.
    let mut natural: Vec<u16> = specs.iter().map(|s| chars(s.head) + 1).collect();
    let mut filled = vec![false; specs.len()];
    let offset = scroll_offset(app.port_sel, visible);
    for &gi in app.port_rows.iter().skip(offset).take(visible) {
        for (c, col) in PortCol::ALL.iter().enumerate() {
            let t = port_text(app, live, gi, *col, MAX_NATURAL);
            natural[c] = natural[c].max(chars(&t));
            filled[c] |= !t.trim().is_empty();
        }
    }
    // The column the table is sorted by stays, empty or not (its marker says how the rows are ordered).
    if let Some(c) = PortCol::ALL.iter().position(|c| *c == app.port_sort) {
        filled[c] = true;
    }
    let trend = PortCol::ALL.iter().position(|c| *c == PortCol::Trend).unwrap_or(0);
    natural[trend] = natural[trend].max(TREND as u16);
    // The namespace column (the first) only when several namespaces are shown.
    let skip = usize::from(live.namespaces.len() <= 1);
    columns::fit(&specs[skip..], &natural[skip..], &filled[skip..], width)
        .into_iter()
        .map(|(c, w)| (c + skip, w))
        .collect()
}

pub fn ports(app: &App, live: &Live, f: &mut Frame, area: Rect, theme: &Theme) {
    if app.port_rows.is_empty() {
        f.render_widget(Paragraph::new("  no sockets match (t/u/x toggle protocols, / changes the filter)"), area);
        return;
    }
    let visible = area.height.saturating_sub(1) as usize;
    let offset = scroll_offset(app.port_sel, visible);
    let chosen = port_layout(app, live, area.width, visible);
    let specs: Vec<Spec> = PortCol::ALL.iter().map(|c| c.spec()).collect();
    let rows = app.port_rows.iter().enumerate().skip(offset).take(visible).map(|(pos, &gi)| {
        let cells = chosen.iter().map(|&(c, w)| {
            let col = PortCol::ALL[c];
            let text = port_text(app, live, gi, col, w as usize);
            let style = port_style(app, live, gi, col, &text, theme);
            cell(text, specs[c], style)
        });
        let row = Row::new(cells.collect::<Vec<_>>());
        if pos == app.port_sel { row.style(theme.selected()) } else { row }
    });
    let sorted = PortCol::ALL.iter().position(|c| *c == app.port_sort).unwrap_or(0);
    let head = header(&specs, &chosen, sorted, app.port_reverse, theme);
    let widths: Vec<Constraint> = chosen.iter().map(|&(_, w)| Constraint::Length(w)).collect();
    f.render_widget(Table::new(rows, widths).header(head).column_spacing(1), area);
}

fn sock_text(app: &App, live: &Live, r: SockRow, col: SockCol, now: Instant, max: usize) -> String {
    let Some((s, first, _, closed)) = row_socket(live, r) else { return String::new() };
    let (recv_q, send_q) = if closed { (s.recv_q, s.send_q) } else { app.queues(s) };
    let tcp = |f: fn(&crate::model::internals::TcpInfo) -> Option<u32>| {
        s.extra.as_deref().and_then(|x| x.tcp_info.as_ref()).and_then(f)
    };
    match col {
        SockCol::Local => ellipsize(&end_text(&s.local), max),
        SockCol::Peer => ellipsize(&end_text(&s.peer), max),
        SockCol::State => if closed { "closed" } else { s.state.display_name(s.proto) }.into(),
        SockCol::RecvQ => recv_q.map_or("-".into(), |q| q.to_string()),
        SockCol::SendQ => send_q.map_or("-".into(), |q| q.to_string()),
        SockCol::Age => fmt_age(now.saturating_duration_since(first)),
        SockCol::Process => match (&live.owners, r) {
            (Some(o), SockRow::Live(i)) => o.label(i as usize, max),
            _ => "-".into(),
        },
        SockCol::Rtt => {
            tcp(|t| t.rtt_us().filter(|r| *r != 0)).map_or(String::new(), |us| format!("{:.3}", us as f64 / 1000.0))
        }
        SockCol::Retrans => tcp(|t| t.total_retrans()).map_or(String::new(), |n| n.to_string()),
    }
}

/// The columns of the socket table: (column, width).
pub fn sock_layout(app: &App, live: &Live, width: u16, visible: usize) -> Vec<(usize, u16)> {
    let specs: Vec<Spec> = SockCol::ALL.iter().map(|c| c.spec()).collect();
    let mut natural: Vec<u16> = specs.iter().map(|s| chars(s.head) + 1).collect();
    let now = app.now.unwrap_or(live.taken_at);
    let offset = scroll_offset(app.sock_sel, visible);
    let mut filled = vec![false; specs.len()];
    for &r in app.sock_rows.iter().skip(offset).take(visible) {
        for (c, col) in SockCol::ALL.iter().enumerate() {
            let t = sock_text(app, live, r, *col, now, MAX_NATURAL);
            natural[c] = natural[c].max(chars(&t));
            filled[c] |= !t.trim().is_empty();
        }
    }
    if let Some(c) = SockCol::ALL.iter().position(|c| *c == app.sock_sort) {
        filled[c] = true;
    }
    columns::fit(&specs, &natural, &filled, width)
}

/// The socket table of the open group in `area` (its first line is the header).
pub fn sockets_table(app: &App, live: &Live, f: &mut Frame, area: Rect, theme: &Theme) {
    let visible = area.height.saturating_sub(1) as usize;
    let offset = scroll_offset(app.sock_sel, visible);
    let now = app.now.unwrap_or(live.taken_at);
    let chosen = sock_layout(app, live, area.width, visible);
    let specs: Vec<Spec> = SockCol::ALL.iter().map(|c| c.spec()).collect();
    let rows = app.sock_rows.iter().enumerate().skip(offset).take(visible).map(|(pos, r)| {
        let (state, new, closed) =
            row_socket(live, *r).map_or((State::CLOSE, false, true), |(s, _, n, c)| (s.state, n, c));
        let cells: Vec<Cell> = chosen
            .iter()
            .map(|&(c, w)| {
                let col = SockCol::ALL[c];
                let style = if col == SockCol::State && !closed { theme.state(state) } else { Style::default() };
                cell(sock_text(app, live, *r, col, now, w as usize), specs[c], style)
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
    let sorted = SockCol::ALL.iter().position(|c| *c == app.sock_sort).unwrap_or(0);
    let head = header(&specs, &chosen, sorted, app.sock_reverse, theme);
    let widths: Vec<Constraint> = chosen.iter().map(|&(_, w)| Constraint::Length(w)).collect();
    f.render_widget(Table::new(rows, widths).header(head).column_spacing(1), area);
}

/// The column whose header is at screen column `x` in a table laid out as `chosen` (gap 1).
pub fn column_at(chosen: &[(usize, u16)], x: u16) -> Option<usize> {
    let mut left = 0u16;
    for &(c, w) in chosen {
        if x >= left && x < left + w + 1 {
            return Some(c);
        }
        left += w + 1;
    }
    None
}
