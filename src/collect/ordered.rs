//! One kernel walk for TCP over both families, in ss's order. IPv4 and IPv6 TCP sockets live in one kernel
//! hash table, so a dump per family walks it twice (the IPv6 walk skips every IPv4 socket, ~0.2 µs each).
//! `TCPDIAG_GETSOCK` walks it once for both; its IPv4 rows stream in the IPv4 table's turn and its IPv6 rows
//! are held for the IPv6 table's turn, up to [`HELD_MAX`]. Past that (a host with many IPv6 sockets) they are
//! dropped and the IPv6 table is dumped on its own, as if there had been no shared walk.

use std::sync::{Condvar, Mutex, PoisonError};

use super::netlink;
use super::{CollectError, Query, Sink, Source, Streamed, Table};
use crate::model::{Family, Socket};

/// IPv6 sockets held from the shared walk, at most (a few MiB); beyond, IPv6 is dumped on its own.
pub(crate) const HELD_MAX: usize = 32 * 1024;

/// What the shared walk leaves for the IPv6 table's turn.
#[derive(Debug)]
enum Verdict {
    Pending,
    /// The IPv6 sockets the walk saw, in the kernel's order.
    Held(Vec<Socket>),
    /// No shared walk (it could not start) or too many IPv6 sockets: dump IPv6 on its own.
    Alone,
    /// The walk failed or the consumer stopped: IPv6 has nothing to add.
    Stopped,
}

/// The IPv4 and IPv6 TCP tables of one stream, served by one walk when both are asked for.
#[derive(Debug)]
pub(crate) struct TcpWalk {
    verdict: Mutex<Verdict>,
    ready: Condvar,
    held_max: usize,
}

impl TcpWalk {
    /// A shared walk for `tables`, when it has both TCP tables.
    pub fn for_tables(tables: &[Table]) -> Option<TcpWalk> {
        (tables.contains(&Table::Tcp4) && tables.contains(&Table::Tcp6)).then(|| TcpWalk {
            verdict: Mutex::new(Verdict::Pending),
            ready: Condvar::new(),
            held_max: HELD_MAX,
        })
    }

    fn decide(&self, v: Verdict) {
        *self.verdict.lock().unwrap_or_else(PoisonError::into_inner) = v;
        self.ready.notify_all();
    }

    /// The IPv4 table's turn: walk both families over netlink, IPv4 rows to `sink`, IPv6 rows held. `None`
    /// when the walk could not start (the caller serves IPv4 as usual; IPv6 will be dumped on its own).
    pub fn ipv4(&self, q: &Query, sink: &mut Sink<'_>) -> Option<Result<Streamed, CollectError>> {
        let _unwind = DecideOnUnwind(self);
        let mut held: Vec<Socket> = Vec::new();
        let mut alone = false;
        let mut sent = false;
        let result = netlink::stream_table(Table::TcpAll, q, &mut |mut batch| {
            sent = true;
            if !alone && batch.iter().any(|s| s.family == Family::Inet6) {
                held.extend(batch.extract_if(.., |s| s.family == Family::Inet6));
                if held.len() > self.held_max {
                    alone = true;
                    held = Vec::new();
                }
            } else if alone {
                batch.retain(|s| s.family != Family::Inet6);
            }
            batch.is_empty() || sink(batch)
        });
        match result {
            Err(_) if !sent => {
                self.decide(Verdict::Alone);
                None
            }
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
                Some(Ok(Streamed { source: Source::Netlink, note: None, more }))
            }
        }
    }

    /// The IPv6 table's turn (on any thread): wait for the walk, then hand over what it held. `None` when
    /// IPv6 must be dumped on its own.
    pub fn ipv6(&self, sink: &mut Sink<'_>) -> Option<Streamed> {
        let mut v = self.verdict.lock().unwrap_or_else(PoisonError::into_inner);
        while matches!(*v, Verdict::Pending) {
            v = self.ready.wait(v).unwrap_or_else(PoisonError::into_inner);
        }
        let held = match std::mem::replace(&mut *v, Verdict::Stopped) {
            Verdict::Held(held) => held,
            Verdict::Alone => return None,
            _ => return Some(Streamed { source: Source::Netlink, note: None, more: false }),
        };
        drop(v);
        let mut more = true;
        let mut rest = held.into_iter();
        while more {
            let batch: Vec<Socket> = rest.by_ref().take(netlink::BATCH).collect();
            if batch.is_empty() {
                break;
            }
            more = sink(batch);
        }
        Some(Streamed { source: Source::Netlink, note: None, more })
    }
}

/// Decides `Stopped` if the IPv4 side unwinds before deciding: the IPv6 side must never wait forever.
struct DecideOnUnwind<'a>(&'a TcpWalk);

impl Drop for DecideOnUnwind<'_> {
    fn drop(&mut self) {
        let pending = matches!(*self.0.verdict.lock().unwrap_or_else(PoisonError::into_inner), Verdict::Pending);
        if pending {
            self.0.decide(Verdict::Stopped);
        }
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

/// [`netlink::NetlinkCollector::collect_tables`]'s TCP pair: one walk split by family, each in the kernel's
/// order (the order a per-family walk gives). `None` when the walk failed: dump them one by one.
pub(crate) fn collect_pair(q: &Query) -> Option<(Vec<Socket>, Vec<Socket>)> {
    let all = netlink::dump_table(Table::TcpAll, q).ok()?;
    Some(all.into_iter().partition(|s| s.family != Family::Inet6))
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
        let mut rows = Vec::new();
        let mut sink = |batch: Vec<Socket>| {
            rows.extend(batch.iter().filter_map(|s| ours(s, ports)));
            true
        };
        crate::collect::stream_in_order(&tables, &mut sink, |t, sink| {
            serve(Some(&walk), t, q, sink).unwrap_or_else(|| {
                netlink::stream_table(t, q, sink).map(|more| Streamed { source: Source::Netlink, note: None, more })
            })
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
            netlink::stream_table(t, &q, &mut sink).unwrap();
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
        assert_eq!(collected, per_family, "collect() splits the walk the same way");
    }

    /// A consumer that stops during the IPv4 rows leaves nothing waiting: the IPv6 side returns at once.
    #[test]
    fn a_stopped_consumer_releases_the_ipv6_side() {
        let (_l, _c, _ports) = population();
        let q = tcp_query();
        let tables = q.tables();
        let walk = TcpWalk::for_tables(&tables).unwrap();
        let r = walk.ipv4(&q, &mut |_| false).unwrap().unwrap();
        assert!(!r.more);
        let r = walk.ipv6(&mut |_| panic!("nothing is handed over after a stop")).unwrap();
        assert!(!r.more);
    }
}
