//! Pure decoding of sock_diag messages into [`Socket`] records (the requests are encoded in
//! [`super::request`]). netlink crate types do not leave these modules: everything is converted to the model
//! here.

use netlink_packet_core::Parseable;
use netlink_packet_core::{NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NetlinkBuffer};
use netlink_packet_sock_diag::constants::{
    AF_INET, AF_INET6, INET_DIAG_BBRINFO, INET_DIAG_CLASS_ID, INET_DIAG_CONG, INET_DIAG_DCTCPINFO, INET_DIAG_INFO,
    INET_DIAG_MARK, INET_DIAG_PROTOCOL, INET_DIAG_SHUTDOWN, INET_DIAG_SKMEMINFO, INET_DIAG_SKV6ONLY, INET_DIAG_TCLASS,
    INET_DIAG_TOS, IPPROTO_TCP, IPPROTO_UDP, SOCK_DIAG_BY_FAMILY, UNIX_DIAG_ICONS, UNIX_DIAG_MEMINFO, UNIX_DIAG_NAME,
    UNIX_DIAG_PEER, UNIX_DIAG_RQLEN, UNIX_DIAG_SHUTDOWN, UNIX_DIAG_VFS,
};
use netlink_packet_sock_diag::inet::InetResponseHeader;
use netlink_packet_sock_diag::unix::UnixResponseHeader;

use crate::collect::Table;
use crate::model::internals::{BbrInfo, CcInfo, Details, Extra, MemInfo, MptcpInfo, TcpInfo};
use crate::model::{Endpoint, Family, Proto, Socket, State, Timer, UnixKind, UnixName};

/// `sizeof(struct nlmsghdr)` (netlink-packet-core keeps its `NETLINK_HEADER_LEN` private).
pub const NLMSG_HDRLEN: usize = 16;
/// The compat request type that dumps TCP of both families in one walk (and its replies' type).
pub const TCPDIAG_GETSOCK: u16 = 18;

const INET_DIAG_MSG_LEN: usize = 72;
const UNIX_DIAG_MSG_LEN: usize = 16;
// Beyond the crate's constants (it stops at INET_DIAG_MD5SIG): ULP info, cgroup id, inet socket options.
const INET_DIAG_ULP_INFO: u16 = 19;
const INET_DIAG_CGROUP_ID: u16 = 21;
const INET_DIAG_SOCKOPT: u16 = 22;

// The owner uid attribute (Linux 5.3+): the crate stops at UNIX_DIAG_SHUTDOWN.
const UNIX_DIAG_UID: u16 = 7;

/// What one netlink message in a dump said.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    Socket(Socket),
    /// A socket of a family we did not ask for (cannot happen with a correct kernel); skipped.
    Skip,
    /// End of the dump with the kernel's error code (0 = success, negative errno otherwise).
    Done(i32),
    /// An `NLMSG_ERROR` with its (negative) errno; 0 is a plain acknowledgement.
    Error(i32),
}

/// Walk the netlink messages in one `recv` buffer. Calls `each` per message; stops at the first decode error.
/// `details`: decode what `-e` and friends print (shutdown, cgroup, TOS, per-family details), which costs an
/// allocation per socket.
pub fn for_each_message(
    buf: &[u8],
    table: Table,
    details: bool,
    mut each: impl FnMut(Message) -> bool,
) -> Result<(), String> {
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let nl = NetlinkBuffer::new_checked(&buf[off..]).map_err(|e| format!("bad netlink header: {e}"))?;
        let len = nl.length() as usize;
        let payload = nl.payload();
        let msg = match nl.message_type() {
            NLMSG_DONE => Message::Done(read_i32(payload).unwrap_or(0)),
            NLMSG_ERROR => Message::Error(read_i32(payload).ok_or("truncated NLMSG_ERROR")?),
            NLMSG_NOOP => Message::Skip,
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => match table {
                Table::Unix => decode_unix(payload, details).map(Message::Socket)?,
                Table::Packet => decode_packet(payload, details)?,
                Table::Netlink => decode_netlink(payload, details)?,
                Table::Vsock | Table::Tipc | Table::Xdp => Message::Skip,
                _ => decode_inet(payload, table, details)?,
            },
            other => return Err(format!("unexpected netlink message type {other}")),
        };
        if !each(msg) {
            return Ok(());
        }
        off += (len + 3) & !3;
    }
    Ok(())
}

/// Does this buffer of a dump's replies end the dump: an `NLMSG_DONE`, an `NLMSG_ERROR` other than an
/// acknowledgement, or bytes that do not frame as netlink messages (the decoder then reports them)? Looks at
/// the headers only, so the thread that receives can stop without decoding.
pub fn ends_dump(buf: &[u8]) -> bool {
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let Ok(nl) = NetlinkBuffer::new_checked(&buf[off..]) else { return true };
        if (nl.length() as usize) < NLMSG_HDRLEN {
            return true;
        }
        match nl.message_type() {
            NLMSG_DONE => return true,
            NLMSG_ERROR if read_i32(nl.payload()) != Some(0) => return true,
            _ => {}
        }
        off += (nl.length() as usize + 3) & !3;
    }
    off < buf.len()
}

/// Walk the messages of one multicast datagram from the destroy groups: each is an `inet_diag_msg` whose
/// protocol is in an `INET_DIAG_PROTOCOL` attribute. Messages that do not decode are skipped (a bad one
/// from the kernel must not stop the stream); `each` gets every destroyed TCP or UDP socket.
pub fn for_each_broadcast(buf: &[u8], mut each: impl FnMut(Socket)) {
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let Ok(nl) = NetlinkBuffer::new_checked(&buf[off..]) else { return };
        let len = nl.length() as usize;
        if nl.message_type() == SOCK_DIAG_BY_FAMILY
            && let Some(Message::Socket(s)) = decode_destroyed(nl.payload())
        {
            each(s);
        }
        off += (len.max(NLMSG_HDRLEN) + 3) & !3;
    }
}

/// One destroyed socket from the multicast groups; `None` for what is not TCP or UDP or does not decode.
pub fn decode_destroyed(payload: &[u8]) -> Option<Message> {
    let mut protocol = None;
    for_each_attr(payload.get(INET_DIAG_MSG_LEN..)?, |kind, data| {
        if kind == INET_DIAG_PROTOCOL {
            protocol = data.first().copied();
        }
    })
    .ok()?;
    let family = *payload.first()?;
    let table = match (protocol?, family) {
        (IPPROTO_TCP, AF_INET) => Table::Tcp4,
        (IPPROTO_TCP, AF_INET6) => Table::Tcp6,
        (IPPROTO_UDP, AF_INET) => Table::Udp4,
        (IPPROTO_UDP, AF_INET6) => Table::Udp6,
        _ => return None,
    };
    decode_inet(payload, table, false).ok()
}

/// The congestion algorithm's name, shared: a dump of 200k sockets names the same one or two algorithms.
fn congestion_name(raw: &[u8]) -> std::sync::Arc<str> {
    use std::cell::RefCell;
    thread_local! {
        static LAST: RefCell<Option<std::sync::Arc<str>>> = const { RefCell::new(None) };
    }
    let name = String::from_utf8_lossy(raw);
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some(a) if **a == *name => a.clone(),
            _ => {
                let a: std::sync::Arc<str> = name.into();
                *last = Some(a.clone());
                a
            }
        }
    })
}

/// Walk netlink attributes (`struct nlattr` TLVs), calling `each(type, data)`.
fn for_each_attr(mut attrs: &[u8], mut each: impl FnMut(u16, &[u8])) -> Result<(), String> {
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            return Err(format!("attribute {kind} has bad length {len}"));
        }
        each(kind, &attrs[4..len]);
        attrs = attrs.get((len + 3) & !3..).unwrap_or(&[]);
    }
    Ok(())
}

fn read_i32(b: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(..4)?.try_into().ok()?))
}

fn read_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(..4)?.try_into().ok()?))
}

/// The kernel's 8-byte cookie as ss prints it: two host-order u32 words, low first.
fn cookie_u64(c: [u8; 8]) -> u64 {
    let lo = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) as u64;
    let hi = u32::from_ne_bytes([c[4], c[5], c[6], c[7]]) as u64;
    lo | (hi << 32)
}

/// Decode one `inet_diag_msg` (TCP or UDP) into a record.
pub fn decode_inet(payload: &[u8], table: Table, want_details: bool) -> Result<Message, String> {
    let h = InetResponseHeader::parse(payload).map_err(|e| format!("inet_diag_msg: {e}"))?;
    let family = match h.family {
        AF_INET => Family::Inet,
        AF_INET6 => Family::Inet6,
        _ => return Ok(Message::Skip),
    };
    if table != Table::TcpAll && family != table.family() {
        return Ok(Message::Skip);
    }
    // The crate already decoded the timer kind; take the raw fields back from the header bytes so that
    // unknown timer codes are kept rather than dropped. Layout: family, state, timer, retrans, id(48), expires.
    let timer_code = payload.get(2).copied().unwrap_or(0);
    let retrans = payload.get(3).copied().unwrap_or(0) as u32;
    let expires = payload.get(52..56).and_then(read_u32).unwrap_or(0) as u64;
    let id = &h.socket_id;
    let proto = table.proto();
    let attrs = payload.get(INET_DIAG_MSG_LEN..).unwrap_or(&[]);
    let InetAttrs { v6only, mark, extra } = inet_attrs(attrs, family, proto, want_details)?;
    Ok(Message::Socket(Socket {
        proto,
        family,
        state: State(h.state),
        local: Endpoint::Inet { ip: id.source_address, port: id.source_port },
        peer: Endpoint::Inet { ip: id.destination_address, port: id.destination_port },
        recv_q: Some(h.recv_queue),
        send_q: Some(h.send_queue),
        uid: Some(h.uid),
        inode: h.inode as u64,
        cookie: Some(cookie_u64(id.cookie)),
        ifindex: Some(id.interface_id),
        v6only,
        unix_kind: None,
        timer: Timer::from_code(timer_code, expires, retrans),
        mark,
        extra: (!extra.is_empty()).then(|| Box::new(extra)),
        netns: 0,
    }))
}

/// What an `inet_diag_msg`'s attributes carry beside the header.
struct InetAttrs {
    v6only: Option<bool>,
    mark: Option<u32>,
    extra: Extra,
}

/// Decode the attributes after an `inet_diag_msg` (the details only when they are wanted).
fn inet_attrs(attrs: &[u8], family: Family, proto: Proto, want_details: bool) -> Result<InetAttrs, String> {
    let mut v6only = None;
    let mut mark = None;
    let mut extra = Extra::default();
    let mut d = Details::default();
    for_each_attr(attrs, |kind, data| match kind {
        INET_DIAG_SKV6ONLY if family == Family::Inet6 => v6only = data.first().map(|b| *b != 0),
        INET_DIAG_MARK => mark = read_u32(data),
        INET_DIAG_INFO if proto == Proto::Tcp => extra.tcp_info = Some(TcpInfo::decode(data)),
        INET_DIAG_INFO if proto == Proto::Mptcp => d.mptcp = Some(MptcpInfo::decode(data)),
        INET_DIAG_CONG => {
            let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
            extra.congestion = Some(congestion_name(&data[..end]));
        }
        INET_DIAG_SKMEMINFO => extra.memory = Some(Box::new(MemInfo::decode(data))),
        INET_DIAG_BBRINFO => {
            let w = |o: usize| data.get(o..).and_then(read_u32).unwrap_or(0);
            extra.cc_info = Some(CcInfo::Bbr(BbrInfo {
                bw_bytes_per_s: w(0) as u64 | ((w(4) as u64) << 32),
                min_rtt_us: w(8),
                pacing_gain: w(12),
                cwnd_gain: w(16),
            }));
        }
        INET_DIAG_DCTCPINFO => {
            let h = |o: usize| data.get(o..o + 2).map_or(0, |v| u16::from_ne_bytes([v[0], v[1]]) as u32);
            let w = |o: usize| data.get(o..).and_then(read_u32).unwrap_or(0);
            extra.cc_info = Some(CcInfo::Dctcp([h(0), h(2), w(4), w(8), w(12)]));
        }
        INET_DIAG_ULP_INFO => decode_ulp(data, &mut d),
        INET_DIAG_SHUTDOWN if want_details => d.shutdown = data.first().copied(),
        INET_DIAG_CGROUP_ID if want_details => {
            d.cgroup_id = data.get(..8).and_then(|v| v.try_into().ok()).map(u64::from_ne_bytes)
        }
        INET_DIAG_TOS if want_details => d.tos = data.first().copied(),
        INET_DIAG_TCLASS if want_details => d.tclass = data.first().copied(),
        INET_DIAG_CLASS_ID if want_details => d.class_id = read_u32(data),
        INET_DIAG_SOCKOPT if want_details => {
            d.sockopt = data.get(..2).map(|v| u16::from_le_bytes([v[0], v[1]]));
        }
        _ => {}
    })?;
    if d != Details::default() {
        extra.details = Some(Box::new(d));
    }
    Ok(InetAttrs { v6only, mark, extra })
}

/// Decode one `unix_diag_msg` and its attributes into a record.
pub fn decode_unix(payload: &[u8], want_details: bool) -> Result<Socket, String> {
    let h = UnixResponseHeader::parse(payload).map_err(|e| format!("unix_diag_msg: {e}"))?;
    let mut name = None;
    let mut peer = 0u64;
    let mut queues = None;
    let mut uid = None;
    let mut memory = None;
    let mut d = Details::default();
    for_each_attr(payload.get(UNIX_DIAG_MSG_LEN..).unwrap_or(&[]), |kind, data| match kind {
        UNIX_DIAG_NAME => name = UnixName::from_sun_path(data),
        UNIX_DIAG_PEER => peer = read_u32(data).unwrap_or(0) as u64,
        UNIX_DIAG_RQLEN => {
            if let (Some(r), Some(w)) = (read_u32(data), data.get(4..).and_then(read_u32)) {
                queues = Some((r, w));
            }
        }
        UNIX_DIAG_UID => uid = read_u32(data),
        UNIX_DIAG_MEMINFO => memory = Some(MemInfo::decode(data)),
        UNIX_DIAG_SHUTDOWN if want_details => d.shutdown = data.first().copied(),
        UNIX_DIAG_VFS if want_details => {
            if let (Some(ino), Some(dev)) = (read_u32(data), data.get(4..).and_then(read_u32)) {
                d.unix_vfs = Some((ino, dev));
            }
        }
        UNIX_DIAG_ICONS if want_details => {
            d.unix_pending = Some(data.chunks_exact(4).filter_map(read_u32).collect());
        }
        _ => {}
    })?;
    let details = (d != Details::default()).then(|| Box::new(d));
    Ok(Socket {
        proto: Proto::Unix,
        family: Family::Unix,
        state: State(h.state),
        local: Endpoint::Unix { name, inode: h.inode as u64 },
        peer: Endpoint::Unix { name: None, inode: peer },
        recv_q: queues.map(|q| q.0),
        send_q: queues.map(|q| q.1),
        uid,
        inode: h.inode as u64,
        cookie: Some(cookie_u64(h.cookie)),
        ifindex: None,
        v6only: None,
        unix_kind: Some(UnixKind::from_raw(h.kind as u32)),
        timer: None,
        mark: None,
        extra: (memory.is_some() || details.is_some())
            .then(|| Box::new(Extra { memory: memory.map(Box::new), details, ..Extra::default() })),
        netns: 0,
    })
}

/// `INET_DIAG_ULP_INFO`: the ULP name and, for an MPTCP subflow, its attributes.
fn decode_ulp(data: &[u8], d: &mut Details) {
    let _ = for_each_attr(data, |kind, v| match kind {
        1 => {
            let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
            d.ulp = Some(String::from_utf8_lossy(&v[..end]).into_owned());
        }
        3 => {
            let mut sf = crate::model::internals::Subflow::default();
            let u32le = |v: &[u8]| {
                let mut b = [0u8; 4];
                for (i, x) in v.iter().take(4).enumerate() {
                    b[i] = *x;
                }
                u32::from_ne_bytes(b)
            };
            let _ = for_each_attr(v, |k, x| match k {
                1 => sf.token_rem = read_u32(x),
                2 => sf.token_loc = read_u32(x),
                4 => sf.map_seq = x.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_ne_bytes),
                5 => sf.map_sfseq = read_u32(x),
                6 => sf.ssn_offset = read_u32(x),
                7 => sf.map_datalen = Some(u32le(x)),
                8 => sf.flags = read_u32(x),
                9 => sf.id_rem = x.first().copied(),
                10 => sf.id_loc = x.first().copied(),
                _ => {}
            });
            d.subflow = Some(sf);
        }
        _ => {}
    });
}

/// Decode one `packet_diag_msg` (family, type, protocol, inode, cookie) and its attributes.
pub fn decode_packet(payload: &[u8], want_details: bool) -> Result<Message, String> {
    if payload.len() < 16 {
        return Err(format!("packet_diag_msg: {} bytes, need 16", payload.len()));
    }
    let kind = payload[1];
    let protocol = u16::from_ne_bytes([payload[2], payload[3]]);
    let inode = read_u32(&payload[4..]).unwrap_or(0) as u64;
    let cookie = cookie_u64(payload[8..16].try_into().unwrap_or([0; 8]));
    let (mut ifindex, mut uid, mut memory) = (0u32, None, None);
    let mut p = crate::model::internals::PacketDetails::default();
    let mut d = Details::default();
    let ring = |v: &[u8]| {
        let w = |o: usize| v.get(o..).and_then(read_u32).unwrap_or(0);
        [w(0), w(4), w(8), w(12), w(16), w(24)]
    };
    for_each_attr(&payload[16..], |k, v| match k {
        0 => {
            ifindex = read_u32(v).unwrap_or(0);
            p.version = v.get(4..).and_then(read_u32);
            p.copy_thresh = v.get(12..).and_then(read_u32);
            p.flags = v.get(20..).and_then(read_u32);
        }
        2 => p.rx_ring = Some(ring(v)),
        3 => p.tx_ring = Some(ring(v)),
        4 => p.fanout = read_u32(v),
        5 => uid = read_u32(v),
        6 => memory = Some(MemInfo::decode(v)),
        7 => {
            d.bpf = Some(
                v.chunks_exact(8)
                    .map(|c| (u16::from_ne_bytes([c[0], c[1]]), c[2], c[3], read_u32(&c[4..]).unwrap_or(0)))
                    .collect(),
            )
        }
        _ => {}
    })?;
    if want_details {
        d.packet = Some(p);
    }
    let recv_q = memory.and_then(|m| m.rmem_alloc).unwrap_or(0);
    let extra = Extra {
        memory: memory.map(Box::new),
        details: (d != Details::default()).then(|| Box::new(d)),
        ..Extra::default()
    };
    Ok(Message::Socket(Socket {
        proto: Proto::Packet,
        family: Family::Packet,
        state: State::CLOSE,
        local: Endpoint::Link { protocol, ifindex },
        peer: Endpoint::None,
        recv_q: Some(recv_q),
        send_q: Some(0),
        uid,
        inode,
        cookie: Some(cookie),
        ifindex: None,
        v6only: None,
        unix_kind: Some(UnixKind::from_raw(kind as u32)),
        timer: None,
        mark: None,
        extra: (!extra.is_empty()).then(|| Box::new(extra)),
        netns: 0,
    }))
}

/// Decode one `netlink_diag_msg` (family, type, protocol, state, portid, dst portid, dst group, inode,
/// cookie) and its attributes.
pub fn decode_netlink(payload: &[u8], want_details: bool) -> Result<Message, String> {
    if payload.len() < 28 {
        return Err(format!("netlink_diag_msg: {} bytes, need 28", payload.len()));
    }
    let w = |o: usize| read_u32(&payload[o..]).unwrap_or(0);
    let (protocol, connected) = (payload[2], payload[3] == 1);
    let (portid, dst_portid, dst_group, inode) = (w(4) as i32, w(8), w(12), w(16) as u64);
    let cookie = cookie_u64(payload[20..28].try_into().unwrap_or([0; 8]));
    let (mut memory, mut groups) = (None, None);
    for_each_attr(&payload[28..], |k, v| match k {
        0 => memory = Some(MemInfo::decode(v)),
        1 => groups = read_u32(v),
        _ => {}
    })?;
    let d = Details { netlink_groups: groups.filter(|_| want_details), ..Details::default() };
    let (recv_q, send_q) = memory.map_or((0, 0), |m: MemInfo| (m.rmem_alloc.unwrap_or(0), m.wmem_alloc.unwrap_or(0)));
    let extra = Extra {
        memory: memory.map(Box::new),
        details: (d != Details::default()).then(|| Box::new(d)),
        ..Extra::default()
    };
    Ok(Message::Socket(Socket {
        proto: Proto::Netlink,
        family: Family::Netlink,
        state: State::CLOSE,
        local: Endpoint::Netlink { protocol, portid },
        peer: if connected { Endpoint::NetlinkPeer { group: dst_group, portid: dst_portid } } else { Endpoint::None },
        recv_q: Some(recv_q),
        send_q: Some(send_q),
        uid: None,
        inode,
        cookie: Some(cookie),
        ifindex: None,
        v6only: None,
        unix_kind: None,
        timer: None,
        mark: None,
        extra: (!extra.is_empty()).then(|| Box::new(extra)),
        netns: 0,
    }))
}
