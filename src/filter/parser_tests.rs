//! Table-driven tests of the filter parser: accepted syntax, precedence, state selectors, errors with their
//! caret positions, and evaluation of parsed filters.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::filter::parser::MAX_DEPTH;
use crate::model::{Family, UnixKind, UnixName};
use crate::ports::services::Services;

fn services() -> Services {
    Services::parse("ssh 22/tcp\nhttp 80/tcp www\nhttps 443/tcp\ndomain 53/udp\nnetbios-ns 137/udp\n".as_bytes())
}

struct TestLookup;

impl Lookup for TestLookup {
    fn ephemeral_range(&self) -> Option<PortRange> {
        Some(PortRange::new(32768, 60999))
    }
    fn ifindex(&self, name: &str) -> Option<u32> {
        match name {
            "lo" => Some(1),
            "eth0" => Some(2),
            "eq" => Some(99),
            _ => None,
        }
    }
    fn hosts(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        Ok(match name {
            "localhost" => vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)],
            _ => Vec::new(),
        })
    }
}

fn p(input: &str) -> Result<Parsed, FilterError> {
    parse(input, &services(), &TestLookup)
}

fn r(lo: u16, hi: u16) -> PortRange {
    PortRange::new(lo, hi)
}
fn sp(lo: u16, hi: u16) -> Expr {
    Expr::Port { end: End::Local, range: r(lo, hi) }
}
fn dp(lo: u16, hi: u16) -> Expr {
    Expr::Port { end: End::Peer, range: r(lo, hi) }
}
fn ep(lo: u16, hi: u16) -> Expr {
    Expr::Port { end: End::Either, range: r(lo, hi) }
}
fn host(end: End, addr: &str, len: u8, port: Option<u16>) -> Expr {
    Expr::Host { end, prefix: Prefix { addr: addr.parse().unwrap(), len }, port }
}
fn src(addr: &str, len: u8, port: Option<u16>) -> Expr {
    host(End::Local, addr, len, port)
}
fn dst(addr: &str, len: u8, port: Option<u16>) -> Expr {
    host(End::Peer, addr, len, port)
}
fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
}
fn and(v: Vec<Expr>) -> Expr {
    Expr::And(v)
}
fn or(v: Vec<Expr>) -> Expr {
    Expr::Or(v)
}

#[test]
fn expressions() {
    let cases: Vec<(&str, Expr)> = vec![
        // empty and constants
        ("", Expr::True),
        ("   ", Expr::True),
        ("sport = :*", Expr::True),
        ("dport != *", Expr::False),
        // port operators, symbolic and word forms
        ("sport = :22", sp(22, 22)),
        ("sport == :22", sp(22, 22)),
        ("sport eq :22", sp(22, 22)),
        ("sport :22", sp(22, 22)),
        ("sport 22", sp(22, 22)),
        ("sport=:22", sp(22, 22)),
        ("SPORT EQ :22", sp(22, 22)),
        ("sport = :ssh", sp(22, 22)),
        ("sport == :ssh", sp(22, 22)),
        ("dport = :HTTPS", dp(443, 443)),
        ("dport = :www", dp(80, 80)),
        ("dport = :netbios-ns", dp(137, 137)),
        ("dport != :443", not(dp(443, 443))),
        ("dport ne :443", not(dp(443, 443))),
        ("dport neq :443", not(dp(443, 443))),
        ("sport < :1024", sp(0, 1023)),
        ("sport lt :1024", sp(0, 1023)),
        ("sport > :1024", sp(1025, 65535)),
        ("sport gt :1024", sp(1025, 65535)),
        ("sport <= :1024", sp(0, 1024)),
        ("sport le :1024", sp(0, 1024)),
        ("sport leq :1024", sp(0, 1024)),
        ("sport >= :1024", sp(1024, 65535)),
        ("sport ge :1024", sp(1024, 65535)),
        ("sport geq :1024", sp(1024, 65535)),
        ("sport < :0", Expr::False),
        ("sport > :65535", Expr::False),
        ("dport>=:ssh", dp(22, 65535)),
        // ranges and either-end ports
        ("sport 8000-8100", sp(8000, 8100)),
        ("sport = :8000-8100", sp(8000, 8100)),
        ("dport != :ssh-https", not(dp(22, 443))),
        ("port = :443", ep(443, 443)),
        ("port :80", ep(80, 80)),
        ("port < :1024", ep(0, 1023)),
        ("port != :22", not(ep(22, 22))),
        // addresses
        ("src 127.0.0.1", src("127.0.0.1", 32, None)),
        ("src = 127.0.0.1", src("127.0.0.1", 32, None)),
        ("src == 127.0.0.1", src("127.0.0.1", 32, None)),
        ("src 127.0.0.1:22", src("127.0.0.1", 32, Some(22))),
        ("src 127.0.0.1:ssh", src("127.0.0.1", 32, Some(22))),
        ("src 127.0.0.1:*", src("127.0.0.1", 32, None)),
        ("dst 10.0.0.0/8", dst("10.0.0.0", 8, None)),
        ("dst 10/8", dst("10.0.0.0", 8, None)),
        ("dst 192.168/16:443", dst("192.168.0.0", 16, Some(443))),
        ("dst 10.0.0.0/255.0.0.0", dst("10.0.0.0", 8, None)),
        ("dst 0.0.0.0/0", dst("0.0.0.0", 0, None)),
        ("src [::1]", src("::1", 128, None)),
        ("src [::1]:22", src("::1", 128, Some(22))),
        ("src [fe80::]/10", src("fe80::", 10, None)),
        ("src [fe80::/10]", src("fe80::", 10, None)),
        ("src [2001:db8::]/32:443", src("2001:db8::", 32, Some(443))),
        ("src 2001:db8::/32", src("2001:db8::", 32, None)),
        ("src 2001:db8::/32:443", src("2001:db8::", 32, Some(443))),
        ("src 2001:db8::1:80", src("2001:db8::1", 128, Some(80))),
        ("src [::ffff:127.0.0.1]", src("::ffff:127.0.0.1", 128, None)),
        ("src [1.2.3.4]:5", src("1.2.3.4", 32, Some(5))),
        ("src *", Expr::True),
        ("src *:22", sp(22, 22)),
        ("dst *:8000-8100", dp(8000, 8100)),
        ("src :22", sp(22, 22)),
        ("src 10.0.0.1:8000-8100", and(vec![src("10.0.0.1", 32, None), sp(8000, 8100)])),
        ("src != 10.0.0.1", not(src("10.0.0.1", 32, None))),
        ("dst localhost", or(vec![dst("127.0.0.1", 32, None), dst("::1", 128, None)])),
        ("dst localhost:22", or(vec![dst("127.0.0.1", 32, Some(22)), dst("::1", 128, Some(22))])),
        // UNIX names
        ("src unix:/run/*.sock", Expr::UnixPath { end: End::Local, glob: "/run/*.sock".into() }),
        ("dst unix:@*", Expr::UnixPath { end: End::Peer, glob: "@*".into() }),
        ("path /run/[!a]*", Expr::UnixPath { end: End::Local, glob: "/run/[!a]*".into() }),
        (r"path /tmp/a\ b\(1\)", Expr::UnixPath { end: End::Local, glob: "/tmp/a b(1)".into() }),
        ("path != /x", not(Expr::UnixPath { end: End::Local, glob: "/x".into() })),
        // dev, fwmark, proto, uid
        ("dev lo", Expr::Dev(1)),
        ("dev = eth0", Expr::Dev(2)),
        ("dev != eth0", not(Expr::Dev(2))),
        ("dev 7", Expr::Dev(7)),
        ("fwmark = 0x10/0xff", Expr::Mark { value: 16, mask: 255 }),
        ("fwmark 5", Expr::Mark { value: 5, mask: u32::MAX }),
        ("fwmark != 010", not(Expr::Mark { value: 8, mask: u32::MAX })),
        ("proto tcp", Expr::Proto(Proto::Tcp)),
        ("proto = UDP", Expr::Proto(Proto::Udp)),
        ("proto != unix", not(Expr::Proto(Proto::Unix))),
        ("uid 0", Expr::Uid { lo: 0, hi: 0 }),
        ("uid = 1000", Expr::Uid { lo: 1000, hi: 1000 }),
        ("uid >= 1000", Expr::Uid { lo: 1000, hi: u32::MAX }),
        ("uid < 1000", Expr::Uid { lo: 0, hi: 999 }),
        ("uid != 0", not(Expr::Uid { lo: 0, hi: 0 })),
        // boolean operators and precedence: not binds tightest; and/or are equal and group from the left (ss)
        ("sport = :22 and dport = :80", and(vec![sp(22, 22), dp(80, 80)])),
        ("sport = :22 && dport = :80", and(vec![sp(22, 22), dp(80, 80)])),
        ("sport = :22 & dport = :80", and(vec![sp(22, 22), dp(80, 80)])),
        ("sport = :22 dport = :80", and(vec![sp(22, 22), dp(80, 80)])),
        ("sport = :22 or dport = :80", or(vec![sp(22, 22), dp(80, 80)])),
        ("sport = :22 || dport = :80", or(vec![sp(22, 22), dp(80, 80)])),
        ("sport = :22 | dport = :80", or(vec![sp(22, 22), dp(80, 80)])),
        ("sport :1 or sport :2 and sport :3", and(vec![or(vec![sp(1, 1), sp(2, 2)]), sp(3, 3)])),
        ("sport :1 or sport :2 sport :3", and(vec![or(vec![sp(1, 1), sp(2, 2)]), sp(3, 3)])),
        ("sport :1 and sport :2 or sport :3", or(vec![and(vec![sp(1, 1), sp(2, 2)]), sp(3, 3)])),
        ("sport :1 sport :2 or sport :3", or(vec![and(vec![sp(1, 1), sp(2, 2)]), sp(3, 3)])),
        ("not sport :1 and sport :2", and(vec![not(sp(1, 1)), sp(2, 2)])),
        ("! sport :1 or sport :2", or(vec![not(sp(1, 1)), sp(2, 2)])),
        ("!sport :1", not(sp(1, 1))),
        ("not not sport :1", sp(1, 1)),
        ("not ( sport :1 or sport :2 )", not(or(vec![sp(1, 1), sp(2, 2)]))),
        ("(sport :1 or sport :2) sport :3", and(vec![or(vec![sp(1, 1), sp(2, 2)]), sp(3, 3)])),
        ("( dport = :ssh or sport = :ssh )", or(vec![dp(22, 22), sp(22, 22)])),
        ("sport :1 or (sport :2 or sport :3)", or(vec![sp(1, 1), sp(2, 2), sp(3, 3)])),
        ("((sport :1))", sp(1, 1)),
        (r"dev \eq", Expr::Dev(99)),
    ];
    for (input, want) in cases {
        let got = p(input).unwrap_or_else(|e| panic!("{input:?}: {}", e.render(input)));
        assert_eq!(got.expr, want, "{input:?}");
        assert_eq!(got.states, None, "{input:?}");
    }
}

#[test]
fn state_selectors() {
    let of = StateSet::of;
    let all_but = |s: &[State]| StateSet(StateSet::ALL.0 & !StateSet::of(s).0);
    let cases: Vec<(&str, StateSet, Expr)> = vec![
        ("state established", of(&[State::ESTABLISHED]), Expr::True),
        ("state ESTAB", of(&[State::ESTABLISHED]), Expr::True),
        ("state established state syn-sent", of(&[State::ESTABLISHED, State::SYN_SENT]), Expr::True),
        ("state listening sport = :22", of(&[State::LISTEN]), sp(22, 22)),
        ("state bucket", of(&[State::SYN_RECV, State::TIME_WAIT]), Expr::True),
        ("exclude listening", all_but(&[State::LISTEN]), Expr::True),
        ("excl closed excl time-wait", all_but(&[State::CLOSE, State::TIME_WAIT]), Expr::True),
        ("state all exclude time-wait", all_but(&[State::TIME_WAIT]), Expr::True),
        ("exclude time-wait state time-wait", StateSet::ALL, Expr::True),
        ("state connected", parse_state("connected").unwrap(), Expr::True),
        ("state synchronized dst 10/8", parse_state("synchronized").unwrap(), dst("10.0.0.0", 8, None)),
    ];
    for (input, states, expr) in cases {
        let got = p(input).unwrap_or_else(|e| panic!("{input:?}: {}", e.render(input)));
        assert_eq!(got, Parsed { states: Some(states), expr }, "{input:?}");
    }
}

#[test]
fn errors_point_at_the_offending_token() {
    // (input, caret start, caret length, part of the message)
    let cases: &[(&str, usize, usize, &str)] = &[
        ("sport = foo", 8, 3, "expected a port after 'sport =', found 'foo'"),
        ("sport =", 7, 1, "expected a port after 'sport =', found end of input"),
        ("sport", 5, 1, "expected a port after 'sport', found end of input"),
        ("sport = = :22", 8, 1, "expected a port after 'sport =', found '='"),
        ("sport = :99999", 8, 6, "port 99999 is out of range"),
        ("sport = :9-1", 8, 4, "port range 9-1 is empty"),
        ("sport < :80-90", 8, 6, "a port range cannot be compared with '<'"),
        ("sport > *", 8, 1, "'*' cannot be ordered"),
        ("dport = :bogus", 8, 6, "not a number, a range or a known service name"),
        ("foo", 0, 3, "unknown filter term 'foo'"),
        // Regression: the list of terms left out `process` and `pid` (which work).
        ("foo", 0, 3, "path, process, pid, netns, container, unit, cgroup, 'not' or '('"),
        ("sport = :22 bar", 12, 3, "unknown filter term 'bar'"),
        ("sport = :22 and", 15, 1, "expected a filter term after 'and', found end of input"),
        ("or sport = :22", 0, 2, "expected a filter term, found 'or'"),
        ("sport = :22 or or", 15, 2, "expected a filter term after 'or', found 'or'"),
        ("( sport = :22", 0, 1, "this '(' is never closed"),
        ("sport = :22 )", 12, 1, "unmatched ')'"),
        ("()", 1, 1, "expected a filter term after '(', found ')'"),
        ("not", 3, 1, "expected a filter term after 'not', found end of input"),
        ("sport :22 = :80", 10, 1, "unexpected '='"),
        ("src < 1.2.3.4", 4, 1, "'<' is not allowed here: 'src' takes '=' or '!='"),
        ("src 1.2.3.4/33", 4, 10, "'/33' is not a prefix length of 0-32"),
        ("src [::1]/129", 4, 9, "'/129' is not a prefix length of 0-128"),
        ("src 10.0.0.0/255.0.255.0", 4, 20, "contiguous netmask"),
        ("src ::1", 4, 3, "write IPv6 addresses in brackets: [::1]"),
        ("dst fe80::1", 4, 7, "brackets"),
        ("dst ::ffff:1.2.3.4", 4, 14, "brackets"),
        ("src [::1", 4, 4, "no ']'"),
        ("src [::1]x", 4, 6, "expected '/PLEN' or ':PORT' after ']'"),
        ("src nosuchhost", 4, 10, "nor a known host name"),
        ("src 1.2.3.4.5", 4, 9, "expected an address after 'src', found '1.2.3.4.5'"),
        ("src 1.2.3.4:bogus", 4, 13, "expected a port after 'src'"),
        ("src inet:1.2.3.4", 4, 12, "'inet:' are not supported"),
        ("src", 3, 1, "expected an address after 'src', found end of input"),
        ("dev nosuch", 4, 6, "expected an interface name after 'dev', found 'nosuch' (no such interface)"),
        ("dev < lo", 4, 1, "'<' is not allowed here"),
        ("fwmark = x", 9, 1, "expected a mark (VALUE or VALUE/MASK) after 'fwmark ='"),
        ("fwmark = 1/", 9, 2, "expected a mark"),
        ("proto = icmp", 8, 4, "expected a protocol after 'proto =', found 'icmp'"),
        ("uid = root", 6, 4, "expected a uid after 'uid ='"),
        ("uid = 99999999999", 6, 11, "expected a uid"),
        ("state", 5, 1, "expected a state name after 'state', found end of input"),
        ("state bogus", 6, 5, "unknown state 'bogus'"),
        ("exclude (", 8, 1, "expected a state name after 'exclude', found '('"),
        ("sport = :22 state listening", 12, 15, "'state' must come before the filter expression"),
        ("pid = nginx", 6, 5, "expected a process id after 'pid =', found 'nginx' (a number)"),
        // Regression: a sign was accepted (`str::parse` and `from_str_radix` take a leading '+').
        ("pid +1", 4, 2, "expected a process id after 'pid', found '+1'"),
        ("fwmark 0x+1", 7, 4, "expected a mark"),
        ("fwmark 1/0x+f", 7, 6, "expected a mark"),
        ("fwmark 0+7", 7, 3, "expected a mark"),
        ("fwmark +1", 7, 2, "expected a mark"),
        ("dev +1", 4, 2, "no such interface"),
        ("autobound", 0, 9, "'autobound' filters are not supported"),
        ("container", 9, 1, "expected a container name, id or glob after 'container', found end of input"),
        ("netns", 5, 1, "expected a namespace name or inode after 'netns'"),
        (r"src foo\", 7, 1, "a backslash at the end"),
        ("é sport", 0, 2, "unknown filter term 'é'"),
    ];
    for &(input, pos, len, want) in cases {
        let e = p(input).expect_err(input);
        assert!(e.msg.contains(want), "{input:?}: message {:?} lacks {want:?}", e.msg);
        assert_eq!((e.pos, e.len), (pos, len), "{input:?}: {}", e.render(input));
    }
}

#[test]
fn render_shows_a_caret_line() {
    let input = "sport = foo";
    let e = p(input).unwrap_err();
    assert_eq!(
        e.render(input),
        "expected a port after 'sport =', found 'foo' (not a number, a range or a known service name)\n  \
         sport = foo\n          ^^^"
    );
    let input = "dport = :22 and";
    assert_eq!(p(input).unwrap_err().render(input).lines().last(), Some("                 ^"));
    // Columns count characters, not bytes.
    let input = "src é";
    assert_eq!(p(input).unwrap_err().render(input).lines().last(), Some("      ^"));
}

#[test]
fn joined_arguments_keep_positions() {
    let args = ["sport", "=", ":22", "or", "dport", "=", ":nope"];
    let input = join_args(&args);
    assert_eq!(input, "sport = :22 or dport = :nope");
    let e = p(&input).unwrap_err();
    assert_eq!(&input[e.pos..e.pos + e.len], ":nope");
    let ok = join_args(&["(", "sport", "=", ":22", ")"]);
    assert_eq!(p(&ok).unwrap().expr, sp(22, 22));
}

fn inet(local: &str, lport: u16, peer: &str, pport: u16) -> Socket {
    let ip: IpAddr = local.parse().unwrap();
    Socket {
        uid: Some(1000),
        inode: 1,
        ifindex: Some(2),
        ..Socket::inet(Proto::Tcp, State::ESTABLISHED, (ip, lport), (peer.parse().unwrap(), pport))
    }
}

fn unix(path: Option<&str>) -> Socket {
    Socket {
        proto: Proto::Unix,
        family: Family::Unix,
        local: Endpoint::Unix { name: path.and_then(|p| UnixName::from_sun_path(p.as_bytes())), inode: 5 },
        peer: Endpoint::Unix { name: None, inode: 0 },
        unix_kind: Some(UnixKind::Stream),
        uid: None,
        ifindex: None,
        ..inet("127.0.0.1", 0, "0.0.0.0", 0)
    }
}

#[test]
fn parsed_filters_evaluate() {
    let v4 = inet("127.0.0.1", 22, "10.1.2.3", 50000);
    let mapped = inet("::ffff:127.0.0.1", 22, "::ffff:10.1.2.3", 50000);
    let v6 = inet("::1", 22, "2001:db8::7", 443);
    let named = unix(Some("/run/Docker.sock"));
    let abstract_ = unix(Some("\0dbus-X"));
    let unnamed = unix(None);
    let cases: &[(&str, &Socket, bool)] = &[
        ("src 127.0.0.1", &v4, true),
        ("src 127.0.0.1", &mapped, true),
        ("src 127.0.0.1", &v6, false),
        ("src 127.0.0.1:22", &mapped, true),
        ("src 127.0.0.1:23", &mapped, false),
        ("src [::ffff:127.0.0.1]", &mapped, true),
        ("src [::ffff:127.0.0.1]", &v4, false),
        ("src [::ffff:0:0]/96", &v4, false),
        ("dst 10/8", &mapped, true),
        ("dst 0/0", &v6, false),
        ("dst [::]/0", &v6, true),
        ("dst [::]/0", &v4, false),
        ("dst [2001:db8::]/32:443", &v6, true),
        ("sport = :ssh and dport > :1024", &v4, true),
        ("sport = :ssh and not dport > :1024", &v4, false),
        ("port = :443", &v6, true),
        ("port = :443", &v4, false),
        ("dev eth0", &v4, true),
        ("dev lo", &v4, false),
        ("dev lo", &named, false),
        ("uid 1000 and proto tcp", &v4, true),
        ("uid 1000", &named, false),
        ("fwmark 0/0", &v4, true),
        ("fwmark 1", &v4, false),
        ("src unix:/run/*.sock", &named, true),
        ("src unix:/RUN/docker.SOCK", &named, true),
        ("src unix:/run/?ocker.sock", &named, true),
        ("src unix:/run/[a-e]ocker.sock", &named, true),
        ("src unix:/run/[!a-e]ocker.sock", &named, false),
        ("path @dbus-*", &abstract_, true),
        ("path *", &unnamed, true),
        ("path ?*", &unnamed, false),
        ("src unix:*", &v4, false),
        ("src 127.0.0.1", &named, false),
        ("sport != :22", &named, true),
        ("sport = :*", &named, true),
        ("src *", &named, true),
    ];
    for &(input, sock, want) in cases {
        let e = p(input).unwrap_or_else(|e| panic!("{input:?}: {}", e.render(input))).expr;
        assert_eq!(e.matches_record(sock), want, "{input:?} on {:?} {:?}", sock.local, sock.peer);
    }
}

#[test]
fn globs() {
    let cases: &[(&str, &str, bool)] = &[
        ("", "", true),
        ("", "a", false),
        ("*", "", true),
        ("a*b*c", "aXXbYc", true),
        ("a*b*c", "aXXbYcd", false),
        ("*.sock", "/run/x.sock", true),
        ("/run/*", "/run/a/b", true),
        ("[]]", "]", true),
        ("[!]]", "a", true),
        ("[a-", "[a-", true),
        (r"\*", "*", true),
        (r"\*", "a", false),
        ("[^x]", "y", true),
        ("[A-C]x", "bX", true),
    ];
    for &(pat, text, want) in cases {
        assert_eq!(glob_match(pat, text), want, "{pat:?} vs {text:?}");
    }
}

#[test]
fn port_classes_and_the_ephemeral_range() {
    let cases: &[(&str, Expr)] = &[
        ("sport class well-known", Expr::Port { end: End::Local, range: r(0, 1023) }),
        ("dport class registered", Expr::Port { end: End::Peer, range: r(1024, 49151) }),
        ("port class dynamic", Expr::Port { end: End::Either, range: r(49152, 65535) }),
        ("dport ephemeral", Expr::Port { end: End::Peer, range: r(32768, 60999) }),
        ("not sport ephemeral", Expr::Not(Box::new(Expr::Port { end: End::Local, range: r(32768, 60999) }))),
    ];
    for (input, want) in cases {
        let got = p(input).unwrap_or_else(|e| panic!("{input:?}: {}", e.render(input)));
        assert_eq!(&got.expr, want, "{input:?}");
    }
    let e = p("sport class famous").unwrap_err();
    assert_eq!((e.pos, e.len), (12, 6), "{e:?}");
    assert!(e.msg.contains("well-known, registered, dynamic"), "{}", e.msg);
    let e = parse("dport ephemeral", &services(), &NoLookup).unwrap_err();
    assert_eq!(e.pos, 6);
}

#[test]
fn process_and_pid_terms() {
    assert_eq!(p("process nginx").unwrap().expr, Expr::Process("nginx".into()));
    assert_eq!(p("netns blue").unwrap().expr, Expr::NetnsName("blue".into()));
    let w = |term, pattern: &str| Expr::Workload { term, pattern: pattern.into() };
    assert_eq!(p("container web*").unwrap().expr, w(WorkloadTerm::Container, "web*"));
    assert_eq!(p("unit != nginx.service").unwrap().expr, w(WorkloadTerm::Unit, "nginx.service").not());
    assert_eq!(p("cgroup /system.slice/*").unwrap().expr, w(WorkloadTerm::Cgroup, "/system.slice/*"));
    assert_eq!(p("process != 'ngin*'").unwrap().expr, Expr::Process("'ngin*'".into()).not());
    assert_eq!(
        p("sport :80 or pid = 42").unwrap().expr,
        Expr::Port { end: End::Local, range: r(80, 80) }.or(Expr::Pid(42))
    );
    assert!(p("pid 42").unwrap().expr.needs().processes);
    assert!(!p("sport :80").unwrap().expr.needs().processes);
    // The kernel cannot see processes: its program must keep every socket such a term could keep.
    assert!(!crate::filter::bytecode::kernel_exact(&p("pid 42").unwrap().expr));
}

/// `cgroup PATH` is ss's exact term: the path resolves to its cgroup id through the lookup and the socket's id
/// is tested; a path the tree lacks is an error at the path (as in ss), and a glob matches the holders' cgroups.
#[test]
fn cgroup_terms_resolve_through_the_lookup() {
    struct Cgroups;
    impl Lookup for Cgroups {
        fn cgroup_id(&self, path: &str) -> Result<u64, String> {
            if path == "/system.slice" { Ok(77) } else { Err(format!("no cgroup {path}")) }
        }
    }
    let services = Services::parse("".as_bytes());
    let parsed = parse("cgroup /system.slice", &services, &Cgroups).unwrap();
    assert_eq!(parsed.expr, Expr::Cgroup(77));
    assert!(parsed.expr.needs().cgroup_ids);
    let err = parse("not cgroup /nope", &services, &Cgroups).unwrap_err();
    assert_eq!((err.pos, err.len), (11, 5), "{}", err.msg);
    assert!(err.msg.starts_with("no cgroup /nope; a glob such as '/nope/*'"), "{}", err.msg);
    let glob = parse("not cgroup /nope/*", &services, &Cgroups).unwrap().expr;
    assert_eq!(glob, Expr::Workload { term: WorkloadTerm::Cgroup, pattern: "/nope/*".into() }.not());
}

/// `cgroup ../../../../etc/shadow` reached the lookup, which stat'ed the path with the exporter's privileges:
/// an existing file and a missing one got different errors, so any API client learnt which paths exist. A
/// `..` component is refused by the parser itself, the same words whatever exists, and nothing is looked up.
#[test]
fn cgroup_paths_going_up_are_refused_before_any_lookup() {
    struct Panics;
    impl Lookup for Panics {
        fn cgroup_id(&self, path: &str) -> Result<u64, String> {
            panic!("looked up {path}")
        }
    }
    let services = Services::parse("".as_bytes());
    let errors: Vec<FilterError> = ["../../../../etc/shadow", "../../../../nonexistent", "/a/../../etc", "..", "/x/.."]
        .iter()
        .map(|path| parse(&format!("cgroup {path}"), &services, &Panics).unwrap_err())
        .collect();
    for e in &errors {
        assert_eq!(e.msg, "a cgroup path is below the cgroup2 mount: '..' is not allowed in it");
        assert_eq!(e.pos, 7);
    }
    assert_eq!(parse("not cgroup ../x/*", &services, &Panics).unwrap_err().msg, errors[0].msg, "globs too");
    // A name with dots in it is no way up.
    struct Dots;
    impl Lookup for Dots {
        fn cgroup_id(&self, path: &str) -> Result<u64, String> {
            if path == "/a..b/...x" { Ok(5) } else { Err(format!("no cgroup {path}")) }
        }
    }
    assert_eq!(parse("cgroup /a..b/...x", &services, &Dots).unwrap().expr, Expr::Cgroup(5));
}

/// `dst name.attacker.example` in an API filter made the exporter resolve a name of the client's choosing
/// (DNS queries on its behalf, the blocking pool held while they time out). The untrusted lookup refuses
/// host names, saying which term; it looks up no cgroup where the exporter does not collect their ids.
#[test]
fn untrusted_filters_take_addresses_not_host_names() {
    let lookup =
        UntrustedLookup { system: SystemLookup::new(std::path::Path::new("/nonexistent-proc")), cgroup_ids: false };
    let services = Services::parse("".as_bytes());
    let e = parse("sport = :80 and dst name.attacker.example", &services, &lookup).unwrap_err();
    assert_eq!((e.pos, e.len), (20, 21), "{}", e.msg);
    assert_eq!(
        e.msg,
        "expected an address after 'dst', found 'name.attacker.example' (host names are not resolved here: give \
         an address or a prefix)"
    );
    assert!(parse("src localhost", &services, &lookup).is_err());
    let ok = parse("dst 10.0.0.0/8 or src [::1]:22", &services, &lookup).unwrap();
    assert!(!ok.expr.is_true());
    let e = parse("cgroup /system.slice", &services, &lookup).unwrap_err();
    assert!(e.msg.starts_with(crate::filter::lookup::NO_CGROUP_IDS), "{}", e.msg);
}

/// The deepest filter the parser accepts, alternating every construct that nests: `!(` and `(` around `or`
/// and `and`, so the tree is as deep as parentheses allow.
fn deepest_accepted() -> String {
    let mut s = String::new();
    for i in 0..MAX_DEPTH {
        s.push_str(["!(sport = :1 or ", "(dport = :2 and ", "(src 10.0.0.1 or !"][i % 3]);
    }
    s.push_str("sport = :22");
    s.push_str(&")".repeat(MAX_DEPTH));
    s
}

#[test]
fn deep_parentheses_are_an_error_with_a_caret_not_a_stack_overflow() {
    // Regression: 16000 '(' overflowed the parser's stack (SIGABRT); ss rejects such input cleanly.
    let input = format!("{}sport = :22{}", "(".repeat(16000), ")".repeat(16000));
    let e = p(&input).unwrap_err();
    assert_eq!((e.pos, e.len), (MAX_DEPTH, 1), "{}", e.msg);
    assert!(e.msg.contains("nest deeper than"), "{}", e.msg);
    let at_limit = format!("{}sport = :22{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert_eq!(p(&at_limit).unwrap().expr, sp(22, 22));
}

#[test]
fn long_not_chains_do_not_overflow_the_parser() {
    // Regression: 60000 '!' overflowed the parser's stack. A run of negations folds by parity.
    assert_eq!(p(&format!("{}sport = :22", "!".repeat(60000))).unwrap().expr, sp(22, 22));
    assert_eq!(p(&format!("{}sport = :22", "!".repeat(60001))).unwrap().expr, not(sp(22, 22)));
    assert_eq!(p(&format!("{} not sport = :22", "! ".repeat(30000))).unwrap().expr, not(sp(22, 22)));
}

#[test]
fn every_walk_over_the_deepest_accepted_filter_fits_a_small_stack() {
    // The dashboard evaluates filters on its collector thread (2 MiB stack); no walk over an accepted tree (evaluation,
    // bytecode compilation, process resolution, clone, debug printing, drop) may need a large stack.
    let input = deepest_accepted();
    let run = move || {
        let parsed = p(&input).expect("the deepest filter is accepted");
        let e = parsed.expr;
        let s = inet("10.0.0.1", 22, "10.0.0.2", 2);
        let _ = e.matches_record(&s);
        let bc = crate::filter::bytecode::compile(&e);
        if let Some(bc) = &bc {
            let _ = crate::filter::bytecode::run(bc, &s);
        }
        let _ = crate::filter::bytecode::kernel_exact(&e);
        let _ = e.needs();
        let map = crate::collect::process::ProcessMap::default();
        let resolved = crate::filter::bind(&e, &crate::filter::Have::new("test").holders(&map, true));
        let copy = e.clone();
        assert_eq!(copy, e);
        let _ = format!("{e:?}");
        drop((e, copy, resolved));
    };
    std::thread::Builder::new().stack_size(512 * 1024).spawn(run).unwrap().join().unwrap();
}
