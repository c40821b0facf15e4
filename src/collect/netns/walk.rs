//! One kernel walk of the TCP table per namespace. A per-family dump (IPv4, then IPv6, as ss asks) walks
//! the kernel's TCP hash table twice, and by default every network namespace shares one established-hash
//! table (`net.ipv4.tcp_child_ehash_entries=0`): each walk visits every TCP socket of the host, skipping the
//! other namespaces' at about 0.1-0.2 us each. Over many namespaces those walks are most of the cost of
//! `--all-netns`, so each namespace's TCP is dumped once for both families (the compat `TCPDIAG_GETSOCK`
//! request, [`Table::TcpAll`]) and the rows are put back in the per-family dumps' order: the walk visits the
//! sockets in the same order whatever family it keeps, so IPv4 rows in walk order followed by IPv6 rows in
//! walk order are exactly what the two dumps return: IPv4 rows stream, IPv6 rows wait for the walk's end.

use std::path::PathBuf;

use crate::collect::{self, CollectError, Query, Sink, Snapshot, SourceChoice, Table};
use crate::model::Family;

/// A query cut in three around its TCP tables: what comes before TCP in [`Query::tables`] order, TCP over
/// both families in one walk, and what comes after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub before: Query,
    pub tcp: Query,
    pub after: Query,
}

/// Cut `q` when it asks for TCP over both families (and is not already a one-walk query), and only when the
/// three parts' tables, TCP's two in place of the one walk, are exactly `q`'s tables in `q`'s order.
pub fn split(q: &Query) -> Option<Split> {
    if !(q.tcp && q.ipv4 && q.ipv6) || q.one_tcp_walk {
        return None;
    }
    let none = q.with_no_tables();
    let before = Query { netlink: q.netlink, packet: q.packet, unix: q.unix, raw: q.raw, udp: q.udp, ..none.clone() };
    let after =
        Query { dccp: q.dccp, sctp: q.sctp, vsock: q.vsock, tipc: q.tipc, xdp: q.xdp, mptcp: q.mptcp, ..none.clone() };
    let tcp = Query { tcp: true, one_tcp_walk: true, ..none };
    let mut order = before.tables();
    order.extend([Table::Tcp4, Table::Tcp6]);
    order.extend(after.tables());
    (tcp.tables() == [Table::TcpAll] && order == q.tables()).then_some(Split { before, tcp, after })
}

/// Stream what `q` asks for in the calling thread's namespace (`root`: the `/proc` that shows it) to `sink`,
/// with TCP in one walk when [`split`] allows: the same sockets, sources and notes, in the same order, as
/// `collect::open(source, root).stream(q, sink)`. IPv4 rows pass as the walk gives them; IPv6 rows are held
/// until the walk ends (on most hosts the fewer).
pub fn stream_here(
    source: SourceChoice,
    root: PathBuf,
    q: &Query,
    sink: &mut Sink<'_>,
) -> Result<Snapshot, CollectError> {
    let split = match split(q) {
        Some(s) if source != SourceChoice::Proc => s,
        _ => return collect::open(source, root).stream(q, sink),
    };
    let mut c = collect::open(source, root);
    let mut snap = Snapshot::default();
    let mut more = true;
    let add = |part: Snapshot, snap: &mut Snapshot| {
        snap.sources.extend(part.sources);
        snap.notes.extend(part.notes);
    };
    if !split.before.tables().is_empty() {
        let part = c.stream(&split.before, &mut |batch| {
            more = sink(batch);
            more
        })?;
        add(part, &mut snap);
    }
    if more {
        let mut v6 = Vec::new();
        let mut part = c.stream(&split.tcp, &mut |batch| {
            let (v4, six): (Vec<_>, Vec<_>) = batch.into_iter().partition(|s| s.family == Family::Inet);
            v6.extend(six);
            more = v4.is_empty() || sink(v4);
            more
        })?;
        while more && !v6.is_empty() {
            let rest = v6.split_off(v6.len().min(collect::netlink::BATCH));
            more = sink(std::mem::replace(&mut v6, rest));
        }
        // Sources as the per-family dumps would have said them.
        part.sources = part
            .sources
            .iter()
            .flat_map(|&(t, src)| match t {
                Table::TcpAll => vec![(Table::Tcp4, src), (Table::Tcp6, src)],
                t => vec![(t, src)],
            })
            .collect();
        add(part, &mut snap);
    }
    if more && !split.after.tables().is_empty() {
        add(c.stream(&split.after, sink)?, &mut snap);
    }
    let mut seen = std::collections::HashSet::new();
    snap.notes.retain(|n| seen.insert(n.clone()));
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_the_table_order() {
        use Table::*;
        // -tan: TCP alone, one walk
        let q = Query { udp: false, unix: false, ..Query::default() };
        let s = split(&q).expect("tcp over both families");
        assert_eq!(s.before.tables(), vec![]);
        assert_eq!(s.tcp.tables(), vec![TcpAll]);
        assert_eq!(s.after.tables(), vec![]);
        // ss's default tables: UNIX and UDP before TCP
        let s = split(&Query::default()).expect("default");
        assert_eq!(s.before.tables(), vec![Unix, Udp4, Udp6]);
        assert_eq!(s.after.tables(), vec![]);
        // everything: what follows TCP stays after it
        let all = Query {
            raw: true,
            mptcp: true,
            packet: true,
            netlink: true,
            sctp: true,
            dccp: true,
            vsock: true,
            tipc: true,
            xdp: true,
            ..Query::default()
        };
        let s = split(&all).expect("all tables");
        let mut order = s.before.tables();
        order.extend([Tcp4, Tcp6]);
        order.extend(s.after.tables());
        assert_eq!(order, all.tables());
        assert!(!s.after.tables().is_empty());
        // the states, filter program and extensions go with every part
        let q = Query { info: true, bytecode: Some(vec![1, 2, 3, 4]), ..Query::default() };
        let s = split(&q).expect("with options");
        assert!(s.tcp.info && s.tcp.bytecode == q.bytecode && s.before.bytecode == q.bytecode);
    }

    #[test]
    fn split_only_tcp_over_both_families() {
        assert_eq!(split(&Query { ipv6: false, ..Query::default() }), None);
        assert_eq!(split(&Query { ipv4: false, ..Query::default() }), None);
        assert_eq!(split(&Query { tcp: false, ..Query::default() }), None);
        assert_eq!(split(&Query { one_tcp_walk: true, ..Query::default() }), None);
    }
}
