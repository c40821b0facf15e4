//! The fuzz harnesses: one function per parser that reads untrusted bytes, each checking what must hold for
//! any input (no panic, and the properties noted). `fuzz/` runs them under libFuzzer (nightly, with the
//! `fuzzing` feature); the tests below replay every file of `fuzz/corpus/` through them on stable.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::collect::Table;
use crate::filter::bytecode;
use crate::filter::{NoLookup, parse};
use crate::model::{Proto, Socket, State, StateSet};
use crate::ports::services::Services;

/// A harness: runs one input, panics when a property fails.
pub type Harness = fn(&[u8]);

/// Every harness by name (the directory of its corpus and the name of its fuzz target).
pub const TARGETS: &[(&str, Harness)] = &[
    ("netlink", netlink),
    ("proc_net_inet", proc_net_inet),
    ("proc_net_unix", proc_net_unix),
    ("proc_pid", proc_pid),
    ("filter", filter),
    ("conntrack", conntrack),
    ("services", services),
];

const TABLES: [Table; 8] =
    [Table::Tcp4, Table::Tcp6, Table::TcpAll, Table::Udp4, Table::Udp6, Table::Raw4, Table::Raw6, Table::Unix];

/// The first byte picks one of `TABLES` (and a state mask), the rest is the input.
fn split_table(data: &[u8]) -> Option<(Table, StateSet, &[u8])> {
    let (&first, rest) = data.split_first()?;
    let states = if first & 0x80 != 0 { StateSet::ALL } else { StateSet::of(&[State::ESTABLISHED, State::LISTEN]) };
    Some((TABLES[usize::from(first & 0x7f) % TABLES.len()], states, rest))
}

/// sock_diag replies: a buffer of netlink messages (headers, inet or unix payloads, every attribute) for the
/// table the first byte picks; and the same bytes as one bare payload.
pub fn netlink(data: &[u8]) {
    use crate::collect::netlink::decode;
    let Some((table, _, rest)) = split_table(data) else { return };
    let mut n = 0usize;
    let _ = decode::for_each_message(rest, table, true, |_| {
        n += 1;
        true
    });
    // A message is at least a 16-byte header: the walk cannot yield more than that allows.
    assert!(n <= rest.len() / 16 + 1, "{n} messages from {} bytes", rest.len());
    match table {
        Table::Unix => {
            let _ = decode::decode_unix(rest, true);
        }
        _ => {
            let _ = decode::decode_inet(rest, table, true);
        }
    }
}

/// `/proc/net/{tcp,tcp6,udp,udp6,raw,raw6}` text; every socket returned is in the states asked for.
pub fn proc_net_inet(data: &[u8]) {
    let Some((table, states, rest)) = split_table(data) else { return };
    let table = if table == Table::Unix { Table::Tcp4 } else { table };
    if let Ok(socks) = crate::collect::procfs::parse_inet(rest, table, states, 100) {
        assert!(socks.iter().all(|s| states.contains(s.state)));
        assert!(socks.iter().all(|s| s.proto == table.proto()));
    }
}

/// `/proc/net/unix` text (continuation lines included); every socket returned is in the states asked for.
pub fn proc_net_unix(data: &[u8]) {
    let Some((_, states, rest)) = split_table(data) else { return };
    if let Ok(socks) = crate::collect::procfs::parse_unix(rest, states) {
        assert!(socks.iter().all(|s| states.contains(s.state) && s.inode != 0));
        for s in &socks {
            // Names reach terminals escaped: no control byte survives display().
            if let crate::model::Endpoint::Unix { name: Some(n), .. } = &s.local {
                assert!(!n.display().chars().any(char::is_control));
            }
        }
    }
}

/// `/proc/PID` files: an fd link target, `status`, `stat`, `comm`, `cmdline`.
pub fn proc_pid(data: &[u8]) {
    use crate::collect::process::parse;
    if let Some(inode) = parse::parse_socket_link(data) {
        assert!(inode != 0 && data.starts_with(b"socket:[") && data.ends_with(b"]"));
    }
    let _ = parse::parse_status_uid(data);
    let _ = parse::stat_has_no_files(data);
    let comm = parse::parse_comm(data);
    let cmdline = parse::parse_cmdline(data);
    for s in [&comm, &cmdline] {
        assert!(!crate::model::text::escape(s).chars().any(char::is_control));
    }
}

const V4: [[u8; 4]; 5] = [[127, 0, 0, 1], [10, 0, 0, 1], [10, 1, 2, 3], [192, 168, 1, 10], [0, 0, 0, 0]];
const V6: [[u16; 8]; 5] = [
    [0, 0, 0, 0, 0, 0, 0, 1],
    [0; 8],
    [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1],
    [0xfe80, 0, 0, 0, 0, 0, 0, 1],
    [0x2001, 0xdb8, 1, 0, 0, 0, 0, 5],
];
const PORTS: [u16; 9] = [0, 22, 80, 443, 1023, 1024, 8080, 50000, 65535];

/// An address of kind 0 (IPv4), 1 (IPv6) or 2 (IPv4-mapped IPv6).
fn addr(kind: u8, i: u8) -> IpAddr {
    let v4 = Ipv4Addr::from(V4[usize::from(i) % V4.len()]);
    match kind % 3 {
        0 => IpAddr::V4(v4),
        1 => IpAddr::V6(Ipv6Addr::from(V6[usize::from(i) % V6.len()])),
        _ => IpAddr::V6(v4.to_ipv6_mapped()),
    }
}

/// A socket from 8 bytes: kind, local, local port, peer, peer port, state, ifindex, protocol and uid.
fn socket(b: &[u8; 8]) -> Socket {
    let port = |x: u8| if x < 200 { PORTS[usize::from(x) % PORTS.len()] } else { u16::from(x) * 257 };
    let kind = b[0];
    let mut s =
        Socket::inet(Proto::Tcp, State(1 + b[5] % 13), (addr(kind, b[1]), port(b[2])), (addr(kind, b[3]), port(b[4])));
    s.inode = 1;
    s.ifindex = [None, Some(0), Some(1), Some(2)][usize::from(b[6] % 4)];
    s.proto = if b[7] & 1 == 0 { Proto::Tcp } else { Proto::Udp };
    s.uid = [None, Some(0), Some(1000), Some(1)][usize::from((b[7] >> 1) % 4)];
    s.mark = Some(u32::from(b[7] >> 3) % 3);
    s
}

/// Filter text (up to the first NUL) through the lexer, the parser and the bytecode compiler; the bytes after
/// the NUL are sockets. As the property test in `filter::bytecode_tests` states: the compiled program passes
/// the kernel's audit, keeps every socket the userspace evaluator keeps, and when it says it is exact the two
/// agree on every socket.
pub fn filter(data: &[u8]) {
    let (text, rest) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let services = Services::parse("ssh 22/tcp\nhttp 80/tcp www\nhttps 443/tcp\n".as_bytes());
    let parsed = match parse(text, &services, &NoLookup) {
        Ok(p) => p,
        Err(e) => {
            assert!(e.pos <= text.len() && e.len >= 1, "{e:?}");
            let shown = e.render(text);
            assert!(!shown.chars().any(|c| c.is_control() && c != '\n'), "{shown:?}");
            return;
        }
    };
    let e = parsed.expr;
    let bc = bytecode::compile(&e);
    if let Some(bc) = &bc {
        assert_eq!(bytecode::audit(bc, true), Ok(()), "{}", bytecode::disassemble(bc));
    }
    let exact = bytecode::kernel_exact(&e);
    for chunk in rest.chunks_exact(8) {
        let s = socket(chunk.try_into().expect("8 bytes"));
        let kernel = bc.as_ref().is_none_or(|bc| bytecode::run(bc, &s));
        let user = e.matches_record(&s);
        assert!(kernel || !user, "the kernel program dropped a match: {text:?} on {s:?}");
        if exact {
            assert_eq!(kernel, user, "an exact program differs: {text:?} on {s:?}");
        }
    }
}

/// `/proc/net/nf_conntrack` (or `conntrack -L`) text, and the forwards derived from it.
pub fn conntrack(data: &[u8]) {
    use crate::ports::conntrack;
    if let Ok(t) = conntrack::parse(data) {
        let fw = conntrack::forwards(&t.flows);
        let total: u64 = fw.iter().map(|f| u64::from(f.flows)).sum();
        assert!(total <= t.flows.len() as u64);
    }
}

/// A services file: every name it gives leads back to a port that has that name.
pub fn services(data: &[u8]) {
    let s = Services::parse(data);
    for e in s.all() {
        assert_eq!(s.name(e.proto, e.port), Some(e.name));
        let port = s.port(e.name, Some(e.proto)).expect("a primary name resolves");
        assert!(s.service(e.proto, port).is_some());
        for a in e.aliases {
            assert!(s.port(a, Some(e.proto)).is_some(), "alias {a:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::TARGETS;

    #[test]
    fn every_corpus_file_passes_its_harness() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        for (name, harness) in TARGETS {
            let dir = corpus.join(name);
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            assert!(!files.is_empty(), "{name}: no seeds in {}", dir.display());
            for f in files {
                let data = std::fs::read(&f).unwrap();
                if let Err(e) = std::panic::catch_unwind(|| harness(&data)) {
                    panic!("{} fails its harness: {e:?}", f.display());
                }
            }
        }
    }

    #[test]
    fn every_harness_has_a_fuzz_target() {
        let targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
        for (name, _) in TARGETS {
            let t = targets.join(format!("{name}.rs"));
            let src = std::fs::read_to_string(&t).unwrap_or_else(|e| panic!("{}: {e}", t.display()));
            assert!(src.contains(&format!("sockscope::fuzzing::{name}(")), "{} runs another harness", t.display());
        }
    }
}
