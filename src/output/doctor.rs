//! The doctor's report as text (findings worst first with their evidence, threshold and next step, then one
//! line per check that passed or could not run), as one JSON object, or as NDJSON (a line per finding, then a
//! line per check). System strings are escaped for terminals; JSON keeps them exact.

use std::io::{self, Write};

use serde::Serialize;

use crate::doctor::{Check, CheckStatus, Finding, Report};
use crate::model::text::escape;

/// How the report was made, for its header and JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    /// Seconds between the two samples.
    pub window_s: f64,
    /// Namespaces diagnosed.
    pub namespaces: usize,
    /// Sockets in the last sample.
    pub sockets: usize,
    /// Notes on what could not be seen (hidden processes, skipped namespaces).
    pub notes: Vec<String>,
    /// The thresholds used, `check.name` -> value.
    pub thresholds: Vec<(String, f64)>,
}

fn counter_line(c: &crate::doctor::CounterDelta) -> String {
    match (c.before, c.per_sec) {
        (Some(b), Some(r)) => format!("{} {b} -> {} (+{}, {r:.1}/s)", c.name, c.now, c.now.saturating_sub(b)),
        (Some(b), None) => format!("{} {b} -> {}", c.name, c.now),
        (None, _) => format!("{} {}", c.name, c.now),
    }
}

fn finding_text(w: &mut dyn Write, f: &Finding) -> io::Result<()> {
    const PAD: &str = "           ";
    writeln!(w, "{:<9}  {}: {}", f.severity.name(), f.kind, escape(&f.summary))?;
    let mut first = true;
    let mut evidence = |w: &mut dyn Write, text: String| -> io::Result<()> {
        let lead = if first { "evidence:" } else { "         " };
        first = false;
        writeln!(w, "{PAD}{lead} {}", escape(&text))
    };
    for s in &f.evidence.sockets {
        let values: Vec<String> = s.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let who = s.process.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
        let peer = if s.peer.ends_with(":*") { String::new() } else { format!(" -> {}", s.peer) };
        let mut line = format!("{} {} {}{peer}", s.proto, s.state, s.local);
        for v in &values {
            line.push(' ');
            line.push_str(v);
        }
        line.push_str(&who);
        evidence(w, line)?;
    }
    if f.evidence.more > 0 {
        evidence(w, format!("... and {} more sockets", f.evidence.more))?;
    }
    for c in &f.evidence.counters {
        evidence(w, counter_line(c))?;
    }
    for (k, v) in &f.evidence.facts {
        evidence(w, format!("{k}: {v}"))?;
    }
    writeln!(w, "{PAD}threshold: {}", f.threshold)?;
    writeln!(w, "{PAD}next step: {}", f.next_step)
}

fn check_text(w: &mut dyn Write, c: &Check, many: bool) -> io::Result<()> {
    let ns = match (&c.label, many) {
        (Some(l), _) => format!(" (in {})", escape(l)),
        (None, true) => " (host)".into(),
        (None, false) => String::new(),
    };
    match &c.status {
        CheckStatus::Passed => writeln!(w, "{:<9}  {:<22} {}{ns}", "passed", c.kind, c.kind.looks_at()),
        CheckStatus::CannotRun(why) => writeln!(w, "{:<9}  {:<22} cannot run: {}{ns}", "skipped", c.kind, escape(why)),
        CheckStatus::Found(_) => Ok(()),
    }
}

/// The report as text: a header line, the findings, then the checks that passed or could not run.
pub fn write_text(w: &mut dyn Write, r: &Report, m: &Meta) -> io::Result<()> {
    let found = r.findings.len();
    let ns = if m.namespaces > 1 { format!(" in {} namespaces", m.namespaces) } else { String::new() };
    writeln!(
        w,
        "sockscope doctor: {} over {:.1} s ({} sockets{ns}): {}",
        if found == 0 { "no finding" } else { "findings" },
        m.window_s,
        m.sockets,
        match found {
            0 => "every check that ran passed".to_string(),
            1 => "1 finding".to_string(),
            n => format!("{n} findings"),
        }
    )?;
    for n in &m.notes {
        writeln!(w, "note: {}", escape(n))?;
    }
    writeln!(w)?;
    for f in &r.findings {
        finding_text(w, f)?;
        writeln!(w)?;
    }
    for c in &r.checks {
        check_text(w, c, m.namespaces > 1)?;
    }
    Ok(())
}

#[derive(Serialize)]
struct Whole<'a> {
    #[serde(flatten)]
    meta: &'a Meta,
    findings: &'a [Finding],
    checks: &'a [Check],
}

/// The report as one JSON object: the window, the thresholds, every finding and every check.
pub fn write_json(w: &mut dyn Write, r: &Report, m: &Meta) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &Whole { meta: m, findings: &r.findings, checks: &r.checks })?;
    writeln!(w)
}

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    item: &'a T,
}

/// The report as NDJSON: one `{"type":"finding",...}` line per finding, then one `{"type":"check",...}` per
/// check.
pub fn write_ndjson(w: &mut dyn Write, r: &Report) -> io::Result<()> {
    for f in &r.findings {
        serde_json::to_writer(&mut *w, &Line { kind: "finding", item: f })?;
        writeln!(w)?;
    }
    for c in &r.checks {
        serde_json::to_writer(&mut *w, &Line { kind: "check", item: c })?;
        writeln!(w)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Evidence, Kind, Severity, SocketEvidence};

    fn report() -> Report {
        let f = Finding {
            kind: Kind::AcceptQueueOverflow,
            severity: Severity::Critical,
            summary: "evil\x1b[31m[1] does not accept".into(),
            subject: "tcp 0.0.0.0:8080".into(),
            port: Some(8080),
            process: Some("evil[1]".into()),
            netns: 0,
            label: None,
            evidence: Evidence {
                sockets: vec![SocketEvidence {
                    proto: "tcp".into(),
                    state: "LISTEN".into(),
                    local: "0.0.0.0:8080".into(),
                    peer: "*:*".into(),
                    cookie: Some(1),
                    process: None,
                    values: vec![("queue".into(), 17)],
                }],
                ..Evidence::default()
            },
            threshold: "full".into(),
            next_step: "accept faster".into(),
        };
        let checks = vec![
            Check { kind: Kind::AcceptQueueOverflow, netns: 0, label: None, status: CheckStatus::Found(1) },
            Check { kind: Kind::CloseWaitLeak, netns: 0, label: None, status: CheckStatus::Passed },
            Check {
                kind: Kind::ConntrackFull,
                netns: 0,
                label: None,
                status: CheckStatus::CannotRun("no module".into()),
            },
        ];
        Report { findings: vec![f], checks }
    }

    fn meta() -> Meta {
        Meta { window_s: 5.0, namespaces: 1, sockets: 12, notes: vec![], thresholds: vec![] }
    }

    #[test]
    fn text_escapes_and_lists_every_check() {
        let mut out = Vec::new();
        write_text(&mut out, &report(), &meta()).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(!s.contains('\x1b'), "{s}");
        assert!(s.contains("critical   accept-queue-overflow: evil\\x1b[31m[1]"), "{s}");
        assert!(s.contains("evidence: tcp LISTEN 0.0.0.0:8080 queue=17"), "{s}");
        assert!(s.contains("passed     close-wait-leak"), "{s}");
        assert!(s.contains("cannot run: no module"), "{s}");
    }

    #[test]
    fn json_is_exact_and_ndjson_one_line_each() {
        let mut out = Vec::new();
        write_json(&mut out, &report(), &meta()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["findings"][0]["kind"], "accept-queue-overflow");
        assert_eq!(v["findings"][0]["summary"], "evil\x1b[31m[1] does not accept");
        assert_eq!(v["checks"][2]["status"], "cannot-run");
        let mut out = Vec::new();
        write_ndjson(&mut out, &report()).unwrap();
        let lines: Vec<serde_json::Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["type"], "finding");
        assert_eq!(lines[3]["type"], "check");
    }
}
