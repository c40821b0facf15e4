//! The kernel's socket tables: one netlink dump request or one `/proc/net` file each, with what each
//! holds (protocol, family) and the diag module that serves it.

use std::fmt;

use crate::model::{Family, Proto};

/// One kernel socket table: one netlink dump request or one `/proc/net` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Tcp4,
    Tcp6,
    /// TCP over both families in one walk of the kernel's hash table (the older `TCPDIAG_GETSOCK` request,
    /// which dumps `AF_UNSPEC`). Both families live in one table, so a per-family dump walks it twice; a
    /// live view that refreshes every second saves that second walk.
    TcpAll,
    Udp4,
    Udp6,
    Unix,
    Raw4,
    Raw6,
    Mptcp4,
    Mptcp6,
    /// `AF_PACKET` sockets (`packet_diag`).
    Packet,
    /// `AF_NETLINK` sockets (`netlink_diag`).
    Netlink,
    Sctp4,
    Sctp6,
    Dccp4,
    Dccp6,
    Vsock,
    Tipc,
    Xdp,
}

impl Table {
    pub fn proto(self) -> Proto {
        match self {
            Table::Tcp4 | Table::Tcp6 | Table::TcpAll | Table::Dccp4 | Table::Dccp6 => Proto::Tcp,
            Table::Udp4 | Table::Udp6 => Proto::Udp,
            Table::Unix => Proto::Unix,
            Table::Raw4 | Table::Raw6 => Proto::Raw,
            Table::Mptcp4 | Table::Mptcp6 => Proto::Mptcp,
            Table::Sctp4 | Table::Sctp6 => Proto::Sctp,
            Table::Packet => Proto::Packet,
            Table::Netlink | Table::Vsock | Table::Tipc | Table::Xdp => Proto::Netlink,
        }
    }
    pub fn family(self) -> Family {
        match self {
            Table::Tcp4 | Table::Udp4 | Table::Raw4 | Table::Mptcp4 | Table::Sctp4 | Table::Dccp4 => Family::Inet,
            Table::Tcp6 | Table::Udp6 | Table::TcpAll | Table::Raw6 | Table::Mptcp6 | Table::Sctp6 | Table::Dccp6 => {
                Family::Inet6
            }
            Table::Unix => Family::Unix,
            Table::Packet => Family::Packet,
            Table::Netlink | Table::Vsock | Table::Tipc | Table::Xdp => Family::Netlink,
        }
    }
    /// The protocol's name for messages: `SCTP`, `DCCP`, `vsock`...
    pub fn proto_label(self) -> String {
        let s = self.to_string();
        s.split('/').next().unwrap_or(&s).to_string()
    }

    /// The IP protocol number of an inet table (for the dump request).
    pub fn ip_protocol(self) -> u32 {
        match self {
            Table::Udp4 | Table::Udp6 => 17,
            Table::Raw4 | Table::Raw6 => 255,
            Table::Mptcp4 | Table::Mptcp6 => 262,
            Table::Sctp4 | Table::Sctp6 => 132,
            Table::Dccp4 | Table::Dccp6 => 33,
            _ => 6,
        }
    }
    /// True for the tables of TCP/UDP-like `inet_diag` dumps.
    pub fn is_inet(self) -> bool {
        matches!(self.family(), Family::Inet | Family::Inet6)
    }
    /// The `/proc/net` file that holds this table.
    pub fn proc_file(self) -> &'static str {
        match self {
            Table::Tcp4 | Table::TcpAll => "tcp",
            Table::Tcp6 => "tcp6",
            Table::Udp4 => "udp",
            Table::Udp6 => "udp6",
            Table::Unix => "unix",
            Table::Raw4 => "raw",
            Table::Raw6 => "raw6",
            Table::Packet => "packet",
            Table::Netlink => "netlink",
            Table::Sctp4 | Table::Sctp6 => "sctp/eps",
            Table::Mptcp4 | Table::Mptcp6 | Table::Dccp4 | Table::Dccp6 => "",
            Table::Vsock | Table::Tipc | Table::Xdp => "",
        }
    }
    /// The kernel module that serves this table over netlink.
    pub fn diag_module(self) -> &'static str {
        match self {
            Table::Tcp4 | Table::Tcp6 | Table::TcpAll => "tcp_diag",
            Table::Udp4 | Table::Udp6 => "udp_diag",
            Table::Unix => "unix_diag",
            Table::Raw4 | Table::Raw6 => "raw_diag",
            Table::Mptcp4 | Table::Mptcp6 => "mptcp_diag",
            Table::Packet => "af_packet_diag",
            Table::Netlink => "netlink_diag",
            Table::Sctp4 | Table::Sctp6 => "sctp_diag",
            Table::Dccp4 | Table::Dccp6 => "dccp_diag",
            Table::Vsock => "vsock_diag",
            Table::Tipc => "tipc_diag",
            Table::Xdp => "xsk_diag",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Table::Tcp4 => "TCP/IPv4",
            Table::Tcp6 => "TCP/IPv6",
            Table::TcpAll => "TCP",
            Table::Udp4 => "UDP/IPv4",
            Table::Udp6 => "UDP/IPv6",
            Table::Unix => "UNIX",
            Table::Raw4 => "RAW/IPv4",
            Table::Raw6 => "RAW/IPv6",
            Table::Mptcp4 => "MPTCP/IPv4",
            Table::Mptcp6 => "MPTCP/IPv6",
            Table::Packet => "PACKET",
            Table::Netlink => "NETLINK",
            Table::Sctp4 => "SCTP/IPv4",
            Table::Sctp6 => "SCTP/IPv6",
            Table::Dccp4 => "DCCP/IPv4",
            Table::Dccp6 => "DCCP/IPv6",
            Table::Vsock => "VSOCK",
            Table::Tipc => "TIPC",
            Table::Xdp => "XDP",
        })
    }
}
