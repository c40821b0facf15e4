//! Whole-screen snapshots (ratatui `TestBackend` + insta) from scripted data, driven through every floor:
//! actions applied by `update` as the loop does, each frame laid out by `present` and drawn by `view`.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use std::time::Duration;

use crate::ports::services::Services;
use crate::tui::model::collector::CollectSettings as Settings;
use crate::tui::model::script;
use crate::tui::present::text::fmt_age;
use crate::tui::state::{Action, App};
use crate::tui::update::{Effect, Effects, drive};
use crate::tui::view::view;

/// As the loop applies an action.
fn update(a: &mut App, action: Action) -> Effects {
    drive(a, action)
}

fn app(w: u16, h: u16) -> App {
    let settings = Settings::default();
    let services = Services::parse("https 443/tcp\npostgresql 5432/tcp\nhttp-alt 8080/tcp\ndomain 53/udp\n".as_bytes());
    let mut a = App::new(settings, String::new(), services, false);
    update(&mut a, Action::Resize(w, h));
    let (live, now) = script::live(2);
    update(&mut a, Action::Data(live));
    update(&mut a, Action::Tick(now + Duration::from_millis(500)));
    a
}

fn keys(a: &mut App, ks: &[KeyCode]) {
    for k in ks {
        update(a, Action::Key(KeyEvent::new(*k, KeyModifiers::NONE)));
    }
}

fn screen(a: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(a.size.0, a.size.1)).unwrap();
    let shown = crate::tui::present::shown(a);
    t.draw(|f| view(a, &shown, f)).unwrap();
    if a.size.0 == 0 {
        return String::new(); // TestBackend cannot print a zero-width buffer
    }
    format!("{}", t.backend())
}

#[test]
fn home_view() {
    insta::assert_snapshot!("home_100x30", screen(&app(100, 30)));
}

#[test]
fn home_view_80x24() {
    insta::assert_snapshot!("home_80x24", screen(&app(80, 24)));
}

#[test]
fn narrow_terminal_drops_columns() {
    let a = app(50, 14);
    let s = screen(&a);
    assert!(s.contains("Socks") && !s.contains("C-WAIT"), "{s}");
    insta::assert_snapshot!("home_50x14", s);
}

#[test]
fn a_group_title_counts_its_sockets_without_the_closed_ones_still_listed() {
    // The title said "279 sockets" for 221 open ones and 58 closed rows lingering.
    let mut a = app(100, 30);
    let db = a.port_rows.iter().position(|&i| a.live.as_ref().unwrap().groups[i].key.port() == Some(5432)).unwrap();
    a.port_sel = db;
    keys(&mut a, &[KeyCode::Enter]);
    let key = a.group.clone().unwrap();
    let (opened, _) = script::lives_open(2, &key).pop().unwrap();
    update(&mut a, Action::Data(opened));
    let closed = a.sock_rows.iter().filter(|r| matches!(r, crate::tui::state::SockRow::Closed(_))).count();
    assert_eq!(closed, 2);
    let title = screen(&a).lines().nth(1).unwrap_or_default().to_string();
    let open = a.sock_rows.len() - closed;
    assert!(title.contains(&format!("— {open} sockets (+2 closed just now)")), "{title}");
}

#[test]
fn drill_down() {
    let mut a = app(100, 30);
    keys(&mut a, &[KeyCode::Enter]);
    insta::assert_snapshot!("drill_down", screen(&a));
}

#[test]
fn detail() {
    let mut a = app(100, 30);
    keys(&mut a, &[KeyCode::Enter, KeyCode::Down, KeyCode::Enter]);
    insta::assert_snapshot!("detail", screen(&a));
}

/// The detail of a socket watched for a while: rtt, cwnd and throughput charts beside (wide) or below
/// (narrow) its fields, and a long command line wrapped inside the box.
#[test]
fn detail_charts_over_time() {
    for (w, h, name) in [(140, 36, "detail_charts_wide"), (100, 40, "detail_charts_narrow")] {
        let mut a = app(w, h);
        keys(&mut a, &[KeyCode::Enter, KeyCode::Down, KeyCode::Enter]);
        for (live, at) in script::lives(8).into_iter().skip(3) {
            update(&mut a, Action::Data(live));
            update(&mut a, Action::Tick(at));
        }
        let s = screen(&a);
        assert!(s.contains("rtt") && s.contains("cwnd") && s.contains("acked"), "{s}");
        insta::assert_snapshot!(name, s);
    }
}

#[test]
fn owner_column_cases() {
    // Cut names keep their pid, mixed owners are counted biggest first, a TIME-WAIT first socket does not
    // hide the group's holders; the folded resolver sockets are one row.
    let s = screen(&app(60, 16));
    let row = |needle: &str| s.lines().find(|l| l.contains(needle)).unwrap_or_default().to_string();
    assert!(row("6379").contains("… 3, +1"), "the long name shortens, the counts stay:\n{s}");
    assert!(row("127.0.0.1:5432 ").contains("[1201]"), "the pid is whole:\n{s}");
    assert!(s.contains("10.0.0.1:(eph)"), "{s}");
    insta::assert_snapshot!("owners_60x16", s);
}

#[test]
fn filter_error() {
    let mut a = app(100, 30);
    keys(&mut a, &[KeyCode::Char('/')]);
    for c in "sport = :99999".chars() {
        keys(&mut a, &[KeyCode::Char(c)]);
    }
    keys(&mut a, &[KeyCode::Enter]);
    let s = screen(&a);
    assert!(s.contains("port 99999 is out of range"), "{s}");
    insta::assert_snapshot!("filter_error", s);
}

#[test]
fn paused() {
    let mut a = app(100, 30);
    keys(&mut a, &[KeyCode::Char('p')]);
    let s = screen(&a);
    assert!(s.contains("PAUSED"), "{s}");
    insta::assert_snapshot!("paused", s);
}

/// The collector's error is part of `App` and drawn by `view` on the status line (it was painted over the
/// frame by the event loop, outside the Elm cycle); the next snapshot clears it.
#[test]
fn collection_error_is_drawn_by_view() {
    let mut a = app(100, 30);
    update(&mut a, Action::CollectFailed("netlink dump failed:\nPermission denied".into()));
    let s = screen(&a);
    let last = s.lines().rev().find(|l| !l.trim_matches('"').trim().is_empty()).unwrap_or("");
    // Regression: the message was drawn over the status text, whose tail stayed visible after it; control
    // characters are escaped as everywhere else.
    assert_eq!(last.trim_matches('"').trim_end(), " collection failed: netlink dump failed:\\x0aPermission denied");
    let (live, _) = script::live(3);
    update(&mut a, Action::Data(live));
    assert!(a.collect_error.is_none() && !screen(&a).contains("collection failed"));
}

#[test]
fn help_overlay() {
    let mut a = app(80, 24);
    keys(&mut a, &[KeyCode::Char('?')]);
    insta::assert_snapshot!("help", screen(&a));
}

#[test]
fn sort_picker_overlay() {
    let mut a = app(80, 24);
    keys(&mut a, &[KeyCode::Char('o'), KeyCode::Down]);
    insta::assert_snapshot!("sort_picker_80x24", screen(&a));
}

#[test]
fn tiny_terminals_do_not_panic() {
    for (w, h) in [(0, 0), (1, 1), (5, 2), (20, 3), (200, 5)] {
        let mut a = app(w, h);
        screen(&a);
        keys(&mut a, &[KeyCode::Enter, KeyCode::Enter, KeyCode::Char('?')]);
        screen(&a);
    }
}

#[test]
fn ages() {
    let cases = [(0, "0s"), (59, "59s"), (60, "1m00s"), (3599, "59m59s"), (3600, "1h00m"), (90000, "1d01h")];
    for (secs, want) in cases {
        assert_eq!(fmt_age(Duration::from_secs(secs)), want);
    }
}

#[test]
fn listener_detail_shows_audit_findings_and_port_class() {
    let mut a = app(120, 40);
    keys(&mut a, &[KeyCode::Enter]);
    // The listener is the oldest socket; sort by state puts ESTAB first, so find it by moving to it.
    let live = a.live.clone().unwrap();
    let pos = a
        .sock_rows
        .iter()
        .position(|r| matches!(r, crate::tui::state::SockRow::Live(i) if live.socket(*i as usize).unwrap().state == crate::model::State::LISTEN))
        .unwrap();
    a.sock_sel = pos;
    keys(&mut a, &[KeyCode::Enter]);
    let s = screen(&a);
    assert!(s.contains("audit  ! port 443 is privileged"), "{s}");
    assert!(s.contains("local port  well-known"), "{s}");
    let home = screen(&app(140, 20));
    assert!(home.contains("Service") && home.contains("Class") && home.contains("https"), "{home}");
}

#[test]
fn several_namespaces_show_a_namespace_column_and_sort_by_it() {
    use crate::collect::{Snapshot, Source, Table};
    use crate::model::netns::{Container, Namespace, Namespaces, Runtime, Workload};
    let t0 = std::time::Instant::now();
    let mut socks = script::host(0);
    // The connections of port 5432 and its listener live in a container's namespace.
    for s in &mut socks {
        if s.local.port() == Some(5432) || s.peer.port() == Some(5432) {
            s.netns = 1;
        }
    }
    let web = Container {
        runtime: Runtime::Docker,
        id: "0123456789abcdef".into(),
        name: Some("db".into()),
        pod: None,
        namespace: None,
    };
    let namespaces = Namespaces(vec![
        Namespace { inode: 1, host: true, ..Namespace::default() },
        Namespace {
            inode: 2,
            owner: Some(Workload { container: Some(web), ..Workload::default() }),
            ..Namespace::default()
        },
    ]);
    let snap = Snapshot { sockets: socks, sources: vec![(Table::Tcp4, Source::Netlink)], notes: vec![], namespaces };
    let live = crate::tui::model::live::LiveTracker::new().update(snap, Duration::from_millis(12), t0);
    let mut a = App::new(Settings::default(), String::new(), Services::default(), false);
    update(&mut a, Action::Resize(120, 20));
    update(&mut a, Action::Data(live));
    let s = screen(&a);
    let header = s.lines().find(|l| l.contains("Endpoint")).unwrap_or_default().to_string();
    assert!(header.trim_start_matches(['"', ' ', '│']).starts_with("Namespace"), "{s}");
    assert!(s.contains("docker:db") && s.contains("host"), "{s}");
    // `s` cycles to the namespace sort: the container's groups come together, after the host's.
    while a.port_sort != crate::tui::state::columns::PortCol::Namespace {
        keys(&mut a, &[KeyCode::Char('s')]);
    }
    let s = screen(&a);
    let rows: Vec<&str> = s.lines().filter(|l| l.contains("host") || l.contains("docker:db")).collect();
    let first_db = rows.iter().position(|l| l.contains("docker:db")).unwrap_or(0);
    assert!(rows[first_db..].iter().all(|l| l.contains("docker:db")), "{s}");
    insta::assert_snapshot!("namespaces_120x20", s);
}

#[test]
fn kill_dialog_says_how_many_and_who_and_no_means_no() {
    let mut a = app(100, 30);
    keys(&mut a, &[KeyCode::Char('K')]);
    let d = a.kill.clone().expect("a dialog for the selected group");
    assert!(!d.targets.is_empty());
    insta::assert_snapshot!("kill_dialog", screen(&a));
    let fx = update(&mut a, Action::Key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE)));
    assert!(a.kill.is_none() && fx.is_empty(), "{fx:?}");
    assert_eq!(a.message.as_deref(), Some("nothing closed"));
    keys(&mut a, &[KeyCode::Char('K')]);
    let fx = update(&mut a, Action::Key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE)));
    let closing = fx.iter().find_map(|e| if let Effect::Kill(t) = e { Some(t.len()) } else { None });
    assert_eq!(closing, Some(d.targets.len()), "y asks the loop to close the sockets");
    update(&mut a, Action::KillDone("closed 4 of 4 sockets".into()));
    assert!(screen(&a).contains("closed 4 of 4 sockets"));
}

#[test]
fn event_log_of_the_open_group() {
    let mut a = app(100, 30);
    keys(&mut a, &[KeyCode::Enter, KeyCode::Char('e')]);
    insta::assert_snapshot!("event_log", screen(&a));
}

/// The last line of the screen, as `TestBackend` prints it (between quotes).
fn status_line(a: &App) -> String {
    let s = screen(a);
    let last = s.lines().last().unwrap_or_default().to_string();
    last.trim_start_matches('"').trim_end_matches('"').to_string()
}

#[test]
fn a_long_filter_input_scrolls_to_keep_the_cursor_in_view() {
    // Regression: past the width, the typed end and the cursor were cut off.
    let mut a = app(60, 20);
    keys(&mut a, &[KeyCode::Char('/')]);
    let text = format!("{}sport = :443", "dport = :1 or ".repeat(20));
    update(&mut a, Action::Paste(text));
    let line = status_line(&a);
    assert!(line.starts_with("/…"), "{line:?}");
    assert!(line.contains("sport = :443█"), "{line:?}");
}

/// Open the group whose key shows as `name` (as on the home screen), with the data the collector sends
/// for it (its sockets kept).
fn open_group(a: &mut App, name: &str) {
    let live = a.live.clone().unwrap();
    a.port_sel = a.port_rows.iter().position(|&g| live.groups[g].key.to_string() == name).unwrap();
    let key = live.groups[a.port_rows[a.port_sel]].key.clone();
    keys(a, &[KeyCode::Enter]);
    let (live, now) = script::lives_open(2, &key).pop().unwrap();
    update(a, Action::Data(live));
    update(a, Action::Tick(now + Duration::from_millis(500)));
}

/// Regression: the group title was never fitted to the screen: at 72 columns it was cut inside a pid
/// (`python3[121`), at 80 further holders disappeared without a `+N`. Whole holders, then `+N`.
#[test]
fn the_group_title_keeps_whole_holders_at_any_width() {
    let mut titles = Vec::new();
    for w in [100, 80, 72, 60, 52, 40] {
        let mut a = app(w, 30);
        open_group(&mut a, "-> 10.0.0.9:6379");
        let s = screen(&a);
        let title = s.lines().nth(1).unwrap_or_default().trim_matches('"').trim_end().to_string();
        // Every pid shown is whole: `[` digits `]`.
        for part in title.split('[').skip(1) {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            assert!(!digits.is_empty() && part[digits.len()..].starts_with(']'), "width {w}: {title}");
        }
        assert!(title.chars().count() <= w as usize, "width {w}: {title}");
        titles.push(title);
    }
    assert_eq!(
        titles,
        [
            " tcp -> 10.0.0.9:6379 — 5 sockets, held by redis-benchmark[11313] 3, python3[2002] 1",
            " tcp -> 10.0.0.9:6379 — 5 sockets, held by redis-benchmark[11313] 3, +1",
            " tcp -> 10.0.0.9:6379 — 5 sockets, held by redis-benchmark[11313] 3, +1",
            " tcp -> 10.0.0.9:6379 — 5 sockets, held by red…[11313] 3, +1",
            " tcp -> 10.0.0.9:6379 — 5 sockets, held by +2",
            " tcp -> 10.0.0.9:6379 — 5 sockets",
        ]
    );
    let mut a = app(72, 24);
    open_group(&mut a, "-> 10.0.0.9:6379");
    insta::assert_snapshot!("group_title_72x24", screen(&a));
}

/// Open the detail of the open group's socket with this cookie.
fn open_socket(a: &mut App, cookie: u64) {
    let live = a.live.clone().unwrap();
    a.sock_sel = (a.sock_rows.iter())
        .position(
            |r| matches!(r, crate::tui::state::SockRow::Live(i) if live.socket(*i as usize).unwrap().cookie == Some(cookie)),
        )
        .unwrap();
    keys(a, &[KeyCode::Enter]);
}

/// Regression: a socket newer than the last process scan showed as `hidden`, with a detail saying it needed
/// root or CAP_SYS_PTRACE, which was false as root. It is `new`, said to be not looked up yet; a hidden one
/// says why processes are hidden.
#[test]
fn a_socket_not_looked_up_yet_is_new_not_hidden() {
    let mut a = app(100, 30);
    open_group(&mut a, "10.0.0.1:(eph)");
    let s = screen(&a);
    assert!(s.contains("held by resolver[53] 4, new 1"), "{s}");
    let news = s.lines().filter(|l| l.contains(":4500") && l.trim_matches('"').trim_end().ends_with(" new")).count();
    assert_eq!(news, 1, "{s}");
    open_socket(&mut a, 804);
    let s = screen(&a);
    assert!(s.contains("process  not looked up yet") && !s.contains("hidden"), "{s}");

    let mut a = app(100, 30);
    open_group(&mut a, "/run/app.sock");
    open_socket(&mut a, 600);
    let s = screen(&a);
    assert!(s.contains("process  hidden: owned by uid 33;"), "{s}");
    assert!(s.contains("another user's /proc/PID/fd needs root"), "{s}");
}

/// At 80x24 the detail's fields filled the box and the charts vanished without a word: the charts keep a
/// row of their own and the fields scroll above them.
#[test]
fn detail_at_80x24_keeps_its_charts_and_scrolls_its_fields() {
    let mut a = app(80, 24);
    keys(&mut a, &[KeyCode::Enter]);
    for (live, at) in script::lives(8).into_iter().skip(3) {
        update(&mut a, Action::Data(live));
        update(&mut a, Action::Tick(at));
    }
    keys(&mut a, &[KeyCode::Down, KeyCode::Enter]);
    let s = screen(&a);
    assert!(s.contains("rtt") && s.contains("cwnd") && s.contains("acked") && s.contains("now"), "{s}");
    insta::assert_snapshot!("detail_80x24", s);
    // Shorter still: the fields scroll above the charts.
    update(&mut a, Action::Resize(80, 20));
    let s = screen(&a);
    assert!(s.contains("rtt") && s.contains("now") && s.contains("protocol"), "{s}");
    assert!(s.contains("↓ 5 more lines (j/k scroll)"), "{s}");
    let sel = a.sock_sel;
    keys(&mut a, &[KeyCode::End]);
    let s = screen(&a);
    assert!(!s.contains("   protocol") && s.contains("tcp_info"), "scrolled to the last fields: {s}");
    assert_eq!(a.sock_sel, sel, "scrolling the detail leaves the list's selection alone");
    keys(&mut a, &[KeyCode::Home]);
    assert_eq!(a.detail_scroll, 0);
}

/// Too short for any chart: a note says so instead of nothing.
#[test]
fn detail_too_short_for_charts_says_so() {
    let mut a = app(80, 12);
    keys(&mut a, &[KeyCode::Enter, KeyCode::Down, KeyCode::Enter]);
    let s = screen(&a);
    assert!(s.contains("charts of rtt, cwnd and throughput need a taller window"), "{s}");
}
