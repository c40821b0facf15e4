//! Drawing `sockscope replay FILE`: the groups of the sample under the cursor, the trend of the selected group
//! over the whole recording, and its events up to then. An open group is drawn as the live dashboard draws
//! one: its states and accept queue over the whole recording (the live dashboard's charts, fed from the
//! recording) and its top peers at the cursor.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::Theme;
use super::charts::{GroupPictures, group_charts};
use crate::clock;
use crate::model::text::escape_quoted;
use crate::output::recording::states_text;
use crate::tui::present::layout::scroll_offset;
use crate::tui::present::replay::{axis_times, buckets, trend};
use crate::tui::present::text::sparkline;
use crate::tui::state::replay::Replay;

/// Draw the replay.
pub fn view(r: &Replay, f: &mut Frame) {
    let area = f.area();
    if area.height < 4 || area.width < 20 {
        f.render_widget(Paragraph::new("terminal too small"), area);
        return;
    }
    let s = r.samples.get(r.cursor);
    let title = match s {
        Some(s) => format!(
            " replay {} │ sample {}/{} at {} │ {} sockets │ +{} -{} since the previous",
            escape_quoted(&r.file),
            r.cursor + 1,
            r.samples.len(),
            clock::rfc3339(s.time_ms),
            s.sockets,
            s.opened,
            s.closed
        ),
        None => format!(" replay {} │ no samples", escape_quoted(&r.file)),
    };
    f.render_widget(
        Paragraph::new(title).style(Style::default().add_modifier(Modifier::REVERSED)),
        Rect { height: 1, ..area },
    );
    // The timeline: total sockets per sample, the cursor marked below.
    let w = area.width.saturating_sub(2) as usize;
    let totals: Vec<u32> = r.samples.iter().map(|s| s.sockets.min(u32::MAX as u64) as u32).collect();
    let line = sparkline(&buckets(&totals, w), w);
    let pos =
        if r.samples.len() <= 1 { 0 } else { r.cursor * (line.chars().count().max(1) - 1) / (r.samples.len() - 1) };
    f.render_widget(
        Paragraph::new(vec![Line::from(format!(" {line}")), Line::from(format!(" {}^", " ".repeat(pos)))]),
        Rect { y: 1, height: 2, ..area },
    );

    if r.open.is_some() {
        group_screen(r, f, Rect { y: 3, height: area.height.saturating_sub(4), ..area });
    } else {
        group_list(r, f, area);
    }
    let status = match (&r.input, &r.message) {
        (Some(i), _) => format!(" jump to: {i}█  (2026-11-30T20:31:00Z, 20:31, -5m, @UNIXSECONDS; Enter, Esc)"),
        (None, Some(m)) => format!(" {m}"),
        (None, None) if r.open.is_some() => {
            " ←/→ step  PgUp/PgDn 10  Home/End  : jump to a time  Esc back  q quit".into()
        }
        (None, None) => " ←/→ step  PgUp/PgDn 10  Home/End  ↑/↓ group  Enter open  : jump to a time  q quit".into(),
    };
    f.render_widget(Paragraph::new(status), Rect { y: area.height - 1, height: 1, ..area });
}

/// The groups of the cursor's sample, and below them the selected group's trend and events.
fn group_list(r: &Replay, f: &mut Frame, area: Rect) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let w = area.width.saturating_sub(2) as usize;
    let bottom_h = if area.height > 20 { 10 } else { 0 };
    let table_h = area.height.saturating_sub(4 + bottom_h);
    let table = Rect { y: 3, height: table_h, ..area };
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{:<34} {:<5} {:>7} {:>9} {:>5}  {:<18} States",
            "Group", "Proto", "Sockets", "AcceptQ", "Peers", "Owner"
        ),
        bold,
    ))];
    let visible = table_h.saturating_sub(1) as usize;
    let offset = scroll_offset(r.sel, visible);
    for (i, g) in r.groups.iter().enumerate().skip(offset).take(visible) {
        let q = match (g.accept_queue, g.accept_backlog) {
            (Some(q), Some(b)) => format!("{q}/{b}"),
            _ => "-".into(),
        };
        let text = format!(
            "{:<34} {:<5} {:>7} {:>9} {:>5}  {:<18} {}",
            escape_quoted(&g.label()),
            g.key.proto().name(),
            g.sockets,
            q,
            g.peers,
            g.owner.as_deref().map_or("-".into(), escape_quoted),
            states_text(g)
        );
        let style = if i == r.sel { Style::default().add_modifier(Modifier::REVERSED) } else { Style::default() };
        lines.push(Line::from(Span::styled(text, style)));
    }
    f.render_widget(Paragraph::new(lines), table);

    if bottom_h > 0 {
        let b = Rect { y: 3 + table_h, height: bottom_h, ..area };
        let name = r.selected().map_or(String::new(), |g| escape_quoted(&g.label()).into_owned());
        let trend = sparkline(&buckets(&trend(&r.series), w), w);
        let mut lines = vec![Line::from(format!(" {trend}"))];
        for e in r.events.iter().take(bottom_h.saturating_sub(3) as usize) {
            let mut out = Vec::new();
            let _ = crate::output::recording::render_event(&mut out, e);
            lines.push(Line::from(format!(" {}", String::from_utf8_lossy(&out).trim_end())));
        }
        let block = Block::default()
            .borders(Borders::TOP)
            .title(format!(" {name}: sockets over the recording, events up to the cursor "));
        f.render_widget(Paragraph::new(lines).block(block), b);
    }
}

/// An open group: its line at the cursor, its charts over the whole recording (the cursor marked), its
/// top peers at the cursor, and its events up to the cursor.
fn group_screen(r: &Replay, f: &mut Frame, area: Rect) {
    let Some(open) = r.open.as_ref() else { return };
    if area.height == 0 {
        return;
    }
    let now = r.open_at_cursor();
    let head = match now {
        Some(g) => {
            let q = match (g.accept_queue, g.accept_backlog) {
                (Some(q), Some(b)) => format!(", accept queue {q}/{b}"),
                _ => String::new(),
            };
            let owner = g.owner.as_deref().map_or(String::new(), |o| format!(", held by {}", escape_quoted(o)));
            format!(
                " {} {}: {} sockets ({}){q}{owner}",
                g.key.proto(),
                escape_quoted(&g.label()),
                g.sockets,
                states_text(g)
            )
        }
        None => format!(" {} {}: not in this sample", open.key.proto(), escape_quoted(&open.label())),
    };
    let bold = Style::default().add_modifier(Modifier::BOLD);
    f.render_widget(Paragraph::new(Line::from(Span::styled(head, bold))), Rect { height: 1, ..area });
    let rest = area.height - 1;
    let charts_h = if rest >= 12 { (rest * 3 / 5).clamp(8, 18) } else { rest };
    let (first, last) = (r.samples.first().map_or(0, |s| s.time_ms), r.samples.last().map_or(0, |s| s.time_ms));
    let span = axis_times(first, last);
    let top_peers: Vec<(String, u32)> =
        now.map_or(Vec::new(), |g| g.top_peers.iter().map(|(a, n)| (a.to_string(), *n)).collect());
    let listener = open.key.kind() == crate::group::GroupKind::Listen && open.accept_backlog.is_some();
    let queue = match now {
        Some(g) => g.accept_queue.zip(g.accept_backlog),
        None => None,
    };
    let pictures = GroupPictures {
        proto: open.key.proto(),
        series: &r.series,
        queue: if listener { Some(queue.unwrap_or((0, open.accept_backlog.unwrap_or(0)))) } else { None },
        peers: now.map_or(0, |g| g.peers),
        top_peers: &top_peers,
        span: Some(&span),
        cursor: r.samples.get(r.cursor).map(|s| r.t(s.time_ms)),
    };
    let theme = Theme { color: r.color };
    group_charts(f, Rect { y: area.y + 1, height: charts_h, ..area }, &pictures, &theme);
    let ev = Rect { y: area.y + 1 + charts_h, height: rest - charts_h, ..area };
    if ev.height > 1 {
        let lines: Vec<Line> = r
            .events
            .iter()
            .take(ev.height.saturating_sub(1) as usize)
            .map(|e| {
                let mut out = Vec::new();
                let _ = crate::output::recording::render_event(&mut out, e);
                Line::from(format!(" {}", String::from_utf8_lossy(&out).trim_end()))
            })
            .collect();
        let block = Block::default().borders(Borders::TOP).title(" events up to the cursor, newest first ");
        f.render_widget(Paragraph::new(lines).block(block), ev);
    }
}
