//! Pictures over time: the group screen's chart of its sockets by state, its accept-queue fill and its top
//! peers as bars; the detail screen's rtt, cwnd and throughput charts; the header's state-mix bar. Pure
//! drawing from [`super::history`]; without colour each series keeps its own marker so it stays readable.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph};

use crate::group::{Group, StateCounts};
use crate::model::{Proto, State};
use crate::tui::model::history::{BANDS, GroupSample, Series, band_name};
use crate::tui::state::App;
use crate::tui::view::Theme;

const BAND_COLORS: [Color; 6] = [Color::Green, Color::Blue, Color::Yellow, Color::Magenta, Color::Red, Color::DarkGray];
const MARKERS: [Marker; 6] =
    [Marker::Braille, Marker::Quadrant, Marker::HalfBlock, Marker::Block, Marker::Bar, Marker::Dot];
const MARKER_HINT: [&str; 6] = ["⣿", "▚", "▀", "█", "▄", "•"];

/// Shown instead of a chart until it has two moments to join (live), or for a recording of one sample.
const WAITING: &str = " waiting for a second refresh";
const ONE_SAMPLE: &str = " a single sample: no line to draw";

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

/// The time axis: its bounds and its end labels (`-5m00s` .. `now` live, or the first pair of the `span`'s
/// that fits in `room` cells beside `y_label` cells of the value axis, the shortest when none does).
fn x_bounds(t0: f64, t1: f64, span: Option<&[(String, String)]>, room: usize) -> ([f64; 2], Vec<Line<'static>>) {
    let t1 = if t1 > t0 { t1 } else { t0 + 1.0 };
    let fits = |(a, b): &&(String, String)| a.chars().count() * 2 + b.chars().count() + 2 <= room;
    let labels = match span.and_then(|s| s.iter().find(fits).or(s.last())) {
        Some((a, b)) => vec![Line::from(a.clone()), Line::from(b.clone())],
        None => vec![Line::from(ago(t1 - t0)), Line::from("now")],
    };
    ([t0, t1], labels)
}

/// One line of a chart: its name, style, marker and points.
type Plot = (String, Style, Marker, Vec<(f64, f64)>);
/// A socket chart: name, latest value, what it plots, colour.
type SocketPlot = (&'static str, String, fn(&crate::tui::model::history::SocketSample) -> f64, Color);

/// A line chart of one or more named series over `t`, the time axis labelled by `span` (or as live). Until
/// the series hold two moments there is nothing to join: it says so.
fn chart(
    f: &mut Frame,
    area: Rect,
    title: Line<'static>,
    series: &[Plot],
    y_max: f64,
    span: Option<&[(String, String)]>,
    theme: &Theme,
) {
    let block = Block::default().borders(Borders::ALL).title(title);
    let (t0, t1) = series
        .iter()
        .flat_map(|s| s.3.iter().map(|p| p.0))
        .fold((f64::MAX, f64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    if t0 >= t1 {
        let why = if span.is_some() { ONE_SAMPLE } else { WAITING };
        f.render_widget(Paragraph::new(why).block(block), area);
        return;
    }
    if area.height < 4 || area.width < 12 {
        f.render_widget(block, area);
        return;
    }
    // The first label sits under the value axis' labels, which take about as many cells: count it twice.
    let (xb, xl) = x_bounds(t0, t1, span, area.width.saturating_sub(2) as usize);
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

fn band_style(i: usize, proto: Proto, theme: &Theme) -> (Style, Marker, String) {
    let name = band_name(i, proto);
    if theme.color {
        (Style::default().fg(BAND_COLORS[i]), Marker::Braille, name.to_string())
    } else {
        (Style::default(), MARKERS[i], format!("{name}{}", MARKER_HINT[i]))
    }
}

/// What the group screen's pictures show, from the live dashboard or from a recording.
#[derive(Debug, Clone, Copy)]
pub struct GroupPictures<'a> {
    /// Names the bands (UNCONN for unconnected UDP, as ss).
    pub proto: Proto,
    /// The group's states over the time watched (or recorded).
    pub series: &'a Series<GroupSample>,
    /// A listener's accept queue now (waiting, limit); `None` for other groups.
    pub queue: Option<(u32, u32)>,
    /// Distinct peers, and the busiest with their sockets (printable), biggest first.
    pub peers: u32,
    pub top_peers: &'a [(String, u32)],
    /// The ends of the time axis, longest first (the first that fits is drawn); `None`: live (`-5m00s` ..
    /// `now`).
    pub span: Option<&'a [(String, String)]>,
    /// A replay's cursor on the time axis: marked by a vertical line, and the legend says the values then
    /// (live: the newest).
    pub cursor: Option<f64>,
}

impl<'a> GroupPictures<'a> {
    /// A live group's pictures: `top_peers` is its busiest peers as text (see [`peer_texts`]).
    pub fn live(
        g: &Group,
        queue: Option<(u32, u32)>,
        series: &'a Series<GroupSample>,
        top_peers: &'a [(String, u32)],
    ) -> Self {
        GroupPictures { proto: g.key.proto(), series, queue, peers: g.peers, top_peers, span: None, cursor: None }
    }
}

/// A live group's busiest peers as the bars name them.
pub fn peer_texts(g: &Group) -> Vec<(String, u32)> {
    g.top_peers.iter().map(|(ip, n)| (ip.to_string(), *n)).collect()
}

/// The group screen's pictures: sockets by state over time, the accept queue for a listener, top peers.
pub fn group_charts(f: &mut Frame, area: Rect, p: &GroupPictures, theme: &Theme) {
    let listener = p.queue.is_some();
    let peers = !p.top_peers.is_empty();
    let mut cons = vec![Constraint::Fill(2)];
    if listener {
        cons.push(Constraint::Fill(1));
    }
    if peers {
        cons.push(Constraint::Fill(1));
    }
    let parts = Layout::horizontal(cons).split(area);
    let series = p.series;
    let samples = &series.samples;
    let mut sets = Vec::new();
    let mut y_max = 0.0f64;
    for b in 0..BANDS.len() {
        // A band never used stays out of the legend; an idle group (nothing but its listener) still gets
        // its flat line of connections, so its chart shows the time watched.
        if samples.iter().all(|s| s.bands[b] == 0.0) && !(b == 0 && samples.iter().all(|s| s.bands == [0.0; 6])) {
            continue;
        }
        let data: Vec<(f64, f64)> = samples.iter().map(|s| (s.t, s.bands[b] as f64)).collect();
        y_max = data.iter().fold(y_max, |m, p| m.max(p.1));
        let (style, marker, name) = band_style(b, p.proto, theme);
        sets.push((name, style, marker, data));
    }
    // The legend is the title: each state in its colour (or with its marker without colour).
    let mut title = vec![Span::raw(" ")];
    for (name, style, _, data) in &sets {
        title.push(Span::styled(format!("{name} {:.0} ", value_at(data, p.cursor)), *style));
    }
    if series.stride > 1 {
        title.push(Span::raw(format!("(a point per {} samples) ", series.stride)));
    }
    let title = Line::from(title);
    // The cursor is a dim vertical line drawn first, so the series cross it.
    let marked = |sets: Vec<Plot>, top: f64| -> Vec<Plot> {
        let line = p.cursor.map(|t| {
            let points = (0..=40).map(|i| (t, top.max(1.0) * i as f64 / 40.0)).collect();
            (String::new(), theme.dim(), Marker::Custom('│'), points)
        });
        line.into_iter().chain(sets).collect()
    };
    chart(f, parts[0], title, &marked(sets, y_max), y_max, p.span, theme);
    let mut next = 1;
    if let Some((q, b)) = p.queue {
        let pct = if b > 0 { q as f64 * 100.0 / b as f64 } else { 0.0 };
        let style = if pct >= 80.0 { theme.alarm() } else { Style::default() };
        // A narrow box gets a shorter title rather than a cut number (`0/12` for `0/128`).
        let room = parts[next].width.saturating_sub(2) as usize;
        let title = [format!(" accept queue {q}/{b} "), format!(" queue {q}/{b} "), format!(" {q}/{b} ")]
            .into_iter()
            .find(|t| t.chars().count() <= room)
            .unwrap_or_default();
        let title = Line::from(Span::styled(title, style));
        let data: Vec<(f64, f64)> = samples.iter().map(|s| (s.t, s.queue_pct as f64)).collect();
        let name = if theme.color { "% full".to_string() } else { "% full ⣿".to_string() };
        let line_style = if theme.color { Style::default().fg(Color::Cyan) } else { Style::default() };
        let sets = marked(vec![(name, line_style, Marker::Braille, data)], 100.0);
        chart(f, parts[next], title, &sets, 100.0 / 1.05, p.span, theme);
        next += 1;
    }
    if peers {
        peer_bars(f, parts[next], p.peers, p.top_peers);
    }
}

/// A series' value at `cursor` (the last point at or before it), or its newest without a cursor.
fn value_at(data: &[(f64, f64)], cursor: Option<f64>) -> f64 {
    let upto = match cursor {
        Some(t) => data.iter().rev().find(|p| p.0 <= t).or(data.first()),
        None => data.last(),
    };
    upto.map_or(0.0, |p| p.1)
}

/// The busiest peers of a group as horizontal bars.
fn peer_bars(f: &mut Frame, area: Rect, peers: u32, top: &[(String, u32)]) {
    let block = Block::default().borders(Borders::ALL).title(format!(" top peers of {peers} "));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let max = top.first().map_or(1, |p| p.1).max(1);
    let label_w = top.iter().map(|p| p.0.chars().count()).max().unwrap_or(0);
    let count_w = max.to_string().len();
    let bar_room = (inner.width as usize).saturating_sub(label_w + count_w + 2).max(1);
    let lines: Vec<Line> = top
        .iter()
        .take(inner.height as usize)
        .map(|(ip, n)| {
            let len = ((*n as usize * bar_room).div_ceil(max as usize)).clamp(1, bar_room);
            Line::from(format!("{ip:<label_w$} {:<bar_room$} {n:>count_w$}", "█".repeat(len)))
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// The detail screen's charts of the open socket's tcp_info over the time it has been watched.
pub fn socket_charts(app: &App, f: &mut Frame, area: Rect, theme: &Theme) {
    if area.height < 5 || area.width < 24 {
        return;
    }
    let history = app.detail_id.and_then(|id| app.sock_histories.get(&id));
    let Some(h) = history.map(|h| &h.series.samples).filter(|s| !s.is_empty()) else {
        let note = " no tcp_info for this socket yet (charts of rtt, cwnd and throughput start with it)";
        f.render_widget(Paragraph::new(note), Rect { height: 1, ..area });
        return;
    };
    // Side by side when wide, or when too short to stack three (each needs 5 rows).
    let parts = if area.width >= 90 || area.height < 15 {
        Layout::horizontal([Constraint::Fill(1); 3]).split(area)
    } else {
        Layout::vertical([Constraint::Fill(1); 3]).split(area)
    };
    let last = h.last().copied().unwrap_or_default();
    let pick: [SocketPlot; 3] = [
        ("rtt", format!("{:.2} ms", last.rtt_ms), |s| s.rtt_ms, Color::Yellow),
        ("cwnd", format!("{:.0} segments", last.cwnd), |s| s.cwnd, Color::Green),
        (
            "acked",
            format!("{}bps", crate::output::tcp_info::bw(last.throughput * 8.0, false)),
            // In bits per second, as the title.
            |s| s.throughput * 8.0,
            Color::Cyan,
        ),
    ];
    for (i, (name, now, get, color)) in pick.into_iter().enumerate() {
        let data: Vec<(f64, f64)> = h.iter().map(|s| (s.t, get(s))).collect();
        let y_max = data.iter().fold(0.0f64, |m, p| m.max(p.1));
        let style = if theme.color { Style::default().fg(color) } else { Style::default() };
        chart(
            f,
            parts[i],
            Line::from(format!(" {name} {now} ")),
            &[(String::new(), style, Marker::Braille, data)],
            y_max,
            None,
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

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::model::Socket;

    fn draw(p: &GroupPictures, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| group_charts(f, f.area(), p, &Theme { color: false })).unwrap();
        format!("{}", t.backend())
    }

    fn idle(samples: usize) -> Series<GroupSample> {
        let mut s = Series::default();
        for i in 0..samples {
            s.push(GroupSample { t: i as f64, ..GroupSample::default() });
        }
        s
    }

    /// A listener with nothing but itself, watched for five refreshes, said "waiting for a second refresh"
    /// forever: every band was 0, so the chart had no line and took that for no data.
    #[test]
    fn an_idle_listener_watched_for_a_while_shows_its_flat_chart_not_the_waiting_message() {
        let series = idle(5);
        let p = GroupPictures {
            proto: Proto::Tcp,
            series: &series,
            queue: Some((0, 128)),
            peers: 0,
            top_peers: &[],
            span: None,
            cursor: None,
        };
        let s = draw(&p, 100, 10);
        assert!(!s.contains("waiting"), "{s}");
        assert!(s.contains("ESTAB⣿ 0") && s.contains("-4s") && s.contains("now"), "{s}");
        assert!(s.contains("accept queue 0/128"), "{s}");
    }

    /// At 80 columns the accept-queue box of a listener with peers is 20 wide: its title was cut to
    /// `accept queue 0/12` for a backlog of 128.
    #[test]
    fn a_narrow_accept_queue_title_shortens_instead_of_cutting_the_number() {
        let series = idle(3);
        let peers = [("127.0.0.1".to_string(), 159)];
        let p = GroupPictures {
            proto: Proto::Tcp,
            series: &series,
            queue: Some((0, 128)),
            peers: 1,
            top_peers: &peers,
            span: None,
            cursor: None,
        };
        let s = draw(&p, 80, 8);
        assert!(s.contains(" queue 0/128 ") && !s.contains("0/12─"), "{s}");
    }

    #[test]
    fn a_chart_waits_only_while_it_has_fewer_than_two_samples() {
        for (n, waits) in [(0, true), (1, true), (2, false)] {
            let series = idle(n);
            let p = GroupPictures {
                proto: Proto::Tcp,
                series: &series,
                queue: None,
                peers: 0,
                top_peers: &[],
                span: None,
                cursor: None,
            };
            assert_eq!(draw(&p, 60, 8).contains("waiting for a second refresh"), waits, "{n} samples");
        }
    }

    /// Unconnected UDP sockets (state 7) were counted in the ESTAB band: ss calls them UNCONN.
    #[test]
    fn unconnected_udp_is_charted_as_unconn_not_estab() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        // Twenty resolver sockets of one process on ephemeral ports (folded into one group), and a
        // connected UDP socket towards a DNS server.
        let mut socks: Vec<Socket> =
            (0..20).map(|i| Socket::inet(Proto::Udp, State::CLOSE, (ip, 40000 + i), (any, 0))).collect();
        socks.push(Socket::inet(Proto::Udp, State::ESTABLISHED, (ip, 41000), (ip, 53)));
        let fold = crate::group::Fold { ephemeral: (32768, 60999) };
        let groups = crate::group::group_with(&socks, Some(&fold));
        let unconn = groups.iter().find(|g| g.len() == 20).expect("the folded group");
        let connected = groups.iter().find(|g| g.len() == 1).expect("the connected socket's group");
        for (g, name, other) in [(unconn, "UNCONN▚ 20", "ESTAB"), (connected, "ESTAB⣿ 1", "UNCONN")] {
            let mut series = Series::default();
            series.push(GroupSample::of(g, 0.0));
            series.push(GroupSample::of(g, 1.0));
            let p = GroupPictures::live(g, None, &series, &[]);
            let s = draw(&p, 80, 8);
            assert!(s.contains(name) && !s.contains(other), "{s}");
        }
    }
}
