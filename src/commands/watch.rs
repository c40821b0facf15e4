//! `sockscope watch` and `list -E`: the event stream of [`crate::events::watcher`], filtered and written as
//! table lines or NDJSON.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use std::path::PathBuf;

use crate::collect::{Query, SourceChoice};
use crate::events::watcher::{WatchOptions, Watcher};
use crate::events::{Event, Kind};
use crate::filter::Bound;
use crate::model::StateSet;
use crate::output::{Names, events, json};
use crate::ports::services::Services;

/// A checked `watch`.
#[derive(Debug)]
pub struct WatchConfig {
    pub query: Query,
    /// Events are shown for sockets that match this expression...
    pub filter: Bound,
    /// ...and are in one of these states (`None`: any).
    pub states: Option<StateSet>,
    pub interval: Duration,
    pub existing: bool,
    pub duration: Option<Duration>,
    pub ndjson: bool,
    pub numeric: bool,
    pub processes: bool,
    /// Only closes (`list -E`, as `ss -E`).
    pub closes_only: bool,
    pub source: SourceChoice,
    pub proc_root: PathBuf,
    /// The namespace watched (`-N`; never `--all-netns`).
    pub netns: crate::collect::netns::Choice,
    pub services: Services,
}

/// Does the user want to see this event?
pub fn wanted(cfg: &WatchConfig, ev: &Event) -> bool {
    (!cfg.closes_only || ev.kind == Kind::Close)
        && cfg.states.is_none_or(|st| st.contains(ev.socket.state))
        && cfg.filter.matches(&ev.socket)
}

pub fn run(cfg: WatchConfig) -> anyhow::Result<ExitCode> {
    let opts = WatchOptions {
        query: cfg.query.clone(),
        interval: cfg.interval,
        source: cfg.source,
        proc_root: cfg.proc_root.clone(),
        processes: cfg.processes,
        process_rescan: Duration::from_secs(10),
        keep_dumps: false,
        existing: cfg.existing,
        netns: cfg.netns.clone(),
    };
    let started = Instant::now();
    let mut evs = Vec::new();
    let mut watcher = Watcher::start(opts, &mut evs)?;
    let mut names = Names { services: (!cfg.numeric).then(|| cfg.services.clone()), ..Names::default() };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if !cfg.ndjson {
        events::header(&mut out)?;
    }
    loop {
        for n in watcher.take_notes() {
            crate::errln!("sockscope: note: {n}");
        }
        // Lost closes have their place in the stream too (the note said it on stderr).
        if let Some(lost) = watcher.take_lost()
            && cfg.ndjson
        {
            json::render_lost(&mut out, &lost)?;
        }
        for ev in evs.drain(..).filter(|e| wanted(&cfg, e)) {
            if cfg.ndjson {
                json::render_event(&mut out, &ev, &names)?;
            } else {
                crate::collect::names::interfaces(std::slice::from_ref(&ev.socket), &mut names.interfaces);
                events::render_line(&mut out, &ev, &names)?;
            }
        }
        out.flush()?;
        let wait = match cfg.duration {
            Some(d) => match d.checked_sub(started.elapsed()) {
                Some(left) if !left.is_zero() => left.min(Duration::from_secs(1)),
                _ => return Ok(ExitCode::SUCCESS),
            },
            None => Duration::from_secs(1),
        };
        watcher.poll(wait, &mut evs)?;
    }
}
