//! The detail screen of one socket as text and geometry: every field the kernel gave and what the dashboard
//! knows, wrapped inside its box, how far they scroll, and where the charts go below or beside them. On a
//! short window the charts keep a minimum height and the fields scroll (j/k) above them.

use ratatui::layout::Rect;

use super::text::fmt_age;
use crate::model::text::escape;
use crate::tui::model::live::Live;
use crate::tui::present::tables::row_socket;
use crate::tui::state::{App, SockRow};

/// Rows the socket charts keep below the fields however many the fields have (one row of three charts).
const CHARTS_MIN: u16 = 7;
/// Rows the fields keep at least before the charts give way (and a note says they need a taller window).
const FIELDS_MIN: u16 = 5;

/// Where the detail's parts go inside its box, for `lines` lines of fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    pub fields: Rect,
    /// Zero height: no room for the charts.
    pub charts: Rect,
    /// The furthest the fields scroll (0: they fit).
    pub scroll_max: u16,
}

pub fn parts(inner: Rect, lines: u16) -> Parts {
    let (fields, charts) = if inner.width >= 120 {
        // Wide: the fields on the left, the charts beside them.
        let left = inner.width * 11 / 20;
        let right = Rect { x: inner.x + left + 1, width: inner.width - left - 1, ..inner };
        (Rect { width: left, ..inner }, right)
    } else {
        // Narrow: the charts below the fields, at least CHARTS_MIN rows while the fields keep FIELDS_MIN.
        let charts_h = if lines + CHARTS_MIN <= inner.height {
            inner.height - lines
        } else if inner.height >= CHARTS_MIN + FIELDS_MIN {
            CHARTS_MIN
        } else {
            0
        };
        // Without charts the last row says why.
        let fields_h = if charts_h == 0 { inner.height.saturating_sub(1) } else { inner.height - charts_h };
        let charts = Rect { y: inner.y + fields_h, height: charts_h, ..inner };
        (Rect { height: fields_h, ..inner }, charts)
    };
    // Fields that overflow give their last row to a note saying how many more there are.
    let scroll_max = if lines > fields.height { lines - fields.height.saturating_sub(1) } else { 0 };
    Parts { fields, charts, scroll_max }
}

/// The inside of the detail's box (a border all around) in a body area.
pub fn inner(area: Rect) -> Rect {
    Rect {
        x: area.x.saturating_add(1),
        y: area.y.saturating_add(1),
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(2),
    }
}

/// The open detail as drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailShown {
    /// The box (the body area) and its parts.
    pub area: Rect,
    pub parts: Parts,
    /// The visible field lines (name cell, value part), from the scroll position.
    pub lines: Vec<(String, String)>,
    /// What is out of sight when the fields overflow.
    pub note: Option<String>,
    /// Field rows a page moves.
    pub page: u16,
}

/// The open detail in the body `area`, scrolled as far as `app.detail_scroll` (within what overflows).
pub fn shown(app: &App, live: &Live, area: Rect) -> Option<DetailShown> {
    let r = app.detail?;
    let fields = fields(app, live, r)?;
    let inner = inner(area);
    let width = if inner.width >= 120 { inner.width * 11 / 20 } else { inner.width };
    let text = wrap_fields(&fields, width as usize);
    let p = parts(inner, text.len() as u16);
    let scroll = app.detail_scroll.min(p.scroll_max) as usize;
    // Overflowing fields give their last row to a note saying what is out of sight.
    let visible = if p.scroll_max > 0 { p.fields.height.saturating_sub(1) } else { p.fields.height } as usize;
    let note = (p.scroll_max > 0).then(|| {
        let below = text.len().saturating_sub(scroll + visible);
        if below > 0 {
            format!(" ↓ {below} more lines (j/k scroll)")
        } else {
            format!(" ↑ {scroll} lines above (j/k scroll)")
        }
    });
    let lines = text.into_iter().skip(scroll).take(visible).collect();
    Some(DetailShown { area, parts: p, lines, note, page: area.height.saturating_sub(4).max(1) })
}

/// The detail's fields: every one the kernel gave and what the dashboard knows of the socket.
pub fn fields(app: &App, live: &Live, r: SockRow) -> Option<Vec<(String, String)>> {
    let (s, first, _, closed) = row_socket(live, r)?;
    let now = app.now.unwrap_or(live.taken_at);
    let queues = if closed { (s.recv_q, s.send_q) } else { app.queues(s) };
    let opt = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
    let mut lines: Vec<(String, String)> = vec![
        ("protocol".into(), format!("{} ({})", s.netid(), s.family.name())),
        (
            "state".into(),
            if closed {
                format!("closed (was {})", s.state.display_name(s.proto))
            } else {
                s.state.display_name(s.proto).into()
            },
        ),
        ("local".into(), s.local.short_text()),
        ("peer".into(), s.peer.short_text()),
        ("recv-q".into(), opt(queues.0)),
        ("send-q".into(), opt(queues.1)),
        ("uid".into(), opt(s.uid)),
        ("inode".into(), s.inode.to_string()),
        ("cookie".into(), s.cookie.map_or("-".into(), |c| format!("{c:#x}"))),
        ("age".into(), format!("{} (first seen by this dashboard)", fmt_age(now.saturating_duration_since(first)))),
    ];
    if let Some(i) = s.ifindex.filter(|i| *i != 0) {
        lines.push(("bound device".into(), format!("ifindex {i}")));
    }
    if let Some(v) = s.v6only {
        lines.push(("v6only".into(), if v { "yes" } else { "no (dual-stack)" }.into()));
    }
    if let Some(t) = s.timer {
        lines.push(("timer".into(), format!("{:?}, {} ms left, {} retransmits", t.kind, t.expires_ms, t.retrans)));
    }
    if let SockRow::Live(i) = r
        && let Some(reasons) = live.audit.get(&i)
    {
        for reason in reasons {
            lines.push(("audit".into(), format!("! {reason}")));
        }
    }
    if let Some(p) = s.local.port() {
        let class = crate::ports::classes::PortClass::of(p).name();
        let eph = live.ephemeral.is_some_and(|r| r.contains(p));
        lines.push(("local port".into(), format!("{class}{}", if eph { ", in the ephemeral range" } else { "" })));
    }
    if let (Some(o), SockRow::Live(i)) = (&live.owners, r) {
        lines.push(("process".into(), o.describe(i, s.uid)));
    }
    if let Some(x) = s.extra.as_deref() {
        if let Some(t) = &x.tcp_info {
            lines.push(("tcp_info".into(), crate::output::tcp_info::summary(t, x.congestion.as_deref())));
        }
        if let Some(m) = x.memory.as_deref() {
            lines.push(("memory".into(), crate::output::tcp_info::memory_summary(m)));
        }
    }
    Some(lines)
}

/// Width of the field names.
const KEY: usize = 14;

/// `name  value` lines (the name cell, the value's part), a long value wrapped inside `width` with its continuation under the value (a
/// command line never runs past the box).
pub fn wrap_fields(fields: &[(String, String)], width: usize) -> Vec<(String, String)> {
    let room = width.saturating_sub(KEY + 2).max(1);
    let mut out = Vec::new();
    for (k, v) in fields {
        let v = escape(v);
        let chars: Vec<char> = v.chars().collect();
        let mut chunks: Vec<String> = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let mut end = (start + room).min(chars.len());
            // Break after a space when there is one in the second half of the line.
            if end < chars.len()
                && let Some(sp) = chars[start..end].iter().rposition(|c| *c == ' ').filter(|p| *p >= room / 2)
            {
                end = start + sp + 1;
            }
            chunks.push(chars[start..end].iter().collect());
            start = end;
        }
        if chunks.is_empty() {
            chunks.push(String::new());
        }
        for (n, c) in chunks.into_iter().enumerate() {
            let key = if n == 0 { format!("{k:>KEY$}  ") } else { " ".repeat(KEY + 2) };
            out.push((key, c));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_command_line_wraps_inside_the_box() {
        let cmd = "redis-benchmark -h 10.0.0.9 -c 3 -n 1000000 --csv -t get,set,incr,lpush,rpush,lpop,rpop,sadd,hset";
        let fields = vec![("process".to_string(), cmd.to_string()), ("uid".to_string(), "0".to_string())];
        let lines = wrap_fields(&fields, 50);
        assert!(lines.len() > 3, "{lines:?}");
        for (k, v) in &lines {
            assert!(k.chars().count() + v.chars().count() <= 50, "{k:?} {v:?}");
        }
        let text: String = lines[..lines.len() - 1].iter().map(|l| l.1.clone()).collect();
        assert_eq!(text, cmd, "nothing lost");
        assert!(lines[1].0.trim().is_empty(), "a continuation sits under the value");
    }
}
