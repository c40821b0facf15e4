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
use crate::group;
use crate::hash::FastMap;
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
        // Owners come from a thread of their own (below): a /proc scan must not hold up the samples.
        processes: false,
        process_rescan: Duration::from_secs(60),
        keep_dumps: true,
        // The sockets open at the start are the first sample's groups, not events.
        existing: false,
    };
    // Tables of sockets come and go every sample: give their memory back.
    crate::sys::return_large_blocks(crate::sys::LARGE_BLOCK);
    let mut recorder = Recorder::create(&cfg.out, cfg.limits)?;
    // SIGINT and SIGTERM ask the loop to write its last sample and stop.
    crate::sys::on_termination(on_signal);
    let started = Instant::now();
    let mut events = Vec::new();
    let mut watcher = Watcher::start(opts, &mut events)?;
    if std::io::stderr().is_terminal() {
        eprintln!(
            "sockscope: recording to {} every {} (Ctrl-C stops)",
            cfg.out.display(),
            crate::output::table::duration_ms(w.interval.as_millis() as u64)
        );
    }
    let mut owners = w.processes.then(|| Owners::start(w.proc_root.clone()));
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
            eprintln!("sockscope: note: {n}");
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
            write_sample(&mut recorder, &watcher, &cfg, &std::mem::take(&mut pending), owners.as_mut())?;
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

/// The recorded row of group `g`; `owner` names the process of a socket (by its index in the dump).
fn group_row(g: &crate::group::Group, owner: impl Fn(u32) -> Option<String>) -> GroupRow {
    use crate::group::GroupKey;
    let (kind, address, port) = match &g.key {
        GroupKey::Listen { ip, port, .. } => ("listen", Some(ip.to_string()), Some(*port)),
        GroupKey::Outbound { ip, port, .. } => ("outbound", Some(ip.to_string()), Some(*port)),
        GroupKey::UnixPath(_, p) => ("unix", Some(p.clone()), None),
        GroupKey::UnixPeer(_, p) => ("unix-peer", Some(p.clone()), None),
        GroupKey::UnixUnnamed(_) => ("unix-unnamed", None, None),
        // Only the dashboard folds (recorded groups never make one).
        GroupKey::UdpEphemeral { ip, .. } => ("udp-ephemeral", Some(ip.to_string()), None),
    };
    let mut states = [0u32; 11];
    for (i, c) in states.iter_mut().enumerate() {
        *c = g.states.get(crate::model::State(i as u8 + 1));
    }
    let top_peers: Vec<String> = g.top_peers.iter().map(|(ip, n)| format!("{ip}={n}")).collect();
    let first = g.listeners.first().or(g.members.first()).copied();
    GroupRow {
        kind: kind.into(),
        proto: g.key.proto().name().into(),
        address,
        port,
        sockets: g.len() as u32,
        listeners: g.listeners.len() as u32,
        states,
        accept_queue: g.accept_queue.map(|q| q.0),
        accept_backlog: g.accept_queue.map(|q| q.1),
        peers: g.peers,
        top_peers: top_peers.join(" "),
        owner: first.and_then(owner),
    }
}

/// Names the holders of inodes on a thread of its own: a scan of /proc/*/fd can take seconds on a busy host,
/// and the samples must not wait for it. Each sample asks about its groups' first sockets and uses the last
/// answer.
struct Owners {
    ask: std::sync::mpsc::SyncSender<Vec<u64>>,
    answers: std::sync::mpsc::Receiver<FastMap<u64, String>>,
    known: FastMap<u64, String>,
}

impl Owners {
    fn start(proc_root: std::path::PathBuf) -> Owners {
        let (ask, questions) = std::sync::mpsc::sync_channel::<Vec<u64>>(1);
        let (tell, answers) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Owners of groups change seldom: a full rescan a minute keeps the cost of churn low.
            let mut cache = ProcessCache::new().with_full_interval(Duration::from_secs(60));
            for inodes in questions {
                let Ok(map) = cache.refresh(&proc_root, inodes.iter().copied()) else { continue };
                let named: FastMap<u64, String> = inodes
                    .iter()
                    .filter_map(|&i| map.get(i).next().map(|r| (i, format!("{}/{}", r.process.comm, r.process.pid))))
                    .collect();
                if tell.send(named).is_err() {
                    return;
                }
            }
        });
        Owners { ask, answers, known: FastMap::default() }
    }

    /// Ask about `inodes` (unless a question is still open) and return the latest answer.
    fn ask(&mut self, inodes: Vec<u64>) -> &FastMap<u64, String> {
        if let Some(a) = self.answers.try_iter().last() {
            self.known = a;
        }
        let _ = self.ask.try_send(inodes);
        &self.known
    }
}

fn write_sample(
    recorder: &mut Recorder,
    watcher: &Watcher,
    cfg: &RecordConfig,
    events: &Pending,
    owners: Option<&mut Owners>,
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
    let groups = group::group(socks);
    // Each group's listener (or first socket) is named: from what the owner thread last answered.
    let firsts = groups.iter().filter_map(|g| g.listeners.first().or(g.members.first()).copied());
    let inodes: Vec<u64> = firsts.filter_map(|i| socks.get(i as usize)).map(|s| s.inode).filter(|&i| i != 0).collect();
    let known = match owners {
        Some(o) => o.ask(inodes),
        None => &FastMap::default(),
    };
    let owner = |i: u32| known.get(&socks.get(i as usize)?.inode).cloned();
    let rows: Vec<GroupRow> = groups.iter().map(|g| group_row(g, owner)).collect();
    recorder.write(&Sample {
        time_ms: watcher.last_dump_ms,
        dump_ms: watcher.last_dump_time.as_millis() as u64,
        sockets: socks.len(),
        groups: &rows,
        events,
    })?;
    Ok(())
}
