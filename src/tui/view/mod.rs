//! Drawing: `view(&App, &Shown, &mut Frame)` turns the state and the frame's presentation into ratatui
//! widgets, and does nothing else. Only the visible rows are turned into widgets, so a group of 100k sockets
//! costs no more to draw than one of ten.

pub mod charts;
pub mod detail;
pub mod replay;
pub mod tables;

use std::fmt::Write as _;
use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::group::GroupKey;
use crate::model::text::escape;
use crate::model::{Proto, State};
use crate::tui::model::live::Live;
use crate::tui::present::Shown;
use crate::tui::present::help::HELP;
use crate::tui::present::tables::{port_sort_name, sock_sort_name};
use crate::tui::present::text::{fmt_age, fmt_interval, fmt_ms, fmt_secs};
use crate::tui::state::{App, Screen, SockRow};

/// Styles, with colour only where it carries meaning (states, alarms, new and closing sockets); without
/// colour (`NO_COLOR`) the same meaning is carried by bold, underline and dim.
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set (to anything but the empty string).
    pub fn wanted() -> bool {
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    }

    pub fn fg(&self, c: Color) -> Style {
        if self.color { Style::default().fg(c) } else { Style::default() }
    }
    pub fn header(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }
    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    pub fn new_socket(&self) -> Style {
        if self.color { Style::default().fg(Color::Green) } else { Style::default().add_modifier(Modifier::BOLD) }
    }
    pub fn dim(&self) -> Style {
        Style::default().add_modifier(Modifier::DIM)
    }
    pub fn closed(&self) -> Style {
        Style::default().add_modifier(Modifier::DIM | Modifier::CROSSED_OUT)
    }
    pub fn alarm(&self) -> Style {
        if self.color {
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        }
    }
    pub fn bar(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    /// A TCP state: handshakes yellow, the closing states that need attention (CLOSE-WAIT: the application
    /// has not closed) magenta, TIME-WAIT and the rest of the teardown dim.
    pub fn state(&self, s: State) -> Style {
        match s {
            State::SYN_SENT | State::SYN_RECV => self.fg(Color::Yellow),
            State::CLOSE_WAIT | State::LAST_ACK | State::CLOSING => {
                if self.color {
                    self.fg(Color::Magenta)
                } else {
                    Style::default().add_modifier(Modifier::BOLD)
                }
            }
            State::TIME_WAIT | State::FIN_WAIT1 | State::FIN_WAIT2 => self.dim(),
            _ => Style::default(),
        }
    }
}

/// Draw the whole screen as `shown` lays it out (computed from `app` for this frame).
pub fn view(app: &App, shown: &Shown, f: &mut Frame) {
    let area = f.area();
    let areas = shown.areas;
    let theme = Theme { color: app.color };
    f.render_widget(Paragraph::new(title(app, &theme)).style(theme.bar()), areas.title);
    match (&app.live, app.screen) {
        (None, _) => f.render_widget(Paragraph::new("  collecting sockets..."), areas.body),
        (Some(_), Screen::Ports) if app.port_rows.is_empty() => f.render_widget(
            Paragraph::new("  no sockets match (t/u/x toggle protocols, / changes the filter)"),
            areas.body,
        ),
        (Some(live), Screen::Sockets) => sockets(app, live, shown, f, &theme),
        (Some(_), Screen::Detail) => {
            if let Some(d) = &shown.detail {
                detail::detail(app, d, f, &theme);
            }
        }
        (Some(_), Screen::Ports) => {}
    }
    if app.screen == Screen::Ports
        && let Some(t) = &shown.table
        && !app.port_rows.is_empty()
    {
        tables::table(t, f, &theme);
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
    if let Some(at) = app.sort_picker {
        sort_picker(app, shown, at, f, area);
    }
    if let Some(d) = &app.kill {
        kill_dialog(d, f, area, &theme);
    }
}

/// The open group's event log: opens and closes, newest first.
fn event_log(app: &App, live: &Live, key: &GroupKey, f: &mut Frame, area: Rect, theme: &Theme) {
    let now = app.now.unwrap_or(live.taken_at);
    let log = crate::tui::present::eventlog::group_log(live, key, area.height.saturating_sub(2) as usize);
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

fn kill_dialog(d: &crate::tui::state::kill::KillDialog, f: &mut Frame, area: Rect, theme: &Theme) {
    let lines = d.lines();
    let w = (lines.iter().map(|l| l.chars().count()).max().unwrap_or(20) as u16 + 4).min(area.width);
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = Rect::new(area.width.saturating_sub(w) / 2, area.height.saturating_sub(h) / 2, w, h);
    let text: Vec<Line> = lines.into_iter().map(|l| Line::from(format!(" {l}"))).collect();
    f.render_widget(Clear, r);
    let block = Block::default().borders(Borders::ALL).title(" close sockets ").border_style(theme.alarm());
    f.render_widget(Paragraph::new(text).block(block).wrap(Wrap { trim: false }), r);
}

/// The header, most important first (a narrow terminal cuts the end): the socket count and the host's state
/// mix, the age of the data, the counts by state, then where the data comes from and how often.
fn title(app: &App, theme: &Theme) -> Line<'static> {
    let mut spans = vec![Span::styled(" sockscope ", Style::default().add_modifier(Modifier::BOLD))];
    if let Some(live) = &app.live {
        spans.push(Span::raw(format!("│ {} sockets ", live.total)));
        spans.extend(charts::state_mix(&live.totals, 10, theme));
        // The age of the data: the full table's, which is the oldest part (listeners refresh every interval).
        let age = app.now.map_or(Duration::ZERO, |n| n.saturating_duration_since(live.taken_at));
        let old = format!(" │ {} old │", fmt_secs(age));
        spans.push(if age > crate::tui::model::refresh::MAX_AGE {
            Span::styled(old, theme.alarm())
        } else {
            Span::raw(old)
        });
        let mut t = String::new();
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
        let every = if live.full_every > app.settings.interval {
            format!(", all every {}", fmt_secs(live.full_every))
        } else {
            String::new()
        };
        let _ = write!(
            t,
            " │ {} {} │ interval {}{every}",
            live.source,
            fmt_ms(live.collect_time),
            fmt_interval(app.settings.interval)
        );
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
        Screen::Ports => (port_sort_name(app.port_sort), app.port_reverse),
        _ => (sock_sort_name(app.sock_sort), app.sock_reverse),
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

/// `— 221 sockets`, and the closed ones still listed (dimmed, for [`crate::tui::model::live::LINGER`]) apart.
fn group_count(app: &App) -> String {
    let closed = app.sock_rows.iter().filter(|r| matches!(r, SockRow::Closed(_))).count();
    let open = app.sock_rows.len() - closed;
    match closed {
        0 => format!("— {open} sockets"),
        n => format!("— {open} sockets (+{n} closed just now)"),
    }
}

fn sockets(app: &App, live: &Live, shown: &Shown, f: &mut Frame, theme: &Theme) {
    let Some(parts) = shown.group else { return };
    let area = parts.title;
    let Some(key) = &app.group else { return };
    let mut spans = vec![
        Span::styled(format!(" {} {} ", key.proto().name(), key), Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(group_count(app)),
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
    // The holders take what the group's name and count leave (half of it when an audit mark follows, which
    // may be cut): whole ones, then `+N`.
    const HELD_BY: &str = ", held by ";
    let head = if live.namespace_label(key.netns()).is_some() { 3 } else { 2 };
    let used: usize = spans[..head].iter().map(|s| s.content.chars().count()).sum::<usize>() + HELD_BY.len();
    let room = (area.width as usize).saturating_sub(used);
    let room = if spans.len() > head { room / 2 } else { room };
    if let Some(o) = &live.owners
        && let Some(gi) = live.groups.iter().position(|g| &g.key == key)
        && let Some(holders) = o.groups.get(gi).and_then(|go| crate::group::owners::title_label(go, &o.processes, room))
    {
        spans.insert(head, Span::raw(format!("{HELD_BY}{holders}")));
    }
    let title_line = Line::from(spans);
    f.render_widget(Paragraph::new(title_line), parts.title);
    if let Some(g) = group
        && parts.charts.height > 0
    {
        let empty = crate::tui::model::history::Series::default();
        let peers = charts::peer_texts(g);
        let pictures = charts::GroupPictures::live(g, app.accept_queue(g), app.open_series().unwrap_or(&empty), &peers);
        charts::group_charts(f, parts.charts, &pictures, theme);
    }
    if let Some(r) = parts.events {
        event_log(app, live, key, f, r, theme);
    }
    if let Some(t) = &shown.table {
        tables::table(t, f, theme);
    }
}

/// The sort picker: the screen's columns, the current sort marked, the highlighted one reversed.
fn sort_picker(app: &App, shown: &Shown, at: usize, f: &mut Frame, area: Rect) {
    let choices = &shown.sort_choices;
    let reverse = if app.screen == Screen::Ports { app.port_reverse } else { app.sock_reverse };
    let w = 34.min(area.width);
    let h = (choices.len() as u16 + 3).min(area.height);
    let r = Rect::new(area.width.saturating_sub(w) / 2, area.height.saturating_sub(h) / 2, w, h);
    // The list scrolls to keep the highlighted column in view on a short screen.
    let rows = h.saturating_sub(3) as usize;
    let first = at.saturating_sub(rows.saturating_sub(1));
    let mut lines: Vec<Line> = choices
        .iter()
        .enumerate()
        .skip(first)
        .take(rows)
        .map(|(i, c)| {
            let (name, current) = (c.name, c.current);
            let mark = match (current, reverse) {
                (false, _) => "  ",
                (true, false) => " \u{25bc}",
                (true, true) => " \u{25b2}",
            };
            let style = if i == at { Style::default().add_modifier(Modifier::REVERSED) } else { Style::default() };
            Line::styled(format!(" {name:<24}{mark} "), style)
        })
        .collect();
    lines.push(Line::from(" Enter sorts (again: reverses)"));
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" sort by ")), r);
}

fn help(f: &mut Frame, area: Rect) {
    let w = 66.min(area.width);
    let h = (HELP.len() as u16 + 4).min(area.height);
    let r = Rect::new(area.width.saturating_sub(w) / 2, area.height.saturating_sub(h) / 2, w, h);
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!(" {k:<15} "), Style::default().add_modifier(Modifier::BOLD)),
                Span::raw(*v),
            ])
        })
        .collect();
    lines.push(Line::from(" any key closes this help"));
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" keys ")), r);
}
