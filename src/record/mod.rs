//! Recordings: the dashboard's groups at each interval and the socket events between, in an SQLite
//! database (the schema below is a documented interface: see the README). [`writer`] appends and bounds
//! the file (one recorder at a time); [`reader`] answers "what was there at T" and "what happened between",
//! streaming; [`synthetic`] writes big ones for measurements and tests.

pub mod reader;
pub mod synthetic;
pub mod writer;

use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use rusqlite::Connection;

use crate::group::{GroupKey, GroupKind, KeyError};
use crate::model::Proto;

/// Bumped when the schema changes; stored in `meta`. Version 2 (this one) names the kinds as the API does
/// (`unix_path`, `unix_peer`, `unix_unnamed`, `udp_ephemeral`; version 1 said `unix`, `unix-peer`,
/// `unix-unnamed`, `udp-ephemeral`) and adds `groups.uid` (a fold is one user's). Version 1 files are read
/// as they are and brought to version 2 when a recorder appends to them ([`migrate`]).
pub const SCHEMA_VERSION: i64 = 2;

/// The oldest schema version read.
pub const OLDEST_VERSION: i64 = 1;

/// The schema. Times are milliseconds since the Unix epoch (UTC).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- One row per interval: when the dump was taken and what it saw in total.
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    sockets INTEGER NOT NULL,          -- sockets in the dump
    groups INTEGER NOT NULL,           -- rows in `groups` for this sample
    opened INTEGER NOT NULL,           -- open events since the previous sample
    closed INTEGER NOT NULL,           -- close events since the previous sample
    events_dropped INTEGER NOT NULL,   -- events over --max-events, counted but not stored
    dump_ms INTEGER NOT NULL           -- how long the dump took
);
CREATE INDEX IF NOT EXISTS samples_time ON samples(time_ms);
-- The dashboard's rows at that moment: a listening endpoint with the sockets on its port, or an outbound
-- destination, or a UNIX path.
CREATE TABLE IF NOT EXISTS groups (
    sample_id INTEGER NOT NULL,
    kind TEXT NOT NULL,                -- listen | outbound | unix_path | unix_peer | unix_unnamed | udp_ephemeral
    proto TEXT NOT NULL,               -- tcp | udp | unix
    address TEXT,                      -- listen, udp_ephemeral: local address; outbound: remote address;
                                       -- unix_path, unix_peer: the path
    port INTEGER,
    sockets INTEGER NOT NULL,
    listeners INTEGER NOT NULL,
    established INTEGER NOT NULL, syn_sent INTEGER NOT NULL, syn_recv INTEGER NOT NULL,
    fin_wait1 INTEGER NOT NULL, fin_wait2 INTEGER NOT NULL, time_wait INTEGER NOT NULL,
    close INTEGER NOT NULL, close_wait INTEGER NOT NULL, last_ack INTEGER NOT NULL,
    listen INTEGER NOT NULL, closing INTEGER NOT NULL,
    accept_queue INTEGER, accept_backlog INTEGER, -- TCP listeners: waiting connections and the limit
    peers INTEGER NOT NULL,            -- distinct remote hosts
    top_peers TEXT,                    -- the busiest remote hosts: 'addr=count addr=count'
    owner TEXT,                        -- who holds the group's sockets, as the dashboard names them:
                                       -- 'comm[pid]' alone, else 'wrk 200, python3 100' (hidden N, new N)
    uid INTEGER                        -- udp_ephemeral: the sockets' user (the fold is one user's)
);
CREATE INDEX IF NOT EXISTS groups_sample ON groups(sample_id);
-- Socket events (what `sockscope watch --ndjson` prints), up to --max-events per interval.
CREATE TABLE IF NOT EXISTS events (
    time_ms INTEGER NOT NULL,
    event TEXT NOT NULL,               -- open | state | close
    proto TEXT NOT NULL,
    state TEXT NOT NULL,               -- the state after the event (a close: the last state seen)
    old_state TEXT,                    -- before a state change
    local_address TEXT, local_port INTEGER, peer_address TEXT, peer_port INTEGER,
    cookie INTEGER,
    pid INTEGER, comm TEXT,
    lifetime_ms INTEGER,               -- close: since first seen (null: lived between two dumps)
    bytes_sent INTEGER, bytes_received INTEGER, retrans INTEGER, rtt_us INTEGER, -- close: last tcp_info
    via TEXT NOT NULL,                 -- dump | destroy
    late INTEGER NOT NULL              -- 1: an open learned from the close
);
CREATE INDEX IF NOT EXISTS events_time ON events(time_ms);
";

/// A recording could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    // The cause is part of the message, not a `source`: a chain would repeat it (SQLite's own messages
    // name the file and the code again).
    #[error("{path}: {error}")]
    Sqlite { path: String, error: rusqlite::Error },
    #[error("{path}: not a sockscope recording (no `meta` table with a schema version)")]
    NotARecording { path: String },
    #[error(
        "{path}: recorded with schema version {found}; this sockscope reads versions {OLDEST_VERSION} to {SCHEMA_VERSION}"
    )]
    Version { path: String, found: i64 },
    #[error("{path}: the recording has no sample at or before {at} (it starts at {first})")]
    NoSample { path: String, at: String, first: String },
    #[error("{path}: the recording is empty")]
    Empty { path: String },
    #[error(
        "{path}: another recorder is writing to it{}; two recorders on one file would interleave their samples \
         and prune each other's rows (stop it, or record to another file)",
        .holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    Busy { path: String, holder: Option<String> },
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: {why}")]
    NotAFile { path: String, why: String },
}

/// An error when `path` exists and is not a regular file, checked before SQLite opens it: its open(2) of a
/// FIFO without a writer blocks forever, and a device is no database. (A file that does not exist yet is
/// SQLite's to create or refuse.)
fn refuse_special(path: &Path) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) => crate::collect::input::check_file_type(m.file_type()),
        Err(_) => Ok(()),
    }
}

/// Open (creating it if need be) a recording to write, and check it.
fn open_write(path: &Path) -> Result<Connection, RecordError> {
    let name = path.display().to_string();
    let err = |source| RecordError::Sqlite { path: name.clone(), error: source };
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_CREATE;
    refuse_special(path).map_err(|e| RecordError::NotAFile { path: name.clone(), why: e.to_string() })?;
    let conn = Connection::open_with_flags(path, flags).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
    // Incremental vacuum lets --max-size give pages back to the file system.
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        .map_err(err)?;
    conn.execute_batch(SCHEMA).map_err(err)?;
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?1)", [SCHEMA_VERSION.to_string()])
        .map_err(err)?;
    if check(&conn, &name)? < SCHEMA_VERSION {
        migrate(&conn).map_err(err)?;
    }
    Ok(conn)
}

/// Bring a version 1 recording to the current version, in one transaction: the kinds renamed, `groups.uid`
/// added.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let renames: Vec<String> = KINDS_V1.iter().map(|(k, old)| format!("WHEN '{old}' THEN '{}'", k.name())).collect();
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; ALTER TABLE groups ADD COLUMN uid INTEGER; \
         UPDATE groups SET kind = CASE kind {} ELSE kind END; \
         UPDATE meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version'; COMMIT;",
        renames.join(" ")
    ))
}

/// Open a recording to read, and check it. A WAL recording where SQLite cannot create its `-shm` index
/// (a read-only file system, a directory this user cannot write) is read as an immutable file; the note
/// says so, and what of the write-ahead log is left unread. Also the file's schema version.
fn open_read(path: &Path) -> Result<(Connection, i64, Option<String>), RecordError> {
    let name = path.display().to_string();
    // SQLite says "unable to open database file" for a file that is not there, or cannot be read.
    let meta = std::fs::metadata(path).map_err(|error| RecordError::Io { path: name.clone(), error })?;
    crate::collect::input::check_file_type(meta.file_type())
        .map_err(|e| RecordError::NotAFile { path: name.clone(), why: e.to_string() })?;
    let usual = open_read_with(path, path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY);
    let source = match usual {
        Err(RecordError::Sqlite { error: source, .. })
            if matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
            ) =>
        {
            source
        }
        other => return other.map(|(c, v)| (c, v, None)),
    };
    let Some(why) = unwritable_dir(path) else {
        return Err(RecordError::Sqlite { path: name, error: source });
    };
    let uri = format!("file:{}?immutable=1", uri_path(path));
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    // When that fails too, the first failure says more.
    let Ok((conn, version)) = open_read_with(path, Path::new(&uri), flags) else {
        return Err(RecordError::Sqlite { path: name, error: source });
    };
    let mut note = format!("{name}: read as an immutable file: {why}, where SQLite cannot create its -shm index");
    let wal = std::fs::metadata(format!("{name}-wal")).map_or(0, |m| m.len());
    if wal > 0 {
        note.push_str(&format!(
            "; its write-ahead log ({name}-wal, {wal} bytes) is not read: the newest samples may be missing"
        ));
    }
    Ok((conn, version, Some(note)))
}

/// Open `file` (`path` itself or a URI naming it) to read, and check it; also its schema version.
fn open_read_with(path: &Path, file: &Path, flags: rusqlite::OpenFlags) -> Result<(Connection, i64), RecordError> {
    let name = path.display().to_string();
    let err = |source| RecordError::Sqlite { path: name.clone(), error: source };
    let conn = Connection::open_with_flags(file, flags).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
    // Sorts and groupings of big recordings spill to temporary files past the page cache (never to memory).
    conn.execute_batch("PRAGMA temp_store = FILE;").map_err(err)?;
    let version = check(&conn, &name)?;
    Ok((conn, version))
}

/// Why nothing can be created beside `path`: its file system is read-only, or its directory is not
/// writable by this user; `None` when neither holds.
fn unwritable_dir(path: &Path) -> Option<String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let ro = rustix::fs::statvfs(dir).is_ok_and(|v| v.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY));
    if ro {
        return Some(format!("{} is on a read-only file system", path.display()));
    }
    rustix::fs::access(dir, rustix::fs::Access::WRITE_OK)
        .is_err()
        .then(|| format!("this user cannot write to the directory {}", dir.display()))
}

/// `path` percent-encoded for an SQLite `file:` URI (every byte but unreserved ones and `/`).
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Check that an open database is a recording of a schema version this sockscope reads, and say which.
/// Only a missing `meta` table (or a file that is no database) is "not a recording"; any other failure says
/// what it is.
fn check(conn: &Connection, name: &str) -> Result<i64, RecordError> {
    let not_a_recording = || RecordError::NotARecording { path: name.to_string() };
    let version = conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get::<_, String>(0));
    match version {
        Ok(v) => match v.trim().parse::<i64>() {
            Ok(v @ OLDEST_VERSION..=SCHEMA_VERSION) => Ok(v),
            Ok(found) => Err(RecordError::Version { path: name.to_string(), found }),
            Err(_) => Err(not_a_recording()),
        },
        Err(rusqlite::Error::QueryReturnedNoRows | rusqlite::Error::InvalidColumnType(..)) => Err(not_a_recording()),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) => Err(not_a_recording()),
        Err(rusqlite::Error::SqliteFailure(_, Some(msg))) if msg.starts_with("no such table") => Err(not_a_recording()),
        Err(source) => Err(RecordError::Sqlite { path: name.to_string(), error: source }),
    }
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

/// One row of `groups`: a group as recorded (and as read back). Its key is typed ([`GroupKey`], namespace 0:
/// a recording is of one namespace); the columns it is written as and read from are [`key_columns`] and
/// [`Recording`](reader::Recording)'s reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub key: GroupKey,
    pub sockets: u32,
    pub listeners: u32,
    /// Counts by state, kernel numbers 1 (established) to 11 (closing), in [`STATE_COLUMNS`] order.
    pub states: [u32; 11],
    pub accept_queue: Option<u32>,
    pub accept_backlog: Option<u32>,
    pub peers: u32,
    /// The busiest remote hosts, most sockets first.
    pub top_peers: Vec<(IpAddr, u32)>,
    /// Who holds the group's sockets, as the dashboard names them (see the schema).
    pub owner: Option<String>,
}

/// The state columns of `groups`, kernel state numbers 1 to 11.
pub const STATE_COLUMNS: [&str; 11] = [
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
];

impl GroupRow {
    /// `127.0.0.1:5000`, `-> 10.0.0.5:5432`, a UNIX path: as the dashboard names groups.
    pub fn label(&self) -> String {
        self.key.to_string()
    }

    /// The count of one state column.
    pub fn state(&self, s: crate::model::State) -> u32 {
        (s.0 as usize).checked_sub(1).and_then(|i| self.states.get(i)).copied().unwrap_or(0)
    }
}

/// A group as JSON (`history --json`): the key as the recording's columns say it, the counts, the busiest
/// peers as the API gives them.
impl serde::Serialize for GroupRow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Peer {
            address: String,
            sockets: u32,
        }
        #[derive(serde::Serialize)]
        struct Json<'a> {
            kind: &'static str,
            proto: &'static str,
            address: Option<String>,
            port: Option<u16>,
            uid: Option<u32>,
            sockets: u32,
            listeners: u32,
            states: &'a [u32; 11],
            accept_queue: Option<u32>,
            accept_backlog: Option<u32>,
            peers: u32,
            top_peers: Vec<Peer>,
            owner: Option<&'a str>,
        }
        let k = key_columns(&self.key, SCHEMA_VERSION);
        Json {
            kind: k.kind,
            proto: k.proto,
            address: k.address,
            port: k.port,
            uid: k.uid,
            sockets: self.sockets,
            listeners: self.listeners,
            states: &self.states,
            accept_queue: self.accept_queue,
            accept_backlog: self.accept_backlog,
            peers: self.peers,
            top_peers: self.top_peers.iter().map(|(ip, n)| Peer { address: ip.to_string(), sockets: *n }).collect(),
            owner: self.owner.as_deref(),
        }
        .serialize(s)
    }
}

/// A group key as the columns of `groups` in a recording of schema `version`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyColumns {
    pub kind: &'static str,
    pub proto: &'static str,
    /// The IP address, or the UNIX path.
    pub address: Option<String>,
    pub port: Option<u16>,
    pub uid: Option<u32>,
}

/// The `kind` words of schema version 1, which version 2 renamed to the API's.
const KINDS_V1: [(GroupKind, &str); 4] = [
    (GroupKind::UnixPath, "unix"),
    (GroupKind::UnixPeer, "unix-peer"),
    (GroupKind::UnixUnnamed, "unix-unnamed"),
    (GroupKind::UdpEphemeral, "udp-ephemeral"),
];

/// The word for `kind` in a recording of schema `version`.
pub fn kind_text(kind: GroupKind, version: i64) -> &'static str {
    match KINDS_V1.iter().find(|(k, _)| *k == kind) {
        Some((_, old)) if version < 2 => old,
        _ => kind.name(),
    }
}

/// The kind a recording of schema `version` names with `text`.
pub fn kind_of(text: &str, version: i64) -> Result<GroupKind, KeyError> {
    match KINDS_V1.iter().find(|(_, old)| *old == text) {
        Some((k, _)) if version < 2 => Ok(*k),
        _ => GroupKind::from_str(text),
    }
}

/// The columns `key` is recorded as in a recording of schema `version`.
pub fn key_columns(key: &GroupKey, version: i64) -> KeyColumns {
    KeyColumns {
        kind: kind_text(key.kind(), version),
        proto: key.proto().name(),
        address: key.ip().map(|ip| ip.to_string()).or_else(|| key.path().map(str::to_string)),
        port: key.port(),
        uid: key.uid(),
    }
}

/// The key recorded as `kind`, `proto`, `address`, `port`, `uid` in a recording of schema `version`.
pub fn key_of(
    (kind, proto, address, port, uid): (&str, &str, Option<&str>, Option<u16>, Option<u32>),
    version: i64,
) -> Result<GroupKey, KeyError> {
    let proto = Proto::from_str(proto)?;
    GroupKey::from_parts(kind_of(kind, version)?, proto, address, port, uid, 0)
}

/// `top_peers` as recorded: `addr=count addr=count`.
pub fn top_peers_text(peers: &[(IpAddr, u32)]) -> String {
    peers.iter().map(|(ip, n)| format!("{ip}={n}")).collect::<Vec<_>>().join(" ")
}

/// The busiest peers of a recorded `top_peers` (`addr=count addr=count`; `[v6]=count` too); a malformed
/// item is skipped.
pub fn parse_top_peers(text: &str) -> Vec<(IpAddr, u32)> {
    text.split_whitespace()
        .filter_map(|item| {
            let (addr, n) = item.rsplit_once('=')?;
            let addr = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')).unwrap_or(addr);
            Some((addr.parse().ok()?, n.parse().ok()?))
        })
        .collect()
}

/// One row of `events`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventRow {
    pub time_ms: u64,
    pub event: String,
    pub proto: String,
    pub state: String,
    pub old_state: Option<String>,
    pub local_address: Option<String>,
    pub local_port: Option<u16>,
    pub peer_address: Option<String>,
    pub peer_port: Option<u16>,
    pub cookie: Option<u64>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub lifetime_ms: Option<u64>,
    pub bytes_sent: Option<u64>,
    pub bytes_received: Option<u64>,
    pub retrans: Option<u32>,
    pub rtt_us: Option<u32>,
    pub via: String,
    pub late: bool,
}

impl EventRow {
    pub fn of(ev: &crate::events::Event) -> EventRow {
        let s = &ev.socket;
        let end = |e: &crate::model::Endpoint| match e {
            crate::model::Endpoint::Inet { ip, port } => (Some(ip.to_string()), Some(*port)),
            crate::model::Endpoint::Unix { name, .. } => (name.as_ref().map(|n| n.display()), None),
            _ => (None, None),
        };
        let (local_address, local_port) = end(&s.local);
        let (peer_address, peer_port) = end(&s.peer);
        let info = s.extra.as_deref().and_then(|x| x.tcp_info.as_ref());
        EventRow {
            time_ms: ev.time_ms,
            event: ev.kind.name().into(),
            proto: s.proto.name().into(),
            state: s.state.name().into(),
            old_state: ev.old_state.map(|o| o.name().into()),
            local_address,
            local_port,
            peer_address,
            peer_port,
            cookie: s.cookie,
            pid: ev.process.as_ref().map(|p| p.pid),
            comm: ev.process.as_ref().map(|p| p.comm.clone()),
            lifetime_ms: ev.lifetime_ms(),
            bytes_sent: info.and_then(|t| t.bytes_sent().or(t.bytes_acked())),
            bytes_received: info.and_then(|t| t.bytes_received()),
            retrans: info.and_then(|t| t.total_retrans()),
            rtt_us: info.and_then(|t| t.rtt_us()),
            via: match ev.via {
                crate::events::Via::Dump => "dump".into(),
                crate::events::Via::Destroy => "destroy".into(),
            },
            late: ev.late,
        }
    }
}
