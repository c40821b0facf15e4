//! Pictures over time: the group screen's chart of its sockets by state, its accept-queue fill and its top
//! peers as bars; the detail screen's rtt, cwnd and throughput charts; the header's state-mix bar. Pure
//! drawing from [`super::history`]; without colour each series keeps its own marker so it stays readable.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph};

use super::app::App;
use super::history::{BANDS, GroupSample, Series};
use super::view::Theme;
use crate::group::{Group, StateCounts};
use crate::model::State;

const BAND_COLORS: [Color; 5] = [Color::Green, Color::Yellow, Color::Magenta, Color::Red, Color::DarkGray];
const MARKERS: [Marker; 5] = [Marker::Braille, Marker::HalfBlock, Marker::Block, Marker::Bar, Marker::Dot];
const MARKER_HINT: [&str; 5] = ["⣿", "▀", "█", "▄", "•"];

/// Rows the group screen gives its charts, 0 when the screen is too short for them and the table.
pub fn group_charts_height(body_height: u16) -> u16 {
    if body_height >= 18 { (body_height / 3).clamp(8, 14) } else { 0 }
}

/// `-5m`, `-40s`: a time axis label.
fn ago(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("-{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("-{}m{:02}s", s / 60, s % 60)
    } else {
        format!("-{s}s")
    }
}

fn short(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn x_bounds(t0: f64, t1: f64) -> ([f64; 2], Vec<Line<'static>>) {
    let t1 = if t1 > t0 { t1 } else { t0 + 1.0 };
    ([t0, t1], vec![Line::from(ago(t1 - t0)), Line::from("now")])
}

/// One line of a chart: its name, style, marker and points.
type Plot = (String, Style, Marker, Vec<(f64, f64)>);
/// A socket chart: name, latest value, what it plots, colour.
type SocketPlot = (&'static str, String, fn(&super::history::SocketSample) -> f64, Color);

/// A line chart of one or more named series over `t`.
fn chart(f: &mut Frame, area: Rect, title: Line<'static>, series: &[Plot], y_max: f64, theme: &Theme) {
    let block = Block::default().borders(Borders::ALL).title(title);
    let (t0, t1) = series
        .iter()
        .flat_map(|s| s.3.iter().map(|p| p.0))
        .fold((f64::MAX, f64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    if t0 > t1 || area.height < 4 || area.width < 12 {
        f.render_widget(Paragraph::new(" waiting for a second refresh").block(block), area);
        return;
    }
    let (xb, xl) = x_bounds(t0, t1);
    let y_max = if y_max > 0.0 { y_max * 1.05 } else { 1.0 };
    let datasets: Vec<Dataset> = series
        .iter()
        .map(|(name, style, marker, data)| {
            Dataset::default().name(name.clone()).marker(*marker).graph_type(GraphType::Line).style(*style).data(data)
        })
        .collect();
    let axis_style = if theme.color { Style::default().fg(Color::Gray) } else { Style::default() };
    let c = Chart::new(datasets)
        .block(block)
        .x_axis(Axis::default().bounds(xb).labels(xl).style(axis_style))
        .y_axis(
            Axis::default()
                .bounds([0.0, y_max])
                .labels(vec![Line::from("0"), Line::from(short(y_max))])
                .style(axis_style),
        )
        .legend_position(None);
    f.render_widget(c, area);
}

fn band_style(i: usize, theme: &Theme) -> (Style, Marker, String) {
    if theme.color {
        (Style::default().fg(BAND_COLORS[i]), Marker::Braille, BANDS[i].to_string())
    } else {
        (Style::default(), MARKERS[i], format!("{}{}", BANDS[i], MARKER_HINT[i]))
    }
}

/// The group screen's pictures: sockets by state over time, the accept queue for a listener, top peers.
pub fn group_charts(
    f: &mut Frame,
    area: Rect,
    g: &Group,
    queue: Option<(u32, u32)>,
    series: Option<&Series<GroupSample>>,
    theme: &Theme,
) {
    let listener = queue.is_some();
    let peers = !g.top_peers.is_empty();
    let mut cons = vec![Constraint::Fill(2)];
    if listener {
        cons.push(Constraint::Fill(1));
    }
    if peers {
        cons.push(Constraint::Fill(1));
    }
    let parts = Layout::horizontal(cons).split(area);
    let empty = Series::default();
    let series = series.unwrap_or(&empty);
    let samples = &series.samples;
    let mut sets = Vec::new();
    let mut y_max = 0.0f64;
    for (b, _) in BANDS.iter().enumerate() {
        if samples.iter().all(|s| s.bands[b] == 0.0) {
            continue;
        }
        let data: Vec<(f64, f64)> = samples.iter().map(|s| (s.t, s.bands[b] as f64)).collect();
        y_max = data.iter().fold(y_max, |m, p| m.max(p.1));
        let (style, marker, name) = band_style(b, theme);
        sets.push((name, style, marker, data));
    }
    // The legend is the title: each state in its colour (or with its marker without colour).
    let mut title = vec![Span::raw(" ")];
    for (name, style, _, data) in &sets {
        let now = data.last().map_or(0.0, |p| p.1);
        title.push(Span::styled(format!("{name} {now:.0} "), *style));
    }
    if series.stride > 1 {
        title.push(Span::raw(format!("(a point per {} refreshes) ", series.stride)));
    }
    let title = Line::from(title);
    chart(f, parts[0], title, &sets, y_max, theme);
    let mut next = 1;
    if listener {
        let (q, b) = queue.unwrap_or((0, 0));
        let pct = if b > 0 { q as f64 * 100.0 / b as f64 } else { 0.0 };
        let style = if pct >= 80.0 { theme.alarm() } else { Style::default() };
        let title = Line::from(Span::styled(format!(" accept queue {q}/{b} "), style));
        let data: Vec<(f64, f64)> = samples.iter().map(|s| (s.t, s.queue_pct as f64)).collect();
        let name = if theme.color { "% full".to_string() } else { "% full ⣿".to_string() };
        let line_style = if theme.color { Style::default().fg(Color::Cyan) } else { Style::default() };
        chart(f, parts[next], title, &[(name, line_style, Marker::Braille, data)], 100.0 / 1.05, theme);
        next += 1;
    }
    if peers {
        peer_bars(f, parts[next], g);
    }
}

/// The busiest peers of a group as horizontal bars.
fn peer_bars(f: &mut Frame, area: Rect, g: &Group) {
    let block = Block::default().borders(Borders::ALL).title(format!(" top peers of {} ", g.peers));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let max = g.top_peers.first().map_or(1, |p| p.1).max(1);
    let label_w = g.top_peers.iter().map(|p| p.0.to_string().len()).max().unwrap_or(0);
    let count_w = max.to_string().len();
    let bar_room = (inner.width as usize).saturating_sub(label_w + count_w + 2).max(1);
    let lines: Vec<Line> = g
        .top_peers
        .iter()
        .take(inner.height as usize)
        .map(|(ip, n)| {
            let len = ((*n as usize * bar_room).div_ceil(max as usize)).clamp(1, bar_room);
            Line::from(format!("{:<label_w$} {:<bar_room$} {n:>count_w$}", ip.to_string(), "█".repeat(len)))
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// The detail screen's charts of the open socket's tcp_info over the time it has been watched.
pub fn socket_charts(app: &App, f: &mut Frame, area: Rect, theme: &Theme) {
    if area.height < 5 || area.width < 24 {
        return;
    }
    let Some(h) = app.sock_history.as_ref().filter(|h| !h.samples.is_empty()) else {
        let note = " no tcp_info for this socket yet (charts of rtt, cwnd and throughput start with it)";
        f.render_widget(Paragraph::new(note), Rect { height: 1, ..area });
        return;
    };
    let parts = if area.width >= 90 {
        Layout::horizontal([Constraint::Fill(1); 3]).split(area)
    } else {
        Layout::vertical([Constraint::Fill(1); 3]).split(area)
    };
    let last = h.samples.back().copied().unwrap_or_default();
    let pick: [SocketPlot; 3] = [
        ("rtt", format!("{:.2} ms", last.rtt_ms), |s| s.rtt_ms, Color::Yellow),
        ("cwnd", format!("{:.0} segments", last.cwnd), |s| s.cwnd, Color::Green),
        ("acked", crate::output::tcp_info::rate(last.throughput as u64), |s| s.throughput, Color::Cyan),
    ];
    for (i, (name, now, get, color)) in pick.into_iter().enumerate() {
        let data: Vec<(f64, f64)> = h.samples.iter().map(|s| (s.t, get(s))).collect();
        let y_max = data.iter().fold(0.0f64, |m, p| m.max(p.1));
        let style = if theme.color { Style::default().fg(color) } else { Style::default() };
        chart(
            f,
            parts[i],
            Line::from(format!(" {name} {now} ")),
            &[(String::new(), style, Marker::Braille, data)],
            y_max,
            theme,
        );
    }
}

/// The header's state mix of the whole host: `█` established, `▒` TIME-WAIT, `░` the rest (coloured when
/// colour is on), `width` cells.
pub fn state_mix(totals: &StateCounts, width: usize, theme: &Theme) -> Vec<Span<'static>> {
    let total = totals.total() as u64;
    if total == 0 || width == 0 {
        return Vec::new();
    }
    let estab = totals.get(State::ESTABLISHED) as u64;
    let tw = totals.get(State::TIME_WAIT) as u64;
    let cells = |n: u64| ((n * width as u64 + total / 2) / total) as usize;
    let (e, t) = (cells(estab), cells(tw));
    let e = if estab > 0 { e.max(1) } else { 0 };
    let t = if tw > 0 { t.max(1).min(width.saturating_sub(e)) } else { 0 };
    let rest = width.saturating_sub(e + t);
    // Its own colours on the header's reversed bar (reversed, a block would show in the bar's colour).
    let plain = Style::default().remove_modifier(ratatui::style::Modifier::REVERSED).bg(Color::Reset);
    let c = |col: Color| if theme.color { plain.fg(col) } else { plain.fg(Color::Reset) };
    vec![
        Span::styled("█".repeat(e), c(Color::Green)),
        Span::styled("▒".repeat(t), c(Color::DarkGray)),
        Span::styled("░".repeat(rest), c(Color::Yellow)),
    ]
}
