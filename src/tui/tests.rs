//! Tests of the collector thread: it filters with whatever the `/` input accepted, on its own stack.

use std::net::IpAddr;
use std::sync::mpsc;

use super::*;
use crate::collect::{CollectError, Snapshot};
use crate::model::{Proto, Socket, State};
use crate::tui::filter::Selection;

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
    let services = crate::ports::services::Services::parse("".as_bytes());
    let selection: Selection = filter::parse(&text, &services, std::path::Path::new("/proc")).expect("accepted");
    let settings = Settings { selection, ..Settings::default() };
    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (up_tx, up_rx) = mpsc::channel();
    let t = std::thread::Builder::new()
        .stack_size(COLLECTOR_STACK)
        .spawn(move || {
            let tracker = Tracker::new();
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
    let Update::Live(live) = up_rx.recv().expect("a snapshot") else { panic!("collection failed") };
    drop((cmd_tx, up_rx));
    t.join().expect("the collector thread ends cleanly");
    assert_eq!(live.total, 1, "only sport 22 passes");
}

#[test]
fn pending_input_is_applied_in_one_batch_before_the_next_draw() {
    // Regression: a pasted 40k-character filter redrew the screen after every key (minutes).
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = App::new(Settings::default(), String::new(), crate::ports::services::Services::default(), false);
    apply_event(&mut app, Event::Key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE)));
    let mut keys = (0..40_000)
        .map(|i| Event::Key(KeyEvent::new(KeyCode::Char(if i % 2 == 0 { 'a' } else { ' ' }), KeyModifiers::NONE)));
    let applied = apply_pending(&mut app, || Ok(keys.next())).unwrap();
    assert_eq!(applied, 40_000, "every waiting key before one draw");
    assert_eq!(app.filter_input.as_ref().map(String::len), Some(40_000));
    // Bracketed paste arrives as one event.
    apply_event(&mut app, Event::Paste("x\ny".into()));
    assert!(app.filter_input.as_ref().unwrap().ends_with("x y"));
}

#[test]
fn a_cgroup_path_filter_asks_the_kernel_for_cgroup_ids() {
    // Regression: `cgroup /system.slice/nginx.service` in the `/` filter matched nothing: the dashboard's
    // dump did not ask for the cgroup ids the term compares.
    let mut settings = Settings::default();
    assert!(!query_for(&settings, true, true).details);
    settings.selection.expr = crate::filter::Expr::Cgroup(42);
    assert!(query_for(&settings, true, true).details);
}
