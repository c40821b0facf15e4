//! Times dashboard refreshes on the live host as the dashboard does them: a full refresh (collect every
//! socket, attribute processes, track and group, draw one 120x40 frame) and a listeners-only refresh. For
//! each phase it prints wall time and this thread's CPU time split into kernel (system) and userspace
//! (user), from getrusage(RUSAGE_THREAD): the dump's kernel time is the floor, the userspace share is ours.
//! Run it where the sockets are, for example inside a benchmark namespace:
//! `nsenter -t PIDNS -n -p -m target/release/examples/refresh_bench 10`.

use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sockscope::collect::{self, SourceChoice};
use sockscope::model::{State, StateSet};
use sockscope::ports::services::Services;
use sockscope::tui::app::{Action, App, Settings, update};
use sockscope::tui::live::Tracker;
use sockscope::tui::{query_for, view};

/// (user, system) CPU time of this thread.
fn cpu() -> (Duration, Duration) {
    sockscope::sys::thread_times()
}

#[derive(Default, Clone, Copy)]
struct Phase {
    wall: Duration,
    user: Duration,
    sys: Duration,
}

fn measure<T>(f: impl FnOnce() -> T) -> (T, Phase) {
    let (u0, s0) = cpu();
    let t0 = Instant::now();
    let out = f();
    let wall = t0.elapsed();
    let (u1, s1) = cpu();
    (out, Phase { wall, user: u1 - u0, sys: s1 - s0 })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let mut cache = sockscope::collect::process::ProcessCache::new();
    let settings = Settings::default();
    let mut collector = collect::open(SourceChoice::Auto, "/proc".into());
    // As the dashboard does: the audit markers and the ephemeral-port pressure with the host's ports.
    let host = sockscope::ports::classes::HostPorts::read("/proc".as_ref()).ok();
    let mut tracker = Tracker::auditing(host, sockscope::ports::audit::AuditOptions::default());
    let mut app = App::new(settings.clone(), String::new(), Services::system(), true);
    update(&mut app, Action::Resize(120, 40));
    let mut term = Terminal::new(TestBackend::new(120, 40)).expect("test backend");
    let q = query_for(&settings, true, true);
    let mut lq = q.clone();
    lq.states = StateSet::of(&[State::LISTEN]);
    let (mut kernel, mut user, mut listen) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let (snap, collect) = measure(|| collector.collect(&q).expect("collect"));
        let n = snap.sockets.len();
        let took = collect.wall;
        let (ok, procs) = measure(|| {
            let wanted = snap.sockets.iter().map(|s| s.inode).filter(|i| *i != 0);
            cache.refresh(std::path::Path::new("/proc"), wanted).is_ok()
        });
        let (live, track) = measure(|| {
            let complete = cache.stats().complete;
            tracker.update_with(snap, took, Instant::now(), ok.then(|| (cache.map(), complete)), None)
        });
        let ((), draw) = measure(|| {
            update(&mut app, Action::Data(live));
            term.draw(|f| view::view(&app, f)).expect("draw");
        });
        let (_, l) = measure(|| {
            let snap = collector.collect(&lq).expect("collect listeners");
            tracker.listeners(&snap.sockets, Instant::now(), None)
        });
        let userspace = collect.user + procs.user + track.user + track.sys + draw.user + draw.sys;
        println!(
            "refresh {i}: {n} sockets  dump: kernel {:.1} ms + decode {:.1} ms  processes: user {:.1} ms kernel \
             {:.1} ms (wall {:.1}, {} scanned, full {})  track+group {:.1} ms  update+draw {:.1} ms  userspace/kernel {:.1}%  \
             listeners-only {:.1} ms",
            ms(collect.sys),
            ms(collect.user),
            ms(procs.user),
            ms(procs.sys),
            ms(procs.wall),
            cache.stats().scanned,
            cache.stats().full,
            ms(track.user + track.sys),
            ms(draw.user + draw.sys),
            100.0 * userspace.as_secs_f64() / collect.sys.as_secs_f64().max(1e-9),
            ms(l.user + l.sys),
        );
        if i > 0 {
            // The first refresh scans every process and fills the caches: not the steady state.
            kernel.push(ms(collect.sys));
            user.push(ms(userspace));
            listen.push(ms(l.user + l.sys));
        }
    }
    let (k, u) = (median(kernel), median(user));
    println!(
        "median over refreshes 1..{runs}: kernel dump {k:.1} ms, userspace {u:.1} ms ({:.1}% of the kernel's), \
         listeners-only refresh {:.1} ms",
        100.0 * u / k.max(1e-9),
        median(listen)
    );
}
