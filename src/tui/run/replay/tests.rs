use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::record::fixtures::TempPath;
use crate::record::writer::{Limits, Pending, Recorder, Sample};
use crate::record::{EventRow, GroupRow};
use crate::tui::present::replay::{axis_times, trend};

fn group(port: u16, established: u32) -> GroupRow {
    crate::record::fixtures::group_row(port, established)
}

fn event(time_ms: u64, kind: &str) -> EventRow {
    let mut e = crate::record::fixtures::event_row(time_ms, kind, time_ms, (5000, 40000 + time_ms as u16 % 1000));
    e.lifetime_ms = None;
    e
}

/// A new recording in the temp directory, named for the test.
fn fresh(name: &str) -> (TempPath, Recorder) {
    let path = TempPath::new(&format!("replay-{name}"));
    let w = Recorder::create(&path, Limits { keep: None, max_size: None, max_events: 100 }).unwrap();
    (path, w)
}

/// A recording of a listener that gets 0, 5, then 12 connections, a sample a second.
fn recording() -> (TempPath, Recording) {
    let (path, mut w) = fresh("steps");
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

/// A listener whose connections rise and turn to TIME-WAIT while its accept queue fills, with its busiest
/// peers, and a group of unconnected UDP sockets; `n` samples a second apart.
fn busy_recording(name: &str, n: usize) -> (TempPath, Recording) {
    let (path, mut w) = fresh(name);
    let t0 = 1_764_534_600_000;
    for i in 0..n {
        let k = (i % 8) as u32;
        let mut listener = group(5000, 2 + 3 * k);
        listener.states[5] = k * 2; // time_wait
        listener.sockets += k * 2;
        listener.accept_queue = Some(k * 16);
        listener.peers = 3;
        let peer = |d| std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, d));
        listener.top_peers = vec![(peer(2), 1 + 2 * k), (peer(3), 1 + k), (peer(4), 1)];
        let mut udp = group(0, 0);
        udp.key = crate::group::GroupKey::UdpEphemeral { ip: peer(1), uid: Some(7), netns: 0 };
        (udp.listeners, udp.sockets) = (0, 20);
        (udp.accept_queue, udp.accept_backlog, udp.owner) = (None, None, Some("unbound/7".into()));
        udp.states = [0; 11];
        udp.states[6] = 20; // close: unconnected
        let g = [listener, udp];
        let evs = Pending::default();
        w.write(&Sample { time_ms: t0 + i as u64 * 1000, sockets: 40, groups: &g, events: &evs, dump_ms: 1 }).unwrap();
    }
    drop(w);
    let rec = Recording::open(&path).unwrap();
    (path, rec)
}

/// A replay of `rec` at its first sample, loaded.
fn opened(rec: &Recording) -> Replay {
    let mut r = Replay { file: "rec.db".into(), samples: rec.samples().unwrap(), ..Replay::default() };
    load(&mut r, rec).unwrap();
    r
}

fn key(r: &mut Replay, rec: &Recording, k: KeyCode) {
    update(r, KeyEvent::new(k, KeyModifiers::NONE));
    load(r, rec).unwrap();
}

fn screen(r: &Replay) -> String {
    screen_of(r, 110, 24)
}

fn screen_of(r: &Replay, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view(r, f)).unwrap();
    format!("{}", t.backend())
}

#[test]
fn stepping_shows_the_counts_of_each_moment() {
    let (_path, rec) = recording();
    let mut r = opened(&rec);
    assert_eq!(r.groups[0].state(crate::model::State::ESTABLISHED), 0);
    key(&mut r, &rec, KeyCode::Right);
    assert_eq!(r.groups[0].state(crate::model::State::ESTABLISHED), 5);
    assert_eq!(r.events.len(), 5, "the opens up to the cursor");
    key(&mut r, &rec, KeyCode::End);
    assert_eq!(r.groups[0].sockets, 13);
    assert_eq!(trend(&r.series), vec![1, 6, 6, 13, 13], "the trend covers the whole recording");
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
}

/// Replay drew only a sparkline of a group's total: Enter now opens it with the live dashboard's charts fed
/// from the recording (states and accept queue over the whole recording, the cursor marked, top peers at the
/// cursor).
#[test]
fn opening_a_group_in_replay_shows_its_charts_over_the_whole_recording() {
    let (_path, rec) = busy_recording("group", 8);
    let mut r = opened(&rec);
    for _ in 0..5 {
        key(&mut r, &rec, KeyCode::Right);
    }
    // The selection followed the first row of the first sample (the UDP group): the listener is above it.
    key(&mut r, &rec, KeyCode::Up);
    key(&mut r, &rec, KeyCode::Enter);
    assert_eq!(r.open.as_ref().map(|g| g.key.port()), Some(Some(5000)));
    assert_eq!(r.series.samples.len(), 8, "the whole recording, not up to the cursor");
    let s = screen(&r);
    assert!(s.contains("ESTAB⣿ 17") && s.contains("T-WAIT• 10"), "the legend says the cursor's values: {s}");
    assert!(s.contains("accept queue 80/128") && s.contains("top peers of 3"), "{s}");
    insta::assert_snapshot!("replay_group_listener", s);
    // At 80x24 the narrow charts' time axes shorten to minutes instead of cutting the times.
    let small = screen_of(&r, 80, 24);
    assert!(small.contains("││20:30   ") && small.contains("│20:30:00 "), "{small}");
    insta::assert_snapshot!("replay_group_listener_80x24", small);
    // Stepping moves the cursor over the same charts; the peers are the new moment's.
    key(&mut r, &rec, KeyCode::Right);
    let s = screen(&r);
    assert!(s.contains("accept queue 96/128") && s.contains("127.0.0.2 ") && s.contains(" 13"), "{s}");
    // Esc goes back to the list (a second Esc quits).
    key(&mut r, &rec, KeyCode::Esc);
    assert!(r.open.is_none() && !r.quit);
    key(&mut r, &rec, KeyCode::Down);
    key(&mut r, &rec, KeyCode::Enter);
    let s = screen(&r);
    assert!(s.contains("UNCONN▚ 20") && !s.contains("ESTAB"), "unconnected UDP is UNCONN: {s}");
    insta::assert_snapshot!("replay_group_udp", s);
    key(&mut r, &rec, KeyCode::Esc);
    key(&mut r, &rec, KeyCode::Esc);
    assert!(r.quit);
}

/// A recording of hours loads into the chart's bounded series (one streamed pass), still covering all of it.
#[test]
fn a_long_recording_loads_into_a_bounded_series() {
    let (_path, rec) = busy_recording("long", 1000);
    let mut r = opened(&rec);
    key(&mut r, &rec, KeyCode::Enter);
    assert!(r.series.samples.len() <= crate::tui::model::history::CAP, "{}", r.series.samples.len());
    assert!(r.series.samples.first().unwrap().t < r.series.stride as f64);
    assert_eq!(r.series.samples.last().unwrap().t, 999.0);
}

/// Replaying a recording still being written: the group's charts covered samples taken after the replay
/// read the timeline, so the cursor line and the axis labels were off. They stop at the last known sample.
#[test]
fn a_recording_still_being_written_charts_only_the_samples_the_replay_knows() {
    let (path, rec) = busy_recording("growing", 6);
    let mut r = Replay { file: "rec.db".into(), samples: rec.samples().unwrap(), ..Replay::default() };
    let mut w = Recorder::create(&path, Limits { keep: None, max_size: None, max_events: 100 }).unwrap();
    for i in 6..12u64 {
        let g = [group(5000, 1)];
        let evs = Pending::default();
        let time_ms = 1_764_534_600_000 + i * 1000;
        w.write(&Sample { time_ms, sockets: 2, groups: &g, events: &evs, dump_ms: 1 }).unwrap();
    }
    drop(w);
    load(&mut r, &rec).unwrap();
    key(&mut r, &rec, KeyCode::End);
    let s = r.groups.iter().position(|g| g.key.port() == Some(5000)).unwrap();
    r.sel = s;
    key(&mut r, &rec, KeyCode::Enter);
    assert_eq!(r.series.samples.len(), 6);
    assert_eq!(r.series.samples.last().unwrap().t, 5.0);
}

/// A recording of almost a day (20:30 to 20:29 the next day) was labelled `20:30:00 .. 20:29:50`: a recording
/// that crosses midnight gets dates.
#[test]
fn the_time_axis_of_a_recording_across_midnight_has_dates() {
    let t0 = 1_764_534_600_000; // 2025-11-30T20:30:00Z
    assert_eq!(axis_times(t0, t0 + 60_000)[0], ("20:30:00".to_string(), "20:31:00".to_string()));
    assert_eq!(axis_times(t0, t0 + 86_390_000)[0], ("11-30T20:30".to_string(), "12-01T20:29".to_string()));
    assert_eq!(axis_times(t0, t0 + 86_390_000)[1], ("11-30".to_string(), "12-01".to_string()));
}

/// A recording of one sample has no line to draw, and says so in its own words (no refresh is coming).
#[test]
fn a_recording_of_one_sample_says_so_instead_of_waiting() {
    let (_path, rec) = busy_recording("one", 1);
    let mut r = opened(&rec);
    key(&mut r, &rec, KeyCode::Enter);
    let s = screen(&r);
    assert!(s.contains("a single sample: no line to draw") && !s.contains("waiting"), "{s}");
}
