//! [`Recording`]: reads a recording back: its time span, the groups of the sample at a moment, the events
//! between two moments and the sockets known open at a moment (opened during the recording, not yet closed).

use std::path::Path;

use rusqlite::{Connection, Row};

use super::{EventRow, GroupRow, RecordError};
use crate::clock;
use crate::hash::FastMap;

pub struct Recording {
    conn: Connection,
    path: String,
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
                             accept_queue, accept_backlog, peers, top_peers, owner";

/// A `groups` row whose [`GROUP_COLUMNS`] start at column `at`.
fn group_row(r: &Row, at: usize) -> rusqlite::Result<GroupRow> {
    let mut states = [0u32; 11];
    for (i, s) in states.iter_mut().enumerate() {
        *s = r.get(at + 6 + i)?;
    }
    Ok(GroupRow {
        kind: r.get(at)?,
        proto: r.get(at + 1)?,
        address: r.get(at + 2)?,
        port: r.get(at + 3)?,
        sockets: r.get(at + 4)?,
        listeners: r.get(at + 5)?,
        states,
        accept_queue: r.get(at + 17)?,
        accept_backlog: r.get(at + 18)?,
        peers: r.get(at + 19)?,
        top_peers: r.get::<_, Option<String>>(at + 20)?.unwrap_or_default(),
        owner: r.get(at + 21)?,
    })
}

const SAMPLE_COLUMNS: &str = "id, time_ms, sockets, opened, closed, events_dropped";

impl Recording {
    pub fn open(path: &Path) -> Result<Recording, RecordError> {
        let conn = super::open(path, false)?;
        Ok(Recording { conn, path: path.display().to_string() })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> RecordError + '_ {
        |source| RecordError::Sqlite { path: self.path.clone(), source }
    }

    /// Every sample's header, oldest first.
    pub fn samples(&self) -> Result<Vec<SampleInfo>, RecordError> {
        let err = self.err();
        let mut st =
            self.conn.prepare(&format!("SELECT {SAMPLE_COLUMNS} FROM samples ORDER BY time_ms, id")).map_err(&err)?;
        let rows = st.query_map([], sample_row).map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// The last sample taken at or before `at_ms`.
    pub fn sample_at(&self, at_ms: u64) -> Result<SampleInfo, RecordError> {
        let err = self.err();
        let found = self
            .conn
            .query_row(
                &format!(
                    "SELECT {SAMPLE_COLUMNS} FROM samples WHERE time_ms <= ?1 ORDER BY time_ms DESC, id DESC LIMIT 1"
                ),
                [at_ms as i64],
                sample_row,
            )
            .map(Some)
            .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })
            .map_err(&err)?;
        if let Some(s) = found {
            return Ok(s);
        }
        match self.samples()?.first() {
            Some(first) => Err(RecordError::NoSample {
                path: self.path.clone(),
                at: clock::rfc3339(at_ms),
                first: clock::rfc3339(first.time_ms),
            }),
            None => Err(RecordError::Empty { path: self.path.clone() }),
        }
    }

    /// The groups recorded in a sample, most sockets first.
    pub fn groups(&self, sample: i64) -> Result<Vec<GroupRow>, RecordError> {
        let err = self.err();
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {GROUP_COLUMNS} FROM groups WHERE sample_id = ?1 ORDER BY sockets DESC, kind, address, port"
            ))
            .map_err(&err)?;
        let rows = st.query_map([sample], |r| group_row(r, 0)).map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Events with `from_ms < time_ms <= to_ms`, in order.
    pub fn events_between(&self, from_ms: u64, to_ms: u64) -> Result<Vec<EventRow>, RecordError> {
        let err = self.err();
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE time_ms > ?1 AND time_ms <= ?2 ORDER BY time_ms, rowid"
            ))
            .map_err(&err)?;
        let rows = st.query_map([ms(from_ms), ms(to_ms)], event_row).map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(err)
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
        let columns: Vec<String> = GROUP_COLUMNS.split(", ").map(|c| format!("g.{c}")).collect();
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT s.id, s.time_ms, {} FROM samples s LEFT JOIN groups g ON g.sample_id = s.id \
                 AND g.kind = ?1 AND g.proto = ?2 AND g.address IS ?3 AND g.port IS ?4 \
                 WHERE s.time_ms >= ?5 AND s.time_ms <= ?6 ORDER BY s.time_ms, s.id",
                columns.join(", ")
            ))
            .map_err(&err)?;
        let params = rusqlite::params![g.kind, g.proto, g.address, g.port, ms(from_ms), ms(to_ms)];
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
            let row = if present { Some(group_row(r, 2).map_err(&err)?) } else { None };
            each(time_ms, row);
        }
        Ok(())
    }

    /// The last `max` events up to `until_ms` of the sockets of group `g`, newest first: for a listening
    /// endpoint those on its port, for an outbound group those to its destination.
    pub fn group_events(&self, g: &GroupRow, until_ms: u64, max: usize) -> Result<Vec<EventRow>, RecordError> {
        let err = self.err();
        let cond = match g.kind.as_str() {
            "listen" => "local_port = ?2",
            "outbound" => "peer_address = ?1 AND peer_port = ?2",
            _ => return Ok(Vec::new()),
        };
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE proto = ?3 AND {cond} AND time_ms <= ?4 \
                 ORDER BY time_ms DESC, rowid DESC LIMIT ?5"
            ))
            .map_err(&err)?;
        let rows = st
            .query_map(rusqlite::params![g.address, g.port, g.proto, ms(until_ms), max as i64], event_row)
            .map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Sockets known open at `at_ms` from the events: opened during the recording and not closed by then.
    pub fn open_at(&self, at_ms: u64) -> Result<Vec<EventRow>, RecordError> {
        let mut open: FastMap<u64, EventRow> = FastMap::default();
        for e in self.events_between(0, at_ms)? {
            let Some(c) = e.cookie else { continue };
            match e.event.as_str() {
                "open" if !e.late => {
                    open.insert(c, e);
                }
                "state" => {
                    if let Some(o) = open.get_mut(&c) {
                        o.state = e.state;
                    }
                }
                "close" => {
                    open.remove(&c);
                }
                _ => {}
            }
        }
        let mut v: Vec<EventRow> = open.into_values().collect();
        v.sort_by_key(|e| (e.time_ms, e.cookie));
        Ok(v)
    }
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
