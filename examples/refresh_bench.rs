//! Times dashboard refreshes on the live host: collect every socket, track and group them, draw one
//! 120x40 frame. Prints each phase per refresh. Run it where the sockets are, for example inside a benchmark
//! namespace: `nsenter -t PIDNS -n -p -m target/release/examples/refresh_bench 10 [--processes]`.

use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sockscope::collect::{self, SourceChoice};
use sockscope::ports::services::Services;
use sockscope::tui::app::{Action, App, Settings, update};
use sockscope::tui::live::Tracker;
use sockscope::tui::{query_for, view};

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    // `--processes`: also attribute sockets to processes through the cache, as the dashboard does.
    let with_procs = std::env::args().any(|a| a == "--processes");
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
    let mut totals = Vec::new();
    for i in 0..runs {
        let t0 = Instant::now();
        let snap = collector.collect(&q).expect("collect");
        let t1 = Instant::now();
        let n = snap.sockets.len();
        let live = if with_procs {
            let wanted = snap.sockets.iter().map(|s| s.inode).filter(|i| *i != 0);
            let ok = cache.refresh(std::path::Path::new("/proc"), wanted).is_ok();
            let complete = cache.stats().complete;
            tracker.update_with(snap, t1 - t0, t1, ok.then(|| (cache.map(), complete)), None)
        } else {
            tracker.update(snap, t1 - t0, t1)
        };
        let t2 = Instant::now();
        update(&mut app, Action::Data(live));
        term.draw(|f| view::view(&app, f)).expect("draw");
        let t3 = Instant::now();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "refresh {i}: {n} sockets  collect {:.1} ms  track+group {:.1} ms  update+draw {:.1} ms  total {:.1} ms",
            ms(t1 - t0),
            ms(t2 - t1),
            ms(t3 - t2),
            ms(t3 - t0)
        );
        totals.push(ms(t3 - t0));
    }
    totals.sort_by(|a, b| a.total_cmp(b));
    println!("median total {:.1} ms over {runs} refreshes", totals[totals.len() / 2]);
}
