//! `sockscope replay FILE`: a recording on a timeline. [`Replay`] is the data and [`update`] the state
//! machine (no I/O: it says which sample it wants, the loop loads it); [`view`] draws the groups of the sample
//! under the cursor, the trend of the selected group over the whole recording, and its events up to then.
//! Enter opens a group as the live dashboard does: its states and accept queue over the whole recording
//! (the live dashboard's charts, fed from the recording) and its top peers at the cursor.

use std::path::Path;
use std::time::Duration;

use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::charts::{GroupPictures, group_charts};
use super::history::{GroupSample, Series};
use crate::clock;
use crate::model::text::escape_quoted;
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
    /// The group opened with Enter (its row when opened: it names the group when the cursor's sample
    /// lacks it); `None` on the list of groups.
    pub open: Option<GroupRow>,
    /// The selected (or open) group over the whole recording, in at most [`super::history::CAP`] samples
    /// whatever its length: the list's trend and the group screen's charts.
    pub series: Series<GroupSample>,
    pub series_of: Option<GroupId>,
    /// Events of the selected group up to the cursor, newest first.
    pub events: Vec<EventRow>,
    /// The time being typed after `:`.
    pub input: Option<String>,
    pub message: Option<String>,
    pub quit: bool,
    /// Colour on (off with `NO_COLOR`).
    pub color: bool,
    /// What the signals asked (end, stop, take the terminal again); the loop acts on it.
    pub signals: super::signals::Requests,
}

/// A group's identity across samples: its key.
pub type GroupId = crate::group::GroupKey;

impl Replay {
    pub fn selected(&self) -> Option<&GroupRow> {
        self.groups.get(self.sel)
    }

    /// The identity of a group across samples.
    pub fn group_id(g: &GroupRow) -> GroupId {
        g.key.clone()
    }

    /// The group the series and the events are about: the open one, else the selected one.
    fn subject(&self) -> Option<&GroupRow> {
        self.open.as_ref().or(self.selected())
    }

    /// The open group as recorded in the cursor's sample (`None` when it was absent then).
    pub fn open_at_cursor(&self) -> Option<&GroupRow> {
        let id = Replay::group_id(self.open.as_ref()?);
        self.groups.iter().find(|g| Replay::group_id(g) == id)
    }

    /// Seconds from the recording's first sample to `time_ms`: the charts' time.
    fn t(&self, time_ms: u64) -> f64 {
        time_ms.saturating_sub(self.samples.first().map_or(0, |s| s.time_ms)) as f64 / 1000.0
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
        KeyCode::Esc | KeyCode::Backspace if r.open.is_some() => r.open = None,
        KeyCode::Enter if r.open.is_none() => r.open = r.selected().cloned(),
        KeyCode::Char('q') | KeyCode::Esc => r.quit = true,
        KeyCode::Left | KeyCode::Char('h') => step(r, -1),
        KeyCode::Right | KeyCode::Char('l') => step(r, 1),
        KeyCode::PageUp | KeyCode::Char('H') => step(r, -10),
        KeyCode::PageDown | KeyCode::Char('L') => step(r, 10),
        KeyCode::Home => r.cursor = 0,
        KeyCode::End => r.cursor = last,
        KeyCode::Up | KeyCode::Char('k') if r.open.is_none() => r.sel = r.sel.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') if r.open.is_none() => {
            r.sel = (r.sel + 1).min(r.groups.len().saturating_sub(1))
        }
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
    }
    let Some(g) = r.subject().cloned() else {
        r.series = Series::default();
        r.series_of = None;
        r.events.clear();
        return Ok(());
    };
    let id = Replay::group_id(&g);
    if r.series_of.as_ref() != Some(&id) {
        // Streamed into a bounded series: a recording of days costs one pass, not its size in memory.
        let mut series = Series::default();
        let span = (r.samples.first().map_or(0, |s| s.time_ms), r.samples.last().map_or(0, |s| s.time_ms));
        rec.group_over_time(&g, span, |time_ms, row| {
            let t = r.t(time_ms);
            series.push(row.map_or(GroupSample { t, ..GroupSample::default() }, |row| GroupSample::of_row(&row, t)));
        })?;
        r.series = series;
        r.series_of = Some(id);
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

/// The sockets of the series' samples, for the list's trend.
fn trend(series: &Series<GroupSample>) -> Vec<u32> {
    series.samples.iter().map(|s| s.total.round() as u32).collect()
}

/// The time axis' end labels, longest first: the time of day (with the date when the recording crosses
/// midnight, UTC), then shorter forms for narrow charts.
fn axis_times(first: u64, last: u64) -> Vec<(String, String)> {
    let (a, b) = (clock::rfc3339(first), clock::rfc3339(last));
    let cut = |from: usize, to: usize| (a[from..to].to_string(), b[from..to].to_string());
    if a[..10] != b[..10] { vec![cut(5, 16), cut(5, 10)] } else { vec![cut(11, 19), cut(11, 16)] }
}

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
    let line = super::tables::sparkline(&buckets(&totals, w), w);
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
    let offset = super::layout::scroll_offset(r.sel, visible);
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
        let trend = super::tables::sparkline(&buckets(&trend(&r.series), w), w);
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
    let theme = super::view::Theme { color: r.color };
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

/// Run the replay until the user quits.
pub fn run(path: &Path) -> anyhow::Result<()> {
    let rec = Recording::open(path)?;
    let samples = rec.samples()?;
    if samples.is_empty() {
        anyhow::bail!("{}: the recording has no samples yet", path.display());
    }
    let mut r =
        Replay { file: path.display().to_string(), samples, color: super::view::Theme::wanted(), ..Replay::default() };
    load(&mut r, &rec)?;
    let mut guard = super::TerminalGuard::enter()?;
    let result = ui_loop(&mut guard, &mut r, &rec);
    drop(guard);
    super::signals::end_as_asked(r.signals.end);
    result
}

/// The replay's loop: keys and signals become changes of `r`, the samples they ask for are loaded, and a
/// frame is drawn when something changed.
fn ui_loop(guard: &mut super::TerminalGuard, r: &mut Replay, rec: &Recording) -> anyhow::Result<()> {
    let mut stale = false;
    let mut dirty = true;
    loop {
        // Keys already typed are applied before loading (a held arrow does not read a long recording's
        // group once per step).
        if stale && !event::poll(Duration::ZERO)? {
            if let Err(e) = load(r, rec) {
                r.message = Some(e.to_string());
            }
            stale = false;
            dirty = true;
        }
        if dirty {
            guard.terminal.draw(|f| view(r, f))?;
            dirty = false;
        }
        if event::poll(Duration::from_millis(100))? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    update(r, k);
                    stale = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        for s in super::signals::pending() {
            r.quit |= r.signals.apply(s);
        }
        if guard.answer(&mut r.signals)? {
            dirty = true;
        }
        if r.quit {
            return Ok(());
        }
    }
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
