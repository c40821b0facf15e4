//! Synthetic inputs at any size, for the readers' memory: a recording written through the real
//! [`Recorder`] and a `list --json` snapshot (used by `examples/gen_recording` and the tests; nothing they
//! write is kept).
//!
//! The recording's connections each open, turn `close-wait` a sample later and close three samples later;
//! one in a thousand stays open. A snapshot's sockets are TCP connections with consecutive cookies.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use super::writer::{Limits, Pending, Recorder, Sample};
use super::{EventRow, GroupRow, RecordError};
use crate::group::GroupKey;
use crate::model::Proto;

fn ip4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// The shape of a synthetic recording.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Events to write (the last sample may add up to `per_sample` more).
    pub events: u64,
    pub per_sample: u64,
    /// Listener groups in every sample.
    pub groups: u64,
}

/// What [`recording`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub samples: u64,
    pub events: u64,
}

/// The first sample's time (2023-11-14T22:13:20Z); sample `n` is taken at `T0 + n * 1000 + 999`.
pub const T0: u64 = 1_700_000_000_000;

/// A TCP listener's group on `ip:port` with `established` connections, nobody named holding it.
pub fn listener_group(ip: IpAddr, port: u16, established: u32) -> GroupRow {
    let mut states = [0u32; 11];
    states[0] = established;
    states[9] = 1;
    GroupRow {
        key: GroupKey::Listen { proto: Proto::Tcp, ip, port, netns: 0 },
        sockets: established + 1,
        listeners: 1,
        states,
        accept_queue: Some(0),
        accept_backlog: Some(128),
        peers: established.min(1),
        top_peers: Vec::new(),
        owner: None,
    }
}

/// An event (`open`, `state`, `close`) of an established TCP connection `local` -> `peer` with `cookie`,
/// seen in a dump, no process or tcp_info known.
pub fn tcp_event(time_ms: u64, kind: &str, cookie: u64, local: (&str, u16), peer: (&str, u16)) -> EventRow {
    EventRow {
        time_ms,
        event: kind.into(),
        proto: "tcp".into(),
        state: "established".into(),
        old_state: None,
        local_address: Some(local.0.into()),
        local_port: Some(local.1),
        peer_address: Some(peer.0.into()),
        peer_port: Some(peer.1),
        cookie: Some(cookie),
        pid: None,
        comm: None,
        lifetime_ms: None,
        bytes_sent: None,
        bytes_received: None,
        retrans: None,
        rtt_us: None,
        via: "dump".into(),
        late: false,
    }
}

/// An event of connection `cookie` to the synthetic server at 10.1.2.3:443.
fn event(time_ms: u64, kind: &str, cookie: u64, state: &str) -> EventRow {
    let peer = format!("10.9.{}.{}", (cookie >> 8) % 256, cookie % 256);
    let close = kind == "close";
    EventRow {
        state: state.into(),
        old_state: (kind == "state").then(|| "established".into()),
        pid: Some(4242),
        comm: Some("nginx".into()),
        lifetime_ms: close.then_some(3000),
        bytes_sent: close.then_some(12_345),
        bytes_received: close.then_some(678),
        ..tcp_event(time_ms, kind, cookie, ("10.1.2.3", 443), (&peer, 1024 + (cookie % 60_000) as u16))
    }
}

fn group(port: u16, established: u32) -> GroupRow {
    GroupRow {
        accept_backlog: Some(511),
        peers: established,
        top_peers: vec![(ip4(10, 9, 0, 1), 3), (ip4(10, 9, 0, 2), 2)],
        owner: Some("nginx[4242]".into()),
        ..listener_group(ip4(10, 1, 2, 3), port, established)
    }
}

/// Write a recording of `shape` to `path` (appending when it exists).
pub fn recording(path: &Path, shape: Shape) -> Result<Written, RecordError> {
    let limits = Limits { keep: None, max_size: None, max_events: usize::MAX };
    let mut rec = Recorder::create(path, limits)?;
    // Each sample: the opens of new connections, state changes of last sample's, closes of those three back.
    let opens = shape.per_sample.max(3) / 3;
    let (mut events, mut samples) = (0u64, 0u64);
    while events < shape.events {
        let (n, time) = (samples, T0 + samples * 1000);
        let mut p = Pending::default();
        for i in 0..opens {
            let c = |s: u64| s * opens + i + 1;
            let t = time + i % 1000;
            p.push_row(event(t, "open", c(n), "established"), usize::MAX);
            if n >= 1 {
                p.push_row(event(t, "state", c(n - 1), "close-wait"), usize::MAX);
            }
            if n >= 3 && c(n - 3) % 1000 != 0 {
                p.push_row(event(t, "close", c(n - 3), "close-wait"), usize::MAX);
            }
        }
        events += p.rows.len() as u64;
        let gs: Vec<GroupRow> = (0..shape.groups).map(|g| group(8000 + g as u16, ((n + g) % 97) as u32)).collect();
        rec.write(&Sample { time_ms: time + 999, dump_ms: 5, sockets: 1000, groups: &gs, events: &p })?;
        samples += 1;
    }
    Ok(Written { samples, events })
}

/// Write a `list --json` array of `n` TCP connections with cookies `first_cookie..`; every
/// `close_wait_every`th cookie is in close-wait (0: none).
pub fn snapshot(w: &mut dyn Write, n: u64, first_cookie: u64, close_wait_every: u64) -> io::Result<()> {
    writeln!(w, "[")?;
    for i in 0..n {
        let cookie = first_cookie + i;
        let every = close_wait_every;
        let state = if every > 0 && cookie.is_multiple_of(every) { "close-wait" } else { "established" };
        let sep = if i + 1 < n { "," } else { "" };
        writeln!(
            w,
            r#"{{"proto":"tcp","family":"inet","kind":null,"state":"{state}","recv_q":0,"send_q":0,"local":{{"address":"10.1.2.3","port":443}},"peer":{{"address":"10.9.{}.{}","port":{}}},"uid":0,"inode":{},"cookie":{cookie},"ifindex":0,"interface":null,"v6only":null,"timer":null,"mark":0,"congestion":null,"tcp_info":null,"memory":null,"processes":null,"process_hidden":null,"details":null,"congestion_info":null,"cgroup":null,"netns":{{"inode":4026531833,"name":null}},"container":null,"unit":null}}{sep}"#,
            (cookie >> 8) % 256,
            cookie % 256,
            1024 + cookie % 60_000,
            100_000 + cookie,
        )?;
    }
    writeln!(w, "]")
}
