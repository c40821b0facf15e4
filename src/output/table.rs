//! The `ss`-style table: columns sized to their content, addresses right-aligned and ports left-aligned
//! around the `:` so that they line up. Built for 100k+ rows: fields are formatted once into an arena
//! chunk by chunk as rows arrive ([`TableWriter`]), then each chunk is padded out in one pass.

use std::io::{self, Write};
use std::net::IpAddr;

use super::Names;
use crate::model::text::escape;
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
/// The namespace column's text (`--all-netns` over several namespaces); empty without the column.
const NS: usize = 8;
const NF: usize = 9;

/// Memory of the rows buffered before a chunk is written (field text plus per-row offsets). Columns are
/// aligned within a chunk, as in `ss`, which buffers up to 5 chunks of 1 MiB of fields before it renders
/// them (`BUF_CHUNK`, `BUF_CHUNKS_MAX`): about 60k rows of `-tan` here, so memory stays bounded however
/// many sockets there are.
pub const CHUNK_BYTES: usize = 4 << 20;

/// Per-row memory besides the field text.
const ROW_BYTES: usize = std::mem::size_of::<[u32; NF]>() + std::mem::size_of::<RowKind>();

/// What the netid, state and separator of a row are made from.
type RowKind = (Proto, Option<crate::model::UnixKind>, crate::model::State);

/// Rows formatted but not yet written: their fields in one arena, and the widths they need.
#[derive(Default)]
struct Chunk {
    arena: Vec<u8>,
    /// End offset of each field of each row in `arena`.
    ends: Vec<[u32; NF]>,
    /// Protocol, UNIX kind and state of each row (its netid, state name and separator).
    meta: Vec<RowKind>,
    widths: [usize; NF],
    state_w: usize,
    netid_w: usize,
}

/// Writes a table row by row: rows are formatted into a chunk, and a full chunk is padded to its own column
/// widths and written. The header (unless `-H`) goes with the first chunk.
pub struct TableWriter<W: Write> {
    w: W,
    opts: TableOptions,
    /// Is there a Details column (fixed for the whole table)?
    details: bool,
    /// Is there a Namespace column (fixed for the whole table)?
    netns_column: bool,
    chunk: Chunk,
    out: Vec<u8>,
    header_due: bool,
    chunk_bytes: usize,
}

impl<W: Write> TableWriter<W> {
    /// A table for rows formatted with `names` (or names loaded since: only whether processes are shown
    /// must not change).
    pub fn new(w: W, names: &Names, opts: &TableOptions) -> Self {
        TableWriter {
            w,
            opts: *opts,
            details: opts.details(names),
            netns_column: names.netns_column,
            chunk: Chunk::default(),
            out: Vec::with_capacity(256 * 1024),
            header_due: opts.header,
            chunk_bytes: CHUNK_BYTES,
        }
    }

    /// Write chunks of at most `bytes` bytes of fields (tests use small ones).
    pub fn with_chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = bytes.max(1);
        self
    }

    /// Format one row; writes a chunk when it is full.
    pub fn push(&mut self, s: &Socket, names: &Names) -> io::Result<()> {
        format_row(&mut self.chunk, s, names, &self.opts);
        if self.chunk.arena.len() + self.chunk.ends.len() * ROW_BYTES >= self.chunk_bytes {
            self.write_chunk()?;
        }
        Ok(())
    }

    /// Write what is left (and the header of an empty table) and flush.
    pub fn finish(mut self) -> io::Result<()> {
        self.write_chunk()?;
        self.w.flush()
    }

    fn write_chunk(&mut self) -> io::Result<()> {
        let c = &mut self.chunk;
        let opts = &self.opts;
        let details = self.details;
        let heads = ["Recv-Q", "Send-Q", "Local Address", "Port", "Peer Address", "Port", "", "", ""];
        let mut widths = c.widths;
        for (w, h) in widths.iter_mut().zip(heads) {
            *w = (*w).max(h.len());
        }
        let state_w = c.state_w.max("State".len());
        let netid_w = c.netid_w.max("Netid".len());
        let ns_w = if self.netns_column { c.widths[NS].max("Namespace".len()) } else { 0 };
        let netns_column = self.netns_column;
        let out = &mut self.out;
        if std::mem::take(&mut self.header_due) {
            if netns_column {
                pad_left(out, b"Namespace", ns_w);
                out.push(b' ');
            }
            if opts.netid {
                pad_left(out, b"Netid", netid_w);
                out.push(b' ');
            }
            pad_left(out, b"State", state_w);
            out.push(b' ');
            head_row(out, &heads, &widths, details);
        }
        let mut start = 0usize;
        for (ends, &(proto, kind, state)) in c.ends.iter().zip(&c.meta) {
            let netid = crate::model::netid(proto, kind);
            let state = state.display_name(proto);
            let sep = if proto == Proto::Unix { b' ' } else { b':' };
            let field = |i: usize| &c.arena[if i == 0 { start } else { ends[i - 1] as usize }..ends[i] as usize];
            if netns_column {
                pad_left(out, field(NS), ns_w);
                out.push(b' ');
            }
            if opts.netid {
                pad_left(out, netid.as_bytes(), netid_w);
                out.push(b' ');
            }
            pad_left(out, state.as_bytes(), state_w);
            out.push(b' ');
            pad_left(out, field(RECVQ), widths[RECVQ]);
            out.push(b' ');
            pad_left(out, field(SENDQ), widths[SENDQ]);
            out.push(b' ');
            pad_right(out, field(LADDR), widths[LADDR]);
            out.push(sep);
            pad_left(out, field(LPORT), widths[LPORT]);
            out.push(b' ');
            pad_right(out, field(PADDR), widths[PADDR]);
            out.push(sep);
            if details {
                pad_left(out, field(PPORT), widths[PPORT]);
                out.push(b' ');
                out.extend_from_slice(field(EXTRA));
            } else {
                out.extend_from_slice(field(PPORT));
            }
            out.push(b'\n');
            let second = field(SECOND);
            if !second.is_empty() {
                out.push(b'\t');
                out.extend_from_slice(second);
                out.push(b'\n');
            }
            start = ends[NF - 1] as usize;
            if out.len() >= 224 * 1024 {
                self.w.write_all(out)?;
                out.clear();
            }
        }
        self.w.write_all(out)?;
        out.clear();
        c.arena.clear();
        c.ends.clear();
        c.meta.clear();
        c.widths = [0; NF];
        c.state_w = 0;
        c.netid_w = 0;
        Ok(())
    }
}

/// Render `socks` as a table into `w`.
pub fn render(w: &mut dyn Write, socks: &[Socket], names: &Names, opts: &TableOptions) -> io::Result<()> {
    let mut t = TableWriter::new(w, names, opts);
    for s in socks {
        t.push(s, names)?;
    }
    t.finish()
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

/// Format one row's fields into the chunk.
fn format_row(c: &mut Chunk, s: &Socket, names: &Names, opts: &TableOptions) {
    {
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
        if names.netns_column {
            a.extend_from_slice(names.netns_text(s).as_bytes());
        }
        mark(a, NS, &mut c.widths);
        c.ends.push(ends);
        let state = s.state.display_name(s.proto);
        c.state_w = c.state_w.max(state.len());
        c.netid_w = c.netid_w.max(s.netid().len());
        c.meta.push((s.proto, s.unix_kind, s.state));
    }
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
        a.extend_from_slice(escape(h).as_bytes());
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
            Some(n) => a.extend_from_slice(escape(n).as_bytes()),
            None => num(a, i as u64),
        }
    }
}

fn port_text(a: &mut Vec<u8>, proto: Proto, port: u16, names: &Names) {
    if port == 0 {
        a.push(b'*');
    } else if let Some(n) = names.services.as_ref().and_then(|s| s.name(proto, port)) {
        a.extend_from_slice(escape(n).as_bytes());
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
