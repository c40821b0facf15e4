//! Tests of the bytecode compiler and interpreter: layouts, the kernel's audit rules, v4-mapped matching,
//! approximation under `not`, and a property test of soundness (and exactness) against `Expr::matches`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::bytecode::*;
use super::*;
use crate::model::{Family, UnixKind};
use crate::ports::services::Services;

fn sock(local: IpAddr, lport: u16, peer: IpAddr, pport: u16) -> Socket {
    Socket { inode: 1, ifindex: Some(0), ..Socket::inet(Proto::Tcp, State::ESTABLISHED, (local, lport), (peer, pport)) }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn parse_ok(s: &str) -> Expr {
    parse(s, &Services::parse("ssh 22/tcp\n".as_bytes()), &NoLookup).unwrap().expr
}

/// An op header in native byte order.
fn op(code: u8, yes: u8, no: u16) -> Vec<u8> {
    let mut v = vec![code, yes];
    v.extend_from_slice(&no.to_ne_bytes());
    v
}

#[test]
fn port_equality_is_an_unspec_host_condition_like_ss() {
    let bc = compile(&parse_ok("sport = :22")).unwrap();
    let mut want = op(INET_DIAG_BC_S_COND, 12, 16);
    want.extend_from_slice(&[0, 0, 0, 0]);
    want.extend_from_slice(&22i32.to_ne_bytes());
    assert_eq!(bc, want);
}

#[test]
fn layouts_follow_ss() {
    // sport >= 1024 and sport <= 2048: two comparisons whose false exits both reach end + 4.
    let bc = compile(&parse_ok("sport 1024-2048")).unwrap();
    let mut want = op(INET_DIAG_BC_S_GE, 8, 20);
    want.extend(op(0, 0, 1024));
    want.extend(op(INET_DIAG_BC_S_LE, 8, 12));
    want.extend(op(0, 0, 2048));
    assert_eq!(bc, want);

    // A or B: A, JMP over B, B.
    let bc = compile(&parse_ok("dev 1 or dev 2")).unwrap();
    let mut want = op(INET_DIAG_BC_DEV_COND, 8, 12);
    want.extend(1u32.to_ne_bytes());
    want.extend(op(INET_DIAG_BC_JMP, 4, 12));
    want.extend(op(INET_DIAG_BC_DEV_COND, 8, 12));
    want.extend(2u32.to_ne_bytes());
    assert_eq!(bc, want);

    // not A: A, then JMP to the reject exit.
    let bc = compile(&parse_ok("not dev 1")).unwrap();
    let mut want = op(INET_DIAG_BC_DEV_COND, 8, 12);
    want.extend(1u32.to_ne_bytes());
    want.extend(op(INET_DIAG_BC_JMP, 4, 8));
    assert_eq!(bc, want);

    // src 10.0.0.0/8:80 and a v6 host condition.
    let bc = compile(&parse_ok("src 10/8:80")).unwrap();
    let mut want = op(INET_DIAG_BC_S_COND, 16, 20);
    want.extend([2, 8, 0, 0]);
    want.extend(80i32.to_ne_bytes());
    want.extend([10, 0, 0, 0]);
    assert_eq!(bc, want);
    let bc = compile(&parse_ok("dst [::1]")).unwrap();
    assert_eq!(&bc[..8], &[&op(INET_DIAG_BC_D_COND, 28, 32)[..], &[10, 128, 0, 0]].concat()[..]);
    assert_eq!(&bc[8..12], &(-1i32).to_ne_bytes());

    // fwmark
    let bc = compile(&parse_ok("fwmark 0x10/0xff")).unwrap();
    let mut want = op(INET_DIAG_BC_MARK_COND, 12, 16);
    want.extend(16u32.to_ne_bytes());
    want.extend(255u32.to_ne_bytes());
    assert_eq!(bc, want);
}

#[test]
fn constants_and_userspace_only_terms() {
    assert_eq!(compile(&Expr::True), None);
    assert_eq!(compile(&parse_ok("uid 0")), None);
    assert_eq!(compile(&parse_ok("not uid 0")), None, "not over a userspace term must accept");
    assert_eq!(compile(&parse_ok("not (sport :22 and uid 0)")), None);
    assert_eq!(compile(&parse_ok("sport :22 or proto tcp")), None);
    let reject = op(INET_DIAG_BC_JMP, 4, 8);
    assert_eq!(compile(&Expr::False), Some(reject.clone()));
    assert_eq!(compile(&parse_ok("sport < :0")), Some(reject.clone()));
    assert_eq!(compile(&parse_ok("uid 0 and not sport = :*")), Some(reject));
    // Under a not, the userspace term is assumed false: not (A or uid) keeps what not A keeps.
    assert_eq!(compile(&parse_ok("not (sport :22 or uid 0)")), compile(&parse_ok("not sport :22")));
    assert_eq!(compile(&parse_ok("sport :22 and uid 0")), compile(&parse_ok("sport :22")));

    assert!(kernel_exact(&Expr::True));
    assert!(kernel_exact(&parse_ok("sport :22 or not (dst 10/8 and dev 3) or fwmark 1")));
    assert!(!kernel_exact(&parse_ok("sport :22 and uid 0")));
    assert!(!kernel_exact(&parse_ok("path /x")));
    assert!(!kernel_exact(&Expr::State(StateSet::ALL)));
    // The namespace and workload terms are userspace-only, like `process`.
    for t in ["netns blue", "container web", "unit nginx.service", "cgroup /system.slice/*"] {
        assert_eq!(compile(&parse_ok(t)), None, "{t}");
        assert_eq!(compile(&parse_ok(&format!("not {t}"))), None, "not {t}");
        assert_eq!(compile(&parse_ok(&format!("sport :22 and {t}"))), compile(&parse_ok("sport :22")), "{t}");
        assert!(!kernel_exact(&parse_ok(t)), "{t}");
    }
}

#[test]
fn v4_conditions_match_mapped_v6_sockets_only() {
    let lo4 = ip("127.0.0.1");
    let mapped = ip("::ffff:127.0.0.1");
    let e = parse_ok("src 127.0.0.1");
    let bc = compile(&e).unwrap();
    for (s, want) in [
        (sock(lo4, 1, lo4, 2), true),
        (sock(mapped, 1, mapped, 2), true),
        (sock(ip("::1"), 1, ip("::1"), 2), false),
        (sock(ip("::127.0.0.1"), 1, ip("::1"), 2), false),
        (sock(ip("::fffe:127.0.0.1"), 1, ip("::1"), 2), false),
    ] {
        assert_eq!(run(&bc, &s), want, "{:?}", s.local);
        assert_eq!(e.matches_record(&s), want, "{:?}", s.local);
    }
    // A v6 condition never matches a v4 socket, even written as a mapped address.
    let e = parse_ok("src [::ffff:127.0.0.1]");
    let bc = compile(&e).unwrap();
    assert!(!run(&bc, &sock(lo4, 1, lo4, 2)) && !e.matches_record(&sock(lo4, 1, lo4, 2)));
    assert!(run(&bc, &sock(mapped, 1, mapped, 2)) && e.matches_record(&sock(mapped, 1, mapped, 2)));
    // A /0 v4 prefix: every v4 and mapped socket, no native v6 one.
    let bc = compile(&parse_ok("dst 0/0")).unwrap();
    assert!(run(&bc, &sock(mapped, 1, mapped, 2)));
    assert!(!run(&bc, &sock(ip("::1"), 1, ip("::1"), 2)));
}

#[test]
fn unix_sockets_pass_the_kernel_filter() {
    let mut s = sock(ip("127.0.0.1"), 0, ip("127.0.0.1"), 0);
    s.proto = Proto::Unix;
    s.family = Family::Unix;
    s.unix_kind = Some(UnixKind::Stream);
    s.local = Endpoint::Unix { name: None, inode: 1 };
    s.peer = Endpoint::Unix { name: None, inode: 0 };
    assert!(run(&compile(&Expr::False).unwrap(), &s));
}

#[test]
fn interpreter_knows_every_op() {
    let s = sock(ip("10.0.0.1"), 1000, ip("10.0.0.2"), 2000);
    let cmp = |code: u8, port: u16| [op(code, 8, 12), op(0, 0, port)].concat();
    let cases: Vec<(Vec<u8>, bool)> = vec![
        (op(INET_DIAG_BC_NOP, 4, 0), true),
        (op(INET_DIAG_BC_JMP, 4, 8), false),
        (op(INET_DIAG_BC_AUTO, 4, 8), false),
        (cmp(INET_DIAG_BC_S_GE, 1000), true),
        (cmp(INET_DIAG_BC_S_GE, 1001), false),
        (cmp(INET_DIAG_BC_S_LE, 999), false),
        (cmp(INET_DIAG_BC_D_GE, 2000), true),
        (cmp(INET_DIAG_BC_D_LE, 2000), true),
        (cmp(INET_DIAG_BC_D_LE, 1999), false),
        (cmp(INET_DIAG_BC_S_EQ, 1000), true),
        (cmp(INET_DIAG_BC_D_EQ, 1000), false),
        ([op(INET_DIAG_BC_CGROUP_COND, 12, 16), 0u64.to_ne_bytes().to_vec()].concat(), true),
        ([op(INET_DIAG_BC_CGROUP_COND, 12, 16), 7u64.to_ne_bytes().to_vec()].concat(), false),
    ];
    for (bc, want) in cases {
        assert_eq!(audit(&bc, true), Ok(()), "{}", disassemble(&bc));
        assert_eq!(run(&bc, &s), want, "{}", disassemble(&bc));
    }
}

#[test]
fn audit_follows_the_kernel() {
    let e = parse_ok("(sport :22 or dst [2001:db8::]/32:443) and not (dev 2 or sport 1000-2000) or fwmark 1/3");
    let bc = compile(&e).unwrap();
    assert_eq!(audit(&bc, true), Ok(()), "{}", disassemble(&bc));
    assert!(audit(&bc, false).unwrap_err().starts_with("EPERM"));
    let bad: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "shorter"),
        (op(42, 4, 8), "unknown op"),
        (op(INET_DIAG_BC_JMP, 4, 12), "'no'"),
        (op(INET_DIAG_BC_JMP, 4, 6), "'no'"),
        (op(INET_DIAG_BC_NOP, 12, 0), "'yes'"),
        (op(INET_DIAG_BC_S_GE, 8, 12), "past the end"),
        ([op(INET_DIAG_BC_S_COND, 12, 16), vec![2, 8, 0, 0], vec![0; 4]].concat(), "host condition"),
        ([op(INET_DIAG_BC_S_COND, 16, 20), vec![0, 8, 0, 0], vec![0; 8]].concat(), "host condition"),
        // A jump into the middle of the second op's arguments.
        ([op(INET_DIAG_BC_DEV_COND, 8, 12), vec![0; 4], op(INET_DIAG_BC_DEV_COND, 8, 12), vec![0; 4]].concat(), "land"),
    ];
    for (bc, want) in bad {
        let err = audit(&bc, true).expect_err(&disassemble(&bc));
        assert!(err.contains(want), "{err} lacks {want}");
    }
}

#[test]
fn huge_programs_are_not_sent() {
    let e = Expr::Or((0..3000).map(|p| Expr::Port { end: End::Either, range: PortRange::new(p, p) }).collect());
    assert_eq!(compile(&e), None);
    assert!(!kernel_exact(&e));
    let e = Expr::Or((0..100).map(|p| Expr::Port { end: End::Either, range: PortRange::new(p, p) }).collect());
    assert!(compile(&e).is_some_and(|bc| audit(&bc, true).is_ok()) && kernel_exact(&e));
}

// ---- property test ----

const V4: [[u8; 4]; 5] = [[127, 0, 0, 1], [10, 0, 0, 1], [10, 1, 2, 3], [192, 168, 1, 10], [0, 0, 0, 0]];
const V6: [&str; 5] = ["::1", "::", "2001:db8::1", "fe80::1", "2001:db8:1::5"];
const PORTS: [u16; 9] = [0, 22, 80, 443, 1023, 1024, 8080, 50000, 65535];

/// An address of the given kind: 0 IPv4, 1 IPv6, 2 IPv4-mapped IPv6.
fn addr(kind: u8, i: usize) -> IpAddr {
    let v4 = Ipv4Addr::from(V4[i % V4.len()]);
    match kind {
        0 => IpAddr::V4(v4),
        1 => IpAddr::V6(V6[i % V6.len()].parse::<Ipv6Addr>().unwrap()),
        _ => IpAddr::V6(v4.to_ipv6_mapped()),
    }
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![3 => proptest::sample::select(PORTS.to_vec()), 1 => any::<u16>()]
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![Just(End::Local), Just(End::Peer), Just(End::Either)]
}

fn socket() -> impl Strategy<Value = Socket> {
    (0u8..3, 0usize..5, port(), 0usize..5, port(), 1u8..14, proptest::option::of(0u32..3), any::<bool>(), 0u8..4)
        .prop_map(|(kind, li, lport, pi, pport, state, ifindex, udp, uid)| {
            let mut s = sock(addr(kind, li), lport, addr(kind, pi), pport);
            s.state = State(state);
            s.ifindex = ifindex;
            s.proto = if udp { Proto::Udp } else { Proto::Tcp };
            s.uid = [None, Some(0), Some(1000), Some(1)][uid as usize];
            s
        })
}

fn leaf() -> impl Strategy<Value = Expr> {
    let range = (port(), port()).prop_map(|(a, b)| PortRange::new(a.min(b), a.max(b)));
    let one = port().prop_map(|p| PortRange::new(p, p));
    let host =
        (end(), 0u8..3, 0usize..5, 0u8..=128, proptest::option::of(port())).prop_map(|(end, kind, i, l, port)| {
            let addr = addr(kind, i);
            let len = if addr.is_ipv4() { l % 33 } else { l };
            Expr::Host { end, prefix: Prefix { addr, len }, port }
        });
    prop_oneof![
        1 => Just(Expr::True),
        1 => Just(Expr::False),
        3 => (end(), prop_oneof![range, one]).prop_map(|(end, range)| Expr::Port { end, range }),
        4 => host,
        1 => (0u32..3).prop_map(Expr::Dev),
        1 => (0u32..2, prop_oneof![Just(0u32), Just(1), Just(u32::MAX)])
            .prop_map(|(value, mask)| Expr::Mark { value, mask }),
        1 => (0u32..2, 0u32..2000).prop_map(|(lo, hi)| Expr::Uid { lo, hi }),
        1 => prop_oneof![Just(Proto::Tcp), Just(Proto::Udp)].prop_map(Expr::Proto),
        1 => any::<u32>().prop_map(|m| Expr::State(StateSet(m & StateSet::ALL.0))),
        1 => end().prop_map(|end| Expr::UnixPath { end, glob: "*".into() }),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 32, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..4).prop_map(Expr::And),
            proptest::collection::vec(inner.clone(), 1..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn kernel_program_is_sound_and_exact_when_it_says_so(e in expr(), socks in proptest::collection::vec(socket(), 8)) {
        let bc = compile(&e);
        if let Some(bc) = &bc {
            prop_assert_eq!(audit(bc, true), Ok(()), "{}", disassemble(bc));
        }
        let exact = kernel_exact(&e);
        for s in &socks {
            let kernel = bc.as_ref().is_none_or(|bc| run(bc, s));
            let user = e.matches_record(s);
            prop_assert!(kernel || !user, "kernel dropped a match: {:?} on {:?}", e, s);
            if exact {
                prop_assert_eq!(kernel, user, "exact program differs: {:?} on {:?}", e, s);
            }
        }
    }
}
