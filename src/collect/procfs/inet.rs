//! Parser for `/proc/net/{tcp,tcp6,udp,udp6}`: one row per socket, mapped to the same [`Socket`] values the
//! netlink collector produces.
//!
//! Row layout (kernel `tcp4_seq_show`, `tcp6_seq_show`, `udp4_format_sock`, `udp6_sock_seq_show`):
//!
//! ```text
//! sl  local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode [more...]
//! ```
//!
//! TIME_WAIT and request-socket (SYN_RECV) rows stop shortly after `inode`; only the first ten fields are read.

use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ParseError;
use super::scan::{Fields, LineReader, dec_i64, dec_u32, dec_u64, hex_u8, hex_u16, hex_u32, hex_u64, is_blank, show};
use crate::collect::Table;
use crate::model::{Endpoint, Family, Proto, Socket, State, StateSet, Timer};

/// Timer codes (`tr`) whose retry count netlink takes from `icsk_probes_out` (the `timeout` column) rather
/// than from `icsk_retransmits` (`retrnsmt`): 2 keepalive, 4 zero-window probe.
const PROBE_TIMERS: [u8; 2] = [2, 4];

/// Parse a TCP or UDP table. `ticks_per_sec` is the unit of the `tm->when` column (`sysconf(_SC_CLK_TCK)`,
/// 100 on Linux); 0 is taken as 100. Only rows whose state is in `states` are returned, in file order.
///
/// `table` must not be [`Table::Unix`] (that is [`super::parse_unix`]); it is an error reported at line 0.
// Own parser, not procfs: its `TcpNetEntry`/`UdpNetEntry` lack the timer and retransmits we print.
pub fn parse_inet(
    r: impl BufRead,
    table: Table,
    states: StateSet,
    ticks_per_sec: u64,
) -> Result<Vec<Socket>, ParseError> {
    let v6 = match table.family() {
        Family::Inet => false,
        Family::Inet6 => true,
        _ => return Err(ParseError { line: 0, msg: format!("parse_inet cannot read the {table} table") }),
    };
    let ticks_per_sec = if ticks_per_sec == 0 { 100 } else { ticks_per_sec };
    let ctx = Ctx { proto: table.proto(), family: table.family(), v6, states, ticks_per_sec };
    let mut lines = LineReader::new(r);
    let mut out = Vec::new();
    while let Some((n, line)) = lines.next_line()? {
        if is_blank(line) || (n == 1 && is_header(line)) {
            continue;
        }
        match parse_row(line, &ctx) {
            Ok(Some(s)) => out.push(s),
            Ok(None) => {}
            Err(msg) => return Err(ParseError { line: n, msg }),
        }
    }
    Ok(out)
}

struct Ctx {
    proto: Proto,
    family: Family,
    v6: bool,
    states: StateSet,
    ticks_per_sec: u64,
}

fn is_header(line: &[u8]) -> bool {
    Fields::new(line).next() == Some(b"sl")
}

/// One row; `Ok(None)` when its state is filtered out.
fn parse_row(line: &[u8], ctx: &Ctx) -> Result<Option<Socket>, String> {
    let mut f = Fields::new(line);
    let mut field = |name: &str| f.next().ok_or_else(|| format!("short line: no {name} field"));

    let sl = field("sl")?;
    if sl.last() != Some(&b':') {
        return Err(format!("bad sl field `{}` (expected `N:`)", show(sl)));
    }
    let local = field("local_address")?;
    let peer = field("rem_address")?;
    let st = field("st")?;
    let state = State(hex_u8(st).ok_or_else(|| bad("st", st))?);
    if !ctx.states.contains(state) {
        return Ok(None);
    }
    let local = endpoint(local, ctx.v6).ok_or_else(|| bad("local_address", local))?;
    let peer = endpoint(peer, ctx.v6).ok_or_else(|| bad("rem_address", peer))?;

    let queues = field("tx_queue:rx_queue")?;
    let (tx, rx) = pair(queues, hex_u32, hex_u32).ok_or_else(|| bad("tx_queue:rx_queue", queues))?;
    let tm = field("tr:tm->when")?;
    let (tr, when) = pair(tm, hex_u8, hex_u64).ok_or_else(|| bad("tr:tm->when", tm))?;
    let retrnsmt = field("retrnsmt")?;
    let retrnsmt = hex_u32(retrnsmt).ok_or_else(|| bad("retrnsmt", retrnsmt))?;
    let uid = field("uid")?;
    let uid = dec_u32(uid).ok_or_else(|| bad("uid", uid))?;
    let timeout = field("timeout")?;
    let probes = dec_i64(timeout).ok_or_else(|| bad("timeout", timeout))?;
    let inode = field("inode")?;
    let inode = dec_u64(inode).ok_or_else(|| bad("inode", inode))?;

    // `tm->when` is printed with %08lX from a signed clock_t: a negative value shows as 16 hex digits.
    let ticks = u64::try_from(when as i64).unwrap_or(0);
    let expires_ms = u64::try_from(u128::from(ticks) * 1000 / u128::from(ctx.ticks_per_sec)).unwrap_or(u64::MAX);
    // netlink's idiag_retrans is icsk_probes_out for the keepalive and probe timers, which /proc prints in
    // the `timeout` column; for the others it is icsk_retransmits, /proc's `retrnsmt`.
    let retrans = if PROBE_TIMERS.contains(&tr) { u32::try_from(probes.max(0)).unwrap_or(u32::MAX) } else { retrnsmt };

    let tcp_listener = ctx.proto == Proto::Tcp && state == State::LISTEN;
    Ok(Some(Socket {
        proto: ctx.proto,
        family: ctx.family,
        state,
        local,
        peer,
        // A TCP listener's rx_queue is its accept queue length, as netlink's idiag_rqueue; its tx_queue is
        // not the backlog limit netlink reports in idiag_wqueue, so it is left out. v6only: not in /proc.
        recv_q: Some(rx),
        send_q: if tcp_listener { None } else { Some(tx) },
        uid: Some(uid),
        inode,
        cookie: None,
        ifindex: None,
        v6only: None,
        unix_kind: None,
        timer: Timer::from_code(tr, expires_ms, retrans),
        mark: None,
        extra: None,
        netns: 0,
    }))
}

fn bad(name: &str, value: &[u8]) -> String {
    format!("bad {name} field `{}`", show(value))
}

/// `A:B` with each half parsed by its own function.
fn pair<A, B>(s: &[u8], a: fn(&[u8]) -> Option<A>, b: fn(&[u8]) -> Option<B>) -> Option<(A, B)> {
    let colon = s.iter().position(|&c| c == b':')?;
    Some((a(s.get(..colon)?)?, b(s.get(colon + 1..)?)?))
}

/// `ADDR:PORT`: the address as the in-kernel 32-bit words in host byte order, the port as a plain number.
fn endpoint(s: &[u8], v6: bool) -> Option<Endpoint> {
    let (ip, port) = pair(s, if v6 { ipv6 } else { ipv4 }, hex_u16)?;
    Some(Endpoint::Inet { ip, port })
}

fn ipv4(s: &[u8]) -> Option<IpAddr> {
    if s.len() != 8 {
        return None;
    }
    Some(IpAddr::V4(Ipv4Addr::from(hex_u32(s)?.to_ne_bytes())))
}

fn ipv6(s: &[u8]) -> Option<IpAddr> {
    if s.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (word, out) in s.chunks_exact(8).zip(bytes.chunks_exact_mut(4)) {
        out.copy_from_slice(&hex_u32(word)?.to_ne_bytes());
    }
    Some(IpAddr::V6(Ipv6Addr::from(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TimerKind;

    const TCP_HEADER: &str =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    fn tcp4(text: &str) -> Result<Vec<Socket>, ParseError> {
        parse_inet(text.as_bytes(), Table::Tcp4, StateSet::ALL, 100)
    }

    fn ep(ip: &str, port: u16) -> Endpoint {
        Endpoint::Inet { ip: ip.parse().unwrap(), port }
    }

    /// Host-endian hex words, as the kernel prints them, for an address given in network byte order.
    fn words(bytes: &[u8]) -> String {
        bytes.chunks(4).map(|w| format!("{:08X}", u32::from_ne_bytes(w.try_into().unwrap()))).collect()
    }

    #[test]
    fn decodes_addresses() {
        let v4: &[(&str, &str)] = &[
            ("127.0.0.1", "0100007F"),
            ("0.0.0.0", "00000000"),
            ("10.1.2.3", "0302010A"),
            ("255.255.255.255", "FFFFFFFF"),
        ];
        for (ip, hex) in v4 {
            let addr: Ipv4Addr = ip.parse().unwrap();
            if cfg!(target_endian = "little") {
                assert_eq!(words(&addr.octets()), *hex);
            }
            assert_eq!(ipv4(words(&addr.octets()).as_bytes()), Some(IpAddr::V4(addr)), "{ip}");
        }
        for ip in ["::", "::1", "::ffff:127.0.0.1", "2001:db8::8:800:200c:417a", "fe80::1"] {
            let addr: Ipv6Addr = ip.parse().unwrap();
            assert_eq!(ipv6(words(&addr.octets()).as_bytes()), Some(IpAddr::V6(addr)), "{ip}");
        }
        if cfg!(target_endian = "little") {
            // As captured from /proc/net/tcp6 on x86-64.
            let cases = [
                ("00000000000000000000000001000000", "::1"),
                ("0000000000000000FFFF00000100007F", "::ffff:127.0.0.1"),
                ("B80D0120000000000000000001000000", "2001:db8::1"),
            ];
            for (hex, ip) in cases {
                let want: IpAddr = ip.parse().unwrap();
                assert!(want.is_ipv6());
                assert_eq!(ipv6(hex.as_bytes()), Some(want), "{hex}");
            }
            assert_eq!(endpoint(b"0100007F:1F90", false), Some(ep("127.0.0.1", 8080)));
            assert_eq!(endpoint(b"0100007f:ffff", false), Some(ep("127.0.0.1", 65535)));
        }
        for bad in [&b"0100007F"[..], b"0100007F:", b":1F90", b"100007F:1F90", b"0100007F:10000", b"0100007G:0050"] {
            assert_eq!(endpoint(bad, false), None, "{}", show(bad));
        }
        assert_eq!(endpoint(b"0100007F:0050", true), None, "a v4 address in a v6 table");
        assert_eq!(endpoint(b"00000000000000000000000001000000:0050", false), None);
    }

    #[test]
    fn empty_and_header_only() {
        assert_eq!(tcp4(""), Ok(vec![]));
        assert_eq!(tcp4(TCP_HEADER), Ok(vec![]));
        assert_eq!(tcp4(TCP_HEADER.trim_end()), Ok(vec![]));
        assert_eq!(tcp4(&format!("{TCP_HEADER}\n   \n")), Ok(vec![]));
    }

    #[test]
    fn established_row() {
        let text = format!(
            "{TCP_HEADER}   7: 0100007F:1F90 0100007F:9C41 01 0000000A:00000005 01:0000002A 00000003  1000        0 1323828 1 000000007a62fb2a 20 4 30 10 -1\n"
        );
        let want = Socket {
            proto: Proto::Tcp,
            family: Family::Inet,
            state: State::ESTABLISHED,
            local: ep("127.0.0.1", 8080),
            peer: ep("127.0.0.1", 40001),
            recv_q: Some(5),
            send_q: Some(10),
            uid: Some(1000),
            inode: 1_323_828,
            cookie: None,
            ifindex: None,
            v6only: None,
            unix_kind: None,
            timer: Some(Timer { kind: TimerKind::On, expires_ms: 420, retrans: 3 }),
            mark: None,
            extra: None,
            netns: 0,
        };
        assert_eq!(tcp4(&text), Ok(vec![want.clone()]));
        // Another clock tick rate: 42 ticks at 250 Hz.
        let got = parse_inet(text.as_bytes(), Table::Tcp4, StateSet::ALL, 250).unwrap();
        assert_eq!(got[0].timer.unwrap().expires_ms, 168);
    }

    #[test]
    fn listener_has_no_send_q_but_udp_does() {
        let row = "   0: 0100007F:1F95 00000000:0000 0A 00000000:00000001 00:00000000 00000000     0        0 1323845 2 00000000d38b72f2 100 0 0 10 0\n";
        let s = &tcp4(row).unwrap()[0];
        assert_eq!((s.state, s.recv_q, s.send_q, s.timer), (State::LISTEN, Some(1), None, None));
        // The same numbers in a UDP table: state 10 is not special there.
        let u = &parse_inet(row.as_bytes(), Table::Udp4, StateSet::ALL, 100).unwrap()[0];
        assert_eq!((u.proto, u.recv_q, u.send_q), (Proto::Udp, Some(1), Some(0)));
    }

    #[test]
    fn short_time_wait_and_request_rows() {
        let text = format!(
            "{TCP_HEADER}  14: 0100007F:9C45 0100007F:1F90 06 00000000:00000000 03:0000173C 00000000     0        0 0 3 000000007edd8f3c\n  12: 0100007F:1F93 0100007F:9C49 03 00000000:00000000 01:00000030 00000002     0        0 0\n"
        );
        let got = tcp4(&text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].state, State::TIME_WAIT);
        assert_eq!(got[0].timer, Some(Timer { kind: TimerKind::Timewait, expires_ms: 59_480, retrans: 0 }));
        assert_eq!((got[0].inode, got[0].send_q), (0, Some(0)));
        assert_eq!(got[1].state, State::SYN_RECV);
        assert_eq!(got[1].timer, Some(Timer { kind: TimerKind::On, expires_ms: 480, retrans: 2 }));
    }

    #[test]
    fn probe_timers_count_probes_from_the_timeout_column() {
        for (tr, kind, retrans) in
            [("02", TimerKind::Keepalive, 7), ("04", TimerKind::Persist, 7), ("01", TimerKind::On, 1)]
        {
            let row = format!(
                "   1: 0100007F:9C4F 0100007F:1F91 01 000003E8:00000000 {tr}:0000001E 00000001     0        7 1323876 2 0 20 0 0 10 -1\n"
            );
            let t = tcp4(&row).unwrap()[0].timer.unwrap();
            assert_eq!((t.kind, t.expires_ms, t.retrans), (kind, 300, retrans), "tr {tr}");
        }
    }

    #[test]
    fn negative_and_huge_timer_values_do_not_panic() {
        let cases = [("FFFFFFFFFFFFFFF6", 0), ("7FFFFFFFFFFFFFFF", u64::MAX), ("00000000FFFFFFFF", 42_949_672_950)];
        for (when, ms) in cases {
            let row = format!("0: 0100007F:0001 0100007F:0002 01 0:0 01:{when} 0 0 -5 1\n");
            assert_eq!(tcp4(&row).unwrap()[0].timer.unwrap().expires_ms, ms, "{when}");
        }
        let row = "0: 0100007F:0001 0100007F:0002 01 0:0 04:0 0 0 -5 1\n";
        assert_eq!(tcp4(row).unwrap()[0].timer.unwrap().retrans, 0);
        let got = parse_inet(row.as_bytes(), Table::Tcp4, StateSet::ALL, 0).unwrap();
        assert_eq!(got.len(), 1, "ticks_per_sec 0 is taken as 100");
    }

    #[test]
    fn state_filter() {
        let text = format!(
            "{TCP_HEADER}0: 0100007F:0001 00000000:0000 0A 0:0 00:0 0 0 0 11\n1: 0100007F:0001 0100007F:0002 01 0:0 00:0 0 0 0 12\n2: 0100007F:0003 0100007F:0004 06 0:0 03:0 0 0 0 0 3 0\n"
        );
        let inodes = |set: StateSet| -> Vec<u64> {
            parse_inet(text.as_bytes(), Table::Tcp4, set, 100).unwrap().iter().map(|s| s.inode).collect()
        };
        assert_eq!(inodes(StateSet::ALL), [11, 12, 0]);
        assert_eq!(inodes(StateSet::CONNECTED_DEFAULT), [12]);
        assert_eq!(inodes(StateSet::of(&[State::LISTEN, State::TIME_WAIT])), [11, 0]);
        assert_eq!(inodes(StateSet::EMPTY), Vec::<u64>::new());
    }

    #[test]
    fn malformed_lines_report_their_line_number() {
        let good = "0: 0100007F:0001 0100007F:0002 01 0:0 00:0 0 0 0 12";
        let cases: &[(&str, &str)] = &[
            ("0:", "no local_address"),
            ("0: 0100007F:0001 0100007F:0002", "no st"),
            ("0: 0100007F:0001 0100007F:0002 01 0:0 00:0 0 0 0", "no inode"),
            ("0: 0100007F:0001 0100007F:0002 01 0:0 00:0 0 0", "no timeout"),
            ("0 0100007F:0001 0100007F:0002 01 0:0 00:0 0 0 0 1", "bad sl"),
            ("0: 0100007F0001 0100007F:0002 01 0:0 00:0 0 0 0 1", "bad local_address"),
            ("0: 0100007F:0001 zz:0002 01 0:0 00:0 0 0 0 1", "bad rem_address"),
            ("0: 0100007F:0001 0100007F:0002 100 0:0 00:0 0 0 0 1", "bad st"),
            ("0: 0100007F:0001 0100007F:0002 01 00 00:0 0 0 0 1", "bad tx_queue:rx_queue"),
            ("0: 0100007F:0001 0100007F:0002 01 0:100000000 00:0 0 0 0 1", "bad tx_queue:rx_queue"),
            ("0: 0100007F:0001 0100007F:0002 01 0:0 00: 0 0 0 1", "bad tr:tm->when"),
            ("0: 0100007F:0001 0100007F:0002 01 0:0 00:0 x 0 0 1", "bad retrnsmt"),
            ("0: 0100007F:0001 0100007F:0002 01 0:0 00:0 0 -1 0 1", "bad uid"),
            ("0: 0100007F:0001 0100007F:0002 01 0:0 00:0 0 0 1.5 1", "bad timeout"),
            ("0: 0100007F:0001 0100007F:0002 01 0:0 00:0 0 0 0 -1", "bad inode"),
            ("\u{0}\u{ff}", "bad sl"),
        ];
        for (row, want) in cases {
            let text = format!("{TCP_HEADER}{good}\n{row}\n{good}\n");
            let err = tcp4(&text).unwrap_err();
            assert_eq!(err.line, 3, "{row}");
            assert!(err.msg.contains(want), "{row}: {}", err.msg);
        }
        // Without a header the first line is a row.
        assert_eq!(tcp4("junk\n").unwrap_err().line, 1);
        // A filtered-out row is not checked past its state.
        let text = "0: 0100007F:0001 0100007F:0002 0A 0:0\n";
        assert_eq!(parse_inet(text.as_bytes(), Table::Tcp4, StateSet::CONNECTED_DEFAULT, 100), Ok(vec![]));
        assert_eq!(tcp4(text).unwrap_err().line, 1);
    }

    #[test]
    fn unix_table_is_refused() {
        let err = parse_inet(&b""[..], Table::Unix, StateSet::ALL, 100).unwrap_err();
        assert_eq!(err.line, 0);
    }

    #[test]
    fn non_utf8_garbage_does_not_panic() {
        let inputs: [&[u8]; 5] = [b"\xff\xfe\n", b"0: \xff:\xff", b"0:\n:\n::\n", b":::: : : : : : : : :", b"\x00"];
        for input in inputs {
            let r = parse_inet(input, Table::Tcp6, StateSet::ALL, 100);
            assert!(r.is_err(), "{}", show(input));
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            for table in [Table::Tcp4, Table::Tcp6, Table::Udp4, Table::Udp6] {
                let _ = parse_inet(&bytes[..], table, StateSet::ALL, 100);
            }
        }

        #[test]
        fn damaged_real_files_never_panic(
            cut in 0usize..3000,
            at in 0usize..3000,
            byte in proptest::prelude::any::<u8>(),
        ) {
            for (table, text) in [
                (Table::Tcp4, &include_bytes!("../../../fixtures/proc/busy/net/tcp")[..]),
                (Table::Tcp6, &include_bytes!("../../../fixtures/proc/busy/net/tcp6")[..]),
            ] {
                let mut text = text[..cut.min(text.len())].to_vec();
                if let Some(b) = text.get_mut(at) {
                    *b = byte;
                }
                let _ = parse_inet(&text[..], table, StateSet::ALL, 100);
            }
        }
    }
}
