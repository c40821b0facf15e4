//! Who holds a group's sockets: every holder counted over all of the group's sockets (not only its first
//! one, which may be a TIME-WAIT socket that nobody holds), the biggest first, and the text that names them
//! (the dashboard's Process column and group title, a recording's `owner`). A text is fitted to its room by
//! leaving whole holders out (`+N`) and shortening a process name with an ellipsis, never by cutting inside
//! a pid or a count.

use std::sync::Arc;

use super::Group;
use crate::collect::process::Attribution;
use crate::hash::FastMap;
use crate::model::Socket;
#[cfg(doc)]
use crate::model::owners::ProcessMap;
use crate::model::owners::{Owner, ProcessInfo};
use crate::model::text::escape;

/// The holders of one group's sockets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupOwners {
    /// (index into the process list, sockets it holds), most sockets first, then by pid. A socket held by
    /// several processes of one name (a listener shared by pre-forked workers) counts for the first of them
    /// only (the others are listed, with 0 if they hold nothing else), so that the counts of one name add up
    /// to its sockets.
    pub holders: Vec<(u32, u32)>,
    /// Sockets whose owner is [`Owner::Hidden`] (the one rule, [`ProcessMap::owner`]).
    pub hidden: u32,
    /// Sockets whose owner is [`Owner::NotLookedUp`]: newer than the last look through the processes.
    pub unscanned: u32,
}

/// Count the holders of every socket of every group, as `a` attributes them. Linear: one pass over the
/// sockets in snapshot order, one lookup each (groups list their sockets in an order that jumps all over the
/// snapshot: at 200k sockets reading the 168-byte records at random costs more than the lookups), each
/// holder counted through a map from (group, process) to its entry.
pub fn summarize(sockets: &[Socket], groups: &[Group], a: &Attribution) -> Vec<GroupOwners> {
    const NONE: u32 = u32::MAX;
    let mut group_of = vec![NONE; sockets.len()];
    for (gi, g) in groups.iter().enumerate() {
        for &i in g.listeners.iter().chain(&g.members) {
            if let Some(slot) = group_of.get_mut(i as usize) {
                *slot = gi as u32;
            }
        }
    }
    let mut out = vec![GroupOwners::default(); groups.len()];
    // (group, process index) -> its place in the group's holders; the last one used first (neighbours in the
    // snapshot mostly share group and holder).
    let mut at: FastMap<(u32, u32), usize> = FastMap::default();
    let mut last: Option<((u32, u32), usize)> = None;
    let mut count = |out: &mut [GroupOwners], gi: u32, p: u32, n: u32| {
        let holders = &mut out[gi as usize].holders;
        let k = match last {
            Some((key, k)) if key == (gi, p) => k,
            _ => *at.entry((gi, p)).or_insert_with(|| {
                holders.push((p, 0));
                holders.len() - 1
            }),
        };
        holders[k].1 += n;
        last = Some(((gi, p), k));
    };
    let mut names: Vec<&str> = Vec::new();
    for (s, &gi) in sockets.iter().zip(&group_of) {
        if gi == NONE {
            continue;
        }
        match a.owner(s.inode) {
            Owner::Held(holders) if holders.len() == 1 => holders.for_each(|h| count(&mut out, gi, h.index, 1)),
            Owner::Held(holders) => {
                // Once per name: the workers sharing a listener hold one socket, not one each (the others are
                // listed, with nothing counted).
                names.clear();
                for h in holders {
                    let first = !names.contains(&h.process.comm.as_str());
                    names.push(&h.process.comm);
                    count(&mut out, gi, h.index, u32::from(first));
                }
            }
            Owner::Hidden => out[gi as usize].hidden += 1,
            Owner::NotLookedUp => out[gi as usize].unscanned += 1,
            Owner::None => {}
        }
    }
    let procs = a.map().processes();
    let pid = |p: u32| procs.get(p as usize).map_or(0, |x| x.pid);
    for o in &mut out {
        o.holders.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| pid(a.0).cmp(&pid(b.0))));
    }
    out
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// `name` shortened to `max` characters with a trailing `…` when it is longer.
pub fn ellipsize(name: &str, max: usize) -> String {
    if width(name) <= max {
        return name.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = name.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// `name[pid]` plus `suffix`, fitted to `max` characters by shortening the name (at least one character
/// and the ellipsis stay); when even that does not fit, the pid alone, then nothing that would lie.
pub fn name_pid(name: &str, pid: u32, suffix: &str, max: usize) -> String {
    let name = escape(name);
    let tail = format!("[{pid}]{suffix}");
    let full = width(&name) + width(&tail);
    if full <= max {
        return format!("{name}{tail}");
    }
    if max >= width(&tail) + 2 {
        return format!("{}{tail}", ellipsize(&name, max - width(&tail)));
    }
    let pid_only = format!("[{pid}]");
    if width(&pid_only) <= max { pid_only } else { ellipsize(&name, max) }
}

/// Holders by process name (`nginx` with three workers is one entry): (name, pids, sockets), biggest first.
/// The sockets of a name are the sum over its processes (see [`GroupOwners::holders`]).
pub fn by_name(o: &GroupOwners, procs: &[Arc<ProcessInfo>]) -> Vec<(String, Vec<u32>, u32)> {
    let mut out: Vec<(String, Vec<u32>, u32)> = Vec::new();
    for &(p, n) in &o.holders {
        let Some(info) = procs.get(p as usize) else { continue };
        match out.iter_mut().find(|e| e.0 == info.comm) {
            Some(e) => {
                e.1.push(info.pid);
                e.2 += n;
            }
            None => out.push((info.comm.clone(), vec![info.pid], n)),
        }
    }
    out.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    out
}

/// One holder in a text: a name that may be shortened and what follows it, which may not.
struct Entry {
    name: String,
    tail: String,
}

impl Entry {
    fn text(&self) -> String {
        format!("{}{}", self.name, self.tail)
    }
}

/// The markers after the named holders: `hidden N`, `new N` (not looked up yet).
fn markers(o: &GroupOwners) -> impl Iterator<Item = Entry> {
    let m = |name: &str, n: u32| (n > 0).then(|| Entry { name: name.into(), tail: format!(" {n}") });
    m("hidden", o.hidden).into_iter().chain(m("new", o.unscanned))
}

/// As many whole `entries` as fit `max`, joined by `, `, then `, +N` for the N left out. When not even the
/// first fits, its name is shortened (its tail and the `+N` stay); when that cannot be done either, `+N`
/// alone (or nothing) rather than a cut number.
fn fit(entries: &[Entry], max: usize) -> String {
    let total = entries.len();
    let more = |left: usize| if left > 0 { format!(", +{left}") } else { String::new() };
    let mut out = String::new();
    for (k, e) in entries.iter().enumerate() {
        let sep = if k == 0 { "" } else { ", " };
        let text = e.text();
        // Take this entry if it fits with room for the "+N" that would follow it.
        if width(&out) + width(sep) + width(&text) + width(&more(total - k - 1)) <= max {
            out.push_str(sep);
            out.push_str(&text);
            continue;
        }
        if k == 0 {
            let rest = more(total - 1);
            let room = max.saturating_sub(width(&e.tail) + width(&rest));
            if room >= 2 {
                return format!("{}{}{rest}", ellipsize(&e.name, room), e.tail);
            }
            let all = format!("+{total}");
            return if width(&all) <= max { all } else { String::new() };
        }
        out.push_str(&more(total - k));
        break;
    }
    out
}

/// The holders as a row label: `redis-server[11313]` for one holder, `wrk 200, python3 100` for several,
/// `hidden`, `new` (not looked up yet) or `-` for none; fitted to `max` characters (`usize::MAX`: whole).
pub fn row_label(o: &GroupOwners, procs: &[Arc<ProcessInfo>], max: usize) -> String {
    let names = by_name(o, procs);
    match (names.as_slice(), o.hidden, o.unscanned) {
        ([], 0, 0) => return "-".into(),
        ([], _, 0) => return "hidden".into(),
        ([], 0, _) => return "new".into(),
        ([(name, pids, _)], 0, 0) if pids.len() == 1 => return name_pid(name, pids[0], "", max),
        _ => {}
    }
    let named = names.iter().map(|(n, _, c)| Entry { name: escape(n).into_owned(), tail: format!(" {c}") });
    fit(&named.chain(markers(o)).collect::<Vec<_>>(), max)
}

/// The holders for a group's title, fitted to `max` characters: `wrk[1201] 200, python3[1300] 100`, a
/// name with several processes as `nginx (3 processes) 301`, then `hidden N` and `new N`; `None` when
/// nobody holds the group's sockets or nothing fits.
pub fn title_label(o: &GroupOwners, procs: &[Arc<ProcessInfo>], max: usize) -> Option<String> {
    let named = by_name(o, procs).into_iter().map(|(n, pids, c)| Entry {
        name: escape(&n).into_owned(),
        tail: match pids.as_slice() {
            [pid] => format!("[{pid}] {c}"),
            _ => format!(" ({} processes) {c}", pids.len()),
        },
    });
    let entries: Vec<Entry> = named.chain(markers(o)).collect();
    Some(fit(&entries, max)).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::owners::ProcessMap;

    fn procs() -> Vec<Arc<ProcessInfo>> {
        let p = |pid, comm: &str| Arc::new(ProcessInfo { pid, comm: comm.into(), cmdline: String::new(), uid: 0 });
        vec![p(11313, "redis-server"), p(2001, "wrk"), p(2002, "python3"), p(812, "nginx"), p(813, "nginx")]
    }

    fn held(holders: Vec<(u32, u32)>, hidden: u32) -> GroupOwners {
        GroupOwners { holders, hidden, unscanned: 0 }
    }

    #[test]
    fn one_holder_is_never_cut_inside_its_pid() {
        let o = held(vec![(0, 5)], 0);
        let cases = [
            (40, "redis-server[11313]"),
            (19, "redis-server[11313]"),
            (16, "redis-se…[11313]"),
            (9, "r…[11313]"),
            (8, "[11313]"),
            (3, "re…"),
        ];
        for (max, want) in cases {
            assert_eq!(row_label(&o, &procs(), max), want, "width {max}");
        }
    }

    #[test]
    fn several_holders_biggest_first_with_counts() {
        let o = held(vec![(1, 200), (2, 100)], 0);
        let cases = [
            (40, "wrk 200, python3 100"),
            (20, "wrk 200, python3 100"),
            (19, "wrk 200, +1"),
            (11, "wrk 200, +1"),
            (10, "w… 200, +1"),
            (3, "+2"),
            (1, ""),
        ];
        for (max, want) in cases {
            assert_eq!(row_label(&o, &procs(), max), want, "width {max}");
        }
        assert_eq!(title_label(&o, &procs(), usize::MAX).unwrap(), "wrk[2001] 200, python3[2002] 100");
    }

    /// Regression: the processes of one name counted as the biggest of them (`worker (2 processes) 10` for
    /// two processes holding 20 sockets); they are summed.
    #[test]
    fn workers_of_one_name_are_one_entry_with_their_sockets_summed() {
        let o = held(vec![(3, 301), (4, 299)], 4);
        assert_eq!(row_label(&o, &procs(), 30), "nginx 600, hidden 4");
        assert_eq!(title_label(&o, &procs(), 80).unwrap(), "nginx (2 processes) 600, hidden 4");
        assert_eq!(row_label(&held(vec![], 3), &procs(), 30), "hidden");
        assert_eq!(row_label(&GroupOwners::default(), &procs(), 30), "-");
        assert_eq!(title_label(&GroupOwners::default(), &procs(), 80), None);
    }

    /// Sockets not looked up yet are neither hidden nor nobody's: `new`, counted apart.
    #[test]
    fn sockets_not_looked_up_yet_say_new() {
        let o = GroupOwners { holders: vec![(1, 11)], hidden: 0, unscanned: 9 };
        assert_eq!(row_label(&o, &procs(), 40), "wrk 11, new 9");
        assert_eq!(title_label(&o, &procs(), 80).unwrap(), "wrk[2001] 11, new 9");
        assert_eq!(row_label(&GroupOwners { unscanned: 2, ..GroupOwners::default() }, &procs(), 40), "new");
    }

    /// Regression: the group title was never fitted, so a narrow screen cut it inside a pid
    /// (`python3[121`) and holders past the edge disappeared without a `+N`.
    #[test]
    fn the_title_keeps_whole_holders_then_says_how_many_more() {
        let o = held(vec![(1, 40), (2, 38), (0, 30), (3, 20)], 2);
        let full = "wrk[2001] 40, python3[2002] 38, redis-server[11313] 30, nginx[812] 20, hidden 2";
        let cases = [
            (200, full),
            (full.len(), full),
            (full.len() - 1, "wrk[2001] 40, python3[2002] 38, redis-server[11313] 30, nginx[812] 20, +1"),
            (40, "wrk[2001] 40, python3[2002] 38, +3"),
            (34, "wrk[2001] 40, python3[2002] 38, +3"),
            (33, "wrk[2001] 40, +4"),
            (16, "wrk[2001] 40, +4"),
            (15, "w…[2001] 40, +4"),
            (13, "+5"),
            (1, ""),
        ];
        for (max, want) in cases {
            let got = title_label(&o, &procs(), max).unwrap_or_default();
            assert_eq!(got, want, "width {max}");
            assert!(got.chars().count() <= max, "width {max}: {got}");
        }
        // A single long name shortens with an ellipsis, its pid and count whole.
        let one = held(vec![(0, 7)], 0);
        assert_eq!(title_label(&one, &procs(), 18).unwrap(), "redis-se…[11313] 7");
    }

    /// One lookup per socket, then counting by group: a shared listener counts for each of its holders
    /// (once per name), a TIME-WAIT socket (inode 0) for nobody, an unheld socket of an incomplete scan as
    /// hidden, one not looked up yet as new.
    #[test]
    fn summarize_counts_single_shared_hidden_and_unscanned_holders() {
        use crate::model::{Proto, State};
        use std::net::{IpAddr, Ipv4Addr};
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let sock = |inode, state, peer_port| Socket {
            inode,
            ..Socket::inet(Proto::Tcp, state, (ip, 80), (ip, if state == State::LISTEN { 0 } else { peer_port }))
        };
        let sockets = vec![
            sock(1, State::LISTEN, 0),
            sock(2, State::ESTABLISHED, 40001),
            sock(3, State::ESTABLISHED, 40002),
            sock(4, State::ESTABLISHED, 40003),
            sock(0, State::TIME_WAIT, 40004),
            sock(9, State::ESTABLISHED, 40005),
            sock(10, State::ESTABLISHED, 40006),
            sock(5, State::LISTEN, 0),
        ];
        let ps = procs();
        let a: [(u64, u32); 2] = [(1, 3), (2, 4)];
        let b: [(u64, u32); 3] = [(1, 3), (3, 5), (4, 6)];
        // Two nginx workers share listener 5: one socket for the name.
        let c: [(u64, u32); 1] = [(5, 3)];
        let d: [(u64, u32); 1] = [(5, 3)];
        let map = ProcessMap::build(
            [(ps[1].clone(), &a[..]), (ps[2].clone(), &b[..]), (ps[3].clone(), &c[..]), (ps[4].clone(), &d[..])],
            7,
        );
        let groups = crate::group::group(&sockets);
        assert_eq!(groups.len(), 1);
        let map = Arc::new(map);
        let got = summarize(&sockets, &groups, &Attribution::new(map.clone(), false, None));
        let holders = vec![(1, 3), (0, 2), (2, 1), (3, 0)];
        assert_eq!(got, vec![GroupOwners { holders: holders.clone(), hidden: 2, unscanned: 0 }]);
        // Inode 10 is newer than the last look: not looked up yet.
        let looked = [9].into_iter().collect();
        let got = summarize(&sockets, &groups, &Attribution::new(map.clone(), true, Some(looked)));
        assert_eq!(got, vec![GroupOwners { holders, hidden: 0, unscanned: 1 }]);
        let names = by_name(&got[0], map.processes());
        assert_eq!(names[2], ("nginx".to_string(), vec![812, 813], 1), "both workers named, the socket once");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(name_pid("a\x1b[2Jb", 7, "", 40), "a\\x1b[2Jb[7]");
    }
}
