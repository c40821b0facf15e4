//! The dashboard's loop, on top of the floors: it starts the collector thread, turns terminal events,
//! signals and the collector's refreshes into actions for [`update`], performs the effects update returns
//! (parsing a filter with its lookups, closing sockets, sending the collector its settings), and draws a frame
//! when something changed: [`present::shown`] once, then the view from it. The terminal is always given back
//! ([`terminal`]).

pub mod replay;
pub mod terminal;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyEventKind};

use crate::collect::{self, SourceChoice};
use crate::filter::SystemLookup;
use crate::model::netns::Namespaces;
use crate::ports::classes::HostPorts;
use crate::sys::Input;
use crate::tui::model::collector::{COLLECTOR_STACK, CollectSettings, Protos, Refresh, collector_loop};
use crate::tui::model::live::LiveTracker;
use crate::tui::present::{self, Shown};
use crate::tui::state::signals::Signal;
use crate::tui::state::{Action, App};
use crate::tui::update::{Effect, update};
use crate::tui::view::view;
use terminal::{TerminalGuard, end_as_asked, pending};

/// How the dashboard was asked to start: a checked configuration, built by the `cli` layer.
#[derive(Debug, Clone)]
pub struct TopConfig {
    /// Pause between refreshes.
    pub interval: Duration,
    pub tcp: bool,
    pub udp: bool,
    pub unix: bool,
    /// The parsed `filter_text`.
    pub selection: crate::filter::Parsed,
    /// The filter text the flags stand for (shown and editable with `/`).
    pub filter_text: String,
    /// The audit's options (the same as `sockscope audit`'s) for the listener and pressure markers.
    pub audit: crate::ports::audit::AuditOptions,
    pub ipv4: bool,
    pub ipv6: bool,
    pub source: SourceChoice,
    pub proc_root: PathBuf,
    pub color: bool,
    pub services: crate::ports::services::Services,
    /// Which network namespaces (`-N`, `--all-netns`).
    pub netns: crate::collect::netns::Choice,
    /// Where container and pod names are read.
    pub state_roots: crate::collect::cgroup::StateRoots,
    /// For benchmarks (`SOCKSCOPE_LATENCY_LOG`): a file the UI loop appends its input latency to, one line
    /// per drawn frame that answered input (`key MS`: input read to frame written) and per stretch of work
    /// longer than a millisecond between two waits for input (`busy MS`: the most any input waits unread).
    pub latency_log: Option<PathBuf>,
}

/// The UI loop's latency log (see [`TopConfig::latency_log`]); writes are best effort.
struct LatencyLog(Option<std::fs::File>);

impl LatencyLog {
    fn open(path: Option<&std::path::Path>) -> LatencyLog {
        LatencyLog(path.and_then(|p| std::fs::OpenOptions::new().create(true).append(true).open(p).ok()))
    }
    fn note(&mut self, what: &str, since: Instant) {
        if let Some(f) = &mut self.0 {
            use std::io::Write;
            let _ = writeln!(f, "{what} {:.3}", since.elapsed().as_secs_f64() * 1e3);
        }
    }
}

/// The state, the last frame's presentation, and where the effects go.
struct Dash<'a> {
    app: &'a mut App,
    shown: Shown,
    /// To the collector thread (none in tests).
    settings: Option<&'a Sender<CollectSettings>>,
}

impl Dash<'_> {
    /// Apply one action and perform the effects it asks for (their answers are applied in turn).
    fn dispatch(&mut self, action: Action) {
        let mut queue = vec![action];
        while let Some(a) = queue.pop() {
            for e in update(self.app, &self.shown, a) {
                match e {
                    Effect::ParseFilter(text) => {
                        let lookup = SystemLookup::new(&self.app.proc_root);
                        let parsed = crate::filter::parse(&text, &self.app.services, &lookup);
                        queue.push(Action::FilterParsed(text, parsed));
                    }
                    Effect::Kill(targets) => {
                        let namespaces = self.app.live.as_ref().map(|l| l.netns_table.clone()).unwrap_or_default();
                        queue.push(Action::KillDone(close_sockets(&targets, &namespaces, &self.app.proc_root)));
                    }
                    Effect::Collect(s) => {
                        if let Some(tx) = self.settings {
                            let _ = tx.send(s);
                        }
                    }
                }
            }
        }
    }

    /// Lay out the next frame (what the following actions read as the screen).
    fn present(&mut self) {
        self.shown = present::shown(self.app);
    }
}

/// Turn one terminal event into an action.
fn apply_event(d: &mut Dash, e: Event) {
    match e {
        Event::Key(k) if k.kind != KeyEventKind::Release => d.dispatch(Action::Key(k)),
        Event::Paste(text) => d.dispatch(Action::Paste(text)),
        Event::Mouse(m) => d.dispatch(Action::Mouse(m)),
        Event::Resize(w, h) => d.dispatch(Action::Resize(w, h)),
        _ => {}
    }
}

/// Most events applied between two draws: the screen still refreshes during an endless stream of input.
const MAX_EVENTS_PER_DRAW: usize = 100_000;

/// Apply the events `next` has ready (it returns `None` when none is waiting), up to
/// [`MAX_EVENTS_PER_DRAW`]; returns how many were applied.
fn apply_pending(d: &mut Dash, mut next: impl FnMut() -> io::Result<Option<Event>>) -> io::Result<usize> {
    let mut n = 0;
    while n < MAX_EVENTS_PER_DRAW {
        let Some(e) = next()? else { break };
        apply_event(d, e);
        n += 1;
        if d.app.quit {
            break;
        }
    }
    Ok(n)
}

/// Close `targets` with SOCK_DESTROY; one line saying what happened.
fn close_sockets(targets: &[crate::model::Socket], namespaces: &Namespaces, proc_root: &Path) -> String {
    use crate::collect::close::{self, Outcome, Places};
    let places = match Places::of_table(namespaces, proc_root, &collect::netns::Roots::default().netns_dir) {
        Ok(p) => p,
        Err(e) => return format!("cannot close sockets: {e}"),
    };
    let outcomes = match close::close(targets, &places) {
        Ok(o) => o,
        Err(e) => return e.to_string(),
    };
    let (mut closed, mut gone, mut aborted, mut failed) = (0, 0, 0, 0);
    let mut why = None;
    for o in outcomes {
        match o {
            Outcome::Closed => closed += 1,
            Outcome::Gone => gone += 1,
            Outcome::Aborted => aborted += 1,
            Outcome::Failed(w) => {
                failed += 1;
                why.get_or_insert(w);
            }
        }
    }
    let mut msg = format!("closed {closed} of {} sockets", targets.len());
    if gone > 0 {
        msg.push_str(&format!(", {gone} already gone"));
    }
    if aborted > 0 {
        msg.push_str(&format!(", {aborted} UDP aborted but still bound"));
    }
    if let Some(w) = why {
        msg.push_str(&format!(", {failed} failed: {w}"));
    }
    msg
}

/// Run the dashboard until the user quits.
pub fn run(cfg: TopConfig) -> anyhow::Result<()> {
    // Tables of sockets come and go every refresh: give their memory back (see the function).
    crate::sys::return_large_blocks(crate::sys::LARGE_BLOCK);
    let collector = Box::new(collect::open(cfg.source, &cfg.netns, &cfg.proc_root, cfg.state_roots.clone()));
    let state_roots = cfg.state_roots.clone();
    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (up_tx, up_rx) = mpsc::channel();
    let settings = CollectSettings {
        interval: cfg.interval,
        paused: false,
        protos: Protos { tcp: cfg.tcp, udp: cfg.udp, unix: cfg.unix },
        selection: cfg.selection.clone(),
        details: false,
        open_group: None,
    };
    let families = (cfg.ipv4, cfg.ipv6);
    let proc_root = cfg.proc_root.clone();
    std::thread::Builder::new().name("collector".into()).stack_size(COLLECTOR_STACK).spawn({
        let settings = settings.clone();
        let tracker = LiveTracker::auditing(HostPorts::read(&cfg.proc_root).ok(), cfg.audit);
        move || collector_loop(collector, tracker, (proc_root, state_roots), settings, families, cmd_rx, up_tx)
    })?;

    let mut app = App::new(settings, cfg.filter_text, cfg.services, cfg.color);
    app.proc_root = cfg.proc_root.clone();
    let mut guard = TerminalGuard::enter()?;
    let result = ui_loop(&mut guard, &mut app, (&up_rx, &cmd_tx), cfg.latency_log.as_deref());
    drop(guard);
    end_as_asked(app.signals.end);
    result
}

/// The UI loop: input, signals and refreshes become actions; a frame is drawn when one changed the App.
fn ui_loop(
    guard: &mut TerminalGuard,
    app: &mut App,
    (up_rx, cmd_tx): (&Receiver<Refresh>, &Sender<CollectSettings>),
    latency_log: Option<&Path>,
) -> anyhow::Result<()> {
    let size = guard.terminal.size()?;
    let shown = present::shown(app);
    let mut d = Dash { app, shown, settings: Some(cmd_tx) };
    d.dispatch(Action::Resize(size.width, size.height));
    let mut dirty = true;
    let mut last_tick = Instant::now();
    let mut log = LatencyLog::open(latency_log);
    let mut input_at: Option<Instant> = None;
    let mut awake = Instant::now();
    loop {
        if dirty {
            d.present();
            guard.terminal.draw(|f| view(d.app, &d.shown, f))?;
            dirty = false;
            if let Some(t) = input_at.take() {
                log.note("key", t);
            }
        }
        if awake.elapsed() > Duration::from_millis(1) {
            log.note("busy", awake);
        }
        // Events the terminal library holds already, else a wait on the terminal itself: the library's own
        // wait spins without end once the terminal hangs up.
        let waited = if event::poll(Duration::ZERO)? {
            Input::Ready
        } else {
            crate::sys::wait_input(Duration::from_millis(100))
        };
        awake = Instant::now();
        if waited == Input::HungUp {
            // Ends as a hangup would (the terminal library's own wait would spin on it).
            d.dispatch(Action::Signal(Signal::End(libc::SIGHUP)));
            break;
        }
        if waited == Input::Ready && event::poll(Duration::ZERO)? {
            input_at = Some(awake);
            let first = event::read()?;
            apply_event(&mut d, first);
            // Everything already waiting is applied before the next draw: a pasted 40k-character filter
            // costs one redraw, not one per key.
            apply_pending(&mut d, || if event::poll(Duration::ZERO)? { event::read().map(Some) } else { Ok(None) })?;
            dirty = true;
        }
        for s in pending() {
            d.dispatch(Action::Signal(s));
        }
        if guard.answer(&mut d.app.signals)? {
            let size = guard.terminal.size()?;
            d.dispatch(Action::Resize(size.width, size.height));
            dirty = true;
        }
        // Only the newest full refresh matters when several queued up.
        let mut newest = None;
        for u in up_rx.try_iter() {
            match u {
                Refresh::Full(l) => newest = Some(l),
                Refresh::Error(e) => {
                    if let Some(l) = newest.take() {
                        d.dispatch(Action::Data(l));
                    }
                    d.dispatch(Action::CollectFailed(e));
                }
                Refresh::Listeners(p) => {
                    if let Some(l) = newest.take() {
                        d.dispatch(Action::Data(l));
                    }
                    d.dispatch(Action::Listeners(p));
                }
            }
            dirty = true;
        }
        if let Some(l) = newest {
            d.dispatch(Action::Data(l));
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            d.dispatch(Action::Tick(last_tick));
            dirty = true;
        }
        if d.app.quit {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
