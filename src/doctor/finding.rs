//! What the engine says: a [`Finding`] (a stable kind, a severity, a sentence naming the port, address,
//! process and container, the evidence, the threshold crossed, the next step), what each check did
//! ([`Check`]), and the [`Report`] of a window.

use serde::Serialize;

use crate::model::netns::NetnsId;

/// The checks, by their stable names (`accept-queue-overflow`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    AcceptQueueOverflow,
    SynQueueOverflow,
    BacklogClamped,
    CloseWaitLeak,
    ConnectStall,
    ZeroWindowStall,
    SendQueueBuildup,
    RetransmitHotspot,
    EphemeralExhaustion,
    TimeWaitOverflow,
    OrphanPressure,
    TcpMemoryPressure,
    UdpReceiveDrops,
    ConntrackFull,
    FinWait2Held,
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::AcceptQueueOverflow,
        Kind::SynQueueOverflow,
        Kind::BacklogClamped,
        Kind::CloseWaitLeak,
        Kind::ConnectStall,
        Kind::ZeroWindowStall,
        Kind::SendQueueBuildup,
        Kind::RetransmitHotspot,
        Kind::EphemeralExhaustion,
        Kind::TimeWaitOverflow,
        Kind::OrphanPressure,
        Kind::TcpMemoryPressure,
        Kind::UdpReceiveDrops,
        Kind::ConntrackFull,
        Kind::FinWait2Held,
    ];

    /// The stable name (metrics labels, JSON, `--set` keys).
    pub fn name(self) -> &'static str {
        match self {
            Kind::AcceptQueueOverflow => "accept-queue-overflow",
            Kind::SynQueueOverflow => "syn-queue-overflow",
            Kind::BacklogClamped => "backlog-clamped",
            Kind::CloseWaitLeak => "close-wait-leak",
            Kind::ConnectStall => "connect-stall",
            Kind::ZeroWindowStall => "zero-window-stall",
            Kind::SendQueueBuildup => "send-queue-buildup",
            Kind::RetransmitHotspot => "retransmit-hotspot",
            Kind::EphemeralExhaustion => "ephemeral-exhaustion",
            Kind::TimeWaitOverflow => "time-wait-overflow",
            Kind::OrphanPressure => "orphan-pressure",
            Kind::TcpMemoryPressure => "tcp-memory-pressure",
            Kind::UdpReceiveDrops => "udp-receive-drops",
            Kind::ConntrackFull => "conntrack-full",
            Kind::FinWait2Held => "fin-wait-2-held",
        }
    }

    /// What the check looks at, for the line of a check that passed.
    pub fn looks_at(self) -> &'static str {
        match self {
            Kind::AcceptQueueOverflow => "listeners' accept queues and their drops",
            Kind::SynQueueOverflow => "half-open connections (SYN-RECV) and SYN drops",
            Kind::BacklogClamped => "listen backlogs against somaxconn and their load",
            Kind::CloseWaitLeak => "CLOSE-WAIT sockets per process",
            Kind::ConnectStall => "connections stuck in SYN-SENT per destination",
            Kind::ZeroWindowStall => "zero windows and full receive queues",
            Kind::SendQueueBuildup => "growing send queues",
            Kind::RetransmitHotspot => "retransmissions per peer",
            Kind::EphemeralExhaustion => "ephemeral ports per destination",
            Kind::TimeWaitOverflow => "TIME-WAIT buckets",
            Kind::OrphanPressure => "orphaned sockets against tcp_max_orphans",
            Kind::TcpMemoryPressure => "TCP memory against tcp_mem",
            Kind::UdpReceiveDrops => "UDP receive buffer drops",
            Kind::ConntrackFull => "the connection tracking table",
            Kind::FinWait2Held => "FIN-WAIT-2 sockets a process still holds",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A kernel counter over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CounterDelta {
    /// `TcpExt:ListenOverflows`, `sockstat:orphan`, `sysctl:net.core.somaxconn`.
    pub name: String,
    pub before: Option<u64>,
    pub now: u64,
    /// Per second over the window, for a counter (`None` for a level such as a socket count).
    pub per_sec: Option<f64>,
}

/// One offending socket with the numbers that matter for the finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SocketEvidence {
    pub proto: String,
    pub state: String,
    pub local: String,
    pub peer: String,
    pub cookie: Option<u64>,
    pub process: Option<String>,
    /// `("recv_q", 17)`, `("drops", 164)`...
    pub values: Vec<(String, u64)>,
}

/// What proves a finding.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    /// The offending sockets (at most a few; `more` says how many others).
    pub sockets: Vec<SocketEvidence>,
    pub more: usize,
    pub counters: Vec<CounterDelta>,
    /// Other facts, as `name: value` (`peers: 44`, `share: 12.5%`).
    pub facts: Vec<(String, String)>,
}

/// One diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub severity: Severity,
    /// One sentence naming the port, address, process and container.
    pub summary: String,
    /// What the finding is about, for marks on screens and labels on metrics: `tcp 0.0.0.0:8080`,
    /// `-> 10.0.0.9:5432`, or the host's table (`tcp memory`).
    pub subject: String,
    /// The local or remote port it concerns, when one does.
    pub port: Option<u16>,
    pub process: Option<String>,
    pub netns: NetnsId,
    /// The namespace's container or name (none for the host's own namespace).
    pub label: Option<String>,
    pub evidence: Evidence,
    /// The threshold crossed, in words (`accept queue full (17 of 16) and 164 drops in 5 s`).
    pub threshold: String,
    pub next_step: String,
}

impl Finding {
    /// A finding of `kind` about `subject`; the rest is filled in by the rule.
    pub(crate) fn new(kind: Kind, severity: Severity, subject: String, summary: String) -> Finding {
        Finding {
            kind,
            severity,
            summary,
            subject,
            port: None,
            process: None,
            netns: NetnsId::default(),
            label: None,
            evidence: Evidence::default(),
            threshold: String::new(),
            next_step: String::new(),
        }
    }

    /// Labelled with the window's namespace, and the container named in the summary.
    pub(crate) fn scoped(mut self, w: &super::Window) -> Finding {
        self.netns = w.netns;
        self.label = w.label.clone();
        if let Some(l) = &w.label {
            self.summary = format!("{} (in {l})", self.summary);
        }
        self
    }
}

/// What a check did in one namespace.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "kebab-case")]
pub enum CheckStatus {
    Passed,
    Found(usize),
    /// It could not run: no privilege, no conntrack, a counter the kernel lacks (the reason).
    CannotRun(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub kind: Kind,
    pub netns: NetnsId,
    pub label: Option<String>,
    #[serde(flatten)]
    pub status: CheckStatus,
}

/// The findings of a window, worst first, and what every check did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub checks: Vec<Check>,
}

impl Report {
    /// Critical before warning, then by kind, then by subject.
    pub fn sort(&mut self) {
        self.findings.sort_by(|a, b| {
            b.severity.cmp(&a.severity).then(a.kind.cmp(&b.kind)).then_with(|| a.subject.cmp(&b.subject))
        });
    }

    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}
