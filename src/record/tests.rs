//! Recording tests: samples, groups and events round trips, --keep and --max-size, the one-recorder lock,
//! bad rows skipped, moments and diffs, version 1 files read and migrated.

use std::time::Duration;

use super::reader::Recording;
use super::writer::{Limits, Pending, Recorder, Sample};
use super::*;

fn group(port: u16, established: u32) -> GroupRow {
    let lo = std::net::Ipv4Addr::LOCALHOST.into();
    GroupRow { top_peers: vec![(lo, 3)], ..super::fixtures::group_row(port, established) }
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
    let got = parse_top_peers("10.0.0.1=12 [::1]=3 junk ::ffff:1.2.3.4=x fe80::1=2 x=1");
    let want = [("10.0.0.1", 12), ("::1", 3), ("fe80::1", 2)].map(|(a, n)| (a.parse().unwrap(), n));
    assert_eq!(got, want);
    assert_eq!(top_peers_text(&got), "10.0.0.1=12 ::1=3 fe80::1=2");
}

/// Regression: two recorders on one file interleaved their samples silently and pruned each other's rows.
/// The second is refused, naming the file and the process holding it.
#[test]
fn second_recorder_on_one_file_is_refused_naming_the_first() {
    let path = temp("tworecorders");
    let first = Recorder::create(&path, NO_LIMITS).unwrap();
    let second = Recorder::create(&path, NO_LIMITS);
    let Err(e @ RecordError::Busy { .. }) = second else { panic!("a second recorder was let in: {:?}", second.err()) };
    let text = e.to_string();
    assert!(text.starts_with(&format!("{}: another recorder is writing to it", path.display())), "{text}");
    assert!(text.contains(&format!("[{}])", std::process::id())), "names the holder: {text}");
    drop(first);
    // Once the first is gone the file is free again, and readers never needed the lock.
    let again = Recorder::create(&path, NO_LIMITS).unwrap();
    Recording::open(&path).unwrap();
    drop(again);
}

#[test]
fn the_flock_holder_is_found_in_proc_locks() {
    let locks = "1: POSIX  ADVISORY  WRITE 900 fe:00:77 0 EOF\n\
                 2: FLOCK  ADVISORY  READ 901 fe:00:77 0 EOF\n\
                 3: -> FLOCK  ADVISORY  WRITE 902 fe:00:77 0 EOF\n\
                 4: FLOCK  ADVISORY  WRITE 903 fe:01:77 0 EOF\n\
                 5: FLOCK  ADVISORY  WRITE 904 fe:00:77 0 EOF\n";
    assert_eq!(writer::flock_holder(locks, (0xfe, 0), 77), Some(904));
    assert_eq!(writer::flock_holder(locks, (0xfe, 0), 78), None);
    assert_eq!(writer::flock_holder("garbage\n\n: FLOCK\n", (0xfe, 0), 77), None);
}

/// Regression: one out-of-range value (`port = 70000`, a negative count) made the whole file unreadable.
/// The row is skipped, the rest read, and a note counts what was skipped.
#[test]
fn a_port_out_of_range_skips_its_row_not_the_file() {
    let path = temp("outofrange");
    let mut r = Recorder::create(&path, NO_LIMITS).unwrap();
    let evs = [event(1500, "open", 1), event(1600, "open", 2)];
    let p = pending(&evs);
    r.write(&sample(1000, &[group(5000, 3), group(6000, 1)], &Pending::default())).unwrap();
    r.write(&sample(2000, &[group(5000, 4), group(6000, 1), group(7000, 0)], &p)).unwrap();
    drop(r);
    let raw = rusqlite::Connection::open(&*path).unwrap();
    raw.execute_batch(
        "UPDATE groups SET port = 70000 WHERE port = 6000 AND sample_id = 2;
         UPDATE groups SET established = -1 WHERE port = 7000;
         UPDATE events SET local_port = 70000 WHERE cookie = 1;",
    )
    .unwrap();
    drop(raw);
    let mut rec = Recording::open(&path).unwrap();
    let s = rec.sample_at(2000).unwrap();
    let ports: Vec<Option<u16>> = rec.groups(s.id).unwrap().iter().map(|g| g.key.port()).collect();
    assert_eq!(ports, vec![Some(5000)]);
    let open: Vec<Option<u64>> = rec.open_at(2000).unwrap().iter().map(|e| e.cookie).collect();
    assert_eq!(open, vec![Some(2)]);
    let mut removed = Vec::new();
    for change in [reader::Change::Removed, reader::Change::Added] {
        rec.group_diff((1, s.id), change, |g, _| {
            removed.push(g.key.port());
            Ok::<_, RecordError>(())
        })
        .unwrap();
    }
    assert_eq!(removed, vec![Some(6000)], "the skipped row is not there");
    // Two groups, one event; the diff's two bad rows counted once over its passes.
    assert_eq!(rec.skipped(), 5);
    let notes = rec.notes();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("skipped 5 rows with a value out of range") && notes[0].contains("column port"),
        "{notes:?}"
    );
    assert!(rec.notes().is_empty(), "said once");
}

/// The sockets open at a moment, computed in SQL: the last state of each, a reopened cookie once, a close
/// (or an open learned from the close) ends it.
#[test]
fn open_at_takes_the_last_state_of_each_socket() {
    let path = temp("openat");
    let mut r = Recorder::create(&path, NO_LIMITS).unwrap();
    let state =
        |t, c, s: &str| EventRow { state: s.into(), old_state: Some("established".into()), ..event(t, "state", c) };
    let late = EventRow { late: true, ..event(150, "open", 4) };
    let evs = [
        event(100, "open", 1),
        event(110, "open", 2),
        state(120, 1, "fin-wait-1"),
        state(130, 1, "fin-wait-2"),
        event(140, "close", 2),
        late,
        event(160, "close", 4),
        event(170, "open", 3),
        event(180, "close", 3),
        event(190, "open", 3),
        state(200, 9, "closing"),
    ];
    let p = pending(&evs);
    r.write(&sample(1000, &[], &p)).unwrap();
    drop(r);
    let rec = Recording::open(&path).unwrap();
    let got: Vec<(u64, Option<u64>, String)> =
        rec.open_at(1000).unwrap().into_iter().map(|e| (e.time_ms, e.cookie, e.state)).collect();
    let want = [(100, Some(1), "fin-wait-2"), (190, Some(3), "established")];
    assert_eq!(got, want.map(|(t, c, s)| (t, c, s.to_string())));
    let got: Vec<Option<u64>> = rec.open_at(125).unwrap().into_iter().map(|e| e.cookie).collect();
    assert_eq!(got, vec![Some(1), Some(2)]);
    assert_eq!(rec.open_at(125).unwrap()[0].state, "fin-wait-1");
}

/// Group changes between two samples come from a merge of two sorted queries: added, removed and changed
/// each once, a sample's repeated group counted once.
#[test]
fn group_diff_merges_two_samples() {
    let path = temp("groupdiff");
    let mut r = Recorder::create(&path, NO_LIMITS).unwrap();
    let none = Pending::default();
    r.write(&sample(1000, &[group(80, 1), group(443, 2), group(443, 9), group(22, 1)], &none)).unwrap();
    r.write(&sample(2000, &[group(8080, 0), group(443, 5), group(22, 1), group(8080, 3)], &none)).unwrap();
    drop(r);
    let rec = Recording::open(&path).unwrap();
    let mut seen = Vec::new();
    for change in [reader::Change::Added, reader::Change::Removed, reader::Change::Changed] {
        rec.group_diff((1, 2), change, |g, after| {
            seen.push((change, g.key.port(), g.sockets, after.map(|a| a.sockets)));
            Ok::<_, RecordError>(())
        })
        .unwrap();
    }
    use reader::Change::*;
    assert_eq!(
        seen,
        vec![(Added, Some(8080), 1, None), (Removed, Some(80), 2, None), (Changed, Some(443), 3, Some(6))]
    );
}

/// Regression: `diff --from @0` was an error ("no sample at or before 1970-01-01") instead of the start.
#[test]
fn a_moment_before_the_first_sample_starts_a_span_at_the_first() {
    let path = temp("samplefrom");
    let mut r = Recorder::create(&path, NO_LIMITS).unwrap();
    r.write(&sample(5000, &[], &Pending::default())).unwrap();
    r.write(&sample(6000, &[], &Pending::default())).unwrap();
    drop(r);
    let rec = Recording::open(&path).unwrap();
    assert_eq!(rec.sample_from(0).unwrap().time_ms, 5000);
    assert_eq!(rec.sample_from(5999).unwrap().time_ms, 5000);
    assert_eq!(rec.sample_from(u64::MAX).unwrap().time_ms, 6000);
    assert!(matches!(rec.sample_at(0), Err(RecordError::NoSample { .. })), "a moment still names no sample");
    let c = rec.event_counts(0, 6000).unwrap();
    assert_eq!((c.opened, c.closed, c.changed, c.not_stored), (0, 0, 0, 0));
}

/// `groups` as schema version 1 made it (no `uid`; the kinds `unix`, `unix-peer`, `unix-unnamed`,
/// `udp-ephemeral`).
const GROUPS_V1: &str = "CREATE TABLE groups (sample_id INTEGER NOT NULL, kind TEXT NOT NULL, proto TEXT NOT NULL, \
    address TEXT, port INTEGER, sockets INTEGER NOT NULL, listeners INTEGER NOT NULL, \
    established INTEGER NOT NULL, syn_sent INTEGER NOT NULL, syn_recv INTEGER NOT NULL, \
    fin_wait1 INTEGER NOT NULL, fin_wait2 INTEGER NOT NULL, time_wait INTEGER NOT NULL, \
    close INTEGER NOT NULL, close_wait INTEGER NOT NULL, last_ack INTEGER NOT NULL, \
    listen INTEGER NOT NULL, closing INTEGER NOT NULL, accept_queue INTEGER, accept_backlog INTEGER, \
    peers INTEGER NOT NULL, top_peers TEXT, owner TEXT);";

/// A recording as sockscope wrote it with schema version 1: two samples of a listener, a UNIX path, a
/// UDP fold and two rows no key can be made of (an unknown kind, an unknown protocol).
fn v1_recording(name: &str) -> super::fixtures::TempPath {
    let path = temp(name);
    let raw = rusqlite::Connection::open(&*path).unwrap();
    raw.execute_batch(GROUPS_V1).unwrap();
    raw.execute_batch(SCHEMA).unwrap();
    let row = |sample: i64, kind: &str, proto: &str, address: Option<&str>, port: Option<u16>, n: u32| {
        raw.execute(
            "INSERT INTO groups VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, 1, \
             '10.0.0.9=2 [::1]=1', 'x[1]')",
            rusqlite::params![sample, kind, proto, address, port, n],
        )
        .unwrap();
    };
    raw.execute_batch(
        "INSERT INTO meta VALUES ('schema_version', '1');
         INSERT INTO samples VALUES (1, 1000, 10, 5, 0, 0, 0, 1), (2, 2000, 10, 5, 0, 0, 0, 1);",
    )
    .unwrap();
    for (sample, n) in [(1, 1), (2, 2)] {
        row(sample, "listen", "tcp", Some("127.0.0.1"), Some(80), n);
        row(sample, "unix", "unix", Some("/run/a.sock"), None, n);
        row(sample, "udp-ephemeral", "udp", Some("::1"), None, n);
        row(sample, "sideways", "tcp", Some("127.0.0.1"), Some(81), n);
        row(sample, "listen", "quic", Some("127.0.0.1"), Some(82), n);
    }
    path
}

/// Recordings of schema version 1 are still read: their kinds come back as the one vocabulary, their fold
/// without a user; a row with an unknown kind or protocol is skipped and counted, never taken for TCP.
#[test]
fn a_version_1_recording_is_read_with_its_old_kind_words() {
    use crate::group::GroupKey;
    use crate::model::Proto;
    let path = v1_recording("v1read");
    let mut rec = Recording::open(&path).unwrap();
    assert_eq!(rec.version(), 1);
    let keys: Vec<GroupKey> = rec.groups(2).unwrap().into_iter().map(|g| g.key).collect();
    let lo = std::net::Ipv4Addr::LOCALHOST.into();
    let v6 = std::net::Ipv6Addr::LOCALHOST.into();
    assert_eq!(
        keys,
        [
            GroupKey::Listen { proto: Proto::Tcp, ip: lo, port: 80, netns: 0 },
            GroupKey::UdpEphemeral { ip: v6, uid: None, netns: 0 },
            GroupKey::UnixPath(0, "/run/a.sock".into()),
        ]
    );
    let g = &rec.groups(2).unwrap()[0];
    assert_eq!(g.top_peers, vec![("10.0.0.9".parse().unwrap(), 2), ("::1".parse().unwrap(), 1)]);
    assert_eq!(rec.skipped(), 4, "two bad rows, read twice");
    let notes = rec.notes();
    assert!(notes[0].contains("column proto") && notes[0].contains("unknown protocol 'quic'"), "{notes:?}");
    // The old words still name a group over time, and in a diff.
    let unix = rec.groups(1).unwrap().into_iter().find(|g| g.key.kind() == crate::group::GroupKind::UnixPath);
    let mut seen = Vec::new();
    rec.group_over_time(&unix.unwrap(), (0, 5000), |t, g| seen.push((t, g.map(|g| g.sockets)))).unwrap();
    assert_eq!(seen, [(1000, Some(1)), (2000, Some(2))]);
    let mut changed = Vec::new();
    rec.group_diff((1, 2), reader::Change::Changed, |a, _| {
        changed.push(a.key.kind());
        Ok::<_, RecordError>(())
    })
    .unwrap();
    assert_eq!(changed.len(), 3, "{changed:?}");
}

/// A recorder appending to a version 1 recording brings it to the current version first: the kinds
/// renamed, `uid` added; what was there reads as before.
#[test]
fn appending_to_a_version_1_recording_migrates_it() {
    let path = v1_recording("v1migrate");
    let before = Recording::open(&path).unwrap().groups(2).unwrap();
    let mut r = Recorder::create(&path, NO_LIMITS).unwrap();
    r.write(&sample(3000, &[group(9000, 1)], &Pending::default())).unwrap();
    drop(r);
    let rec = Recording::open(&path).unwrap();
    assert_eq!(rec.version(), SCHEMA_VERSION);
    assert_eq!(rec.groups(2).unwrap(), before);
    assert_eq!(rec.groups(3).unwrap(), vec![group(9000, 1)]);
    let raw = rusqlite::Connection::open(&*path).unwrap();
    let kinds: Vec<String> = raw
        .prepare("SELECT DISTINCT kind FROM groups ORDER BY kind")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kinds, ["listen", "sideways", "udp_ephemeral", "unix_path"]);
}

/// The columns a key is recorded as: the one vocabulary now, the old words in a version 1 file.
#[test]
fn keys_are_recorded_in_the_files_words() {
    use crate::group::GroupKind;
    for k in GroupKind::ALL {
        assert_eq!(kind_of(kind_text(k, 1), 1), Ok(k));
        assert_eq!(kind_of(kind_text(k, SCHEMA_VERSION), SCHEMA_VERSION), Ok(k));
    }
    assert_eq!(kind_text(GroupKind::UdpEphemeral, 1), "udp-ephemeral");
    assert_eq!(kind_text(GroupKind::UdpEphemeral, 2), "udp_ephemeral");
    assert!(kind_of("unix", 2).is_err(), "the old words are version 1's only");
}
