//! One kernel walk for TCP over both families, in ss's order. IPv4 and IPv6 TCP sockets live in one kernel
//! hash table, so a dump per family walks it twice (the IPv6 walk skips every IPv4 socket, ~0.2 µs each).
//! `TCPDIAG_GETSOCK` walks it once for both; its IPv4 rows stream in the IPv4 table's turn and its IPv6 rows
//! are held, up to [`HELD_MAX`], for the IPv6 table's turn (a job of [`crate::collect::in_order`] that runs
//! only then). Past that (a host with many IPv6 sockets) they are dropped and the IPv6 table is dumped on its
//! own, as if there had been no shared walk.

use std::sync::{Mutex, PoisonError};

use super::stream_table;
use crate::collect::{CollectError, Query, Sink, Streamed, Table};
use crate::model::{Family, Socket};

/// IPv6 sockets held from the shared walk, at most (a few MiB); beyond, IPv6 is dumped on its own.
pub(crate) const HELD_MAX: usize = 32 * 1024;

/// What the shared walk leaves for the IPv6 table's turn.
#[derive(Debug)]
enum Verdict {
    /// No shared walk (it could not start) or too many IPv6 sockets: dump IPv6 on its own.
    Alone,
    /// The IPv6 sockets the walk saw, in the kernel's order, in the batches they came in.
    Held(Vec<Vec<Socket>>),
    /// The walk failed or the consumer stopped: IPv6 has nothing to add.
    Stopped,
}

/// The IPv4 and IPv6 TCP tables of one stream, served by one walk when both are asked for.
#[derive(Debug)]
pub(crate) struct TcpWalk {
    verdict: Mutex<Verdict>,
    held_max: usize,
}

impl TcpWalk {
    /// A shared walk for `tables`, when it has both TCP tables (IPv4 first).
    pub fn for_tables(tables: &[Table]) -> Option<TcpWalk> {
        let at = |t| tables.iter().position(|x| *x == t);
        matches!((at(Table::Tcp4), at(Table::Tcp6)), (Some(v4), Some(v6)) if v4 < v6)
            .then(|| TcpWalk { verdict: Mutex::new(Verdict::Alone), held_max: HELD_MAX })
    }

    /// Does `table` wait for its turn (the IPv6 table reads what the walk held)?
    pub fn at_turn(walk: Option<&TcpWalk>, table: Table) -> bool {
        walk.is_some() && table == Table::Tcp6
    }

    fn decide(&self, v: Verdict) {
        *self.verdict.lock().unwrap_or_else(PoisonError::into_inner) = v;
    }

    /// The IPv4 table's turn: walk both families over netlink, IPv4 rows to `sink`, IPv6 rows held. `None`
    /// when the walk could not start (the caller serves IPv4 as usual; IPv6 will be dumped on its own).
    pub fn ipv4(&self, q: &Query, sink: &mut Sink<'_>) -> Option<Result<Streamed, CollectError>> {
        let mut held: Vec<Vec<Socket>> = Vec::new();
        let mut count = 0;
        let mut alone = false;
        let mut sent = false;
        let result = stream_table(Table::TcpAll, q, &mut |mut batch| {
            sent = true;
            if !alone && batch.iter().any(|s| s.family == Family::Inet6) {
                let v6: Vec<Socket> = batch.extract_if(.., |s| s.family == Family::Inet6).collect();
                count += v6.len();
                held.push(v6);
                if count > self.held_max {
                    alone = true;
                    held = Vec::new();
                }
            } else if alone {
                batch.retain(|s| s.family != Family::Inet6);
            }
            batch.is_empty() || sink(batch)
        });
        match result {
            Err(_) if !sent => None,
            Err(e) => {
                self.decide(Verdict::Stopped);
                Some(Err(e))
            }
            Ok(more) => {
                self.decide(match (more, alone) {
                    (false, _) => Verdict::Stopped,
                    (true, true) => Verdict::Alone,
                    (true, false) => Verdict::Held(held),
                });
                Some(Ok(Streamed::netlink()))
            }
        }
    }

    /// The IPv6 table's turn (after the IPv4 table's): hand over what the walk held. `None` when IPv6 must
    /// be dumped on its own.
    pub fn ipv6(&self, sink: &mut Sink<'_>) -> Option<Streamed> {
        let held = match std::mem::replace(
            &mut *self.verdict.lock().unwrap_or_else(PoisonError::into_inner),
            Verdict::Stopped,
        ) {
            Verdict::Held(held) => held,
            Verdict::Alone => return None,
            Verdict::Stopped => return Some(Streamed::netlink()),
        };
        for batch in held {
            if !batch.is_empty() && !sink(batch) {
                break;
            }
        }
        Some(Streamed::netlink())
    }
}

/// Serve `table` from the shared walk when it is one of its two tables; `None`: serve it as usual.
pub(crate) fn serve(
    walk: Option<&TcpWalk>,
    table: Table,
    q: &Query,
    sink: &mut Sink<'_>,
) -> Option<Result<Streamed, CollectError>> {
    match (walk, table) {
        (Some(w), Table::Tcp4) => w.ipv4(q, sink),
        (Some(w), Table::Tcp6) => w.ipv6(sink).map(Ok),
        _ => None,
    }
}

/// Stream `q`'s tables through `sink` in order, both TCP tables from one walk; `other` serves every table
/// the walk does not (and IPv6 when the walk could not hold it).
pub(crate) fn stream_tables(
    q: &Query,
    sink: &mut Sink<'_>,
    other: &(dyn Fn(Table, &mut Sink<'_>) -> Result<Streamed, CollectError> + Sync),
) -> Result<crate::collect::Snapshot, CollectError> {
    let tables = q.tables();
    let walk = TcpWalk::for_tables(&tables);
    let walk = walk.as_ref();
    crate::collect::stream_tables(&tables, &|t| TcpWalk::at_turn(walk, t), sink, &|t, sink| {
        serve(walk, t, q, sink).unwrap_or_else(|| other(t, sink))
    })
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;
    use crate::collect::Collector;
    use crate::collect::netlink::NetlinkCollector;
    use crate::model::State;

    /// Loopback listeners and connections of both families, held while the test runs.
    fn population() -> (Vec<TcpListener>, Vec<TcpStream>, Vec<u16>) {
        let (mut listeners, mut conns, mut ports) = (Vec::new(), Vec::new(), Vec::new());
        for addr in ["127.0.0.1:0", "[::1]:0", "127.0.0.1:0", "[::1]:0"] {
            let Ok(l) = TcpListener::bind(addr) else { continue };
            let a = l.local_addr().unwrap();
            ports.push(a.port());
            for _ in 0..3 {
                conns.push(TcpStream::connect(a).unwrap());
                conns.push(l.accept().unwrap().0);
            }
            listeners.push(l);
        }
        (listeners, conns, ports)
    }

    /// A row of the population (either end on one of its ports), as (family, local port, state).
    fn ours(s: &Socket, ports: &[u16]) -> Option<(Family, u16, State)> {
        let mine = [s.local.port(), s.peer.port()].iter().flatten().any(|p| ports.contains(p));
        mine.then(|| (s.family, s.local.port().unwrap_or(0), s.state))
    }

    fn tcp_query() -> Query {
        Query { tcp: true, udp: false, unix: false, states: crate::model::StateSet::ALL, ..Query::default() }
    }

    /// The streamed rows of `q` that belong to `ports`, as (family, local port, state).
    fn streamed(q: &Query, held_max: usize, ports: &[u16]) -> Vec<(Family, u16, State)> {
        let tables = q.tables();
        let mut walk = TcpWalk::for_tables(&tables).expect("both TCP tables");
        walk.held_max = held_max;
        let walk = Some(&walk);
        let mut rows = Vec::new();
        let mut sink = |batch: Vec<Socket>| {
            rows.extend(batch.iter().filter_map(|s| ours(s, ports)));
            true
        };
        crate::collect::stream_tables(&tables, &|t| TcpWalk::at_turn(walk, t), &mut sink, &|t, sink| {
            serve(walk, t, q, sink).unwrap_or_else(|| stream_table(t, q, sink).map(|_| Streamed::netlink()))
        })
        .unwrap();
        rows
    }

    /// One walk gives what a walk per family gives, in the same order (IPv4 rows, then IPv6), also when the
    /// IPv6 rows overflow what may be held and IPv6 is dumped again on its own.
    #[test]
    fn one_walk_lists_what_two_walks_list_in_ss_order() {
        let (listeners, _c, ports) = population();
        let q = tcp_query();
        let mut per_family = Vec::new();
        for t in [Table::Tcp4, Table::Tcp6] {
            let mut sink = |batch: Vec<Socket>| {
                per_family.extend(batch.iter().filter_map(|s| ours(s, &ports)));
                true
            };
            stream_table(t, &q, &mut sink).unwrap();
        }
        assert_eq!(per_family.len(), listeners.len() * 7, "the population is listed: {per_family:?}");
        let v6 = listeners.iter().filter(|l| l.local_addr().unwrap().is_ipv6()).count();
        assert_eq!(per_family.iter().filter(|r| r.0 == Family::Inet6).count(), v6 * 7);
        for held_max in [HELD_MAX, 0] {
            let rows = streamed(&q, held_max, &ports);
            assert_eq!(rows, per_family, "held_max {held_max}");
        }
        let snap = NetlinkCollector::new().collect(&q).unwrap();
        let collected: Vec<_> = snap.sockets.iter().filter_map(|s| ours(s, &ports)).collect();
        assert_eq!(collected, per_family, "collect() streams the walk the same way");
    }

    /// A consumer that stops during the IPv4 rows gets nothing at the IPv6 table's turn either.
    #[test]
    fn a_stopped_consumer_gets_nothing_at_the_ipv6_turn() {
        let (_l, _c, _ports) = population();
        let q = tcp_query();
        let tables = q.tables();
        let walk = TcpWalk::for_tables(&tables).unwrap();
        walk.ipv4(&q, &mut |_| false).unwrap().unwrap();
        walk.ipv6(&mut |_| panic!("nothing is handed over after a stop")).unwrap();
    }
}
