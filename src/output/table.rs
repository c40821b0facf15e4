//! The `ss`-style table, laid out as ss 6.x lays it out: ten columns (Netid, State, Recv-Q, Send-Q, local
//! address with its `:`, port, peer address, port, Process, and an empty last one), each sized to its
//! longest field (header included) plus its one-space delimiter, addresses right-aligned, the rest
//! left-aligned and padded, so rows carry ss's trailing spaces. On a terminal the spare width is spread over
//! the columns as ss does; into a pipe the output is compact. Everything after the peer port (users, timer,
//! `-e` details, and the `-i`/`-m` second line after `\n\t`) is one field of the Process column, as in ss.
//!
//! Streamed for 100k+ rows ([`TableWriter`]): fields are formatted once into an arena, block by block as ss
//! prints its blocks (its buffer accounting replayed), each block padded out in one pass with the widest
//! fields seen so far; memory stays bounded by one block.

use std::io::{self, Write};
use std::net::IpAddr;

use super::Names;
use super::tcp_info::{self, InfoStyle};
use crate::model::{Bracketed, Endpoint, Family, Proto, Socket};

/// What the table shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableOptions {
    /// Print the header line (off with `-H`).
    pub header: bool,
    /// The `Netid` column (shown when more than one socket table is listed, as ss decides).
    pub netid: bool,
    /// The `State` column (shown unless exactly one state is selected).
    pub state: bool,
    /// `-e`: uid, inode, cookie, cgroup, v6only, shutdown, and per-family details.
    pub extended: bool,
    /// `-o` (and `-e`): `timer:(...)`, and the negotiated TCP options in `-i`.
    pub timers: bool,
    /// `-i`: tcp_info on a second line.
    pub info: bool,
    /// `-m`: socket memory, `skmem:(...)`.
    pub memory: bool,
    /// `-O`: the second line joined to the first.
    pub oneline: bool,
    /// `--tos`, `--cgroup`, `--inet-sockopt`, `-b`.
    pub tos: bool,
    pub cgroup: bool,
    pub inet_sockopt: bool,
    pub bpf: bool,
    /// `-n`: rates and netlink ports as numbers.
    pub numeric: bool,
    /// The terminal's width when stdout is one: spare width is spread over the columns as ss does.
    pub screen_width: Option<usize>,
}

/// ss's ten columns after ours: Namespace (`--all-netns` over several namespaces only; ss has none).
const NCOL: usize = 11;
const HEADERS: [&str; NCOL] = [
    "Namespace",
    "Netid",
    "State",
    "Recv-Q",
    "Send-Q",
    "Local Address:",
    "Port",
    "Peer Address:",
    "Port",
    "Process",
    "",
];
const LDELIM: [&str; NCOL] = ["", " ", " ", " ", " ", " ", "", " ", "", "", ""];
const RIGHT: [bool; NCOL] = [false, false, false, false, false, true, false, true, false, false, false];
const EXT: usize = 9;

/// Rows formatted but not yet written (one of ss's blocks at most): their fields in one arena.
#[derive(Default)]
struct Chunk {
    arena: Vec<u8>,
    /// End offset of each field of each row in `arena`.
    ends: Vec<[u32; NCOL]>,
}

/// Writes a table row by row, in the blocks ss prints: rows are formatted into a chunk while ss's buffer
/// accounting ([`SsBuffer`]) says ss would still hold them; then the chunk is padded to the widest field of
/// each column seen so far (ss widens its columns from block to block and never narrows them) and written.
/// Memory stays bounded by one block (about 4 MiB of fields) however many sockets there are. The header
/// (unless `-H`) goes with the first block.
pub struct TableWriter<W: Write> {
    w: W,
    opts: TableOptions,
    disabled: [bool; NCOL],
    chunk: Chunk,
    /// ss's buffer, replayed on the field lengths of the current block.
    sim: SsBuffer,
    /// The longest field of each column so far, the header's included.
    max_len: [usize; NCOL],
    header_due: bool,
    out: Vec<u8>,
    /// A block also ends after this many bytes of fields (tests use small ones; ss's accounting ends it first
    /// otherwise).
    chunk_bytes: usize,
}

impl<W: Write> TableWriter<W> {
    /// A table for rows formatted with `names` (or names loaded since).
    pub fn new(w: W, names: &Names, opts: &TableOptions) -> Self {
        let disabled = disabled(opts, names.netns_column);
        let mut sim = SsBuffer::default();
        let mut max_len = [0usize; NCOL];
        if opts.header {
            let lens = HEADERS.map(str::len);
            sim.row(&lens, &disabled);
            max_len = lens;
        }
        TableWriter {
            w,
            opts: *opts,
            disabled,
            chunk: Chunk::default(),
            sim,
            max_len,
            header_due: opts.header,
            out: Vec::with_capacity(256 * 1024),
            chunk_bytes: usize::MAX,
        }
    }

    /// End blocks after at most `bytes` bytes of fields (tests use small ones).
    pub fn with_chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = bytes.max(1);
        self
    }

    /// Format one row; writes the rows before it first when ss would print them before it.
    pub fn push(&mut self, s: &Socket, names: &Names) -> io::Result<()> {
        if self.sim.full() || self.chunk.arena.len() >= self.chunk_bytes {
            self.write_block()?;
            self.sim = SsBuffer::default();
        }
        let c = &mut self.chunk;
        let mut ends = [0u32; NCOL];
        let mut lens = [0usize; NCOL];
        let mut start = c.arena.len();
        for i in 0..NCOL {
            if !self.disabled[i] {
                field(&mut c.arena, i, s, names, &self.opts);
            }
            lens[i] = c.arena.len() - start;
            ends[i] = c.arena.len() as u32;
            start = c.arena.len();
        }
        c.ends.push(ends);
        self.sim.row(&lens, &self.disabled);
        for (m, l) in self.max_len.iter_mut().zip(lens) {
            *m = (*m).max(l);
        }
        Ok(())
    }

    /// Write what is left (and the header of an empty table) and flush.
    pub fn finish(mut self) -> io::Result<()> {
        self.write_block()?;
        self.w.flush()
    }

    /// Print the rows held with the widths of every row so far, as ss prints a block.
    fn write_block(&mut self) -> io::Result<()> {
        let widths = widths(&self.max_len, &self.disabled, self.opts.screen_width);
        let out = &mut self.out;
        if std::mem::take(&mut self.header_due) {
            let fields: [&[u8]; NCOL] = HEADERS.map(str::as_bytes);
            line(out, &fields, &widths, &self.disabled);
        }
        let c = &self.chunk;
        let mut at = 0usize;
        for ends in &c.ends {
            let mut fields: [&[u8]; NCOL] = [&[]; NCOL];
            for (i, f) in fields.iter_mut().enumerate() {
                *f = &c.arena[at..ends[i] as usize];
                at = ends[i] as usize;
            }
            line(out, &fields, &widths, &self.disabled);
            if out.len() >= 224 * 1024 {
                self.w.write_all(out)?;
                out.clear();
            }
        }
        self.w.write_all(out)?;
        out.clear();
        self.chunk.arena.clear();
        self.chunk.ends.clear();
        Ok(())
    }
}

/// One end of `s` as `address:port` (UNIX: `name inode`), written as the table writes its columns.
pub fn endpoint(a: &mut Vec<u8>, s: &Socket, names: &Names, local: bool) {
    let e = if local { &s.local } else { &s.peer };
    end_addr(a, e, s, names, local);
    end_port(a, e, s, names, &TableOptions::default());
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

/// Render `socks` as a table into `w`.
pub fn render(w: &mut dyn Write, socks: &[Socket], names: &Names, opts: &TableOptions) -> io::Result<()> {
    let mut t = TableWriter::new(w, names, opts);
    for s in socks {
        t.push(s, names)?;
    }
    t.finish()
}

/// ss's output buffer, accounted without storing: 1 MiB chunks of tokens (a 2-byte length, then the field,
/// padded to an even length); a token that does not fit moves to a new chunk, and once 5 chunks are in use
/// ss prints what it has before the next row. Replaying that accounting on the field lengths finds the
/// blocks whose columns ss aligns together.
#[derive(Debug, Default)]
struct SsBuffer {
    /// Chunks allocated (0: none yet).
    chunks: usize,
    /// Offset of the current token's length field in the current chunk.
    at: usize,
    /// The last field of the previous row: ss flushes it only when the next row starts, after deciding
    /// whether to print.
    pending: Option<usize>,
}

/// Data bytes of a chunk: 1 MiB less the chunk header (two pointers).
const SS_CHUNK: usize = 1024 * 1024 - 16;
const SS_CHUNKS_MAX: usize = 5;

impl SsBuffer {
    /// ss prints and empties its buffer before a row once this holds.
    fn full(&self) -> bool {
        self.chunks >= SS_CHUNKS_MAX
    }

    fn row(&mut self, lens: &[usize; NCOL], disabled: &[bool; NCOL]) {
        if let Some(len) = self.pending.take() {
            self.flush(len);
        }
        for (i, &len) in lens.iter().enumerate() {
            if disabled[i] {
                continue;
            }
            if self.chunks == 0 {
                self.chunks = 1;
                self.at = 0;
            }
            // The field's text must fit after its length field with room for a NUL, or it moves.
            if len > 0 && len >= SS_CHUNK.saturating_sub(self.at + 2) && self.at != 0 {
                self.chunks += 1;
                self.at = 0;
            }
            if i == NCOL - 1 {
                self.pending = Some(len);
            } else {
                self.flush(len);
            }
        }
    }

    /// Done with a field: the next length field must fit after the (even-padded) text, or a chunk starts.
    fn flush(&mut self, len: usize) {
        let end = self.at + 2 + len;
        let pad = len % 2;
        if SS_CHUNK.saturating_sub(end) < pad + 2 {
            self.chunks += 1;
            self.at = 0;
        } else {
            self.at = end + pad;
        }
    }
}

fn disabled(opts: &TableOptions, netns_column: bool) -> [bool; NCOL] {
    let mut d = [false; NCOL];
    d[0] = !netns_column;
    d[1] = !opts.netid;
    d[2] = !opts.state;
    d
}

/// Column widths as ss computes them: the longest field plus the left delimiter (none for the first shown
/// column); on a terminal, the spare width of each screen line spread over its columns.
fn widths(max_len: &[usize; NCOL], disabled: &[bool; NCOL], screen: Option<usize>) -> [usize; NCOL] {
    let mut w = [0usize; NCOL];
    let mut first = true;
    let screen_w = screen.unwrap_or(usize::MAX);
    for i in 0..NCOL {
        if disabled[i] {
            continue;
        }
        w[i] = if !first && max_len[i] != 0 { max_len[i] + LDELIM[i].len() } else { max_len[i] };
        w[i] = w[i].min(screen_w);
        if w[i] != 0 {
            first = false;
        }
    }
    let Some(screen) = screen else { return w };
    let (mut len, mut linecols, mut eol) = (0usize, 0usize, None::<usize>);
    let mut i = 0;
    while i < NCOL {
        if w[i] == 0 {
            i += 1;
            continue;
        }
        linecols += 1;
        len += w[i];
        let last = !(i + 1..NCOL).any(|j| w[j] != 0);
        if !last && len < screen {
            i += 1;
            continue;
        }
        let mut c = i;
        if len != screen {
            if len > screen {
                len -= w[i];
                linecols -= 1;
                c = i.saturating_sub(1);
            }
            let pad = screen.saturating_sub(len);
            if let Some(spacing) = pad.checked_div(linecols) {
                let mut rem = pad % linecols;
                let from = eol.map_or(0, |e| e + 1);
                for t in (from..=c).rev() {
                    if w[t] == 0 {
                        continue;
                    }
                    w[t] += spacing;
                    if rem > 0 {
                        w[t] += 1;
                        rem -= 1;
                    }
                }
            }
        }
        eol = Some(c);
        len = 0;
        linecols = 0;
        i = c + 1;
    }
    w
}

/// One row: each shown field with its delimiter and padding, as ss's `render()` prints tokens.
fn line(out: &mut Vec<u8>, fields: &[&[u8]; NCOL], widths: &[usize; NCOL], disabled: &[bool; NCOL]) {
    let mut started = false;
    for i in 0..NCOL {
        if disabled[i] {
            continue;
        }
        let mut printed = 0;
        if started {
            out.extend_from_slice(LDELIM[i].as_bytes());
            printed = LDELIM[i].len();
        }
        started = true;
        let f = fields[i];
        if RIGHT[i] && widths[i] != 0 {
            let s = widths[i].saturating_sub(f.len() + printed);
            out.resize(out.len() + s, b' ');
            printed += s;
        }
        out.extend_from_slice(f);
        printed += f.len();
        if !RIGHT[i] && widths[i] != 0 {
            out.resize(out.len() + widths[i].saturating_sub(printed), b' ');
        }
    }
    out.push(b'\n');
}

fn field(a: &mut Vec<u8>, i: usize, s: &Socket, names: &Names, opts: &TableOptions) {
    match i {
        0 => a.extend_from_slice(names.netns_text(s).as_bytes()),
        1 => a.extend_from_slice(s.netid().as_bytes()),
        2 => a.extend_from_slice(s.state.display_name(s.proto).as_bytes()),
        3 => queue(a, s.recv_q),
        4 => queue(a, s.send_q),
        5 => end_addr(a, &s.local, s, names, true),
        6 => end_port(a, &s.local, s, names, opts),
        7 => end_addr(a, &s.peer, s, names, false),
        8 => end_port(a, &s.peer, s, names, opts),
        EXT => details::ext(a, s, names, opts),
        _ => {}
    }
}

/// `%-6d`, as ss prints queues (a missing value prints as 0, as ss's zeroed struct does).
fn queue(a: &mut Vec<u8>, n: Option<u32>) {
    let start = a.len();
    num(a, n.unwrap_or(0) as u64);
    let len = a.len() - start;
    a.resize(start + len.max(6), b' ');
}

/// The address field, with its delimiter: `127.0.0.1:`, `[::1]:`, `*:`, `/run/x.sock `, `rtnl:`.
fn end_addr(a: &mut Vec<u8>, e: &Endpoint, s: &Socket, names: &Names, local: bool) {
    match e {
        Endpoint::Inet { ip, .. } => {
            addr(a, ip, s, names);
            if let Some(i) = s.ifindex.filter(|i| *i != 0 && local) {
                a.push(b'%');
                match names.interfaces.get(&i) {
                    Some(n) => text(a, n),
                    None => num(a, i as u64),
                }
            }
            a.push(b':');
        }
        Endpoint::Unix { name, .. } => {
            match name {
                Some(n) => a.extend_from_slice(n.display().as_bytes()),
                None => a.push(b'*'),
            }
            a.push(b' ');
        }
        Endpoint::Link { protocol, .. } => {
            if *protocol == 3 {
                a.push(b'*');
            } else {
                match ll_proto_name(*protocol).filter(|_| !names.numeric) {
                    Some(n) => a.extend_from_slice(n.as_bytes()),
                    None => {
                        let _ = write!(a, "[{protocol}]");
                    }
                }
            }
            a.push(b':');
        }
        Endpoint::Netlink { protocol, .. } => {
            match netlink_proto_name(*protocol).filter(|_| !names.numeric) {
                Some(n) => a.extend_from_slice(n.as_bytes()),
                None => num(a, *protocol as u64),
            }
            a.push(b':');
        }
        Endpoint::NetlinkPeer { group, .. } => {
            num(a, *group as u64);
            a.push(b':');
        }
        Endpoint::None => a.push(b'*'),
    }
}

fn end_port(a: &mut Vec<u8>, e: &Endpoint, s: &Socket, names: &Names, opts: &TableOptions) {
    match e {
        Endpoint::Inet { port, .. } => port_text(a, s.proto, *port, names),
        Endpoint::Unix { inode, .. } => num(a, *inode),
        Endpoint::Link { ifindex, .. } => {
            if *ifindex == 0 {
                a.push(b'*');
            } else {
                match names.interfaces.get(ifindex) {
                    Some(n) => text(a, n),
                    None => num(a, *ifindex as u64),
                }
            }
        }
        Endpoint::Netlink { portid, .. } => {
            if *portid == -1 {
                a.push(b'*');
            } else if opts.numeric {
                let _ = write!(a, "{portid}");
            } else if *portid == 0 {
                a.extend_from_slice(b"kernel");
            } else {
                match names.netlink_owners.get(portid) {
                    Some(n) => {
                        text(a, n);
                        let _ = write!(a, "/{portid}");
                    }
                    None => {
                        let _ = write!(a, "{portid}");
                    }
                }
            }
        }
        Endpoint::NetlinkPeer { portid, .. } => num(a, *portid as u64),
        Endpoint::None => {}
    }
}

/// The address part: `127.0.0.1`, `[::1]`, `*` for an IPv6 wildcard not known to be v6-only, or a host
/// name with `-r` (bracketed when it holds a `:`).
fn addr(a: &mut Vec<u8>, ip: &IpAddr, s: &Socket, names: &Names) {
    if let Some(h) = names.hosts.get(ip) {
        let _ = write!(a, "{}", Bracketed(&*crate::model::text::escape(h)));
        return;
    }
    match ip {
        IpAddr::V4(v4) => ipv4(a, v4.octets()),
        IpAddr::V6(v6) if v6.is_unspecified() && s.v6only != Some(true) => a.push(b'*'),
        IpAddr::V6(_) => {
            let _ = write!(a, "{}", Bracketed(*ip));
        }
    }
}

fn port_text(a: &mut Vec<u8>, proto: Proto, port: u16, names: &Names) {
    if port == 0 {
        a.push(b'*');
    } else if let Some(n) = names.port_name(proto, port) {
        text(a, n);
    } else {
        num(a, port as u64);
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

/// A name from the system (a host's PTR record, an interface, a process's comm, a cgroup directory), escaped:
/// any of them can carry a terminal escape sequence.
fn text(a: &mut Vec<u8>, s: &str) {
    a.extend_from_slice(crate::model::text::escape(s).as_bytes());
}

/// Decimal digits without going through `fmt`.
fn num(a: &mut Vec<u8>, n: u64) {
    tcp_info::push_u64(a, n);
}

mod details;
mod names;

pub use names::{ll_proto_name, netlink_proto_name};

#[cfg(test)]
mod tests;
