//! The `/proc/net` collector against files captured from a real kernel (fixtures/proc, see its README):
//! every row of every file as an exact record, the state filter, missing and unreadable files, and a
//! cross-check against `ss` (netlink) output captured from the same sockets.

use std::collections::BTreeSet;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sockscope::collect::procfs::ProcCollector;
use sockscope::collect::{CollectError, Collector, Query, Source, Table};
use sockscope::model::{Endpoint, Family, Proto, Socket, State, StateSet, Timer, TimerKind, UnixKind, UnixName};

const ESTABLISHED: State = State::ESTABLISHED;
const SYN_SENT: State = State::SYN_SENT;
const SYN_RECV: State = State::SYN_RECV;
const FIN_WAIT1: State = State::FIN_WAIT1;
const FIN_WAIT2: State = State::FIN_WAIT2;
const TIME_WAIT: State = State::TIME_WAIT;
const CLOSE: State = State::CLOSE;
const CLOSE_WAIT: State = State::CLOSE_WAIT;
const LAST_ACK: State = State::LAST_ACK;
const LISTEN: State = State::LISTEN;
use TimerKind::{On, Persist, Timewait};

fn fixture(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/proc").join(scenario)
}

fn collect_from(root: PathBuf, table: Table, states: StateSet) -> Result<Vec<Socket>, CollectError> {
    ProcCollector::new(root).collect_table(&Query { states, ..Query::default() }, table)
}

fn collect(table: Table, states: StateSet) -> Vec<Socket> {
    collect_from(fixture("busy"), table, states).unwrap_or_else(|e| panic!("{table}: {e}"))
}

/// `tm->when` is in clock ticks (USER_HZ); the collector converts with the running system's rate.
fn ms(ticks: u64) -> u64 {
    ticks * 1000 / sockscope::sys::clock_ticks_per_second().unwrap_or(100)
}

/// One expected TCP or UDP record. Every socket in the fixture belongs to uid 0.
#[allow(clippy::too_many_arguments)]
fn inet(
    table: Table,
    state: State,
    local: &str,
    peer: &str,
    recv_q: u32,
    send_q: Option<u32>,
    inode: u64,
    timer: Option<(TimerKind, u64, u32)>,
) -> Socket {
    let ep = |s: &str| {
        let a: SocketAddr = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        Endpoint::Inet { ip: a.ip(), port: a.port() }
    };
    Socket {
        proto: table.proto(),
        family: table.family(),
        state,
        local: ep(local),
        peer: ep(peer),
        recv_q: Some(recv_q),
        send_q,
        uid: Some(0),
        inode,
        cookie: None,
        ifindex: None,
        v6only: None,
        unix_kind: None,
        timer: timer.map(|(kind, ticks, retrans)| Timer { kind, expires_ms: ms(ticks), retrans }),
        mark: None,
        extra: None,
        netns: 0,
    }
}

fn tcp4_expected() -> Vec<Socket> {
    let r = |st, l, p, rq, sq, ino, t| inet(Table::Tcp4, st, l, p, rq, sq, ino, t);
    vec![
        // TCP_DEFER_ACCEPT listener (holds the SYN_RECV request below).
        r(LISTEN, "127.0.0.1:8083", "0.0.0.0:0", 0, None, 1323841, None),
        r(LISTEN, "127.0.0.1:8080", "0.0.0.0:0", 0, None, 1323824, None),
        // Backlog 0 with one connection waiting in the accept queue: recv_q is the queue length.
        r(LISTEN, "127.0.0.1:8085", "0.0.0.0:0", 1, None, 1323845, None),
        // Passive close with the final ACK never arriving: the FIN is in flight (tx 1), retransmit timer.
        r(LAST_ACK, "127.0.0.1:8080", "127.0.0.1:40013", 1, Some(1), 1323873, Some((On, 10, 0))),
        r(ESTABLISHED, "127.0.0.1:8080", "127.0.0.1:40014", 0, Some(0), 1323875, None),
        // IPv4 client of the dual-stack [::]:8082 listener.
        r(ESTABLISHED, "127.0.0.1:40003", "127.0.0.1:8082", 0, Some(0), 1323831, None),
        // Not yet accepted: no inode.
        r(ESTABLISHED, "127.0.0.1:8085", "127.0.0.1:40011", 0, Some(0), 0, None),
        // Five unread bytes.
        r(ESTABLISHED, "127.0.0.1:8080", "127.0.0.1:40001", 5, Some(0), 1323828, None),
        r(CLOSE_WAIT, "127.0.0.1:8080", "127.0.0.1:40007", 1, Some(0), 1323838, None),
        r(ESTABLISHED, "127.0.0.1:40011", "127.0.0.1:8085", 0, Some(0), 1323846, None),
        // SYN dropped by the full listener: the SYN itself is the send queue.
        r(SYN_SENT, "127.0.0.1:40012", "127.0.0.1:8085", 0, Some(1), 1323847, Some((On, 48, 0))),
        r(ESTABLISHED, "127.0.0.1:40009", "127.0.0.1:8083", 0, Some(0), 1323842, None),
        // Request socket (short row).
        r(SYN_RECV, "127.0.0.1:8083", "127.0.0.1:40009", 0, Some(0), 0, Some((On, 48, 0))),
        r(ESTABLISHED, "127.0.0.1:40001", "127.0.0.1:8080", 0, Some(0), 1323827, None),
        // TIME_WAIT minisock (short row).
        r(TIME_WAIT, "127.0.0.1:40005", "127.0.0.1:8080", 0, Some(0), 0, Some((Timewait, 5948, 0))),
        // After shutdown(SHUT_WR): a full socket, no timer.
        r(FIN_WAIT2, "127.0.0.1:40007", "127.0.0.1:8080", 0, Some(0), 1323837, None),
        r(FIN_WAIT2, "127.0.0.1:40013", "127.0.0.1:8080", 0, Some(0), 1323872, None),
        // FIN never acknowledged.
        r(FIN_WAIT1, "127.0.0.1:40014", "127.0.0.1:8080", 0, Some(1), 1323874, Some((On, 10, 0))),
    ]
}

fn tcp6_expected() -> Vec<Socket> {
    let r = |st, l, p, rq, sq, ino, t| inet(Table::Tcp6, st, l, p, rq, sq, ino, t);
    vec![
        // Dual-stack wildcard listener.
        r(LISTEN, "[::]:8082", "[::]:0", 0, None, 1323826, None),
        r(LISTEN, "[::1]:8081", "[::]:0", 0, None, 1323825, None),
        r(LISTEN, "[::1]:8084", "[::]:0", 0, None, 1323843, None),
        r(ESTABLISHED, "[::1]:8081", "[::1]:40015", 0, Some(0), 1323877, None),
        // Accepted from an IPv4 client: IPv4-mapped addresses, still an IPv6 socket.
        r(ESTABLISHED, "[::ffff:127.0.0.1]:8082", "[::ffff:127.0.0.1]:40003", 0, Some(0), 1323832, None),
        r(CLOSE_WAIT, "[::1]:8081", "[::1]:40008", 1, Some(0), 1323840, None),
        r(ESTABLISHED, "[::1]:40010", "[::1]:8084", 0, Some(0), 1323844, None),
        r(ESTABLISHED, "[::1]:8081", "[::1]:40002", 0, Some(0), 1323830, None),
        r(ESTABLISHED, "[::1]:40002", "[::1]:8081", 0, Some(0), 1323829, None),
        r(TIME_WAIT, "[::1]:40006", "[::1]:8081", 0, Some(0), 0, Some((Timewait, 5948, 0))),
        // An orphaned FIN_WAIT2 is a TIME_WAIT minisock with substate FIN_WAIT2: short row, timewait timer.
        r(FIN_WAIT2, "[::1]:40008", "[::1]:8081", 0, Some(0), 0, Some((Timewait, 5948, 0))),
        // 1000 bytes never acknowledged, zero-window probe timer: the count is icsk_probes_out (the
        // `timeout` column), as netlink reports it, not `retrnsmt`.
        r(ESTABLISHED, "[::1]:40015", "[::1]:8081", 0, Some(1000), 1323876, Some((Persist, 30, 1))),
        r(SYN_RECV, "[::1]:8084", "[::1]:40010", 0, Some(0), 0, Some((On, 48, 0))),
    ]
}

fn udp4_expected() -> Vec<Socket> {
    let r = |st, l, p, rq, sq, ino| inet(Table::Udp4, st, l, p, rq, sq, ino, None);
    vec![
        // One unread datagram (the receive queue counts buffer memory, not payload bytes).
        r(CLOSE, "127.0.0.1:5353", "0.0.0.0:0", 832, Some(0), 1323848),
        r(ESTABLISHED, "127.0.0.1:40020", "127.0.0.1:5353", 0, Some(0), 1323851),
    ]
}

fn udp6_expected() -> Vec<Socket> {
    let r = |st, l, p, rq, sq, ino| inet(Table::Udp6, st, l, p, rq, sq, ino, None);
    vec![
        r(CLOSE, "[::1]:5354", "[::]:0", 0, Some(0), 1323849),
        r(CLOSE, "[::]:5355", "[::]:0", 0, Some(0), 1323850),
        r(ESTABLISHED, "[::1]:40021", "[::1]:5354", 0, Some(0), 1323852),
        r(ESTABLISHED, "[::ffff:127.0.0.1]:40022", "[::ffff:127.0.0.1]:5353", 0, Some(0), 1323853),
    ]
}

fn unix(kind: UnixKind, state: State, inode: u64, name: Option<UnixName>) -> Socket {
    Socket {
        proto: Proto::Unix,
        family: Family::Unix,
        state,
        local: Endpoint::Unix { name, inode },
        peer: Endpoint::Unix { name: None, inode: 0 },
        recv_q: None,
        send_q: None,
        uid: None,
        inode,
        cookie: None,
        ifindex: None,
        v6only: None,
        unix_kind: Some(kind),
        timer: None,
        mark: None,
        extra: None,
        netns: 0,
    }
}

fn path(p: &[u8]) -> Option<UnixName> {
    Some(UnixName::Path(p.into()))
}

fn unix_expected() -> Vec<Socket> {
    use UnixKind::{Dgram, Seqpacket, Stream};
    let listen_sock = || path(b"/tmp/sockscope-fixture/listen sock");
    vec![
        unix(Dgram, ESTABLISHED, 1323865, None),           // socketpair(SOCK_DGRAM)
        unix(Stream, ESTABLISHED, 1323862, None),          // socketpair(SOCK_STREAM)
        unix(Dgram, ESTABLISHED, 1323861, None),           // connect()ed to dgram.sock
        unix(Stream, ESTABLISHED, 1323856, listen_sock()), // accepted: carries the listener's name
        unix(Stream, LISTEN, 1323854, listen_sock()),
        // The target of a datagram connect() is ESTABLISHED too (the kernel sets both ends).
        unix(Dgram, ESTABLISHED, 1323860, path(b"/tmp/sockscope-fixture/dgram.sock")),
        unix(Seqpacket, LISTEN, 1323868, path(b"/tmp/sockscope-fixture/seq.sock")),
        unix(Dgram, CLOSE, 1323869, path(b"/tmp/sockscope-fixture/bin\xff.sock")),
        unix(Seqpacket, ESTABLISHED, 1323866, None), // socketpair(SOCK_SEQPACKET)
        // Bound, not listening; the name's newline splits the row over two lines.
        unix(Stream, CLOSE, 1323870, path(b"/tmp/sockscope-fixture/nl\nsock")),
        unix(Dgram, ESTABLISHED, 1323864, None),
        unix(Seqpacket, ESTABLISHED, 1323867, None),
        unix(Stream, ESTABLISHED, 1323863, None),
        unix(Stream, CLOSE, 1323871, None),       // unbound
        unix(Stream, ESTABLISHED, 1323857, None), // client of the connection not yet accepted
        unix(Stream, ESTABLISHED, 1323855, None), // client of the accepted connection
        // (The not-yet-accepted server end, st 02 and inode 0, is skipped: unix_diag never reports it.)
        unix(Dgram, CLOSE, 1323859, None), // unbound, unconnected
        unix(Stream, LISTEN, 1323858, Some(UnixName::Abstract(b"sockscope@fix".as_slice().into()))),
    ]
}

fn expected(table: Table) -> Vec<Socket> {
    match table {
        Table::Tcp4 => tcp4_expected(),
        Table::Tcp6 => tcp6_expected(),
        Table::Udp4 => udp4_expected(),
        Table::Udp6 => udp6_expected(),
        Table::Unix => unix_expected(),
        Table::TcpAll => [tcp4_expected(), tcp6_expected()].concat(),
        other => panic!("no fixture for {other}"),
    }
}

#[test]
fn tcp_of_both_families_reads_both_files() {
    let got = collect(Table::TcpAll, StateSet::ALL);
    assert_eq!(got, expected(Table::TcpAll));
}

const TABLES: [Table; 5] = [Table::Tcp4, Table::Tcp6, Table::Udp4, Table::Udp6, Table::Unix];

#[test]
fn tcp4_every_row() {
    assert_eq!(collect(Table::Tcp4, StateSet::ALL), tcp4_expected());
}

#[test]
fn tcp6_every_row() {
    assert_eq!(collect(Table::Tcp6, StateSet::ALL), tcp6_expected());
}

#[test]
fn udp4_every_row() {
    assert_eq!(collect(Table::Udp4, StateSet::ALL), udp4_expected());
}

#[test]
fn udp6_every_row() {
    assert_eq!(collect(Table::Udp6, StateSet::ALL), udp6_expected());
}

#[test]
fn unix_every_row() {
    assert_eq!(collect(Table::Unix, StateSet::ALL), unix_expected());
}

#[test]
fn fixture_covers_every_tcp_state_it_claims() {
    let seen: BTreeSet<State> =
        [Table::Tcp4, Table::Tcp6].iter().flat_map(|t| collect(*t, StateSet::ALL)).map(|s| s.state).collect();
    let want: BTreeSet<State> =
        [ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE_WAIT, LAST_ACK, LISTEN].into();
    assert_eq!(seen, want);
}

#[test]
fn state_filter_keeps_exactly_the_asked_states() {
    let sets = [
        StateSet::ALL,
        StateSet::CONNECTED_DEFAULT,
        StateSet::EMPTY,
        StateSet::of(&[LISTEN]),
        StateSet::of(&[CLOSE]),
        StateSet::of(&[TIME_WAIT, SYN_RECV]),
        StateSet::of(&[FIN_WAIT1, FIN_WAIT2, LAST_ACK, CLOSE_WAIT, SYN_SENT]),
    ];
    for table in TABLES {
        for set in sets {
            let want: Vec<Socket> = expected(table).into_iter().filter(|s| set.contains(s.state)).collect();
            assert_eq!(collect(table, set), want, "{table} {set:?}");
        }
    }
    assert_eq!(collect(Table::Tcp4, StateSet::of(&[LISTEN])).len(), 3);
    assert_eq!(collect(Table::Unix, StateSet::of(&[CLOSE])).len(), 4);
}

#[test]
fn collector_reads_every_table_in_query_order() {
    let mut c = ProcCollector::new(fixture("busy"));
    let snap = c.collect(&Query::default()).unwrap();
    let order = [Table::Unix, Table::Udp4, Table::Udp6, Table::Tcp4, Table::Tcp6];
    assert_eq!(snap.sources, order.map(|t| (t, Source::Proc)).to_vec());
    assert_eq!(snap.sockets, order.into_iter().flat_map(expected).collect::<Vec<_>>());

    let q = Query { unix: false, ipv6: false, states: StateSet::of(&[LISTEN]), ..Query::default() };
    let snap = c.collect(&q).unwrap();
    assert_eq!(snap.sources, vec![(Table::Udp4, Source::Proc), (Table::Tcp4, Source::Proc)]);
    assert_eq!(snap.sockets, collect(Table::Tcp4, StateSet::of(&[LISTEN])));
}

#[test]
fn header_only_files_are_empty_tables() {
    for table in TABLES {
        assert_eq!(collect_from(fixture("empty"), table, StateSet::ALL).unwrap(), vec![], "{table}");
    }
}

/// A scratch proc root, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("sockscope-procfs-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("net")).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn missing_files_are_empty_tables() {
    // A kernel without IPv6 has no tcp6/udp6. A root without net/ at all is no proc filesystem: an error.
    let root = Scratch::new("missing");
    fs::copy(fixture("busy/net/tcp"), root.0.join("net/tcp")).unwrap();
    assert_eq!(collect_from(root.0.clone(), Table::Tcp4, StateSet::ALL).unwrap(), tcp4_expected());
    for table in [Table::Tcp6, Table::Udp4, Table::Udp6, Table::Unix] {
        assert_eq!(collect_from(root.0.clone(), table, StateSet::ALL).unwrap(), vec![], "{table}");
    }
    match collect_from(root.0.join("nonexistent"), Table::Tcp4, StateSet::ALL) {
        Err(CollectError::ProcIo { path, error }) => {
            assert_eq!(path, root.0.join("nonexistent/net"));
            assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unreadable_files_are_io_errors() {
    let root = Scratch::new("unreadable");
    // A directory where the table should be is refused as one.
    fs::create_dir(root.0.join("net/tcp")).unwrap();
    match collect_from(root.0.clone(), Table::Tcp4, StateSet::ALL) {
        Err(CollectError::ProcIo { path, error }) => {
            assert_eq!(path, root.0.join("net/tcp"));
            assert_eq!(error.to_string(), "a directory, not a regular file");
        }
        other => panic!("{other:?}"),
    }
    // `net` itself a file: ENOTDIR, not a missing file.
    let root2 = Scratch::new("notdir");
    fs::remove_dir(root2.0.join("net")).unwrap();
    fs::write(root2.0.join("net"), b"").unwrap();
    assert!(matches!(collect_from(root2.0.clone(), Table::Unix, StateSet::ALL), Err(CollectError::ProcIo { .. })));
}

#[test]
fn malformed_files_are_parse_errors_with_path_and_line() {
    let root = Scratch::new("malformed");
    let mut text = fs::read(fixture("busy/net/udp6")).unwrap();
    text.extend_from_slice(b" 2296: 00000000000000000000000001000000:9C55 00000000 01\n");
    fs::write(root.0.join("net/udp6"), &text).unwrap();
    match collect_from(root.0.clone(), Table::Udp6, StateSet::ALL) {
        Err(e @ CollectError::ProcParse { .. }) => {
            let CollectError::ProcParse { path, line, msg } = &e else { unreachable!() };
            assert_eq!((path, *line), (&root.0.join("net/udp6"), 6));
            assert!(msg.contains("rem_address"), "{msg}");
            assert!(e.to_string().starts_with(&format!("{}:6: ", path.display())), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // The same file as the IPv4 table: the addresses have the wrong length.
    fs::rename(root.0.join("net/udp6"), root.0.join("net/udp")).unwrap();
    let err = collect_from(root.0.clone(), Table::Udp4, StateSet::ALL).unwrap_err();
    assert!(matches!(err, CollectError::ProcParse { line: 2, .. }), "{err:?}");
}

/// `ss -tuaxnoe` (netlink) was captured right after the /proc files, from the same sockets: every record
/// must match one of its rows on what both sources show. Timer values moved on between the two reads, so
/// only the timer kind and count are compared; a TCP listener's Send-Q (its backlog) is not in /proc.
#[test]
fn agrees_with_netlink_capture() {
    type Key = (String, String, Option<u32>, Option<u32>, u16, u16, u64, Option<(String, u32)>);
    let ss = fs::read(fixture("busy/ss.txt")).unwrap();
    let ss = String::from_utf8_lossy(&ss);
    let mut want_inet: Vec<Key> = Vec::new();
    let mut want_unix: Vec<(String, String, u64)> = Vec::new();
    let mut lines = ss.lines().skip(1);
    while let Some(line) = lines.next() {
        let mut t: Vec<&str> = line.split_whitespace().collect();
        if t[0].starts_with("u_") {
            // Local name (may hold spaces, or a newline that wraps the row), inode, `*`, peer inode.
            while !t.iter().skip(5).any(|w| *w == "*") {
                t.extend(lines.next().unwrap().split_whitespace());
            }
            let star = 5 + t.iter().skip(5).position(|w| *w == "*").unwrap();
            want_unix.push((t[0].into(), t[1].into(), t[star - 1].parse().unwrap()));
            continue;
        }
        let port = |s: &str| s.rsplit(':').next().unwrap().parse().unwrap_or(0);
        let listener = t[0] == "tcp" && t[1] == "LISTEN";
        let field = |p: &str| t.iter().find_map(|w| w.strip_prefix(p)).unwrap();
        let timer = t.iter().find_map(|w| w.strip_prefix("timer:(")).map(|x| {
            let v: Vec<&str> = x.trim_end_matches(')').split(',').collect();
            (v[0].to_string(), v[2].parse().unwrap())
        });
        want_inet.push((
            t[0].into(),
            t[1].into(),
            t[2].parse().ok(),
            if listener { None } else { t[3].parse().ok() },
            port(t[4]),
            port(t[5]),
            field("ino:").parse().unwrap(),
            timer,
        ));
    }
    let timer_name = |k: TimerKind| match k {
        On => "on",
        Persist => "persist",
        Timewait => "timewait",
        TimerKind::Keepalive => "keepalive",
        TimerKind::Other(_) => "other",
    };
    let mut got_inet: Vec<Key> = [Table::Udp4, Table::Udp6, Table::Tcp4, Table::Tcp6]
        .into_iter()
        .flat_map(|t| collect(t, StateSet::ALL))
        .map(|s| {
            (
                s.netid().to_string(),
                s.state.display_name(s.proto).to_string(),
                s.recv_q,
                s.send_q,
                s.local.port().unwrap(),
                s.peer.port().unwrap(),
                s.inode,
                s.timer.map(|t| (timer_name(t.kind).to_string(), t.retrans)),
            )
        })
        .collect();
    let mut got_unix: Vec<(String, String, u64)> = collect(Table::Unix, StateSet::ALL)
        .into_iter()
        .map(|s| (s.netid().to_string(), s.state.display_name(s.proto).to_string(), s.inode))
        .collect();
    for v in [&mut want_inet, &mut got_inet] {
        v.sort();
    }
    want_unix.sort();
    got_unix.sort();
    assert_eq!(got_inet, want_inet);
    assert_eq!(got_unix, want_unix);
}
