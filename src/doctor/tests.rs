//! The rules on recorded inputs: one window per pathology (and its healthy twin), the finding's kind, severity,
//! port and words checked; a healthy window gives nothing.

use std::net::IpAddr;

use super::*;
use crate::collect::procfs::counters;
use crate::collect::procfs::sockstat::SockStat;
use crate::collect::sysctl::NetLimits;
use crate::model::internals::{Extra, MemInfo};
use crate::model::{Proto, Socket, State, Timer, TimerKind};
use crate::ports::classes::HostPorts;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tcp(state: State, local: (&str, u16), peer: (&str, u16), cookie: u64) -> Socket {
    let mut s = Socket::inet(Proto::Tcp, state, (ip(local.0), local.1), (ip(peer.0), peer.1));
    s.cookie = Some(cookie);
    s.inode = cookie;
    s
}

fn listener(port: u16, queue: u32, backlog: u32, drops: u32, cookie: u64) -> Socket {
    let mut s = tcp(State::LISTEN, ("0.0.0.0", port), ("0.0.0.0", 0), cookie);
    s.recv_q = Some(queue);
    s.send_q = Some(backlog);
    s.extra = Some(Box::new(Extra {
        memory: Some(Box::new(MemInfo { drops: Some(drops), ..MemInfo::default() })),
        ..Extra::default()
    }));
    s
}

fn counters(text: &str) -> Option<counters::Counters> {
    Some(counters::parse(text.as_bytes()).unwrap())
}

fn sample(at_ms: u64, sockets: Vec<Socket>) -> Sample {
    Sample { at_ms, sockets, ..Sample::default() }
}

fn limits() -> Limits {
    let net = NetLimits {
        somaxconn: Some(4096),
        max_syn_backlog: Some(4096),
        syncookies: Some(1),
        max_orphans: Some(65536),
        tcp_mem: Some([90000, 120000, 180000]),
        max_tw_buckets: Some(65536),
    };
    Limits::of(net, Some(HostPorts::linux_default()))
}

fn run(before: &Sample, now: &Sample, limits: &Limits) -> Report {
    let w = Window { netns: 0, label: None, before, now, limits, owners: None };
    diagnose(&w, &Thresholds::default())
}

fn kinds(r: &Report) -> Vec<Kind> {
    r.findings.iter().map(|f| f.kind).collect()
}

#[test]
fn a_full_accept_queue_with_rising_drops_is_critical_and_names_the_listener() {
    let before = sample(0, vec![listener(8080, 16, 16, 10, 1), listener(22, 0, 128, 0, 2)]);
    let now = sample(5000, vec![listener(8080, 17, 16, 174, 1), listener(22, 0, 128, 0, 2)]);
    let r = run(&before, &now, &limits());
    let f = r.findings.iter().find(|f| f.kind == Kind::AcceptQueueOverflow).expect("found");
    assert_eq!((f.severity, f.port), (Severity::Critical, Some(8080)));
    assert!(
        f.summary.contains("0.0.0.0:8080") && f.summary.contains("17 of 16") && f.summary.contains("164"),
        "{}",
        f.summary
    );
    // A quiet listener is not a finding; the check that found says so.
    assert_eq!(r.findings.iter().filter(|f| f.kind == Kind::AcceptQueueOverflow).count(), 1);
    let c = r.checks.iter().find(|c| c.kind == Kind::AcceptQueueOverflow).unwrap();
    assert_eq!(c.status, CheckStatus::Found(1));
}

#[test]
fn host_listen_overflows_without_a_dropping_listener_still_say_so() {
    let mut before = sample(0, vec![listener(80, 3, 128, 0, 1)]);
    before.counters = counters("TcpExt: ListenOverflows ListenDrops\nTcpExt: 10 10\n");
    let mut now = sample(2000, vec![listener(80, 3, 128, 0, 1)]);
    now.counters = counters("TcpExt: ListenOverflows ListenDrops\nTcpExt: 30 30\n");
    let r = run(&before, &now, &limits());
    let f = r.findings.iter().find(|f| f.kind == Kind::AcceptQueueOverflow).expect("found");
    assert!(f.summary.contains("overflowed 20 times"), "{}", f.summary);
}

#[test]
fn close_wait_growing_on_one_port_is_a_leak_and_a_few_are_not() {
    let cw = |n: u64, base: u64| -> Vec<Socket> {
        (0..n).map(|i| tcp(State::CLOSE_WAIT, ("127.0.0.1", 5432), ("127.0.0.1", 40000 + i as u16), base + i)).collect()
    };
    let r = run(&sample(0, cw(144, 100)), &sample(5000, cw(190, 100)), &limits());
    let f = r.findings.iter().find(|f| f.kind == Kind::CloseWaitLeak).expect("found");
    assert_eq!(f.port, Some(5432));
    assert!(f.summary.contains("190, up from 144"), "{}", f.summary);
    let r = run(&sample(0, cw(3, 100)), &sample(5000, cw(4, 100)), &limits());
    assert!(!kinds(&r).contains(&Kind::CloseWaitLeak), "{:?}", r.findings);
}

#[test]
fn connects_stuck_in_syn_sent_towards_a_full_local_listener_say_so() {
    let stuck: Vec<Socket> = (0..20)
        .map(|i| tcp(State::SYN_SENT, ("127.0.0.1", 50000 + i), ("127.0.0.1", 7000), 500 + u64::from(i)))
        .collect();
    let mut before = stuck.clone();
    before.push(listener(7000, 9, 8, 0, 9));
    let mut now = stuck;
    now.push(listener(7000, 9, 8, 0, 9));
    let r = run(&sample(0, before), &sample(3000, now), &limits());
    let f = r.findings.iter().find(|f| f.kind == Kind::ConnectStall).expect("found");
    assert!(f.summary.contains("127.0.0.1:7000") && f.summary.contains("accept queue is full"), "{}", f.summary);
    // Towards nobody on this host: the destination does not answer.
    let far: Vec<Socket> =
        (0..20).map(|i| tcp(State::SYN_SENT, ("10.0.0.1", 50000 + i), ("10.9.9.9", 443), 700 + u64::from(i))).collect();
    let r = run(&sample(0, far.clone()), &sample(3000, far), &limits());
    let f = r.findings.iter().find(|f| f.kind == Kind::ConnectStall).expect("found");
    assert!(f.summary.contains("does not answer"), "{}", f.summary);
}

#[test]
fn a_backlog_at_somaxconn_that_fills_is_clamped() {
    let mut l = limits();
    l.net.somaxconn = Some(64);
    let r = run(&sample(0, vec![listener(9000, 40, 64, 0, 1)]), &sample(1000, vec![listener(9000, 50, 64, 0, 1)]), &l);
    assert!(kinds(&r).contains(&Kind::BacklogClamped), "{:?}", r.findings);
    let r = run(&sample(0, vec![listener(9000, 1, 64, 0, 1)]), &sample(1000, vec![listener(9000, 2, 64, 0, 1)]), &l);
    assert!(!kinds(&r).contains(&Kind::BacklogClamped));
}

#[test]
fn udp_drops_are_traced_to_the_socket() {
    let udp = |drops: u32| {
        let mut s = Socket::inet(Proto::Udp, State::CLOSE, (ip("127.0.0.1"), 9999), (ip("0.0.0.0"), 0));
        s.cookie = Some(77);
        s.extra = Some(Box::new(Extra {
            memory: Some(Box::new(MemInfo { drops: Some(drops), rcvbuf: Some(2304), ..MemInfo::default() })),
            ..Extra::default()
        }));
        s
    };
    let r = run(&sample(0, vec![udp(5)]), &sample(2000, vec![udp(905)]), &limits());
    let f = r.findings.iter().find(|f| f.kind == Kind::UdpReceiveDrops).expect("found");
    assert!(f.summary.contains("127.0.0.1:9999") && f.summary.contains("900"), "{}", f.summary);
}

#[test]
fn namespace_wide_limits() {
    let mut before = sample(0, vec![]);
    let mut now = sample(1000, vec![]);
    before.sockstat = Some(SockStat { tcp_orphan: 100, tcp_tw: 100, tcp_mem: 1000, ..SockStat::default() });
    now.sockstat = Some(SockStat { tcp_orphan: 40000, tcp_tw: 62000, tcp_mem: 130000, ..SockStat::default() });
    now.conntrack = Some(Conntrack { count: 65000, max: 65536, drop: 3, ..Conntrack::default() });
    before.conntrack = Some(Conntrack { count: 60000, max: 65536, ..Conntrack::default() });
    let r = run(&before, &now, &limits());
    for k in [Kind::OrphanPressure, Kind::TimeWaitOverflow, Kind::TcpMemoryPressure, Kind::ConntrackFull] {
        assert!(kinds(&r).contains(&k), "{k} missing: {:?}", kinds(&r));
    }
    let f = r.findings.iter().find(|f| f.kind == Kind::ConntrackFull).unwrap();
    assert_eq!(f.severity, Severity::Critical, "drops");
}

#[test]
fn a_check_without_its_inputs_says_it_cannot_run() {
    let r = run(&sample(0, vec![]), &sample(1000, vec![]), &Limits::default());
    let cannot: Vec<Kind> =
        r.checks.iter().filter(|c| matches!(c.status, CheckStatus::CannotRun(_))).map(|c| c.kind).collect();
    for k in [Kind::ConntrackFull, Kind::OrphanPressure, Kind::TcpMemoryPressure, Kind::EphemeralExhaustion] {
        assert!(cannot.contains(&k), "{k}: {:?}", r.checks);
    }
    assert!(r.findings.is_empty());
}

#[test]
fn a_healthy_window_gives_nothing() {
    let mut socks: Vec<Socket> = vec![listener(443, 0, 4096, 0, 1)];
    socks.extend(
        (0..500).map(|i| tcp(State::ESTABLISHED, ("10.0.0.1", 443), ("10.0.0.2", 20000 + i), 10 + u64::from(i))),
    );
    socks
        .extend((0..3).map(|i| tcp(State::CLOSE_WAIT, ("10.0.0.1", 443), ("10.0.0.3", 30000 + i), 900 + u64::from(i))));
    let mut before = sample(0, socks.clone());
    let mut now = sample(5000, socks);
    let st = SockStat { tcp_orphan: 2, tcp_tw: 50, tcp_mem: 300, ..SockStat::default() };
    before.sockstat = Some(st);
    now.sockstat = Some(st);
    before.counters = counters("TcpExt: ListenOverflows TCPTimeWaitOverflow\nTcpExt: 0 0\n");
    now.counters = counters("TcpExt: ListenOverflows TCPTimeWaitOverflow\nTcpExt: 0 0\n");
    let r = run(&before, &now, &limits());
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn zero_windows_and_full_receivers() {
    let mut s = tcp(State::ESTABLISHED, ("127.0.0.1", 40000), ("127.0.0.1", 6000), 5);
    s.send_q = Some(200_000);
    s.timer = Some(Timer { kind: TimerKind::Persist, expires_ms: 200, retrans: 6 });
    let mut r = tcp(State::ESTABLISHED, ("127.0.0.1", 6000), ("127.0.0.1", 40000), 6);
    r.recv_q = Some(130_000);
    r.extra = Some(Box::new(Extra {
        memory: Some(Box::new(MemInfo { rmem_alloc: Some(131_000), rcvbuf: Some(131_072), ..MemInfo::default() })),
        ..Extra::default()
    }));
    let socks = vec![s, r];
    let rep = run(&sample(0, socks.clone()), &sample(2000, socks), &limits());
    let z: Vec<&Finding> = rep.findings.iter().filter(|f| f.kind == Kind::ZeroWindowStall).collect();
    assert_eq!(z.len(), 2, "{:#?}", rep.findings);
    assert!(z.iter().any(|f| f.summary.contains("zero window on 1 connections")));
    assert!(z.iter().any(|f| f.summary.contains("does not read")));
}

#[test]
fn thresholds_are_set_by_name_and_a_bad_name_lists_the_known_ones() {
    let mut t = Thresholds::default();
    t.set("close-wait-leak.min=50").unwrap();
    assert_eq!(t.close_wait_min, 50.0);
    let e = t.set("close-wait-leak.bogus=1").unwrap_err();
    assert!(e.contains("close-wait-leak.min"), "{e}");
    assert!(t.set("close-wait-leak.min=x").is_err());
    assert!(t.set("close-wait-leak.min=-1").is_err());
    assert!(Kind::ALL.iter().all(|k| Kind::parse(k.name()) == Some(*k)));
}
