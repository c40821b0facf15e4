use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::record::writer::{Limits, Pending, Recorder, Sample};

fn group(port: u16, established: u32) -> GroupRow {
    crate::record::fixtures::group_row(port, established)
}

fn event(time_ms: u64, kind: &str) -> EventRow {
    let mut e = crate::record::fixtures::event_row(time_ms, kind, time_ms, (5000, 40000 + time_ms as u16 % 1000));
    e.lifetime_ms = None;
    e
}

/// A recording of a listener that gets 0, 5, then 12 connections, a sample a second.
fn recording() -> (std::path::PathBuf, Recording) {
    let path = std::env::temp_dir().join(format!("sockscope-time-replay-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut w = Recorder::create(&path, Limits { keep: None, max_size: None, max_events: 100 }).unwrap();
    let t0 = 1_764_534_600_000;
    for (i, n) in [0u32, 5, 5, 12, 12].into_iter().enumerate() {
        let evs: Vec<EventRow> = match i {
            1 => (0..5).map(|j| event(t0 + 500 + j, "open")).collect(),
            3 => (0..7).map(|j| event(t0 + 2500 + j, "open")).collect(),
            _ => Vec::new(),
        };
        let g = [group(5000, n)];
        let mut p = Pending::default();
        for e in evs {
            p.push_row(e, 100);
        }
        w.write(&Sample {
            time_ms: t0 + i as u64 * 1000,
            sockets: n as usize * 2 + 1,
            groups: &g,
            events: &p,
            dump_ms: 1,
        })
        .unwrap();
    }
    drop(w);
    let rec = Recording::open(&path).unwrap();
    (path, rec)
}

fn key(r: &mut Replay, rec: &Recording, k: KeyCode) {
    update(r, KeyEvent::new(k, KeyModifiers::NONE));
    load(r, rec).unwrap();
}

fn screen(r: &Replay) -> String {
    let mut t = Terminal::new(TestBackend::new(110, 24)).unwrap();
    t.draw(|f| view(r, f)).unwrap();
    format!("{}", t.backend())
}

#[test]
fn stepping_shows_the_counts_of_each_moment() {
    let (path, rec) = recording();
    let mut r = Replay { file: "rec.db".into(), samples: rec.samples().unwrap(), ..Replay::default() };
    load(&mut r, &rec).unwrap();
    assert_eq!(r.groups[0].state(crate::model::State::ESTABLISHED), 0);
    key(&mut r, &rec, KeyCode::Right);
    assert_eq!(r.groups[0].state(crate::model::State::ESTABLISHED), 5);
    assert_eq!(r.events.len(), 5, "the opens up to the cursor");
    key(&mut r, &rec, KeyCode::End);
    assert_eq!(r.groups[0].sockets, 13);
    assert_eq!(r.trend, vec![1, 6, 6, 13, 13], "the trend covers the whole recording");
    insta::assert_snapshot!("replay_end", screen(&r));
    // Jump to a time: the sample at or before it.
    for k in [":", "@", "1", "7", "6", "4", "5", "3", "4", "6", "0", "1", ".", "5"] {
        key(&mut r, &rec, KeyCode::Char(k.chars().next().unwrap()));
    }
    key(&mut r, &rec, KeyCode::Enter);
    assert_eq!(r.cursor, 1);
    assert_eq!(r.groups[0].sockets, 6);
    key(&mut r, &rec, KeyCode::Char('q'));
    assert!(r.quit);
    let _ = std::fs::remove_file(path);
}
