//! What a collection asks for: [`Query`] (tables, families, states, the kernel filter, what each record
//! carries) and the tables it needs, in ss's order.

use super::Table;
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
    /// restored: see [`super::netlink::walk`].)
    pub one_tcp_walk: bool,
    /// Receive each dump on a thread of its own and decode beside it, so the kernel's walk never waits for
    /// the decoder: a listing's wall time. It costs some CPU (the replies cross cores), which a live view
    /// that refreshes for hours saves by decoding where it receives.
    pub receive_thread: bool,
    /// Drop a record the dump repeats (by cookie within a bounded window: a dump is not atomic, see
    /// [`super::netlink::FirstByCookie`]). A live view that matches every socket by its cookie anyway (the
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

#[cfg(test)]
mod tests {
    use super::*;

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
