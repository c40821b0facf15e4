//! The connection checks: CLOSE-WAIT piling up on a process (`close-wait-leak`), connects stuck in SYN-SENT
//! towards one destination (`connect-stall`), FIN-WAIT-2 sockets a process still holds (`fin-wait-2-held`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::finding::{Finding, Kind, Severity};
use super::thresholds::Thresholds;
use super::window::{Cx, inet};
use crate::model::{Bracketed, Proto, Socket, State};

fn tcp_in<'a>(cx: &Cx<'a>, state: State) -> impl Iterator<Item = &'a Socket> {
    cx.now().iter().filter(move |s| s.proto == Proto::Tcp && s.state == state)
}

/// The most common holder of `socks`, with how many of them it holds.
fn main_process(cx: &Cx, socks: &[&Socket]) -> Option<(String, usize)> {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for s in socks {
        if let Some(p) = cx.process(s) {
            *by.entry(p).or_default() += 1;
        }
    }
    by.into_iter().max_by_key(|(_, n)| *n)
}

pub fn close_wait_leak(cx: &Cx, th: &Thresholds) -> Result<Vec<Finding>, String> {
    // By holder and local port: one process's leak on one port.
    let mut groups: BTreeMap<(Option<String>, u16), Vec<&Socket>> = BTreeMap::new();
    for s in tcp_in(cx, State::CLOSE_WAIT) {
        groups.entry((cx.process(s), s.local.port().unwrap_or(0))).or_default().push(s);
    }
    let mut before: BTreeMap<(Option<String>, u16), usize> = BTreeMap::new();
    for s in cx.w.before.sockets.iter().filter(|s| s.proto == Proto::Tcp && s.state == State::CLOSE_WAIT) {
        *before.entry((cx.process(s), s.local.port().unwrap_or(0))).or_default() += 1;
    }
    let mut out = Vec::new();
    for ((process, port), socks) in groups {
        let n = socks.len();
        let was = before.get(&(process.clone(), port)).copied().unwrap_or(0);
        let stayed = socks.iter().filter(|s| cx.before(s).is_some_and(|b| b.state == State::CLOSE_WAIT)).count();
        if (n as f64) < th.close_wait_min || !(n > was || stayed as f64 >= th.close_wait_min) {
            continue;
        }
        let who = process.clone().unwrap_or_else(|| "a process".into());
        let trend = if n > was {
            format!("{n}, up from {was} {:.0} s before", cx.secs)
        } else {
            format!("{n}, {stayed} of them for {:.0} s or more", cx.secs)
        };
        let summary = format!(
            "{who} leaks CLOSE-WAIT sockets on port {port}: {trend}; their peers closed and it never closes them"
        );
        let severity = if n as f64 >= th.close_wait_critical { Severity::Critical } else { Severity::Warning };
        let mut f = Finding::new(Kind::CloseWaitLeak, severity, format!("tcp *:{port} close-wait"), summary);
        f.port = Some(port);
        f.process = process;
        f.evidence.sockets = socks.iter().take(3).map(|s| cx.evidence(s, &[])).collect();
        f.evidence.more = n.saturating_sub(3);
        f.evidence.facts.push(("close_wait".into(), n.to_string()));
        f.evidence.facts.push(("close_wait_before".into(), was.to_string()));
        f.threshold = format!(
            "{} or more CLOSE-WAIT sockets of one process on one port, growing or lasting the window",
            th.close_wait_min
        );
        f.next_step = "the application does not close() connections after their peer hung up: find the path that \
                       stops reading at EOF without closing (error handling, a pool that keeps dead connections); \
                       restarting the process frees them"
            .into();
        out.push(f);
    }
    Ok(out)
}

/// The listener on this host that a connect to `(ip, port)` reaches, if one is here.
fn local_listener<'a>(cx: &Cx<'a>, ip: IpAddr, port: u16) -> Option<&'a Socket> {
    cx.now().iter().find(|l| {
        l.proto == Proto::Tcp
            && l.state == State::LISTEN
            && inet(&l.local).is_some_and(|(lip, lport)| lport == port && (lip == ip || lip.is_unspecified()))
    })
}

pub fn connect_stall(cx: &Cx, th: &Thresholds) -> Result<Vec<Finding>, String> {
    let mut groups: BTreeMap<(IpAddr, u16), Vec<&Socket>> = BTreeMap::new();
    for s in tcp_in(cx, State::SYN_SENT) {
        if cx.before(s).is_some_and(|b| b.state == State::SYN_SENT)
            && let Some(dst) = inet(&s.peer)
        {
            groups.entry(dst).or_default().push(s);
        }
    }
    let mut out = Vec::new();
    for ((ip, port), socks) in groups {
        let n = socks.len();
        if (n as f64) < th.connect_min {
            continue;
        }
        let dest = format!("{}:{port}", Bracketed(ip));
        let client = main_process(cx, &socks);
        let who = client.as_ref().map_or_else(|| "clients".to_string(), |(p, _)| p.clone());
        let listener = local_listener(cx, ip, port);
        let why = match listener {
            Some(l) if l.send_q.is_some_and(|b| b > 0 && l.recv_q.unwrap_or(0) >= b) => format!(
                "the destination is a listener on this host whose accept queue is full ({} of {})",
                l.recv_q.unwrap_or(0),
                l.send_q.unwrap_or(0)
            ),
            Some(_) => "the destination is a listener on this host that does not complete the handshakes".into(),
            None => "the destination does not answer (down, or a firewall dropping SYNs)".into(),
        };
        let summary = format!("{n} connections from {who} to {dest} are stuck in SYN-SENT for {:.0} s: {why}", cx.secs);
        let severity = if n as f64 >= th.connect_critical { Severity::Critical } else { Severity::Warning };
        let mut f = Finding::new(Kind::ConnectStall, severity, format!("-> {dest}"), summary);
        f.port = Some(port);
        f.process = client.map(|c| c.0);
        f.evidence.sockets = socks.iter().take(3).map(|s| cx.evidence(s, &[])).collect();
        if let Some(l) = listener {
            f.evidence.sockets.push(
                cx.evidence(l, &[("queue", l.recv_q.unwrap_or(0).into()), ("backlog", l.send_q.unwrap_or(0).into())]),
            );
        }
        f.evidence.more = n.saturating_sub(3);
        f.evidence.facts.push(("syn_sent".into(), n.to_string()));
        f.threshold =
            format!("{} or more connects towards one destination in SYN-SENT over the window", th.connect_min);
        f.next_step = match listener {
            Some(_) => "see the accept-queue finding of that listener: its process must accept faster".into(),
            None => format!("check that {dest} is up and reachable (routes, firewalls, security groups)"),
        };
        out.push(f);
    }
    Ok(out)
}

pub fn fin_wait_2_held(cx: &Cx, th: &Thresholds) -> Result<Vec<Finding>, String> {
    // By holder and destination: the half-closer is usually the client, on ports of its own.
    let mut groups: BTreeMap<(Option<String>, String), Vec<&Socket>> = BTreeMap::new();
    for s in tcp_in(cx, State::FIN_WAIT2) {
        // An orphaned FIN-WAIT-2 (no inode) times out by itself (tcp_fin_timeout); one a process holds does not.
        if s.inode != 0 && cx.before(s).is_some_and(|b| b.state == State::FIN_WAIT2) {
            groups.entry((cx.process(s), s.peer.short_text())).or_default().push(s);
        }
    }
    let mut out = Vec::new();
    for ((process, dest), socks) in groups {
        let n = socks.len();
        if (n as f64) < th.fin_wait_2_min {
            continue;
        }
        // The other end, when it is on this host: its socket sits in CLOSE-WAIT.
        let peer = socks.iter().find_map(|s| {
            cx.now().iter().find(|o| o.state == State::CLOSE_WAIT && o.local == s.peer && o.peer == s.local)
        });
        let who = process.clone().unwrap_or_else(|| "a process".into());
        let other = match peer {
            Some(p) => format!(
                "; the peer is {} on this host, in CLOSE-WAIT: it never closes",
                cx.process(p).unwrap_or_else(|| p.local.short_text())
            ),
            None => "; the peer never closes its side".into(),
        };
        let summary = format!(
            "{who} holds {n} half-closed connections to {dest} in FIN-WAIT-2 for {:.0} s or more{other}",
            cx.secs
        );
        let mut f = Finding::new(Kind::FinWait2Held, Severity::Warning, format!("-> {dest} fin-wait-2"), summary);
        f.port = socks.first().and_then(|s| s.peer.port());
        f.process = process;
        f.evidence.sockets = socks.iter().take(3).map(|s| cx.evidence(s, &[])).collect();
        if let Some(p) = peer {
            f.evidence.sockets.push(cx.evidence(p, &[]));
        }
        f.evidence.more = n.saturating_sub(3);
        f.threshold =
            format!("{} or more held FIN-WAIT-2 sockets of one process to one destination", th.fin_wait_2_min);
        f.next_step = "the holder shut down its sending side and waits for the peer; close() the socket after a \
                       timeout, and fix the peer that never closes"
            .into();
        out.push(f);
    }
    Ok(out)
}
