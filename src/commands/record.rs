//! `sockscope record`: the watcher's dumps grouped as the dashboard groups them, and its events, written to
//! an SQLite recording once per interval until interrupted.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::path::PathBuf;

use super::watch::WatchConfig;
use crate::collect::process::{Attribution, Attributor, Policy};
use crate::events::watcher::{WatchOptions, Watcher};
use crate::group::{self, owners};
use crate::model::Socket;
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
        // Group holders come from a thread of their own (below): a /proc scan must not hold up the samples.
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
    let mut owners = w.processes.then(|| GroupHolders::start(w.proc_root.clone()));
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

/// Finds the holders of sockets on a thread of its own: a scan of /proc/*/fd can take seconds on a busy
/// host, and the samples must not wait for it. Each sample asks about the inodes of all its groups' sockets
/// that the last answer's map does not know (the attributor keeps what it knows, as `record`'s [`Policy`]
/// says), and counts the holders of every group from the last answer, as the dashboard does.
struct GroupHolders {
    ask: std::sync::mpsc::SyncSender<Vec<u64>>,
    answers: std::sync::mpsc::Receiver<Attribution>,
    last: Option<Attribution>,
}

impl GroupHolders {
    fn start(proc_root: std::path::PathBuf) -> GroupHolders {
        let (ask, questions) = std::sync::mpsc::sync_channel::<Vec<u64>>(1);
        let (tell, answers) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut attributor = Attributor::new(Policy::recording());
            for inodes in questions {
                let Ok(a) = attributor.attribute_inodes(&proc_root, inodes, Instant::now()) else { continue };
                if tell.send(a).is_err() {
                    return;
                }
            }
        });
        GroupHolders { ask, answers, last: None }
    }

    /// The holders of each of `groups` from the latest answer (`None` before the first), and a question
    /// about the sockets it does not know (unless one is still open).
    fn summarize(&mut self, socks: &[Socket], groups: &[group::Group]) -> Option<Vec<String>> {
        if let Some(a) = self.answers.try_iter().last() {
            self.last = Some(a);
        }
        let known = self.last.as_ref().map(Attribution::map);
        let unheld: Vec<u64> = (socks.iter().map(|s| s.inode))
            .filter(|&i| i != 0 && !known.is_some_and(|m| m.contains(i)))
            .take(MAX_ASK)
            .collect();
        let _ = self.ask.try_send(unheld);
        let a = self.last.as_ref()?;
        let summaries = owners::summarize(socks, groups, a);
        Some(summaries.iter().map(|o| owners::row_label(o, a.map().processes(), usize::MAX)).collect())
    }
}

fn write_sample(
    recorder: &mut Recorder,
    watcher: &Watcher,
    cfg: &RecordConfig,
    events: &Pending,
    owners: Option<&mut GroupHolders>,
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
