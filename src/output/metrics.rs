//! Prometheus metrics: one snapshot (sockets, their groups, ephemeral-port pressure, kernel counters) as
//! metric families in a `prometheus-client` registry, written as OpenMetrics or the classic text format 0.0.4.
//!
//! A pure function of its [`Input`]: the server decides when to collect; this decides what the series are.
//! Per-endpoint families are capped ([`Caps`]): the biggest endpoints get their own series, the rest are summed
//! under `other` labels and `sockscope_folded_series` says how many were folded.

use std::io::{self, Write};
use std::net::IpAddr;

use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::collect::procfs::counters::Counters;
use crate::group::{Group, GroupKey, StateCounts};
use crate::hash::FastMap;
use crate::model::netns::{Namespaces, NetnsId};
use crate::model::owners::ProcessMap;
use crate::model::text::escape;
use crate::model::{Proto, Socket, State};
use crate::ports::classes::{PortClass, Pressure};
use crate::ports::services::Services;

/// The label value that stands for everything beyond a cap.
pub const OTHER: &str = "other";

/// Exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 (`application/openmetrics-text`), what Prometheus asks for first.
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4 (`text/plain`), for plain requests and older tools.
    Text,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => prometheus_text::CONTENT_TYPE,
        }
    }

    /// The format an `Accept` header prefers: OpenMetrics when it weighs it above `text/plain`, the classic
    /// text format otherwise (also without a header, or with only `*/*`).
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else { return Format::Text };
        let (mut om, mut plain) = (0.0f64, 0.0f64);
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut q = 1.0;
            for p in parts {
                if let Some(v) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                    q = v.trim().parse::<f64>().ok().filter(|q| (0.0..=1.0).contains(q)).unwrap_or(0.0);
                }
            }
            match media.as_str() {
                "application/openmetrics-text" => om = om.max(q),
                "text/plain" => plain = plain.max(q),
                _ => {}
            }
        }
        if om > 0.0 && om > plain { Format::OpenMetrics } else { Format::Text }
    }
}

/// Cardinality caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Listening endpoints with series of their own (the busiest first).
    pub max_listeners: usize,
    /// Remote endpoints (outbound ports, outbound addresses, ephemeral-port tuples) with series of their own.
    pub max_peers: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps { max_listeners: 100, max_peers: 100 }
    }
}

/// The exporter's own health.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Exporter {
    /// How long the last collection took.
    pub collection_seconds: f64,
    /// Collections since start.
    pub collections: u64,
    /// Failed collections since start.
    pub errors: u64,
    /// When the data shown was collected (Unix time).
    pub collected_at_unix: f64,
    /// The last collection worked (when it failed, the socket families are left out).
    pub success: bool,
}

/// Everything one exposition is made of.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub sockets: &'a [Socket],
    /// `group::group_with(sockets, fold)`.
    pub groups: &'a [Group],
    /// `ports::classes::ephemeral_pressure(sockets, ..)`, busiest first, each tuple in its namespace.
    pub pressure: &'a [Pressure],
    /// Ports one (protocol, local address, remote endpoint) tuple can use.
    pub ephemeral_capacity: Option<u32>,
    pub counters: Option<&'a Counters>,
    pub services: &'a Services,
    /// Socket holders, for the `process` label of listeners (`None`: not looked up).
    pub processes: Option<&'a ProcessMap>,
    pub caps: Caps,
    pub exporter: Exporter,
    /// The namespaces `Socket::netns` indexes. With more than one, every per-socket and per-endpoint series
    /// gets `netns` and `container` labels; with one or none the exposition has no namespace labels.
    pub namespaces: &'a Namespaces,
}

impl Input<'_> {
    /// Several namespaces are exported: series carry `netns` and `container` labels.
    fn several(&self) -> bool {
        self.namespaces.len() > 1
    }

    /// `netns` and `container` labels of a namespace, or nothing with one namespace.
    fn ns_labels(&self, id: NetnsId) -> Labels {
        if !self.several() {
            return Vec::new();
        }
        let ns = self.namespaces.get(id);
        let netns =
            ns.map_or_else(String::new, |n| n.name.as_deref().map_or_else(|| format!("net:[{}]", n.inode), label));
        let container = ns
            .and_then(|n| n.owner.as_ref())
            .and_then(|w| w.container.as_ref())
            .map_or_else(String::new, |c| label(c.name.as_deref().unwrap_or(&c.id)));
        vec![("netns", netns), ("container", container)]
    }

    /// `netns` and `container` set to `other` for rows summed over namespaces, or nothing with one namespace.
    fn ns_other(&self) -> Labels {
        if self.several() { vec![("netns", OTHER.to_string()), ("container", OTHER.to_string())] } else { Vec::new() }
    }
}

/// Kernel counters exported: (section, name in the file, metric name, help).
const KERNEL: &[(&str, &str, &str, &str)] = &[
    (
        "TcpExt",
        "ListenOverflows",
        "kernel_tcp_listen_overflows",
        "Connections that completed the handshake while their listener's accept queue was full (TcpExt ListenOverflows)",
    ),
    (
        "TcpExt",
        "ListenDrops",
        "kernel_tcp_listen_drops",
        "Incoming connections dropped by listeners for any reason, overflows included (TcpExt ListenDrops)",
    ),
    (
        "TcpExt",
        "TCPReqQFullDrop",
        "kernel_tcp_request_queue_full_drops",
        "SYNs dropped because the SYN queue was full and syncookies were off (TcpExt TCPReqQFullDrop)",
    ),
    ("TcpExt", "SyncookiesSent", "kernel_tcp_syncookies_sent", "SYN cookies sent (TcpExt SyncookiesSent)"),
    (
        "TcpExt",
        "TCPBacklogDrop",
        "kernel_tcp_backlog_drops",
        "Segments dropped because the socket backlog was full (TcpExt TCPBacklogDrop)",
    ),
    ("TcpExt", "TCPSynRetrans", "kernel_tcp_syn_retransmits", "SYN and SYN-ACK retransmits (TcpExt TCPSynRetrans)"),
    ("TcpExt", "TCPTimeouts", "kernel_tcp_timeouts", "Retransmission timer expiries (TcpExt TCPTimeouts)"),
    ("Tcp", "RetransSegs", "kernel_tcp_retransmitted_segments", "TCP segments retransmitted (Tcp RetransSegs)"),
    ("Tcp", "ActiveOpens", "kernel_tcp_active_opens", "Outgoing TCP connections opened (Tcp ActiveOpens)"),
    ("Tcp", "PassiveOpens", "kernel_tcp_passive_opens", "Incoming TCP connections accepted (Tcp PassiveOpens)"),
    ("Tcp", "AttemptFails", "kernel_tcp_attempt_fails", "TCP connection attempts that failed (Tcp AttemptFails)"),
    ("Tcp", "EstabResets", "kernel_tcp_established_resets", "Established TCP connections reset (Tcp EstabResets)"),
    ("Tcp", "InSegs", "kernel_tcp_received_segments", "TCP segments received (Tcp InSegs)"),
    ("Tcp", "OutSegs", "kernel_tcp_sent_segments", "TCP segments sent (Tcp OutSegs)"),
    ("Tcp", "InErrs", "kernel_tcp_receive_errors", "TCP segments received with errors (Tcp InErrs)"),
    ("Tcp", "OutRsts", "kernel_tcp_sent_resets", "TCP segments sent with RST (Tcp OutRsts)"),
    ("Udp", "NoPorts", "kernel_udp_no_port_datagrams", "UDP datagrams to a port nobody listens on (Udp NoPorts)"),
    ("Udp", "InErrors", "kernel_udp_receive_errors", "UDP datagrams that could not be delivered (Udp InErrors)"),
    (
        "Udp",
        "RcvbufErrors",
        "kernel_udp_receive_buffer_errors",
        "UDP datagrams dropped because the receive buffer was full (Udp RcvbufErrors)",
    ),
];

type Labels = Vec<(&'static str, String)>;

/// A label value from the system (process, namespace, container and service names): control characters (ESC,
/// BEL, newlines) and bidi overrides as `\xNN` text, as `model::text::escape` shows them on a terminal, so a
/// scrape read with `curl` cannot carry escape sequences. The exposition's own escaping of `\` and `"` is the
/// client library's.
fn label(value: &str) -> String {
    escape(value).into_owned()
}
type GaugeFamily = Family<Labels, Gauge>;

/// The labels of one listening endpoint.
fn listener_labels(input: &Input, g: &Group, proto: Proto, ip: IpAddr, port: u16, netns: NetnsId) -> Labels {
    let service = label(input.services.name(proto, port).unwrap_or(""));
    let process = match input.processes {
        Some(map) => {
            let mut names: Vec<&str> = Vec::new();
            for &i in &g.listeners {
                let Some(s) = input.sockets.get(i as usize) else { continue };
                for r in map.get(s.inode) {
                    if !names.contains(&r.process.comm.as_str()) {
                        names.push(&r.process.comm);
                    }
                }
            }
            names.sort_unstable();
            label(&names.join(","))
        }
        None => String::new(),
    };
    let mut labels = vec![
        ("proto", proto.name().to_string()),
        ("address", ip.to_string()),
        ("port", port.to_string()),
        ("service", service),
        ("class", PortClass::of(port).name().to_string()),
        ("process", process),
    ];
    labels.extend(input.ns_labels(netns));
    labels
}

fn other_listener_labels(input: &Input, proto: Proto) -> Labels {
    let o = || OTHER.to_string();
    let mut labels = vec![
        ("proto", proto.name().to_string()),
        ("address", o()),
        ("port", o()),
        ("service", o()),
        ("class", o()),
        ("process", o()),
    ];
    labels.extend(input.ns_other());
    labels
}

fn with(mut labels: Labels, key: &'static str, value: impl Into<String>) -> Labels {
    labels.push((key, value.into()));
    labels
}

/// Non-zero state counts as (state, count).
fn states(c: &StateCounts) -> impl Iterator<Item = (State, i64)> + '_ {
    c.0.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, n)| (State(i as u8), i64::from(*n)))
}

/// Per listening endpoint: sums over the endpoints that share a label set (the `other` rows).
#[derive(Default)]
struct ListenerRow {
    tcp: bool,
    sockets: i64,
    connections: StateCounts,
    queue: Option<(i64, i64)>,
    syn_recv: i64,
    peers: i64,
}

/// The registry for one snapshot.
pub fn registry(input: &Input) -> Registry {
    let mut reg = Registry::with_prefix("sockscope");
    register_sockets(&mut reg, input);
    let folded_listeners = register_listeners(&mut reg, input);
    let (folded_ports, folded_peers) = register_outbound(&mut reg, input);
    let folded_tuples = register_ephemeral(&mut reg, input);
    let folded = GaugeFamily::default();
    for (family, n) in [
        ("listener", folded_listeners),
        ("outbound_port", folded_ports),
        ("outbound_peer", folded_peers),
        ("ephemeral_tuple", folded_tuples),
    ] {
        folded.get_or_create(&vec![("family", family.to_string())]).set(n);
    }
    reg.register(
        "folded_series",
        "Endpoints beyond the cardinality caps (--max-listeners, --max-peers): summed under `other`, or for \
         ephemeral tuples left out",
        folded,
    );
    if let Some(c) = input.counters {
        register_kernel(&mut reg, c, input.several());
    }
    register_exporter(&mut reg, input.exporter);
    reg
}

/// Sockets by protocol, family and state.
fn register_sockets(reg: &mut Registry, input: &Input) {
    let sockets = GaugeFamily::default();
    let several = input.several();
    let mut by_kind: FastMap<(Proto, &'static str, State, NetnsId), i64> = FastMap::default();
    for s in input.sockets {
        let netns = if several { s.netns } else { 0 };
        *by_kind.entry((s.proto, s.family.name(), s.state, netns)).or_insert(0) += 1;
    }
    for ((proto, family, state, netns), n) in by_kind {
        let mut labels = vec![
            ("proto", proto.name().to_string()),
            ("family", family.to_string()),
            ("state", state.name().to_string()),
        ];
        labels.extend(input.ns_labels(netns));
        sockets.get_or_create(&labels).set(n);
    }
    reg.register("sockets", "Sockets by protocol, address family and state", sockets);
}

/// Listening endpoints, the busiest first; the rest summed per protocol under `other`. Returns how many
/// were folded.
fn register_listeners(reg: &mut Registry, input: &Input) -> i64 {
    let mut rows: Vec<(Labels, ListenerRow)> = Vec::new();
    let mut other: FastMap<Proto, ListenerRow> = FastMap::default();
    let mut folded_listeners = 0i64;
    for g in input.groups {
        let GroupKey::Listen { proto, ip, port, netns } = g.key else { continue };
        let row = ListenerRow::of(input, g, proto);
        if rows.len() < input.caps.max_listeners {
            rows.push((listener_labels(input, g, proto, ip, port, netns), row));
        } else {
            folded_listeners += 1;
            other.entry(proto).or_default().absorb(&row);
        }
    }
    let mut others: Vec<(Proto, ListenerRow)> = other.into_iter().collect();
    others.sort_by_key(|(p, _)| *p);
    rows.extend(others.into_iter().map(|(p, r)| (other_listener_labels(input, p), r)));
    register_listener_rows(reg, &rows);
    folded_listeners
}

impl ListenerRow {
    /// A listening group's row: its listeners, the sockets on its port by state (the listeners themselves not
    /// counted), the accept queue (when every listener's backlog is known), handshakes, peers.
    fn of(input: &Input, g: &Group, proto: Proto) -> ListenerRow {
        let mut connections = g.states;
        for &i in &g.listeners {
            if let Some(s) = input.sockets.get(i as usize)
                && let Some(c) = connections.0.get_mut(s.state.0 as usize)
            {
                *c = c.saturating_sub(1);
            }
        }
        let backlog_known =
            g.listeners.iter().all(|&i| input.sockets.get(i as usize).is_some_and(|s| s.send_q.is_some()));
        ListenerRow {
            tcp: proto == Proto::Tcp,
            sockets: g.listeners.len() as i64,
            syn_recv: i64::from(connections.get(State::SYN_RECV) + connections.get(State::NEW_SYN_RECV)),
            connections,
            // A listener read from /proc has no backlog: leave the queue out rather than show a limit of 0.
            queue: g.accept_queue.filter(|_| backlog_known).map(|(q, b)| (i64::from(q), i64::from(b))),
            peers: i64::from(g.peers),
        }
    }

    /// Add a listener past the cap to its protocol's `other` row.
    fn absorb(&mut self, row: &ListenerRow) {
        self.tcp = row.tcp;
        self.sockets += row.sockets;
        for (st, n) in row.connections.0.iter().enumerate() {
            self.connections.0[st] += n;
        }
        if let Some((q, b)) = row.queue {
            let (oq, ob) = self.queue.unwrap_or((0, 0));
            self.queue = Some((oq + q, ob + b));
        }
        self.syn_recv += row.syn_recv;
        self.peers += row.peers;
    }
}

/// The listener families: each row's series.
fn register_listener_rows(reg: &mut Registry, rows: &[(Labels, ListenerRow)]) {
    let new = GaugeFamily::default;
    let (l_sockets, l_conns, l_queue, l_backlog, l_syn, l_peers) = (new(), new(), new(), new(), new(), new());
    for (labels, r) in rows {
        l_sockets.get_or_create(labels).set(r.sockets);
        for (st, n) in states(&r.connections) {
            l_conns.get_or_create(&with(labels.clone(), "state", st.name())).set(n);
        }
        if let Some((q, b)) = r.queue {
            l_queue.get_or_create(labels).set(q);
            l_backlog.get_or_create(labels).set(b);
        }
        if r.tcp {
            l_syn.get_or_create(labels).set(r.syn_recv);
        }
        l_peers.get_or_create(labels).set(r.peers);
    }
    reg.register(
        "listener_sockets",
        "Listening sockets on the endpoint (more than one with SO_REUSEPORT); the series disappears when the \
         listener is gone",
        l_sockets,
    );
    reg.register(
        "listener_connections",
        "Sockets on the listening endpoint's port (accepted connections and handshakes), by state",
        l_conns,
    );
    reg.register(
        "listener_accept_queue",
        "TCP connections waiting in the listener's accept queue (summed over SO_REUSEPORT listeners)",
        l_queue,
    );
    reg.register("listener_backlog", "The accept queue's limit, the listen() backlog (summed the same way)", l_backlog);
    reg.register("listener_syn_recv", "Handshakes in progress (SYN-RECV) on the TCP listener's port", l_syn);
    reg.register(
        "listener_peers",
        "Distinct remote addresses connected to the listening endpoint (summed for `other`)",
        l_peers,
    );
}

/// Outbound sockets per remote port (by state) and per remote address and port, each capped. Returns how
/// many ports and addresses were folded.
fn register_outbound(reg: &mut Registry, input: &Input) -> (i64, i64) {
    let new = GaugeFamily::default;
    let several = input.several();
    let mut by_port: Vec<((Proto, u16, NetnsId), StateCounts)> = Vec::new();
    let mut port_index: FastMap<(Proto, u16, NetnsId), usize> = FastMap::default();
    let out_peer = new();
    let (mut folded_peers, mut other_peers) = (0i64, FastMap::<Proto, i64>::default());
    let mut peers_shown = 0usize;
    for g in input.groups {
        let GroupKey::Outbound { proto, ip, port, netns } = g.key else { continue };
        let netns = if several { netns } else { 0 };
        let i = *port_index.entry((proto, port, netns)).or_insert_with(|| {
            by_port.push(((proto, port, netns), StateCounts::default()));
            by_port.len() - 1
        });
        for (st, n) in g.states.0.iter().enumerate() {
            by_port[i].1.0[st] += n;
        }
        let n = g.states.total() as i64;
        if peers_shown < input.caps.max_peers {
            peers_shown += 1;
            let mut labels =
                vec![("proto", proto.name().to_string()), ("address", ip.to_string()), ("port", port.to_string())];
            labels.extend(input.ns_labels(netns));
            out_peer.get_or_create(&labels).set(n);
        } else {
            folded_peers += 1;
            *other_peers.entry(proto).or_insert(0) += n;
        }
    }
    for (proto, n) in other_peers {
        let mut labels = vec![("proto", proto.name().to_string()), ("address", OTHER.into()), ("port", OTHER.into())];
        labels.extend(input.ns_other());
        out_peer.get_or_create(&labels).set(n);
    }
    let (out_port, folded_ports) = outbound_ports(input, by_port);
    reg.register(
        "outbound_connections",
        "Sockets whose local port has no listener, by remote port and state",
        out_port,
    );
    reg.register(
        "outbound_peer_connections",
        "Sockets whose local port has no listener, by remote address and port",
        out_peer,
    );
    (folded_ports, folded_peers)
}

/// Outbound sockets by remote port and state: the busiest ports, the rest summed per protocol under `other`.
/// Returns the family and how many ports were folded.
fn outbound_ports(input: &Input, mut by_port: Vec<((Proto, u16, NetnsId), StateCounts)>) -> (GaugeFamily, i64) {
    by_port.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(&b.0)));
    let out_port = GaugeFamily::default();
    let mut folded_ports = 0i64;
    let mut other_ports: FastMap<Proto, StateCounts> = FastMap::default();
    for (k, ((proto, port, netns), counts)) in by_port.iter().enumerate() {
        let (port_label, service) = if k < input.caps.max_peers {
            (port.to_string(), label(input.services.name(*proto, *port).unwrap_or("")))
        } else {
            folded_ports += 1;
            let o = other_ports.entry(*proto).or_default();
            for (st, n) in counts.0.iter().enumerate() {
                o.0[st] += n;
            }
            continue;
        };
        for (st, n) in states(counts) {
            let mut labels = vec![
                ("proto", proto.name().to_string()),
                ("port", port_label.clone()),
                ("service", service.clone()),
                ("state", st.name().to_string()),
            ];
            labels.extend(input.ns_labels(*netns));
            out_port.get_or_create(&labels).set(n);
        }
    }
    for (proto, counts) in &other_ports {
        for (st, n) in states(counts) {
            let mut labels = vec![
                ("proto", proto.name().to_string()),
                ("port", OTHER.into()),
                ("service", OTHER.into()),
                ("state", st.name().to_string()),
            ];
            labels.extend(input.ns_other());
            out_port.get_or_create(&labels).set(n);
        }
    }
    (out_port, folded_ports)
}

/// Ephemeral ports per (protocol, local address, remote endpoint): the busiest tuples only (a sum of tuples
/// is not compared against anything, so nothing is summed under `other`). Returns how many were left out.
fn register_ephemeral(reg: &mut Registry, input: &Input) -> i64 {
    let used = GaugeFamily::default();
    let mut folded_tuples = 0i64;
    for (k, p) in input.pressure.iter().enumerate() {
        if k >= input.caps.max_peers {
            folded_tuples += 1;
            continue;
        }
        let mut labels = vec![
            ("proto", p.proto.name().to_string()),
            ("local_address", p.local_address.to_string()),
            ("remote_address", p.remote_address.to_string()),
            ("remote_port", p.remote_port.to_string()),
        ];
        labels.extend(input.ns_labels(p.netns));
        used.get_or_create(&labels).set(i64::from(p.sockets));
    }
    reg.register(
        "ephemeral_ports_used",
        "Local ports from the ephemeral range held towards one remote endpoint from one local address, \
         TIME-WAIT included (the busiest tuples)",
        used,
    );
    if let Some(cap) = input.ephemeral_capacity {
        let g: Gauge = Gauge::default();
        g.set(i64::from(cap));
        reg.register(
            "ephemeral_ports_capacity",
            "Ports one tuple can use: the size of net.ipv4.ip_local_port_range minus reserved ports",
            g,
        );
    }

    folded_tuples
}

/// The kernel's counters are per network namespace: with several namespaces exported, they are the
/// exporter's own namespace's, and their HELP text says so.
fn register_kernel(reg: &mut Registry, c: &Counters, several: bool) {
    for (section, name, metric, help) in KERNEL {
        if let Some(v) = c.get(section, name) {
            let counter: Counter = Counter::default();
            counter.inc_by(v);
            let help = if several {
                format!("{help}; the exporter's own network namespace only (other namespaces are not counted)")
            } else {
                help.to_string()
            };
            reg.register(*metric, help, counter);
        }
    }
}

fn register_exporter(reg: &mut Registry, e: Exporter) {
    let secs: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
    secs.set(e.collection_seconds);
    reg.register_with_unit(
        "collection_duration",
        "Time the last collection took (socket dump, processes, kernel counters)",
        Unit::Seconds,
        secs,
    );
    let at: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
    at.set(e.collected_at_unix);
    reg.register_with_unit(
        "last_collection_timestamp",
        "When the data served was collected (Unix time)",
        Unit::Seconds,
        at,
    );
    let ok: Gauge = Gauge::default();
    ok.set(i64::from(e.success));
    reg.register(
        "collection_success",
        "1 when the last collection worked, 0 when it failed (the socket families are then left out)",
        ok,
    );
    let runs: Counter = Counter::default();
    runs.inc_by(e.collections);
    reg.register("collections", "Collections since the exporter started", runs);
    let errors: Counter = Counter::default();
    errors.inc_by(e.errors);
    reg.register("collection_errors", "Collections that failed since the exporter started", errors);
    reg.register(
        "build",
        "The exporter's version",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION").to_string())]),
    );
}

/// A registry as exposition text.
pub fn encode(reg: &Registry, format: Format) -> String {
    let mut out = String::with_capacity(64 * 1024);
    // Writing into a String cannot fail, and our label values are plain strings.
    let _ = match format {
        Format::OpenMetrics => text::encode(&mut out, reg),
        Format::Text => prometheus_text::encode(&mut out, reg),
    };
    out
}

/// Write the snapshot's metrics in `format`.
pub fn render(w: &mut dyn Write, input: &Input, format: Format) -> io::Result<()> {
    w.write_all(encode(&registry(input), format).as_bytes())
}

#[cfg(test)]
mod tests;
