//! Metrics tests: each family over a small population, caps folding the rest under `other`, both exposition
//! formats and negotiation, label escaping, namespaces as labels.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::*;
use crate::group::group;
use crate::model::netns::{Container, Namespace, Runtime, Workload};
use crate::model::owners::ProcessInfo;
use crate::ports::classes::{HostPorts, ephemeral_pressure};

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn tcp(state: State, l: (IpAddr, u16), r: (IpAddr, u16)) -> Socket {
    Socket::inet(Proto::Tcp, state, l, r)
}

/// A web server on :8080 (queue 3 of 128, three connections from two peers, a handshake, a TIME-WAIT),
/// ssh on 127.0.0.1:22, a UDP listener on :53, and outbound connections to a database and a cache.
fn population() -> Vec<Socket> {
    let any = ip(0, 0, 0, 0);
    let me = ip(10, 0, 0, 5);
    let mut web = tcp(State::LISTEN, (any, 8080), (any, 0));
    web.recv_q = Some(3);
    web.send_q = Some(128);
    web.inode = 4242;
    let mut ssh = tcp(State::LISTEN, (ip(127, 0, 0, 1), 22), (any, 0));
    ssh.send_q = Some(4096);
    vec![
        web,
        ssh,
        Socket::inet(Proto::Udp, State::CLOSE, (any, 53), (any, 0)),
        tcp(State::ESTABLISHED, (me, 8080), (ip(10, 0, 0, 7), 40001)),
        tcp(State::ESTABLISHED, (me, 8080), (ip(10, 0, 0, 7), 40002)),
        tcp(State::ESTABLISHED, (me, 8080), (ip(10, 0, 0, 8), 40003)),
        tcp(State::SYN_RECV, (me, 8080), (ip(10, 0, 0, 9), 40004)),
        tcp(State::TIME_WAIT, (me, 8080), (ip(10, 0, 0, 9), 40005)),
        tcp(State::ESTABLISHED, (me, 50001), (ip(10, 0, 0, 20), 5432)),
        tcp(State::ESTABLISHED, (me, 50002), (ip(10, 0, 0, 20), 5432)),
        tcp(State::TIME_WAIT, (me, 50003), (ip(10, 0, 0, 20), 5432)),
        tcp(State::CLOSE_WAIT, (me, 50004), (ip(10, 0, 0, 30), 6379)),
    ]
}

fn counters() -> Counters {
    let text = "TcpExt: ListenOverflows ListenDrops\nTcpExt: 7 9\nTcp: RetransSegs MaxConn\nTcp: 11 -1\n";
    crate::collect::procfs::counters::parse(text.as_bytes()).unwrap()
}

fn render_with(socks: &[Socket], caps: Caps, format: Format) -> String {
    let groups = group(socks);
    let host = HostPorts::linux_default();
    let pressure = ephemeral_pressure(socks, &host);
    let services = Services::builtin();
    let counters = counters();
    let input = Input {
        sockets: socks,
        groups: &groups,
        pressure: &pressure,
        ephemeral_capacity: Some(host.capacity()),
        counters: Some(&counters),
        services: &services,
        processes: None,
        caps,
        exporter: Exporter {
            collection_seconds: 0.25,
            collections: 3,
            errors: 1,
            collected_at_unix: 1.5e9,
            success: true,
        },
        namespaces: &Namespaces::default(),
    };
    let mut out = Vec::new();
    render(&mut out, &input, format).unwrap();
    String::from_utf8(out).unwrap()
}

fn render_text(socks: &[Socket]) -> String {
    render_with(socks, Caps::default(), Format::Text)
}

/// The value of the one sample line that starts with `series` (name and labels, exactly as written).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

const WEB: &str = r#"proto="tcp",address="0.0.0.0",port="8080",service="http-alt",class="registered",process="""#;

#[test]
fn sockets_by_protocol_family_state() {
    let t = render_text(&population());
    assert!(t.contains("# TYPE sockscope_sockets gauge\n"), "{t}");
    assert!(t.contains("# HELP sockscope_sockets Sockets by protocol, address family and state.\n"));
    assert_eq!(sample(&t, r#"sockscope_sockets{proto="tcp",family="inet",state="established"}"#), Some(5.0));
    assert_eq!(sample(&t, r#"sockscope_sockets{proto="tcp",family="inet",state="listen"}"#), Some(2.0));
    assert_eq!(sample(&t, r#"sockscope_sockets{proto="udp",family="inet",state="close"}"#), Some(1.0));
}

#[test]
fn listener_families() {
    let t = render_text(&population());
    let s = |name: &str, extra: &str| sample(&t, &format!("sockscope_{name}{{{WEB}{extra}}}"));
    assert_eq!(s("listener_sockets", ""), Some(1.0));
    assert_eq!(s("listener_connections", r#",state="established""#), Some(3.0));
    assert_eq!(s("listener_connections", r#",state="syn-recv""#), Some(1.0));
    assert_eq!(s("listener_connections", r#",state="time-wait""#), Some(1.0));
    // The listener itself is not a connection.
    assert_eq!(s("listener_connections", r#",state="listen""#), None);
    assert_eq!(s("listener_accept_queue", ""), Some(3.0));
    assert_eq!(s("listener_backlog", ""), Some(128.0));
    assert_eq!(s("listener_syn_recv", ""), Some(1.0));
    assert_eq!(s("listener_peers", ""), Some(3.0));
    let ssh = r#"proto="tcp",address="127.0.0.1",port="22",service="ssh",class="well-known",process="""#;
    assert_eq!(sample(&t, &format!("sockscope_listener_backlog{{{ssh}}}")), Some(4096.0));
    let dns = r#"proto="udp",address="0.0.0.0",port="53",service="domain",class="well-known",process="""#;
    assert_eq!(sample(&t, &format!("sockscope_listener_sockets{{{dns}}}")), Some(1.0));
    // UDP has no accept queue.
    assert_eq!(sample(&t, &format!("sockscope_listener_accept_queue{{{dns}}}")), None);
}

#[test]
fn a_listener_read_from_proc_has_no_backlog_rather_than_zero() {
    let mut socks = population();
    socks[0].send_q = None;
    let t = render_text(&socks);
    assert_eq!(sample(&t, &format!("sockscope_listener_backlog{{{WEB}}}")), None);
    assert_eq!(sample(&t, &format!("sockscope_listener_accept_queue{{{WEB}}}")), None);
    assert_eq!(sample(&t, &format!("sockscope_listener_sockets{{{WEB}}}")), Some(1.0));
    assert_eq!(sample(&t, &format!("sockscope_listener_syn_recv{{{WEB}}}")), Some(1.0));
}

#[test]
fn outbound_and_ephemeral_families() {
    let t = render_text(&population());
    let pg = r#"proto="tcp",port="5432",service="postgresql""#;
    assert_eq!(sample(&t, &format!(r#"sockscope_outbound_connections{{{pg},state="established"}}"#)), Some(2.0));
    assert_eq!(sample(&t, &format!(r#"sockscope_outbound_connections{{{pg},state="time-wait"}}"#)), Some(1.0));
    assert_eq!(
        sample(&t, r#"sockscope_outbound_peer_connections{proto="tcp",address="10.0.0.20",port="5432"}"#),
        Some(3.0)
    );
    let tuple = r#"proto="tcp",local_address="10.0.0.5",remote_address="10.0.0.20",remote_port="5432""#;
    assert_eq!(sample(&t, &format!("sockscope_ephemeral_ports_used{{{tuple}}}")), Some(3.0));
    assert_eq!(
        sample(&t, "sockscope_ephemeral_ports_capacity"),
        Some(f64::from(HostPorts::linux_default().capacity()))
    );
    assert_eq!(sample(&t, r#"sockscope_folded_series{family="listener"}"#), Some(0.0));
}

#[test]
fn kernel_and_exporter_families() {
    let t = render_text(&population());
    assert!(t.contains("# TYPE sockscope_kernel_tcp_listen_overflows_total counter\n"), "{t}");
    assert_eq!(sample(&t, "sockscope_kernel_tcp_listen_overflows_total"), Some(7.0));
    assert_eq!(sample(&t, "sockscope_kernel_tcp_listen_drops_total"), Some(9.0));
    assert_eq!(sample(&t, "sockscope_kernel_tcp_retransmitted_segments_total"), Some(11.0));
    // Counters the kernel file lacks are left out, not shown as 0.
    assert!(!t.contains("sockscope_kernel_tcp_syncookies_sent"));
    assert_eq!(sample(&t, "sockscope_collection_duration_seconds"), Some(0.25));
    assert_eq!(sample(&t, "sockscope_last_collection_timestamp_seconds"), Some(1.5e9));
    assert_eq!(sample(&t, "sockscope_collections_total"), Some(3.0));
    assert_eq!(sample(&t, "sockscope_collection_success"), Some(1.0));
    assert_eq!(sample(&t, "sockscope_collection_errors_total"), Some(1.0));
    assert!(t.contains(r#"sockscope_build_info{version=""#));
}

#[test]
fn caps_fold_the_rest_under_other() {
    let caps = Caps { max_listeners: 1, max_peers: 1 };
    let t = render_with(&population(), caps, Format::Text);
    // The busiest listener keeps its series; the other TCP and the UDP listener are summed.
    assert_eq!(sample(&t, &format!("sockscope_listener_sockets{{{WEB}}}")), Some(1.0));
    let other_tcp = r#"proto="tcp",address="other",port="other",service="other",class="other",process="other""#;
    assert_eq!(sample(&t, &format!("sockscope_listener_sockets{{{other_tcp}}}")), Some(1.0));
    assert_eq!(sample(&t, &format!("sockscope_listener_backlog{{{other_tcp}}}")), Some(4096.0));
    assert_eq!(sample(&t, r#"sockscope_folded_series{family="listener"}"#), Some(2.0));
    assert_eq!(
        sample(&t, r#"sockscope_outbound_peer_connections{proto="tcp",address="other",port="other"}"#),
        Some(1.0)
    );
    assert_eq!(sample(&t, r#"sockscope_folded_series{family="outbound_peer"}"#), Some(1.0));
    assert_eq!(
        sample(&t, r#"sockscope_outbound_connections{proto="tcp",port="other",service="other",state="close-wait"}"#),
        Some(1.0)
    );
    assert_eq!(sample(&t, r#"sockscope_folded_series{family="outbound_port"}"#), Some(1.0));
    assert_eq!(sample(&t, r#"sockscope_folded_series{family="ephemeral_tuple"}"#), Some(1.0));
    let tuples = t.lines().filter(|l| l.starts_with("sockscope_ephemeral_ports_used{")).count();
    assert_eq!(tuples, 1);
}

#[test]
fn openmetrics_has_units_and_eof() {
    let t = render_with(&population(), Caps::default(), Format::OpenMetrics);
    assert!(t.ends_with("# EOF\n"), "{t}");
    assert!(t.contains("# UNIT sockscope_collection_duration_seconds seconds\n"));
    assert!(t.contains("# TYPE sockscope_kernel_tcp_listen_overflows counter\n"));
    assert!(t.contains("sockscope_kernel_tcp_listen_overflows_total 7\n"));
    let text = render_text(&population());
    assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
}

/// An input of sockets and groups alone: no pressure, counters or processes.
fn bare<'a>(socks: &'a [Socket], groups: &'a [Group], services: &'a Services, ns: &'a Namespaces) -> Input<'a> {
    Input {
        sockets: socks,
        groups,
        pressure: &[],
        ephemeral_capacity: None,
        counters: None,
        services,
        processes: None,
        caps: Caps::default(),
        exporter: Exporter::default(),
        namespaces: ns,
    }
}

#[test]
fn label_values_are_escaped() {
    let mut socks = population();
    let mut odd = tcp(State::LISTEN, (ip(0, 0, 0, 0), 9999), (ip(0, 0, 0, 0), 0));
    odd.inode = 7;
    socks.push(odd);
    let groups = group(&socks);
    let services = Services::parse("we\"ird\\name 9999/tcp\n".as_bytes());
    let none = Namespaces::default();
    let input = bare(&socks, &groups, &services, &none);
    let mut out = Vec::new();
    render(&mut out, &input, Format::Text).unwrap();
    let t = String::from_utf8(out).unwrap();
    assert!(t.contains(r#"service="we\"ird\\name""#), "{t}");
    assert!(!t.contains("ephemeral_ports_capacity "));
}

#[test]
fn an_empty_snapshot_keeps_the_exporter_families() {
    // Families without series are left out (as the client library does); the exporter's own are always there.
    let t = render_text(&[]);
    for family in ["sockscope_collections_total", "sockscope_collection_duration_seconds", "sockscope_folded_series"] {
        assert!(t.contains(&format!("# TYPE {family} ")), "{family}: {t}");
    }
    assert!(!t.contains("sockscope_listener_connections{"));
}

#[test]
fn negotiation_follows_accept() {
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;\
                      q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    for (accept, want) in [
        (Some(prometheus), Format::OpenMetrics),
        (None, Format::Text),
        (Some("*/*"), Format::Text),
        (Some("text/plain"), Format::Text),
        (Some("text/plain;q=0.9, application/openmetrics-text;q=0.5"), Format::Text),
        (Some("application/openmetrics-text; q=0"), Format::Text),
        (Some("Application/OpenMetrics-Text"), Format::OpenMetrics),
        (Some("application/openmetrics-text;q=bogus"), Format::Text),
    ] {
        assert_eq!(Format::negotiate(accept), want, "{accept:?}");
    }
}

/// The host's namespace (4026531840, named `host` when given) and another (4026532999) holding Docker
/// container `abc123` called `container`.
fn two_namespaces(host: Option<&str>, other: &str, container: &str) -> Namespaces {
    let container = Container {
        runtime: Runtime::Docker,
        id: "abc123".into(),
        name: Some(container.into()),
        pod: None,
        namespace: None,
    };
    Namespaces(vec![
        Namespace { inode: 4026531840, name: host.map(Into::into), owner: None, pid: Some(1), host: true },
        Namespace {
            inode: 4026532999,
            name: Some(other.into()),
            owner: Some(Workload { cgroup: "/docker/abc123".into(), container: Some(container), unit: None }),
            pid: Some(77),
            host: false,
        },
    ])
}

/// `--all-netns`: the same listener port (and outbound port) in two namespaces are two series told apart by
/// `netns` and `container`; sockets by state are counted per namespace.
#[test]
fn two_namespaces_are_two_series() {
    let any = ip(0, 0, 0, 0);
    let me = ip(10, 0, 0, 5);
    let mut socks = Vec::new();
    for netns in [0, 1] {
        let mut l = tcp(State::LISTEN, (any, 8080), (any, 0));
        l.send_q = Some(128);
        l.recv_q = Some(0);
        for mut s in [
            l,
            tcp(State::ESTABLISHED, (me, 8080), (ip(10, 0, 0, 7), 40001)),
            tcp(State::ESTABLISHED, (me, 50001), (ip(10, 0, 0, 20), 5432)),
        ] {
            s.netns = netns;
            socks.push(s);
        }
    }
    let namespaces = two_namespaces(None, "blue", "web");
    let groups = group(&socks);
    let services = Services::builtin();
    let counters = counters();
    let input = Input {
        sockets: &socks,
        groups: &groups,
        pressure: &[],
        ephemeral_capacity: None,
        counters: Some(&counters),
        services: &services,
        processes: None,
        caps: Caps::default(),
        exporter: Exporter::default(),
        namespaces: &namespaces,
    };
    let mut out = Vec::new();
    render(&mut out, &input, Format::Text).unwrap();
    let t = String::from_utf8(out).unwrap();
    let series = |prefix: &str| t.lines().filter(|l| l.starts_with(prefix)).map(str::to_string).collect::<Vec<_>>();
    let listeners = series("sockscope_listener_sockets{");
    assert_eq!(listeners.len(), 2, "{t}");
    assert!(
        listeners
            .iter()
            .any(|l| l.contains(r#"port="8080""#) && l.contains(r#"netns="net:[4026531840]",container="""#)),
        "{t}"
    );
    assert!(
        listeners.iter().any(|l| l.contains(r#"port="8080""#) && l.contains(r#"netns="blue",container="web""#)),
        "{t}"
    );
    assert_eq!(series("sockscope_listener_connections{").len(), 2, "{t}");
    assert_eq!(series("sockscope_outbound_connections{").len(), 2, "{t}");
    assert_eq!(series("sockscope_outbound_peer_connections{").len(), 2, "{t}");
    let established: Vec<_> =
        series("sockscope_sockets{").into_iter().filter(|l| l.contains(r#"state="established""#)).collect();
    assert_eq!(established.len(), 2, "{t}");
    assert!(established.iter().all(|l| l.ends_with(" 2") && l.contains("netns=")), "{t}");
    assert!(t.contains("exporter's own network namespace only"), "{t}");
}

/// Without namespace flags (one namespace or none) no series gets a namespace label.
#[test]
fn one_namespace_has_no_namespace_labels() {
    let t = render_text(&population());
    assert!(!t.contains("netns=") && !t.contains("container="), "{t}");
    assert!(!t.contains("own network namespace"), "{t}");
}

/// Process, namespace, container and service names come from the system (any user names its process, a
/// namespace file or container may be called anything): their control characters reached the exposition raw,
/// so `curl /metrics` on a terminal ran the escape sequences.
#[test]
fn label_values_carry_no_raw_control_characters() {
    let any = ip(0, 0, 0, 0);
    let mut socks = Vec::new();
    for netns in [0, 1] {
        let mut l = tcp(State::LISTEN, (any, 9999), (any, 0));
        (l.inode, l.netns) = (77 + u64::from(netns), netns);
        socks.push(l);
    }
    let info = Arc::new(ProcessInfo { pid: 9, comm: "ev\x1b]0;pwned\x07il".into(), cmdline: String::new(), uid: 0 });
    let fds = [(77, 3), (78, 4)];
    let processes = ProcessMap::build([(info, &fds[..])], 2);
    let namespaces = two_namespaces(Some("ho\rst"), "bl\x1b[31mue", "we\x1b[2Jb");
    let groups = group(&socks);
    let services = Services::parse("be\x07ll 9999/tcp\n".as_bytes());
    let input = Input { processes: Some(&processes), ..bare(&socks, &groups, &services, &namespaces) };
    for format in [Format::Text, Format::OpenMetrics] {
        let mut out = Vec::new();
        render(&mut out, &input, format).unwrap();
        let t = String::from_utf8(out).unwrap();
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
        let line = t.lines().find(|l| l.starts_with("sockscope_listener_sockets{") && l.contains("bl")).unwrap();
        for want in [r#"process="ev\\x1b]0;pwned\\x07il""#, r#"netns="bl\\x1b[31mue""#, r#"container="we\\x1b[2Jb""#] {
            assert!(line.contains(want), "{want} in {line}");
        }
        assert!(t.contains(r#"service="be\\x07ll""#) && t.contains(r#"netns="ho\\x0dst""#), "{t}");
    }
}
