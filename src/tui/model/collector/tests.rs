//! Tests of the collector thread: it filters with whatever the `/` input accepted, on its own stack.

use std::net::IpAddr;
use std::sync::mpsc;

use super::*;
use crate::collect::{CollectError, Snapshot};
use crate::model::{Proto, Socket, State};
use crate::ports::services::Services;

/// Serves the same two sockets every time.
struct Fixed;

impl Collector for Fixed {
    fn stream(&mut self, _q: &Query, sink: &mut crate::collect::Sink<'_>) -> Result<Snapshot, CollectError> {
        let s = |port| {
            let lo = IpAddr::from([127, 0, 0, 1]);
            Socket::inet(Proto::Tcp, State::ESTABLISHED, (lo, port), (lo, 40000))
        };
        sink(vec![s(22), s(23)]);
        Ok(Snapshot::default())
    }
}

#[test]
fn the_collector_thread_survives_the_deepest_filter_the_input_accepts() {
    // Regression: the collector thread (default stack) overflowed on filters smaller than `list` did.
    let depth = crate::filter::parser::MAX_DEPTH;
    let text = format!("{}sport = :22{}", "!(!(".repeat(depth / 2), "))".repeat(depth / 2));
    let services = Services::parse("".as_bytes());
    let lookup = crate::filter::SystemLookup::new(std::path::Path::new("/proc"));
    let selection: Selection = crate::filter::parse(&text, &services, &lookup).expect("accepted");
    let settings = CollectSettings { selection, ..CollectSettings::default() };
    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (up_tx, up_rx) = mpsc::channel();
    let t = std::thread::Builder::new()
        .stack_size(COLLECTOR_STACK)
        .spawn(move || {
            let tracker = LiveTracker::new();
            collector_loop(
                Box::new(Fixed),
                tracker,
                (PathBuf::from("/nonexistent"), Default::default()),
                settings,
                (true, true),
                cmd_rx,
                up_tx,
            )
        })
        .unwrap();
    let Refresh::Full(live) = up_rx.recv().expect("a snapshot") else { panic!("collection failed") };
    drop((cmd_tx, up_rx));
    t.join().expect("the collector thread ends cleanly");
    assert_eq!(live.total, 1, "only sport 22 passes");
}

#[test]
fn a_cgroup_path_filter_asks_the_kernel_for_cgroup_ids() {
    // Regression: `cgroup /system.slice/nginx.service` in the `/` filter matched nothing: the dashboard's
    // dump did not ask for the cgroup ids the term compares.
    let mut settings = CollectSettings::default();
    assert!(!query_for(&settings, true, true).details);
    settings.selection.expr = crate::filter::Expr::Cgroup(42);
    assert!(query_for(&settings, true, true).details);
}
