//! Socket events (open, state change, close) from what the collectors see: [`EventTracker`] is the pure state
//! machine (the live set by cookie, diffed against dumps, closed by the kernel's destroy messages);
//! [`watcher`] runs it against the kernel.

pub mod watcher;

use std::collections::VecDeque;
use std::sync::Arc;

use crate::collect::process::ProcessInfo;
use crate::hash::{FastMap, FastSet};
use crate::model::{Proto, Socket, State, TimerKind};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// First seen (by a dump, or by its close when it lived between two dumps: then `late`).
    Open,
    /// A TCP state change seen between two dumps.
    State,
    /// Gone: the kernel freed it (destroy message) or a dump no longer lists it.
    Close,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Open => "open",
            Kind::State => "state",
            Kind::Close => "close",
        }
    }
}

/// Who told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// A periodic dump (opens, state changes; closes without the destroy groups).
    Dump,
    /// The kernel's destroy multicast message (closes, with the last tcp_info).
    Destroy,
}

/// One socket event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub kind: Kind,
    /// The socket as last seen: for a close, the tuple and process from the dumps and the kernel's last
    /// tcp_info from the destroy message.
    pub socket: Socket,
    /// The state before a `State` event.
    pub old_state: Option<State>,
    /// The process holding the socket when it was first seen, if visible.
    pub process: Option<Arc<ProcessInfo>>,
    /// When the socket was first seen (the watch's start for sockets that were already open).
    pub first_seen_ms: Option<u64>,
    /// An open learned from the close: the socket lived between two dumps.
    pub late: bool,
    /// Open before the watch began: `first_seen_ms` is the start, the lifetime a lower bound.
    pub preexisting: bool,
    pub via: Via,
}

impl Event {
    /// Time from first seen to close; `None` when the socket was never seen open.
    pub fn lifetime_ms(&self) -> Option<u64> {
        match self.kind {
            Kind::Close => self.first_seen_ms.map(|f| self.time_ms.saturating_sub(f)),
            _ => None,
        }
    }
}

/// Closes that did not come as destroy messages, since the last report: the kernel dropped messages (our
/// receive buffer was full: the watcher was stopped, or slower than the closes), or a dump found sockets gone
/// without their message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lost {
    /// When this was known (ms since the epoch).
    pub time_ms: u64,
    /// Destroy messages the kernel dropped (one per socket), as it counts them; `None` when it does not say.
    pub dropped: Option<u64>,
    /// Of the lost, sockets seen open before: the dumps found them gone, and their closes are `via: dump`
    /// events (without tcp_info).
    pub closed_by_dumps: u64,
    /// Sockets that opened and closed between two dumps with their messages dropped: no event at all.
    /// `dropped - closed_by_dumps`; `None` when the kernel does not count its drops.
    pub unseen: Option<u64>,
}

impl Lost {
    /// Add a later report to this one.
    pub fn merge(&mut self, later: Lost) {
        let add = |a: Option<u64>, b: Option<u64>| Some(a? + b?);
        self.time_ms = later.time_ms;
        self.dropped = add(self.dropped, later.dropped);
        self.closed_by_dumps += later.closed_by_dumps;
        self.unseen = add(self.unseen, later.unseen);
    }
}

impl std::fmt::Display for Lost {
    /// One sentence for a note: how many closes were lost and where the rest came from.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dumps = self.closed_by_dumps;
        match (self.dropped, self.unseen) {
            (Some(0), _) => write!(
                f,
                "{dumps} socket(s) were gone from the dumps without their destroy message: those closes came from \
                 the dumps, without tcp_info"
            ),
            (Some(dropped), unseen) => write!(
                f,
                "closes were lost: the kernel dropped {dropped} destroy message(s) (our receive buffer was full): \
                 {} socket(s) of the watched protocols opened and closed with no event; {dumps} close(s) came \
                 from the dumps, without tcp_info",
                unseen.unwrap_or(0)
            ),
            (None, _) => write!(
                f,
                "closes were lost: the kernel dropped destroy messages (our receive buffer was full; it does not \
                 say how many): at least {dumps}, whose closes came from the dumps without tcp_info; sockets that \
                 opened and closed between two dumps are missing and not counted"
            ),
        }
    }
}

/// How late a destroy message may be before the dumps close its socket without it (see `EventTracker::apply_dump`).
const DESTROY_GRACE_MS: u64 = 2000;

struct LiveSocket {
    first_seen_ms: u64,
    sock: Socket,
    process: Option<Arc<ProcessInfo>>,
    /// The dump generation that last listed it, and when (ms since the epoch).
    seen: u64,
    seen_ms: u64,
    preexisting: bool,
}

/// How many recently closed cookies are remembered, so a late destroy message or a dump that raced a close
/// does not bring a closed socket back (a fixed bound: the live set is the only thing that grows).
const RECENT_CLOSED: usize = 1 << 16;

/// The live set of sockets by cookie and the events that changes to it make.
pub struct EventTracker {
    live: FastMap<u64, LiveSocket>,
    recent: FastSet<u64>,
    recent_order: VecDeque<u64>,
    /// Closes of TCP/UDP sockets come from destroy messages; a dump that misses a socket twice closes it
    /// anyway (a lost message). Without them, one miss closes it.
    destroy_messages: bool,
    generation: u64,
    first_dump: bool,
    /// Whether the sockets of the first dump are `open` events (`watch --existing`), or only the start of the
    /// live set: at 200k sockets those events would be 50 MB that the caller throws away.
    first_opens: bool,
    /// TCP/UDP sockets a dump found gone while destroy messages were on: their messages were lost.
    closed_by_dumps: u64,
    /// Dumps do not close what they miss (destroy messages are still queued: see [`EventTracker::hold_closes`]).
    hold_closes: bool,
}

impl EventTracker {
    pub fn new(destroy_messages: bool) -> EventTracker {
        EventTracker {
            live: FastMap::default(),
            recent: FastSet::default(),
            recent_order: VecDeque::new(),
            destroy_messages,
            generation: 0,
            first_dump: true,
            first_opens: true,
            closed_by_dumps: 0,
            hold_closes: false,
        }
    }

    /// While `hold` (destroy messages are still queued, unread), the next dumps open and change sockets but do
    /// not close the ones they miss: their messages, with the last tcp_info, are likely among the queued
    /// ones. They close when their message is read, or from a dump once closes are no longer held.
    pub fn hold_closes(&mut self, hold: bool) {
        self.hold_closes = hold;
    }

    /// How many TCP/UDP sockets the dumps found gone without their destroy message (with destroy messages on;
    /// their closes are `via: dump` events): each one a lost message. Counted since the start.
    pub fn closed_by_dumps(&self) -> u64 {
        self.closed_by_dumps
    }

    /// Sockets currently known open.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Is this cookie in the live set?
    pub fn is_live(&self, cookie: u64) -> bool {
        self.live.contains_key(&cookie)
    }

    /// The live sockets (for a snapshot of "what is open now").
    pub fn live(&self) -> impl Iterator<Item = (&Socket, Option<&Arc<ProcessInfo>>, u64)> {
        self.live.values().map(|l| (&l.sock, l.process.as_ref(), l.first_seen_ms))
    }

    fn remember_closed(&mut self, cookie: u64) {
        if self.recent.insert(cookie) {
            self.recent_order.push_back(cookie);
            if self.recent_order.len() > RECENT_CLOSED
                && let Some(old) = self.recent_order.pop_front()
            {
                self.recent.remove(&old);
            }
        }
    }

    /// Sockets already open at the first dump start the live set without `open` events.
    pub fn without_first_opens(mut self) -> EventTracker {
        self.first_opens = false;
        self
    }

    /// Apply a dump taken at `now`: new cookies open, changed states are events, and sockets the dump no
    /// longer lists close (see `destroy_messages`). `process` names the holder of a new socket's inode.
    /// The first dump's sockets open too (with `first_seen_ms` = the start).
    pub fn apply_dump(
        &mut self,
        now: u64,
        socks: &[Socket],
        mut process: impl FnMut(&Socket) -> Option<Arc<ProcessInfo>>,
        out: &mut Vec<Event>,
    ) {
        self.generation += 1;
        for s in socks {
            self.see(now, s, &mut process, out);
        }
        self.first_dump = false;
        if !self.hold_closes {
            self.close_missed(now, out);
        }
    }

    /// One socket of the dump taken at `now`: seen again (a `state` event if its state changed), or new (an
    /// `open` event, unless it is the first dump's and those are not wanted).
    fn see(
        &mut self,
        now: u64,
        s: &Socket,
        process: &mut impl FnMut(&Socket) -> Option<Arc<ProcessInfo>>,
        out: &mut Vec<Event>,
    ) {
        // TIME-WAIT remnants of a closed socket carry its cookie and request sockets (SYN-RECV) are never
        // reported destroyed: neither is a socket of its own here.
        if s.timer.is_some_and(|t| t.kind == TimerKind::Timewait)
            || matches!(s.state, State::TIME_WAIT | State::SYN_RECV)
        {
            return;
        }
        let cookie = s.identity();
        if self.recent.contains(&cookie) {
            return;
        }
        let generation = self.generation;
        match self.live.get_mut(&cookie) {
            Some(l) => {
                l.seen = generation;
                l.seen_ms = now;
                if l.sock.state != s.state {
                    let old = l.sock.state;
                    l.sock = Socket { extra: None, ..s.clone() };
                    out.push(Event {
                        time_ms: now,
                        kind: Kind::State,
                        socket: l.sock.clone(),
                        old_state: Some(old),
                        process: l.process.clone(),
                        first_seen_ms: Some(l.first_seen_ms),
                        late: false,
                        preexisting: l.preexisting,
                        via: Via::Dump,
                    });
                }
            }
            None => {
                let s = Socket { extra: None, ..s.clone() };
                let p = process(&s);
                if self.first_opens || !self.first_dump {
                    out.push(Event {
                        time_ms: now,
                        kind: Kind::Open,
                        socket: s.clone(),
                        old_state: None,
                        process: p.clone(),
                        first_seen_ms: Some(now),
                        late: false,
                        preexisting: self.first_dump,
                        via: Via::Dump,
                    });
                }
                let preexisting = self.first_dump;
                self.live.insert(
                    cookie,
                    LiveSocket { first_seen_ms: now, sock: s, process: p, seen: generation, seen_ms: now, preexisting },
                );
            }
        }
    }

    /// The sockets the dumps no longer list close: at once, or with destroy messages on, once their message is
    /// late (then counted in `closed_by_dumps`).
    fn close_missed(&mut self, now: u64, out: &mut Vec<Event>) {
        let generation = self.generation;
        let destroy = self.destroy_messages;
        let gone: Vec<u64> = (self.live.iter())
            .filter(|(_, l)| {
                // With destroy messages, a socket a dump misses is closed by the dumps only once its message is
                // late by a dump and by DESTROY_GRACE_MS: the kernel sends them from a work queue, which a
                // busy host (or another namespace's burst of closes) delays.
                let inet = destroy && l.sock.proto != Proto::Unix;
                let grace = u64::from(inet);
                l.seen + grace < generation && (!inet || now.saturating_sub(l.seen_ms) >= DESTROY_GRACE_MS)
            })
            .map(|(c, _)| *c)
            .collect();
        for cookie in gone {
            if let Some(l) = self.live.remove(&cookie) {
                self.remember_closed(cookie);
                if destroy && matches!(l.sock.proto, Proto::Tcp | Proto::Udp) {
                    self.closed_by_dumps += 1;
                }
                out.push(Event {
                    time_ms: now,
                    kind: Kind::Close,
                    socket: l.sock,
                    old_state: None,
                    process: l.process,
                    first_seen_ms: Some(l.first_seen_ms),
                    late: false,
                    preexisting: l.preexisting,
                    via: Via::Dump,
                });
            }
        }
    }

    /// A destroy message for `s`, received at `now`: its close (and its open first, when it lived between
    /// two dumps). A repeated message is ignored.
    pub fn apply_destroyed(&mut self, now: u64, s: Socket, out: &mut Vec<Event>) {
        let cookie = s.identity();
        if self.recent.contains(&cookie) {
            return;
        }
        self.remember_closed(cookie);
        let mut s = s;
        let info = s.extra.take();
        match self.live.remove(&cookie) {
            Some(l) => {
                let mut sock = l.sock;
                sock.extra = info;
                out.push(Event {
                    time_ms: now,
                    kind: Kind::Close,
                    socket: sock,
                    old_state: None,
                    process: l.process,
                    first_seen_ms: Some(l.first_seen_ms),
                    late: false,
                    preexisting: l.preexisting,
                    via: Via::Destroy,
                });
            }
            None => {
                // Lived between two dumps: its open is learned from its close.
                let late = |kind, socket| Event {
                    time_ms: now,
                    kind,
                    socket,
                    old_state: None,
                    process: None,
                    first_seen_ms: None,
                    late: true,
                    preexisting: false,
                    via: Via::Destroy,
                };
                out.push(late(Kind::Open, s.clone()));
                out.push(late(Kind::Close, Socket { extra: info, ..s }));
            }
        }
    }
}

#[cfg(test)]
mod tests;
