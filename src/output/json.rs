//! JSON (`--json`, one array) and NDJSON (`--ndjson`, one object per line) output.
//!
//! The field names are a stable interface (documented in the README):
//! `proto`, `family`, `kind` (UNIX only), `state`, `recv_q`, `send_q`, `local`, `peer`, `uid`, `inode`, `cookie`,
//! `ifindex`, `interface`, `v6only`, `timer`, `mark`, `congestion`, `tcp_info`, `memory`. Inet ends are
//! `{"address", "port"}`, UNIX ends `{"path", "inode"}`. `tcp_info` and `memory` are objects whose field names
//! carry their unit (`rtt_us`, `bytes_acked`, `delivery_rate_bytes_per_s`). With `-p`, `processes` lists the
//! holders (`pid`, `comm`, `cmdline`, `uid`, `fds`) and `process_hidden` says whether some could not be seen.
//! A field the source cannot give is `null`, never left out. `details` carries what `-e`, `-i` (MPTCP), `--tos`,
//! `--inet-sockopt` and `-b` show, `congestion_info` BBR's or DCTCP's state, and `cgroup` the cgroup path;
//! packet sockets have `{"protocol", "ifindex"}` ends, netlink sockets `{"netlink_protocol", "portid"}` and a
//! connected peer `{"group", "portid"}`; a missing peer is `{}`.
//! `netns` is `{"inode", "name"}`, `container` is `{"runtime", "id", "name", "pod", "namespace"}` and `unit`
//! the systemd unit, for the workload behind the socket (see `collect::workloads`).
//!
//! Groups (`/api/v1/groups`, the dashboard's rows) are objects with `kind` (`listen`, `outbound`, `unix_path`,
//! `unix_peer`, `unix_unnamed`, `udp_ephemeral`: [`crate::group::GroupKind`]), `proto`, `address`, `port`,
//! `path`, `uid` (a `udp_ephemeral` fold's user), `service`, `class`, `listeners`, `sockets`, `states` (name ->
//! count), `accept_queue`, `backlog`, `peers`, `top_peers` (`address`, `sockets`) and `dual_stack`.

use std::io::{self, Write};

use serde::Serialize;

use super::Names;
use crate::clock;
use crate::events::{Event, Kind, Via};
use crate::group::Group;
use crate::model::internals::{Details, MemInfo, TcpInfo};
use crate::model::netns::Container;
use crate::model::owners::{Owner, ProcessInfo};
use crate::model::{Endpoint, Socket, State, Timer, UnixKind};
use crate::ports::classes::PortClass;
use crate::ports::services::Services;

#[derive(Serialize)]
struct Record<'a> {
    proto: &'static str,
    family: &'static str,
    kind: Option<UnixKind>,
    state: &'static str,
    recv_q: Option<u32>,
    send_q: Option<u32>,
    local: End,
    peer: End,
    uid: Option<u32>,
    inode: u64,
    cookie: Option<u64>,
    ifindex: Option<u32>,
    interface: Option<&'a str>,
    v6only: Option<bool>,
    timer: Option<Timer>,
    mark: Option<u32>,
    congestion: Option<&'a str>,
    tcp_info: Option<&'a TcpInfo>,
    memory: Option<MemInfo>,
    processes: Option<Vec<Proc<'a>>>,
    process_hidden: Option<bool>,
    /// What `-e`, `-i`, `--tos`, `--cgroup`, `--inet-sockopt`, `-b` add (see [`Details`]); `null` unless asked.
    details: Option<&'a Details>,
    /// With `-i`: the congestion module's state, `{"bbr": {...}}` or `{"dctcp": [enabled, ce_state, alpha,
    /// ab_ecn, ab_tot]}`.
    congestion_info: Option<&'a crate::model::internals::CcInfo>,
    /// The cgroup v2 path of the socket's cgroup id (`-e`, `--cgroup`), `unreachable:ID` when not found.
    cgroup: Option<String>,
    netns: Option<Netns<'a>>,
    container: Option<&'a Container>,
    unit: Option<&'a str>,
}

/// The socket's network namespace.
#[derive(Serialize)]
struct Netns<'a> {
    inode: u64,
    name: Option<&'a str>,
}

/// A process holding the socket (`-p`).
#[derive(Serialize)]
struct Proc<'a> {
    pid: u32,
    comm: &'a str,
    cmdline: &'a str,
    uid: u32,
    fds: &'a [u32],
}

#[derive(Serialize)]
#[serde(untagged)]
enum End {
    Inet {
        address: String,
        port: u16,
    },
    Unix {
        path: Option<String>,
        inode: u64,
    },
    /// A packet socket: link-layer protocol (`ETH_P_*`) and interface index (0 = any).
    Link {
        protocol: u16,
        ifindex: u32,
    },
    /// A netlink socket: netlink protocol and port id (-1: unbound).
    Netlink {
        netlink_protocol: u8,
        portid: i32,
    },
    /// A connected netlink socket's destination.
    NetlinkPeer {
        group: u32,
        portid: u32,
    },
    /// No peer.
    None {},
}

fn end(e: &Endpoint) -> End {
    match e {
        Endpoint::Inet { ip, port } => End::Inet { address: ip.to_string(), port: *port },
        Endpoint::Unix { name, inode } => End::Unix { path: name.as_ref().map(|n| n.display()), inode: *inode },
        Endpoint::Link { protocol, ifindex } => End::Link { protocol: *protocol, ifindex: *ifindex },
        Endpoint::Netlink { protocol, portid } => End::Netlink { netlink_protocol: *protocol, portid: *portid },
        Endpoint::NetlinkPeer { group, portid } => End::NetlinkPeer { group: *group, portid: *portid },
        Endpoint::None => End::None {},
    }
}

fn record<'a>(s: &'a Socket, names: &'a Names) -> Record<'a> {
    let x = s.extra.as_deref();
    let (processes, process_hidden) = match names.owner(s) {
        None => (None, None),
        Some(Owner::Held(h)) => (
            Some(
                h.map(|r| Proc {
                    pid: r.process.pid,
                    comm: &r.process.comm,
                    cmdline: &r.process.cmdline,
                    uid: r.process.uid,
                    fds: r.fds,
                })
                .collect(),
            ),
            Some(false),
        ),
        Some(Owner::Hidden) => (Some(Vec::new()), Some(true)),
        Some(Owner::None | Owner::NotLookedUp) => (Some(Vec::new()), Some(false)),
    };
    let workload = names.workload(s);
    Record {
        proto: s.proto.name(),
        family: s.family.name(),
        kind: s.unix_kind,
        state: s.state.name(),
        recv_q: s.recv_q,
        send_q: s.send_q,
        local: end(&s.local),
        peer: end(&s.peer),
        uid: s.uid,
        inode: s.inode,
        cookie: s.cookie,
        ifindex: s.ifindex,
        interface: s.ifindex.and_then(|i| names.interfaces.get(&i)).map(|n| n.as_str()),
        v6only: s.v6only,
        timer: s.timer,
        mark: s.mark,
        congestion: x.and_then(|x| x.congestion.as_deref()),
        tcp_info: x.and_then(|x| x.tcp_info.as_ref()),
        memory: x.and_then(|x| x.memory.as_deref().copied()),
        processes,
        process_hidden,
        details: x.and_then(|x| x.details.as_deref()),
        congestion_info: x.and_then(|x| x.cc_info.as_ref()),
        cgroup: x
            .and_then(|x| x.details.as_deref())
            .and_then(|d| d.cgroup_id)
            .filter(|_| names.cgroups.is_some())
            .map(|id| names.cgroup_path(id)),
        netns: names.workloads.namespaces.get(s.netns).map(|n| Netns { inode: n.inode, name: n.name.as_deref() }),
        container: workload.and_then(|w| w.container.as_ref()),
        unit: workload.and_then(|w| w.unit.as_deref()),
    }
}

/// A socket event (`watch --ndjson`): `time` (RFC 3339, UTC), `time_ms`, `event` (open, state, close),
/// `via` (dump, destroy), `late` (an open learned from its close), `preexisting` (open before the watch
/// began), `old_state`, `first_seen`, `lifetime_ms` (close only), `process` (`pid`, `comm`, `cmdline`, `uid`
/// of the holder when first seen, or null) and `socket` (the socket object above, with `tcp_info` on a close
/// the kernel reported).
#[derive(Serialize)]
struct EventRecord<'a> {
    time: String,
    time_ms: u64,
    event: Kind,
    via: Via,
    late: bool,
    preexisting: bool,
    old_state: Option<&'static str>,
    first_seen: Option<String>,
    lifetime_ms: Option<u64>,
    process: Option<&'a ProcessInfo>,
    socket: Record<'a>,
}

/// One event as one line of JSON.
pub fn render_event(w: &mut dyn Write, ev: &Event, names: &Names) -> io::Result<()> {
    let r = EventRecord {
        time: clock::rfc3339(ev.time_ms),
        time_ms: ev.time_ms,
        event: ev.kind,
        via: ev.via,
        late: ev.late,
        preexisting: ev.preexisting,
        old_state: ev.old_state.map(|s| s.name()),
        first_seen: ev.first_seen_ms.map(clock::rfc3339),
        lifetime_ms: ev.lifetime_ms(),
        process: ev.process.as_deref(),
        socket: record(&ev.socket, names),
    };
    serde_json::to_writer(&mut *w, &r)?;
    w.write_all(b"\n")
}

/// Closes lost from the event stream, as one line of JSON between the events: `{"time", "time_ms",
/// "event": "lost", "dropped", "closed_by_dumps", "unseen"}`: destroy messages the kernel dropped (null when
/// it does not count them), how many of those closes came from the dumps instead (`via: dump` events), and
/// how many sockets opened and closed with no event at all (null when unknown).
pub fn render_lost(w: &mut dyn Write, lost: &crate::events::Lost) -> io::Result<()> {
    let r = serde_json::json!({
        "time": clock::rfc3339(lost.time_ms),
        "time_ms": lost.time_ms,
        "event": "lost",
        "dropped": lost.dropped,
        "closed_by_dumps": lost.closed_by_dumps,
        "unseen": lost.unseen,
    });
    serde_json::to_writer(&mut *w, &r)?;
    w.write_all(b"\n")
}

/// Writes records as they come: one JSON array (one record per line inside it), or one object per line.
pub struct JsonWriter<W: Write> {
    w: io::BufWriter<W>,
    /// An array (`--json`) rather than lines (`--ndjson`).
    array: bool,
    count: usize,
}

impl<W: Write> JsonWriter<W> {
    /// `--json`: the `[` is written with the first record (or by `finish` for none).
    pub fn array(w: W) -> Self {
        JsonWriter { w: io::BufWriter::with_capacity(256 * 1024, w), array: true, count: 0 }
    }

    /// `--ndjson`.
    pub fn lines(w: W) -> Self {
        JsonWriter { w: io::BufWriter::with_capacity(256 * 1024, w), array: false, count: 0 }
    }

    pub fn push(&mut self, s: &Socket, names: &Names) -> io::Result<()> {
        if self.array {
            self.w.write_all(array_separator(self.count))?;
        }
        write_socket(&mut self.w, s, names)?;
        if !self.array {
            self.w.write_all(b"\n")?;
        }
        self.count += 1;
        Ok(())
    }

    /// Close the array and flush.
    pub fn finish(mut self) -> io::Result<()> {
        if self.array {
            self.w.write_all(array_end(self.count))?;
        }
        self.w.flush()
    }
}

/// What goes before item `index` of a JSON array as `--json` and the API write it: `[` and a newline before
/// the first, a comma and a newline before the others (one item per line).
pub fn array_separator(index: usize) -> &'static [u8] {
    if index == 0 { b"[\n" } else { b",\n" }
}

/// What closes a JSON array of `count` items written with [`array_separator`]: `[]` for none.
pub fn array_end(count: usize) -> &'static [u8] {
    if count == 0 { b"[]\n" } else { b"\n]\n" }
}

/// One socket's JSON object, without separators.
pub fn write_socket(w: &mut impl Write, s: &Socket, names: &Names) -> io::Result<()> {
    Ok(serde_json::to_writer(w, &record(s, names))?)
}

/// One group's JSON object, without separators (service names from `services` when given).
pub fn write_group(w: &mut impl Write, g: &Group, services: Option<&Services>) -> io::Result<()> {
    Ok(serde_json::to_writer(w, &group_record(g, services))?)
}

/// One JSON array, one record per line inside it.
pub fn render_array(w: &mut dyn Write, socks: &[Socket], names: &Names) -> io::Result<()> {
    let mut j = JsonWriter::array(w);
    for s in socks {
        j.push(s, names)?;
    }
    j.finish()
}

/// One JSON object per line.
pub fn render_lines(w: &mut dyn Write, socks: &[Socket], names: &Names) -> io::Result<()> {
    let mut j = JsonWriter::lines(w);
    for s in socks {
        j.push(s, names)?;
    }
    j.finish()
}

#[derive(Serialize)]
struct GroupRecord<'a> {
    kind: &'static str,
    proto: &'static str,
    address: Option<String>,
    port: Option<u16>,
    path: Option<&'a str>,
    /// `udp_ephemeral`: the sockets' user (a fold is one user's).
    uid: Option<u32>,
    service: Option<&'a str>,
    class: Option<&'static str>,
    listeners: usize,
    sockets: usize,
    states: serde_json::Map<String, serde_json::Value>,
    accept_queue: Option<u32>,
    backlog: Option<u32>,
    peers: u32,
    top_peers: Vec<TopPeer>,
    dual_stack: bool,
}

#[derive(Serialize)]
struct TopPeer {
    address: String,
    sockets: u32,
}

fn group_record<'a>(g: &'a Group, services: Option<&'a Services>) -> GroupRecord<'a> {
    let (kind, proto, port) = (g.key.kind().name(), g.key.proto(), g.key.port());
    let (address, path) = (g.key.ip().map(|ip| ip.to_string()), g.key.path());
    let states = g
        .states
        .0
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| (State(i as u8).name().to_string(), serde_json::Value::from(*n)))
        .collect();
    GroupRecord {
        kind,
        proto: proto.name(),
        address,
        port,
        path,
        uid: g.key.uid(),
        service: port.and_then(|p| services?.name(proto, p)),
        class: port.map(|p| PortClass::of(p).name()),
        listeners: g.listeners.len(),
        sockets: g.members.len(),
        states,
        accept_queue: g.accept_queue.map(|(q, _)| q),
        backlog: g.accept_queue.map(|(_, b)| b),
        peers: g.peers,
        top_peers: g.top_peers.iter().map(|(ip, n)| TopPeer { address: ip.to_string(), sockets: *n }).collect(),
        dual_stack: g.dual_stack,
    }
}

/// Groups as one JSON array, one group per line inside it (service names from `services` when given).
pub fn render_groups(w: &mut dyn Write, groups: &[Group], services: Option<&Services>) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(256 * 1024, w);
    for (i, g) in groups.iter().enumerate() {
        w.write_all(array_separator(i))?;
        write_group(&mut w, g, services)?;
    }
    w.write_all(array_end(groups.len()))?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv6Addr};

    use super::*;
    use crate::model::{Family, Proto, State, UnixName};

    fn sample() -> Vec<Socket> {
        vec![
            Socket {
                proto: Proto::Tcp,
                family: Family::Inet6,
                state: State::LISTEN,
                local: Endpoint::Inet { ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED), port: 443 },
                peer: Endpoint::Inet { ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED), port: 0 },
                recv_q: Some(0),
                send_q: Some(128),
                uid: Some(0),
                inode: 42,
                cookie: Some(7),
                ifindex: Some(0),
                v6only: Some(false),
                unix_kind: None,
                timer: None,
                mark: None,
                extra: None,
                netns: 0,
            },
            Socket {
                proto: Proto::Unix,
                family: Family::Unix,
                state: State::ESTABLISHED,
                local: Endpoint::Unix { name: Some(UnixName::Abstract(b"bus".as_slice().into())), inode: 9 },
                peer: Endpoint::Unix { name: None, inode: 10 },
                recv_q: None,
                send_q: None,
                uid: None,
                inode: 9,
                cookie: None,
                ifindex: None,
                v6only: None,
                unix_kind: Some(UnixKind::Stream),
                timer: Some(Timer { kind: crate::model::TimerKind::Keepalive, expires_ms: 1500, retrans: 0 }),
                mark: None,
                extra: None,
                netns: 0,
            },
        ]
    }

    #[test]
    fn ndjson_field_names_are_stable() {
        let mut out = Vec::new();
        render_lines(&mut out, &sample(), &Names::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"proto":"tcp","family":"inet6","kind":null,"state":"listen","recv_q":0,"send_q":128,"local":{"address":"::","port":443},"peer":{"address":"::","port":0},"uid":0,"inode":42,"cookie":7,"ifindex":0,"interface":null,"v6only":false,"timer":null,"mark":null,"congestion":null,"tcp_info":null,"memory":null,"processes":null,"process_hidden":null,"details":null,"congestion_info":null,"cgroup":null,"netns":null,"container":null,"unit":null}"#
        );
        assert_eq!(
            lines[1],
            r#"{"proto":"unix","family":"unix","kind":"stream","state":"established","recv_q":null,"send_q":null,"local":{"path":"@bus","inode":9},"peer":{"path":null,"inode":10},"uid":null,"inode":9,"cookie":null,"ifindex":null,"interface":null,"v6only":null,"timer":{"kind":"keepalive","expires_ms":1500,"retrans":0},"mark":null,"congestion":null,"tcp_info":null,"memory":null,"processes":null,"process_hidden":null,"details":null,"congestion_info":null,"cgroup":null,"netns":null,"container":null,"unit":null}"#
        );
    }

    #[test]
    fn json_array_parses_back() {
        let mut out = Vec::new();
        render_array(&mut out, &sample(), &Names::default()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        let mut empty = Vec::new();
        render_array(&mut empty, &[], &Names::default()).unwrap();
        assert_eq!(empty, b"[]\n");
    }

    #[test]
    fn group_field_names_are_stable() {
        let mut socks = sample();
        socks.push(Socket::inet(
            Proto::Tcp,
            State::ESTABLISHED,
            (IpAddr::V6(Ipv6Addr::LOCALHOST), 443),
            (IpAddr::V6(Ipv6Addr::LOCALHOST), 50000),
        ));
        let groups = crate::group::group(&socks);
        let mut out = Vec::new();
        render_groups(&mut out, &groups, Some(&Services::builtin())).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            r#"{"kind":"listen","proto":"tcp","address":"::","port":443,"path":null,"uid":null,"service":"https","class":"well-known","listeners":1,"sockets":1,"states":{"established":1,"listen":1},"accept_queue":0,"backlog":128,"peers":1,"top_peers":[{"address":"::1","sockets":1}],"dual_stack":true},"#
        );
        assert!(lines[2].starts_with(r#"{"kind":"unix_path","proto":"unix","address":null,"port":null,"path":"@bus""#));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        let mut empty = Vec::new();
        render_groups(&mut empty, &[], None).unwrap();
        assert_eq!(empty, b"[]\n");
    }
}
