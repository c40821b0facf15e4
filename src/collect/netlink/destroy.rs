//! Sockets ending and ended on purpose: the sock_diag destroy multicast groups (what `ss -E` reads: one message
//! per TCP/UDP socket the kernel frees, with its last tcp_info) and `SOCK_DESTROY` (what `ss -K` sends).

use std::io;
use std::time::Duration;

use netlink_packet_core::{Emitable, NLM_F_ACK, NLM_F_REQUEST, NetlinkBuffer};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_sys::{Socket as NlSocket, SocketAddr, protocols::NETLINK_SOCK_DIAG};

use super::decode::{self, Message};
use crate::model::{Endpoint, Family, Proto, Socket};

/// `SKNLGRP_INET_TCP_DESTROY`, `..._INET_UDP_DESTROY`, `..._INET6_TCP_DESTROY`, `..._INET6_UDP_DESTROY`.
const DESTROY_GROUPS: [u32; 4] = [1, 2, 3, 4];
/// The `SOCK_DESTROY` request type (include/uapi/linux/sock_diag.h).
const SOCK_DESTROY: u16 = 21;
/// Receive buffer asked for the multicast socket: a burst of closes must not overflow it. Root may exceed
/// `net.core.rmem_max` with `SO_RCVBUFFORCE`.
const EVENTS_RCVBUF: usize = 32 << 20;

/// Why the destroy groups cannot be joined.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// Joining needs CAP_NET_ADMIN in the socket's network namespace.
    #[error("the kernel's socket-destroy events need CAP_NET_ADMIN (run as root)")]
    NeedsPrivilege,
    #[error("cannot subscribe to the kernel's socket-destroy events: {0}")]
    Io(io::Error),
}

/// A subscription to the destroy multicast groups.
pub struct DestroyEvents {
    sock: NlSocket,
    buf: Vec<u8>,
}

/// What one [`DestroyEvents::recv`] call brought.
#[derive(Debug, Default)]
pub struct Received {
    /// The kernel dropped messages because our receive buffer was full (`ENOBUFS`): some closes were lost.
    pub overflowed: bool,
    /// Messages were still queued when the time was up.
    pub backlog: bool,
}

impl DestroyEvents {
    /// Join the four destroy groups (TCP and UDP over IPv4 and IPv6).
    pub fn subscribe() -> Result<DestroyEvents, SubscribeError> {
        DestroyEvents::subscribe_for(true, true, true, true)
    }

    /// Join the destroy groups of these protocols and families only (so that [`DestroyEvents::dropped`]
    /// counts messages about them alone).
    pub fn subscribe_for(tcp: bool, udp: bool, ipv4: bool, ipv6: bool) -> Result<DestroyEvents, SubscribeError> {
        let io_err = |e: io::Error| match e.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => SubscribeError::NeedsPrivilege,
            _ => SubscribeError::Io(e),
        };
        let mut sock = NlSocket::new(NETLINK_SOCK_DIAG).map_err(io_err)?;
        sock.bind_auto().map_err(io_err)?;
        let [tcp4, udp4, tcp6, udp6] = DESTROY_GROUPS;
        for (g, wanted) in [(tcp4, tcp && ipv4), (udp4, udp && ipv4), (tcp6, tcp && ipv6), (udp6, udp && ipv6)] {
            if wanted {
                sock.add_membership(g).map_err(io_err)?;
            }
        }
        set_rcvbuf(&sock, EVENTS_RCVBUF);
        sock.set_non_blocking(true).map_err(io_err)?;
        Ok(DestroyEvents { sock, buf: Vec::with_capacity(256 * 1024) })
    }

    /// How many destroy messages the kernel dropped since the subscription because the receive buffer was
    /// full (a 32-bit counter that wraps); `None` when the kernel does not say. One message is one socket.
    pub fn dropped(&self) -> Option<u32> {
        use std::os::fd::AsFd;
        crate::sys::socket_drops(self.sock.as_fd())
    }

    /// Wait up to `timeout` for messages, then take what is queued, until the queue is empty or `timeout` has
    /// passed (a steady stream must not keep the caller here forever); each destroyed socket is pushed to
    /// `out` (with its last tcp_info for TCP).
    pub fn recv(&mut self, timeout: Duration, out: &mut Vec<Socket>) -> io::Result<Received> {
        let mut got = Received::default();
        // A backlog is taken for at least a quarter second even when the caller has no time to wait: a short
        // wait must not leave messages queued until the buffer overflows.
        let deadline = std::time::Instant::now() + timeout.max(Duration::from_millis(250));
        if !poll_readable(&self.sock, timeout)? {
            return Ok(got);
        }
        for n in 0u64.. {
            if n % 256 == 255 && std::time::Instant::now() >= deadline {
                got.backlog = true;
                return Ok(got);
            }
            self.buf.clear();
            match self.sock.recv(&mut self.buf, 0) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(got),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    got.overflowed = true;
                    continue;
                }
                Err(e) => return Err(e),
            }
            decode::for_each_broadcast(&self.buf, |s| out.push(s));
        }
        Ok(got)
    }
}

/// Wait until `sock` is readable or `timeout` passes.
fn poll_readable(sock: &NlSocket, timeout: Duration) -> io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(sock, PollFlags::IN)];
    let ts = Timespec { tv_sec: timeout.as_secs() as i64, tv_nsec: timeout.subsec_nanos() as i64 };
    match rustix::event::poll(&mut fds, Some(&ts)) {
        Ok(n) => Ok(n > 0),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Root may exceed `net.core.rmem_max` (SO_RCVBUFFORCE); others get what the limit allows.
fn set_rcvbuf(sock: &NlSocket, bytes: usize) {
    use rustix::net::sockopt;
    if sockopt::set_socket_recv_buffer_size_force(sock, bytes).is_err() {
        let _ = sockopt::set_socket_recv_buffer_size(sock, bytes);
    }
}

/// Why the kernel did not close a socket.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DestroyError {
    #[error("closing sockets needs CAP_NET_ADMIN (run as root)")]
    NeedsPrivilege,
    #[error("this kernel cannot close sockets on request (built without CONFIG_INET_DIAG_DESTROY)")]
    Unsupported,
    #[error("the socket is already gone")]
    Gone,
    #[error("only TCP and UDP sockets can be closed this way")]
    NotInet,
    #[error("{0}")]
    Other(String),
}

impl DestroyError {
    fn from_errno(errno: i32) -> DestroyError {
        match errno {
            libc::EPERM | libc::EACCES => DestroyError::NeedsPrivilege,
            libc::EOPNOTSUPP => DestroyError::Unsupported,
            libc::ENOENT => DestroyError::Gone,
            e => DestroyError::Other(io::Error::from_raw_os_error(e).to_string()),
        }
    }
}

/// The `SOCK_DESTROY` request for one socket: its tuple, interface and cookie (the kernel checks the cookie,
/// so a new socket that reused the tuple is not hit). `peer_port`, when given, replaces the peer's port of an
/// unconnected socket (see [`Destroyer::destroy_probing`]).
pub fn destroy_request(s: &Socket, seq: u32, peer_port: Option<u16>) -> Result<Vec<u8>, DestroyError> {
    let (Endpoint::Inet { ip: lip, port: lport }, Endpoint::Inet { ip: pip, port: pport }) = (&s.local, &s.peer) else {
        return Err(DestroyError::NotInet);
    };
    let protocol = match s.proto {
        Proto::Tcp => IPPROTO_TCP,
        Proto::Udp => IPPROTO_UDP,
        _ => return Err(DestroyError::NotInet),
    };
    let (family, mut id) = match s.family {
        Family::Inet6 => (AF_INET6, SocketId::new_v6()),
        _ => (AF_INET, SocketId::new_v4()),
    };
    id.source_port = *lport;
    id.destination_port = peer_port.unwrap_or(*pport);
    id.source_address = *lip;
    id.destination_address = *pip;
    id.interface_id = s.ifindex.unwrap_or(0);
    id.cookie = match s.cookie {
        Some(c) => {
            let mut b = [0u8; 8];
            b[..4].copy_from_slice(&(c as u32).to_ne_bytes());
            b[4..].copy_from_slice(&((c >> 32) as u32).to_ne_bytes());
            b
        }
        None => [0xff; 8],
    };
    let req = InetRequest {
        family,
        protocol,
        extensions: ExtensionFlags::empty(),
        states: StateFlags::from_bits_retain(u32::MAX),
        socket_id: id,
    };
    let mut msg = vec![0u8; decode::NLMSG_HDRLEN + req.buffer_len()];
    req.emit(&mut msg[decode::NLMSG_HDRLEN..]);
    let total = msg.len() as u32;
    let mut nl = NetlinkBuffer::new(&mut msg[..]);
    nl.set_length(total);
    nl.set_message_type(SOCK_DESTROY);
    nl.set_flags(NLM_F_REQUEST | NLM_F_ACK);
    nl.set_sequence_number(seq);
    nl.set_port_number(0);
    Ok(msg)
}

/// Sends `SOCK_DESTROY` requests on one netlink socket.
pub struct Destroyer {
    sock: NlSocket,
    seq: u32,
}

impl Destroyer {
    pub fn open() -> io::Result<Destroyer> {
        let mut sock = NlSocket::new(NETLINK_SOCK_DIAG)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Destroyer { sock, seq: 0 })
    }

    /// Ask the kernel to close `s` (a TCP socket gets a reset sent to its peer) and wait for its answer.
    /// `Gone` means the kernel's lookup by the socket's addresses found no socket with its cookie: it may be
    /// closed, or the lookup may have found another member of its `SO_REUSEPORT` group.
    pub fn destroy(&mut self, s: &Socket) -> Result<(), DestroyError> {
        self.send(s, None)
    }

    /// [`destroy`](Self::destroy) for an unconnected member of a `SO_REUSEPORT` group (a listener, a bound
    /// UDP socket). The kernel finds the socket to close by a lookup of its addresses, and in such a group
    /// that lookup picks one member by a hash of the peer's address and port: the same member every time
    /// for the socket's own (wildcard) peer. Varying the peer's port varies the member picked; the kernel
    /// closes only the one whose cookie is the socket's, so no other socket can be hit. Up to `tries`
    /// requests; `Gone` when none found it.
    pub fn destroy_probing(&mut self, s: &Socket, tries: u16) -> Result<(), DestroyError> {
        for port in 1..=tries.max(1) {
            match self.send(s, Some(port)) {
                Err(DestroyError::Gone) => continue,
                other => return other,
            }
        }
        Err(DestroyError::Gone)
    }

    fn send(&mut self, s: &Socket, peer_port: Option<u16>) -> Result<(), DestroyError> {
        self.seq = self.seq.wrapping_add(1);
        let req = destroy_request(s, self.seq, peer_port)?;
        let io = |e: io::Error| match e.raw_os_error() {
            Some(n) => DestroyError::from_errno(n),
            None => DestroyError::Other(e.to_string()),
        };
        self.sock.send(&req, 0).map_err(io)?;
        let mut buf = Vec::with_capacity(8192);
        loop {
            buf.clear();
            match self.sock.recv(&mut buf, 0) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(e)),
            }
            let mut answer = None;
            decode::for_each_message(&buf, crate::collect::Table::Tcp4, false, |m| {
                if let Message::Error(code) | Message::Done(code) = m {
                    answer = Some(code);
                    return false;
                }
                true
            })
            .map_err(DestroyError::Other)?;
            match answer {
                Some(0) => return Ok(()),
                Some(code) => return Err(DestroyError::from_errno(-code)),
                None => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::State;
    use std::net::Ipv4Addr;

    #[test]
    fn destroy_request_carries_tuple_and_cookie() {
        let mut s = Socket::inet(
            Proto::Tcp,
            State::ESTABLISHED,
            (Ipv4Addr::new(127, 0, 0, 1).into(), 5000),
            (Ipv4Addr::new(127, 0, 0, 2).into(), 40000),
        );
        s.cookie = Some(0x1122_3344_5566_7788);
        let m = destroy_request(&s, 7, None).unwrap();
        let nl = NetlinkBuffer::new_checked(&m[..]).unwrap();
        assert_eq!(nl.message_type(), SOCK_DESTROY);
        assert_eq!(nl.length() as usize, m.len());
        let p = nl.payload();
        assert_eq!((p[0], p[1]), (AF_INET, IPPROTO_TCP));
        // inet_diag_sockid after family, protocol, ext, pad, states: ports big-endian, then addresses.
        assert_eq!(&p[8..12], &[0x13, 0x88, 0x9c, 0x40]);
        assert_eq!(&p[12..16], &[127, 0, 0, 1]);
        assert_eq!(&p[28..32], &[127, 0, 0, 2]);
        let cookie = &p[48..56];
        assert_eq!(u32::from_ne_bytes(cookie[..4].try_into().unwrap()), 0x5566_7788);
        assert_eq!(u32::from_ne_bytes(cookie[4..].try_into().unwrap()), 0x1122_3344);
    }

    #[test]
    fn unix_sockets_cannot_be_destroyed() {
        let s = Socket {
            proto: Proto::Unix,
            family: Family::Unix,
            local: Endpoint::Unix { name: None, inode: 1 },
            peer: Endpoint::Unix { name: None, inode: 2 },
            ..Socket::inet(
                Proto::Tcp,
                State::ESTABLISHED,
                (Ipv4Addr::LOCALHOST.into(), 1),
                (Ipv4Addr::LOCALHOST.into(), 2),
            )
        };
        assert_eq!(destroy_request(&s, 1, None), Err(DestroyError::NotInet));
    }

    #[test]
    fn errno_names_the_cause() {
        assert_eq!(DestroyError::from_errno(libc::EPERM), DestroyError::NeedsPrivilege);
        assert_eq!(DestroyError::from_errno(libc::EOPNOTSUPP), DestroyError::Unsupported);
        assert_eq!(DestroyError::from_errno(libc::ENOENT), DestroyError::Gone);
    }
}
