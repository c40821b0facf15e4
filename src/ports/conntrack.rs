//! Connection tracking, pure: a parser of the `/proc/net/nf_conntrack` text (also `conntrack -L -o extended`
//! output, and plain `conntrack -L` lines without the layer-3 columns) and the grouping of destination-NAT'ed
//! flows into port forwards. Reading the file is the caller's business; [`PROC_FILE`] is where it lives.
//!
//! A line is `ipv4 2 tcp 6 431999 ESTABLISHED src=A dst=B sport=P dport=Q [UNREPLIED] src=C dst=D sport=R
//! dport=S [ASSURED] mark=0 zone=0 use=2`: the original tuple (as the first packet left its sender), then the
//! reply tuple (as the answer is expected). Without NAT the reply is the original reversed; when the reply's
//! source differs from the original destination, the flow was destination-NAT'ed (a port forward, a
//! `REDIRECT`, a load balancer); when the reply's destination differs from the original source, it was
//! source-NAT'ed (masquerade).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufRead};
use std::net::IpAddr;

use serde::Serialize;

/// Where the table is, below the proc root.
pub const PROC_FILE: &str = "net/nf_conntrack";

/// One direction of a flow. Ports are `None` for protocols without them (ICMP, GRE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Tuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
}

/// One tracked flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flow {
    /// `ipv4` or `ipv6` (`None` for `conntrack -L` lines, which leave it out).
    pub family: Option<Box<str>>,
    /// Layer-4 protocol name as the kernel prints it: `tcp`, `udp`, `icmp`, `sctp`, `unknown`, ...
    pub proto: Box<str>,
    /// Seconds until the entry expires.
    pub timeout: u64,
    /// Protocol state (`ESTABLISHED`, `TIME_WAIT`, ...) for TCP, SCTP and DCCP; `None` for UDP and ICMP.
    pub state: Option<Box<str>>,
    pub original: Tuple,
    pub reply: Tuple,
    /// Status words in brackets: `ASSURED`, `UNREPLIED`, `OFFLOAD`, ...
    pub flags: Vec<Box<str>>,
}

impl Flow {
    /// The reply comes from somewhere else than the original destination: destination NAT.
    pub fn is_dnat(&self) -> bool {
        self.reply.src != self.original.dst || self.reply.sport != self.original.dport
    }
    /// The reply goes to somewhere else than the original source: source NAT (masquerade).
    pub fn is_snat(&self) -> bool {
        self.reply.dst != self.original.src || self.reply.dport != self.original.sport
    }
}

/// A parsed table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub flows: Vec<Flow>,
    /// Lines that did not parse (skipped, counted).
    pub skipped: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ConntrackError {
    /// The cause is in the message, and so not a `source`: printed once.
    #[error("cannot read the conntrack table: {0}")]
    Io(io::Error),
}

/// Parse the table text. Lines that do not parse are skipped and counted, never fatal; a read error, or a line
/// longer than [`MAX_LINE`](crate::collect::input::MAX_LINE) bytes (not conntrack's), is.
pub fn parse(r: impl BufRead) -> Result<Table, ConntrackError> {
    let mut t = Table::default();
    for line in crate::collect::input::CappedLines::new(r) {
        let line = line.map_err(ConntrackError::Io)?;
        let line = String::from_utf8_lossy(&line);
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line) {
            Some(f) => t.flows.push(f),
            None => t.skipped += 1,
        }
    }
    Ok(t)
}

#[derive(Default)]
struct Partial {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    sport: Option<u16>,
    dport: Option<u16>,
}

impl Partial {
    fn finish(self) -> Option<Tuple> {
        Some(Tuple { src: self.src?, dst: self.dst?, sport: self.sport, dport: self.dport })
    }
}

/// Parse one line; `None` when it is not a flow we understand.
pub fn parse_line(line: &str) -> Option<Flow> {
    let mut words = line.split_ascii_whitespace().peekable();
    let family = match words.peek() {
        Some(&w) if w == "ipv4" || w == "ipv6" => {
            words.next();
            words.next()?.parse::<u16>().ok()?;
            Some(w.into())
        }
        _ => None,
    };
    let proto: Box<str> = words.next()?.into();
    words.next()?.parse::<u16>().ok()?;
    let timeout = words.next()?.parse::<u64>().ok()?;
    let state = match words.peek() {
        Some(w) if !w.contains('=') && !w.starts_with('[') => words.next().map(Into::into),
        _ => None,
    };
    let mut tuples: [Partial; 2] = Default::default();
    let mut which = 0usize;
    let mut flags = Vec::new();
    for w in words {
        if let Some(flag) = w.strip_prefix('[').and_then(|f| f.strip_suffix(']')) {
            flags.push(flag.into());
            continue;
        }
        let Some((key, value)) = w.split_once('=') else { continue };
        // A second `src=` starts the reply tuple.
        if key == "src" && tuples[which].src.is_some() {
            if which == 1 {
                return None;
            }
            which = 1;
        }
        let t = &mut tuples[which];
        match key {
            "src" => t.src = Some(value.parse().ok()?),
            "dst" => t.dst = Some(value.parse().ok()?),
            "sport" => t.sport = Some(value.parse().ok()?),
            "dport" => t.dport = Some(value.parse().ok()?),
            _ => {} // packets=, bytes=, mark=, zone=, use=, id=, type=, ...
        }
    }
    let [o, r] = tuples;
    Some(Flow { family, proto, timeout, state, original: o.finish()?, reply: r.finish()?, flags })
}

/// A port forward: the flows that went to one external (protocol, address, port) and were answered by one
/// internal (address, port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forward {
    pub proto: Box<str>,
    /// Where the clients sent their packets: the original destination.
    pub external_address: IpAddr,
    pub external_port: Option<u16>,
    /// Where the flows really go: the reply's source.
    pub internal_address: IpAddr,
    pub internal_port: Option<u16>,
    pub flows: u32,
    /// Distinct client addresses (original sources).
    pub clients: u32,
    /// Flows by state, by name (`ESTABLISHED`: 3); UDP and ICMP flows, which have no state, count under `-`.
    pub states: BTreeMap<Box<str>, u32>,
}

/// The destination-NAT'ed flows grouped into forwards, sorted by external endpoint then flows (most first).
pub fn forwards(flows: &[Flow]) -> Vec<Forward> {
    type Key = (Box<str>, IpAddr, Option<u16>, IpAddr, Option<u16>);
    let mut groups: HashMap<Key, (Forward, HashSet<IpAddr>)> = HashMap::new();
    for f in flows.iter().filter(|f| f.is_dnat()) {
        let key = (f.proto.clone(), f.original.dst, f.original.dport, f.reply.src, f.reply.sport);
        let (g, clients) = groups.entry(key).or_insert_with(|| {
            (
                Forward {
                    proto: f.proto.clone(),
                    external_address: f.original.dst,
                    external_port: f.original.dport,
                    internal_address: f.reply.src,
                    internal_port: f.reply.sport,
                    flows: 0,
                    clients: 0,
                    states: BTreeMap::new(),
                },
                HashSet::new(),
            )
        });
        g.flows += 1;
        clients.insert(f.original.src);
        *g.states.entry(f.state.clone().unwrap_or_else(|| "-".into())).or_insert(0) += 1;
    }
    let mut out: Vec<Forward> = groups
        .into_values()
        .map(|(mut g, c)| {
            g.clients = c.len() as u32;
            g
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.proto, a.external_address, a.external_port)
            .cmp(&(&b.proto, b.external_address, b.external_port))
            .then(b.flows.cmp(&a.flows))
            .then((a.internal_address, a.internal_port).cmp(&(b.internal_address, b.internal_port)))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: &str = "\
ipv4     2 tcp      6 431999 ESTABLISHED src=203.0.113.5 dst=198.51.100.1 sport=51000 dport=8080 src=10.0.0.2 dst=203.0.113.5 sport=80 dport=51000 [ASSURED] mark=0 zone=0 use=2
ipv4     2 udp      17 29 src=10.0.0.9 dst=1.1.1.1 sport=40000 dport=53 [UNREPLIED] src=1.1.1.1 dst=198.51.100.1 sport=53 dport=40000 mark=0 zone=0 use=2
ipv4     2 icmp     1 29 src=10.0.0.9 dst=8.8.8.8 type=8 code=0 id=7 src=8.8.8.8 dst=10.0.0.9 type=0 code=0 id=7 mark=0 use=2
ipv6     10 tcp      6 117 TIME_WAIT src=2001:0db8:0000:0000:0000:0000:0000:0005 dst=2001:0db8:0000:0000:0000:0000:0000:0001 sport=40000 dport=443 packets=5 bytes=300 src=fd00::2 dst=2001:db8::5 sport=8443 dport=40000 packets=4 bytes=400 [ASSURED] mark=0 use=1
tcp      6 86399 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 [ASSURED] mark=0 use=1
garbage line
ipv4 2 tcp 6 10 ESTABLISHED src=1.2.3.4 dst=not-an-ip sport=1 dport=2 src=5.6.7.8 dst=1.2.3.4 sport=2 dport=1
ipv4 2 tcp 6 10 ESTABLISHED src=1.2.3.4 dst=5.6.7.8 sport=1 dport=2
";

    #[test]
    fn parses_the_documented_format() {
        let t = parse(LINES.as_bytes()).unwrap();
        assert_eq!(t.flows.len(), 5);
        assert_eq!(t.skipped, 3);
        let f = &t.flows[0];
        assert_eq!(f.family.as_deref(), Some("ipv4"));
        assert_eq!((&*f.proto, f.timeout, f.state.as_deref()), ("tcp", 431999, Some("ESTABLISHED")));
        assert_eq!(f.original.dport, Some(8080));
        assert_eq!(f.reply.src, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(f.flags, vec![Box::from("ASSURED")]);
        assert!(f.is_dnat() && !f.is_snat());
        let udp = &t.flows[1];
        assert!(udp.state.is_none() && udp.is_snat() && !udp.is_dnat());
        assert_eq!(udp.flags, vec![Box::from("UNREPLIED")]);
        let icmp = &t.flows[2];
        assert!(icmp.original.sport.is_none() && !icmp.is_dnat() && !icmp.is_snat());
        let v6 = &t.flows[3];
        assert_eq!(v6.original.dst, "2001:db8::1".parse::<IpAddr>().unwrap());
        assert!(v6.is_dnat());
        assert!(t.flows[4].family.is_none() && !t.flows[4].is_dnat());
    }

    #[test]
    fn groups_dnat_flows() {
        let mut text = String::from(LINES);
        for (i, st) in ["ESTABLISHED", "TIME_WAIT", "ESTABLISHED"].iter().enumerate() {
            text.push_str(&format!(
                "ipv4 2 tcp 6 100 {st} src=203.0.113.{} dst=198.51.100.1 sport={} dport=8080 src=10.0.0.2 \
                 dst=203.0.113.{} sport=80 dport={} [ASSURED] mark=0 use=1\n",
                6 + (i % 2),
                52000 + i,
                6 + (i % 2),
                52000 + i
            ));
        }
        let t = parse(text.as_bytes()).unwrap();
        let fw = forwards(&t.flows);
        assert_eq!(fw.len(), 2, "{fw:#?}");
        let web = &fw[0];
        assert_eq!((web.external_port, web.internal_port, web.flows, web.clients), (Some(8080), Some(80), 4, 3));
        assert_eq!(web.states.get("ESTABLISHED"), Some(&3));
        assert_eq!(web.states.get("TIME_WAIT"), Some(&1));
        assert_eq!((fw[1].external_port, fw[1].internal_port), (Some(443), Some(8443)));
    }

    #[test]
    fn never_panics_on_junk() {
        for junk in ["", "ipv4", "ipv4 x", "ipv4 2 tcp 6", "ipv4 2 tcp 6 x", "src=1.2.3.4", "ipv4 2 tcp 6 1 src="] {
            assert!(parse_line(junk).is_none(), "{junk}");
        }
        let three = "tcp 6 1 src=1.1.1.1 dst=2.2.2.2 src=2.2.2.2 dst=1.1.1.1 src=3.3.3.3 dst=4.4.4.4";
        assert!(parse_line(three).is_none());
    }
}
