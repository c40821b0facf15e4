//! Encoding of sock_diag dump requests: the netlink message that asks for one table, its states, the
//! extensions a query wants and the kernel filter program (pure).

use netlink_packet_core::Emitable;
use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer};
use netlink_packet_sock_diag::constants::{
    AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, INET_DIAG_TCLASS, INET_DIAG_TOS, INET_DIAG_VEGASINFO, IPPROTO_TCP,
    IPPROTO_UDP, SOCK_DIAG_BY_FAMILY, UDIAG_SHOW_ICONS, UDIAG_SHOW_VFS,
};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::unix::{ShowFlags, StateFlags as UnixStateFlags, UnixRequest};

use super::decode::{NLMSG_HDRLEN, TCPDIAG_GETSOCK};
use crate::collect::{Query, Table};
use crate::model::{Family, Proto};

/// The request attribute that carries a protocol number above 255 (MPTCP); the crate's constants stop
/// before it.
const INET_DIAG_REQ_PROTOCOL: u16 = 3;
/// The show flag of the owner uid attribute (Linux 5.3+).
const UDIAG_SHOW_UID: u32 = 0x40;
/// The request attribute type that carries a program (`enum { INET_DIAG_REQ_NONE, INET_DIAG_REQ_BYTECODE }`).
const INET_DIAG_REQ_BYTECODE: u16 = 1;

/// The netlink attribute carrying a compiled filter program (`struct nlattr` + program, padded to 4 bytes),
/// appended after `inet_diag_req_v2`. The program comes compiled (`Query::bytecode`); this only frames it.
fn bytecode_attr(bc: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(4 + bc.len() + 3);
    a.extend_from_slice(&((4 + bc.len()) as u16).to_ne_bytes());
    a.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
    a.extend_from_slice(bc);
    a.resize(a.len().next_multiple_of(4), 0);
    a
}

/// Build the whole netlink message (header included) that asks for a dump of `table` in `states`, with a
/// filter program for the kernel on TCP/UDP tables (UNIX dumps take none).
pub fn dump_request(table: Table, q: &Query, bytecode: Option<&[u8]>, seq: u32) -> Vec<u8> {
    let mut payload = match table {
        Table::TcpAll => compat_request(q, bytecode),
        Table::Packet | Table::Netlink | Table::Vsock | Table::Tipc | Table::Xdp => family_request(table, q),
        Table::Raw4
        | Table::Raw6
        | Table::Mptcp4
        | Table::Mptcp6
        | Table::Sctp4
        | Table::Sctp6
        | Table::Dccp4
        | Table::Dccp6 => inet_request_v2(table, q, bytecode),
        Table::Unix => unix_request(q),
        _ => inet_request(table, q, bytecode),
    };
    let total = NLMSG_HDRLEN + payload.len();
    let mut msg = vec![0u8; NLMSG_HDRLEN];
    msg.append(&mut payload);
    let mut nl = NetlinkBuffer::new(&mut msg[..]);
    nl.set_length(total as u32);
    nl.set_message_type(if table == Table::TcpAll { TCPDIAG_GETSOCK } else { SOCK_DIAG_BY_FAMILY });
    nl.set_flags(NLM_F_REQUEST | NLM_F_DUMP);
    nl.set_sequence_number(seq);
    nl.set_port_number(0);
    msg
}

/// `struct inet_diag_req` (the compat request that walks TCP of both families): family, src_len, dst_len,
/// ext, id (48), states, dbs.
fn compat_request(q: &Query, bytecode: Option<&[u8]>) -> Vec<u8> {
    let mut b = vec![0u8; 60];
    b[3] = extensions(q).bits();
    b[52..56].copy_from_slice(&q.states.kernel_mask().to_ne_bytes());
    if let Some(bc) = bytecode {
        b.extend(bytecode_attr(bc));
    }
    b
}

/// `struct inet_diag_req_v2` by hand, for the protocols the crate's request cannot name (its protocol is a
/// u8; MPTCP is 262, sent in an `INET_DIAG_REQ_PROTOCOL` attribute).
fn inet_request_v2(table: Table, q: &Query, bytecode: Option<&[u8]>) -> Vec<u8> {
    let mut b = vec![0u8; 56];
    b[0] = if table.family() == Family::Inet6 { AF_INET6 } else { AF_INET };
    b[1] = (table.ip_protocol() & 0xff) as u8;
    b[2] = extensions(q).bits();
    b[4..8].copy_from_slice(&q.states.kernel_mask().to_ne_bytes());
    b[48..56].copy_from_slice(&[0xff; 8]);
    if let Some(bc) = bytecode {
        b.extend(bytecode_attr(bc));
    }
    if table.ip_protocol() > 255 {
        b.extend_from_slice(&8u16.to_ne_bytes());
        b.extend_from_slice(&INET_DIAG_REQ_PROTOCOL.to_ne_bytes());
        b.extend_from_slice(&table.ip_protocol().to_ne_bytes());
    }
    b
}

/// `struct unix_diag_req`: names, peers, queues and the owner always; memory and the VFS/icons details when
/// asked.
fn unix_request(q: &Query) -> Vec<u8> {
    let req = UnixRequest {
        state_flags: UnixStateFlags::from_bits_retain(q.states.kernel_mask()),
        inode: 0,
        show_flags: ShowFlags::from_bits_retain(
            ShowFlags::NAME.bits()
                | ShowFlags::PEER.bits()
                | ShowFlags::RQLEN.bits()
                | UDIAG_SHOW_UID
                | if q.memory { ShowFlags::MEMINFO.bits() } else { 0 }
                | if q.details { UDIAG_SHOW_VFS | UDIAG_SHOW_ICONS } else { 0 },
        ),
        cookie: [0xff; 8],
    };
    let mut b = vec![0u8; req.buffer_len()];
    req.emit(&mut b);
    b
}

/// The crate's `inet_diag_req_v2` for TCP and UDP of one family.
fn inet_request(table: Table, q: &Query, bytecode: Option<&[u8]>) -> Vec<u8> {
    let (family, socket_id) = match table.family() {
        Family::Inet6 => (AF_INET6, SocketId::new_v6()),
        _ => (AF_INET, SocketId::new_v4()),
    };
    let protocol = if table.proto() == Proto::Udp { IPPROTO_UDP } else { IPPROTO_TCP };
    let req = InetRequest {
        family,
        protocol,
        extensions: extensions(q),
        states: StateFlags::from_bits_retain(q.states.kernel_mask()),
        socket_id,
    };
    let mut b = vec![0u8; req.buffer_len()];
    req.emit(&mut b);
    if let Some(bc) = bytecode {
        b.extend(bytecode_attr(bc));
    }
    b
}

fn extensions(q: &Query) -> ExtensionFlags {
    let mut e = ExtensionFlags::empty();
    if q.info {
        // VEGASINFO also brings the congestion module's own state (BBR, DCTCP), as ss asks for it.
        e |= ExtensionFlags::INFO
            | ExtensionFlags::CONG
            | ExtensionFlags::from_bits_retain(1 << (INET_DIAG_VEGASINFO - 1));
    }
    if q.memory {
        e |= ExtensionFlags::SKMEMINFO;
    }
    if q.details {
        e |= ExtensionFlags::from_bits_retain((1 << (INET_DIAG_TOS - 1)) | (1 << (INET_DIAG_TCLASS - 1)));
    }
    e
}

/// The dump request of a non-inet family: `packet_diag_req`, `netlink_diag_req` (20 bytes: family,
/// protocol, pad, inode, show flags, cookie) and the like for vsock, TIPC and XDP.
fn family_request(table: Table, q: &Query) -> Vec<u8> {
    let mut b = vec![0u8; 24];
    let (family, protocol, show): (u8, u8, u32) = match table {
        // INFO | RING_CFG | FANOUT | MEMINFO | FILTER, as ss asks.
        Table::Packet => (AF_PACKET, 0, 0x01 | 0x04 | 0x08 | 0x10 | 0x20),
        // NDIAG_PROTO_ALL; GROUPS | MEMINFO.
        Table::Netlink => (AF_NETLINK, 255, 0x01 | 0x02),
        // vsock_diag_req: family, protocol, pad, states, inode, cookie.
        Table::Vsock => (40, 0, q.states.kernel_mask()),
        Table::Tipc => (30, 0, q.states.kernel_mask()),
        _ => (44, 0, 0x1f),
    };
    b[0] = family;
    b[1] = protocol;
    let off = if matches!(table, Table::Vsock | Table::Tipc) { 4 } else { 8 };
    b[off..off + 4].copy_from_slice(&show.to_ne_bytes());
    // vsock_diag_req is 24 bytes (its kernel handler refuses a shorter one with EINVAL); the others 20.
    b.truncate(if table == Table::Vsock { 24 } else { 20 });
    b
}
