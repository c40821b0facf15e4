//! The order of the rows: the group table and the open group's socket table sorted by their column (the
//! selection kept on the same item), and the open group's sockets' tcp_info histories.

use std::cmp::Ordering;

use crate::tui::model::history::MAX_SOCKETS;
use crate::tui::model::live::Live;
use crate::tui::present::tables::{Ctx, PORT_COLUMNS, SOCK_COLUMNS, cmp_end, row_socket, sort_rows};
use crate::tui::state::columns::{PortCol, SockCol};
use crate::tui::state::{App, Screen, SockRow};

/// Rebuild the row orders after new data or a sort change, keeping the selection on the same item.
pub fn rebuild(app: &mut App) {
    let Some(live) = app.live.clone() else { return };
    let keep = app.selected_group().map(|g| g.key.clone());
    let mut rows: Vec<usize> = (0..live.groups.len()).collect();
    let g = &live.groups;
    let column = &PORT_COLUMNS[PortCol::ALL.iter().position(|c| *c == app.port_sort).unwrap_or(0)];
    // Ties: the bigger group first, then by key.
    let tie = |a: usize, b: usize| g[b].len().cmp(&g[a].len()).then_with(|| g[a].key.cmp(&g[b].key));
    sort_rows(&Ctx::new(app, &live), &mut rows, column, app.port_reverse, tie);
    app.port_rows = rows;
    if let Some(k) = keep
        && let Some(p) = app.port_rows.iter().position(|&i| live.groups[i].key == k)
    {
        app.port_sel = p;
    }
    app.port_sel = app.port_sel.min(app.port_rows.len().saturating_sub(1));
    rebuild_sockets(app);
}

pub fn rebuild_sockets(app: &mut App) {
    let Some(live) = app.live.clone() else { return };
    let Some(key) = app.group.clone() else {
        app.sock_rows.clear();
        return;
    };
    let keep = app.sock_rows.get(app.sock_sel).and_then(|r| row_id(&live, *r));
    // The open group's live sockets (a Live built before the group was opened may lack them until the
    // refresh the opening forced), then its recently closed ones.
    let mut rows: Vec<SockRow> = Vec::new();
    if let Some(gr) = live.groups.iter().find(|g| g.key == key) {
        rows.extend(
            gr.listeners
                .iter()
                .chain(&gr.members)
                .filter(|&&i| live.socket(i as usize).is_some())
                .map(|&i| SockRow::Live(i)),
        );
    }
    rows.extend(live.closed.iter().enumerate().filter(|(_, c)| c.group == key).map(|(i, _)| SockRow::Closed(i as u32)));
    let column = &SOCK_COLUMNS[SockCol::ALL.iter().position(|c| *c == app.sock_sort).unwrap_or(0)];
    // Ties: by peer.
    let peer = |r| row_socket(&live, r).map(|s| &s.0.peer);
    let tie = |a, b| match (peer(a), peer(b)) {
        (Some(x), Some(y)) => cmp_end(x, y),
        _ => Ordering::Equal,
    };
    sort_rows(&Ctx::new(app, &live), &mut rows, column, app.sock_reverse, tie);
    app.sock_rows = rows;
    if let Some(id) = keep
        && let Some(p) = app.sock_rows.iter().position(|r| row_id(&live, *r) == Some(id))
    {
        app.sock_sel = p;
    }
    app.sock_sel = app.sock_sel.min(app.sock_rows.len().saturating_sub(1));
    if let Some(id) = app.detail_id {
        // Follow the detail socket to its new index; drop back to the list once it is gone for good.
        app.detail = app.sock_rows.iter().copied().find(|r| row_id(&live, *r) == Some(id));
        if app.detail.is_none() {
            app.detail_id = None;
            if app.screen == Screen::Detail {
                app.screen = Screen::Sockets;
            }
        }
    }
}

/// A row's socket identity, stable across refreshes.
pub fn row_id(live: &Live, r: SockRow) -> Option<u64> {
    match r {
        SockRow::Live(i) => live.socket(i as usize).map(crate::model::Socket::identity),
        SockRow::Closed(i) => live.closed.get(i as usize).map(|c| c.socket.identity()),
    }
}

/// Add this refresh's tcp_info of the open group's sockets to their histories: those followed already, then
/// new ones in the list's order up to [`MAX_SOCKETS`], and always the open detail's. A socket no longer in
/// the group is forgotten (the open detail's is kept while it shows as closed).
pub fn record_sockets(app: &mut App) {
    let Some(live) = app.live.clone() else { return };
    if app.group.is_none() {
        app.sock_histories.clear();
        return;
    }
    let t = live.taken_at.saturating_duration_since(live.epoch).as_secs_f64();
    let mut pushed = 0;
    for r in &app.sock_rows {
        // Full, and every followed socket (the open detail's among them) has its sample: the rest of a big
        // group has nothing to add.
        if pushed >= MAX_SOCKETS
            && pushed == app.sock_histories.len()
            && app.detail_id.is_none_or(|d| app.sock_histories.contains_key(&d))
        {
            break;
        }
        let SockRow::Live(i) = *r else { continue };
        let Some(s) = live.socket(i as usize) else { continue };
        let Some(info) = s.extra.as_deref().and_then(|x| x.tcp_info.as_ref()) else { continue };
        let id = s.identity();
        let room = app.sock_histories.len() < MAX_SOCKETS || app.detail_id == Some(id);
        match app.sock_histories.get_mut(&id) {
            Some(h) => h.push(t, info),
            None if room => app.sock_histories.entry(id).or_default().push(t, info),
            None => continue,
        }
        pushed += 1;
    }
    let detail = app.detail_id;
    app.sock_histories.retain(|id, h| h.last_t() == Some(t) || Some(*id) == detail);
}
