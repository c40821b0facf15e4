//! The replay's state machine: one key applied to the [`Replay`]. No I/O: it moves the cursor and says what it
//! wants; the loop loads the samples.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::clock;
use crate::tui::state::replay::Replay;

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
