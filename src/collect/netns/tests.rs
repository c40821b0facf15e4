//! Discovery parsers, dumps of namespaces in order, and the stable ids of a live view.

use super::*;

#[test]
fn ns_links() {
    assert_eq!(parse_ns_link(b"net:[4026531840]"), Some(4026531840));
    for bad in [&b"mnt:[1]"[..], b"net:[]", b"net:[x]", b"net:4026531840", b""] {
        assert_eq!(parse_ns_link(bad), None, "{bad:?}");
    }
}

#[test]
fn mountinfo_nsfs_mounts() {
    let text = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
611 25 0:4 net:[4026532291] /run/netns/blue rw shared:300 - nsfs nsfs rw
612 25 0:4 net:[4026532400] /run/docker/netns/1a2b3c4d5e6f rw - nsfs nsfs rw
613 25 0:4 mnt:[4026532500] /run/mnt rw - nsfs nsfs rw
614 25 0:4 net:[4026532401] /run/netns/with\\040space rw - nsfs nsfs rw
garbage line
615 25 0:4 net:[4026532402] - nsfs
";
    assert_eq!(
        parse_mountinfo(text),
        vec![
            (4026532291, PathBuf::from("/run/netns/blue")),
            (4026532400, PathBuf::from("/run/docker/netns/1a2b3c4d5e6f")),
            (4026532401, PathBuf::from("/run/netns/with space")),
        ]
    );
}

#[test]
fn targets() {
    assert_eq!(Target::parse("blue"), Ok(Target::Name("blue".into())));
    assert_eq!(Target::parse("1234"), Ok(Target::Pid(1234)));
    assert_eq!(Target::parse("/proc/1/ns/net"), Ok(Target::Path("/proc/1/ns/net".into())));
    assert!(Target::parse("").is_err());
    assert!(Target::parse("..").is_err());
    assert!(Target::parse("99999999999").is_err());
}

#[test]
fn discovery_finds_our_own_namespace_first() {
    let mut namer = Namer::new(Path::new("/proc"), Default::default());
    let d = discover(&Roots::default(), &mut namer).unwrap();
    let own = own_inode(Path::new("/proc")).unwrap();
    assert_eq!(d.found[0].ns.inode, own);
    let mut inodes: Vec<u64> = d.found.iter().map(|f| f.ns.inode).collect();
    inodes.sort_unstable();
    inodes.dedup();
    assert_eq!(inodes.len(), d.found.len(), "deduplicated by inode");
    let me = Target::Pid(std::process::id()).resolve(&Roots::default(), &mut namer).unwrap();
    assert_eq!(me.ns.inode, own);
    assert!(Target::Name("sockscope-netns-no-such".into()).resolve(&Roots::default(), &mut namer).is_err());
}

#[test]
fn a_namespace_gone_before_its_dump_is_skipped_with_a_note() {
    let own = own_inode(Path::new("/proc")).unwrap();
    let me = Found {
        ns: Namespace { inode: own, ..Namespace::default() },
        paths: vec!["/proc/self/ns/net".into()],
        pids: vec![],
    };
    // A namespace whose processes exited and whose bind mount was removed since discovery.
    let gone = Found {
        ns: Namespace { inode: 1, name: Some("sockscope-netns-gone".into()), ..Namespace::default() },
        paths: vec!["/run/netns/sockscope-netns-no-such".into(), "/proc/999999999/ns/net".into()],
        pids: vec![999_999_999],
    };
    // A path that now leads to another namespace (a reused pid) is not entered either.
    let reused = Found {
        ns: Namespace { inode: 2, ..Namespace::default() },
        paths: vec!["/proc/self/ns/net".into()],
        pids: vec![],
    };
    let q = crate::collect::Query { unix: false, udp: false, ..Default::default() };
    let plan = Plan { found: vec![me, gone, reused], own, workers: 2, target: None, notes: Vec::new() };
    let mut sockets = Vec::new();
    let m = plan
        .stream(crate::collect::SourceChoice::Auto, Path::new("/proc"), &q, &mut |mut batch| {
            sockets.append(&mut batch);
            true
        })
        .unwrap();
    assert_eq!(m.read(), 1);
    assert!(m.skipped.iter().all(|(_, s)| matches!(s, dump::Skip::Gone)), "{:?}", m.skipped);
    assert_eq!(m.skipped.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![1, 2]);
    let notes = m.skip_notes();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("2 namespace(s) disappeared") && notes[0].contains("sockscope-netns-gone"), "{notes:?}");
    assert!(m.snapshot.notes.contains(&notes[0]), "said with the snapshot: {:?}", m.snapshot.notes);
    assert!(sockets.iter().all(|s| s.netns == 0));
    assert_eq!(m.snapshot.namespaces.len(), 3, "skipped namespaces stay in the table");
}

#[test]
fn namespaces_are_handed_over_in_order_and_a_refusing_consumer_stops_the_dumps() {
    let own = own_inode(Path::new("/proc")).unwrap();
    let me = || Found {
        ns: Namespace { inode: own, ..Namespace::default() },
        paths: vec!["/proc/self/ns/net".into()],
        pids: vec![],
    };
    let found: Vec<Found> = (0..12).map(|_| me()).collect();
    let q = crate::collect::Query { unix: false, udp: false, ..Default::default() };
    let mut seen = Vec::new();
    dump::for_each_in_order(
        &found,
        own,
        crate::collect::SourceChoice::Auto,
        Path::new("/proc"),
        &q,
        3,
        &mut |id, part| match part {
            dump::Part::Sockets(batch) => {
                assert!(batch.iter().all(|s| s.netns == id), "sockets carry their namespace's index");
                assert_eq!(seen.len(), id as usize, "a namespace's sockets come once the one before is done");
                true
            }
            dump::Part::Done(r) => {
                r.expect("our own namespace is readable");
                seen.push(id);
                id < 4
            }
        },
    );
    assert_eq!(seen, vec![0, 1, 2, 3, 4], "in discovery order, and nothing after the consumer said stop");
}

fn found(inode: u64) -> Found {
    Found { ns: Namespace { inode, ..Namespace::default() }, paths: Vec::new(), pids: Vec::new() }
}

fn inodes(t: &crate::model::netns::Namespaces) -> Vec<u64> {
    t.0.iter().map(|n| n.inode).collect()
}

/// Regression: a live view's namespace table kept every namespace ever seen (and the exporter looped over
/// them all). Ids stay while a namespace lives; one gone for FORGET_AFTER is forgotten and its id reused.
#[test]
fn namespace_ids_stay_while_they_live_and_are_forgotten_once_gone() {
    use std::time::{Duration, Instant};
    let second = Duration::from_secs(1);
    let t0 = Instant::now();
    let mut ids = Ids::default();
    assert_eq!(ids.update(&[found(10), found(11), found(12)], t0), [0, 1, 2]);
    // 11 goes: the others keep their ids, and 11 its entry for a while (a view still shows its sockets).
    assert_eq!(ids.update(&[found(12), found(10)], t0 + second), [2, 0]);
    assert_eq!(inodes(ids.table()), [10, 11, 12]);
    // A namespace new while 11 is remembered takes a new id.
    assert_eq!(ids.update(&[found(10), found(12), found(13)], t0 + 2 * second), [0, 2, 3]);
    assert_eq!(inodes(ids.table()), [10, 11, 12, 13]);
    // FORGET_AFTER after it was first missed, 11 is forgotten: its id is vacant, then the next new one's.
    let later = t0 + second + FORGET_AFTER;
    assert_eq!(ids.update(&[found(10), found(12), found(13)], later), [0, 2, 3]);
    assert_eq!(inodes(ids.table()), [10, 0, 12, 13]);
    assert_eq!(ids.update(&[found(14), found(10), found(12), found(13)], later + second), [1, 0, 2, 3]);
    assert_eq!(inodes(ids.table()), [10, 14, 12, 13]);
    assert_eq!(ids.found().iter().map(|f| f.ns.inode).collect::<Vec<_>>(), [10, 14, 12, 13]);
    // Namespaces that come and go: the table holds the ones alive and those gone within FORGET_AFTER.
    let mut now = later + second;
    for round in 0..100 {
        now += FORGET_AFTER;
        let got = ids.update(&[found(10), found(1000 + round)], now);
        assert_eq!(got[0], 0, "10 keeps its id");
        // From the third round on, the first ones are forgotten.
        assert!(round < 2 || ids.table().len() <= 3, "round {round}: {:?}", inodes(ids.table()));
    }
    // Once only one is left, the table shrinks to it.
    ids.update(&[found(10)], now + FORGET_AFTER);
    ids.update(&[found(10)], now + 2 * FORGET_AFTER);
    assert_eq!(inodes(ids.table()), [10]);
}
