//! EventTracker tests: opens, state changes and closes from dumps and destroy messages, TIME-WAIT remnants,
//! the bounded memory of recent closes.

use std::net::Ipv4Addr;

use super::*;
use crate::model::Timer;

fn sock(cookie: u64, port: u16, state: State) -> Socket {
    let mut s = Socket::inet(Proto::Tcp, state, (Ipv4Addr::LOCALHOST.into(), port), (Ipv4Addr::LOCALHOST.into(), 80));
    s.cookie = Some(cookie);
    s
}

fn kinds(ev: &[Event]) -> Vec<(Kind, u64)> {
    ev.iter().map(|e| (e.kind, e.socket.cookie.unwrap())).collect()
}

#[test]
fn dumps_make_open_state_and_close_without_destroy_messages() {
    let mut t = EventTracker::new(false);
    let mut ev = Vec::new();
    t.apply_dump(1000, &[sock(1, 1, State::SYN_SENT), sock(2, 2, State::ESTABLISHED)], |_| None, &mut ev);
    assert_eq!(kinds(&ev), vec![(Kind::Open, 1), (Kind::Open, 2)]);
    ev.clear();
    t.apply_dump(2000, &[sock(1, 1, State::ESTABLISHED)], |_| None, &mut ev);
    assert_eq!(kinds(&ev), vec![(Kind::State, 1), (Kind::Close, 2)]);
    assert_eq!(ev[0].old_state, Some(State::SYN_SENT));
    assert_eq!(ev[1].lifetime_ms(), Some(1000));
    assert_eq!(t.len(), 1);
}

#[test]
fn without_first_opens_the_first_dump_only_starts_the_live_set() {
    // `record` and `watch` without --existing threw the first dump's opens away: at 200k sockets 50 MB.
    let mut t = EventTracker::new(false).without_first_opens();
    let mut ev = Vec::new();
    t.apply_dump(1000, &[sock(1, 1, State::ESTABLISHED), sock(2, 2, State::ESTABLISHED)], |_| None, &mut ev);
    assert!(ev.is_empty());
    assert_eq!(t.len(), 2);
    t.apply_dump(2000, &[sock(1, 1, State::ESTABLISHED), sock(3, 3, State::SYN_SENT)], |_| None, &mut ev);
    assert_eq!(kinds(&ev), vec![(Kind::Open, 3), (Kind::Close, 2)]);
    assert_eq!(ev[1].lifetime_ms(), Some(1000), "a socket open at the start still has its first-seen time");
    assert!(ev[1].preexisting);
}

#[test]
fn destroy_message_closes_and_a_short_socket_gets_both_events() {
    let mut t = EventTracker::new(true);
    let mut ev = Vec::new();
    t.apply_dump(1000, &[sock(1, 1, State::ESTABLISHED)], |_| None, &mut ev);
    ev.clear();
    t.apply_destroyed(1500, sock(1, 1, State::CLOSE), &mut ev);
    // Lived between two dumps: never listed.
    t.apply_destroyed(1600, sock(9, 9, State::CLOSE), &mut ev);
    // The same message again (or a dump that raced it) changes nothing.
    t.apply_destroyed(1700, sock(9, 9, State::CLOSE), &mut ev);
    t.apply_dump(2000, &[sock(9, 9, State::FIN_WAIT1)], |_| None, &mut ev);
    assert_eq!(kinds(&ev), vec![(Kind::Close, 1), (Kind::Open, 9), (Kind::Close, 9)]);
    assert_eq!(ev[0].socket.state, State::ESTABLISHED, "a close keeps the last state the dumps saw");
    assert_eq!(ev[0].via, Via::Destroy);
    assert!(ev[1].late && ev[2].lifetime_ms().is_none());
    assert!(t.is_empty());
}

#[test]
fn with_destroy_messages_a_missing_socket_closes_after_two_dumps() {
    let mut t = EventTracker::new(true);
    let mut ev = Vec::new();
    t.apply_dump(1000, &[sock(1, 1, State::ESTABLISHED)], |_| None, &mut ev);
    ev.clear();
    t.apply_dump(2000, &[], |_| None, &mut ev);
    assert!(ev.is_empty(), "the destroy message may still be on its way");
    t.apply_dump(3000, &[], |_| None, &mut ev);
    assert_eq!(kinds(&ev), vec![(Kind::Close, 1)]);
    assert_eq!(ev[0].via, Via::Dump);
}

#[test]
fn time_wait_remnants_are_not_sockets() {
    let mut t = EventTracker::new(true);
    let mut ev = Vec::new();
    let mut tw = sock(5, 5, State::FIN_WAIT2);
    tw.timer = Some(Timer { kind: TimerKind::Timewait, expires_ms: 100, retrans: 0 });
    t.apply_dump(1000, &[tw], |_| None, &mut ev);
    assert!(ev.is_empty() && t.is_empty());
}

#[test]
fn recent_closes_are_bounded() {
    let mut t = EventTracker::new(true);
    let mut ev = Vec::new();
    for c in 0..(RECENT_CLOSED as u64 + 10) {
        t.apply_destroyed(1, sock(c, 1, State::CLOSE), &mut ev);
        ev.clear();
    }
    assert_eq!(t.recent.len(), RECENT_CLOSED);
    assert_eq!(t.recent_order.len(), RECENT_CLOSED);
}

#[test]
fn sockets_gone_from_the_dumps_with_destroy_messages_on_are_counted_as_lost_messages() {
    let mut t = EventTracker::new(true);
    let mut ev = Vec::new();
    t.apply_dump(1000, &[sock(1, 1, State::ESTABLISHED), sock(2, 2, State::ESTABLISHED)], |_| None, &mut ev);
    t.apply_destroyed(1500, sock(1, 1, State::CLOSE), &mut ev);
    t.apply_dump(2000, &[], |_| None, &mut ev);
    assert_eq!(t.closed_by_dumps(), 0, "one missed dump is the grace");
    ev.clear();
    t.apply_dump(3000, &[], |_| None, &mut ev);
    assert_eq!(kinds(&ev), vec![(Kind::Close, 2)]);
    assert_eq!(ev[0].via, Via::Dump);
    assert_eq!(t.closed_by_dumps(), 1, "the close that came as a message is not counted");
    // Without destroy messages a dump is how closes come: nothing is lost.
    let mut t = EventTracker::new(false);
    t.apply_dump(1000, &[sock(1, 1, State::ESTABLISHED)], |_| None, &mut ev);
    t.apply_dump(2000, &[], |_| None, &mut ev);
    assert_eq!(t.closed_by_dumps(), 0);
}

#[test]
fn held_closes_wait_for_their_destroy_message() {
    // Regression: with destroy messages still queued (a backlog after a stop), dumps closed the sockets they
    // missed without tcp_info and counted them as lost; the messages came a moment later.
    let mut t = EventTracker::new(true);
    let mut ev = Vec::new();
    t.apply_dump(1000, &[sock(1, 1, State::ESTABLISHED)], |_| None, &mut ev);
    t.hold_closes(true);
    t.apply_dump(2000, &[sock(2, 2, State::ESTABLISHED)], |_| None, &mut ev);
    t.apply_dump(3000, &[sock(2, 2, State::ESTABLISHED)], |_| None, &mut ev);
    assert!(t.is_live(1), "held");
    assert_eq!(kinds(&ev), vec![(Kind::Open, 1), (Kind::Open, 2)]);
    ev.clear();
    t.apply_destroyed(3500, sock(1, 1, State::CLOSE), &mut ev);
    assert_eq!(kinds(&ev), vec![(Kind::Close, 1)]);
    assert_eq!(ev[0].via, Via::Destroy);
    // Once closes are no longer held, a socket missed since then closes from the dump.
    t.hold_closes(false);
    t.apply_dump(4000, &[], |_| None, &mut ev);
    assert!(t.is_live(2), "one missed dump is the grace");
    t.apply_dump(5000, &[], |_| None, &mut ev);
    assert!(!t.is_live(2));
    assert_eq!(t.closed_by_dumps(), 1);
}

#[test]
fn a_late_destroy_message_is_waited_for_two_seconds_whatever_the_interval() {
    // Regression: at 200 ms dumps, a destroy message the kernel's work queue delayed by half a second (a busy
    // host) made the close a `via: dump` one, without its tcp_info.
    let mut t = EventTracker::new(true);
    let mut ev = Vec::new();
    t.apply_dump(1000, &[sock(1, 1, State::ESTABLISHED)], |_| None, &mut ev);
    ev.clear();
    for now in [1200, 1400, 1600, 2800] {
        t.apply_dump(now, &[], |_| None, &mut ev);
        assert!(t.is_live(1), "missed at {now} ms, within the grace");
    }
    t.apply_destroyed(2900, sock(1, 1, State::CLOSE), &mut ev);
    assert_eq!(kinds(&ev), vec![(Kind::Close, 1)]);
    assert_eq!(ev[0].via, Via::Destroy);
    // A message that never comes: the dumps close it once the grace is over.
    t.apply_dump(3000, &[sock(2, 2, State::ESTABLISHED)], |_| None, &mut ev);
    ev.clear();
    t.apply_dump(3200, &[], |_| None, &mut ev);
    t.apply_dump(4900, &[], |_| None, &mut ev);
    assert!(t.is_live(2));
    t.apply_dump(5000, &[], |_| None, &mut ev);
    assert_eq!(kinds(&ev), vec![(Kind::Close, 2)]);
}
