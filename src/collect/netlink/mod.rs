//! The netlink `sock_diag` collector: one dump request per table, run in parallel, records deduplicated by
//! socket cookie; both TCP tables from one kernel walk ([`walk`]). Decoding lives in [`decode`]; this module
//! owns the sockets and the multipart loop.

pub mod decode;
pub mod destroy;
pub mod dump;
pub mod request;
#[cfg(test)]
mod tests;
pub(crate) mod walk;

use std::io;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Duration;

use netlink_sys::{Socket as NlSocket, protocols::NETLINK_SOCK_DIAG};

use super::{CollectError, Collector, Query, Sink, Snapshot, Streamed, Table};
use crate::hash::FastSet;
use crate::model::Socket;
use decode::Message;

/// Size of each `recv` buffer. The kernel fills at most ~32 KiB per dump step; twice that leaves room.
const RECV_BUF: usize = 64 * 1024;
/// Socket receive buffer asked for (the kernel may cap it at `net.core.rmem_max`).
const SO_RCVBUF: usize = 1 << 20;
/// A dump that stalls this long is reported as an error instead of hanging the tool.
const RECV_TIMEOUT: Duration = Duration::from_secs(30);
/// Received buffers waiting to be decoded (each holds up to ~32 KiB of replies).
const BUFFERS_AHEAD: usize = 16;

#[derive(Debug, Default)]
pub struct NetlinkCollector {
    _private: (),
}

impl NetlinkCollector {
    pub fn new() -> Self {
        NetlinkCollector::default()
    }
}

impl Collector for NetlinkCollector {
    /// Table after table, in order, each streamed as the kernel sends it (the later ones dumped ahead; both
    /// TCP tables from one walk: see [`walk`]).
    fn stream(&mut self, q: &Query, sink: &mut Sink<'_>) -> Result<Snapshot, CollectError> {
        walk::stream_tables(q, sink, &|t, sink| stream_table(t, q, sink).map(|_| Streamed::netlink()))
    }
}

fn open_socket() -> io::Result<NlSocket> {
    let mut sock = NlSocket::new(NETLINK_SOCK_DIAG)?;
    sock.bind_auto()?;
    // Not connected: a connected netlink socket shows up in netlink listings with a peer, ss's does not.
    // Best effort: a smaller buffer only costs more system calls.
    let _ = sock.set_rx_buf_sz(SO_RCVBUF);
    set_recv_timeout(&sock, RECV_TIMEOUT);
    Ok(sock)
}

fn set_recv_timeout(sock: &NlSocket, d: Duration) {
    // Best effort, like the buffer size: without it a stuck dump blocks instead of failing.
    let _ = rustix::net::sockopt::set_socket_timeout(sock, rustix::net::sockopt::Timeout::Recv, Some(d));
}

/// Is this errno "netlink / sock_diag is not there" rather than a failure of the dump itself?
fn is_unavailable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::EACCES | libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT | libc::ENOSYS | libc::EINVAL)
    )
}

/// Sockets handed to a sink at a time.
pub const BATCH: usize = 1024;

/// Run one dump to completion, handing the sockets to `sink` in batches of up to [`BATCH`] as the kernel
/// sends them, without duplicates (by cookie). Returns `Ok(false)` when `sink` asked to stop. A kernel that
/// rejects the filter program (EINVAL: too old, or a construct it does not know) gets the request again
/// without it: callers filter in userspace anyway.
pub fn stream_table(table: Table, q: &Query, sink: &mut Sink<'_>) -> Result<bool, CollectError> {
    let bc = if table.is_inet() { q.bytecode.as_deref() } else { None };
    let errno = |e: &CollectError| match e {
        CollectError::Netlink { error, .. } | CollectError::NetlinkUnavailable(error) => error.raw_os_error(),
        _ => None,
    };
    let sent = std::sync::atomic::AtomicBool::new(false);
    let mut counting = |batch: Vec<Socket>| {
        sent.store(true, std::sync::atomic::Ordering::Relaxed);
        sink(batch)
    };
    match dump_once(table, q, bc, &mut counting) {
        // The kernel refuses a program before it sends any socket: ask again without it.
        Err(e)
            if bc.is_some() && !sent.load(std::sync::atomic::Ordering::Relaxed) && errno(&e) == Some(libc::EINVAL) =>
        {
            dump_once(table, q, None, &mut counting)
        }
        Err(e) if bc.is_some() && errno(&e) == Some(libc::EPERM) => Err(CollectError::FilterNeedsPrivilege { table }),
        r => r,
    }
}

fn dump_once(table: Table, q: &Query, bytecode: Option<&[u8]>, sink: &mut Sink<'_>) -> Result<bool, CollectError> {
    dump_once_into(table, q, bytecode, sink, None)
}

/// Write the raw replies of TCP dumps (IPv4, then IPv6, as the query asks) to `path` (`-`: stdout), as
/// `ss -D` does: each netlink message as the kernel sent it, each dump ending in its `NLMSG_DONE`. Returns
/// the number of bytes written.
pub fn write_tcp_dump(q: &Query, path: &std::path::Path) -> Result<usize, CollectError> {
    use std::io::Write;
    let io_err = |e: io::Error| CollectError::ProcIo { path: path.to_path_buf(), error: e };
    let mut out: Box<dyn Write> = if path.as_os_str() == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(path).map_err(io_err)?)
    };
    let mut buf = Vec::new();
    for (on, table) in [(q.ipv4, Table::Tcp4), (q.ipv6, Table::Tcp6)] {
        if on {
            dump_once_into(table, q, q.bytecode.as_deref(), &mut |_| true, Some(&mut buf))?;
        }
    }
    out.write_all(&buf).and_then(|_| out.flush()).map_err(io_err)?;
    Ok(buf.len())
}

fn dump_once_into(
    table: Table,
    q: &Query,
    bytecode: Option<&[u8]>,
    sink: &mut Sink<'_>,
    raw: Option<&mut Vec<u8>>,
) -> Result<bool, CollectError> {
    let sock = send_request(table, q, bytecode)?;
    let mut d = Decoder {
        table,
        details: q.details,
        first: q.dedupe.then(FirstByCookie::default),
        batch: Vec::with_capacity(BATCH),
        end: None,
        raw,
    };
    let step = receive_all(&sock, table, q.receive_thread, &mut |buf| d.take(buf, sink))?;
    if step == Step::Stop {
        return Ok(false);
    }
    dump_status(table, d.end)?;
    Ok(d.batch.is_empty() || sink(d.batch))
}

/// Open a `sock_diag` socket and send the dump request of `table`.
fn send_request(table: Table, q: &Query, bytecode: Option<&[u8]>) -> Result<NlSocket, CollectError> {
    let failed = |e: io::Error| {
        if is_unavailable(&e) { CollectError::NetlinkUnavailable(e) } else { CollectError::Netlink { table, error: e } }
    };
    let sock = open_socket().map_err(failed)?;
    let req = request::dump_request(table, q, bytecode, 1);
    sock.send(&req, 0).map_err(failed)?;
    Ok(sock)
}

/// One dump's decoding: buffers of replies into batches of records, without the repeats.
struct Decoder<'a> {
    table: Table,
    details: bool,
    first: Option<FirstByCookie>,
    /// Never grown past [`BATCH`]: a batch past the allocator's large-block size would cost a map, its page
    /// faults and a copy.
    batch: Vec<Socket>,
    /// The code of the message that ended the dump.
    end: Option<i32>,
    /// `-D`: the replies as the kernel sent them.
    raw: Option<&'a mut Vec<u8>>,
}

impl Decoder<'_> {
    /// Decode one buffer of replies into the batch, which goes to `sink` as soon as it is full.
    fn take(&mut self, buf: &[u8], sink: &mut Sink<'_>) -> Result<Step, CollectError> {
        if let Some(r) = self.raw.as_deref_mut() {
            r.extend_from_slice(buf);
        }
        let Decoder { table, first, batch, end, .. } = self;
        let mut stopped = false;
        decode::for_each_message(buf, *table, self.details, |m| match m {
            Message::Socket(s) => {
                if first.as_mut().is_none_or(|f| f.keep(&s)) {
                    batch.push(s);
                    if batch.len() == BATCH && !sink(std::mem::replace(batch, Vec::with_capacity(BATCH))) {
                        stopped = true;
                        return false;
                    }
                }
                true
            }
            Message::Skip | Message::Error(0) => true,
            Message::Done(code) | Message::Error(code) => {
                *end = Some(code);
                false
            }
        })
        .map_err(|msg| CollectError::Malformed { table: *table, msg })?;
        Ok(if stopped {
            Step::Stop
        } else if end.is_some() {
            Step::End
        } else {
            Step::More
        })
    }
}

/// Receive the replies and hand each buffer to `take` until it says the dump ended or stopped. With
/// `on_thread`, one thread only receives, so the kernel's walk never waits for the decoding: the replies go
/// over as raw buffers, and the buffers come back to be filled again.
fn receive_all(
    sock: &NlSocket,
    table: Table,
    on_thread: bool,
    take: &mut dyn FnMut(&[u8]) -> Result<Step, CollectError>,
) -> Result<Step, CollectError> {
    if !on_thread {
        let mut buf: Vec<u8> = Vec::with_capacity(RECV_BUF);
        loop {
            buf.clear();
            match sock.recv(&mut buf, 0) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CollectError::Netlink { table, error: e }),
            }
            let step = take(&buf)?;
            if step != Step::More {
                return Ok(step);
            }
        }
    }
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(BUFFERS_AHEAD);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|s| {
        s.spawn(move || receive(sock, &full_tx, &empty_rx));
        // Owned here, so that returning early closes the channel and the receiver is not left blocked.
        let (full_rx, empty_tx) = (full_rx, empty_tx);
        for buf in full_rx.iter() {
            let buf = buf.map_err(|e| CollectError::Netlink { table, error: e })?;
            let step = take(&buf)?;
            // A closed return channel only means the receiver is done.
            let _ = empty_tx.send(buf);
            if step != Step::More {
                return Ok(step);
            }
        }
        Ok(Step::More)
    })
}

/// What the message that ended a dump (`end`: its code) says of it: done, or which error.
fn dump_status(table: Table, end: Option<i32>) -> Result<(), CollectError> {
    let Some(end) = end else {
        return Err(CollectError::Malformed { table, msg: "the dump ended without NLMSG_DONE".into() });
    };
    match end {
        0 => Ok(()),
        code if -code == libc::ENOENT || -code == libc::EOPNOTSUPP => Err(CollectError::Unsupported { table }),
        code => {
            let e = io::Error::from_raw_os_error(-code);
            Err(if is_unavailable(&e) {
                CollectError::NetlinkUnavailable(e)
            } else {
                CollectError::Netlink { table, error: e }
            })
        }
    }
}

/// Receive a dump's replies until the one that ends it, handing each buffer over as it is filled (and
/// reusing the ones handed back). Stops at the first error, which is handed over too, or once nobody listens.
fn receive(sock: &NlSocket, full: &SyncSender<io::Result<Vec<u8>>>, empty: &Receiver<Vec<u8>>) {
    loop {
        let mut buf = empty.try_recv().unwrap_or_else(|_| Vec::with_capacity(RECV_BUF));
        buf.clear();
        let got = match sock.recv(&mut buf, 0) {
            Ok(_) => Ok(buf),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
        let last = got.as_ref().map_or(true, |b| decode::ends_dump(b));
        if full.send(got).is_err() || last {
            return;
        }
    }
}

/// What one buffer of replies left the dump to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    More,
    /// The sink asked to stop.
    Stop,
    /// The buffer held the dump's end.
    End,
}

/// A dump is not atomic: the kernel resumes each batch at a position within a hash chain, so a socket
/// inserted ahead of that position makes it send a record of the previous batch again. Keeps the first record
/// of each cookie (records without one are all kept). A repeat comes from the batch before (one receive of
/// [`RECV_BUF`], under a thousand records), so only the last [`REPEAT_WINDOW`] cookies are remembered: a
/// listing's memory stays the same whatever the number of sockets.
#[derive(Debug, Default)]
pub struct FirstByCookie {
    seen: FastSet<u64>,
    order: std::collections::VecDeque<u64>,
}

/// How many of the latest cookies [`FirstByCookie`] remembers: several batches' worth (a 64 KiB receive holds
/// at most about 900 records of the smallest kind).
pub const REPEAT_WINDOW: usize = 8192;

impl FirstByCookie {
    /// True the first time a cookie is seen within the window.
    pub fn keep(&mut self, s: &Socket) -> bool {
        let Some(c) = s.cookie else { return true };
        if !self.seen.insert(c) {
            return false;
        }
        if self.order.len() == REPEAT_WINDOW
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.order.push_back(c);
        true
    }
}
