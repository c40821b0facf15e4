//! `update` tests: every key action, mouse, data arrival, pause, filter input.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use std::sync::Arc;
use std::time::Instant;

use super::*;
use crate::filter::Expr;
use crate::model::{Proto, State};
use crate::ports::services::Services;
use crate::tui::model::collector::CollectSettings as Settings;
use crate::tui::model::history::MAX_SOCKETS;
use crate::tui::model::script;
use crate::tui::state::columns::SockCol;
use crate::tui::state::{INTERVALS, Screen, SockRow};

/// As the loop applies an action (see [`drive`]).
fn update(a: &mut App, action: Action) -> Effects {
    drive(a, action)
}

fn app() -> App {
    let settings = Settings::default();
    let mut a = App::new(settings, String::new(), Services::parse("https 443/tcp\n".as_bytes()), true);
    update(&mut a, Action::Resize(100, 30));
    let (live, _) = script::live(2);
    update(&mut a, Action::Data(live));
    a
}

fn press(a: &mut App, code: KeyCode) {
    update(a, Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn chars(a: &mut App, s: &str) {
    for c in s.chars() {
        press(a, KeyCode::Char(c));
    }
}

#[test]
fn data_builds_rows_biggest_group_first() {
    let a = app();
    let live = a.live.as_ref().unwrap();
    assert_eq!(a.port_rows.len(), live.groups.len());
    let first = &live.groups[a.port_rows[0]];
    assert_eq!(first.key.port(), Some(443));
    assert!(matches!(first.key, GroupKey::Listen { .. }));
}

#[test]
fn navigation_keys() {
    let mut a = app();
    press(&mut a, KeyCode::Down);
    assert_eq!(a.port_sel, 1);
    press(&mut a, KeyCode::Char('j'));
    assert_eq!(a.port_sel, 2);
    press(&mut a, KeyCode::Char('k'));
    press(&mut a, KeyCode::Up);
    press(&mut a, KeyCode::Up);
    assert_eq!(a.port_sel, 0, "clamped at the top");
    press(&mut a, KeyCode::End);
    assert_eq!(a.port_sel, a.port_rows.len() - 1);
    press(&mut a, KeyCode::Char('g'));
    assert_eq!(a.port_sel, 0);
    press(&mut a, KeyCode::Char('G'));
    press(&mut a, KeyCode::Home);
    assert_eq!(a.port_sel, 0);
    press(&mut a, KeyCode::PageDown);
    assert_eq!(a.port_sel, a.port_rows.len() - 1, "a page is more than the rows");
    press(&mut a, KeyCode::PageUp);
    assert_eq!(a.port_sel, 0);
}

#[test]
fn enter_drills_down_and_esc_goes_back() {
    let mut a = app();
    assert!(!a.settings.details);
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.screen, Screen::Sockets);
    assert!(a.settings.details, "an open group asks the kernel for tcp_info and memory");
    let key = a.group.clone().unwrap();
    assert_eq!(key.port(), Some(443));
    let live = a.live.clone().unwrap();
    let g = live.groups.iter().find(|g| g.key == key).unwrap();
    let closed = live.closed.iter().filter(|c| c.group == key).count();
    assert_eq!(a.sock_rows.len(), g.len() + closed);
    press(&mut a, KeyCode::Down);
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.screen, Screen::Detail);
    assert!(a.detail.is_some() && a.detail_id.is_some());
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.screen, Screen::Sockets);
    assert_eq!(a.sock_sel, 1, "selection kept");
    press(&mut a, KeyCode::Backspace);
    assert_eq!(a.screen, Screen::Ports);
    assert!(a.group.is_none());
    assert!(!a.settings.details, "and stops asking at home");
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.screen, Screen::Ports, "Esc at home does nothing");
    press(&mut a, KeyCode::Right);
    assert_eq!(a.screen, Screen::Sockets);
    press(&mut a, KeyCode::Left);
    assert_eq!(a.screen, Screen::Ports);
}

#[test]
fn drill_down_follows_new_data_and_shows_closed_sockets() {
    let mut a = app();
    // Open the database group: generation 2 closed connections there.
    let db = a.port_rows.iter().position(|&i| a.live.as_ref().unwrap().groups[i].key.port() == Some(5432)).unwrap();
    a.port_sel = db;
    press(&mut a, KeyCode::Enter);
    // The refresh that opening forces keeps the group's sockets one by one, closed ones included.
    let key = a.group.clone().unwrap();
    let (opened, _) = script::lives_open(2, &key).pop().unwrap();
    update(&mut a, Action::Data(opened));
    let closed = a.sock_rows.iter().filter(|r| matches!(r, SockRow::Closed(_))).count();
    assert_eq!(closed, 2, "the connections closed at generations 1 and 2 linger");
    let (newer, _) = script::live(3);
    update(&mut a, Action::Data(newer));
    assert_eq!(a.screen, Screen::Sockets);
    assert_eq!(a.group.as_ref().unwrap().port(), Some(5432));
}

/// The columns the current screen shows, as the sort picker and `s` offer them.
fn offered(a: &App) -> Vec<usize> {
    crate::tui::present::shown(a).sort_choices.iter().map(|c| c.col).collect()
}

/// Where column `c` (of `PortCol::ALL`) is in the sort picker.
fn picker_at(a: &App, c: PortCol) -> Option<usize> {
    let i = PortCol::ALL.iter().position(|k| *k == c)?;
    offered(a).iter().position(|k| *k == i)
}

#[test]
fn the_sort_picker_sorts_by_any_column_by_name_and_reverses_the_current_one() {
    let mut a = app();
    press(&mut a, KeyCode::Char('o'));
    assert_eq!(a.sort_picker, picker_at(&a, PortCol::Sockets));
    // A first letter jumps to the next column starting with it: ESTAB after Socks, then Endpoint.
    chars(&mut a, "e");
    assert_eq!(a.sort_picker, picker_at(&a, PortCol::Established));
    chars(&mut a, "e");
    assert_eq!(a.sort_picker, picker_at(&a, PortCol::Endpoint));
    chars(&mut a, "z");
    assert_eq!(a.sort_picker, picker_at(&a, PortCol::Endpoint), "no column: stays");
    press(&mut a, KeyCode::Enter);
    assert_eq!((a.sort_picker, a.port_sort, a.port_reverse), (None, PortCol::Endpoint, false));
    let before = a.port_rows.clone();
    chars(&mut a, "o");
    press(&mut a, KeyCode::Enter);
    assert!(a.port_reverse, "the current column again reverses");
    assert_eq!(a.port_rows, before.into_iter().rev().collect::<Vec<_>>());
    // Keys while it is open do not reach the screen; Esc closes it without a change.
    chars(&mut a, "o");
    press(&mut a, KeyCode::Up);
    chars(&mut a, "q");
    assert!(!a.quit && a.sort_picker.is_none() && a.port_sort == PortCol::Endpoint);
    // On a group's screen it lists the socket columns.
    press(&mut a, KeyCode::Enter);
    chars(&mut a, "or");
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.sock_sort, SockCol::Rtt, "the next R after Age");
}

#[test]
fn sort_cycles_through_the_columns_shown_and_reverses() {
    let mut a = app();
    assert_eq!(a.port_sort, PortCol::Sockets);
    // One namespace: the namespace column is not shown, so it is not offered.
    let cols = offered(&a);
    assert!(!cols.contains(&0), "{cols:?}");
    let start = cols.iter().position(|&c| PortCol::ALL[c] == PortCol::Sockets).unwrap();
    for k in 1..=cols.len() {
        press(&mut a, KeyCode::Char('s'));
        assert_eq!(a.port_sort, PortCol::ALL[cols[(start + k) % cols.len()]]);
    }
    assert_eq!(a.port_sort, PortCol::Sockets);
    press(&mut a, KeyCode::Char('<'));
    assert_eq!(a.port_sort, PortCol::ALL[cols[(start + cols.len() - 1) % cols.len()]]);
    press(&mut a, KeyCode::Char('>'));
    let before = a.port_rows.clone();
    press(&mut a, KeyCode::Char('r'));
    assert!(a.port_reverse);
    let mut rev = before.clone();
    rev.reverse();
    assert_eq!(a.port_rows, rev);

    press(&mut a, KeyCode::Char('r'));
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.sock_sort, SockCol::Age);
    let socks: Vec<SockCol> = offered(&a).into_iter().map(|c| SockCol::ALL[c]).collect();
    let at = socks.iter().position(|c| *c == SockCol::Age).unwrap();
    for k in 1..=socks.len() {
        press(&mut a, KeyCode::Char('s'));
        assert_eq!(a.sock_sort, socks[(at + k) % socks.len()]);
    }
    press(&mut a, KeyCode::Char('s'));
    press(&mut a, KeyCode::Char('r'));
    assert!(a.sock_reverse && !a.port_reverse);
}

/// Regression: the footer said `sort: Service` while Service was hidden: on a narrow screen the sort picker
/// and `s` offered columns that were not on the screen.
#[test]
fn hidden_columns_are_not_offered_for_sorting() {
    let mut a = app();
    update(&mut a, Action::Resize(50, 14));
    let shown = crate::tui::present::shown(&a);
    let cols: Vec<usize> = shown.table.as_ref().unwrap().cols.iter().map(|c| c.0).collect();
    assert!(cols.len() < PortCol::ALL.len() - 1, "a narrow screen hides columns: {cols:?}");
    assert_eq!(offered(&a), cols, "exactly the columns shown");
    for _ in 0..2 * PortCol::ALL.len() {
        press(&mut a, KeyCode::Char('s'));
        let i = PortCol::ALL.iter().position(|c| *c == a.port_sort).unwrap();
        assert!(cols.contains(&i), "{:?} is not on the screen", a.port_sort);
    }
    press(&mut a, KeyCode::Char('o'));
    let n = offered(&a).len();
    for _ in 0..n {
        press(&mut a, KeyCode::Down);
        assert!(a.sort_picker.is_some_and(|p| p < n));
    }
}

#[test]
fn pause_freezes_the_snapshot() {
    let mut a = app();
    let before = a.live.clone().unwrap();
    press(&mut a, KeyCode::Char('p'));
    assert!(a.settings.paused);
    let (newer, _) = script::live(4);
    update(&mut a, Action::Data(newer.clone()));
    assert!(Arc::ptr_eq(a.live.as_ref().unwrap(), &before), "data ignored while paused");
    press(&mut a, KeyCode::Char(' '));
    assert!(!a.settings.paused);
    update(&mut a, Action::Data(newer.clone()));
    assert!(Arc::ptr_eq(a.live.as_ref().unwrap(), &newer));
}

#[test]
fn interval_steps() {
    let mut a = app();
    press(&mut a, KeyCode::Char('+'));
    assert_eq!(a.settings.interval, Duration::from_secs(2));
    press(&mut a, KeyCode::Char('-'));
    press(&mut a, KeyCode::Char('-'));
    assert_eq!(a.settings.interval, Duration::from_millis(500));
    for _ in 0..10 {
        press(&mut a, KeyCode::Char('-'));
    }
    assert_eq!(a.settings.interval, INTERVALS[0]);
    for _ in 0..10 {
        press(&mut a, KeyCode::Char('='));
    }
    assert_eq!(a.settings.interval, *INTERVALS.last().unwrap());
}

#[test]
fn protocol_toggles() {
    let mut a = app();
    press(&mut a, KeyCode::Char('u'));
    assert_eq!(a.settings.protos, Protos { tcp: true, udp: false, unix: true });
    press(&mut a, KeyCode::Char('x'));
    assert_eq!(a.settings.protos, Protos { tcp: true, udp: false, unix: false });
    press(&mut a, KeyCode::Char('t'));
    assert_eq!(a.settings.protos, Protos { tcp: true, udp: true, unix: true }, "never nothing");
}

#[test]
fn filter_input_applies_or_reports() {
    let mut a = app();
    press(&mut a, KeyCode::Char('/'));
    assert_eq!(a.filter_input.as_deref(), Some(""));
    chars(&mut a, "port :99999");
    press(&mut a, KeyCode::Enter);
    let e = a.filter_error.clone().expect("bad port reported");
    assert_eq!((e.pos, e.len), (5, 6));
    assert!(a.filter_input.is_some(), "input stays open to fix it");
    for _ in 0..6 {
        press(&mut a, KeyCode::Backspace);
    }
    assert!(a.filter_error.is_none());
    chars(&mut a, "https q");
    // 'q' is text while typing, not quit.
    assert!(!a.quit);
    press(&mut a, KeyCode::Backspace);
    press(&mut a, KeyCode::Backspace);
    press(&mut a, KeyCode::Enter);
    assert!(a.filter_input.is_none());
    assert_eq!(a.filter_text, "port https");
    // `port https` is the sockscope extra "port at either end"; the filter keeps it for the collector.
    assert!(matches!(a.settings.selection.expr, Expr::Port { .. }));
    press(&mut a, KeyCode::Char('/'));
    assert_eq!(a.filter_input.as_deref(), Some("port https"), "editing starts from the applied filter");
    update(&mut a, Action::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    assert_eq!(a.filter_input.as_deref(), Some(""));
    press(&mut a, KeyCode::Esc);
    assert!(a.filter_input.is_none());
    assert_eq!(a.filter_text, "port https", "Esc keeps the applied filter");
}

#[test]
fn help_and_quit() {
    let mut a = app();
    press(&mut a, KeyCode::Char('?'));
    assert!(a.show_help);
    press(&mut a, KeyCode::Char('?'));
    assert!(!a.show_help);
    press(&mut a, KeyCode::Char('?'));
    press(&mut a, KeyCode::Down);
    assert!(!a.show_help && a.port_sel == 1, "any other key closes help and acts");
    press(&mut a, KeyCode::Char('q'));
    assert!(a.quit);
    let mut b = app();
    update(&mut b, Action::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
    assert!(b.quit);
}

#[test]
fn mouse_scrolls_and_clicks() {
    let mut a = app();
    let mouse = |kind, row| MouseEvent { kind, column: 3, row, modifiers: KeyModifiers::NONE };
    update(&mut a, Action::Mouse(mouse(MouseEventKind::ScrollDown, 5)));
    assert_eq!(a.port_sel, 3.min(a.port_rows.len() - 1));
    update(&mut a, Action::Mouse(mouse(MouseEventKind::ScrollUp, 5)));
    assert_eq!(a.port_sel, 0);
    // Row 0 is the title, row 1 the table header, row 2 the first group.
    update(&mut a, Action::Mouse(mouse(MouseEventKind::Down(MouseButton::Left), 4)));
    assert_eq!(a.port_sel, 2);
    update(&mut a, Action::Mouse(mouse(MouseEventKind::Down(MouseButton::Left), 1)));
    assert_eq!(a.port_sel, 2, "a click on the header selects nothing");
    update(&mut a, Action::Mouse(mouse(MouseEventKind::Down(MouseButton::Left), 28)));
    assert_eq!(a.port_sel, 2, "a click below the rows selects nothing");
}

#[test]
fn ticks_and_resize() {
    let mut a = app();
    let t = Instant::now() + Duration::from_secs(100);
    update(&mut a, Action::Tick(t));
    assert_eq!(a.now, Some(t));
    update(&mut a, Action::Resize(60, 10));
    assert_eq!(a.size, (60, 10));
}

#[test]
fn a_listeners_refresh_updates_accept_queues_until_the_next_full_one() {
    let mut a = app();
    let live = a.live.clone().unwrap();
    let g = live.groups.iter().find(|g| g.key.port() == Some(443) && g.accept_queue.is_some()).unwrap().clone();
    assert_eq!(a.accept_queue(&g), Some((460, 511)));
    let listener = live.socket(g.listeners[0] as usize).unwrap().clone();
    let mut fresh = listener.clone();
    fresh.recv_q = Some(12);
    let later = live.taken_at + std::time::Duration::from_millis(900);
    let patch = crate::tui::model::refresh::ListenerPatch::from_listeners(&[fresh], later);
    update(&mut a, Action::Listeners(Arc::new(patch)));
    assert_eq!(a.accept_queue(&g), Some((12, 511)));
    assert_eq!(a.queues(&listener), (Some(12), Some(511)), "the listener row shows the fresh queue too");
    assert_eq!(a.data_times(), Some((live.taken_at, later)));
    // The next full refresh is newer: its own numbers count again.
    let (next, _) = script::live(3);
    update(&mut a, Action::Data(next));
    assert!(a.listeners.is_none());
}

#[test]
fn a_deep_filter_typed_after_slash_is_an_error_not_an_abort() {
    // Regression: the parser overflowed its stack, aborting with the terminal left raw.
    let mut a = app();
    press(&mut a, KeyCode::Char('/'));
    chars(&mut a, &"(".repeat(16000));
    chars(&mut a, "sport = :22");
    press(&mut a, KeyCode::Enter);
    let e = a.filter_error.clone().expect("too deep is reported");
    assert!(e.msg.contains("nest deeper"), "{}", e.msg);
    assert!(a.filter_input.is_some(), "input stays open to fix it");
}

#[test]
fn kill_on_a_counted_group_asks_for_its_sockets_then_opens_the_dialog() {
    // Regression (merge of the K dialog with the dashboard's memory bound): K on a group that is not open
    // found none of its sockets kept and said it had no connections.
    let mut a = app();
    let db = a.port_rows.iter().position(|&i| a.live.as_ref().unwrap().groups[i].key.port() == Some(5432)).unwrap();
    a.port_sel = db;
    let key = a.selected_group().unwrap().key.clone();
    press(&mut a, KeyCode::Char('K'));
    assert!(a.kill.is_none());
    assert_eq!(a.kill_wanted.as_ref(), Some(&key));
    assert_eq!(a.settings.open_group.as_ref(), Some(&key), "the collector is asked for the group's sockets");
    let (opened, _) = script::lives_open(2, &key).pop().unwrap();
    update(&mut a, Action::Data(opened));
    let d = a.kill.clone().expect("the dialog opens once the sockets are there");
    assert!(!d.targets.is_empty());
    assert!(a.kill_wanted.is_none());
    let fx = update(&mut a, Action::Key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE)));
    assert!(!fx.iter().any(|e| matches!(e, Effect::Kill(_))), "{fx:?}");
    assert_eq!(a.settings.open_group, None, "the group is only counted again");
}

/// A socket's charts covered only the time its detail had been open (its history was recorded on the detail
/// screen only and dropped by Esc): they now start when its group was opened.
#[test]
fn socket_charts_cover_the_time_since_the_group_was_opened_not_since_the_detail() {
    let mut a = app();
    press(&mut a, KeyCode::Enter);
    let lives = script::lives(8);
    for (live, _) in lives.iter().skip(3).cloned() {
        update(&mut a, Action::Data(live));
    }
    assert!(a.sock_histories.len() > 5, "every socket of the open group with tcp_info: {}", a.sock_histories.len());
    press(&mut a, KeyCode::Down);
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.screen, Screen::Detail);
    let id = a.detail_id.unwrap();
    let h = &a.sock_histories[&id];
    assert_eq!(h.series.samples.len(), 7, "the refreshes since the group opened (2..=8)");
    // Back to the list and into the detail again: nothing is lost.
    press(&mut a, KeyCode::Esc);
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.sock_histories[&a.detail_id.unwrap()].series.samples.len(), 7);
    // Closing the group forgets them.
    press(&mut a, KeyCode::Esc);
    press(&mut a, KeyCode::Esc);
    assert!(a.sock_histories.is_empty());
}

/// Regression: the wheel on a socket's detail moved the (invisible) list's selection, back to its first row.
#[test]
fn the_wheel_on_the_detail_scrolls_it_and_keeps_the_lists_selection() {
    let mut a = app();
    update(&mut a, Action::Resize(80, 16));
    press(&mut a, KeyCode::Enter);
    press(&mut a, KeyCode::Down);
    press(&mut a, KeyCode::Down);
    let sel = a.sock_sel;
    assert!(sel > 0);
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.screen, Screen::Detail);
    let wheel = |kind| MouseEvent { kind, column: 3, row: 5, modifiers: KeyModifiers::NONE };
    update(&mut a, Action::Mouse(wheel(MouseEventKind::ScrollDown)));
    assert!(a.detail_scroll > 0, "the fields scroll at 80x16");
    update(&mut a, Action::Mouse(wheel(MouseEventKind::ScrollUp)));
    assert_eq!(a.detail_scroll, 0);
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.sock_sel, sel);
}

/// The followed sockets are bounded, the open detail's always among them, and a socket gone is forgotten.
#[test]
fn socket_histories_are_bounded_and_forget_sockets_gone() {
    use crate::collect::{Snapshot, Source, Table};
    use std::net::{IpAddr, Ipv4Addr};
    let me = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let host = |n: u64| -> Vec<crate::model::Socket> {
        let mut v = vec![script::inet(Proto::Tcp, State::LISTEN, (any, 443), (any, 0), 1)];
        for i in 0..n {
            let mut s = script::inet(Proto::Tcp, State::ESTABLISHED, (me, 443), (me, 10_000 + i as u16), 100 + i);
            let info = crate::model::internals::TcpInfo::decode(&[0u8; 232]);
            s.extra = Some(Box::new(crate::model::internals::Extra { tcp_info: Some(info), ..Default::default() }));
            v.push(s);
        }
        v
    };
    let key = GroupKey::Listen { proto: Proto::Tcp, ip: any, port: 443, netns: 0 };
    let mut tr = crate::tui::model::live::LiveTracker::new();
    let t0 = std::time::Instant::now();
    let mut feed = |a: &mut App, n: u64, secs: u64| {
        let snap = Snapshot {
            sockets: host(n),
            sources: vec![(Table::Tcp4, Source::Netlink)],
            notes: vec![],
            namespaces: Default::default(),
        };
        let at = t0 + std::time::Duration::from_secs(secs);
        update(a, Action::Data(tr.update_with(snap, std::time::Duration::ZERO, at, None, Some(&key))));
    };
    let mut a = App::new(Settings::default(), String::new(), Services::parse("".as_bytes()), false);
    feed(&mut a, 400, 0);
    press(&mut a, KeyCode::Enter);
    feed(&mut a, 400, 1);
    assert_eq!(a.sock_histories.len(), MAX_SOCKETS);
    // The last socket of the list, beyond the bound, gets its history when its detail opens.
    press(&mut a, KeyCode::End);
    press(&mut a, KeyCode::Enter);
    feed(&mut a, 400, 2);
    assert_eq!(a.sock_histories.len(), MAX_SOCKETS + 1);
    assert!(a.sock_histories.contains_key(&a.detail_id.unwrap()));
    // Most sockets close: their series go.
    press(&mut a, KeyCode::Esc);
    feed(&mut a, 10, 3);
    assert_eq!(a.sock_histories.len(), 10);
}

/// The help overlay omitted `=` (the same as `+`) and the kill dialog's `y`: every key that changes the
/// dashboard, on every screen, in the kill dialog and in the filter input, must be named by the overlay.
#[test]
fn the_help_overlay_names_every_key_the_dashboard_handles() {
    let listed: Vec<&str> =
        crate::tui::present::help::HELP.iter().flat_map(|(keys, _)| keys.split_whitespace()).collect();
    let name = |k: &KeyEvent| -> String {
        match (k.code, k.modifiers.contains(KeyModifiers::CONTROL)) {
            (KeyCode::Char(c), true) => format!("Ctrl-{}", c.to_ascii_uppercase()),
            (KeyCode::Char(' '), _) => "space".into(),
            (KeyCode::Char(c), _) => c.to_string(),
            (KeyCode::PageUp, _) => "PgUp".into(),
            (KeyCode::PageDown, _) => "PgDn".into(),
            (KeyCode::Backspace, _) => "BS".into(),
            (code, _) => format!("{code:?}"),
        }
    };
    let mut candidates: Vec<KeyEvent> =
        (' '..='~').map(|c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)).collect();
    candidates.extend(
        [
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::Left,
            KeyCode::Right,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Backspace,
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Delete,
            KeyCode::Insert,
            KeyCode::F(1),
            KeyCode::F(5),
        ]
        .map(|c| KeyEvent::new(c, KeyModifiers::NONE)),
    );
    candidates.push(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    // The screens, the kill dialog open (its prompt), and the filter being typed (its editing keys only).
    let base = app();
    let mut group = base.clone();
    press(&mut group, KeyCode::Enter);
    let mut detail = group.clone();
    press(&mut detail, KeyCode::Enter);
    let mut dialog = group.clone();
    press(&mut dialog, KeyCode::Char('K'));
    assert!(dialog.kill.is_some());
    let mut filter = base.clone();
    press(&mut filter, KeyCode::Char('/'));
    chars(&mut filter, "port 443");
    let state = |a: &App| {
        let mut a = a.clone();
        a.message = None; // a key clears the last message: not an action of its own
        format!("{a:?}")
    };
    let mut missing = Vec::new();
    for (context, a) in [("home", &base), ("group", &group), ("detail", &detail), ("kill dialog", &dialog)] {
        for k in &candidates {
            let mut b = a.clone();
            let fx = update(&mut b, Action::Key(*k));
            let killed = fx.iter().any(|e| matches!(e, Effect::Kill(_)));
            let acted = state(&b) != state(a) && (context != "kill dialog" || killed);
            if acted && !listed.contains(&name(k).as_str()) {
                missing.push(format!("{} on the {context}", name(k)));
            }
        }
    }
    for k in [KeyCode::Enter, KeyCode::Esc, KeyCode::Backspace] {
        assert!(listed.contains(&name(&KeyEvent::new(k, KeyModifiers::NONE)).as_str()));
    }
    let mut cleared = filter.clone();
    update(&mut cleared, Action::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    assert_eq!(cleared.filter_input.as_deref(), Some(""), "^U clears the filter input");
    assert!(listed.contains(&"^U"));
    assert!(missing.is_empty(), "keys the overlay does not name: {missing:?}");
}
