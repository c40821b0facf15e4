//! The live dashboard: a collector thread sends processed snapshots over a channel, the UI thread turns
//! terminal events into actions for [`app::update`] and draws with [`view::view`]. The terminal guard and a
//! panic hook always give the terminal back (raw mode off, main screen, mouse released); so do signals, which
//! the loop turns into actions like keys (see [`signals`]).

pub mod app;
pub mod charts;
pub mod columns;
pub mod detail;
pub mod eventlog;
pub mod filter;
pub mod history;
pub mod kill;
pub mod layout;
pub mod live;
pub mod refresh;
pub mod replay;
#[cfg(test)]
mod script;
pub mod signals;
pub mod tables;
#[cfg(test)]
mod tests;
pub mod view;
#[cfg(test)]
mod view_tests;

use std::io::{self, Stdout};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event, KeyEventKind,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};

use crate::collect::process::{Attribution, Attributor, Policy};
use crate::collect::{self, Collector, Query, SourceChoice};
use crate::model::StateSet;
use crate::model::netns::Namespaces;
use crate::ports::classes::HostPorts;
use app::{Action, App, Settings};
use live::{Live, Tracker};

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

/// Messages from the collector thread.
pub enum Update {
    Live(Arc<Live>),
    /// A listeners-only refresh between full ones.
    Listeners(Arc<refresh::ListenerPatch>),
    Error(String),
}

/// Puts the terminal into dashboard mode and back, also on panic and on the signals of [`signals::CAUGHT`]
/// (which the loop answers with [`TerminalGuard::answer`]).
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
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
    fn enter() -> io::Result<TerminalGuard> {
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
            signals::end_as_asked(asked.end);
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
    fn answer(&mut self, asked: &mut signals::Requests) -> io::Result<bool> {
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
        for s in signals::pending() {
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

/// Turn one terminal event into an action.
fn apply_event(app: &mut App, e: Event) {
    match e {
        Event::Key(k) if k.kind != KeyEventKind::Release => app::update(app, Action::Key(k)),
        Event::Paste(text) => app::update(app, Action::Paste(text)),
        Event::Mouse(m) => app::update(app, Action::Mouse(m)),
        Event::Resize(w, h) => app::update(app, Action::Resize(w, h)),
        _ => {}
    }
}

/// Most events applied between two draws: the screen still refreshes during an endless stream of input.
const MAX_EVENTS_PER_DRAW: usize = 100_000;

/// Apply the events `next` has ready (it returns `None` when none is waiting), up to
/// [`MAX_EVENTS_PER_DRAW`]; returns how many were applied.
fn apply_pending(app: &mut App, mut next: impl FnMut() -> io::Result<Option<Event>>) -> io::Result<usize> {
    let mut n = 0;
    while n < MAX_EVENTS_PER_DRAW {
        let Some(e) = next()? else { break };
        apply_event(app, e);
        n += 1;
        if app.quit {
            break;
        }
    }
    Ok(n)
}

/// The query a collection needs for these settings.
pub fn query_for(settings: &Settings, ipv4: bool, ipv6: bool) -> Query {
    Query {
        tcp: settings.protos.tcp,
        udp: settings.protos.udp,
        unix: settings.protos.unix,
        ipv4,
        ipv6,
        states: settings.selection.states.unwrap_or(StateSet::ALL),
        bytecode: crate::filter::bytecode::compile(&settings.selection.expr),
        info: settings.details,
        memory: settings.details,
        // A `cgroup PATH` term matches the kernel's cgroup id of each socket, sent with the details.
        details: settings.selection.expr.needs().cgroup_ids,
        one_tcp_walk: true,
        receive_thread: false,
        // The tracker drops what a dump repeats, in the sort by cookie it does anyway.
        dedupe: false,
        ..Query::default()
    }
}

/// The collector thread's stack: explicit, so what the tests prove about filter depth holds in the dashboard.
pub const COLLECTOR_STACK: usize = 2 << 20;

/// Collect, filter and track on this thread until the UI goes away. Every interval the listeners are
/// dumped (cheap); the full table when [`refresh::full_every`] says its cost allows, at least every
/// [`refresh::MAX_AGE`]. Settings that change what is shown force a full refresh.
pub fn collector_loop(
    mut collector: Box<dyn Collector>,
    mut tracker: Tracker,
    (proc_root, state_roots): (PathBuf, crate::collect::cgroup::StateRoots),
    mut settings: Settings,
    (ipv4, ipv6): (bool, bool),
    commands: Receiver<Settings>,
    updates: Sender<Update>,
) {
    let mut attributor = Attributor::new(Policy::dashboard());
    let mut namer = crate::collect::cgroup::Namer::new(&proc_root, state_roots);
    let mut last_full: Option<Instant> = None;
    let mut full_every = settings.interval;
    let mut force = true;
    loop {
        if !settings.paused {
            let started = Instant::now();
            let full = force || last_full.is_none_or(|t| t.elapsed() >= full_every);
            let msg = if full {
                let cpu = refresh::cpu_time();
                // The processes are looked through as the dashboard's policy says, and when what is shown
                // changed.
                if force {
                    attributor.expire();
                }
                let msg = full_refresh(
                    &mut *collector,
                    &mut attributor,
                    &mut tracker,
                    &settings,
                    (ipv4, ipv6),
                    (&proc_root, &mut namer),
                    started,
                );
                full_every =
                    refresh::full_every(settings.interval, refresh::cpu_time().saturating_sub(cpu), started.elapsed());
                tracker.full_every = full_every;
                last_full = Some(started);
                force = false;
                msg
            } else {
                let mut q = query_for(&settings, ipv4, ipv6);
                q.states = StateSet::of(&[crate::model::State::LISTEN]);
                // Listeners go to the screen without the tracker's match.
                q.dedupe = true;
                q.info = false;
                q.memory = false;
                match collector.collect(&q) {
                    Ok(snap) => {
                        match resolve(&settings.selection.expr, &snap, &attributor.current(), &proc_root, &mut namer) {
                            Ok(expr) => {
                                let keep: Vec<crate::model::Socket> =
                                    snap.sockets.into_iter().filter(|s| expr.matches(s)).collect();
                                Update::Listeners(Arc::new(tracker.listeners(
                                    &keep,
                                    started,
                                    settings.open_group.as_ref(),
                                )))
                            }
                            Err(e) => Update::Error(e.to_string()),
                        }
                    }
                    Err(e) => Update::Error(e.to_string()),
                }
            };
            if updates.send(msg).is_err() {
                return;
            }
        }
        // The interval is the pause between two refreshes (as top's delay): a host where collecting takes
        // long is not polled back to back. A full refresh that is due sooner shortens the wait. New
        // settings that change what is shown end it.
        let done = Instant::now();
        let until_full = last_full.map_or(Duration::ZERO, |t| full_every.saturating_sub(t.elapsed()));
        let pause = if settings.paused { settings.interval } else { settings.interval.min(until_full) };
        loop {
            let left = pause.saturating_sub(done.elapsed());
            match commands.recv_timeout(left) {
                Ok(new) => {
                    let now = new.selection != settings.selection
                        || new.protos != settings.protos
                        || (settings.paused && !new.paused)
                        || (new.details && !settings.details)
                        || (new.open_group.is_some() && new.open_group != settings.open_group);
                    settings = new;
                    if now {
                        force = true;
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

/// One full refresh: every socket, processes attributed as the dashboard's [`Policy`] says, tracked against
/// the last one.
fn full_refresh(
    collector: &mut dyn Collector,
    attributor: &mut Attributor,
    tracker: &mut Tracker,
    settings: &Settings,
    (ipv4, ipv6): (bool, bool),
    (proc_root, namer): (&std::path::Path, &mut crate::collect::cgroup::Namer),
    started: Instant,
) -> Update {
    let q = query_for(settings, ipv4, ipv6);
    match collect::collect_into(collector, &q, tracker.take_spare()) {
        Ok(mut snap) => {
            let took = started.elapsed();
            // When the processes cannot be looked through, the filter binds to what was known.
            let procs = attributor.attribute(proc_root, &snap.sockets).ok();
            let known = procs.clone().unwrap_or_else(|| attributor.current());
            let expr = match resolve(&settings.selection.expr, &snap, &known, proc_root, namer) {
                Ok(e) => e,
                Err(e) => return Update::Error(e.to_string()),
            };
            if !expr.is_true() {
                snap.sockets.retain(|s| expr.matches(s));
            }
            Update::Live(tracker.update_with(snap, took, started, procs.as_ref(), settings.open_group.as_ref()))
        }
        Err(e) => Update::Error(e.to_string()),
    }
}

/// The dashboard's filter bound for this snapshot: its `process`/`pid` terms against the attribution, its
/// `netns`/`container`/`unit`/`cgroup` terms against the snapshot's namespaces.
fn resolve(
    expr: &crate::filter::Expr,
    snap: &crate::collect::Snapshot,
    procs: &Attribution,
    proc_root: &std::path::Path,
    namer: &mut crate::collect::cgroup::Namer,
) -> Result<crate::filter::Bound, crate::filter::BindError> {
    use crate::collect::workloads::Workloads;
    let needs = expr.needs();
    let w = Workloads::for_filter(&snap.namespaces, Some(procs.map()), needs.workloads, proc_root, namer);
    let have = crate::filter::Have::new("the dashboard")
        .holders(procs.map(), procs.complete())
        .workloads(&w)
        .cgroup_ids(needs.cgroup_ids);
    crate::filter::bind(expr, &have)
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
    let settings = Settings {
        interval: cfg.interval,
        paused: false,
        protos: app::Protos { tcp: cfg.tcp, udp: cfg.udp, unix: cfg.unix },
        selection: cfg.selection.clone(),
        details: false,
        open_group: None,
    };
    let families = (cfg.ipv4, cfg.ipv6);
    let proc_root = cfg.proc_root.clone();
    std::thread::Builder::new().name("collector".into()).stack_size(COLLECTOR_STACK).spawn({
        let settings = settings.clone();
        let tracker = Tracker::auditing(HostPorts::read(&cfg.proc_root).ok(), cfg.audit);
        move || collector_loop(collector, tracker, (proc_root, state_roots), settings, families, cmd_rx, up_tx)
    })?;

    let mut app = App::new(settings, cfg.filter_text, cfg.services, cfg.color);
    app.proc_root = cfg.proc_root.clone();
    let mut guard = TerminalGuard::enter()?;
    let result = ui_loop(&mut guard, &mut app, (&up_rx, &cmd_tx), cfg.latency_log.as_deref());
    drop(guard);
    signals::end_as_asked(app.signals.end);
    result
}

/// The UI loop: input, signals and snapshots become actions; a frame is drawn when one changed the App.
fn ui_loop(
    guard: &mut TerminalGuard,
    app: &mut App,
    (up_rx, cmd_tx): (&Receiver<Update>, &Sender<Settings>),
    latency_log: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let size = guard.terminal.size()?;
    app::update(app, Action::Resize(size.width, size.height));
    let mut sent = app.settings.clone();
    let mut dirty = true;
    let mut last_tick = Instant::now();
    let mut log = LatencyLog::open(latency_log);
    let mut input_at: Option<Instant> = None;
    let mut awake = Instant::now();
    loop {
        if dirty {
            guard.terminal.draw(|f| view::view(app, f))?;
            dirty = false;
            if let Some(t) = input_at.take() {
                log.note("key", t);
            }
        }
        if awake.elapsed() > Duration::from_millis(1) {
            log.note("busy", awake);
        }
        let ready = event::poll(Duration::from_millis(100))?;
        awake = Instant::now();
        if ready {
            input_at = Some(awake);
            let first = event::read()?;
            apply_event(app, first);
            // Everything already waiting is applied before the next draw: a pasted 40k-character filter
            // costs one redraw, not one per key.
            apply_pending(app, || if event::poll(Duration::ZERO)? { event::read().map(Some) } else { Ok(None) })?;
            dirty = true;
        }
        for s in signals::pending() {
            app::update(app, Action::Signal(s));
        }
        if guard.answer(&mut app.signals)? {
            let size = guard.terminal.size()?;
            app::update(app, Action::Resize(size.width, size.height));
            dirty = true;
        }
        // Only the newest snapshot matters when several queued up.
        let mut newest = None;
        for u in up_rx.try_iter() {
            match u {
                Update::Live(l) => newest = Some(l),
                Update::Error(e) => {
                    if let Some(l) = newest.take() {
                        app::update(app, Action::Data(l));
                    }
                    app::update(app, Action::CollectFailed(e));
                }
                Update::Listeners(p) => {
                    if let Some(l) = newest.take() {
                        app::update(app, Action::Data(l));
                    }
                    app::update(app, Action::Listeners(p));
                }
            }
            dirty = true;
        }
        if let Some(l) = newest {
            app::update(app, Action::Data(l));
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            app::update(app, Action::Tick(last_tick));
            dirty = true;
        }
        if let Some(targets) = app.kill_request.take() {
            let namespaces = app.live.as_ref().map(|l| l.netns_table.clone()).unwrap_or_default();
            app::update(app, Action::KillDone(close_sockets(&targets, &namespaces, &app.proc_root)));
            dirty = true;
        }
        if app.quit {
            break;
        }
        if app.settings != sent {
            sent = app.settings.clone();
            let _ = cmd_tx.send(sent.clone());
        }
    }
    Ok(())
}
