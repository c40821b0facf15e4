//! The listener checks: a full accept queue and its drops (`accept-queue-overflow`), half-open connections
//! piling up (`syn-queue-overflow`), a backlog that somaxconn clamps or that is too small (`backlog-clamped`).

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::finding::{Finding, Kind, Severity};
use super::thresholds::Thresholds;
use super::window::{Cx, delta, drops, inet};
use crate::model::{Proto, Socket, State};

/// A TCP listener and its numbers.
struct Listener<'a> {
    s: &'a Socket,
    queue: u32,
    backlog: u32,
    /// Its drop counter's rise over the window (listen drops are added to it).
    dropped: u64,
}

fn listeners<'a>(cx: &Cx<'a>) -> Vec<Listener<'a>> {
    cx.now()
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == State::LISTEN)
        .map(|s| {
            let dropped = match (drops(s), cx.before(s).and_then(drops)) {
                (Some(n), Some(b)) => u64::from(n.saturating_sub(b)),
                _ => 0,
            };
            Listener { s, queue: s.recv_q.unwrap_or(0), backlog: s.send_q.unwrap_or(0), dropped }
        })
        .collect()
}

fn subject(s: &Socket) -> String {
    format!("tcp {}", s.local.short_text())
}

fn who(cx: &Cx, s: &Socket) -> String {
    cx.process(s).unwrap_or_else(|| "the process holding it".into())
}

/// Whether a half-open socket is one of `l`'s: same port, and the listener's address or its wildcard.
fn of_listener(l: &Socket, s: &Socket) -> bool {
    match (inet(&l.local), inet(&s.local)) {
        (Some((lip, lport)), Some((ip, port))) => {
            lport == port && (lip == ip || (lip.is_unspecified() && (lip.is_ipv6() || ip.is_ipv4())))
        }
        _ => false,
    }
}

pub fn accept_queue_overflow(cx: &Cx, th: &Thresholds) -> Result<Vec<Finding>, String> {
    let overflows = cx.counter("TcpExt", "ListenOverflows");
    let listen_drops = cx.counter("TcpExt", "ListenDrops");
    let host_rose = overflows.as_ref().map_or(0, delta);
    let mut out = Vec::new();
    let ls = listeners(cx);
    for l in &ls {
        let full = l.backlog > 0 && l.queue >= l.backlog;
        let filling = l.backlog > 0 && f64::from(l.queue) >= th.accept_fill * f64::from(l.backlog);
        if !(l.dropped > 0 || full || filling) {
            continue;
        }
        let severity = if l.dropped > 0 || (full && host_rose > 0) { Severity::Critical } else { Severity::Warning };
        let what = if l.dropped > 0 {
            format!("the kernel dropped {} connections in {:.0} s", l.dropped, cx.secs)
        } else if full {
            "new connections are being refused or dropped".to_string()
        } else {
            "it is filling".to_string()
        };
        let summary = format!(
            "{} does not accept fast enough on {}: its accept queue holds {} of {} and {what}",
            who(cx, l.s),
            subject(l.s),
            l.queue,
            l.backlog
        );
        let mut f = Finding::new(Kind::AcceptQueueOverflow, severity, subject(l.s), summary);
        f.port = l.s.local.port();
        f.process = cx.process(l.s);
        f.evidence.sockets.push(
            cx.evidence(l.s, &[("queue", u64::from(l.queue)), ("backlog", u64::from(l.backlog)), ("drops", l.dropped)]),
        );
        f.evidence.counters.extend(overflows.clone());
        f.evidence.counters.extend(listen_drops.clone());
        f.threshold = format!(
            "accept queue at {:.0}% of the backlog or more, or the listener's drop counter rising",
            th.accept_fill * 100.0
        );
        f.next_step = "make the process accept faster (more workers or threads, less work between accept calls), \
                       or raise its listen() backlog and net.core.somaxconn if bursts are expected"
            .into();
        out.push(f);
    }
    // The host counted overflows but no listener's own counter says which: name the fullest ones.
    if host_rose > 0 && out.is_empty() {
        let mut fullest: Vec<&Listener> = ls.iter().filter(|l| l.backlog > 0 && l.queue > 0).collect();
        fullest.sort_by_key(|l| std::cmp::Reverse(u64::from(l.queue) * 1000 / u64::from(l.backlog.max(1))));
        let names: Vec<String> = fullest.iter().take(3).map(|l| subject(l.s)).collect();
        let summary = if names.is_empty() {
            format!("listen queues overflowed {host_rose} times in {:.0} s; no listener is full now", cx.secs)
        } else {
            format!("listen queues overflowed {host_rose} times in {:.0} s; the fullest: {}", cx.secs, names.join(", "))
        };
        let mut f = Finding::new(Kind::AcceptQueueOverflow, Severity::Warning, "tcp listeners".into(), summary);
        f.evidence.sockets = fullest.iter().take(3).map(|l| cx.evidence(l.s, &[("queue", l.queue.into())])).collect();
        f.evidence.counters.extend(overflows);
        f.evidence.counters.extend(listen_drops);
        f.threshold = "TcpExt:ListenOverflows rising".into();
        f.next_step = "watch the listeners' queues (sockscope top, sort by AcceptQ) to catch the one that fills".into();
        out.push(f);
    }
    Ok(out)
}

pub fn syn_queue_overflow(cx: &Cx, th: &Thresholds) -> Result<Vec<Finding>, String> {
    let half: Vec<&Socket> = cx.now().iter().filter(|s| s.proto == Proto::Tcp && s.state == State::SYN_RECV).collect();
    let full_drop = cx.counter("TcpExt", "TCPReqQFullDrop");
    let cookies = cx.counter("TcpExt", "TCPReqQFullDoCookies");
    let sent = cx.counter("TcpExt", "SyncookiesSent");
    let dropped = full_drop.as_ref().map_or(0, delta);
    let cookied = cookies.as_ref().map_or(0, delta) + sent.as_ref().map_or(0, delta);
    let mut out = Vec::new();
    for l in listeners(cx) {
        let mine: Vec<&&Socket> = half.iter().filter(|s| of_listener(l.s, s)).collect();
        let n = mine.len() as u64;
        let limit = match cx.w.limits.max_syn_backlog {
            Some(m) if m > 0 => l.backlog.min(m),
            _ => l.backlog,
        };
        let filling = limit > 0 && n >= 8 && n as f64 >= th.syn_fill * f64::from(limit);
        if !filling {
            continue;
        }
        let peers: BTreeSet<IpAddr> = mine.iter().filter_map(|s| inet(&s.peer)).map(|p| p.0).collect();
        let accept_full = l.backlog > 0 && l.queue >= l.backlog;
        let why = if accept_full {
            "the application is too slow: its accept queue is full, so completed handshakes wait".to_string()
        } else if peers.len() as f64 >= th.syn_flood_peers {
            format!("a flood from {} peers that do not complete the handshake", peers.len())
        } else {
            format!("{} peers that do not complete the handshake", peers.len())
        };
        let severity = if dropped > 0 { Severity::Critical } else { Severity::Warning };
        let summary = format!("{n} half-open connections on {} (its SYN queue holds {limit}): {why}", subject(l.s));
        let mut f = Finding::new(Kind::SynQueueOverflow, severity, subject(l.s), summary);
        f.port = l.s.local.port();
        f.process = cx.process(l.s);
        f.evidence.sockets.push(cx.evidence(l.s, &[("syn_recv", n), ("backlog", l.backlog.into())]));
        for s in mine.iter().take(3) {
            f.evidence.sockets.push(cx.evidence(s, &[]));
        }
        f.evidence.more = mine.len().saturating_sub(3);
        f.evidence.facts.push(("peers".into(), peers.len().to_string()));
        if let Some(c) = cx.w.limits.syncookies {
            f.evidence.facts.push(("net.ipv4.tcp_syncookies".into(), c.to_string()));
        }
        f.evidence.counters.extend([full_drop.clone(), cookies.clone(), sent.clone()].into_iter().flatten());
        f.threshold = format!("half-open connections at {:.0}% of the SYN queue", th.syn_fill * 100.0);
        f.next_step = if accept_full {
            "make the application accept faster; the SYN queue empties once its accept queue does".into()
        } else {
            "keep net.ipv4.tcp_syncookies=1, raise the backlog and tcp_max_syn_backlog, and rate-limit or block \
             the sources if they are not clients"
                .into()
        };
        out.push(f);
    }
    if out.is_empty() && (dropped > 0 || cookied > 0) {
        let summary = if dropped > 0 {
            format!("the kernel dropped {dropped} SYNs because a SYN queue was full in {:.0} s", cx.secs)
        } else {
            format!("a SYN queue overflowed: {cookied} SYN cookies sent in {:.0} s", cx.secs)
        };
        let sev = if dropped > 0 { Severity::Critical } else { Severity::Warning };
        let mut f = Finding::new(Kind::SynQueueOverflow, sev, "tcp listeners".into(), summary);
        f.evidence.counters.extend([full_drop, cookies, sent].into_iter().flatten());
        f.threshold = "TcpExt:TCPReqQFullDrop or TCPReqQFullDoCookies rising".into();
        f.next_step = "look for listeners with many SYN-RECV sockets (sockscope state syn-recv)".into();
        out.push(f);
    }
    Ok(out)
}

pub fn backlog_clamped(cx: &Cx, th: &Thresholds) -> Result<Vec<Finding>, String> {
    let somaxconn = cx.w.limits.somaxconn;
    let mut out = Vec::new();
    for l in listeners(cx) {
        if l.backlog == 0 {
            continue;
        }
        let peak = l.queue.max(cx.before(l.s).and_then(|b| b.recv_q).unwrap_or(0));
        let used = f64::from(peak) / f64::from(l.backlog);
        let clamped = somaxconn.is_some_and(|m| m == l.backlog) && used >= th.backlog_used;
        let small = f64::from(l.backlog) < th.backlog_small && (peak >= l.backlog || l.dropped > 0);
        if !(clamped || small) {
            continue;
        }
        let summary = if clamped {
            format!(
                "{}'s backlog is clamped to net.core.somaxconn ({}) and its queue reached {peak}",
                subject(l.s),
                l.backlog
            )
        } else {
            format!("{}'s backlog of {} is too small for its load: its queue reached {peak}", subject(l.s), l.backlog)
        };
        let mut f = Finding::new(Kind::BacklogClamped, Severity::Warning, subject(l.s), summary);
        f.port = l.s.local.port();
        f.process = cx.process(l.s);
        f.evidence.sockets.push(
            cx.evidence(l.s, &[("backlog", l.backlog.into()), ("peak_queue", peak.into()), ("drops", l.dropped)]),
        );
        if let Some(m) = somaxconn {
            f.evidence.facts.push(("net.core.somaxconn".into(), m.to_string()));
        }
        f.threshold = if clamped {
            format!("backlog equal to somaxconn with the queue at {:.0}% of it or more", th.backlog_used * 100.0)
        } else {
            format!("a backlog under {} that filled", th.backlog_small)
        };
        f.next_step = if clamped {
            "raise net.core.somaxconn in this namespace (the listen() backlog asked for is cut to it) and restart \
             the listener"
                .into()
        } else {
            "pass a larger backlog to listen() (the server's backlog setting)".into()
        };
        out.push(f);
    }
    if somaxconn.is_none() && out.is_empty() {
        return Err("net.core.somaxconn could not be read".into());
    }
    Ok(out)
}
