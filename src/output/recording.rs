//! Recordings as text: the groups of a sample, the sockets known open, events, and what changed between two
//! moments or two snapshots.

use std::io::{self, Write};

use super::events::printable;
use crate::clock;
use crate::model::State;
use crate::record::{EventRow, GroupRow, STATE_COLUMNS};

/// `estab:5 time-wait:3 listen:1`: the non-zero counts by state.
pub fn states_text(g: &GroupRow) -> String {
    let mut parts = Vec::new();
    for (i, name) in STATE_COLUMNS.iter().enumerate() {
        let n = g.states[i];
        if n > 0 {
            let st = State(i as u8 + 1);
            let label = if g.proto == "tcp" { st.name() } else { name };
            parts.push(format!("{label}:{n}"));
        }
    }
    parts.join(" ")
}

/// The groups of one sample, one line each.
pub fn render_groups(w: &mut dyn Write, groups: &[GroupRow]) -> io::Result<()> {
    writeln!(
        w,
        "{:<34} {:<5} {:>7} {:>9} {:>5}  {:<24} States",
        "Group", "Proto", "Sockets", "AcceptQ", "Peers", "Owner"
    )?;
    for g in groups {
        let q = match (g.accept_queue, g.accept_backlog) {
            (Some(q), Some(b)) => format!("{q}/{b}"),
            _ => "-".into(),
        };
        let owner = g.owner.as_deref().map_or("-".to_string(), printable);
        writeln!(
            w,
            "{:<34} {:<5} {:>7} {:>9} {:>5}  {:<24} {}",
            printable(&g.label()),
            g.proto,
            g.sockets,
            q,
            g.peers,
            owner,
            states_text(g)
        )?;
    }
    Ok(())
}

fn end(addr: &Option<String>, port: Option<u16>) -> String {
    let a = addr.as_deref().map_or("*".to_string(), printable);
    match port {
        Some(p) if a.contains(':') => format!("[{a}]:{p}"),
        Some(p) => format!("{a}:{p}"),
        None => a,
    }
}

/// One recorded event as a line (the shape of `watch` lines).
pub fn render_event(w: &mut dyn Write, e: &EventRow) -> io::Result<()> {
    let state = match &e.old_state {
        Some(old) if e.event == "state" => format!("{old}>{}", e.state),
        _ => e.state.clone(),
    };
    let mut line = format!(
        "{} {:<5} {:<4} {:<11} {:<28} {:<28}",
        clock::rfc3339(e.time_ms),
        e.event,
        e.proto,
        state,
        end(&e.local_address, e.local_port),
        end(&e.peer_address, e.peer_port)
    );
    if let Some(c) = e.cookie {
        line.push_str(&format!(" sk:{c:x}"));
    }
    if let (Some(pid), Some(comm)) = (e.pid, &e.comm) {
        line.push_str(&format!(" users:((\"{}\",pid={pid}))", printable(comm)));
    }
    if e.event == "close" {
        match e.lifetime_ms {
            Some(ms) => line.push_str(&format!(" lifetime:{}", super::table::duration_ms(ms))),
            None => line.push_str(" lifetime:between-dumps"),
        }
        if let Some(b) = e.bytes_sent {
            line.push_str(&format!(" bytes_sent:{b}"));
        }
        if let Some(b) = e.bytes_received {
            line.push_str(&format!(" bytes_received:{b}"));
        }
    }
    writeln!(w, "{line}")
}

/// Groups that appeared, went away or changed between two samples.
#[derive(Debug, Default, serde::Serialize)]
pub struct GroupDiff {
    pub added: Vec<GroupRow>,
    pub removed: Vec<GroupRow>,
    /// (before, after)
    pub changed: Vec<(GroupRow, GroupRow)>,
}

impl GroupDiff {
    pub fn of(before: &[GroupRow], after: &[GroupRow]) -> GroupDiff {
        let id = |g: &GroupRow| (g.kind.clone(), g.proto.clone(), g.address.clone(), g.port);
        let mut d = GroupDiff::default();
        for a in after {
            match before.iter().find(|b| id(b) == id(a)) {
                None => d.added.push(a.clone()),
                Some(b) if b.states != a.states || b.sockets != a.sockets => d.changed.push((b.clone(), a.clone())),
                Some(_) => {}
            }
        }
        d.removed = before.iter().filter(|b| !after.iter().any(|a| id(a) == id(b))).cloned().collect();
        d
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    pub fn render(&self, w: &mut dyn Write) -> io::Result<()> {
        for g in &self.added {
            writeln!(w, "+ {} {} sockets:{} {}", printable(&g.label()), g.proto, g.sockets, states_text(g))?;
        }
        for g in &self.removed {
            writeln!(w, "- {} {} sockets:{} {}", printable(&g.label()), g.proto, g.sockets, states_text(g))?;
        }
        for (b, a) in &self.changed {
            writeln!(
                w,
                "~ {} {} sockets:{}->{} [{}] -> [{}]",
                printable(&a.label()),
                a.proto,
                b.sockets,
                a.sockets,
                states_text(b),
                states_text(a)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(port: u16, estab: u32) -> GroupRow {
        GroupRow {
            address: Some("::".into()),
            owner: Some("ng\u{7}inx/1".into()),
            ..crate::record::fixtures::group_row(port, estab)
        }
    }

    #[test]
    fn group_diff_names_added_removed_changed() {
        let d = GroupDiff::of(&[g(80, 1), g(443, 2)], &[g(443, 5), g(8080, 0)]);
        let mut out = Vec::new();
        d.render(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "+ [::]:8080 tcp sockets:1 listen:1\n- [::]:80 tcp sockets:2 established:1 listen:1\n\
             ~ [::]:443 tcp sockets:3->6 [established:2 listen:1] -> [established:5 listen:1]\n"
        );
        let mut out = Vec::new();
        render_groups(&mut out, &[g(80, 1)]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("ng\\x07inx/1"), "owner escaped: {text}");
    }
}
