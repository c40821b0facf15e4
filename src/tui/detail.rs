//! The detail screen of one socket: every field the kernel gave, wrapped inside its box, and below them
//! charts of its rtt, congestion window and throughput over the time it has been watched.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::app::{App, SockRow};
use super::live::Live;
use super::tables::{end_text, row_socket};
use super::view::{Theme, fmt_age};
use crate::model::text::escape;

pub fn detail(app: &App, live: &Live, f: &mut Frame, area: Rect, theme: &Theme) {
    let Some(r) = app.detail else { return };
    let Some((s, first, _, closed)) = row_socket(live, r) else { return };
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
        ("local".into(), end_text(&s.local)),
        ("peer".into(), end_text(&s.peer)),
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
    let block = Block::default().borders(Borders::ALL).title(" socket ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    // Wide: the fields on the left, the charts beside them. Narrow: the charts below what the fields leave.
    if inner.width >= 120 {
        let left = inner.width * 11 / 20;
        let text = wrap_fields(&lines, left as usize);
        f.render_widget(Paragraph::new(text), Rect { width: left, ..inner });
        let right = Rect { x: inner.x + left + 1, width: inner.width - left - 1, ..inner };
        super::charts::socket_charts(app, f, right, theme);
    } else {
        let text = wrap_fields(&lines, inner.width as usize);
        let text_h = (text.len() as u16).min(inner.height);
        f.render_widget(Paragraph::new(text), Rect { height: text_h, ..inner });
        let rest = Rect { y: inner.y + text_h, height: inner.height - text_h, ..inner };
        super::charts::socket_charts(app, f, rest, theme);
    }
}

/// Width of the field names.
const KEY: usize = 14;

/// `name  value` lines, a long value wrapped inside `width` with its continuation under the value (a
/// command line never runs past the box).
pub fn wrap_fields(fields: &[(String, String)], width: usize) -> Vec<Line<'static>> {
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
            out.push(Line::from(vec![Span::styled(key, Style::default().add_modifier(Modifier::BOLD)), Span::raw(c)]));
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
        for l in &lines {
            assert!(l.width() <= 50, "{l:?}");
        }
        let text: String = lines[..lines.len() - 1].iter().map(|l| l.spans[1].content.to_string()).collect();
        assert_eq!(text, cmd, "nothing lost");
        assert!(lines[1].spans[0].content.trim().is_empty(), "a continuation sits under the value");
    }
}
