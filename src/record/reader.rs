//! [`Recording`]: reads a recording back: its time span, the groups of the sample at a moment, the events
//! between two moments, the sockets known open at a moment (opened during the recording, not yet closed)
//! and what changed in the groups between two samples. Rows stream through callbacks, SQLite sorting and
//! aggregating (on disk past its cache), so memory stays bounded whatever the file's size; a row with a value
//! out of range is skipped and counted ([`Recording::skipped`]).

use std::cell::RefCell;
use std::cmp::Ordering;
use std::path::Path;

use rusqlite::{Connection, Params, Row, Statement};

use super::{EventRow, GroupRow, KeyColumns, RecordError};
use crate::clock;
use crate::group::{GroupKind, KeyError};

pub struct Recording {
    conn: Connection,
    path: String,
    /// The file's schema version: how its `groups` columns spell a key.
    version: i64,
    /// Said once by [`Recording::notes`]: how the file was opened when it could not be opened as usual.
    opened_note: Option<String>,
    skipped: RefCell<Skipped>,
}

/// Rows skipped for a value out of range or of the wrong type, and the first one's reason.
#[derive(Debug, Default)]
struct Skipped {
    rows: u64,
    first: Option<String>,
    /// The samples [`Recording::group_diff`] compared last: passes over the same two count their rows once.
    diffed: Option<(i64, i64)>,
}

/// A value a row cannot be read with (`port = 70000`, text in a count): the row is skipped, not the file.
fn is_bad_value(e: &rusqlite::Error) -> Option<usize> {
    match e {
        rusqlite::Error::IntegralValueOutOfRange(i, _)
        | rusqlite::Error::FromSqlConversionFailure(i, _, _)
        | rusqlite::Error::InvalidColumnType(i, _, _) => Some(*i),
        _ => None,
    }
}

/// What [`GroupDiff`](Recording::group_diff) reports: a group only in the later sample, only in the earlier
/// one, or in both with other counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed,
    Changed,
}

/// Totals of the events in a span.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EventCounts {
    pub opened: u64,
    pub closed: u64,
    pub changed: u64,
    /// Events over --max-events in the samples of the span: counted, not stored.
    pub not_stored: u64,
}

/// One sample's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SampleInfo {
    pub id: i64,
    pub time_ms: u64,
    pub sockets: u64,
    pub opened: u64,
    pub closed: u64,
    pub events_dropped: u64,
}

const EVENT_COLUMNS: &str = "time_ms, event, proto, state, old_state, local_address, local_port, peer_address, \
                             peer_port, cookie, pid, comm, lifetime_ms, bytes_sent, bytes_received, retrans, rtt_us, \
                             via, late";

fn event_row(r: &Row) -> rusqlite::Result<EventRow> {
    let u = |v: Option<i64>| v.map(|v| v.max(0) as u64);
    Ok(EventRow {
        time_ms: r.get::<_, i64>(0)?.max(0) as u64,
        event: r.get(1)?,
        proto: r.get(2)?,
        state: r.get(3)?,
        old_state: r.get(4)?,
        local_address: r.get(5)?,
        local_port: r.get(6)?,
        peer_address: r.get(7)?,
        peer_port: r.get(8)?,
        cookie: r.get::<_, Option<i64>>(9)?.map(|c| c as u64),
        pid: r.get(10)?,
        comm: r.get(11)?,
        lifetime_ms: u(r.get(12)?),
        bytes_sent: u(r.get(13)?),
        bytes_received: u(r.get(14)?),
        retrans: r.get(15)?,
        rtt_us: r.get(16)?,
        via: r.get(17)?,
        late: r.get(18)?,
    })
}

fn sample_row(r: &Row) -> rusqlite::Result<SampleInfo> {
    let u = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
    Ok(SampleInfo {
        id: r.get(0)?,
        time_ms: u(1)?,
        sockets: u(2)?,
        opened: u(3)?,
        closed: u(4)?,
        events_dropped: u(5)?,
    })
}

const GROUP_COLUMNS: &str = "kind, proto, address, port, sockets, listeners, established, syn_sent, syn_recv, \
                             fin_wait1, fin_wait2, time_wait, close, close_wait, last_ack, listen, closing, \
                             accept_queue, accept_backlog, peers, top_peers, owner, uid";

/// [`GROUP_COLUMNS`] of a recording of schema `version`, each with `prefix` (version 1 has no `uid`).
fn group_columns(version: i64, prefix: &str) -> String {
    let columns: Vec<String> = GROUP_COLUMNS
        .split(", ")
        .map(|c| if c == "uid" && version < 2 { "NULL".into() } else { format!("{prefix}{c}") })
        .collect();
    columns.join(", ")
}

/// A `groups` row of a recording of schema `version` whose [`GROUP_COLUMNS`] start at column `at`. A key
/// these columns do not make (an unknown kind or protocol, an address that is none) is a value of the wrong
/// type: the row is skipped and counted.
fn group_row(r: &Row, at: usize, version: i64) -> rusqlite::Result<GroupRow> {
    let mut states = [0u32; 11];
    for (i, s) in states.iter_mut().enumerate() {
        *s = r.get(at + 6 + i)?;
    }
    let (kind, proto): (String, String) = (r.get(at)?, r.get(at + 1)?);
    let address: Option<String> = r.get(at + 2)?;
    let key =
        super::key_of((&kind, &proto, address.as_deref(), r.get(at + 3)?, r.get(at + 22)?), version).map_err(|e| {
            // The column to blame: the kind, the protocol, or the address (or port) the kind needs.
            let column = match e {
                KeyError::Kind(_) => at,
                KeyError::Proto(_) | KeyError::KindProto { .. } => at + 1,
                KeyError::Missing { .. } | KeyError::Address { .. } => at + 2,
            };
            rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
        })?;
    Ok(GroupRow {
        key,
        sockets: r.get(at + 4)?,
        listeners: r.get(at + 5)?,
        states,
        accept_queue: r.get(at + 17)?,
        accept_backlog: r.get(at + 18)?,
        peers: r.get(at + 19)?,
        top_peers: super::parse_top_peers(&r.get::<_, Option<String>>(at + 20)?.unwrap_or_default()),
        owner: r.get(at + 21)?,
    })
}

const SAMPLE_COLUMNS: &str = "id, time_ms, sockets, opened, closed, events_dropped";

impl Recording {
    pub fn open(path: &Path) -> Result<Recording, RecordError> {
        let (conn, version, opened_note) = super::open_read(path)?;
        let path = path.display().to_string();
        Ok(Recording { conn, path, version, opened_note, skipped: RefCell::default() })
    }

    /// The file's schema version.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The identity of a group across samples, as this file's columns spell it (and sort it).
    fn columns(&self, g: &GroupRow) -> KeyColumns {
        super::key_columns(&g.key, self.version)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> RecordError + '_ {
        |source| RecordError::Sqlite { path: self.path.clone(), error: source }
    }

    /// What a reader should tell: how the file was opened (read-only file system) and the rows skipped so
    /// far for values out of range. Each is said once.
    pub fn notes(&mut self) -> Vec<String> {
        let mut notes: Vec<String> = self.opened_note.take().into_iter().collect();
        let s = std::mem::take(&mut *self.skipped.borrow_mut());
        if s.rows > 0 {
            notes.push(format!(
                "{}: skipped {} row{} with a value out of range or of the wrong type (first: {})",
                self.path,
                s.rows,
                if s.rows == 1 { "" } else { "s" },
                s.first.unwrap_or_default()
            ));
        }
        notes
    }

    /// Rows skipped so far for values out of range or of the wrong type.
    pub fn skipped(&self) -> u64 {
        self.skipped.borrow().rows
    }

    /// Decode one row with `decode`; `None` (counted) when a value is out of range or of the wrong type.
    fn decoded<T>(&self, r: &Row, decode: impl Fn(&Row) -> rusqlite::Result<T>) -> Result<Option<T>, RecordError> {
        self.decoded_counting(r, decode, true)
    }

    /// [`decoded`](Self::decoded), counting a skipped row only when `count`.
    fn decoded_counting<T>(
        &self,
        r: &Row,
        decode: impl Fn(&Row) -> rusqlite::Result<T>,
        count: bool,
    ) -> Result<Option<T>, RecordError> {
        match decode(r) {
            Ok(v) => Ok(Some(v)),
            Err(e) => match is_bad_value(&e) {
                Some(_) if !count => Ok(None),
                Some(i) => {
                    let mut s = self.skipped.borrow_mut();
                    s.rows += 1;
                    if s.first.is_none() {
                        let st: &Statement = r.as_ref();
                        let column = st.column_name(i).unwrap_or("?");
                        s.first = Some(format!("column {column}: {e}"));
                    }
                    Ok(None)
                }
                None => Err(self.err()(e)),
            },
        }
    }

    /// Run `sql` and give each row that decodes to `each`, in the query's order.
    fn each_row<T, E: From<RecordError>>(
        &self,
        sql: &str,
        params: impl Params,
        decode: impl Fn(&Row) -> rusqlite::Result<T>,
        mut each: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        let err = self.err();
        let mut st = self.conn.prepare(sql).map_err(&err)?;
        let mut rows = st.query(params).map_err(&err)?;
        while let Some(r) = rows.next().map_err(&err)? {
            if let Some(v) = self.decoded(r, &decode)? {
                each(v)?;
            }
        }
        Ok(())
    }

    fn collect<T>(
        &self,
        sql: &str,
        params: impl Params,
        decode: impl Fn(&Row) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, RecordError> {
        let mut v = Vec::new();
        self.each_row(sql, params, decode, push(&mut v))?;
        Ok(v)
    }

    /// Every sample's header, oldest first.
    pub fn samples(&self) -> Result<Vec<SampleInfo>, RecordError> {
        self.collect(&format!("SELECT {SAMPLE_COLUMNS} FROM samples ORDER BY time_ms, id"), [], sample_row)
    }

    /// The first and the last sample; `None` when there is none.
    pub fn span(&self) -> Result<Option<(SampleInfo, SampleInfo)>, RecordError> {
        let one = |order: &str| {
            let sql = format!("SELECT {SAMPLE_COLUMNS} FROM samples ORDER BY time_ms {order}, id {order} LIMIT 1");
            Ok::<_, RecordError>(self.collect(&sql, [], sample_row)?.into_iter().next())
        };
        Ok(one("ASC")?.zip(one("DESC")?))
    }

    /// The last sample taken at or before `at_ms`.
    pub fn sample_at(&self, at_ms: u64) -> Result<SampleInfo, RecordError> {
        let sql =
            format!("SELECT {SAMPLE_COLUMNS} FROM samples WHERE time_ms <= ?1 ORDER BY time_ms DESC, id DESC LIMIT 1");
        if let Some(s) = self.collect(&sql, [ms(at_ms)], sample_row)?.into_iter().next() {
            return Ok(s);
        }
        match self.span()? {
            Some((first, _)) => Err(RecordError::NoSample {
                path: self.path.clone(),
                at: clock::rfc3339(at_ms),
                first: clock::rfc3339(first.time_ms),
            }),
            None => Err(RecordError::Empty { path: self.path.clone() }),
        }
    }

    /// The start of a span at `at_ms`: the last sample at or before it, or the first sample when `at_ms` is
    /// before the recording starts.
    pub fn sample_from(&self, at_ms: u64) -> Result<SampleInfo, RecordError> {
        match self.sample_at(at_ms) {
            Err(RecordError::NoSample { .. }) => match self.span()? {
                Some((first, _)) => Ok(first),
                None => Err(RecordError::Empty { path: self.path.clone() }),
            },
            other => other,
        }
    }

    /// The groups recorded in a sample, most sockets first.
    pub fn groups(&self, sample: i64) -> Result<Vec<GroupRow>, RecordError> {
        let mut v = Vec::new();
        self.each_group(sample, push(&mut v))?;
        Ok(v)
    }

    /// [`groups`](Self::groups) one by one.
    pub fn each_group<E: From<RecordError>>(
        &self,
        sample: i64,
        each: impl FnMut(GroupRow) -> Result<(), E>,
    ) -> Result<(), E> {
        let sql = format!(
            "SELECT {} FROM groups WHERE sample_id = ?1 ORDER BY sockets DESC, kind, address, port",
            group_columns(self.version, "")
        );
        self.each_row(&sql, [sample], |r| group_row(r, 0, self.version), each)
    }

    /// How many group rows a sample has.
    pub fn group_count(&self, sample: i64) -> Result<u64, RecordError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM groups WHERE sample_id = ?1", [sample], |r| r.get(0))
            .map_err(self.err())?;
        Ok(n.max(0) as u64)
    }

    /// The groups of sample `to` that `change` between sample `from` and it (for [`Change::Removed`] the row
    /// of `from`; for [`Change::Changed`] both: before, after), in the order of their identity (kind,
    /// protocol, address, port). A merge of both samples' rows sorted by SQLite: nothing is held but the two
    /// current rows. A sample with two rows of one group counts its first. Passes over the same two samples
    /// (one per change) count a skipped row once.
    pub fn group_diff<E: From<RecordError>>(
        &self,
        (from, to): (i64, i64),
        change: Change,
        mut each: impl FnMut(&GroupRow, Option<&GroupRow>) -> Result<(), E>,
    ) -> Result<(), E> {
        let err = self.err();
        // The merge below compares rows as these columns sort (`KeyColumns`' order is theirs).
        let uid = if self.version < 2 { "" } else { "uid, " };
        let sql = format!(
            "SELECT {} FROM groups WHERE sample_id = ?1 ORDER BY kind, proto, address, port, {uid}rowid",
            group_columns(self.version, "")
        );
        let (mut sa, mut sb) = (self.conn.prepare(&sql).map_err(&err)?, self.conn.prepare(&sql).map_err(&err)?);
        let (mut ra, mut rb) = (sa.query([from]).map_err(&err)?, sb.query([to]).map_err(&err)?);
        let count = self.skipped.borrow_mut().diffed.replace((from, to)) != Some((from, to));
        // The next row of a side that decodes and is not a repeat of the group before it.
        let next = |rows: &mut rusqlite::Rows, last: &mut Option<GroupRow>| -> Result<Option<GroupRow>, RecordError> {
            while let Some(r) = rows.next().map_err(&err)? {
                let Some(g) = self.decoded_counting(r, |r| group_row(r, 0, self.version), count)? else { continue };
                if last.as_ref().is_some_and(|l| self.columns(l) == self.columns(&g)) {
                    continue;
                }
                *last = Some(g.clone());
                return Ok(Some(g));
            }
            Ok(None)
        };
        let (mut last_a, mut last_b) = (None, None);
        let (mut a, mut b) = (next(&mut ra, &mut last_a)?, next(&mut rb, &mut last_b)?);
        loop {
            let order = match (&a, &b) {
                (None, None) => return Ok(()),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(x), Some(y)) => self.columns(x).cmp(&self.columns(y)),
            };
            match order {
                Ordering::Less => {
                    if let (Change::Removed, Some(x)) = (change, &a) {
                        each(x, None)?;
                    }
                    a = next(&mut ra, &mut last_a)?;
                }
                Ordering::Greater => {
                    if let (Change::Added, Some(y)) = (change, &b) {
                        each(y, None)?;
                    }
                    b = next(&mut rb, &mut last_b)?;
                }
                Ordering::Equal => {
                    if let (Change::Changed, Some(x), Some(y)) = (change, &a, &b)
                        && (x.states != y.states || x.sockets != y.sockets)
                    {
                        each(x, Some(y))?;
                    }
                    a = next(&mut ra, &mut last_a)?;
                    b = next(&mut rb, &mut last_b)?;
                }
            }
        }
    }

    /// Events with `from_ms < time_ms <= to_ms`, in order.
    pub fn events_between(&self, from_ms: u64, to_ms: u64) -> Result<Vec<EventRow>, RecordError> {
        let mut v = Vec::new();
        self.each_event((from_ms, to_ms), push(&mut v))?;
        Ok(v)
    }

    /// [`events_between`](Self::events_between) one by one.
    pub fn each_event<E: From<RecordError>>(
        &self,
        (from_ms, to_ms): (u64, u64),
        each: impl FnMut(EventRow) -> Result<(), E>,
    ) -> Result<(), E> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE time_ms > ?1 AND time_ms <= ?2 ORDER BY time_ms, rowid");
        self.each_row(&sql, [ms(from_ms), ms(to_ms)], event_row, each)
    }

    /// The events with `from_ms < time_ms <= to_ms` counted by kind, and those the samples of the span
    /// counted without storing them.
    pub fn event_counts(&self, from_ms: u64, to_ms: u64) -> Result<EventCounts, RecordError> {
        let err = self.err();
        let span = [ms(from_ms), ms(to_ms)];
        let (opened, closed, changed): (i64, i64, i64) = self
            .conn
            .query_row(
                "SELECT COUNT(*) FILTER (WHERE event = 'open'), COUNT(*) FILTER (WHERE event = 'close'),                  COUNT(*) FILTER (WHERE event = 'state') FROM events WHERE time_ms > ?1 AND time_ms <= ?2",
                span,
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(&err)?;
        let not_stored: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(SUM(MAX(events_dropped, 0)), 0) FROM samples WHERE time_ms > ?1 AND time_ms <= ?2",
                span,
                |r| r.get(0),
            )
            .map_err(&err)?;
        let u = |v: i64| v.max(0) as u64;
        Ok(EventCounts { opened: u(opened), closed: u(closed), changed: u(changed), not_stored: u(not_stored) })
    }

    /// Group `g` in every sample taken in `from_ms..=to_ms`, oldest first: `each(time_ms, the group's row or
    /// None where it is absent)`. The rows stream through `each` (a recording of days is not held in memory);
    /// a sample with two rows of the same group gives its first. The bounds keep a recording still being
    /// written to the samples the caller knows.
    pub fn group_over_time(
        &self,
        g: &GroupRow,
        (from_ms, to_ms): (u64, u64),
        mut each: impl FnMut(u64, Option<GroupRow>),
    ) -> Result<(), RecordError> {
        let err = self.err();
        let uid = if self.version < 2 { "" } else { "AND g.uid IS ?7 " };
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT s.id, s.time_ms, {} FROM samples s LEFT JOIN groups g ON g.sample_id = s.id \
                 AND g.kind = ?1 AND g.proto = ?2 AND g.address IS ?3 AND g.port IS ?4 {uid}\
                 WHERE s.time_ms >= ?5 AND s.time_ms <= ?6 ORDER BY s.time_ms, s.id",
                group_columns(self.version, "g.")
            ))
            .map_err(&err)?;
        let k = self.columns(g);
        let (from_ms, to_ms) = (ms(from_ms), ms(to_ms));
        let params = rusqlite::params![k.kind, k.proto, k.address, k.port, from_ms, to_ms, k.uid];
        let params = if self.version < 2 { &params[..6] } else { params };
        let mut rows = st.query(params).map_err(&err)?;
        let mut last = None;
        while let Some(r) = rows.next().map_err(&err)? {
            let id: i64 = r.get(0).map_err(&err)?;
            if last == Some(id) {
                continue;
            }
            last = Some(id);
            let time_ms = r.get::<_, i64>(1).map_err(&err)?.max(0) as u64;
            let present = r.get::<_, Option<String>>(2).map_err(&err)?.is_some();
            // A row with a value out of range is counted and taken as absent.
            let row = if present { self.decoded(r, |r| group_row(r, 2, self.version))? } else { None };
            each(time_ms, row);
        }
        Ok(())
    }

    /// The last `max` events up to `until_ms` of the sockets of group `g`, newest first: for a listening
    /// endpoint those on its port, for an outbound group those to its destination.
    pub fn group_events(&self, g: &GroupRow, until_ms: u64, max: usize) -> Result<Vec<EventRow>, RecordError> {
        let cond = match g.key.kind() {
            GroupKind::Listen => "local_port = ?2",
            GroupKind::Outbound => "peer_address = ?1 AND peer_port = ?2",
            _ => return Ok(Vec::new()),
        };
        let k = self.columns(g);
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE proto = ?3 AND {cond} AND time_ms <= ?4 \
             ORDER BY time_ms DESC, rowid DESC LIMIT ?5"
        );
        self.collect(&sql, rusqlite::params![k.address, k.port, k.proto, ms(until_ms), max as i64], event_row)
    }

    /// Sockets known open at `at_ms` from the events: opened during the recording and not closed by then.
    pub fn open_at(&self, at_ms: u64) -> Result<Vec<EventRow>, RecordError> {
        let mut v = Vec::new();
        self.each_open_at(at_ms, push(&mut v))?;
        Ok(v)
    }

    /// [`open_at`](Self::open_at) one by one, in the order they opened: each the row of its (last) open
    /// with the state of its last event. SQLite partitions the events by cookie (sorting on disk past its
    /// cache): a socket is open when its last open or close is an open that was not learned from the close.
    pub fn each_open_at<E: From<RecordError>>(
        &self,
        at_ms: u64,
        each: impl FnMut(EventRow) -> Result<(), E>,
    ) -> Result<(), E> {
        let columns: Vec<String> = EVENT_COLUMNS
            .split(", ")
            .map(|c| if c == "state" { "k.latest".into() } else { format!("e.{c}") })
            .collect();
        let sql = format!(
            "SELECT {} FROM (SELECT rowid AS rid, event, \
                 SUM(event <> 'state') OVER w AS opens_or_closes_after, FIRST_VALUE(state) OVER w AS latest \
               FROM events WHERE time_ms <= ?1 AND cookie IS NOT NULL \
                 AND (event IN ('close', 'state') OR (event = 'open' AND NOT late)) \
               WINDOW w AS (PARTITION BY cookie ORDER BY time_ms DESC, rowid DESC \
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) k \
             JOIN events e ON e.rowid = k.rid \
             WHERE k.opens_or_closes_after = 1 AND k.event = 'open' ORDER BY e.time_ms, e.cookie",
            columns.join(", ")
        );
        self.each_row(&sql, [ms(at_ms)], event_row, each)
    }
}

/// A callback of the `each_*` readers that collects into `v`.
fn push<T>(v: &mut Vec<T>) -> impl FnMut(T) -> Result<(), RecordError> + '_ {
    |x| {
        v.push(x);
        Ok(())
    }
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
