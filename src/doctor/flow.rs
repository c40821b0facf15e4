//! The data-flow checks, from tcp_info and skmem over the window: zero windows and full receive queues
//! (`zero-window-stall`), send queues that grow (`send-queue-buildup`, with the limit that applies), and
//! retransmissions concentrated on one peer (`retransmit-hotspot`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::finding::{Finding, Kind, Severity};
use super::thresholds::Thresholds;
use super::window::{Cx, inet, mem, tcp_info};
use crate::model::{Bracketed, Proto, Socket, State, TimerKind};

fn established<'a>(cx: &Cx<'a>) -> impl Iterator<Item = &'a Socket> {
    cx.now().iter().filter(|s| s.proto == Proto::Tcp && s.state == State::ESTABLISHED)
}

/// A sender held by a zero window: the peer advertises none (or the persist timer probes it).
fn zero_window(s: &Socket) -> bool {
    let wnd0 = tcp_info(s).and_then(|t| t.snd_wnd()).is_some_and(|w| w == 0);
    let persist = s.timer.is_some_and(|t| t.kind == TimerKind::Persist);
    (wnd0 || persist) && s.send_q.unwrap_or(0) > 0
}

/// A receiver whose application does not read: its receive queue near its buffer.
fn full_receiver(s: &Socket, fill: f64) -> bool {
    mem(s).is_some_and(|m| match (m.rmem_alloc, m.rcvbuf) {
        (Some(a), Some(b)) if b > 0 => f64::from(a) >= fill * f64::from(b),
        _ => false,
    }) && s.recv_q.unwrap_or(0) > 0
}

pub fn zero_window_stall(cx: &Cx, th: &Thresholds) -> Result<Vec<Finding>, String> {
    let mut senders: BTreeMap<(Option<String>, String), Vec<&Socket>> = BTreeMap::new();
    let mut readers: BTreeMap<(Option<String>, u16), Vec<&Socket>> = BTreeMap::new();
    let mut any_detail = false;
    for s in established(cx) {
        any_detail |= s.extra.is_some();
        let Some(b) = cx.before(s) else { continue };
        if zero_window(s) && zero_window(b) {
            senders.entry((cx.process(s), s.peer.short_text())).or_default().push(s);
        } else if full_receiver(s, th.recv_fill) && full_receiver(b, th.recv_fill) {
            readers.entry((cx.process(s), s.local.port().unwrap_or(0))).or_default().push(s);
        }
    }
    if !any_detail && established(cx).next().is_some() {
        return Err("the kernel gave no tcp_info or memory for the sockets".into());
    }
    let mut out = Vec::new();
    for ((process, peer), socks) in senders {
        let probes: u64 = socks.iter().filter_map(|s| s.timer.map(|t| u64::from(t.retrans))).max().unwrap_or(0);
        let queued: u64 = socks.iter().map(|s| u64::from(s.send_q.unwrap_or(0))).sum();
        let who = process.clone().unwrap_or_else(|| "a sender".into());
        let summary = format!(
            "{who} cannot send to {peer}: the peer advertises a zero window on {} connections ({queued} bytes \
             waiting, {probes} window probes); the receiving application does not read",
            socks.len()
        );
        let mut f = Finding::new(Kind::ZeroWindowStall, Severity::Warning, format!("-> {peer}"), summary);
        f.process = process;
        f.port = socks.first().and_then(|s| s.peer.port());
        f.evidence.sockets = socks
            .iter()
            .take(3)
            .map(|s| cx.evidence(s, &[("send_q", s.send_q.unwrap_or(0).into()), ("probes", probes)]))
            .collect();
        f.evidence.more = socks.len().saturating_sub(3);
        f.threshold = "a zero send window (or the persist timer) over the whole window with data queued".into();
        f.next_step = format!("look at the application reading on {peer}: it stopped reading its socket");
        out.push(f);
    }
    for ((process, port), socks) in readers {
        let queued: u64 = socks.iter().map(|s| u64::from(s.recv_q.unwrap_or(0))).sum();
        let who = process.clone().unwrap_or_else(|| "a process".into());
        let summary = format!(
            "{who} does not read {} connections on port {port}: their receive queues are full ({queued} bytes), \
             so their peers see a zero window",
            socks.len()
        );
        let mut f = Finding::new(Kind::ZeroWindowStall, Severity::Warning, format!("tcp *:{port} recv-q"), summary);
        f.process = process;
        f.port = Some(port);
        f.evidence.sockets = socks
            .iter()
            .take(3)
            .map(|s| {
                let m = mem(s);
                cx.evidence(
                    s,
                    &[
                        ("recv_q", s.recv_q.unwrap_or(0).into()),
                        ("rmem_alloc", m.and_then(|m| m.rmem_alloc).unwrap_or(0).into()),
                        ("rcvbuf", m.and_then(|m| m.rcvbuf).unwrap_or(0).into()),
                    ],
                )
            })
            .collect();
        f.evidence.more = socks.len().saturating_sub(3);
        f.threshold = format!("receive memory at {:.0}% of the buffer over the whole window", th.recv_fill * 100.0);
        f.next_step = "the process is stuck or too slow to read: look at what it is doing (a blocked thread, a \
                       full downstream)"
            .into();
        out.push(f);
    }
    Ok(out)
}

/// What limits a sender over the window, from tcp_info's limited times.
fn limit(s: &Socket, b: &Socket) -> &'static str {
    let d = |f: fn(&crate::model::internals::TcpInfo) -> Option<u64>| {
        Some(f(tcp_info(s)?)?.saturating_sub(f(tcp_info(b)?)?))
    };
    let rwnd = d(|t| t.rwnd_limited_us());
    let sndbuf = d(|t| t.sndbuf_limited_us());
    let busy = d(|t| t.busy_time_us());
    match (rwnd, sndbuf, busy) {
        (Some(r), Some(_), Some(bt)) if bt > 0 && r * 2 >= bt => "the receiver's window",
        (Some(_), Some(sb), Some(bt)) if bt > 0 && sb * 2 >= bt => "the send buffer",
        (Some(_), Some(_), Some(_)) => "congestion (the congestion window)",
        _ => match mem(s) {
            Some(m) if m.wmem_queued.zip(m.sndbuf).is_some_and(|(q, b)| b > 0 && q >= b) => "the send buffer",
            _ => "the receiver's window or congestion",
        },
    }
}

/// A socket now and in the previous sample.
type Pair<'a> = (&'a Socket, &'a Socket);

pub fn send_queue_buildup(cx: &Cx, th: &Thresholds) -> Result<Vec<Finding>, String> {
    let mut groups: BTreeMap<(Option<String>, String), Vec<Pair>> = BTreeMap::new();
    for s in established(cx) {
        let Some(b) = cx.before(s) else { continue };
        let (now, was) = (s.send_q.unwrap_or(0), b.send_q.unwrap_or(0));
        if f64::from(now) >= th.send_q_min && now > was {
            groups.entry((cx.process(s), s.peer.short_text())).or_default().push((s, b));
        }
    }
    let mut out = Vec::new();
    for ((process, peer), socks) in groups {
        let (s, b) = socks[0];
        let why = limit(s, b);
        let queued: u64 = socks.iter().map(|(s, _)| u64::from(s.send_q.unwrap_or(0))).sum();
        let who = process.clone().unwrap_or_else(|| "a sender".into());
        let summary = format!(
            "{who}'s send queue to {peer} grows ({queued} bytes on {} connections): limited by {why}",
            socks.len()
        );
        let mut f = Finding::new(Kind::SendQueueBuildup, Severity::Warning, format!("-> {peer}"), summary);
        f.process = process;
        f.port = s.peer.port();
        f.evidence.sockets = socks
            .iter()
            .take(3)
            .map(|(s, b)| {
                cx.evidence(
                    s,
                    &[("send_q", s.send_q.unwrap_or(0).into()), ("send_q_before", b.send_q.unwrap_or(0).into())],
                )
            })
            .collect();
        f.evidence.more = socks.len().saturating_sub(3);
        f.evidence.facts.push(("limit".into(), why.into()));
        f.threshold = format!("a send queue of {} bytes or more that grew over the window", th.send_q_min);
        f.next_step = match why {
            "the receiver's window" => format!("the reader at {peer} is slower than this sender: look at it"),
            "the send buffer" => {
                "raise the socket's send buffer (SO_SNDBUF, net.ipv4.tcp_wmem) if the path is fast".into()
            }
            _ => format!("the path to {peer} is congested or lossy: check its retransmissions and bandwidth"),
        };
        out.push(f);
    }
    Ok(out)
}

pub fn retransmit_hotspot(cx: &Cx, th: &Thresholds) -> Result<Vec<Finding>, String> {
    // Per peer address: segments sent and retransmitted over the window, by the sockets in both samples.
    let mut peers: BTreeMap<IpAddr, (u64, u64, Vec<&Socket>)> = BTreeMap::new();
    let mut any_info = false;
    for s in cx.now().iter().filter(|s| s.proto == Proto::Tcp) {
        let (Some(t), Some(tb)) = (tcp_info(s), cx.before(s).and_then(tcp_info)) else { continue };
        any_info = true;
        let segs = t.segs_out().zip(tb.segs_out()).map_or(0, |(a, b)| u64::from(a.saturating_sub(b)));
        let re = t.total_retrans().zip(tb.total_retrans()).map_or(0, |(a, b)| u64::from(a.saturating_sub(b)));
        let Some((ip, _)) = inet(&s.peer) else { continue };
        if segs == 0 {
            continue;
        }
        let e = peers.entry(ip).or_default();
        e.0 += segs;
        e.1 += re;
        if re > 0 {
            e.2.push(s);
        }
    }
    if !any_info && cx.now().iter().any(|s| s.proto == Proto::Tcp && s.state == State::ESTABLISHED) {
        return Err("the kernel gave no tcp_info for the sockets".into());
    }
    let retrans = cx.counter("Tcp", "RetransSegs");
    let mut out = Vec::new();
    for (ip, (segs, re, socks)) in peers {
        let share = re as f64 / segs as f64;
        if (segs as f64) < th.retrans_min_segs || share < th.retrans_share {
            continue;
        }
        let peer = Bracketed(ip).to_string();
        let summary = format!(
            "{:.1}% of the segments sent to {peer} were retransmitted ({re} of {segs} in {:.0} s): the path to it \
             loses packets",
            share * 100.0,
            cx.secs
        );
        let severity = if share >= 5.0 * th.retrans_share { Severity::Critical } else { Severity::Warning };
        let mut f = Finding::new(Kind::RetransmitHotspot, severity, format!("-> {peer}"), summary);
        f.process = socks.first().and_then(|s| cx.process(s));
        f.evidence.sockets = socks.iter().take(3).map(|s| cx.evidence(s, &[])).collect();
        f.evidence.more = socks.len().saturating_sub(3);
        f.evidence.facts.push(("segments_out".into(), segs.to_string()));
        f.evidence.facts.push(("retransmitted".into(), re.to_string()));
        f.evidence.counters.extend(retrans.clone());
        f.threshold = format!(
            "{:.1}% of {} or more segments sent to one peer retransmitted",
            th.retrans_share * 100.0,
            th.retrans_min_segs
        );
        f.next_step = format!("check the path to {peer}: interface errors, a congested link, a misbehaving middlebox");
        out.push(f);
    }
    Ok(out)
}
