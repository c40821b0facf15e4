//! `sockscope replay FILE`: the terminal, the loop (keys and signals become changes of the [`Replay`], the samples
//! they ask for are loaded: the replay's only I/O), a frame drawn when something changed.

use std::path::Path;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyEventKind};

use super::terminal::{TerminalGuard, end_as_asked, pending};
use crate::record::reader::Recording;
use crate::tui::model::history::{GroupSample, Series};
use crate::tui::state::replay::Replay;
use crate::tui::update::replay::update;
use crate::tui::view::Theme;
use crate::tui::view::replay::view;

/// Run the replay until the user quits.
pub fn run(path: &Path) -> anyhow::Result<()> {
    let rec = Recording::open(path)?;
    let samples = rec.samples()?;
    if samples.is_empty() {
        anyhow::bail!("{}: the recording has no samples yet", path.display());
    }
    let mut r = Replay { file: path.display().to_string(), samples, color: Theme::wanted(), ..Replay::default() };
    load(&mut r, &rec)?;
    let mut guard = TerminalGuard::enter()?;
    let result = ui_loop(&mut guard, &mut r, &rec);
    drop(guard);
    end_as_asked(r.signals.end);
    result
}

/// The replay's loop: keys and signals become changes of `r`, the samples they ask for are loaded, and a
/// frame is drawn when something changed.
fn ui_loop(guard: &mut TerminalGuard, r: &mut Replay, rec: &Recording) -> anyhow::Result<()> {
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
        // Events the terminal library holds already, else a wait on the terminal itself (see tui::run).
        let waited = if event::poll(Duration::ZERO)? {
            crate::sys::Input::Ready
        } else {
            crate::sys::wait_input(Duration::from_millis(100))
        };
        if waited == crate::sys::Input::HungUp {
            // Ends as a hangup would (the terminal library's own wait would spin on it).
            r.signals.apply(crate::tui::state::signals::Signal::End(libc::SIGHUP));
            return Ok(());
        }
        if waited == crate::sys::Input::Ready && event::poll(Duration::ZERO)? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    update(r, k);
                    stale = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        for s in pending() {
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

/// Load what the cursor and the selection need (the only I/O of the replay).
fn load(r: &mut Replay, rec: &Recording) -> Result<(), crate::record::RecordError> {
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

#[cfg(test)]
mod tests;
