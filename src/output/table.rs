//! The `ss`-style table: columns sized to their content, addresses right-aligned and ports left-aligned
//! around the `:` so that they line up. Built for 100k+ rows: fields are formatted once into an arena
//! (in parallel for large inputs), then padded out in one pass.

use std::io::{self, Write};
use std::net::IpAddr;

use super::Names;
use crate::model::{Endpoint, Proto, Socket};

/// What the table shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableOptions {
    /// Print the header line (off with `-H`).
    pub header: bool,
    /// Print the `Netid` column (when more than one protocol is listed).
    pub netid: bool,
    /// Append `uid:… ino:… sk:…` (`-e`).
    pub extended: bool,
    /// Append the pending timer, `timer:(keepalive,7min29s,0)` (`-o`).
    pub timers: bool,
    /// A second, indented line with tcp_info (`-i`).
    pub info: bool,
    /// The same second line with socket memory, `skmem:(...)` (`-m`).
    pub memory: bool,
}

impl TableOptions {
    /// Is there a Details column?
    fn details(&self, names: &Names) -> bool {
        self.extended || self.timers || names.processes.is_some()
    }
}

// Arena fields per row, in order.
const RECVQ: usize = 0;
const SENDQ: usize = 1;
const LADDR: usize = 2;
const LPORT: usize = 3;
const PADDR: usize = 4;
const PPORT: usize = 5;
const EXTRA: usize = 6;
/// Text of the indented second line (`-i`, `-m`); empty for none.
const SECOND: usize = 7;
const NF: usize = 8;

/// Rows below this many are formatted on one thread.
const PARALLEL_MIN: usize = 16 * 1024;

struct Chunk {
    arena: Vec<u8>,
    /// End offset of each field of each row in `arena`.
    ends: Vec<[u32; NF]>,
    widths: [usize; NF],
    state_w: usize,
    netid_w: usize,
}

/// Render `socks` as a table into `w`.
pub fn render(w: &mut dyn Write, socks: &[Socket], names: &Names, opts: &TableOptions) -> io::Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let chunks: Vec<Chunk> = if socks.len() < PARALLEL_MIN || threads == 1 {
        vec![build(socks, names, opts)]
    } else {
        let per = socks.len().div_ceil(threads);
        std::thread::scope(|s| {
            let hs: Vec<_> = socks.chunks(per).map(|c| s.spawn(move || build(c, names, opts))).collect();
            hs.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        })
    };

    let mut widths = [0usize; NF];
    let (mut state_w, mut netid_w) = ("State".len(), "Netid".len());
    for c in &chunks {
        for (w, cw) in widths.iter_mut().zip(c.widths) {
            *w = (*w).max(cw);
        }
        state_w = state_w.max(c.state_w);
        netid_w = netid_w.max(c.netid_w);
    }
    let heads = ["Recv-Q", "Send-Q", "Local Address", "Port", "Peer Address", "Port", "", ""];
    for (w, h) in widths.iter_mut().zip(heads) {
        *w = (*w).max(h.len());
    }

    // The namespace column: one label per namespace, or per socket when holders may name another container.
    let per_socket = names.processes.is_some() || names.workloads.labels_sockets();
    let ns_texts: Vec<String> = match (names.netns_column, per_socket) {
        (false, _) => Vec::new(),
        (true, false) => (0..names.workloads.namespaces.len() as u32).map(|i| names.netns_label(i)).collect(),
        (true, true) => socks.iter().map(|s| names.netns_text(s)).collect(),
    };
    let ns_text = |i: usize, s: &Socket| -> &[u8] {
        let t = if per_socket { ns_texts.get(i) } else { ns_texts.get(s.netns as usize) };
        t.map_or(b"-", |t| t.as_bytes())
    };
    let ns_w = if names.netns_column {
        socks.iter().enumerate().map(|(i, s)| ns_text(i, s).len()).max().unwrap_or(0).max("Namespace".len())
    } else {
        0
    };
    let mut out = Vec::with_capacity(256 * 1024);
    if opts.header {
        if names.netns_column {
            pad_left(&mut out, b"Namespace", ns_w);
            out.push(b' ');
        }
        if opts.netid {
            pad_left(&mut out, b"Netid", netid_w);
            out.push(b' ');
        }
        pad_left(&mut out, b"State", state_w);
        out.push(b' ');
        head_row(&mut out, &heads, &widths, opts.details(names));
    }
    let mut row_socks = socks.iter().enumerate();
    for c in &chunks {
        let mut start = 0usize;
        for ends in &c.ends {
            let (row, s) = row_socks.next().ok_or_else(|| io::Error::other("row count mismatch"))?;
            if names.netns_column {
                pad_left(&mut out, ns_text(row, s), ns_w);
                out.push(b' ');
            }
            let field =
                |i: usize, start: usize| &c.arena[if i == 0 { start } else { ends[i - 1] as usize }..ends[i] as usize];
            if opts.netid {
                pad_left(&mut out, s.netid().as_bytes(), netid_w);
                out.push(b' ');
            }
            pad_left(&mut out, s.state.display_name(s.proto).as_bytes(), state_w);
            out.push(b' ');
            pad_left(&mut out, field(RECVQ, start), widths[RECVQ]);
            out.push(b' ');
            pad_left(&mut out, field(SENDQ, start), widths[SENDQ]);
            out.push(b' ');
            let sep = if s.proto == Proto::Unix { b' ' } else { b':' };
            pad_right(&mut out, field(LADDR, start), widths[LADDR]);
            out.push(sep);
            pad_left(&mut out, field(LPORT, start), widths[LPORT]);
            out.push(b' ');
            pad_right(&mut out, field(PADDR, start), widths[PADDR]);
            out.push(sep);
            if opts.details(names) {
                pad_left(&mut out, field(PPORT, start), widths[PPORT]);
                out.push(b' ');
                out.extend_from_slice(field(EXTRA, start));
            } else {
                out.extend_from_slice(field(PPORT, start));
            }
            out.push(b'\n');
            let second = field(SECOND, start);
            if !second.is_empty() {
                out.push(b'\t');
                out.extend_from_slice(second);
                out.push(b'\n');
            }
            start = ends[NF - 1] as usize;
            if out.len() >= 224 * 1024 {
                w.write_all(&out)?;
                out.clear();
            }
        }
    }
    w.write_all(&out)?;
    w.flush()
}

fn head_row(out: &mut Vec<u8>, heads: &[&str; NF], widths: &[usize; NF], details: bool) {
    pad_left(out, heads[RECVQ].as_bytes(), widths[RECVQ]);
    out.push(b' ');
    pad_left(out, heads[SENDQ].as_bytes(), widths[SENDQ]);
    out.push(b' ');
    pad_right(out, heads[LADDR].as_bytes(), widths[LADDR]);
    out.push(b':');
    pad_left(out, heads[LPORT].as_bytes(), widths[LPORT]);
    out.push(b' ');
    pad_right(out, heads[PADDR].as_bytes(), widths[PADDR]);
    out.push(b':');
    if details {
        pad_left(out, heads[PPORT].as_bytes(), widths[PPORT]);
        out.extend_from_slice(b" Details");
    } else {
        out.extend_from_slice(heads[PPORT].as_bytes());
    }
    out.push(b'\n');
}

/// Left-aligned: text, then spaces up to `w`.
fn pad_left(out: &mut Vec<u8>, text: &[u8], w: usize) {
    out.extend_from_slice(text);
    out.resize(out.len() + w.saturating_sub(text.len()), b' ');
}

/// Right-aligned: spaces, then text.
fn pad_right(out: &mut Vec<u8>, text: &[u8], w: usize) {
    out.resize(out.len() + w.saturating_sub(text.len()), b' ');
    out.extend_from_slice(text);
}

fn build(socks: &[Socket], names: &Names, opts: &TableOptions) -> Chunk {
    let mut c = Chunk {
        arena: Vec::with_capacity(socks.len() * 48),
        ends: Vec::with_capacity(socks.len()),
        widths: [0; NF],
        state_w: 0,
        netid_w: 0,
    };
    for s in socks {
        let mut ends = [0u32; NF];
        let mut start = c.arena.len();
        let mut mark = |arena: &Vec<u8>, i: usize, widths: &mut [usize; NF]| {
            widths[i] = widths[i].max(arena.len() - start);
            ends[i] = arena.len() as u32;
            start = arena.len();
        };
        let a = &mut c.arena;
        opt_num(a, s.recv_q);
        mark(a, RECVQ, &mut c.widths);
        opt_num(a, s.send_q);
        mark(a, SENDQ, &mut c.widths);
        match &s.local {
            Endpoint::Inet { ip, port } => {
                addr(a, ip, s, names, true);
                mark(a, LADDR, &mut c.widths);
                port_text(a, s.proto, *port, names);
                mark(a, LPORT, &mut c.widths);
            }
            Endpoint::Unix { name, inode } => {
                match name {
                    Some(n) => a.extend_from_slice(n.display().as_bytes()),
                    None => a.push(b'*'),
                }
                mark(a, LADDR, &mut c.widths);
                num(a, *inode);
                mark(a, LPORT, &mut c.widths);
            }
        }
        match &s.peer {
            Endpoint::Inet { ip, port } => {
                addr(a, ip, s, names, false);
                mark(a, PADDR, &mut c.widths);
                port_text(a, s.proto, *port, names);
                mark(a, PPORT, &mut c.widths);
            }
            Endpoint::Unix { name, inode } => {
                match name {
                    Some(n) => a.extend_from_slice(n.display().as_bytes()),
                    None => a.push(b'*'),
                }
                mark(a, PADDR, &mut c.widths);
                if *inode == 0 {
                    a.push(b'*')
                } else {
                    num(a, *inode)
                }
                mark(a, PPORT, &mut c.widths);
            }
        }
        let extra_start = a.len();
        let sep = |a: &mut Vec<u8>| {
            if a.len() > extra_start {
                a.push(b' ');
            }
        };
        if let Some(p) = names.process_text(s) {
            a.extend_from_slice(p.as_bytes());
        }
        if opts.timers
            && let Some(t) = s.timer
        {
            sep(a);
            timer(a, &t);
        }
        if opts.extended {
            sep(a);
            extended(a, s);
        }
        mark(a, EXTRA, &mut c.widths);
        if let Some(x) = s.extra.as_deref().filter(|_| opts.info || opts.memory) {
            if let Some(m) = x.memory.as_deref().filter(|_| opts.memory) {
                a.extend_from_slice(super::tcp_info::memory(m).as_bytes());
            }
            if let Some(t) = x.tcp_info.as_ref().filter(|_| opts.info) {
                if opts.memory && x.memory.is_some() {
                    a.push(b' ');
                }
                a.extend_from_slice(super::tcp_info::tcp_info(t, x.congestion.as_deref()).as_bytes());
            }
        }
        mark(a, SECOND, &mut c.widths);
        c.ends.push(ends);
        c.state_w = c.state_w.max(s.state.display_name(s.proto).len());
        c.netid_w = c.netid_w.max(s.netid().len());
    }
    c
}

/// One end of `s` as `address:port` (UNIX: `name inode`), written as the table writes its columns.
pub fn endpoint(a: &mut Vec<u8>, s: &Socket, names: &Names, local: bool) {
    match if local { &s.local } else { &s.peer } {
        Endpoint::Inet { ip, port } => {
            addr(a, ip, s, names, local);
            a.push(b':');
            port_text(a, s.proto, *port, names);
        }
        Endpoint::Unix { name, inode } => {
            match name {
                Some(n) => a.extend_from_slice(n.display().as_bytes()),
                None => a.push(b'*'),
            }
            a.push(b' ');
            num(a, *inode);
        }
    }
}

/// `timer:(on,200ms,0)`: kind, time left, retransmits or probes.
fn timer(a: &mut Vec<u8>, t: &crate::model::Timer) {
    use crate::model::TimerKind;
    let kind = match t.kind {
        TimerKind::On => "on".to_string(),
        TimerKind::Keepalive => "keepalive".into(),
        TimerKind::Timewait => "timewait".into(),
        TimerKind::Persist => "persist".into(),
        TimerKind::Other(n) => format!("timer{n}"),
    };
    let _ = write!(a, "timer:({kind},{},{})", duration_ms(t.expires_ms), t.retrans);
}

/// `200ms`, `1.5s`, `7min29s`.
pub fn duration_ms(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms}ms"),
        1000..60_000 => {
            let s = ms as f64 / 1000.0;
            if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{s:.1}s") }
        }
        _ => format!("{}min{}s", ms / 60_000, ms % 60_000 / 1000),
    }
}

fn extended(a: &mut Vec<u8>, s: &Socket) {
    if let Some(uid) = s.uid {
        a.extend_from_slice(b"uid:");
        num(a, uid as u64);
        a.push(b' ');
    }
    a.extend_from_slice(b"ino:");
    num(a, s.inode);
    if let Some(c) = s.cookie {
        a.extend_from_slice(b" sk:");
        let _ = write!(a, "{c:x}");
    }
    if let Some(v) = s.v6only {
        a.extend_from_slice(if v { b" v6only:1" } else { b" v6only:0" });
    }
}

/// The address part: `127.0.0.1`, `[::1]`, `*` for a dual-stack wildcard, `%ifname` when bound to a device,
/// or a host name with `-r`. The device is shown on the local side only, as `ss` does.
fn addr(a: &mut Vec<u8>, ip: &IpAddr, s: &Socket, names: &Names, local: bool) {
    if let Some(h) = names.hosts.get(ip) {
        a.extend_from_slice(h.as_bytes());
    } else {
        match ip {
            IpAddr::V4(v4) => ipv4(a, v4.octets()),
            IpAddr::V6(v6) if v6.is_unspecified() && s.v6only == Some(false) => a.push(b'*'),
            IpAddr::V6(_) => {
                let _ = write!(a, "{}", super::Bracketed(*ip));
            }
        }
    }
    if let Some(i) = s.ifindex.filter(|i| *i != 0 && local) {
        a.push(b'%');
        match names.interfaces.get(&i) {
            Some(n) => a.extend_from_slice(n.as_bytes()),
            None => num(a, i as u64),
        }
    }
}

fn port_text(a: &mut Vec<u8>, proto: Proto, port: u16, names: &Names) {
    if port == 0 {
        a.push(b'*');
    } else if let Some(n) = names.services.as_ref().and_then(|s| s.name(proto, port)) {
        a.extend_from_slice(n.as_bytes());
    } else {
        num(a, port as u64);
    }
}

fn opt_num(a: &mut Vec<u8>, n: Option<u32>) {
    match n {
        Some(n) => num(a, n as u64),
        None => a.push(b'-'),
    }
}

fn ipv4(a: &mut Vec<u8>, o: [u8; 4]) {
    for (i, b) in o.into_iter().enumerate() {
        if i > 0 {
            a.push(b'.');
        }
        num(a, b as u64);
    }
}

/// Decimal digits without going through `fmt`.
fn num(a: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    a.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests;
