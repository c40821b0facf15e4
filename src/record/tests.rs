use std::time::Duration;

use super::reader::Recording;
use super::writer::{Limits, Pending, Recorder, Sample};
use super::*;

fn group(port: u16, established: u32) -> GroupRow {
    GroupRow { top_peers: "127.0.0.1=3".into(), ..super::fixtures::group_row(port, established) }
}

fn event(time_ms: u64, kind: &str, cookie: u64) -> EventRow {
    super::fixtures::event_row(time_ms, kind, cookie, (40000, 5000))
}

fn pending(rows: &[EventRow]) -> Pending {
    let mut p = Pending::default();
    for r in rows {
        p.push_row(r.clone(), usize::MAX);
    }
    p
}

fn sample<'a>(time_ms: u64, groups: &'a [GroupRow], events: &'a Pending) -> Sample<'a> {
    Sample { time_ms, dump_ms: 5, sockets: 0, groups, events }
}

const NO_LIMITS: Limits = Limits { keep: None, max_size: None, max_events: usize::MAX };

fn temp(name: &str) -> super::fixtures::TempPath {
    super::fixtures::TempPath::new(name)
}

#[test]
fn samples_groups_and_events_round_trip() {
    let path = temp("roundtrip");
    let mut r = Recorder::create(&path, Limits { max_events: 2, ..NO_LIMITS }).unwrap();
    let g1 = [group(5000, 3)];
    r.write(&Sample { sockets: 4, ..sample(1000, &g1, &Pending::default()) }).unwrap();
    let g2 = [group(5000, 5), group(6000, 0)];
    let evs = [event(1500, "open", 1), event(1600, "open", 2), event(1700, "open", 3)];
    let p = pending(&evs);
    let w = r.write(&Sample { sockets: 7, ..sample(2000, &g2, &p) }).unwrap();
    assert_eq!((w.events_stored, w.events_dropped), (2, 1));
    let e3 = [event(2500, "close", 1)];
    let p = pending(&e3);
    r.write(&Sample { sockets: 6, ..sample(3000, &g2, &p) }).unwrap();
    drop(r);

    let rec = Recording::open(&path).unwrap();
    assert_eq!(rec.samples().unwrap().len(), 3);
    let s = rec.sample_at(2999).unwrap();
    assert_eq!((s.time_ms, s.sockets, s.opened, s.events_dropped), (2000, 7, 3, 1));
    assert_eq!(rec.groups(s.id).unwrap(), vec![group(5000, 5), group(6000, 0)]);
    assert_eq!(rec.events_between(1000, 2000).unwrap(), evs[..2].to_vec());
    let open: Vec<u64> = rec.open_at(3000).unwrap().iter().filter_map(|e| e.cookie).collect();
    assert_eq!(open, vec![2]);
    assert!(matches!(rec.sample_at(999), Err(RecordError::NoSample { .. })));
    assert_eq!(group(80, 1).label(), "127.0.0.1:80");
}

#[test]
fn keep_drops_the_oldest() {
    let path = temp("keep");
    let mut r = Recorder::create(&path, Limits { keep: Some(Duration::from_secs(10)), ..NO_LIMITS }).unwrap();
    for t in 0..30u64 {
        let ev = [event(t * 1000, "open", t)];
        let p = pending(&ev);
        r.write(&sample(t * 1000, &[group(1, 1)], &p)).unwrap();
    }
    drop(r);
    let rec = Recording::open(&path).unwrap();
    let s = rec.samples().unwrap();
    assert_eq!(s.first().unwrap().time_ms, 19_000);
    assert_eq!(rec.events_between(0, 100_000).unwrap().len(), 11);
}

#[test]
fn max_size_keeps_the_file_bounded() {
    let path = temp("maxsize");
    let limit = 256 * 1024;
    let mut r = Recorder::create(&path, Limits { max_size: Some(limit), ..NO_LIMITS }).unwrap();
    let groups: Vec<GroupRow> = (0..50).map(|p| group(p, 10)).collect();
    for t in 0..300u64 {
        r.write(&sample(t * 1000, &groups, &Pending::default())).unwrap();
    }
    assert!(r.size().unwrap() <= limit + 64 * 1024, "{} bytes", r.size().unwrap());
    drop(r);
    let rec = Recording::open(&path).unwrap();
    let s = rec.samples().unwrap();
    assert_eq!(s.last().unwrap().time_ms, 299_000, "the newest samples stay");
    assert!(s.len() < 300);
}

#[test]
fn other_files_are_not_recordings() {
    let path = temp("notarec");
    std::fs::write(&path, b"hello").unwrap();
    assert!(Recording::open(&path).is_err());
    let empty = temp("empty");
    Recorder::create(&empty, NO_LIMITS).unwrap();
    let rec = Recording::open(&empty).unwrap();
    assert!(matches!(rec.sample_at(5), Err(RecordError::Empty { .. })));
}

#[test]
fn top_peers_are_read_back_as_a_list_skipping_what_is_malformed() {
    let g = GroupRow { top_peers: "10.0.0.1=12 [::1]=3 junk ::ffff:1.2.3.4=x fe80::1=2".into(), ..group(1, 1) };
    let want = [("10.0.0.1", 12), ("[::1]", 3), ("fe80::1", 2)].map(|(a, n)| (a.to_string(), n));
    assert_eq!(g.top_peer_list(), want);
}
