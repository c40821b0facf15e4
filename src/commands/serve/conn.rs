//! The exporter's connections under clients that do not play along: a table of the open ones with a per-peer
//! limit, where a new connection beyond the limits closes an idle one (no request yet first, then one waiting
//! between requests, then one stuck writing to a client that does not read); the I/O wrapper that bounds the
//! wait for a new connection's first byte and the time to write each response; and the accept loop's back-off
//! when descriptors run out, logged once a minute rather than at every attempt.

use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// A new connection's first byte must come within this (or the request timeout, when shorter).
pub const FIRST_BYTE: Duration = Duration::from_secs(3);

/// A connection whose writes have waited this long for the client to read may be closed for a new one when
/// the table is full (after the idle ones).
const STALLED: Duration = Duration::from_secs(1);

/// The table's limits and the connections' timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once.
    pub max: usize,
    /// Connections of one [`Peer`] at once.
    pub per_peer: usize,
    /// Time from accept to the first byte of the first request.
    pub first_byte: Duration,
    /// Time to write one response.
    pub write: Duration,
}

/// A client as the per-peer limit counts it: its IPv4 address, or the /64 of an IPv6 address (one host is
/// given a whole /64); an IPv4-mapped IPv6 address is the IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(IpAddr);

impl Peer {
    pub fn of(ip: IpAddr) -> Peer {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Peer(IpAddr::V4(v4)),
                None => Peer(IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX)))),
            },
            v4 => Peer(v4),
        }
    }
}

/// One connection as the table sees it. Times are milliseconds since `opened` (0: not set).
#[derive(Debug)]
pub struct Conn {
    peer: Peer,
    opened: Instant,
    /// Requests whose head was read.
    requests: AtomicU32,
    /// A request is being answered: from its head until its response body is done.
    busy: AtomicBool,
    /// When the connection last finished a response (for the order of eviction).
    idle_since: AtomicU64,
    /// Since when a write has waited for the client to read (0: none waits).
    blocked_since: AtomicU64,
    /// Until when the current response may be written (0: no response yet).
    write_deadline: AtomicU64,
    /// Told to close, to make room for another.
    evicted: Notify,
}

impl Conn {
    fn new(peer: Peer, now: Instant) -> Conn {
        Conn {
            peer,
            opened: now,
            requests: AtomicU32::new(0),
            busy: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            blocked_since: AtomicU64::new(0),
            write_deadline: AtomicU64::new(0),
            evicted: Notify::new(),
        }
    }

    /// `t` as this connection's clock (at least 1, so that 0 stays "not set").
    fn ms(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.opened).as_millis() as u64 + 1
    }

    fn at(&self, ms: u64) -> Instant {
        self.opened + Duration::from_millis(ms.saturating_sub(1))
    }

    /// A request's head was read: it is answered now, and the last response's deadline no longer applies.
    pub fn request_started(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.busy.store(true, Ordering::Relaxed);
        self.write_deadline.store(0, Ordering::Relaxed);
    }

    /// The response is ready: from now it has `limit` to be written.
    pub fn response_ready(&self, limit: Duration) {
        self.write_deadline.store(self.ms(Instant::now() + limit), Ordering::Relaxed);
    }

    /// The response body is done (written, or the connection is gone).
    fn response_done(&self) {
        self.busy.store(false, Ordering::Relaxed);
        self.idle_since.store(self.ms(Instant::now()), Ordering::Relaxed);
    }

    /// Resolves when the table closes this connection for another.
    pub async fn evicted(&self) {
        self.evicted.notified().await
    }

    /// How willing the table is to close this connection for a new one: lower first, `None` never. Within a
    /// rank the one waiting longest (since the time given) goes.
    fn eviction_rank(&self, now: Instant) -> Option<(u8, Instant)> {
        let blocked = self.blocked_since.load(Ordering::Relaxed);
        let busy = self.busy.load(Ordering::Relaxed);
        if !busy && blocked == 0 {
            return Some(match self.requests.load(Ordering::Relaxed) {
                // No request (no head, or a part of one) yet.
                0 => (0, self.opened),
                _ => (1, self.at(self.idle_since.load(Ordering::Relaxed))),
            });
        }
        (blocked != 0 && now >= self.at(blocked) + STALLED).then(|| (2, self.at(blocked)))
    }
}

/// The open connections.
#[derive(Debug)]
pub struct Table {
    limits: Limits,
    conns: Mutex<Vec<Arc<Conn>>>,
}

/// A place in the table; dropping it frees the place.
pub struct Slot {
    table: Arc<Table>,
    pub conn: Arc<Conn>,
}

impl Slot {
    pub fn limits(&self) -> Limits {
        self.table.limits
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.remove(&self.conn);
    }
}

impl Table {
    pub fn new(limits: Limits) -> Arc<Table> {
        Arc::new(Table { limits, conns: Mutex::new(Vec::new()) })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn remove(&self, conn: &Arc<Conn>) {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner).retain(|c| !Arc::ptr_eq(c, conn));
    }

    /// A place for a connection from `ip`, closing another when a limit is reached and one may go; `None`
    /// when none may (the new connection is to be closed).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        self.admit_at(ip, Instant::now())
    }

    fn admit_at(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Option<Slot> {
        let peer = Peer::of(ip);
        let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        if conns.iter().filter(|c| c.peer == peer).count() >= self.limits.per_peer {
            // A client at its limit makes room among its own connections only.
            evict(&mut conns, now, |c| c.peer == peer)?;
        }
        if conns.len() >= self.limits.max {
            evict(&mut conns, now, |_| true)?;
        }
        let conn = Arc::new(Conn::new(peer, now));
        conns.push(conn.clone());
        Some(Slot { table: self.clone(), conn })
    }

    /// Close one idle connection (not one that is being answered): descriptors ran out.
    pub fn evict_idle(&self) -> bool {
        let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        evict(&mut conns, Instant::now(), |c| !c.busy.load(Ordering::Relaxed)).is_some()
    }
}

/// Remove the most evictable of the connections `which` selects and tell it to close.
fn evict(conns: &mut Vec<Arc<Conn>>, now: Instant, which: impl Fn(&Conn) -> bool) -> Option<()> {
    let (i, _) = conns
        .iter()
        .enumerate()
        .filter(|(_, c)| which(c))
        .filter_map(|(i, c)| Some((i, c.eviction_rank(now)?)))
        .min_by_key(|&(_, rank)| rank)?;
    let victim = conns.remove(i);
    victim.evicted.notify_one();
    Some(())
}

/// A connection's socket with its deadlines: the first byte within `first_byte` of the accept, each response
/// written within `write` of being ready (hyper's own error responses: of their first blocked write).
pub struct Guarded<T> {
    io: T,
    conn: Arc<Conn>,
    limits: Limits,
    read_any: bool,
    read_timer: Option<Pin<Box<Sleep>>>,
    /// The timer and the deadline (connection ms) it is set for.
    write_timer: Option<(Pin<Box<Sleep>>, u64)>,
}

impl<T> Guarded<T> {
    pub fn new(io: T, conn: Arc<Conn>, limits: Limits) -> Guarded<T> {
        Guarded { io, conn, limits, read_any: false, read_timer: None, write_timer: None }
    }

    /// `Ready(Err)` when the response's time is up; otherwise `Pending`, woken at the deadline.
    fn write_blocked(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let c = &self.conn;
        let now = Instant::now();
        let _ = c.blocked_since.compare_exchange(0, c.ms(now), Ordering::Relaxed, Ordering::Relaxed);
        let mut deadline = c.write_deadline.load(Ordering::Relaxed);
        if deadline == 0 {
            deadline = c.ms(now + self.limits.write);
            c.write_deadline.store(deadline, Ordering::Relaxed);
        }
        let at = c.at(deadline);
        let timer = match &mut self.write_timer {
            Some((t, d)) if *d == deadline => t,
            slot => &mut slot.insert((Box::pin(tokio::time::sleep_until(at)), deadline)).0,
        };
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(timed_out("the client did not read the response in time"))
    }

    /// The response's time is up (checked before writing: a client that reads a little now and then must not
    /// stretch it).
    fn past_deadline(&self) -> bool {
        let d = self.conn.write_deadline.load(Ordering::Relaxed);
        d != 0 && Instant::now() >= self.conn.at(d)
    }

    /// After a write: bytes went out (the client reads), or it waits for the client.
    fn wrote(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match r {
            Poll::Pending => self.write_blocked(cx).map(Err),
            Poll::Ready(Ok(n)) if n > 0 => {
                self.conn.blocked_since.store(0, Ordering::Relaxed);
                self.write_timer = None;
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_string())
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.read_any = true;
                this.read_timer = None;
                Poll::Ready(Ok(()))
            }
            Poll::Pending if !this.read_any => {
                let at = this.conn.opened + this.limits.first_byte;
                let timer = this.read_timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Err(timed_out("no request came")))
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.past_deadline() {
            return Poll::Ready(Err(timed_out("the client did not read the response in time")));
        }
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.past_deadline() {
            return Poll::Ready(Err(timed_out("the client did not read the response in time")));
        }
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A flush says nothing of the client reading (a socket's is a no-op): only a pending one counts.
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Pending => self.write_blocked(cx).map(Err),
            done => done,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A response body that tells its connection when it is done (dropped by hyper once written, or with the
/// connection).
pub struct Tracked<B> {
    body: B,
    conn: Arc<Conn>,
}

impl<B> Tracked<B> {
    pub fn new(body: B, conn: Arc<Conn>) -> Tracked<B> {
        Tracked { body, conn }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.conn.response_done();
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// How long the accept loop waits after a failure: doubling from 10 ms to 1 s, back to 10 ms after a success.
#[derive(Debug)]
pub struct AcceptErrors {
    delay: Duration,
    /// When a failure was last logged, and how many were not since.
    logged: Option<Instant>,
    unlogged: u64,
}

/// Failures of `accept` are logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);
const FIRST_DELAY: Duration = Duration::from_millis(10);
const MAX_DELAY: Duration = Duration::from_secs(1);

impl Default for AcceptErrors {
    fn default() -> Self {
        AcceptErrors { delay: FIRST_DELAY, logged: None, unlogged: 0 }
    }
}

impl AcceptErrors {
    /// A failure at `now`: the line to log (once a [`LOG_EVERY`]) and how long to wait before accepting again.
    pub fn failed(&mut self, e: &io::Error, now: Instant) -> (Option<String>, Duration) {
        let delay = self.delay;
        self.delay = (self.delay * 2).min(MAX_DELAY);
        if self.logged.is_some_and(|t| now < t + LOG_EVERY) {
            self.unlogged += 1;
            return (None, delay);
        }
        let more = match std::mem::take(&mut self.unlogged) {
            0 => String::new(),
            n => format!(" ({n} more failures since the last report)"),
        };
        self.logged = Some(now);
        (Some(format!("accept failed: {e}{more}; retrying with back-off, reported at most once a minute")), delay)
    }

    pub fn succeeded(&mut self) {
        self.delay = FIRST_DELAY;
    }
}

#[cfg(test)]
mod tests;
