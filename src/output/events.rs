//! Socket events as table lines (`sockscope watch`, `list -E`): one line per event, written as it happens.

use std::io::{self, Write};

use super::Names;
use super::table::{duration_ms, endpoint};
use crate::clock;
use crate::events::{Event, Kind};
use crate::model::text::escape_quoted;

/// The header line.
pub fn header(w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "{:<12} {:<5} {:<5} {:<16} {:<28} {:<28} Details", "Time", "Event", "Netid", "State", "Local", "Peer")
}

/// One event: time, kind, netid, state, local, peer, then `sk:COOKIE`, the process, and for a close its
/// lifetime and the kernel's last tcp_info (bytes, retransmits, rtt).
pub fn render_line(w: &mut dyn Write, ev: &Event, names: &Names) -> io::Result<()> {
    let s = &ev.socket;
    let mut local = Vec::with_capacity(32);
    endpoint(&mut local, s, names, true);
    let mut peer = Vec::with_capacity(32);
    endpoint(&mut peer, s, names, false);
    let state = match (ev.kind, ev.old_state) {
        (Kind::State, Some(old)) => format!("{}>{}", old.display_name(s.proto), s.state.display_name(s.proto)),
        _ => s.state.display_name(s.proto).to_string(),
    };
    let mut line = format!(
        "{:<12} {:<5} {:<5} {:<16} {:<28} {:<28}",
        clock::time_of_day(ev.time_ms),
        ev.kind.name(),
        s.netid(),
        state,
        String::from_utf8_lossy(&local),
        String::from_utf8_lossy(&peer),
    );
    if let Some(c) = s.cookie {
        line.push_str(&format!(" sk:{c:x}"));
    }
    if let Some(p) = &ev.process {
        line.push_str(&format!(" users:((\"{}\",pid={}))", escape_quoted(&p.comm), p.pid));
    }
    if ev.kind == Kind::Close {
        match ev.lifetime_ms() {
            Some(ms) if ev.preexisting => line.push_str(&format!(" lifetime:>{}", duration_ms(ms))),
            Some(ms) => line.push_str(&format!(" lifetime:{}", duration_ms(ms))),
            None => line.push_str(" lifetime:between-dumps"),
        }
        if let Some(t) = s.extra.as_deref().and_then(|x| x.tcp_info.as_ref()) {
            let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
            line.push_str(&format!(
                " bytes_sent:{} bytes_received:{} retrans:{} rtt:{}",
                opt(t.bytes_sent().or(t.bytes_acked())),
                opt(t.bytes_received()),
                opt(t.total_retrans().map(u64::from)),
                t.rtt_us().map_or("-".to_string(), |us| format!("{:.3}ms", us as f64 / 1000.0)),
            ));
        }
    } else if ev.late {
        line.push_str(" (opened and closed between two dumps)");
    }
    line.push('\n');
    w.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use super::*;
    use crate::collect::process::ProcessInfo;
    use crate::events::Via;
    use crate::model::{Proto, Socket, State};

    fn event(kind: Kind) -> Event {
        let mut s = Socket::inet(
            Proto::Tcp,
            State::ESTABLISHED,
            (Ipv4Addr::LOCALHOST.into(), 5000),
            (Ipv4Addr::new(127, 0, 0, 2).into(), 40000),
        );
        s.cookie = Some(0xab);
        Event {
            time_ms: 1_764_534_662_123,
            kind,
            socket: s,
            old_state: (kind == Kind::State).then_some(State::SYN_SENT),
            process: Some(Arc::new(ProcessInfo { pid: 7, comm: "a\u{1b}b".into(), cmdline: String::new(), uid: 0 })),
            first_seen_ms: Some(1_764_534_660_000),
            late: false,
            preexisting: false,
            via: Via::Dump,
        }
    }

    #[test]
    fn lines_say_what_happened() {
        let names = Names::default();
        let mut out = Vec::new();
        for k in [Kind::Open, Kind::State, Kind::Close] {
            render_line(&mut out, &event(k), &names).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("20:31:02.123 open  tcp   ESTAB            127.0.0.1:5000"), "{}", lines[0]);
        assert!(lines[0].ends_with("sk:ab users:((\"a\\x1bb\",pid=7))"), "{}", lines[0]);
        assert!(lines[1].contains(" SYN-SENT>ESTAB "), "{}", lines[1]);
        assert!(lines[2].ends_with("lifetime:2.1s"), "{}", lines[2]);
    }
}
