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
        assert_eq!(e.matches(&s), *want, "{e:?}");
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
    assert!(!e.matches(&s));
}
