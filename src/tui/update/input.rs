//! What each key and mouse action does to the [`App`]: navigation, sorting, the filter line, commands, the
//! kill dialog. Called by [`update`](super::update) only.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::rows::{self, rebuild, record_sockets, row_id};
use super::{Effect, Effects};
use crate::model::Proto;
use crate::model::text::escape;
use crate::tui::model::collector::Protos;
use crate::tui::present::Shown;
use crate::tui::state::columns::{PortCol, SockCol};
use crate::tui::state::kill::KillDialog;
use crate::tui::state::{App, INTERVALS, Screen};

pub(super) fn mouse(app: &mut App, shown: &Shown, m: MouseEvent) {
    match m.kind {
        // On the detail the wheel scrolls its fields (the list behind keeps its selection).
        MouseEventKind::ScrollDown | MouseEventKind::ScrollUp if app.screen == Screen::Detail => {
            let key = if m.kind == MouseEventKind::ScrollDown { KeyCode::Down } else { KeyCode::Up };
            for _ in 0..3 {
                scroll_detail(app, shown, key);
            }
        }
        MouseEventKind::ScrollDown => app.move_sel(3),
        MouseEventKind::ScrollUp => app.move_sel(-3),
        MouseEventKind::Down(MouseButton::Left) => {
            let Some(t) = &shown.table else { return };
            let area = t.area;
            if m.row == area.y {
                // A click on a header sorts by that column; a second click reverses.
                let Some(c) = crate::tui::present::tables::column_at(&t.cols, m.column) else { return };
                sort_by(app, c);
            } else if m.row > area.y && m.row < area.y + area.height {
                // The row drawn there.
                let idx = t.offset + (m.row - area.y - 1) as usize;
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
pub(super) fn key(app: &mut App, shown: &Shown, k: KeyEvent, fx: &mut Effects) {
    if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
        app.quit = true;
        return;
    }
    app.message = None;
    if let Some(d) = app.kill.take() {
        if matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
            app.message = Some(format!("closing {} sockets...", d.targets.len()));
            fx.push(Effect::Kill(d.targets));
        } else {
            app.message = Some("nothing closed".into());
        }
        // A group asked for the dialog only is counted again.
        if app.screen == Screen::Ports {
            app.settings.open_group = None;
        }
    } else if app.kill_wanted.take().is_some() {
        app.message = Some("nothing closed".into());
        if app.screen == Screen::Ports {
            app.settings.open_group = None;
        }
    } else if app.filter_input.is_some() {
        filter_key(app, k, fx);
    } else if app.sort_picker.is_some() {
        sort_picker_key(app, shown, k);
    } else if app.show_help {
        app.show_help = false;
        if !matches!(k.code, KeyCode::Esc | KeyCode::Char('?')) {
            command(app, shown, k);
        }
    } else {
        command(app, shown, k);
    }
}

/// A key while the filter is being typed: edit, apply (Enter: the loop parses it; a bad filter stays open
/// with its error), or cancel (Esc).
fn filter_key(app: &mut App, k: KeyEvent, fx: &mut Effects) {
    let Some(input) = app.filter_input.as_mut() else { return };
    match k.code {
        KeyCode::Esc => {
            app.filter_input = None;
            app.filter_error = None;
        }
        KeyCode::Enter => fx.push(Effect::ParseFilter(input.clone())),
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
fn command(app: &mut App, shown: &Shown, k: KeyEvent) {
    let page = shown.page() as isize;
    if app.screen == Screen::Detail && scroll_detail(app, shown, k.code) {
        return;
    }
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
        KeyCode::Char('s') | KeyCode::Char('>') => step_sort(app, shown, 1),
        KeyCode::Char('S') | KeyCode::Char('<') => step_sort(app, shown, -1),
        KeyCode::Char('o') if app.screen != Screen::Detail && !shown.sort_choices.is_empty() => {
            app.sort_picker = shown.sort_choices.iter().position(|c| c.current).or(Some(0));
        }
        KeyCode::Char('r') => {
            match app.screen {
                Screen::Ports => app.port_reverse = !app.port_reverse,
                _ => app.sock_reverse = !app.sock_reverse,
            }
            rebuild(app);
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

/// The moving keys on the detail screen scroll its fields (when they overflow the window).
fn scroll_detail(app: &mut App, shown: &Shown, code: KeyCode) -> bool {
    let max = shown.detail.as_ref().map_or(0, |d| d.parts.scroll_max) as isize;
    let page = shown.detail.as_ref().map_or(1, |d| d.page) as isize;
    let delta = match code {
        KeyCode::Down | KeyCode::Char('j') => 1,
        KeyCode::Up | KeyCode::Char('k') => -1,
        KeyCode::PageDown => page,
        KeyCode::PageUp => -page,
        KeyCode::Home | KeyCode::Char('g') => -max,
        KeyCode::End | KeyCode::Char('G') => max,
        _ => return false,
    };
    app.detail_scroll = (app.detail_scroll as isize + delta).clamp(0, max) as u16;
    true
}

/// A key while the sort picker is open: move (arrows, j/k, or a column's first letter, again for the next
/// one), Enter sorts by the highlighted column (the current one: reversed), Esc closes.
fn sort_picker_key(app: &mut App, shown: &Shown, k: KeyEvent) {
    let choices = &shown.sort_choices;
    let Some(at) = app.sort_picker else { return };
    let n = choices.len().max(1);
    match k.code {
        KeyCode::Esc | KeyCode::Char('o') | KeyCode::Char('q') => app.sort_picker = None,
        KeyCode::Down | KeyCode::Char('j') => app.sort_picker = Some((at + 1) % n),
        KeyCode::Up | KeyCode::Char('k') => app.sort_picker = Some((at + n - 1) % n),
        KeyCode::Home | KeyCode::Char('g') => app.sort_picker = Some(0),
        KeyCode::End | KeyCode::Char('G') => app.sort_picker = Some(n - 1),
        KeyCode::Enter => {
            app.sort_picker = None;
            if let Some(c) = choices.get(at) {
                sort_by(app, c.col);
            }
        }
        KeyCode::Char(ch) => {
            let ch = ch.to_ascii_lowercase();
            let next = (1..=n).map(|d| (at + d) % n).find(|&i| {
                choices.get(i).and_then(|c| c.name.chars().next()).is_some_and(|f| f.to_ascii_lowercase() == ch)
            });
            if next.is_some() {
                app.sort_picker = next;
            }
        }
        _ => {}
    }
}

/// Sort the screen's table by its column `i` (of `PortCol::ALL` or `SockCol::ALL`); the current one again
/// reverses (a header click, the picker's Enter).
fn sort_by(app: &mut App, i: usize) {
    match app.screen {
        Screen::Ports => match PortCol::ALL.get(i) {
            Some(&c) if c == app.port_sort => app.port_reverse = !app.port_reverse,
            Some(&c) => (app.port_sort, app.port_reverse) = (c, false),
            None => return,
        },
        _ => match SockCol::ALL.get(i) {
            Some(&c) if c == app.sock_sort => app.sock_reverse = !app.sock_reverse,
            Some(&c) => (app.sock_sort, app.sock_reverse) = (c, false),
            None => return,
        },
    }
    rebuild(app);
}

/// `s`/`S`: sort by the next (previous) column shown; columns that did not fit are not offered.
fn step_sort(app: &mut App, shown: &Shown, dir: isize) {
    let choices = &shown.sort_choices;
    if choices.is_empty() {
        return;
    }
    let at = choices.iter().position(|c| c.current).unwrap_or(0) as isize;
    let next = choices[(at + dir).rem_euclid(choices.len() as isize) as usize].col;
    match app.screen {
        Screen::Ports => app.port_sort = PortCol::ALL[next],
        _ => app.sock_sort = SockCol::ALL[next],
    }
    rebuild(app);
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
                rows::rebuild_sockets(app);
                record_sockets(app);
            }
        }
        Screen::Sockets => {
            if let Some(r) = app.sock_rows.get(app.sock_sel).copied() {
                app.detail = Some(r);
                app.detail_id = app.live.as_ref().and_then(|l| row_id(l, r));
                app.detail_scroll = 0;
                app.screen = Screen::Detail;
                record_sockets(app);
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
            app.sock_histories.clear();
        }
        Screen::Ports => {}
    }
}

/// `K`: ask about closing the selected group's connections, or the selected socket.
fn kill_dialog(app: &mut App) {
    let Some(live) = app.live.clone() else { return };
    let d = match app.screen {
        Screen::Ports => match app.selected_group() {
            // Only the open group's sockets are kept one by one: ask for this group's first.
            Some(g) if g.members.first().is_some_and(|&i| live.socket(i as usize).is_none()) => {
                let key = g.key.clone();
                app.message = Some(format!("reading the sockets of {}...", escape(&key.to_string())));
                app.settings.open_group = Some(key.clone());
                app.kill_wanted = Some(key);
                return;
            }
            Some(g) => KillDialog::for_group(&live, g),
            None => return,
        },
        Screen::Sockets => match app.sock_rows.get(app.sock_sel) {
            Some(r) => KillDialog::for_row(&live, *r),
            None => return,
        },
        Screen::Detail => match app.detail {
            Some(r) => KillDialog::for_row(&live, r),
            None => return,
        },
    };
    match d {
        Ok(d) => app.kill = Some(d),
        Err(e) => app.message = Some(e),
    }
}

/// The dialog of a `K` that waited for its group's sockets, once a refresh has them (or the group is gone).
pub(super) fn wanted_kill_dialog(app: &mut App) {
    let (Some(key), Some(live)) = (app.kill_wanted.clone(), app.live.clone()) else { return };
    let Some(g) = live.groups.iter().find(|g| g.key == key) else {
        app.kill_wanted = None;
        app.message = Some(format!("{} is gone; nothing closed", escape(&key.to_string())));
        return;
    };
    if g.members.first().is_some_and(|&i| live.socket(i as usize).is_none()) {
        return;
    }
    app.kill_wanted = None;
    match KillDialog::for_group(&live, g) {
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
