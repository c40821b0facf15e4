//! Signals as events of the full-screen commands (`top`, `replay`): which ones are caught, what each asks
//! ([`Signal`]), and [`Requests`], the plain data the state machines keep of them for the event loop (which
//! gives the terminal back, stops, takes the terminal again; no I/O: the loop's `run::terminal` reads them).

/// The signals caught while the terminal is in dashboard mode: the ones that would end or stop the process
/// with the terminal left in raw mode on the alternate screen, and SIGCONT (take the terminal again).
pub const CAUGHT: [libc::c_int; 6] =
    [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP, libc::SIGCONT];

/// What a caught signal asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// End (SIGTERM, SIGHUP, SIGINT, SIGQUIT: the number), the terminal given back first.
    End(libc::c_int),
    /// Give the terminal back and stop (SIGTSTP).
    Suspend,
    /// Continued (SIGCONT): take the terminal again and redraw all of it.
    Resume,
}

impl Signal {
    pub fn from_raw(sig: libc::c_int) -> Option<Signal> {
        match sig {
            libc::SIGTSTP => Some(Signal::Suspend),
            libc::SIGCONT => Some(Signal::Resume),
            libc::SIGTERM | libc::SIGHUP | libc::SIGINT | libc::SIGQUIT => Some(Signal::End(sig)),
            _ => None,
        }
    }
}

/// What the signals so far ask of the event loop. Plain data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requests {
    /// End as this signal asked (the first one), once the terminal is given back.
    pub end: Option<libc::c_int>,
    /// Give the terminal back and stop; the loop clears it.
    pub suspend: bool,
    /// Take the terminal again and redraw it all; the loop clears it.
    pub resume: bool,
}

impl Requests {
    /// Apply one signal; true when it ends the program. A SIGCONT after a SIGTSTP not acted on yet cancels
    /// the stop (the process was already continued).
    pub fn apply(&mut self, s: Signal) -> bool {
        match s {
            Signal::End(sig) => {
                self.end.get_or_insert(sig);
            }
            Signal::Suspend => self.suspend = true,
            Signal::Resume => {
                self.suspend = false;
                self.resume = true;
            }
        }
        self.end.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_caught_signal_asks_something() {
        for sig in CAUGHT {
            assert!(Signal::from_raw(sig).is_some(), "{sig}");
        }
        assert_eq!(Signal::from_raw(libc::SIGWINCH), None);
    }

    #[test]
    fn the_first_ending_signal_wins_and_continue_cancels_a_stop() {
        let mut r = Requests::default();
        assert!(!r.apply(Signal::Suspend));
        assert!(r.suspend);
        assert!(!r.apply(Signal::Resume));
        assert_eq!(r, Requests { end: None, suspend: false, resume: true });
        assert!(r.apply(Signal::End(libc::SIGHUP)));
        assert!(r.apply(Signal::End(libc::SIGTERM)));
        assert_eq!(r.end, Some(libc::SIGHUP));
    }
}
