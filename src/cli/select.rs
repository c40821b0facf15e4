//! ss's socket-table selection, replayed as ss's option loop does it: socket tables ("dbs"), address
//! families and a state mask, each flag adding its table's default states, `-a`/`-l` and `state` words
//! overriding them, and the families and tables completing each other at the end. The result says which
//! tables to dump and whether the Netid and State columns are shown (more than one table, more than one
//! state), exactly as in ss.

use crate::collect::{Query, SockTypes};
use crate::model::{State, StateSet};

/// ss's socket tables, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Db {
    Tcp,
    Mptcp,
    Dccp,
    Udp,
    Raw,
    UnixDg,
    UnixSt,
    UnixSq,
    PacketDg,
    PacketR,
    Netlink,
    Sctp,
    VsockSt,
    VsockDg,
    Tipc,
    Xdp,
}

/// Address families as ss tracks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Af {
    Inet,
    Inet6,
    Unix,
    Packet,
    Netlink,
    Vsock,
    Tipc,
    Xdp,
}

const ALL_DBS: [Db; 16] = [
    Db::Tcp,
    Db::Mptcp,
    Db::Dccp,
    Db::Udp,
    Db::Raw,
    Db::UnixDg,
    Db::UnixSt,
    Db::UnixSq,
    Db::PacketDg,
    Db::PacketR,
    Db::Netlink,
    Db::Sctp,
    Db::VsockSt,
    Db::VsockDg,
    Db::Tipc,
    Db::Xdp,
];
const ALL_AFS: [Af; 8] = [Af::Inet, Af::Inet6, Af::Unix, Af::Packet, Af::Netlink, Af::Vsock, Af::Tipc, Af::Xdp];

/// ss's `SS_ALL` (states 0..11) and `SS_CONN` (all but LISTEN, CLOSE, TIME-WAIT, SYN-RECV).
pub const SS_ALL: u32 = (1 << 12) - 1;
pub const SS_CONN: u32 =
    SS_ALL & !(State::LISTEN.bit() | State::CLOSE.bit() | State::TIME_WAIT.bit() | State::SYN_RECV.bit());
const TIPC_CONN: u32 = State::ESTABLISHED.bit() | State::LISTEN.bit() | State::CLOSE.bit();

impl Db {
    fn bit(self) -> u32 {
        1 << self as u8
    }
    fn default_states(self) -> u32 {
        match self {
            Db::Tcp | Db::Mptcp | Db::Dccp | Db::UnixSt | Db::UnixSq | Db::Sctp | Db::VsockSt | Db::VsockDg => SS_CONN,
            Db::Udp | Db::Raw => State::ESTABLISHED.bit(),
            Db::UnixDg | Db::PacketDg | Db::PacketR | Db::Netlink | Db::Xdp => State::CLOSE.bit(),
            Db::Tipc => TIPC_CONN,
        }
    }
    fn families(self) -> &'static [Af] {
        match self {
            Db::Tcp | Db::Mptcp | Db::Dccp | Db::Udp | Db::Raw | Db::Sctp => &[Af::Inet, Af::Inet6],
            Db::UnixDg | Db::UnixSt | Db::UnixSq => &[Af::Unix],
            Db::PacketDg | Db::PacketR => &[Af::Packet],
            Db::Netlink => &[Af::Netlink],
            Db::VsockSt | Db::VsockDg => &[Af::Vsock],
            Db::Tipc => &[Af::Tipc],
            Db::Xdp => &[Af::Xdp],
        }
    }
}

impl Af {
    fn bit(self) -> u32 {
        1 << self as u8
    }
    fn dbs(self) -> &'static [Db] {
        match self {
            Af::Inet | Af::Inet6 => &[Db::Tcp, Db::Mptcp, Db::Udp, Db::Dccp, Db::Sctp, Db::Raw],
            Af::Unix => &[Db::UnixDg, Db::UnixSt, Db::UnixSq],
            Af::Packet => &[Db::PacketDg, Db::PacketR],
            Af::Netlink => &[Db::Netlink],
            Af::Vsock => &[Db::VsockSt, Db::VsockDg],
            Af::Tipc => &[Db::Tipc],
            Af::Xdp => &[Db::Xdp],
        }
    }
    fn default_states(self) -> u32 {
        match self {
            Af::Packet | Af::Netlink | Af::Xdp => State::CLOSE.bit(),
            Af::Tipc => TIPC_CONN,
            _ => SS_CONN,
        }
    }

    /// `-f NAME`.
    pub fn parse(name: &str) -> Option<Af> {
        Some(match name {
            "inet" => Af::Inet,
            "inet6" => Af::Inet6,
            "link" => Af::Packet,
            "unix" => Af::Unix,
            "netlink" => Af::Netlink,
            "vsock" => Af::Vsock,
            "tipc" => Af::Tipc,
            "xdp" => Af::Xdp,
            _ => return None,
        })
    }
}

/// The tables of one `-A` name (ss's `filter_db_parse` table).
pub fn query_dbs(name: &str) -> Option<&'static [Db]> {
    use Db::*;
    Some(match name {
        "all" => &[
            Udp, Dccp, Tcp, Mptcp, Raw, UnixSt, UnixDg, UnixSq, PacketR, PacketDg, Netlink, Sctp, VsockSt, VsockDg, Xdp,
        ],
        "inet" => &[Udp, Dccp, Tcp, Mptcp, Sctp, Raw],
        "udp" => &[Udp],
        "dccp" => &[Dccp],
        "tcp" => &[Tcp],
        "mptcp" => &[Mptcp],
        "sctp" => &[Sctp],
        "raw" => &[Raw],
        "unix" => &[UnixSt, UnixDg, UnixSq],
        "unix_stream" | "u_str" => &[UnixSt],
        "unix_dgram" | "u_dgr" => &[UnixDg],
        "unix_seqpacket" | "u_seq" => &[UnixSq],
        "packet" => &[PacketR, PacketDg],
        "packet_raw" | "p_raw" => &[PacketR],
        "packet_dgram" | "p_dgr" => &[PacketDg],
        "netlink" => &[Netlink],
        "vsock" => &[VsockSt, VsockDg],
        "vsock_stream" | "v_str" => &[VsockSt],
        "vsock_dgram" | "v_dgr" => &[VsockDg],
        "tipc" => &[Tipc],
        "xdp" => &[Xdp],
        _ => return None,
    })
}

/// One selection flag, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Db(Db),
    Af(Af),
    /// `-a`
    All,
    /// `-l`
    Listening,
    /// `-A NAME[,NAME]...` (a `!` before a name removes it).
    Query(String),
}

/// ss's "preferred family": the last family flag given. When it is UNIX, filter hosts are UNIX names.
pub fn preferred_unix(events: &[Event]) -> bool {
    events.iter().rev().find_map(|e| match e {
        Event::Af(af) => Some(*af == Af::Unix),
        _ => None,
    }) == Some(true)
}

/// The outcome: what to dump and how the table looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub dbs: u32,
    pub families: u32,
    pub states: u32,
}

impl Selection {
    /// Replay `events` as ss's option loop; `state_words` are the `state`/`exclude` selectors of the filter
    /// (they override `-a`/`-l`); `extra_states` are added last (`-B`).
    pub fn replay(events: &[Event], state_words: Option<StateSet>, extra_states: u32) -> Result<Selection, String> {
        let (mut dbs, mut families, mut states) = (0u32, 0u32, 0u32);
        let mut state_filter = 0u32;
        let mut do_default = true;
        let mut saw_query = false;
        let set_db = |db: Db, dbs: &mut u32, states: &mut u32, on: bool| {
            if on {
                *states |= db.default_states();
                *dbs |= db.bit();
            } else {
                *dbs &= !db.bit();
            }
        };
        for e in events {
            match e {
                Event::Db(db) => {
                    set_db(*db, &mut dbs, &mut states, true);
                    do_default = false;
                }
                Event::Af(af) => {
                    states |= af.default_states();
                    families |= af.bit();
                    do_default = false;
                }
                Event::All => state_filter = SS_ALL,
                Event::Listening => state_filter = State::LISTEN.bit() | State::CLOSE.bit(),
                Event::Query(list) => {
                    if !saw_query {
                        dbs = 0;
                        if state_filter == 0 {
                            state_filter = SS_CONN;
                        }
                        saw_query = true;
                        do_default = false;
                    }
                    for name in list.split(',') {
                        let (on, name) = match name.strip_prefix('!') {
                            Some(n) => (false, n),
                            None => (true, name),
                        };
                        let tables = query_dbs(name).ok_or_else(|| format!("\"{name}\" is illegal socket table id"))?;
                        for db in tables {
                            set_db(*db, &mut dbs, &mut states, on);
                        }
                    }
                }
            }
        }
        if let Some(words) = state_words {
            state_filter = words.0;
        }
        if do_default {
            if state_filter == 0 {
                state_filter = SS_CONN;
            }
            for db in query_dbs("all").unwrap_or(&[]) {
                set_db(*db, &mut dbs, &mut states, true);
            }
        }
        if state_filter != 0 {
            states = state_filter;
        }
        states |= extra_states;
        // filter_merge_defaults: tables bring their families, families bring their tables.
        for db in ALL_DBS {
            if dbs & db.bit() != 0 && !db.families().iter().any(|f| families & f.bit() != 0) {
                for f in db.families() {
                    families |= f.bit();
                }
            }
        }
        for af in ALL_AFS {
            if families & af.bit() != 0 && !af.dbs().iter().any(|d| dbs & d.bit() != 0) {
                for d in af.dbs() {
                    dbs |= d.bit();
                }
            }
        }
        Ok(Selection { dbs, families, states })
    }

    pub fn has(&self, db: Db) -> bool {
        self.dbs & db.bit() != 0
    }
    pub fn family(&self, af: Af) -> bool {
        self.families & af.bit() != 0
    }

    /// ss shows the Netid column when more than one socket table is selected.
    pub fn netid_column(&self) -> bool {
        self.dbs.count_ones() > 1
    }
    /// ... and the State column unless exactly one state is.
    pub fn state_column(&self) -> bool {
        self.states.count_ones() > 1
    }

    /// The tables to dump. Packet, netlink and XDP sockets are always unconnected: ss skips them when the
    /// states leave out UNCONN, and so does this (no dump at all).
    pub fn query(&self) -> Query {
        let inet = self.family(Af::Inet) || self.family(Af::Inet6);
        let close = self.states & State::CLOSE.bit() != 0;
        let unix = self.family(Af::Unix);
        let packet = self.family(Af::Packet) && close;
        Query {
            tcp: inet && self.has(Db::Tcp),
            udp: inet && self.has(Db::Udp),
            unix: unix && (self.has(Db::UnixSt) || self.has(Db::UnixDg) || self.has(Db::UnixSq)),
            ipv4: self.family(Af::Inet),
            ipv6: self.family(Af::Inet6),
            states: StateSet(self.states),
            raw: inet && self.has(Db::Raw),
            mptcp: inet && self.has(Db::Mptcp),
            dccp: inet && self.has(Db::Dccp),
            sctp: inet && self.has(Db::Sctp),
            packet: packet && (self.has(Db::PacketR) || self.has(Db::PacketDg)),
            netlink: self.family(Af::Netlink) && close && self.has(Db::Netlink),
            vsock: self.family(Af::Vsock) && (self.has(Db::VsockSt) || self.has(Db::VsockDg)),
            tipc: self.family(Af::Tipc) && self.has(Db::Tipc),
            xdp: self.family(Af::Xdp) && close && self.has(Db::Xdp),
            types: SockTypes {
                unix_stream: self.has(Db::UnixSt),
                unix_dgram: self.has(Db::UnixDg),
                unix_seqpacket: self.has(Db::UnixSq),
                packet_raw: self.has(Db::PacketR),
                packet_dgram: self.has(Db::PacketDg),
            },
            ..Query::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(events: &[Event]) -> Selection {
        Selection::replay(events, None, 0).unwrap()
    }

    #[test]
    fn replays_like_ss() {
        // No flags: every table, connected states.
        let s = sel(&[]);
        assert!(s.netid_column() && s.state_column());
        let q = s.query();
        assert!(q.tcp && q.udp && q.unix && q.raw && q.mptcp && !q.packet && !q.netlink, "{q:?}");
        // -t: one table, no Netid; -tl: LISTEN and UNCONN.
        let s = sel(&[Event::Db(Db::Tcp)]);
        assert!(!s.netid_column() && s.state_column() && s.query().tcp && !s.query().udp);
        // -u alone: UDP's default is ESTAB only, so no State column.
        assert!(!sel(&[Event::Db(Db::Udp)]).state_column());
        // -al selects LISTEN+UNCONN, -la everything: the last one wins.
        let al = sel(&[Event::Af(Af::Inet), Event::All, Event::Listening]);
        assert_eq!(al.states, State::LISTEN.bit() | State::CLOSE.bit());
        let la = sel(&[Event::Listening, Event::All]);
        assert_eq!(la.states, SS_ALL);
        // -4: every inet table over IPv4.
        let q = sel(&[Event::Af(Af::Inet)]).query();
        assert!(q.tcp && q.udp && q.raw && q.ipv4 && !q.ipv6 && !q.unix);
        // -x: three UNIX tables (Netid shown), connected states.
        let s = sel(&[Event::Af(Af::Unix)]);
        assert!(s.netid_column() && s.query().unix && !s.query().tcp);
        // -A inet,unix
        let q = sel(&[Event::Query("inet,unix".into())]).query();
        assert!(q.tcp && q.unix && q.raw && !q.packet);
        // -0: packet needs UNCONN, its default.
        let q = sel(&[Event::Af(Af::Packet)]).query();
        assert!(q.packet && !q.tcp);
        // state words override -a.
        let s =
            Selection::replay(&[Event::Db(Db::Tcp), Event::All], Some(StateSet::of(&[State::ESTABLISHED])), 0).unwrap();
        assert!(!s.state_column());
        assert!(Selection::replay(&[Event::Query("bogus".into())], None, 0).unwrap_err().contains("bogus"));
        // -A unix_stream keeps only stream sockets.
        let q = sel(&[Event::Query("u_str".into())]).query();
        assert!(q.types.unix_stream && !q.types.unix_dgram);
    }
}
