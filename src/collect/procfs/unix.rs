//! Parser for `/proc/net/unix`, mapped to the same [`Socket`] values netlink's `unix_diag` produces.
//!
//! Row layout (kernel `unix_seq_show`): `%pK: %08X %08X %08X %04X %02X %5lu` = kernel pointer, refcount,
//! protocol (always 0), flags, type, st, inode; then, when the socket is bound, one space and the name.
//! Filesystem names are printed as is; abstract names start with `@` and show each NUL byte as `@`.
//!
//! How `/proc` relates to `unix_diag` (read from the kernel source, checked on Linux 6.18 by comparing
//! `ss -xa` and a raw `unix_diag` dump with `/proc/net/unix` for the same sockets):
//!
//! * netlink reports `sk_state` as is: `TCP_LISTEN`, `TCP_ESTABLISHED` or `TCP_CLOSE` are the only values
//!   AF_UNIX uses, for every socket type. `/proc` prints `flags = __SO_ACCEPTCON` exactly when `sk_state`
//!   is `TCP_LISTEN`, and `st` as `SS_CONNECTED` (3) / `SS_UNCONNECTED` (1) from `sk_state ==
//!   TCP_ESTABLISHED` for sockets that have a `struct socket`, `SS_CONNECTING` (2) / `SS_DISCONNECTING` (4)
//!   from the same test for those that do not. So: ACCEPTCON → LISTEN, st 3 or 2 → ESTABLISHED, else CLOSE.
//!   `st` 2 is *not* a connect in progress (AF_UNIX has none): it is the server end of a connection not
//!   yet accept()ed.
//! * SOCK_DGRAM follows the same rule: a connect()ed datagram socket is ESTABLISHED in both sources, and so
//!   is the socket it connected to (the kernel sets both ends to `TCP_ESTABLISHED`), as are both ends of a
//!   datagram socketpair; it stays ESTABLISHED after its peer is closed. An unconnected one is CLOSE.
//! * `unix_diag` skips sockets without a `struct socket` (inode 0: the not-yet-accepted server end above,
//!   and orphans), so rows with inode 0 are skipped here too.
//! * `/proc` has no queue lengths, peer inode, uid or cookie: `recv_q`, `send_q`, `uid`, `cookie` are `None`,
//!   the peer inode 0.
//!
//! A name may contain a newline, which splits its row in two. A line that does not parse as a row and
//! follows a row with a name is taken as the rest of that name (the format is ambiguous there: a name
//! can be crafted to look like a whole row, which nothing can tell apart).

use std::io::BufRead;

use super::ParseError;
use super::scan::{Fields, LineReader, dec_u64, hex_u8, hex_u32, hex_u64, is_blank, show};
use crate::model::{Endpoint, Family, Proto, Socket, State, StateSet, UnixKind, UnixName};

/// `__SO_ACCEPTCON`: set in the flags column of a listening socket.
const SO_ACCEPTCON: u32 = 0x1_0000;
const SS_CONNECTING: u8 = 2;
const SS_CONNECTED: u8 = 3;

/// Parse `/proc/net/unix`. Only rows whose state is in `states` are returned, in file order.
// Own parser, not procfs: its `UnixNetEntry` lacks the flags (`__SO_ACCEPTCON` is how a listener shows).
pub fn parse_unix(r: impl BufRead, states: StateSet) -> Result<Vec<Socket>, ParseError> {
    let mut lines = LineReader::new(r);
    let mut out: Vec<Socket> = Vec::new();
    // Where a continuation line goes: the last row, if it had a name.
    let mut last = Last::NoName;
    // Continuation lines of the last kept row, each after a `\n`, joined to its name once the next row (or
    // the end) comes: appending line by line would copy the name each time (quadratic in the line count).
    let mut rest: Vec<u8> = Vec::new();
    while let Some((n, line)) = lines.next_line()? {
        if n == 1 && is_header(line) {
            continue;
        }
        match parse_row(line) {
            Ok(row) => {
                finish_name(&mut out, &mut rest);
                let named = row.name.is_some();
                if row.inode == 0 || !states.contains(row.state()) {
                    last = if named { Last::Skipped } else { Last::NoName };
                    continue;
                }
                out.push(row.socket());
                last = if named { Last::Kept } else { Last::NoName };
            }
            Err(msg) => match last {
                Last::Kept => {
                    rest.push(b'\n');
                    rest.extend_from_slice(line);
                }
                Last::Skipped => {}
                Last::NoName if is_blank(line) => {}
                Last::NoName => return Err(ParseError { line: n, msg }),
            },
        }
    }
    finish_name(&mut out, &mut rest);
    Ok(out)
}

#[derive(Clone, Copy)]
enum Last {
    NoName,
    Kept,
    Skipped,
}

fn is_header(line: &[u8]) -> bool {
    Fields::new(line).next() == Some(b"Num")
}

struct Row<'a> {
    flags: u32,
    kind: u32,
    st: u8,
    inode: u64,
    name: Option<&'a [u8]>,
}

impl Row<'_> {
    fn state(&self) -> State {
        if self.flags & SO_ACCEPTCON != 0 {
            State::LISTEN
        } else if matches!(self.st, SS_CONNECTED | SS_CONNECTING) {
            State::ESTABLISHED
        } else {
            State::CLOSE
        }
    }

    fn socket(&self) -> Socket {
        let name = self.name.map(|raw| match raw.split_first() {
            Some((b'@', rest)) => UnixName::Abstract(rest.into()),
            _ => UnixName::Path(raw.into()),
        });
        Socket {
            proto: Proto::Unix,
            family: Family::Unix,
            state: self.state(),
            local: Endpoint::Unix { name, inode: self.inode },
            peer: Endpoint::Unix { name: None, inode: 0 },
            recv_q: None,
            send_q: None,
            uid: None,
            inode: self.inode,
            cookie: None,
            ifindex: None,
            v6only: None,
            unix_kind: Some(UnixKind::from_raw(self.kind)),
            timer: None,
            mark: None,
            extra: None,
            netns: 0,
        }
    }
}

fn parse_row(line: &[u8]) -> Result<Row<'_>, String> {
    let mut f = Fields::new(line);
    let mut field = |name: &str| f.next().ok_or_else(|| format!("short line: no {name} field"));
    let bad = |name: &str, v: &[u8]| format!("bad {name} field `{}`", show(v));

    let num = field("Num")?;
    if num.split_last().is_none_or(|(c, ptr)| *c != b':' || hex_u64(ptr).is_none()) {
        return Err(bad("Num", num));
    }
    let refcount = field("RefCount")?;
    hex_u32(refcount).ok_or_else(|| bad("RefCount", refcount))?;
    let protocol = field("Protocol")?;
    hex_u32(protocol).ok_or_else(|| bad("Protocol", protocol))?;
    let flags = field("Flags")?;
    let flags = hex_u32(flags).ok_or_else(|| bad("Flags", flags))?;
    let kind = field("Type")?;
    let kind = hex_u32(kind).ok_or_else(|| bad("Type", kind))?;
    let st = field("St")?;
    let st = hex_u8(st).ok_or_else(|| bad("St", st))?;
    let inode = field("Inode")?;
    let inode = dec_u64(inode).ok_or_else(|| bad("Inode", inode))?;
    let name = match line.get(f.pos()..).unwrap_or_default().split_first() {
        None => None,
        Some((b' ', name)) => Some(name).filter(|n| !n.is_empty()),
        Some(_) => return Err("no space between Inode and Path".to_owned()),
    };
    Ok(Row { flags, kind, st, inode, name })
}

/// A name that contained `\n`: the line is the rest of it.
/// Append the collected continuation lines to the name of the last socket.
fn finish_name(out: &mut [Socket], rest: &mut Vec<u8>) {
    if rest.is_empty() {
        return;
    }
    if let Some(Endpoint::Unix { name: Some(UnixName::Path(b) | UnixName::Abstract(b)), .. }) =
        out.last_mut().map(|s| &mut s.local)
    {
        let mut v = Vec::with_capacity(b.len() + rest.len());
        v.extend_from_slice(b);
        v.extend_from_slice(rest);
        *b = v.into_boxed_slice();
    }
    rest.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Num       RefCount Protocol Flags    Type St Inode Path\n";

    fn parse(text: &[u8]) -> Result<Vec<Socket>, ParseError> {
        parse_unix(text, StateSet::ALL)
    }

    fn names(text: &[u8]) -> Vec<Option<UnixName>> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|s| match s.local {
                Endpoint::Unix { name, .. } => name,
                _ => unreachable!(),
            })
            .collect()
    }

    fn path(b: &[u8]) -> Option<UnixName> {
        Some(UnixName::Path(b.into()))
    }

    #[test]
    fn empty_and_header_only() {
        assert_eq!(parse(b""), Ok(vec![]));
        assert_eq!(parse(HEADER.as_bytes()), Ok(vec![]));
        assert_eq!(parse(HEADER.trim_end().as_bytes()), Ok(vec![]));
    }

    #[test]
    fn full_record() {
        let text = format!("{HEADER}000000004e68f01a: 00000002 00000000 00010000 0001 01 1323854 /tmp/x/listen sock\n");
        let want = Socket {
            proto: Proto::Unix,
            family: Family::Unix,
            state: State::LISTEN,
            local: Endpoint::Unix { name: path(b"/tmp/x/listen sock"), inode: 1_323_854 },
            peer: Endpoint::Unix { name: None, inode: 0 },
            recv_q: None,
            send_q: None,
            uid: None,
            inode: 1_323_854,
            cookie: None,
            ifindex: None,
            v6only: None,
            unix_kind: Some(UnixKind::Stream),
            timer: None,
            mark: None,
            extra: None,
            netns: 0,
        };
        assert_eq!(parse(text.as_bytes()), Ok(vec![want]));
    }

    #[test]
    fn states_and_kinds() {
        // (flags, type, st, state, kind)
        let cases = [
            ("00010000", "0001", "01", State::LISTEN, UnixKind::Stream),
            ("00010000", "0005", "01", State::LISTEN, UnixKind::Seqpacket),
            ("00000000", "0001", "03", State::ESTABLISHED, UnixKind::Stream),
            ("00000000", "0002", "03", State::ESTABLISHED, UnixKind::Dgram),
            ("00000000", "0002", "01", State::CLOSE, UnixKind::Dgram),
            ("00000000", "0001", "01", State::CLOSE, UnixKind::Stream),
            ("00000000", "0005", "03", State::ESTABLISHED, UnixKind::Seqpacket),
            ("00000000", "0001", "02", State::ESTABLISHED, UnixKind::Stream),
            ("00000000", "0001", "04", State::CLOSE, UnixKind::Stream),
            ("00000000", "0003", "01", State::CLOSE, UnixKind::Raw),
        ];
        for (flags, kind, st, state, unix_kind) in cases {
            let row = format!("0000000000000000: 00000002 00000000 {flags} {kind} {st}  9000\n");
            let got = parse(row.as_bytes()).unwrap();
            assert_eq!((got[0].state, got[0].unix_kind), (state, Some(unix_kind)), "{row}");
        }
    }

    #[test]
    fn sockets_without_inode_are_skipped_like_unix_diag() {
        let text = format!(
            "{HEADER}000000006d95c3b2: 00000003 00000000 00000000 0001 02     0 /tmp/x/listen sock\n0000000000000001: 00000003 00000000 00000000 0001 03  9001\n"
        );
        let got = parse(text.as_bytes()).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].inode, 9001);
    }

    #[test]
    fn names_decode() {
        let text = b"Num RefCount Protocol Flags Type St Inode Path\n\
            0000000000000001: 00000002 00000000 00000000 0001 01  9001 /tmp/with space/s  \n\
            0000000000000002: 00000002 00000000 00000000 0002 01  9002 /tmp/bin\xff.sock\n\
            0000000000000003: 00000002 00000000 00010000 0001 01  9003 @sockscope@fix\n\
            0000000000000004: 00000002 00000000 00000000 0001 03  9004\n\
            0000000000000005: 00000002 00000000 00000000 0001 01  9005  leading-space\n\
            0000000000000006: 00000002 00000000 00000000 0002 01  9006 @\n\
            0000000000000007: 00000002 00000000 00000000 0002 01  9007 \n\
            0000000000000008: 00000002 00000000 00000000 0002 01 9008 rel.sock";
        assert_eq!(
            names(text),
            vec![
                path(b"/tmp/with space/s  "),
                path(b"/tmp/bin\xff.sock"),
                Some(UnixName::Abstract(b"sockscope@fix".as_slice().into())),
                None,
                path(b" leading-space"),
                Some(UnixName::Abstract(b"".as_slice().into())),
                None,
                path(b"rel.sock"),
            ]
        );
    }

    #[test]
    fn names_with_newlines_continue_on_the_next_line() {
        let text = b"Num RefCount Protocol Flags Type St Inode Path\n\
            0000000000000001: 00000002 00000000 00000000 0001 01  9001 /tmp/nl\n\
            sock\n\
            \n\
            0000000000000002: 00000002 00000000 00000000 0001 01  9002 @a\n\
            \n\
            0000000000000003: 00000003 00000000 00000000 0001 02     0 /tmp/skipped\n\
            more name\n\
            0000000000000004: 00000002 00000000 00000000 0001 01  9004\n";
        assert_eq!(
            names(text),
            vec![path(b"/tmp/nl\nsock\n"), Some(UnixName::Abstract(b"a\n".as_slice().into())), None]
        );
        // The continuation of a row filtered out by state is dropped with it.
        let got = parse_unix(&text[..], StateSet::of(&[State::ESTABLISHED])).unwrap();
        assert!(got.is_empty());
    }

    #[test]
    fn malformed_lines_report_their_line_number() {
        let good = "0000000000000001: 00000002 00000000 00000000 0001 01  9001";
        let cases: &[(&str, &str)] = &[
            ("0000000000000001:", "no RefCount"),
            ("0000000000000001: 00000002 00000000 00000000 0001 01", "no Inode"),
            ("0000000000000001 00000002 00000000 00000000 0001 01 1", "bad Num"),
            ("zz: 00000002 00000000 00000000 0001 01 1", "bad Num"),
            (": 00000002 00000000 00000000 0001 01 1", "bad Num"),
            ("0000000000000001: x 00000000 00000000 0001 01 1", "bad RefCount"),
            ("0000000000000001: 00000002 y 00000000 0001 01 1", "bad Protocol"),
            ("0000000000000001: 00000002 00000000 1000000000 0001 01 1", "bad Flags"),
            ("0000000000000001: 00000002 00000000 00000000 -1 01 1", "bad Type"),
            ("0000000000000001: 00000002 00000000 00000000 0001 001 1", "bad St"),
            ("0000000000000001: 00000002 00000000 00000000 0001 01 1x", "bad Inode"),
            ("0000000000000001: 00000002 00000000 00000000 0001 01 1\t/p", "no space"),
            ("\u{ff}", "bad Num"),
        ];
        for (row, want) in cases {
            let text = format!("{HEADER}{good}\n{row}\n{good}\n");
            let err = parse(text.as_bytes()).unwrap_err();
            assert_eq!(err.line, 3, "{row}");
            assert!(err.msg.contains(want), "{row}: {}", err.msg);
        }
        assert_eq!(parse(b"junk").unwrap_err().line, 1);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse_unix(&bytes[..], StateSet::ALL);
        }

        #[test]
        fn damaged_real_file_never_panics(
            cut in 0usize..1500,
            at in 0usize..1500,
            byte in proptest::prelude::any::<u8>(),
        ) {
            let text = include_bytes!("../../../fixtures/proc/busy/net/unix");
            let mut text = text[..cut.min(text.len())].to_vec();
            if let Some(b) = text.get_mut(at) {
                *b = byte;
            }
            let _ = parse_unix(&text[..], StateSet::ALL);
        }
    }

    #[test]
    fn many_continuation_lines_parse_in_linear_time() {
        // Regression: each continuation line copied the whole name so far (200k lines: 5 s; 2 MB: minutes).
        // 200k lines of 10 bytes: quadratic copying would move 200 GB.
        let mut text = HEADER.as_bytes().to_vec();
        text.extend_from_slice(b"0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/a\n");
        for _ in 0..200_000 {
            text.extend_from_slice(b"continued\n");
        }
        text.extend_from_slice(b"0000000000000000: 00000002 00000000 00010000 0001 01 12346 /run/b\n");
        let socks = parse(&text).unwrap();
        assert_eq!(socks.len(), 2);
        let Endpoint::Unix { name: Some(UnixName::Path(p)), .. } = &socks[0].local else { panic!() };
        assert_eq!(p.len(), "/run/a".len() + 200_000 * "\ncontinued".len());
        assert!(p.ends_with(b"\ncontinued"));
        assert_eq!(socks[1].inode, 12346);
    }
}
