//! Table-driven tests of the simple filter values and the evaluator.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::model::{Family, Proto, UnixKind};

#[test]
fn state_names_and_aliases() {
    let cases: &[(&str, &[State])] = &[
        ("established", &[State::ESTABLISHED]),
        ("ESTABLISHED", &[State::ESTABLISHED]),
        ("syn-rcv", &[State::SYN_RECV]),
        ("closed", &[State::CLOSE]),
        ("unconnected", &[State::CLOSE]),
        ("listen", &[State::LISTEN]),
        ("listening", &[State::LISTEN]),
        ("bucket", &[State::SYN_RECV, State::TIME_WAIT]),
        ("bound-inactive", &[State::BOUND_INACTIVE]),
    ];
    for (name, states) in cases {
        assert_eq!(parse_state(name), Ok(StateSet::of(states)), "{name}");
    }
    let connected = parse_state("connected").unwrap();
    assert!(connected.contains(State::TIME_WAIT) && !connected.contains(State::LISTEN));
    let sync = parse_state("synchronized").unwrap();
    assert!(!sync.contains(State::SYN_SENT) && sync.contains(State::ESTABLISHED));
    let big = parse_state("big").unwrap();
    assert!(big.contains(State::LISTEN) && !big.contains(State::TIME_WAIT));
    assert_eq!(parse_state("all"), Ok(StateSet::ALL));
    assert!(parse_state("establised").unwrap_err().contains("unknown state 'establised'"));
}

fn tcp(lport: u16, pport: u16, state: State) -> Socket {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    Socket { inode: 1, ..Socket::inet(Proto::Tcp, state, (ip, lport), (ip, pport)) }
}

#[test]
fn evaluator() {
    let r = |lo, hi| PortRange::new(lo, hi);
    let s = tcp(443, 50000, State::ESTABLISHED);
    let cases: &[(Expr, bool)] = &[
        (Expr::True, true),
        (Expr::Port { end: End::Local, range: r(443, 443) }, true),
        (Expr::Port { end: End::Peer, range: r(443, 443) }, false),
        (Expr::Port { end: End::Either, range: r(50000, 50000) }, true),
        (Expr::Port { end: End::Peer, range: r(49152, 65535) }, true),
        (Expr::Not(Box::new(Expr::Port { end: End::Local, range: r(443, 443) })), false),
        (Expr::State(StateSet::of(&[State::LISTEN])), false),
        (
            Expr::any_of(vec![
                Expr::Port { end: End::Local, range: r(80, 80) },
                Expr::Port { end: End::Local, range: r(443, 443) },
            ]),
            true,
        ),
        (Expr::True.and(Expr::State(StateSet::ALL)).and(Expr::Port { end: End::Local, range: r(1, 2) }), false),
    ];
    for (e, want) in cases {
        assert_eq!(e.matches_record(&s), *want, "{e:?}");
    }
}

#[test]
fn port_tests_never_match_unix_sockets() {
    let mut s = tcp(0, 0, State::ESTABLISHED);
    s.proto = Proto::Unix;
    s.family = Family::Unix;
    s.unix_kind = Some(UnixKind::Stream);
    s.local = Endpoint::Unix { name: None, inode: 443 };
    s.peer = Endpoint::Unix { name: None, inode: 0 };
    let e = Expr::Port { end: End::Either, range: PortRange::new(0, 65535) };
    assert!(!e.matches_record(&s));
}

#[test]
fn namespace_and_workload_terms_resolve() {
    use crate::collect::workloads::Workloads;
    use crate::model::netns::{Container, Namespace, Namespaces, Runtime, Workload};
    let web = Workload {
        cgroup: "/system.slice/docker-0123456789abcdef.scope".into(),
        container: Some(Container {
            runtime: Runtime::Docker,
            id: "0123456789abcdef".into(),
            name: Some("web".into()),
            pod: None,
            namespace: None,
        }),
        unit: Some("docker-0123456789abcdef.scope".into()),
    };
    let ns = Namespaces(vec![
        Namespace { inode: 10, host: true, ..Namespace::default() },
        Namespace { inode: 11, name: Some("blue".into()), ..Namespace::default() },
        Namespace { inode: 12, owner: Some(web.clone()), ..Namespace::default() },
    ]);
    let w = Workloads::load(
        ns,
        None,
        std::path::Path::new("/proc"),
        &mut crate::collect::cgroup::Namer::new(std::path::Path::new("/proc"), Default::default()),
    );
    let mut s =
        Socket::inet(Proto::Tcp, State::LISTEN, (Ipv4Addr::LOCALHOST.into(), 80), (Ipv4Addr::UNSPECIFIED.into(), 0));
    let svc = crate::ports::services::Services::default();
    let check = |text: &str, netns: u32, want: bool, s: &mut Socket| {
        s.netns = netns;
        let e = parse(text, &svc, &NoLookup).unwrap().expr;
        assert!(e.needs().workloads, "{text}");
        let map = crate::model::owners::ProcessMap::default();
        let bound = crate::filter::bind(&e, &crate::filter::Have::new("test").workloads(&w).holders(&map, true));
        assert_eq!(bound.unwrap().matches(s), want, "{text} in namespace {netns}");
    };
    let cases: &[(&str, u32, bool)] = &[
        ("netns blue", 1, true),
        ("netns blue", 0, false),
        ("netns 12", 2, true),
        ("netns net:[10]", 0, true),
        ("not netns blue", 0, true),
        ("container web", 2, true),
        ("container w*", 2, true),
        ("container docker:web", 2, true),
        ("container 0123", 2, true),
        ("container web", 1, false),
        ("unit docker-*.scope", 2, true),
        ("cgroup /system.slice/*", 2, true),
        ("cgroup /system/*", 2, false),
        ("cgroup /*", 2, true),
        ("cgroup *docker-*.scope", 2, true),
    ];
    for (text, netns, want) in cases {
        check(text, *netns, *want, &mut s);
    }
    assert!(WorkloadTerm::Unit.test("*.scope", &web));
    assert!(!WorkloadTerm::Container.test("db", &web));
}
