//! Recordings as text: the groups of a sample, the sockets known open, events, and what changed between two
//! moments or two snapshots; one row at a time (a reader streams them). Every recorded text is escaped
//! ([`escape`]): a recording is a file anyone could have written. Also [`JsonArray`], a JSON array written
//! item by item.

use std::io::{self, Write};

use crate::clock;
use crate::model::State;
use crate::model::text::{escape, escape_quoted};
use crate::record::reader::Change;
use crate::record::{EventRow, GroupRow, STATE_COLUMNS};

/// `estab:5 time-wait:3 listen:1`: the non-zero counts by state.
pub fn states_text(g: &GroupRow) -> String {
    let mut parts = Vec::new();
    for (i, name) in STATE_COLUMNS.iter().enumerate() {
        let n = g.states[i];
        if n > 0 {
            let st = State(i as u8 + 1);
            let label = if g.key.proto() == crate::model::Proto::Tcp { st.name() } else { name };
            parts.push(format!("{label}:{n}"));
        }
    }
    parts.join(" ")
}

/// The header of [`render_group`]'s lines.
pub fn render_groups_header(w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "{:<34} {:<5} {:>7} {:>9} {:>5}  {:<24} States",
        "Group", "Proto", "Sockets", "AcceptQ", "Peers", "Owner"
    )
}

/// One group of a sample as a line.
pub fn render_group(w: &mut dyn Write, g: &GroupRow) -> io::Result<()> {
    let q = match (g.accept_queue, g.accept_backlog) {
        (Some(q), Some(b)) => format!("{q}/{b}"),
        _ => "-".into(),
    };
    writeln!(
        w,
        "{:<34} {:<5} {:>7} {:>9} {:>5}  {:<24} {}",
        escape(&g.label()),
        g.key.proto().name(),
        g.sockets,
        q,
        g.peers,
        escape(g.owner.as_deref().unwrap_or("-")),
        states_text(g)
    )
}

fn end(addr: &Option<String>, port: Option<u16>) -> String {
    let a = escape(addr.as_deref().unwrap_or("*"));
    match port {
        Some(p) => format!("{}:{p}", crate::model::Bracketed(&*a)),
        None => a.into_owned(),
    }
}

/// One recorded event as a line (the shape of `watch` lines).
pub fn render_event(w: &mut dyn Write, e: &EventRow) -> io::Result<()> {
    let state = match &e.old_state {
        Some(old) if e.event == "state" => format!("{}>{}", escape(old), escape(&e.state)),
        _ => escape(&e.state).into_owned(),
    };
    let mut line = format!(
        "{} {:<5} {:<4} {:<11} {:<28} {:<28}",
        clock::rfc3339(e.time_ms),
        escape(&e.event),
        escape(&e.proto),
        state,
        end(&e.local_address, e.local_port),
        end(&e.peer_address, e.peer_port)
    );
    if let Some(c) = e.cookie {
        line.push_str(&format!(" sk:{c:x}"));
    }
    if let (Some(pid), Some(comm)) = (e.pid, &e.comm) {
        line.push_str(&format!(" users:((\"{}\",pid={pid}))", escape_quoted(comm)));
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

/// A group that appeared (`+`), went away (`-`) or changed (`~`, with its row `after`) between two samples.
pub fn render_group_change(
    w: &mut dyn Write,
    change: Change,
    g: &GroupRow,
    after: Option<&GroupRow>,
) -> io::Result<()> {
    let label = g.label();
    let (label, proto) = (escape(&label), g.key.proto());
    match (change, after) {
        (Change::Changed, Some(a)) => writeln!(
            w,
            "~ {label} {proto} sockets:{}->{} [{}] -> [{}]",
            g.sockets,
            a.sockets,
            states_text(g),
            states_text(a)
        ),
        (Change::Removed, _) => writeln!(w, "- {label} {proto} sockets:{} {}", g.sockets, states_text(g)),
        _ => writeln!(w, "+ {label} {proto} sockets:{} {}", g.sockets, states_text(g)),
    }
}

/// A JSON array written item by item: `[`, the items, `]`.
#[derive(Debug, Default)]
pub struct JsonArray {
    items: u64,
}

impl JsonArray {
    /// Write `[` (or `,`) and `item`.
    pub fn push<T: serde::Serialize>(&mut self, w: &mut dyn Write, item: &T) -> io::Result<()> {
        w.write_all(if self.items == 0 { b"[" } else { b"," })?;
        serde_json::to_writer(&mut *w, item)?;
        self.items += 1;
        Ok(())
    }

    /// Write text that is already one JSON value as the next item.
    pub fn push_raw(&mut self, w: &mut dyn Write, json: &str) -> io::Result<()> {
        w.write_all(if self.items == 0 { b"[" } else { b"," })?;
        w.write_all(json.as_bytes())?;
        self.items += 1;
        Ok(())
    }

    /// Close the array; the items written.
    pub fn finish(self, w: &mut dyn Write) -> io::Result<u64> {
        w.write_all(if self.items == 0 { b"[]" } else { b"]" })?;
        Ok(self.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(port: u16, estab: u32) -> GroupRow {
        let any = std::net::Ipv6Addr::UNSPECIFIED.into();
        GroupRow {
            key: crate::group::GroupKey::Listen { proto: crate::model::Proto::Tcp, ip: any, port, netns: 0 },
            owner: Some("ng\u{7}inx/1".into()),
            ..crate::record::fixtures::group_row(port, estab)
        }
    }

    fn text(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn group_changes_name_added_removed_changed() {
        let t = text(|w| {
            render_group_change(w, Change::Added, &g(8080, 0), None)?;
            render_group_change(w, Change::Removed, &g(80, 1), None)?;
            render_group_change(w, Change::Changed, &g(443, 2), Some(&g(443, 5)))
        });
        assert_eq!(
            t,
            "+ [::]:8080 tcp sockets:1 listen:1\n- [::]:80 tcp sockets:2 established:1 listen:1\n\
             ~ [::]:443 tcp sockets:3->6 [established:2 listen:1] -> [established:5 listen:1]\n"
        );
        let t = text(|w| render_group(w, &g(80, 1)));
        assert!(t.contains("ng\\x07inx/1"), "owner escaped: {t}");
    }

    /// Regression: a recording's texts (`proto`, `event`, `state`, the process name, a UNIX path) reached the
    /// terminal raw in `list --from` and `diff`: a file anyone wrote could move the cursor or retitle it.
    #[test]
    fn recorded_texts_reach_the_terminal_escaped() {
        let e = EventRow {
            event: "open\x1b[2J".into(),
            proto: "tcp\x07".into(),
            state: "estab\x1b]0;pwned\x07".into(),
            old_state: Some("x\r".into()),
            local_address: Some("/run/\x1b[31mred".into()),
            local_port: None,
            comm: Some("py\"th\x1bon".into()),
            pid: Some(7),
            ..crate::record::fixtures::event_row(0, "open", 1, (1, 2))
        };
        let g = GroupRow { key: crate::group::GroupKey::UnixPath(0, "/tmp/\u{202e}x".into()), ..g(1, 1) };
        let t = text(|w| {
            render_event(w, &e)?;
            render_event(w, &EventRow { event: "state".into(), ..e.clone() })?;
            render_group(w, &g)?;
            render_group_change(w, Change::Added, &g, None)
        });
        assert!(!t.contains('\x1b') && !t.contains('\x07') && !t.contains('\r') && !t.contains('\u{202e}'), "{t:?}");
        for want in ["open\\x1b[2J", "tcp\\x07", "estab\\x1b]0;pwned\\x07", "/run/\\x1b[31mred", "py\\\"th\\x1bon"] {
            assert!(t.contains(want), "{want} in {t}");
        }
    }

    #[test]
    fn json_arrays_are_written_item_by_item() {
        let t = text(|w| {
            let mut a = JsonArray::default();
            a.push(w, &1)?;
            a.push_raw(w, "{\"a\":2}")?;
            assert_eq!(a.finish(w)?, 2);
            JsonArray::default().finish(w).map(drop)
        });
        assert_eq!(t, "[1,{\"a\":2}][]");
    }
}
