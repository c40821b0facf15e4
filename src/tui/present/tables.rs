//! The dashboard's two tables, the groups (home) and one group's sockets, as column tables: each column is one
//! entry (its spec, the text and tone of a cell, its sort order), used to size the columns to the visible rows,
//! to write their cells and to sort the rows. Pure; only the visible rows are built.

use std::cmp::Ordering;
use std::time::Instant;

use ratatui::layout::Rect;

use super::text::{endpoint_label, fmt_age, sparkline};
use super::{RowShown, SortChoice, TableShown, Tone};
use crate::group::owners::{self, ellipsize};
use crate::group::{Group, GroupKey};
use crate::model::{Endpoint, Socket, State};
use crate::tui::model::live::Live;
use crate::tui::present::columns::{self, Spec};
use crate::tui::state::columns::{PortCol, SockCol};
use crate::tui::state::{App, SockRow};

/// Width of the trend column (one character a refresh).
const TREND: usize = 12;
/// Content-sized columns still stop here (a 200-character UNIX path does not push everything off).
const MAX_NATURAL: usize = 48;

/// What a cell reads: the state and the data it shows.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub app: &'a App,
    pub live: &'a Live,
    pub now: Instant,
}

impl<'a> Ctx<'a> {
    pub fn new(app: &'a App, live: &'a Live) -> Ctx<'a> {
        Ctx { app, live, now: app.now.unwrap_or(live.taken_at) }
    }
    fn group(&self, gi: usize) -> &'a Group {
        &self.live.groups[gi]
    }
}

/// How a column orders the rows.
pub enum Sort<R> {
    /// By comparing two rows (the first of the pair goes first on `Less`).
    Cmp(fn(&Ctx, R, R) -> Ordering),
    /// By a text made once per row: named rows first, A to Z.
    Named(fn(&Ctx, R) -> String),
}

/// One column: how it is sized, what its cells say and how they look, how it sorts.
pub struct Column<C, R> {
    pub col: C,
    pub spec: Spec,
    /// The cell's text, at most `max` characters where the column can shorten.
    pub text: fn(&Ctx, R, usize) -> String,
    pub tone: fn(&Ctx, R, &str) -> Tone,
    pub sort: Sort<R>,
}

/// Sort `rows` by column `col` of `table` (reversed on request), ties by `tie`.
pub fn sort_rows<C, R: Copy>(
    cx: &Ctx,
    rows: &mut [R],
    column: &Column<C, R>,
    reverse: bool,
    tie: impl Fn(R, R) -> Ordering,
) {
    match column.sort {
        Sort::Cmp(cmp) => rows.sort_by(|&a, &b| {
            let o = cmp(cx, a, b).then_with(|| tie(a, b));
            if reverse { o.reverse() } else { o }
        }),
        Sort::Named(name) => {
            // Made once per row, not once per comparison.
            let mut keyed: Vec<(bool, String, R)> = rows
                .iter()
                .map(|&r| {
                    let n = name(cx, r);
                    (matches!(n.as_str(), "" | "-" | "hidden"), n, r)
                })
                .collect();
            keyed.sort_by(|a, b| {
                let o = (a.0, &a.1).cmp(&(b.0, &b.1)).then_with(|| tie(a.2, b.2));
                if reverse { o.reverse() } else { o }
            });
            for (slot, (_, _, r)) in rows.iter_mut().zip(keyed) {
                *slot = r;
            }
        }
    }
}

fn plain<R>(_: &Ctx, _: R, _: &str) -> Tone {
    Tone::Plain
}

fn count(v: u32) -> String {
    if v == 0 { String::new() } else { v.to_string() }
}

/// The group table's columns, in display order (the order of [`PortCol::ALL`]).
pub static PORT_COLUMNS: [Column<PortCol, usize>; 15] = [
    Column {
        col: PortCol::Namespace,
        spec: Spec::new("Namespace", 1, true, false),
        text: |cx, gi, max| ellipsize(cx.live.namespace_label(cx.group(gi).key.netns()).unwrap_or_default(), max),
        tone: plain,
        // A namespace's (a container's) groups together, in the namespace table's order.
        sort: Sort::Cmp(|cx, a, b| cx.group(a).key.netns().cmp(&cx.group(b).key.netns())),
    },
    Column {
        col: PortCol::Proto,
        spec: Spec::new("Proto", 0, false, false),
        text: |cx, gi, _| cx.group(gi).key.proto().name().into(),
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| cx.group(a).key.proto().name().cmp(cx.group(b).key.proto().name())),
    },
    Column {
        col: PortCol::Endpoint,
        spec: Spec::new("Endpoint", 0, true, false),
        text: |cx, gi, max| {
            // "!" marks an audit finding on the listener or ephemeral-port pressure on an outbound group.
            let g = cx.group(gi);
            let label = endpoint_label(&g.key, g.dual_stack);
            ellipsize(&if flagged(cx.live, gi) { format!("! {label}") } else { label }, max)
        },
        tone: |cx, gi, _| if flagged(cx.live, gi) { Tone::Alarm } else { Tone::Plain },
        sort: Sort::Cmp(|cx, a, b| cx.group(a).key.cmp(&cx.group(b).key)),
    },
    Column {
        col: PortCol::Service,
        spec: Spec::new("Service", 3, true, false),
        text: |cx, gi, max| ellipsize(&service(cx, gi), max),
        tone: plain,
        sort: Sort::Named(service),
    },
    Column {
        col: PortCol::Class,
        spec: Spec::new("Class", 4, false, false),
        text: |cx, gi, _| port_class(cx.live, cx.group(gi).key.port()).into(),
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| cx.group(a).key.port().cmp(&cx.group(b).key.port())),
    },
    Column {
        col: PortCol::Sockets,
        spec: Spec::new("Socks", 0, false, true),
        text: |cx, gi, _| cx.group(gi).len().to_string(),
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| cx.group(b).len().cmp(&cx.group(a).len())),
    },
    Column {
        col: PortCol::Established,
        spec: Spec::new("ESTAB", 1, false, true),
        text: |cx, gi, _| count(cx.group(gi).states.get(State::ESTABLISHED)),
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| states(cx, b, &[State::ESTABLISHED]).cmp(&states(cx, a, &[State::ESTABLISHED]))),
    },
    Column {
        col: PortCol::SynRecv,
        spec: Spec::new("SYN-R", 4, false, true),
        text: |cx, gi, _| count(cx.group(gi).states.get(State::SYN_RECV)),
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| states(cx, b, &[State::SYN_RECV]).cmp(&states(cx, a, &[State::SYN_RECV]))),
    },
    Column {
        col: PortCol::TimeWait,
        spec: Spec::new("T-WAIT", 2, false, true),
        text: |cx, gi, _| count(cx.group(gi).states.get(State::TIME_WAIT)),
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| states(cx, b, &[State::TIME_WAIT]).cmp(&states(cx, a, &[State::TIME_WAIT]))),
    },
    Column {
        col: PortCol::CloseWait,
        spec: Spec::new("C-WAIT", 3, false, true),
        text: |cx, gi, _| count(cx.group(gi).states.get(State::CLOSE_WAIT)),
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| states(cx, b, &[State::CLOSE_WAIT]).cmp(&states(cx, a, &[State::CLOSE_WAIT]))),
    },
    Column {
        col: PortCol::FinWait,
        spec: Spec::new("FIN-W", 4, false, true),
        text: |cx, gi, _| count(states(cx, gi, &FIN_WAIT)),
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| states(cx, b, &FIN_WAIT).cmp(&states(cx, a, &FIN_WAIT))),
    },
    Column {
        col: PortCol::AcceptQueue,
        spec: Spec::new("AcceptQ", 2, false, true),
        text: |cx, gi, _| cx.app.accept_queue(cx.group(gi)).map_or(String::new(), |(q, b)| format!("{q}/{b}")),
        // A queue 80% full alarms.
        tone: |cx, gi, _| match cx.app.accept_queue(cx.group(gi)) {
            Some((q, b)) if b > 0 && q * 10 >= b * 8 => Tone::Alarm,
            _ => Tone::Plain,
        },
        sort: Sort::Cmp(|cx, a, b| {
            let q = |gi| cx.app.accept_queue(cx.group(gi)).map_or(-1, |q| q.0 as i64);
            q(b).cmp(&q(a))
        }),
    },
    Column {
        col: PortCol::Peers,
        spec: Spec::new("Peers", 3, false, true),
        text: |cx, gi, _| count(cx.group(gi).peers),
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| cx.group(b).peers.cmp(&cx.group(a).peers)),
    },
    Column {
        col: PortCol::Process,
        spec: Spec::new("Process", 1, true, false),
        text: |cx, gi, max| match &cx.live.owners {
            Some(o) => o.groups.get(gi).map_or(String::new(), |go| owners::row_label(go, &o.processes, max)),
            None => String::new(),
        },
        tone: |_, _, text| if text == "hidden" { Tone::Dim } else { Tone::Plain },
        // By the first holder's name.
        sort: Sort::Named(|cx, gi| {
            let o = cx.live.owners.as_ref().and_then(|o| Some((o.groups.get(gi)?, &o.processes)));
            o.and_then(|(g, p)| owners::by_name(g, p).into_iter().next()).map_or(String::new(), |e| e.0)
        }),
    },
    Column {
        col: PortCol::Trend,
        spec: Spec::new("Last 60s", 1, false, false),
        text: |cx, gi, _| sparkline(cx.live.history.get(&cx.group(gi).key).map_or(&[][..], |h| &h[..]), TREND),
        // The trend is a picture, not an alarm: drawn quietly.
        tone: |_, _, _| Tone::Dim,
        // The biggest growth over the window first.
        sort: Sort::Cmp(|cx, a, b| trend(cx, &cx.group(b).key).cmp(&trend(cx, &cx.group(a).key))),
    },
];

const FIN_WAIT: [State; 2] = [State::FIN_WAIT1, State::FIN_WAIT2];

fn states(cx: &Ctx, gi: usize, which: &[State]) -> u32 {
    let g = cx.group(gi);
    which.iter().map(|s| g.states.get(*s)).sum()
}

fn service(cx: &Ctx, gi: usize) -> String {
    let k = &cx.group(gi).key;
    k.port().and_then(|p| cx.app.services.name(k.proto(), p)).unwrap_or_default().to_string()
}

fn trend(cx: &Ctx, k: &GroupKey) -> i64 {
    cx.live.history.get(k).map_or(0, |h| *h.last().unwrap_or(&0) as i64 - *h.first().unwrap_or(&0) as i64)
}

/// The socket table's columns, in display order (the order of [`SockCol::ALL`]).
pub static SOCK_COLUMNS: [Column<SockCol, SockRow>; 9] = [
    Column {
        col: SockCol::Local,
        spec: Spec::new("Local", 0, true, false),
        text: |cx, r, max| row_socket(cx.live, r).map_or(String::new(), |s| ellipsize(&s.0.local.short_text(), max)),
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| by_socket(cx, a, b, |x, y| cmp_end(&x.local, &y.local))),
    },
    Column {
        col: SockCol::Peer,
        spec: Spec::new("Peer", 0, true, false),
        text: |cx, r, max| row_socket(cx.live, r).map_or(String::new(), |s| ellipsize(&s.0.peer.short_text(), max)),
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| by_socket(cx, a, b, |x, y| cmp_end(&x.peer, &y.peer))),
    },
    Column {
        col: SockCol::State,
        spec: Spec::new("State", 0, false, false),
        text: |cx, r, _| match row_socket(cx.live, r) {
            Some((_, _, _, true)) => "closed".into(),
            Some((s, ..)) => s.state.display_name(s.proto).into(),
            None => String::new(),
        },
        tone: |cx, r, _| match row_socket(cx.live, r) {
            Some((s, _, _, false)) => Tone::State(s.state),
            _ => Tone::Plain,
        },
        sort: Sort::Cmp(|cx, a, b| by_socket(cx, a, b, |x, y| x.state.cmp(&y.state))),
    },
    Column {
        col: SockCol::RecvQ,
        spec: Spec::new("Recv-Q", 2, false, true),
        text: |cx, r, _| queues(cx, r).0.map_or("-".into(), |q| q.to_string()),
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| by_socket(cx, b, a, |x, y| x.recv_q.cmp(&y.recv_q))),
    },
    Column {
        col: SockCol::SendQ,
        spec: Spec::new("Send-Q", 3, false, true),
        text: |cx, r, _| queues(cx, r).1.map_or("-".into(), |q| q.to_string()),
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| by_socket(cx, b, a, |x, y| x.send_q.cmp(&y.send_q))),
    },
    Column {
        col: SockCol::Age,
        spec: Spec::new("Age", 1, false, true),
        text: |cx, r, _| {
            row_socket(cx.live, r).map_or(String::new(), |s| fmt_age(cx.now.saturating_duration_since(s.1)))
        },
        tone: plain,
        // The newest first.
        sort: Sort::Cmp(|cx, a, b| {
            let first = |r| row_socket(cx.live, r).map(|s| s.1);
            first(b).cmp(&first(a))
        }),
    },
    Column {
        col: SockCol::Process,
        spec: Spec::new("Process", 2, true, false),
        text: |cx, r, max| match (&cx.live.owners, r) {
            (Some(o), SockRow::Live(i)) => o.label(i as usize, max),
            _ => "-".into(),
        },
        tone: plain,
        sort: Sort::Named(|cx, r| match (&cx.live.owners, r) {
            (Some(o), SockRow::Live(i)) => o.label(i as usize, usize::MAX),
            _ => String::new(),
        }),
    },
    Column {
        col: SockCol::Rtt,
        spec: Spec::new("RTT ms", 3, false, true),
        text: |cx, r, _| {
            tcp(cx, r, |t| t.rtt_us().filter(|r| *r != 0))
                .map_or(String::new(), |us| format!("{:.3}", us as f64 / 1000.0))
        },
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| tcp(cx, b, |t| t.rtt_us()).cmp(&tcp(cx, a, |t| t.rtt_us()))),
    },
    Column {
        col: SockCol::Retrans,
        spec: Spec::new("Retr", 4, false, true),
        text: |cx, r, _| tcp(cx, r, |t| t.total_retrans()).map_or(String::new(), |n| n.to_string()),
        tone: plain,
        sort: Sort::Cmp(|cx, a, b| tcp(cx, b, |t| t.total_retrans()).cmp(&tcp(cx, a, |t| t.total_retrans()))),
    },
];

/// Compare the sockets of two rows (a row without one, which cannot happen, sorts as equal).
fn by_socket(cx: &Ctx, a: SockRow, b: SockRow, cmp: impl Fn(&Socket, &Socket) -> Ordering) -> Ordering {
    match (row_socket(cx.live, a), row_socket(cx.live, b)) {
        (Some(x), Some(y)) => cmp(x.0, y.0),
        _ => Ordering::Equal,
    }
}

/// A row's queues (recv, send): a listener's from the newest listeners refresh, a closed socket's as it was.
fn queues(cx: &Ctx, r: SockRow) -> (Option<u32>, Option<u32>) {
    match row_socket(cx.live, r) {
        Some((s, _, _, true)) => (s.recv_q, s.send_q),
        Some((s, ..)) => cx.app.queues(s),
        None => (None, None),
    }
}

/// A tcp_info field of a row's socket, when the kernel sent one.
fn tcp(cx: &Ctx, r: SockRow, f: fn(&crate::model::internals::TcpInfo) -> Option<u32>) -> Option<u32> {
    let s = row_socket(cx.live, r)?.0;
    s.extra.as_deref().and_then(|x| x.tcp_info.as_ref()).and_then(f)
}

/// Endpoints in address order (IP ones first, then UNIX ones by inode).
pub fn cmp_end(a: &Endpoint, b: &Endpoint) -> Ordering {
    use Endpoint::*;
    match (a, b) {
        (Inet { ip: ia, port: pa }, Inet { ip: ib, port: pb }) => (ia, pa).cmp(&(ib, pb)),
        (Unix { inode: ia, .. }, Unix { inode: ib, .. }) => ia.cmp(ib),
        (Inet { .. }, _) => Ordering::Less,
        (_, Inet { .. }) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// `wk` (0-1023), `reg` (1024-49151), `dyn` (49152-65535), or `eph` inside the host's ephemeral range.
fn port_class(live: &Live, port: Option<u16>) -> &'static str {
    let Some(p) = port else { return "" };
    if live.ephemeral.is_some_and(|r| r.contains(p)) {
        return "eph";
    }
    match crate::ports::classes::PortClass::of(p).name() {
        "well-known" => "wk",
        "registered" => "reg",
        _ => "dyn",
    }
}

/// A socket row's socket, first-seen time, and whether it is new or closed.
pub fn row_socket(live: &Live, r: SockRow) -> Option<(&Socket, Instant, bool, bool)> {
    match r {
        SockRow::Live(i) => {
            let i = i as usize;
            live.socket(i).map(|s| (s, live.first_seen(i), live.is_new(i), false))
        }
        SockRow::Closed(i) => live.closed.get(i as usize).map(|c| (&c.socket, c.first_seen, false, true)),
    }
}

fn flagged(live: &Live, gi: usize) -> bool {
    let g = &live.groups[gi];
    g.listeners.iter().any(|i| live.audit.contains_key(i)) || live.pressure.contains_key(&g.key)
}

fn chars(s: &str) -> u16 {
    s.chars().count().min(u16::MAX as usize) as u16
}

/// Lay out `table` for `rows[offset..offset + visible]` in `area`: the columns that fit their content (the
/// sort column kept), the header with the sort marked (`▼` biggest or A first, `▲` reversed), the cells.
#[allow(clippy::too_many_arguments)]
fn lay_out<C: PartialEq + Copy, R: Copy>(
    cx: &Ctx,
    table: &[Column<C, R>],
    skip: usize,
    rows: &[R],
    (sort, reverse): (C, bool),
    area: Rect,
    (offset, visible): (usize, usize),
    (selected, row_tone): (usize, impl Fn(R) -> Tone),
) -> TableShown {
    let table = &table[skip..];
    let specs: Vec<Spec> = table.iter().map(|c| c.spec).collect();
    // The header's sort marker takes one more character.
    let mut natural: Vec<u16> = specs.iter().map(|s| chars(s.head) + 1).collect();
    let mut filled = vec![false; specs.len()];
    let page: Vec<R> = rows.iter().skip(offset).take(visible).copied().collect();
    for &r in &page {
        for (c, col) in table.iter().enumerate() {
            let t = (col.text)(cx, r, MAX_NATURAL);
            natural[c] = natural[c].max(chars(&t));
            filled[c] |= !t.trim().is_empty();
        }
    }
    let sorted = table.iter().position(|c| c.col == sort);
    // The column the table is sorted by stays, empty or not (its marker says how the rows are ordered).
    if let Some(c) = sorted {
        filled[c] = true;
    }
    if let Some(c) = table.iter().position(|c| c.spec.head == "Last 60s") {
        natural[c] = natural[c].max(TREND as u16);
    }
    let chosen = columns::fit(&specs, &natural, &filled, area.width);
    let heads = chosen
        .iter()
        .map(|&(c, _)| {
            let s = specs[c];
            let text = if Some(c) == sorted {
                format!("{}{}", s.head, if reverse { "▲" } else { "▼" })
            } else {
                s.head.into()
            };
            (text, s.right)
        })
        .collect();
    let shown_rows = page
        .iter()
        .enumerate()
        .map(|(k, &r)| RowShown {
            cells: chosen
                .iter()
                .map(|&(c, w)| {
                    let text = (table[c].text)(cx, r, w as usize);
                    let tone = (table[c].tone)(cx, r, &text);
                    (text, tone)
                })
                .collect(),
            tone: row_tone(r),
            selected: offset + k == selected,
        })
        .collect();
    TableShown {
        area,
        cols: chosen.into_iter().map(|(c, w)| (c + skip, w)).collect(),
        heads,
        offset,
        visible,
        rows: shown_rows,
    }
}

/// The group table in `area`, rows from `offset`.
pub fn port_table(app: &App, live: &Live, area: Rect, offset: usize, visible: usize) -> TableShown {
    let cx = Ctx::new(app, live);
    // The namespace column (the first) only when several namespaces are shown.
    let skip = usize::from(live.namespaces.len() <= 1);
    let sort = (app.port_sort, app.port_reverse);
    lay_out(&cx, &PORT_COLUMNS, skip, &app.port_rows, sort, area, (offset, visible), (app.port_sel, |_| Tone::Plain))
}

/// The open group's socket table in `area`, rows from `offset`: closed sockets crossed out, new ones marked.
pub fn sock_table(app: &App, live: &Live, area: Rect, offset: usize, visible: usize) -> TableShown {
    let cx = Ctx::new(app, live);
    let tone = |r| match row_socket(live, r) {
        None | Some((_, _, _, true)) => Tone::Closed,
        Some((_, _, true, _)) => Tone::New,
        _ => Tone::Plain,
    };
    let sort = (app.sock_sort, app.sock_reverse);
    lay_out(&cx, &SOCK_COLUMNS, 0, &app.sock_rows, sort, area, (offset, visible), (app.sock_sel, tone))
}

/// The columns shown, for the sort picker and `s`; the current sort among them even when it did not fit.
fn sort_choices<C: PartialEq + Copy, R>(table: &[Column<C, R>], cols: &[(usize, u16)], sort: C) -> Vec<SortChoice> {
    table
        .iter()
        .enumerate()
        .filter(|(i, c)| cols.iter().any(|(k, _)| k == i) || c.col == sort)
        .map(|(i, c)| SortChoice { col: i, name: c.spec.head, current: c.col == sort })
        .collect()
}

pub fn port_sort_choices(app: &App, cols: &[(usize, u16)]) -> Vec<SortChoice> {
    sort_choices(&PORT_COLUMNS, cols, app.port_sort)
}

pub fn sock_sort_choices(app: &App, cols: &[(usize, u16)]) -> Vec<SortChoice> {
    sort_choices(&SOCK_COLUMNS, cols, app.sock_sort)
}

/// A group table column's name in the status line (`sort: sockets`).
pub fn port_sort_name(c: PortCol) -> &'static str {
    match c {
        PortCol::Sockets => "sockets",
        PortCol::Trend => "trend",
        c => PORT_COLUMNS.iter().find(|k| k.col == c).map_or("", |k| k.spec.head),
    }
}

/// A socket table column's name in the status line.
pub fn sock_sort_name(c: SockCol) -> &'static str {
    SOCK_COLUMNS.iter().find(|k| k.col == c).map_or("", |k| k.spec.head)
}

/// The column whose header is at screen column `x` in a table laid out as `chosen` (gap 1).
pub fn column_at(chosen: &[(usize, u16)], x: u16) -> Option<usize> {
    let mut left = 0u16;
    for &(c, w) in chosen {
        if x >= left && x < left + w + 1 {
            return Some(c);
        }
        left += w + 1;
    }
    None
}

#[cfg(test)]
mod tests;
