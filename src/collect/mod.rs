//! Collectors: where socket records come from (netlink `sock_diag`, or `/proc/net/*` text), the choice
//! between them, and the namespaces they read.
//!
//! A collection is a set of *tables* (TCP over IPv4, TCP over IPv6, UDP over IPv4, ..., UNIX), one kernel
//! dump each, streamed in ss's order ([`stream_tables`], over the one ordered multiplexer [`in_order`]);
//! collecting is streaming into one table. [`auto::Auto`] asks netlink for every table and falls back to
//! `/proc` table by table when netlink cannot serve one. Every command opens its collector with [`open`]: a
//! source choice and a namespace choice.

pub mod auto;
pub mod cgroup;
pub mod close;
pub(crate) mod in_order;
pub mod input;
pub mod names;
pub mod netlink;
pub mod netns;
pub mod process;
pub mod procfs;
mod query;
pub mod sysctl;
mod table;
pub mod workloads;

pub use query::{Query, SockTypes};
pub use table::Table;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::model::Socket;
use crate::model::netns::Namespaces;

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
/// (its reader went away). Batches may come from any of the collection's threads.
pub type Sink<'a> = dyn FnMut(Vec<Socket>) -> bool + Send + 'a;

/// A source of socket records.
pub trait Collector: Send {
    /// Hand every socket the query asks for to `sink` as it arrives, instead of holding them all: memory
    /// stays bounded for any number of sockets. The snapshot returned has the sources and notes, and no
    /// sockets.
    fn stream(&mut self, q: &Query, sink: &mut Sink<'_>) -> Result<Snapshot, CollectError>;

    /// Collect every socket the query asks for: [`stream`](Self::stream) into one table.
    fn collect(&mut self, q: &Query) -> Result<Snapshot, CollectError> {
        fill(self, q, Vec::new())
    }
}

/// Collect every socket `q` asks for into `table`, emptied first: its capacity is reused. The sockets are
/// streamed in batches into the one table, without a fresh table, the copies of its growth and its page
/// faults each time: what the periodic views (the dashboard, `watch`, `record`, the exporter) collect with.
pub fn collect_into(collector: &mut dyn Collector, q: &Query, table: Vec<Socket>) -> Result<Snapshot, CollectError> {
    fill(collector, q, table)
}

fn fill<C: Collector + ?Sized>(collector: &mut C, q: &Query, mut table: Vec<Socket>) -> Result<Snapshot, CollectError> {
    table.clear();
    let mut snap = collector.stream(q, &mut |mut batch| {
        table.append(&mut batch);
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

/// The collector of the namespace the calling thread is in, for a source choice; `proc_root` is normally
/// `/proc` (`/proc/thread-self` in a namespace entered). Commands open theirs with [`open`].
pub fn open_here(choice: SourceChoice, proc_root: PathBuf) -> Box<dyn Collector> {
    match choice {
        SourceChoice::Auto => Box::new(auto::Auto { proc: procfs::ProcCollector::new(proc_root) }),
        SourceChoice::Netlink => Box::new(netlink::NetlinkCollector::new()),
        SourceChoice::Proc => Box::new(procfs::ProcCollector::new(proc_root)),
    }
}

/// Open the collector for a source choice and a namespace choice: the one way every command (list, kill,
/// watch, record, serve, the dashboard, audit) opens one. The namespaces are found when first asked for
/// ([`Opened::namespaces`], or the first collection) and again at every later collection (a live view).
pub fn open(source: SourceChoice, netns: &netns::Choice, proc_root: &Path, state_roots: cgroup::StateRoots) -> Opened {
    let inner = match netns {
        netns::Choice::Own => Inner::Own {
            collector: open_here(source, proc_root.to_path_buf()),
            namespaces: workloads::Workloads::own_namespace(proc_root),
            proc_root: proc_root.to_path_buf(),
        },
        choice => Inner::Namespaces(Box::new(netns::MultiCollector::new(
            choice.clone(),
            netns::Roots { proc_root: proc_root.to_path_buf(), ..Default::default() },
            cgroup::Namer::new(proc_root, state_roots),
            source,
        ))),
    };
    Opened { inner }
}

/// A collector [`open`]ed for a source and namespace choice.
pub struct Opened {
    inner: Inner,
}

enum Inner {
    /// The caller's own namespace: nothing entered, the snapshots' namespace table left empty.
    Own { collector: Box<dyn Collector>, namespaces: Namespaces, proc_root: PathBuf },
    /// `-N` or `--all-netns`.
    Namespaces(Box<netns::MultiCollector>),
}

impl Opened {
    /// The namespace table the next collection's sockets index (found now if not yet): what a command labels
    /// and binds its filter with before the first socket. The caller's own namespace alone without `-N`
    /// (empty when its inode cannot be read).
    pub fn namespaces(&mut self) -> Result<&Namespaces, netns::NetnsError> {
        match &mut self.inner {
            Inner::Own { namespaces, .. } => Ok(namespaces),
            Inner::Namespaces(m) => m.namespaces(),
        }
    }

    /// Is one namespace read (the caller's own, or `-N`'s)? False with `--all-netns`.
    pub fn is_one(&self) -> bool {
        matches!(&self.inner, Inner::Own { .. }) || matches!(&self.inner, Inner::Namespaces(m) if m.is_one())
    }

    /// How many namespaces the last collection read.
    pub fn read(&self) -> usize {
        match &self.inner {
            Inner::Own { .. } => 1,
            Inner::Namespaces(m) => m.read(),
        }
    }

    /// Where each namespace of the last collection's table is: what closing a socket in its own enters.
    pub fn places(&self) -> io::Result<close::Places> {
        match &self.inner {
            Inner::Own { proc_root, .. } => close::Places::own(proc_root),
            Inner::Namespaces(m) => {
                let (found, own) = m.found();
                Ok(close::Places::of_found(found, own, m.proc_root()))
            }
        }
    }

    /// The `ss -s` counters of the namespaces read (summed over them; host-wide counters once), and notes
    /// naming the namespaces left out.
    pub fn sockstat(&mut self) -> Result<(procfs::sockstat::SockStat, Vec<String>), netns::NetnsError> {
        match &mut self.inner {
            Inner::Own { proc_root, .. } => Ok((procfs::sockstat::read(proc_root).unwrap_or_default(), Vec::new())),
            Inner::Namespaces(m) => m.sockstat(),
        }
    }

    /// Run `work` in each namespace of the last collection's table (the caller's own alone without `-N`), with
    /// the proc root to read there (`/proc/net` and `/proc/sys/net` show that namespace's): per namespace id,
    /// what it gave, or why it could not be entered. A vacant id (a namespace gone) is left out.
    pub fn in_each_namespace<T: Send>(
        &mut self,
        work: impl Fn(&Path) -> T + Sync,
    ) -> Vec<(crate::model::netns::NetnsId, Result<T, netns::dump::Skip>)> {
        match &mut self.inner {
            Inner::Own { proc_root, .. } => vec![(0, Ok(work(proc_root)))],
            Inner::Namespaces(m) => m.in_each_namespace(work),
        }
    }

    /// Run `work` in the one namespace read (see [`Opened::is_one`]): a netlink socket made there belongs to
    /// it, whichever thread reads it after (the watcher's destroy groups).
    pub fn in_the_namespace<T: Send>(&mut self, work: impl FnOnce() -> T + Send) -> Result<T, netns::dump::Skip> {
        match &mut self.inner {
            Inner::Own { .. } => Ok(work()),
            Inner::Namespaces(m) => m.in_the_namespace(work),
        }
    }
}

impl Collector for Opened {
    fn stream(&mut self, q: &Query, sink: &mut Sink<'_>) -> Result<Snapshot, CollectError> {
        match &mut self.inner {
            Inner::Own { collector, .. } => collector.stream(q, sink),
            Inner::Namespaces(m) => m.stream(q, sink),
        }
    }
}

/// What streaming one table gave: the source that served it and a note for the user.
#[derive(Debug)]
pub(crate) struct Streamed {
    pub source: Source,
    pub note: Option<String>,
}

impl Streamed {
    pub fn netlink() -> Streamed {
        Streamed { source: Source::Netlink, note: None }
    }
}

/// Batches a table dumped ahead may hold while an earlier table streams.
const AHEAD: usize = 4;

/// Stream `tables` through `sink` in order, dumping them all at once: each table after the first runs on its
/// own thread into a small bounded queue, read when its turn comes ([`in_order`]). A small table (tcp6 on an
/// IPv4 host) is done while the big one streams, and a big one waits (the kernel holds the dump) with at most
/// [`AHEAD`] batches in memory. A table `at_turn` names is served only at its turn.
pub(crate) fn stream_tables(
    tables: &[Table],
    at_turn: &(dyn Fn(Table) -> bool + Sync),
    sink: &mut Sink<'_>,
    one: &(dyn Fn(Table, &mut Sink<'_>) -> Result<Streamed, CollectError> + Sync),
) -> Result<Snapshot, CollectError> {
    let mut snap = Snapshot::default();
    let mut failed = None;
    let n = tables.len();
    in_order::run(
        n,
        in_order::Ahead { threads: n, jobs: n, items: AHEAD },
        &|i| at_turn(tables[i]),
        &|i, emit| one(tables[i], emit),
        &mut |i, part| match part {
            in_order::Part::Item(batch) => sink(batch),
            in_order::Part::Done(Ok(r)) => {
                snap.sources.push((tables[i], r.source));
                snap.notes.extend(r.note);
                true
            }
            in_order::Part::Done(Err(e)) => {
                failed = Some(e);
                false
            }
            in_order::Part::Lost => {
                failed = Some(CollectError::Malformed { table: tables[i], msg: "dump thread panicked".into() });
                false
            }
        },
    );
    if let Some(e) = failed {
        return Err(e);
    }
    dedupe_notes(&mut snap.notes);
    Ok(snap)
}

/// One note per distinct cause: "netlink unavailable" would otherwise repeat for every table.
fn dedupe_notes(notes: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    notes.retain(|n| seen.insert(n.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Proto, State};

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
        let finished = AtomicUsize::new(0);
        let one = |t: Table, sink: &mut Sink<'_>| {
            let base = match t {
                Table::Unix => 100,
                Table::Udp4 => 200,
                _ => 300,
            };
            if t == Table::Unix {
                // The first table waits for the others to have finished.
                while finished.load(Ordering::SeqCst) < 2 {
                    std::thread::yield_now();
                }
            }
            for i in 0..3 {
                if !sink(vec![sock(base + i)]) {
                    break;
                }
            }
            finished.fetch_add(1, Ordering::SeqCst);
            Ok(Streamed::netlink())
        };
        let mut ports = Vec::new();
        let snap = stream_tables(
            &tables,
            &|_| false,
            &mut |b| {
                ports.extend(b.iter().map(|s| s.local.port().unwrap()));
                true
            },
            &one,
        )
        .unwrap();
        assert_eq!(ports, [100, 101, 102, 200, 201, 202, 300, 301, 302]);
        assert_eq!(snap.sources.len(), 3);
        // A sink that stops after four batches gets no more, and every dump ends.
        let calls = AtomicUsize::new(0);
        finished.store(0, Ordering::SeqCst);
        let one = |t: Table, sink: &mut Sink<'_>| {
            let base = if t == Table::Unix { 100 } else { 200 };
            for i in 0..3 {
                if !sink(vec![sock(base + i)]) {
                    break;
                }
            }
            Ok(Streamed::netlink())
        };
        stream_tables(&tables, &|_| false, &mut |_| calls.fetch_add(1, Ordering::SeqCst) < 3, &one).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}
