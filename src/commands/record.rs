//! `sockscope record`: the watcher's dumps grouped as the dashboard groups them, and its events, written to
//! an SQLite recording once per interval until interrupted.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::path::PathBuf;

use super::watch::WatchConfig;
use crate::collect::process::ProcessCache;
use crate::events::watcher::{WatchOptions, Watcher};
use crate::group::{self, owners};
use crate::hash::FastSet;
use crate::model::Socket;
use crate::model::owners::ProcessMap;
use crate::record::GroupRow;
use crate::record::writer::{Pending, Recorder, Sample};

/// A checked `record`.
#[derive(Debug)]
pub struct RecordConfig {
    pub watch: WatchConfig,
    pub out: PathBuf,
    pub limits: crate::record::writer::Limits,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

pub fn run(cfg: RecordConfig) -> anyhow::Result<ExitCode> {
    let w = &cfg.watch;
    let opts = WatchOptions {
        query: w.query.clone(),
        interval: w.interval,
        source: w.source,
        proc_root: w.proc_root.clone(),
        // Owners come from a thread of their own (below): a /proc scan must not hold up the samples.
        processes: false,
        process_rescan: Duration::from_secs(60),
        keep_dumps: true,
        // The sockets open at the start are the first sample's groups, not events.
        existing: false,
        netns: w.netns.clone(),
    };
    // Tables of sockets come and go every sample: give their memory back.
    crate::sys::return_large_blocks(crate::sys::LARGE_BLOCK);
    let mut recorder = Recorder::create(&cfg.out, cfg.limits)?;
    // SIGINT, SIGTERM and SIGHUP ask the loop to write its last sample and stop.
    crate::sys::on_termination(on_signal);
    let started = Instant::now();
    let mut events = Vec::new();
    let mut watcher = Watcher::start(opts, &mut events)?;
    if std::io::stderr().is_terminal() {
        crate::errln!(
            "sockscope: recording to {} every {} (Ctrl-C stops)",
            cfg.out.display(),
            crate::output::table::duration_ms(w.interval.as_millis() as u64)
        );
    }
    let mut owners = w.processes.then(|| Owners::start(w.proc_root.clone()));
    // Unconnected UDP sockets on the host's ephemeral ports are one row per address, as on the dashboard
    // (a resolver's hundred sockets would otherwise be a hundred rows a sample).
    let fold = crate::ports::classes::HostPorts::read(&w.proc_root).ok().map(|h| group::Fold::of(&h));
    let mut dumped = true;
    let mut pending = Pending::default();
    loop {
        // Count the events as they come and build rows only for those that will be stored.
        for e in events.drain(..) {
            if super::watch::wanted(w, &e) {
                pending.add(&e, cfg.limits.max_events);
            }
        }
        for n in watcher.take_notes() {
            crate::errln!("sockscope: note: {n}");
        }
        let stop = STOP.load(Ordering::Relaxed) || w.duration.is_some_and(|d| started.elapsed() >= d);
        if stop && !dumped {
            watcher.dump_now(&mut events)?;
            for e in events.drain(..).filter(|e| super::watch::wanted(w, e)) {
                pending.add(&e, cfg.limits.max_events);
            }
            dumped = true;
        }
        if dumped {
            write_sample(&mut recorder, &watcher, &cfg, &std::mem::take(&mut pending), owners.as_mut(), fold.as_ref())?;
        }
        if stop {
            return Ok(ExitCode::SUCCESS);
        }
        let wait = match w.duration {
            Some(d) => d.saturating_sub(started.elapsed()).min(Duration::from_millis(250)),
            None => Duration::from_millis(250),
        };
        dumped = watcher.poll(wait, &mut events)?;
    }
}

/// The recorded row of group `g`; `owner` names its holders.
fn group_row(g: &crate::group::Group, owner: Option<String>) -> GroupRow {
    let mut states = [0u32; 11];
    for (i, c) in states.iter_mut().enumerate() {
        *c = g.states.get(crate::model::State(i as u8 + 1));
    }
    GroupRow {
        // A recording is of one namespace.
        key: g.key.clone().in_netns(0),
        sockets: g.len() as u32,
        listeners: g.listeners.len() as u32,
        states,
        accept_queue: g.accept_queue.map(|q| q.0),
        accept_backlog: g.accept_queue.map(|q| q.1),
        peers: g.peers,
        top_peers: g.top_peers.clone(),
        owner,
    }
}

/// The most unheld inodes a sample asks the owner thread about (the sockets of hidden processes on a host
/// where we are not root can be many): what is left out is asked about by a later sample.
const MAX_ASK: usize = 100_000;

/// What the owner thread last answered: the process map, whether every process could be inspected, and
/// the asked inodes it looked for everywhere without finding a holder.
struct Answer {
    map: std::sync::Arc<ProcessMap>,
    complete: bool,
    unheld: FastSet<u64>,
}

/// Finds the holders of sockets on a thread of its own: a scan of /proc/*/fd can take seconds on a busy
/// host, and the samples must not wait for it. Each sample asks about the inodes of all its groups' sockets
/// that the last answer's map does not know (the process cache keeps what it knows), and counts the
/// holders of every group from the last answer, as the dashboard does.
struct Owners {
    ask: std::sync::mpsc::SyncSender<Vec<u64>>,
    answers: std::sync::mpsc::Receiver<Answer>,
    last: Option<Answer>,
}

impl Owners {
    fn start(proc_root: std::path::PathBuf) -> Owners {
        let (ask, questions) = std::sync::mpsc::sync_channel::<Vec<u64>>(1);
        let (tell, answers) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Owners of groups change seldom: a full rescan a minute keeps the cost of churn low.
            let mut cache = ProcessCache::new().with_full_interval(Duration::from_secs(60));
            let mut sent: Option<(u64, std::sync::Arc<ProcessMap>)> = None;
            for inodes in questions {
                if cache.refresh(&proc_root, inodes.iter().copied()).is_err() {
                    continue;
                }
                // The map is copied only when it changed.
                let map = match &sent {
                    Some((v, m)) if *v == cache.version() => m.clone(),
                    _ => std::sync::Arc::new(cache.map().clone()),
                };
                sent = Some((cache.version(), map.clone()));
                let unheld = inodes.into_iter().filter(|&i| !map.contains(i) && cache.looked_up(i)).collect();
                if tell.send(Answer { map, complete: cache.stats().complete, unheld }).is_err() {
                    return;
                }
            }
        });
        Owners { ask, answers, last: None }
    }

    /// The holders of each of `groups` from the latest answer (`None` before the first), and a question
    /// about the sockets it does not know (unless one is still open).
    fn summarize(&mut self, socks: &[Socket], groups: &[group::Group]) -> Option<Vec<String>> {
        if let Some(a) = self.answers.try_iter().last() {
            self.last = Some(a);
        }
        let empty = ProcessMap::default();
        let map = self.last.as_ref().map_or(&empty, |a| &a.map);
        let mut codes = owners::codes(socks, map);
        let unheld: Vec<u64> = (socks.iter().zip(&codes))
            .filter(|(_, c)| **c == owners::UNHELD)
            .map(|(s, _)| s.inode)
            .take(MAX_ASK)
            .collect();
        let _ = self.ask.try_send(unheld);
        let a = self.last.as_ref()?;
        owners::mark_unscanned(&mut codes, socks, |i| a.unheld.contains(&i));
        let summaries = owners::summarize(socks, groups, &a.map, a.complete, &codes);
        Some(summaries.iter().map(|o| owners::row_label(o, a.map.processes(), usize::MAX)).collect())
    }
}

fn write_sample(
    recorder: &mut Recorder,
    watcher: &Watcher,
    cfg: &RecordConfig,
    events: &Pending,
    owners: Option<&mut Owners>,
    fold: Option<&group::Fold>,
) -> anyhow::Result<()> {
    let w = &cfg.watch;
    let dump = watcher.last_dump();
    let filtered: Vec<Socket>;
    let socks: &[Socket] = if w.filter.is_true() && w.states.is_none() {
        dump
    } else {
        filtered = dump
            .iter()
            .filter(|s| w.states.is_none_or(|st| st.contains(s.state)) && w.filter.matches(s))
            .cloned()
            .collect();
        &filtered
    };
    let groups = group::group_with(socks, fold);
    // Every group's holders, from what the owner thread last answered; nobody's is no owner.
    let labels = owners.and_then(|o| o.summarize(socks, &groups)).unwrap_or_default();
    let owner = |gi: usize| labels.get(gi).filter(|l| *l != "-").cloned();
    let rows: Vec<GroupRow> = groups.iter().enumerate().map(|(gi, g)| group_row(g, owner(gi))).collect();
    recorder.write(&Sample {
        time_ms: watcher.last_dump_ms,
        dump_ms: watcher.last_dump_time.as_millis() as u64,
        sockets: socks.len(),
        groups: &rows,
        events,
    })?;
    Ok(())
}
