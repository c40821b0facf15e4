//! The thresholds each check uses, with their defaults and where each comes from; any of them can be set on
//! the command line as `--set CHECK.NAME=VALUE` (`--set close-wait-leak.min=50`).

/// Every threshold, by check.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// A listener's accept queue at this share of its backlog is filling (the dashboard's red mark; the kernel
    /// drops at 100%, `sk_acceptq_is_full`).
    pub accept_fill: f64,
    /// Half-open connections of one listener at this share of its SYN queue (the smaller of its backlog and
    /// `tcp_max_syn_backlog`, as `inet_csk_reqsk_queue_is_full` counts) are a warning.
    pub syn_fill: f64,
    /// At least this many distinct peers among a listener's half-open connections make it a flood rather than
    /// a slow application (a few dozen clients retrying is normal on a busy server).
    pub syn_flood_peers: f64,
    /// A listener whose backlog is its namespace's somaxconn and whose queue reached this share of it is
    /// clamped by somaxconn.
    pub backlog_used: f64,
    /// A backlog below this is small (Linux's somaxconn was 128 until 5.4; applications still pass 128 or less).
    pub backlog_small: f64,
    /// CLOSE-WAIT sockets of one process on one port before it is a leak (a handful is normal churn between two
    /// polls of an event loop).
    pub close_wait_min: f64,
    /// From this many it is critical.
    pub close_wait_critical: f64,
    /// SYN-SENT sockets towards one destination that stayed SYN-SENT over the window (connect's first
    /// retransmission is at 1 s; several stuck ones towards one place are not a blip).
    pub connect_min: f64,
    pub connect_critical: f64,
    /// A receive queue at this share of the receive buffer is full (the kernel advertises a zero window close to
    /// it).
    pub recv_fill: f64,
    /// A send queue this large (bytes) that grew over the window is building up.
    pub send_q_min: f64,
    /// Retransmitted segments as a share of the segments sent to one peer over the window (1-2% is a lossy
    /// path; TCP throughput falls steeply past it).
    pub retrans_share: f64,
    /// Segments sent to a peer over the window before its share means anything.
    pub retrans_min_segs: f64,
    /// Ephemeral ports in use towards one destination as a percentage of the usable range (`audit`'s default).
    pub ephemeral_pct: f64,
    /// TIME-WAIT sockets as a share of `tcp_max_tw_buckets`.
    pub time_wait_fill: f64,
    /// Orphaned sockets as a share of `tcp_max_orphans` (a warning; past 100% the kernel kills them).
    pub orphan_fill: f64,
    /// TCP memory as a share of `tcp_mem`'s pressure mark (1: at the mark, where the kernel starts to shrink
    /// buffers).
    pub tcp_mem_fill: f64,
    /// conntrack entries as a share of `nf_conntrack_max`.
    pub conntrack_fill: f64,
    /// FIN-WAIT-2 sockets held by one process that stayed so over the window.
    pub fin_wait_2_min: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            accept_fill: 0.8,
            syn_fill: 0.5,
            syn_flood_peers: 32.0,
            backlog_used: 0.5,
            backlog_small: 128.0,
            close_wait_min: 16.0,
            close_wait_critical: 256.0,
            connect_min: 8.0,
            connect_critical: 128.0,
            recv_fill: 0.9,
            send_q_min: 256.0 * 1024.0,
            retrans_share: 0.02,
            retrans_min_segs: 200.0,
            ephemeral_pct: crate::ports::audit::AuditOptions::default().threshold_pct,
            time_wait_fill: 0.9,
            orphan_fill: 0.5,
            tcp_mem_fill: 1.0,
            conntrack_fill: 0.9,
            fin_wait_2_min: 4.0,
        }
    }
}

/// The names `--set` takes: (check, name, the field).
type Field = fn(&mut Thresholds) -> &mut f64;
const NAMES: &[(&str, &str, Field)] = &[
    ("accept-queue-overflow", "fill", |t| &mut t.accept_fill),
    ("syn-queue-overflow", "fill", |t| &mut t.syn_fill),
    ("syn-queue-overflow", "flood-peers", |t| &mut t.syn_flood_peers),
    ("backlog-clamped", "used", |t| &mut t.backlog_used),
    ("backlog-clamped", "small", |t| &mut t.backlog_small),
    ("close-wait-leak", "min", |t| &mut t.close_wait_min),
    ("close-wait-leak", "critical", |t| &mut t.close_wait_critical),
    ("connect-stall", "min", |t| &mut t.connect_min),
    ("connect-stall", "critical", |t| &mut t.connect_critical),
    ("zero-window-stall", "recv-fill", |t| &mut t.recv_fill),
    ("send-queue-buildup", "bytes", |t| &mut t.send_q_min),
    ("retransmit-hotspot", "share", |t| &mut t.retrans_share),
    ("retransmit-hotspot", "min-segments", |t| &mut t.retrans_min_segs),
    ("ephemeral-exhaustion", "percent", |t| &mut t.ephemeral_pct),
    ("time-wait-overflow", "fill", |t| &mut t.time_wait_fill),
    ("orphan-pressure", "fill", |t| &mut t.orphan_fill),
    ("tcp-memory-pressure", "fill", |t| &mut t.tcp_mem_fill),
    ("conntrack-full", "fill", |t| &mut t.conntrack_fill),
    ("fin-wait-2-held", "min", |t| &mut t.fin_wait_2_min),
];

impl Thresholds {
    /// Apply one `CHECK.NAME=VALUE`; the error names what is wrong and lists what exists.
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (key, value) = spec.split_once('=').ok_or_else(|| format!("`{spec}`: expected CHECK.NAME=VALUE"))?;
        let (check, name) = key.trim().split_once('.').ok_or_else(|| format!("`{key}`: expected CHECK.NAME"))?;
        let Some(field) = NAMES.iter().find(|(c, n, _)| *c == check && *n == name).map(|e| e.2) else {
            let known: Vec<String> = NAMES.iter().map(|(c, n, _)| format!("{c}.{n}")).collect();
            return Err(format!("unknown threshold `{key}`; known: {}", known.join(", ")));
        };
        let v: f64 = value.trim().parse().map_err(|_| format!("`{key}`: `{value}` is not a number"))?;
        if !v.is_finite() || v < 0.0 {
            return Err(format!("`{key}`: {value} must be a finite number, 0 or more"));
        }
        *field(self) = v;
        Ok(())
    }

    /// Every threshold as `check.name=value`, for `--help`-like listings and the JSON report.
    pub fn listing(&self) -> Vec<(String, f64)> {
        let mut t = self.clone();
        NAMES.iter().map(|(c, n, f)| (format!("{c}.{n}"), *f(&mut t))).collect()
    }
}
