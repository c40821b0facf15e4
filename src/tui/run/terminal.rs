//! The terminal in dashboard mode and back: raw mode, the alternate screen, mouse and bracketed paste, given
//! back on drop, on panic and on the caught signals (read here, the only place: [`pending`]), for `top` and
//! `replay` alike.

use std::io::{self, Stdout};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};

use crate::tui::state::signals::{self, Signal};

/// Puts the terminal into dashboard mode and back, also on panic and on the signals of [`signals::CAUGHT`]
/// (which the loop answers with [`TerminalGuard::answer`]).
pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

/// Raw mode, the alternate screen, mouse reporting and bracketed paste.
fn dashboard_mode() -> io::Result<()> {
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture, EnableBracketedPaste)
}

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            hook(info);
        }));
        // Caught before the terminal changes: from here on a signal is an event the loop answers.
        crate::sys::catch_signals(&signals::CAUGHT)?;
        let mut asked = signals::Requests::default();
        if !wait_for_foreground(&mut asked) {
            // Ended while waiting in the background, the terminal untouched.
            crate::sys::default_signals(&signals::CAUGHT);
            end_as_asked(asked.end);
        }
        if let Err(e) = dashboard_mode() {
            restore_terminal();
            crate::sys::default_signals(&signals::CAUGHT);
            return Err(e);
        }
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout())).inspect_err(|_| {
            restore_terminal();
            crate::sys::default_signals(&signals::CAUGHT);
        })?;
        Ok(TerminalGuard { terminal })
    }

    /// Do what the signals ask of the terminal: give it back and stop (SIGTSTP), take it again (SIGCONT).
    /// True when the screen has to be drawn again (all of it: what was on it is gone).
    pub fn answer(&mut self, asked: &mut signals::Requests) -> io::Result<bool> {
        let mut redraw = false;
        if std::mem::take(&mut asked.suspend) {
            restore_terminal();
            crate::sys::stop_self();
            // Continued: the SIGCONT noted now also comes as a Resume; taking the terminal twice is harmless.
            asked.resume = true;
        }
        if std::mem::take(&mut asked.resume) {
            if !wait_for_foreground(asked) {
                return Ok(false);
            }
            // Raw mode again even where it seems on: a shell may have reset the modes while this process was
            // stopped (by SIGSTOP, which cannot be caught).
            let _ = disable_raw_mode();
            dashboard_mode()?;
            // The terminal's screen is not what the last frame left: forget it, and hide the cursor again
            // (restore_terminal showed it behind ratatui's back).
            self.terminal.clear()?;
            self.terminal.hide_cursor()?;
            redraw = true;
        }
        Ok(redraw)
    }
}

/// Stop while this process is a background job of its terminal (continued with `bg`, started with `&`),
/// as SIGTTOU would stop it at the first change of the terminal's modes, but with the signals still
/// answered: false when one of them ends the program meanwhile (noted in `asked`).
fn wait_for_foreground(asked: &mut signals::Requests) -> bool {
    while !crate::sys::in_terminal_foreground() {
        crate::sys::stop_self();
        for s in pending() {
            if asked.apply(s) {
                return false;
            }
        }
    }
    true
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
        crate::sys::default_signals(&signals::CAUGHT);
    }
}

/// The caught signals that arrived since the last call, in the order they arrived.
pub fn pending() -> impl Iterator<Item = Signal> {
    crate::sys::take_signals().into_iter().filter_map(Signal::from_raw)
}

/// Once the terminal is given back (the signals' default actions restored): end as `asked`, or as an ending
/// signal that arrived since the loop last looked; else return.
pub fn end_as_asked(asked: Option<libc::c_int>) {
    let late = pending().find_map(|s| match s {
        Signal::End(sig) => Some(sig),
        _ => None,
    });
    if let Some(sig) = asked.or(late) {
        crate::sys::end_by_signal(sig);
    }
}
