//! `sockscope replay FILE`: a recording on a timeline. [`Replay`] is the data and [`update`] the state
//! machine (no I/O: it says which sample it wants, the loop loads it); [`view`] draws the groups of the sample
//! under the cursor, the trend of the selected group over the whole recording, and its events up to then.

use std::path::Path;
use std::time::Duration;

use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::clock;
use crate::output::events::printable;
use crate::output::recording::states_text;
use crate::record::reader::{Recording, SampleInfo};
use crate::record::{EventRow, GroupRow};

/// Everything the replay shows. Plain data.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    pub file: String,
    pub samples: Vec<SampleInfo>,
    /// The sample under the cursor.
    pub cursor: usize,
    /// Its groups, once loaded (`loaded` = the sample they belong to).
    pub groups: Vec<GroupRow>,
    pub loaded: Option<usize>,
    pub sel: usize,
    /// Sockets of the selected group in every sample (0 where it is absent), for the trend.
    pub trend: Vec<u32>,
    pub trend_of: Option<(String, String, Option<String>, Option<u16>)>,
    /// Events of the selected group up to the cursor, newest first.
    pub events: Vec<EventRow>,
    /// The time being typed after `:`.
    pub input: Option<String>,
    pub message: Option<String>,
    pub quit: bool,
}

impl Replay {
    pub fn selected(&self) -> Option<&GroupRow> {
        self.groups.get(self.sel)
    }

    /// The identity of a group across samples.
    pub fn group_id(g: &GroupRow) -> (String, String, Option<String>, Option<u16>) {
        (g.kind.clone(), g.proto.clone(), g.address.clone(), g.port)
    }
}

/// Apply one key.
pub fn update(r: &mut Replay, k: KeyEvent) {
    if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
        r.quit = true;
        return;
    }
    r.message = None;
    if let Some(input) = r.input.as_mut() {
        match k.code {
            KeyCode::Esc => r.input = None,
            KeyCode::Enter => {
                let text = input.clone();
                r.input = None;
                match clock::parse_moment(&text, clock::now_ms()) {
                    Ok(at) => {
                        // The last sample at or before that moment (the first one when it is earlier).
                        r.cursor = r.samples.iter().rposition(|s| s.time_ms <= at).unwrap_or(0);
                    }
                    Err(e) => r.message = Some(e),
                }
            }
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Char(c) => input.push(c),
            _ => {}
        }
        return;
    }
    let last = r.samples.len().saturating_sub(1);
    let step = |r: &mut Replay, d: isize| r.cursor = (r.cursor as isize + d).clamp(0, last as isize) as usize;
    match k.code {
        KeyCode::Char('q') | KeyCode::Esc => r.quit = true,
        KeyCode::Left | KeyCode::Char('h') => step(r, -1),
        KeyCode::Right | KeyCode::Char('l') => step(r, 1),
        KeyCode::PageUp | KeyCode::Char('H') => step(r, -10),
        KeyCode::PageDown | KeyCode::Char('L') => step(r, 10),
        KeyCode::Home => r.cursor = 0,
        KeyCode::End => r.cursor = last,
        KeyCode::Up | KeyCode::Char('k') => r.sel = r.sel.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => r.sel = (r.sel + 1).min(r.groups.len().saturating_sub(1)),
        KeyCode::Char(':') | KeyCode::Char('/') => r.input = Some(String::new()),
        _ => {}
    }
}

/// Load what the cursor and the selection need (the only I/O of the replay).
pub fn load(r: &mut Replay, rec: &Recording) -> Result<(), crate::record::RecordError> {
    if r.loaded != Some(r.cursor)
        && let Some(s) = r.samples.get(r.cursor)
    {
        let keep = r.selected().map(Replay::group_id);
        r.groups = rec.groups(s.id)?;
        r.loaded = Some(r.cursor);
        if let Some(k) = keep {
            r.sel = r.groups.iter().position(|g| Replay::group_id(g) == k).unwrap_or(r.sel);
        }
        r.sel = r.sel.min(r.groups.len().saturating_sub(1));
        r.trend_of = None;
    }
    let Some(g) = r.selected().cloned() else {
        r.trend.clear();
        r.events.clear();
        return Ok(());
    };
    let id = Replay::group_id(&g);
    if r.trend_of.as_ref() != Some(&id) {
        r.trend = rec.group_trend(&g)?;
        r.trend_of = Some(id);
    }
    let until = r.samples.get(r.cursor).map_or(0, |s| s.time_ms);
    r.events = rec.group_events(&g, until, 50)?;
    Ok(())
}

/// Bucket `v` into `width` columns (the largest value of each), for a trend over the whole recording.
fn buckets(v: &[u32], width: usize) -> Vec<u32> {
    if v.len() <= width || width == 0 {
        return v.to_vec();
    }
    (0..width).map(|i| v[i * v.len() / width..(i + 1) * v.len() / width].iter().copied().max().unwrap_or(0)).collect()
}

/// Draw the replay.
pub fn view(r: &Replay, f: &mut Frame) {
    let area = f.area();
    if area.height < 4 || area.width < 20 {
        f.render_widget(Paragraph::new("terminal too small"), area);
        return;
    }
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let s = r.samples.get(r.cursor);
    let title = match s {
        Some(s) => format!(
            " replay {} │ sample {}/{} at {} │ {} sockets │ +{} -{} since the previous",
            printable(&r.file),
            r.cursor + 1,
            r.samples.len(),
            clock::rfc3339(s.time_ms),
            s.sockets,
            s.opened,
            s.closed
        ),
        None => format!(" replay {} │ no samples", printable(&r.file)),
    };
    f.render_widget(
        Paragraph::new(title).style(Style::default().add_modifier(Modifier::REVERSED)),
        Rect { height: 1, ..area },
    );
    // The timeline: total sockets per sample, the cursor marked below.
    let w = area.width.saturating_sub(2) as usize;
    let totals: Vec<u32> = r.samples.iter().map(|s| s.sockets.min(u32::MAX as u64) as u32).collect();
    let line = super::tables::sparkline(&buckets(&totals, w), w);
    let pos =
        if r.samples.len() <= 1 { 0 } else { r.cursor * (line.chars().count().max(1) - 1) / (r.samples.len() - 1) };
    f.render_widget(
        Paragraph::new(vec![Line::from(format!(" {line}")), Line::from(format!(" {}^", " ".repeat(pos)))]),
        Rect { y: 1, height: 2, ..area },
    );

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
    let offset = super::layout::scroll_offset(r.sel, visible);
    for (i, g) in r.groups.iter().enumerate().skip(offset).take(visible) {
        let q = match (g.accept_queue, g.accept_backlog) {
            (Some(q), Some(b)) => format!("{q}/{b}"),
            _ => "-".into(),
        };
        let text = format!(
            "{:<34} {:<5} {:>7} {:>9} {:>5}  {:<18} {}",
            printable(&g.label()),
            g.proto,
            g.sockets,
            q,
            g.peers,
            g.owner.as_deref().map_or("-".into(), printable),
            states_text(g)
        );
        let style = if i == r.sel { Style::default().add_modifier(Modifier::REVERSED) } else { Style::default() };
        lines.push(Line::from(Span::styled(text, style)));
    }
    f.render_widget(Paragraph::new(lines), table);

    if bottom_h > 0 {
        let b = Rect { y: 3 + table_h, height: bottom_h, ..area };
        let name = r.selected().map_or(String::new(), |g| printable(&g.label()));
        let trend = super::tables::sparkline(&buckets(&r.trend, w), w);
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
    let status = match (&r.input, &r.message) {
        (Some(i), _) => format!(" jump to: {i}█  (2026-11-30T20:31:00Z, 20:31, -5m, @UNIXSECONDS; Enter, Esc)"),
        (None, Some(m)) => format!(" {m}"),
        (None, None) => " ←/→ step  PgUp/PgDn 10  Home/End  ↑/↓ group  : jump to a time  q quit".into(),
    };
    f.render_widget(Paragraph::new(status), Rect { y: area.height - 1, height: 1, ..area });
}

/// Run the replay until the user quits.
pub fn run(path: &Path) -> anyhow::Result<()> {
    let rec = Recording::open(path)?;
    let samples = rec.samples()?;
    if samples.is_empty() {
        anyhow::bail!("{}: the recording has no samples yet", path.display());
    }
    let mut r = Replay { file: path.display().to_string(), samples, ..Replay::default() };
    load(&mut r, &rec)?;
    let mut guard = super::TerminalGuard::enter()?;
    loop {
        guard.terminal.draw(|f| view(&r, f))?;
        if event::poll(Duration::from_millis(500))?
            && let Event::Key(k) = event::read()?
            && k.kind != KeyEventKind::Release
        {
            update(&mut r, k);
            if let Err(e) = load(&mut r, &rec) {
                r.message = Some(e.to_string());
            }
        }
        if r.quit {
            return Ok(());
        }
    }
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
