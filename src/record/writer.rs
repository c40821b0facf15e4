//! [`Recorder`]: appends one sample (groups + the events since the last one) per interval, in one
//! transaction with prepared statements, and keeps the file within `--keep` and `--max-size` (oldest first).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, params};

use super::{EventRow, GroupRow, RecordError};

/// Bounds of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Drop samples and events older than this.
    pub keep: Option<Duration>,
    /// Drop the oldest samples and events while the database is larger than this many bytes.
    pub max_size: Option<u64>,
    /// Events stored per interval; more are counted in `samples.events_dropped`.
    pub max_events: usize,
}

/// One interval's worth of data.
#[derive(Debug)]
pub struct Sample<'a> {
    pub time_ms: u64,
    pub dump_ms: u64,
    pub sockets: usize,
    pub groups: &'a [GroupRow],
    pub events: &'a Pending,
}

/// The events of one interval as they come: the first `max` kept as rows, all of them counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pending {
    pub rows: Vec<EventRow>,
    pub opened: u64,
    pub closed: u64,
    pub dropped: u64,
}

impl Pending {
    /// Count an event; keep its row while fewer than `max` are kept (the row is built only then).
    pub fn add(&mut self, ev: &crate::events::Event, max: usize) {
        match ev.kind {
            crate::events::Kind::Open => self.opened += 1,
            crate::events::Kind::Close => self.closed += 1,
            crate::events::Kind::State => {}
        }
        if self.rows.len() < max {
            self.rows.push(EventRow::of(ev));
        } else {
            self.dropped += 1;
        }
    }

    /// Add a row as it is (tests, imports).
    pub fn push_row(&mut self, row: EventRow, max: usize) {
        match row.event.as_str() {
            "open" => self.opened += 1,
            "close" => self.closed += 1,
            _ => {}
        }
        if self.rows.len() < max {
            self.rows.push(row);
        } else {
            self.dropped += 1;
        }
    }
}

/// What a write did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub events_stored: usize,
    pub events_dropped: usize,
    /// Samples removed by --keep / --max-size.
    pub samples_pruned: usize,
}

pub struct Recorder {
    conn: Connection,
    /// The file, locked (flock, exclusive) for the recorder's life: a second recorder is refused. Declared
    /// after `conn` so that it closes after SQLite's connection (closing a descriptor of the file while
    /// SQLite has it open would drop SQLite's own POSIX locks on it).
    _lock: std::fs::File,
    path: PathBuf,
    limits: Limits,
}

const INSERT_SAMPLE: &str = "INSERT INTO samples (time_ms, sockets, groups, opened, closed, events_dropped, dump_ms) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const INSERT_GROUP: &str = "INSERT INTO groups (sample_id, kind, proto, address, port, sockets, listeners, \
     established, syn_sent, syn_recv, fin_wait1, fin_wait2, time_wait, close, close_wait, last_ack, listen, closing, \
     accept_queue, accept_backlog, peers, top_peers, owner, uid) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, \
     ?24)";
const INSERT_EVENT: &str = "INSERT INTO events (time_ms, event, proto, state, old_state, local_address, local_port, \
     peer_address, peer_port, cookie, pid, comm, lifetime_ms, bytes_sent, bytes_received, retrans, rtt_us, via, late) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";

/// Open (creating) `path` and take its exclusive flock, without waiting: [`RecordError::Busy`] names the
/// process holding it when `/proc/locks` tells. (SQLite's own locks are POSIX record locks, which flock
/// locks do not meet; readers take none.)
fn lock(path: &Path) -> Result<std::fs::File, RecordError> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = path.display().to_string();
    let io = |source| RecordError::Io { path: name.clone(), error: source };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    crate::collect::input::check_file_type(file.metadata().map_err(io)?.file_type()).map_err(io)?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(RecordError::Busy { path: name.clone(), holder: holder(&file) }),
        Err(e) => Err(io(std::io::Error::from(e))),
    }
}

/// `comm[pid]` of the process holding the flock on `file`, from `/proc/locks`.
fn holder(file: &std::fs::File) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata().ok()?;
    let dev = m.dev();
    let dev = (rustix::fs::major(dev), rustix::fs::minor(dev));
    let locks = crate::collect::input::read_to_string_capped(Path::new("/proc/locks"), 16 << 20).ok()?;
    let pid = flock_holder(&locks, dev, m.ino())?;
    let comm = crate::collect::input::read_to_string_capped(Path::new(&format!("/proc/{pid}/comm")), 4096);
    Some(match comm {
        Ok(c) => format!("{}[{pid}]", crate::collect::process::parse::parse_comm(c.as_bytes())),
        Err(_) => format!("pid {pid}"),
    })
}

/// The pid holding an exclusive flock on inode `ino` of device `dev` in a `/proc/locks` text:
/// `1: FLOCK  ADVISORY  WRITE 26525 fe:00:5751478 0 EOF` (device numbers in hex; waiters' lines, `-> FLOCK`,
/// are not holders).
pub(crate) fn flock_holder(locks: &str, (major, minor): (u32, u32), ino: u64) -> Option<u32> {
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let [_, "FLOCK", _, "WRITE", pid, id, ..] = f.as_slice() else { return None };
        let mut it = id.split(':');
        let (ma, mi, i) = (it.next()?, it.next()?, it.next()?);
        let same = u32::from_str_radix(ma, 16).ok()? == major
            && u32::from_str_radix(mi, 16).ok()? == minor
            && i.parse::<u64>().ok()? == ino;
        pid.parse().ok().filter(|&p| same && p > 0)
    })
}
/// One sample's groups, in its transaction.
fn insert_groups(tx: &rusqlite::Transaction, sample: i64, groups: &[GroupRow]) -> rusqlite::Result<()> {
    let mut ins = tx.prepare_cached(INSERT_GROUP)?;
    for g in groups {
        let st = &g.states;
        // Opening brought the file to the current version.
        let k = super::key_columns(&g.key, super::SCHEMA_VERSION);
        ins.execute(params![
            sample,
            k.kind,
            k.proto,
            k.address,
            k.port,
            g.sockets,
            g.listeners,
            st[0],
            st[1],
            st[2],
            st[3],
            st[4],
            st[5],
            st[6],
            st[7],
            st[8],
            st[9],
            st[10],
            g.accept_queue,
            g.accept_backlog,
            g.peers,
            super::top_peers_text(&g.top_peers),
            g.owner,
            k.uid,
        ])?;
    }
    Ok(())
}

/// One sample's events (those stored), in its transaction.
fn insert_events(tx: &rusqlite::Transaction, events: &[EventRow]) -> rusqlite::Result<()> {
    let mut ins = tx.prepare_cached(INSERT_EVENT)?;
    for e in events {
        ins.execute(params![
            ms(e.time_ms),
            e.event,
            e.proto,
            e.state,
            e.old_state,
            e.local_address,
            e.local_port,
            e.peer_address,
            e.peer_port,
            e.cookie.map(|c| c as i64),
            e.pid,
            e.comm,
            e.lifetime_ms.map(ms),
            e.bytes_sent.map(ms),
            e.bytes_received.map(ms),
            e.retrans,
            e.rtt_us,
            e.via,
            e.late,
        ])?;
    }
    Ok(())
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Recorder {
    /// Create or append to the recording at `path`.
    /// Create or append to the recording at `path`; refused while another recorder writes to it.
    pub fn create(path: &Path, limits: Limits) -> Result<Recorder, RecordError> {
        let lock = lock(path)?;
        let conn = super::open_write(path)?;
        Ok(Recorder { conn, _lock: lock, path: path.to_path_buf(), limits })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> RecordError + '_ {
        |source| RecordError::Sqlite { path: self.path.display().to_string(), error: source }
    }

    /// Append one sample in one transaction, then apply the limits.
    pub fn write(&mut self, s: &Sample) -> Result<Written, RecordError> {
        let path = self.path.display().to_string();
        let err = |source| RecordError::Sqlite { path: path.clone(), error: source };
        let stored = s.events.rows.len().min(self.limits.max_events);
        let dropped = s.events.dropped as usize + (s.events.rows.len() - stored);
        let (opened, closed) = (s.events.opened, s.events.closed);
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut ins = tx.prepare_cached(INSERT_SAMPLE).map_err(err)?;
            ins.execute(params![
                ms(s.time_ms),
                s.sockets as i64,
                s.groups.len() as i64,
                opened as i64,
                closed as i64,
                dropped as i64,
                ms(s.dump_ms)
            ])
            .map_err(err)?;
            let sample = tx.last_insert_rowid();
            insert_groups(&tx, sample, s.groups).map_err(err)?;
            insert_events(&tx, &s.events.rows[..stored]).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        let pruned = self.prune(s.time_ms)?;
        Ok(Written { events_stored: stored, events_dropped: dropped, samples_pruned: pruned })
    }

    /// Drop what --keep and --max-size say must go, oldest first.
    fn prune(&mut self, now_ms: u64) -> Result<usize, RecordError> {
        let mut pruned = 0;
        if let Some(keep) = self.limits.keep {
            let cutoff = ms(now_ms.saturating_sub(keep.as_millis() as u64));
            pruned += self.drop_before(cutoff)?;
        }
        if let Some(max) = self.limits.max_size {
            // Each round drops the oldest tenth of the samples (at least one) and the events before them.
            for _ in 0..20 {
                if self.size()? <= max {
                    break;
                }
                let err = self.err();
                let (n, cutoff): (i64, Option<i64>) = self
                    .conn
                    .query_row(
                        "SELECT COUNT(*), (SELECT time_ms FROM samples ORDER BY id \
                         LIMIT 1 OFFSET (SELECT MAX(COUNT(*) / 10, 1) FROM samples)) FROM samples",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(err)?;
                if n <= 1 {
                    break;
                }
                let cutoff = cutoff.unwrap_or(i64::MAX);
                pruned += self.drop_before(cutoff)?;
            }
        }
        Ok(pruned)
    }

    /// Delete samples, their groups and events before `cutoff_ms`; give the pages back.
    fn drop_before(&mut self, cutoff_ms: i64) -> Result<usize, RecordError> {
        let path = self.path.display().to_string();
        let err = |source| RecordError::Sqlite { path: path.clone(), error: source };
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute("DELETE FROM groups WHERE sample_id IN (SELECT id FROM samples WHERE time_ms < ?1)", [cutoff_ms])
            .map_err(err)?;
        let n = tx.execute("DELETE FROM samples WHERE time_ms < ?1", [cutoff_ms]).map_err(err)?;
        tx.execute("DELETE FROM events WHERE time_ms < ?1", [cutoff_ms]).map_err(err)?;
        tx.commit().map_err(err)?;
        if n > 0 {
            // Move the WAL into the database, then let the freed pages go.
            self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA incremental_vacuum;").map_err(err)?;
        }
        Ok(n)
    }

    /// Bytes used: the database pages plus the write-ahead log.
    pub fn size(&self) -> Result<u64, RecordError> {
        let err = self.err();
        let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0)).map_err(&err)?;
        let page: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0)).map_err(&err)?;
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal = std::fs::metadata(&wal).map_or(0, |m| m.len());
        Ok(pages as u64 * page as u64 + wal)
    }
}
