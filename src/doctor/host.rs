//! The namespace-wide checks, from its counters and sysctls: ephemeral ports per destination
//! (`ephemeral-exhaustion`), TIME-WAIT buckets (`time-wait-overflow`), orphans (`orphan-pressure`), TCP memory
//! (`tcp-memory-pressure`), UDP receive drops traced to their sockets (`udp-receive-drops`), and the connection
//! tracking table (`conntrack-full`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::finding::{CounterDelta, Finding, Kind, Severity};
use super::thresholds::Thresholds;
use super::window::{Cx, delta, drops, inet};
use crate::model::{Bracketed, Proto, Socket, State};
use crate::ports::classes;

fn level(name: &str, before: Option<u64>, now: u64) -> CounterDelta {
    CounterDelta { name: name.into(), before, now, per_sec: None }
}

pub fn ephemeral_exhaustion(cx: &Cx, th: &Thresholds) -> Result<Vec<Finding>, String> {
    let ports = cx.w.limits.ports.as_ref().ok_or("the ephemeral port range could not be read")?;
    let mut out = Vec::new();
    for p in classes::ephemeral_pressure(cx.now(), ports) {
        if !p.over(th.ephemeral_pct) {
            continue;
        }
        let dest = format!("{}:{}", Bracketed(p.remote_address), p.remote_port);
        let summary = format!(
            "{} of {} usable ephemeral ports from {} to {dest} are in use ({:.0}%, {} in TIME-WAIT): new \
             connections to it will fail with EADDRNOTAVAIL",
            p.sockets,
            p.capacity,
            Bracketed(p.local_address),
            p.percent,
            p.time_wait
        );
        let severity = if p.percent >= 90.0 { Severity::Critical } else { Severity::Warning };
        let mut f = Finding::new(Kind::EphemeralExhaustion, severity, format!("-> {dest}"), summary);
        f.port = Some(p.remote_port);
        f.evidence.facts.push(("sockets".into(), p.sockets.to_string()));
        f.evidence.facts.push(("time_wait".into(), p.time_wait.to_string()));
        f.evidence.facts.push(("capacity".into(), p.capacity.to_string()));
        f.evidence.facts.push(("range".into(), format!("{}-{}", ports.ephemeral.low, ports.ephemeral.high)));
        f.threshold = format!("more than {:.0}% of the usable range towards one destination", th.ephemeral_pct);
        f.next_step = "reuse connections (keep-alive, a pool), widen net.ipv4.ip_local_port_range, or spread over \
                       more destination addresses or source addresses"
            .into();
        out.push(f);
    }
    Ok(out)
}

pub fn time_wait_overflow(cx: &Cx, th: &Thresholds) -> Result<Vec<Finding>, String> {
    let overflow = cx.counter("TcpExt", "TCPTimeWaitOverflow");
    let rose = overflow.as_ref().map_or(0, delta);
    let tw = cx.w.now.sockstat.map(|s| s.tcp_tw);
    let max = cx.w.limits.max_tw_buckets;
    if overflow.is_none() && (tw.is_none() || max.is_none()) {
        return Err("neither TcpExt:TCPTimeWaitOverflow nor tcp_max_tw_buckets could be read".into());
    }
    let filling = matches!((tw, max), (Some(t), Some(m)) if m > 0 && t as f64 >= th.time_wait_fill * m as f64);
    if rose == 0 && !filling {
        return Ok(Vec::new());
    }
    let (t, m) = (tw.unwrap_or(0), max.unwrap_or(0));
    let summary = if rose > 0 {
        format!(
            "the TIME-WAIT table overflowed {rose} times in {:.0} s ({t} of {m} buckets): closing connections skip \
             TIME-WAIT, and late segments may reach new ones",
            cx.secs
        )
    } else {
        format!("{t} TIME-WAIT sockets fill {:.0}% of net.ipv4.tcp_max_tw_buckets ({m})", 100.0 * t as f64 / m as f64)
    };
    let sev = if rose > 0 { Severity::Critical } else { Severity::Warning };
    let mut f = Finding::new(Kind::TimeWaitOverflow, sev, "tcp time-wait".into(), summary);
    f.evidence.counters.extend(overflow);
    f.evidence.counters.push(level("sockstat:tw", cx.w.before.sockstat.map(|s| s.tcp_tw), t));
    f.evidence.facts.push(("net.ipv4.tcp_max_tw_buckets".into(), m.to_string()));
    f.threshold =
        format!("TCPTimeWaitOverflow rising, or TIME-WAIT at {:.0}% of the buckets", th.time_wait_fill * 100.0);
    f.next_step = "find who closes so many connections first (sockscope state time-wait, by destination) and make \
                   it reuse them; raise tcp_max_tw_buckets if the churn is expected"
        .into();
    Ok(vec![f])
}

/// Orphans: TCP sockets no process holds any more, still closing.
fn orphan(s: &Socket) -> bool {
    s.proto == Proto::Tcp
        && s.inode == 0
        && matches!(s.state, State::FIN_WAIT1 | State::FIN_WAIT2 | State::LAST_ACK | State::CLOSING)
}

pub fn orphan_pressure(cx: &Cx, th: &Thresholds) -> Result<Vec<Finding>, String> {
    let (Some(st), Some(max)) = (cx.w.now.sockstat, cx.w.limits.max_orphans) else {
        return Err(if cx.w.now.sockstat.is_none() {
            "/proc/net/sockstat could not be read".into()
        } else {
            "net.ipv4.tcp_max_orphans is not visible here (the kernel keeps it in the host's network namespace; run \
             from the host with -N or --all-netns)"
                .into()
        });
    };
    let aborted = cx.counter("TcpExt", "TCPAbortOnMemory");
    let rose = aborted.as_ref().map_or(0, delta);
    let n = st.tcp_orphan;
    if max == 0 || (n as f64) < th.orphan_fill * max as f64 && rose == 0 {
        return Ok(Vec::new());
    }
    let mut by_peer: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for s in cx.now().iter().filter(|s| orphan(s)) {
        if let Some((ip, _)) = inet(&s.peer) {
            *by_peer.entry(ip).or_default() += 1;
        }
    }
    let mut top: Vec<(IpAddr, usize)> = by_peer.into_iter().collect();
    top.sort_by_key(|p| std::cmp::Reverse(p.1));
    let names: Vec<String> = top.iter().take(3).map(|(ip, k)| format!("{} ({k})", Bracketed(*ip))).collect();
    let summary = format!(
        "{n} orphaned TCP sockets, {:.0}% of net.ipv4.tcp_max_orphans ({max}){}{}",
        100.0 * n as f64 / max as f64,
        if rose > 0 { format!("; the kernel reset {rose} for memory") } else { String::new() },
        if names.is_empty() { String::new() } else { format!("; most towards {}", names.join(", ")) }
    );
    let sev = if rose > 0 || n >= max { Severity::Critical } else { Severity::Warning };
    let mut f = Finding::new(Kind::OrphanPressure, sev, "tcp orphans".into(), summary);
    f.evidence.counters.push(level("sockstat:orphan", cx.w.before.sockstat.map(|s| s.tcp_orphan), n));
    f.evidence.counters.extend(aborted);
    f.evidence.facts = top.iter().take(5).map(|(ip, k)| (format!("peer {}", Bracketed(*ip)), k.to_string())).collect();
    f.threshold = format!("orphans at {:.0}% of tcp_max_orphans, or resets for memory", th.orphan_fill * 100.0);
    f.next_step = "the peers named do not acknowledge closes: check them; lower net.ipv4.tcp_orphan_retries or \
                   tcp_fin_timeout, raise tcp_max_orphans if memory allows"
        .into();
    Ok(vec![f])
}

pub fn tcp_memory_pressure(cx: &Cx, th: &Thresholds) -> Result<Vec<Finding>, String> {
    let (Some(st), Some([_, pressure, high])) = (cx.w.now.sockstat, cx.w.limits.tcp_mem) else {
        return Err(if cx.w.now.sockstat.is_none() {
            "/proc/net/sockstat could not be read".into()
        } else {
            "net.ipv4.tcp_mem is not visible here (the kernel keeps it in the host's network namespace; run from \
             the host with -N or --all-netns)"
                .into()
        });
    };
    let pressures = cx.counter("TcpExt", "TCPMemoryPressures");
    let rose = pressures.as_ref().map_or(0, delta);
    let pages = st.tcp_mem;
    if (pages as f64) < th.tcp_mem_fill * pressure as f64 && rose == 0 {
        return Ok(Vec::new());
    }
    let sev = if pages >= high { Severity::Critical } else { Severity::Warning };
    let summary = if pages >= high {
        format!("TCP uses {pages} pages of memory, over net.ipv4.tcp_mem's high mark ({high}): the kernel drops data")
    } else if pages >= pressure || rose > 0 {
        format!(
            "TCP uses {pages} pages of memory, past net.ipv4.tcp_mem's pressure mark ({pressure}): the kernel \
             shrinks buffers"
        )
    } else {
        format!("TCP uses {pages} pages of memory, near net.ipv4.tcp_mem's pressure mark ({pressure})")
    };
    let mut f = Finding::new(Kind::TcpMemoryPressure, sev, "tcp memory".into(), summary);
    f.evidence.counters.push(level("sockstat:mem", cx.w.before.sockstat.map(|s| s.tcp_mem), pages));
    f.evidence.counters.extend(pressures);
    f.evidence
        .facts
        .push(("net.ipv4.tcp_mem".into(), format!("{} {pressure} {high}", cx.w.limits.tcp_mem.map_or(0, |m| m[0]))));
    f.threshold = format!(
        "TCP memory at {:.0}% of tcp_mem's pressure mark, or TCPMemoryPressures rising",
        th.tcp_mem_fill * 100.0
    );
    f.next_step =
        "find the sockets holding memory (sockscope -tm, large Recv-Q/Send-Q), or raise net.ipv4.tcp_mem".into();
    Ok(vec![f])
}

pub fn udp_receive_drops(cx: &Cx, _th: &Thresholds) -> Result<Vec<Finding>, String> {
    let errors = cx.counter("Udp", "RcvbufErrors");
    let host = errors.as_ref().map_or(0, delta);
    let mut out = Vec::new();
    for s in cx.now().iter().filter(|s| s.proto == Proto::Udp) {
        let (Some(n), Some(b)) = (drops(s), cx.before(s).and_then(drops)) else { continue };
        let d = u64::from(n.saturating_sub(b));
        if d == 0 {
            continue;
        }
        let who = cx.process(s).unwrap_or_else(|| "the process holding it".into());
        let rcvbuf = super::window::mem(s).and_then(|m| m.rcvbuf).unwrap_or(0);
        let summary = format!(
            "udp {} dropped {d} datagrams in {:.0} s: {who} does not read fast enough for its {rcvbuf}-byte buffer",
            s.local.short_text(),
            cx.secs
        );
        let mut f =
            Finding::new(Kind::UdpReceiveDrops, Severity::Critical, format!("udp {}", s.local.short_text()), summary);
        f.port = s.local.port();
        f.process = cx.process(s);
        f.evidence.sockets.push(cx.evidence(s, &[("drops", d), ("rcvbuf", rcvbuf.into())]));
        f.evidence.counters.extend(errors.clone());
        f.threshold = "the socket's drop counter rising".into();
        f.next_step = "read faster (more reader threads, SO_REUSEPORT), or raise SO_RCVBUF (net.core.rmem_max)".into();
        out.push(f);
    }
    if out.is_empty() && host > 0 {
        let summary = format!("UDP dropped {host} datagrams for full receive buffers in {:.0} s", cx.secs);
        let mut f = Finding::new(Kind::UdpReceiveDrops, Severity::Warning, "udp".into(), summary);
        f.evidence.counters.extend(errors);
        f.threshold = "Udp:RcvbufErrors rising".into();
        f.next_step = "the socket was not seen dropping (closed since, or another family): watch -um for drops".into();
        out.push(f);
    }
    Ok(out)
}

pub fn conntrack_full(cx: &Cx, th: &Thresholds) -> Result<Vec<Finding>, String> {
    let Some(now) = cx.w.now.conntrack else {
        return Err("no connection tracking in this namespace (nf_conntrack not loaded)".into());
    };
    let before = cx.w.before.conntrack.unwrap_or(now);
    let dropped = now.drop.saturating_sub(before.drop)
        + now.early_drop.saturating_sub(before.early_drop)
        + now.insert_failed.saturating_sub(before.insert_failed);
    let filling = now.max > 0 && now.count as f64 >= th.conntrack_fill * now.max as f64;
    if dropped == 0 && !filling {
        return Ok(Vec::new());
    }
    let summary = format!(
        "the connection tracking table holds {} of {} entries ({:.0}%){}",
        now.count,
        now.max,
        100.0 * now.count as f64 / now.max.max(1) as f64,
        if dropped > 0 { format!(": {dropped} new connections dropped in {:.0} s", cx.secs) } else { String::new() }
    );
    let sev = if dropped > 0 { Severity::Critical } else { Severity::Warning };
    let mut f = Finding::new(Kind::ConntrackFull, sev, "conntrack".into(), summary);
    f.evidence.counters.push(level("nf_conntrack_count", Some(before.count), now.count));
    for (name, b, n) in [
        ("nf_conntrack:drop", before.drop, now.drop),
        ("nf_conntrack:early_drop", before.early_drop, now.early_drop),
        ("nf_conntrack:insert_failed", before.insert_failed, now.insert_failed),
    ] {
        f.evidence.counters.push(CounterDelta {
            name: name.into(),
            before: Some(b),
            now: n,
            per_sec: Some(n.saturating_sub(b) as f64 / cx.secs),
        });
    }
    f.evidence.facts.push(("net.netfilter.nf_conntrack_max".into(), now.max.to_string()));
    f.threshold = format!("the table at {:.0}% of nf_conntrack_max, or drops", th.conntrack_fill * 100.0);
    f.next_step = "raise net.netfilter.nf_conntrack_max (and the hash size), shorten the timeouts of idle flows, or \
                   exempt busy traffic from tracking (notrack); `sockscope forwards` shows the flows"
        .into();
    Ok(vec![f])
}
