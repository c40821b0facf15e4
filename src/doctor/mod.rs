//! The diagnosis engine: pure rules over what the collectors give for one network namespace over a window (two
//! samples of its sockets with tcp_info and skmem, its kernel counters, its sysctls) that name socket
//! pathologies in plain words, with the evidence that proves them. Used by `doctor`, the dashboard, the exporter
//! and `record`; no I/O here (the command layer gathers a [`Window`]).

mod conns;
mod finding;
mod flow;
mod host;
mod listen;
pub mod thresholds;
mod window;

#[cfg(test)]
mod tests;

pub use finding::{Check, CheckStatus, CounterDelta, Evidence, Finding, Kind, Report, Severity, SocketEvidence};
pub use thresholds::Thresholds;
pub use window::{Conntrack, Limits, Sample, Window};

/// Run every check on one namespace's window; findings worst first, then by kind.
pub fn diagnose(w: &Window, th: &Thresholds) -> Report {
    let cx = window::Cx::new(w);
    let mut report = Report::default();
    for kind in Kind::ALL {
        let outcome = match kind {
            Kind::AcceptQueueOverflow => listen::accept_queue_overflow(&cx, th),
            Kind::SynQueueOverflow => listen::syn_queue_overflow(&cx, th),
            Kind::BacklogClamped => listen::backlog_clamped(&cx, th),
            Kind::CloseWaitLeak => conns::close_wait_leak(&cx, th),
            Kind::ConnectStall => conns::connect_stall(&cx, th),
            Kind::FinWait2Held => conns::fin_wait_2_held(&cx, th),
            Kind::ZeroWindowStall => flow::zero_window_stall(&cx, th),
            Kind::SendQueueBuildup => flow::send_queue_buildup(&cx, th),
            Kind::RetransmitHotspot => flow::retransmit_hotspot(&cx, th),
            Kind::EphemeralExhaustion => host::ephemeral_exhaustion(&cx, th),
            Kind::TimeWaitOverflow => host::time_wait_overflow(&cx, th),
            Kind::OrphanPressure => host::orphan_pressure(&cx, th),
            Kind::TcpMemoryPressure => host::tcp_memory_pressure(&cx, th),
            Kind::UdpReceiveDrops => host::udp_receive_drops(&cx, th),
            Kind::ConntrackFull => host::conntrack_full(&cx, th),
        };
        let status = match outcome {
            Ok(found) if found.is_empty() => CheckStatus::Passed,
            Ok(found) => {
                let n = found.len();
                report.findings.extend(found.into_iter().map(|f| f.scoped(w)));
                CheckStatus::Found(n)
            }
            Err(why) => CheckStatus::CannotRun(why),
        };
        report.checks.push(Check { kind, netns: w.netns, label: w.label.clone(), status });
    }
    report.sort();
    report
}

/// Diagnose several namespaces (each against its own counters and sysctls) into one report.
pub fn diagnose_all<'a>(windows: impl IntoIterator<Item = &'a Window<'a>>, th: &Thresholds) -> Report {
    let mut all = Report::default();
    for w in windows {
        let r = diagnose(w, th);
        all.findings.extend(r.findings);
        all.checks.extend(r.checks);
    }
    all.sort();
    all
}
