//! Collectors: where socket records come from (netlink `sock_diag`, or `/proc/net/*` text), and the choice
//! between them.
//!
//! A collection is a set of *tables* (TCP over IPv4, TCP over IPv6, UDP over IPv4, ..., UNIX), one kernel
//! dump each. [`Auto`] asks netlink for every table and falls back to `/proc` table by table when netlink
//! cannot serve one (no `sock_diag` at all, or a missing `*_diag` module for one protocol).

// TODO(unwrap_used): being restructured
#![allow(clippy::unwrap_used)]

pub mod cgroup;
pub mod close;
pub mod input;
pub mod names;
pub mod netlink;
pub mod netns;
pub(crate) mod ordered;
pub mod process;
pub mod procfs;
pub mod sysctl;
mod table;
pub mod workloads;

pub use table::Table;

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::model::{Proto, Socket, StateSet};

/// What to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub tcp: bool,
    pub udp: bool,
    pub unix: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    /// Only sockets in these states are returned; netlink passes the mask to the kernel.
    pub states: StateSet,
    /// A compiled `INET_DIAG_REQ_BYTECODE` program that netlink attaches to TCP/UDP dumps so the kernel
    /// drops what cannot match (an over-approximation: callers still apply their full filter).
    pub bytecode: Option<Vec<u8>>,
    /// Ask for tcp_info and the congestion algorithm (`-i`; about 40% more kernel time per dump).
    pub info: bool,
    /// Ask for socket memory (`-m`).
    pub memory: bool,
    /// Dump TCP over both families in one kernel walk ([`Table::TcpAll`]) first, its rows in the kernel's
    /// order: for a live view, where order does not matter. (A listing gets one walk too, with ss's order
    /// restored: see [`ordered`].)
    pub one_tcp_walk: bool,
    /// Receive each dump on a thread of its own and decode beside it, so the kernel's walk never waits for
    /// the decoder: a listing's wall time. It costs some CPU (the replies cross cores), which a live view
    /// that refreshes for hours saves by decoding where it receives.
    pub receive_thread: bool,
    /// Drop a record the dump repeats (by cookie within a bounded window: a dump is not atomic, see
    /// [`netlink::FirstByCookie`]). A live view that matches every socket by its cookie anyway (the
    /// dashboard's tracker) leaves it to that match.
    pub dedupe: bool,
    /// The other socket tables ss knows, each asked for only when selected (a `-tan` listing dumps nothing
    /// more): raw (IPv4/IPv6), MPTCP, packet, netlink, and the families this kernel may lack.
    pub raw: bool,
    pub mptcp: bool,
    pub packet: bool,
    pub netlink: bool,
    pub sctp: bool,
    pub dccp: bool,
    pub vsock: bool,
    pub tipc: bool,
    pub xdp: bool,
    /// Which UNIX and packet socket types to keep ([`SockTypes`]); ss's `-A unix_stream`, `p_raw`...
    pub types: SockTypes,
    /// Ask for what `-e`, `--tos`, `--cgroup` and `--inet-sockopt` print (shutdown, cgroup, TOS, options).
    pub details: bool,
    /// Say on stderr when the kernel has no sock_diag for a table (set when the user named that family).
    pub note_missing: bool,
}

/// UNIX and packet socket types a query keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockTypes {
    pub unix_stream: bool,
    pub unix_dgram: bool,
    pub unix_seqpacket: bool,
    pub packet_raw: bool,
    pub packet_dgram: bool,
}

impl Default for SockTypes {
    fn default() -> Self {
        SockTypes { unix_stream: true, unix_dgram: true, unix_seqpacket: true, packet_raw: true, packet_dgram: true }
    }
}

impl SockTypes {
    /// Does a socket of this protocol and type pass?
    pub fn keeps(&self, s: &Socket) -> bool {
        use crate::model::UnixKind;
        match (s.proto, s.unix_kind) {
            (Proto::Unix, Some(UnixKind::Stream)) => self.unix_stream,
            (Proto::Unix, Some(UnixKind::Seqpacket)) => self.unix_seqpacket,
            (Proto::Unix, _) => self.unix_dgram,
            (Proto::Packet, Some(UnixKind::Raw)) => self.packet_raw,
            (Proto::Packet, _) => self.packet_dgram,
            _ => true,
        }
    }
    pub fn all(&self) -> bool {
        *self == SockTypes::default()
    }
}

impl Default for Query {
    fn default() -> Self {
        Query {
            tcp: true,
            udp: true,
            unix: true,
            ipv4: true,
            ipv6: true,
            states: StateSet::ALL,
            bytecode: None,
            info: false,
            memory: false,
            one_tcp_walk: false,
            receive_thread: true,
            dedupe: true,
            raw: false,
            mptcp: false,
            packet: false,
            netlink: false,
            sctp: false,
            dccp: false,
            vsock: false,
            tipc: false,
            xdp: false,
            types: SockTypes::default(),
            details: false,
            note_missing: false,
        }
    }
}

impl Query {
    /// The tables this query needs, in the order `ss` prints them (UNIX, UDP, TCP; IPv4 before IPv6). With
    /// `one_tcp_walk` (a live view, where order does not matter) TCP comes first: it is usually by far the
    /// largest table, and the results are joined without moving it.
    pub fn tables(&self) -> Vec<Table> {
        let mut t = Vec::with_capacity(8);
        let one_walk = self.one_tcp_walk && self.tcp && self.ipv4 && self.ipv6;
        if one_walk {
            t.push(Table::TcpAll);
        }
        if self.netlink {
            t.push(Table::Netlink);
        }
        if self.packet {
            t.push(Table::Packet);
        }
        if self.unix {
            t.push(Table::Unix);
        }
        for (on, v4, v6) in [
            (self.raw, Table::Raw4, Table::Raw6),
            (self.udp, Table::Udp4, Table::Udp6),
            (self.tcp && !one_walk, Table::Tcp4, Table::Tcp6),
            (self.dccp, Table::Dccp4, Table::Dccp6),
            (self.sctp, Table::Sctp4, Table::Sctp6),
        ] {
            if on && self.ipv4 {
                t.push(v4);
            }
            if on && self.ipv6 {
                t.push(v6);
            }
        }
        for (on, table) in [(self.vsock, Table::Vsock), (self.tipc, Table::Tipc), (self.xdp, Table::Xdp)] {
            if on {
                t.push(table);
            }
        }
        if self.mptcp {
            if self.ipv4 {
                t.push(Table::Mptcp4);
            }
            if self.ipv6 {
                t.push(Table::Mptcp6);
            }
        }
        t
    }
}

/// Where a table's records came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Netlink,
    Proc,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Netlink => "netlink",
            Source::Proc => "/proc",
        })
    }
}

/// The result of one collection.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Records, table by table in [`Query::tables`] order.
    pub sockets: Vec<Socket>,
    /// Which source served each table.
    pub sources: Vec<(Table, Source)>,
    /// Things the user should know (a fallback taken, a field a source cannot give).
    pub notes: Vec<String>,
    /// The network namespaces [`Socket::netns`] indexes; empty when one namespace was read without looking
    /// at namespaces.
    pub namespaces: crate::model::netns::Namespaces,
}

impl Snapshot {
    /// The single source, or `None` when tables came from different sources.
    pub fn source(&self) -> Option<Source> {
        let first = self.sources.first()?.1;
        self.sources.iter().all(|(_, s)| *s == first).then_some(first)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// netlink `sock_diag` cannot be used at all (no socket, permission, kernel without it).
    #[error("netlink sock_diag is not available: {0}")]
    NetlinkUnavailable(io::Error),
    /// The kernel answered that it has no handler for this table (module not loaded or not built).
    #[error(
        "the kernel has no netlink sock_diag handler for {table} sockets (is the {module} module available?)",
        module = table.diag_module()
    )]
    Unsupported { table: Table },
    /// The kernel refused the filter program: `fwmark` tests need CAP_NET_ADMIN.
    #[error("the kernel refused the {table} filter: fwmark filters need CAP_NET_ADMIN (run as root)")]
    FilterNeedsPrivilege { table: Table },
    /// A netlink call failed mid-dump. (The cause is in the message, and so not a `source`: printed once.)
    #[error("netlink dump of {table} sockets failed: {error}")]
    Netlink { table: Table, error: io::Error },
    /// The kernel sent something we could not decode.
    #[error("malformed netlink message in the {table} dump: {msg}")]
    Malformed { table: Table, msg: String },
    /// A `/proc` file could not be read.
    #[error("cannot read {}: {error}", path.display())]
    ProcIo { path: PathBuf, error: io::Error },
    /// A network namespace could not be read (`-N`), or none could (`--all-netns`).
    #[error("{0}")]
    Namespace(String),
    /// None of the `/proc/net` files asked for exists: the proc root is not a proc filesystem (or not this
    /// kernel's), and an empty listing would be a lie.
    #[error("{}: none of the socket tables asked for exists ({files}); is this a proc filesystem?", dir.display())]
    ProcTablesMissing { dir: PathBuf, files: String },
    /// A `/proc` file has a line we do not understand.
    #[error("{}:{line}: {msg}", path.display())]
    ProcParse { path: PathBuf, line: usize, msg: String },
}

impl CollectError {
    /// True when another source may serve the table instead.
    pub fn can_fall_back(&self) -> bool {
        matches!(self, CollectError::NetlinkUnavailable(_) | CollectError::Unsupported { .. })
    }
}

/// Where streamed sockets go, a batch at a time in table order; it returns false to stop the collection
/// (its reader went away).
pub type Sink<'a> = dyn FnMut(Vec<Socket>) -> bool + 'a;

/// A source of socket records.
pub trait Collector: Send {
    /// Collect every socket the query asks for.
    fn collect(&mut self, q: &Query) -> Result<Snapshot, CollectError>;

    /// Collect as [`collect`](Self::collect) does, but hand the sockets to `sink` as they arrive instead of
    /// holding them all: memory stays bounded for any number of sockets. The snapshot returned has the
    /// sources and notes, and no sockets. (This default holds everything first.)
    fn stream(&mut self, q: &Query, sink: &mut Sink<'_>) -> Result<Snapshot, CollectError> {
        let mut snap = self.collect(q)?;
        let socks = std::mem::take(&mut snap.sockets);
        if !socks.is_empty() {
            sink(socks);
        }
        Ok(snap)
    }
}

/// Collect every socket `q` asks for into `table`, emptied first: its capacity is reused. The sockets are
/// streamed in batches into the one table, without a fresh table, the copies of its growth and its page
/// faults each time: what the periodic views (the dashboard, `watch`, `record`) collect with.
pub fn collect_into(
    collector: &mut dyn Collector,
    q: &Query,
    mut table: Vec<Socket>,
) -> Result<Snapshot, CollectError> {
    table.clear();
    let mut snap = collector.stream(q, &mut |batch| {
        table.extend(batch);
        true
    })?;
    snap.sockets = table;
    Ok(snap)
}

/// Which source the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceChoice {
    /// netlink, falling back to `/proc` table by table.
    #[default]
    Auto,
    /// netlink only; an error when it cannot serve a table.
    Netlink,
    /// `/proc/net` only.
    Proc,
}

/// Open the collector the user chose. `proc_root` is normally `/proc`.
pub fn open(choice: SourceChoice, proc_root: PathBuf) -> Box<dyn Collector> {
    match choice {
        SourceChoice::Auto => {
            Box::new(Auto { netlink: netlink::NetlinkCollector::new(), proc: procfs::ProcCollector::new(proc_root) })
        }
        SourceChoice::Netlink => Box::new(netlink::NetlinkCollector::new()),
        SourceChoice::Proc => Box::new(procfs::ProcCollector::new(proc_root)),
    }
}

/// netlink first, `/proc` for the tables netlink cannot serve.
pub struct Auto {
    netlink: netlink::NetlinkCollector,
    proc: procfs::ProcCollector,
}

impl Collector for Auto {
    fn stream(&mut self, q: &Query, sink: &mut Sink<'_>) -> Result<Snapshot, CollectError> {
        let this = &*self;
        let tables = q.tables();
        let walk = ordered::TcpWalk::for_tables(&tables);
        stream_in_order(&tables, sink, |t, sink| {
            ordered::serve(walk.as_ref(), t, q, sink).unwrap_or_else(|| this.stream_one(t, q, sink))
        })
    }

    fn collect(&mut self, q: &Query) -> Result<Snapshot, CollectError> {
        let tables = q.tables();
        let results = self.netlink.collect_tables(q, &tables);
        let mut snap = Snapshot::default();
        let mut parts = Vec::with_capacity(tables.len());
        for (table, result) in tables.iter().copied().zip(results) {
            match result {
                Ok(socks) => {
                    parts.push(socks);
                    snap.sources.push((table, Source::Netlink));
                }
                Err(e) if e.can_fall_back() => {
                    let (socks, note, served) = self.fall_back(q, table, &e)?;
                    parts.push(socks);
                    if served {
                        snap.sources.push((table, Source::Proc));
                    }
                    snap.notes.extend(note);
                }
                Err(e) => return Err(e),
            }
        }
        snap.sockets = concat_in_order(parts);
        dedupe_notes(&mut snap.notes);
        Ok(snap)
    }
}

/// What streaming one table gave: the source that served it, a note for the user, and whether the sink
/// wants more.
pub(crate) struct Streamed {
    pub source: Source,
    pub note: Option<String>,
    pub more: bool,
}

/// Batches a table dumped ahead may hold while an earlier table streams.
const AHEAD: usize = 4;

/// Stream `tables` through `sink` in order, dumping them all at once: each table after the first runs on its
/// own thread into a small bounded channel, read when its turn comes. A small table (tcp6 on an IPv4 host)
/// is done while the big one streams, and a big one waits (the kernel holds the dump) with at most
/// [`AHEAD`] batches in memory.
pub(crate) fn stream_in_order<F>(tables: &[Table], sink: &mut Sink<'_>, one: F) -> Result<Snapshot, CollectError>
where
    F: Fn(Table, &mut Sink<'_>) -> Result<Streamed, CollectError> + Sync,
{
    let mut snap = Snapshot::default();
    let Some((&first, rest)) = tables.split_first() else { return Ok(snap) };
    let record = |snap: &mut Snapshot, t: Table, r: &Streamed| {
        snap.sources.push((t, r.source));
        snap.notes.extend(r.note.clone());
    };
    std::thread::scope(|s| {
        let one = &one;
        let mut pending = Vec::with_capacity(rest.len());
        for &t in rest {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Socket>>(AHEAD);
            let h = s.spawn(move || one(t, &mut |batch| tx.send(batch).is_ok()));
            pending.push((t, rx, h));
        }
        let r = one(first, sink)?;
        record(&mut snap, first, &r);
        let mut more = r.more;
        for (t, rx, h) in pending {
            if more {
                for batch in rx.iter() {
                    if !sink(batch) {
                        more = false;
                        break;
                    }
                }
            }
            // Once its channel is gone a dump still running stops at its next batch.
            drop(rx);
            let r = h
                .join()
                .unwrap_or_else(|_| Err(CollectError::Malformed { table: t, msg: "dump thread panicked".into() }))?;
            record(&mut snap, t, &r);
        }
        dedupe_notes(&mut snap.notes);
        Ok(snap)
    })
}

impl Auto {
    /// `table` from `/proc` after netlink could not serve it (`e`): its sockets, the note for the user, and
    /// whether `/proc` served it (false: no file either, the kernel lacks the family).
    fn fall_back(
        &self,
        q: &Query,
        table: Table,
        e: &CollectError,
    ) -> Result<(Vec<Socket>, Option<String>, bool), CollectError> {
        match self.proc.collect_table(q, table) {
            Ok(socks) => {
                let note = match e {
                    CollectError::NetlinkUnavailable(_) => Some(format!("{e}; reading /proc/net instead")),
                    // Kernels are commonly built without raw_diag; ss reads /proc/net/raw then without a word.
                    _ if matches!(table, Table::Raw4 | Table::Raw6) => None,
                    _ => Some(format!("{e}; read {table} sockets from /proc/net instead")),
                };
                Ok((socks, note, true))
            }
            // No /proc file either: the kernel lacks this family. Said only when it was asked for by name (ss's
            // default tables include families most kernels lack: silence there, as ss).
            Err(CollectError::Unsupported { .. }) => {
                let note = q.note_missing.then(|| {
                    format!(
                        "{} sockets are not listed: this kernel has no {} (sock_diag for them)",
                        table.proto_label(),
                        table.diag_module()
                    )
                });
                Ok((Vec::new(), note, false))
            }
            Err(other) => Err(other),
        }
    }

    /// One table for [`Collector::stream`]: netlink, or `/proc` when netlink cannot serve it (those errors come
    /// before any socket of the table).
    fn stream_one(&self, table: Table, q: &Query, sink: &mut Sink<'_>) -> Result<Streamed, CollectError> {
        let mut sent = false;
        let result = netlink::stream_table(table, q, &mut |batch| {
            sent = true;
            sink(batch)
        });
        match result {
            Ok(more) => Ok(Streamed { source: Source::Netlink, note: None, more }),
            Err(e) if e.can_fall_back() && !sent => {
                let (socks, note, _) = self.fall_back(q, table, &e)?;
                let more = socks.is_empty() || sink(socks);
                Ok(Streamed { source: Source::Proc, note, more })
            }
            Err(e) => Err(e),
        }
    }
}

/// One note per distinct cause: "netlink unavailable" would otherwise repeat for every table.
fn dedupe_notes(notes: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    notes.retain(|n| seen.insert(n.clone()));
}

/// Join per-table results in order without copying the largest one: at 200k records a copy would double the
/// peak memory. The largest part is grown in place (glibc moves big blocks with `mremap`) and the others are
/// moved in before and after it.
pub(crate) fn concat_in_order(mut parts: Vec<Vec<Socket>>) -> Vec<Socket> {
    let Some(big) = (0..parts.len()).max_by_key(|&i| parts[i].len()) else { return Vec::new() };
    let total: usize = parts.iter().map(Vec::len).sum();
    let mut out = std::mem::take(&mut parts[big]);
    out.reserve_exact(total - out.len());
    let before: Vec<Socket> = parts[..big].iter_mut().flat_map(std::mem::take).collect();
    out.splice(0..0, before);
    for p in &mut parts[big + 1..] {
        out.append(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::State;

    fn sock(port: u16) -> Socket {
        Socket::inet(
            Proto::Tcp,
            State::ESTABLISHED,
            (std::net::Ipv4Addr::LOCALHOST.into(), port),
            (std::net::Ipv4Addr::LOCALHOST.into(), 1),
        )
    }

    #[test]
    fn streamed_tables_keep_their_order_and_stop_together() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // Later tables are dumped ahead (here they finish first), yet reach the sink in table order.
        let tables = [Table::Unix, Table::Udp4, Table::Tcp4];
        let one = |t: Table, sink: &mut Sink<'_>| {
            let base = match t {
                Table::Unix => 100,
                Table::Udp4 => 200,
                _ => 300,
            };
            if t == Table::Unix {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let mut more = true;
            for i in 0..3 {
                more = more && sink(vec![sock(base + i)]);
            }
            Ok(Streamed { source: Source::Netlink, note: None, more })
        };
        let mut ports = Vec::new();
        let snap = stream_in_order(
            &tables,
            &mut |b| {
                ports.extend(b.iter().map(|s| s.local.port().unwrap()));
                true
            },
            one,
        )
        .unwrap();
        assert_eq!(ports, [100, 101, 102, 200, 201, 202, 300, 301, 302]);
        assert_eq!(snap.sources.len(), 3);
        // A sink that stops after four batches gets no more, and every dump ends.
        let calls = AtomicUsize::new(0);
        stream_in_order(&tables, &mut |_| calls.fetch_add(1, Ordering::SeqCst) < 3, one).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn concat_keeps_table_order() {
        let parts = vec![vec![sock(1)], vec![], vec![sock(2), sock(3), sock(4)], vec![sock(5)]];
        let ports: Vec<_> = concat_in_order(parts).iter().map(|s| s.local.port().unwrap()).collect();
        assert_eq!(ports, vec![1, 2, 3, 4, 5]);
        assert!(concat_in_order(Vec::new()).is_empty());
    }

    #[test]
    fn tables_follow_ss_order_and_flags() {
        use Table::*;
        assert_eq!(Query::default().tables(), vec![Unix, Udp4, Udp6, Tcp4, Tcp6]);
        let q = Query { udp: false, unix: false, ipv6: false, ..Query::default() };
        assert_eq!(q.tables(), vec![Tcp4]);
        let q = Query { one_tcp_walk: true, ..Query::default() };
        assert_eq!(q.tables(), vec![TcpAll, Unix, Udp4, Udp6]);
        let q = Query { one_tcp_walk: true, ipv6: false, ..Query::default() };
        assert_eq!(q.tables(), vec![Unix, Udp4, Tcp4]);
    }
}
