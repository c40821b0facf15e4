//! Who holds a group's sockets: every holder counted over all of the group's sockets (not only its first
//! one, which may be a TIME-WAIT socket that nobody holds), the biggest first, and the labels the dashboard
//! draws from that. A label is fitted to its column by shortening the process name with an ellipsis, never
//! by cutting inside a pid or a count.

use std::sync::Arc;

use crate::group::Group;
use crate::model::Socket;
use crate::model::owners::{Owner, ProcessInfo, ProcessMap};
use crate::model::text::escape;

/// The holders of one group's sockets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupOwners {
    /// (index into the process list, sockets it holds), most sockets first, then by pid.
    pub holders: Vec<(u32, u32)>,
    /// Sockets whose owner is [`Owner::Hidden`] (the one rule, [`ProcessMap::owner`]).
    pub hidden: u32,
}

/// What one socket's lookup gave ([`codes`]), in 4 bytes: a single holder's process index, or a marker.
const NOBODY: u32 = u32::MAX;
/// An inode no visible process holds: hidden, or nobody's when every process could be inspected.
pub const UNHELD: u32 = u32::MAX - 1;
/// Several holders: looked up again when counted (rare: a listener shared by pre-forked workers).
const SEVERAL: u32 = u32::MAX - 2;

/// Each socket's holders in `map`, in 4 bytes, in snapshot order: one lookup per socket, reading the big
/// table in order. The collector computes them once a refresh; the sockets [`UNHELD`] are the ones the
/// process cache is asked about.
pub fn codes(sockets: &[Socket], map: &ProcessMap) -> Vec<u32> {
    let code = |inode: u64| match map.owner_indices(inode, true) {
        _ if inode == 0 => NOBODY,
        Owner::Held(mut holders) => match (holders.next(), holders.next()) {
            (Some(p), None) if p < SEVERAL => p,
            _ => SEVERAL,
        },
        Owner::Hidden | Owner::None => UNHELD,
    };
    sockets.iter().map(|s| code(s.inode)).collect()
}

/// Count the holders of every socket of every group from the sockets' [`codes`] in `map` (computed here
/// when `codes` does not match `sockets`). Groups list their sockets in an order that jumps all over the
/// snapshot: at 200k sockets reading the 168-byte records at random costs more than the lookups, so the
/// groups count from the 4-byte answers.
pub fn summarize(
    sockets: &[Socket],
    groups: &[Group],
    map: &ProcessMap,
    complete: bool,
    codes: &[u32],
) -> Vec<GroupOwners> {
    let fresh;
    let codes = if codes.len() == sockets.len() {
        codes
    } else {
        fresh = self::codes(sockets, map);
        &fresh
    };
    groups
        .iter()
        .map(|g| {
            let mut out = GroupOwners::default();
            let mut count = |p: u32| match out.holders.iter_mut().find(|h| h.0 == p) {
                Some(h) => h.1 += 1,
                None => out.holders.push((p, 1)),
            };
            let mut hidden = 0;
            for &i in g.listeners.iter().chain(&g.members) {
                match codes.get(i as usize).copied().unwrap_or(NOBODY) {
                    NOBODY => {}
                    UNHELD => hidden += u32::from(!complete),
                    SEVERAL => {
                        if let Owner::Held(holders) = map.owner_indices(sockets[i as usize].inode, complete) {
                            holders.for_each(&mut count);
                        }
                    }
                    p => count(p),
                }
            }
            out.hidden = hidden;
            let procs = map.processes();
            let pid = |p: u32| procs.get(p as usize).map_or(0, |x| x.pid);
            out.holders.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| pid(a.0).cmp(&pid(b.0))));
            out
        })
        .collect()
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
pub fn by_name(o: &GroupOwners, procs: &[Arc<ProcessInfo>]) -> Vec<(String, Vec<u32>, u32)> {
    let mut out: Vec<(String, Vec<u32>, u32)> = Vec::new();
    for &(p, n) in &o.holders {
        let Some(info) = procs.get(p as usize) else { continue };
        match out.iter_mut().find(|e| e.0 == info.comm) {
            Some(e) => {
                e.1.push(info.pid);
                e.2 = e.2.max(n);
            }
            None => out.push((info.comm.clone(), vec![info.pid], n)),
        }
    }
    // A socket held by several processes of one name (a listener shared by workers) counts once for it:
    // the name's count is its busiest process's, which is exact for the usual pre-fork servers.
    out.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    out
}

/// The Process cell of a group row: `redis-server[11313]` for one holder, `wrk 200, python3 100` for
/// several, `hidden` or `-` for none; fitted to `max` characters. Entries that do not fit are replaced by
/// `+N` (N more names), never cut.
pub fn row_label(o: &GroupOwners, procs: &[Arc<ProcessInfo>], max: usize) -> String {
    let names = by_name(o, procs);
    match (names.as_slice(), o.hidden) {
        ([], 0) => return "-".into(),
        ([], _) => return "hidden".into(),
        ([(name, pids, _)], 0) if pids.len() == 1 => return name_pid(name, pids[0], "", max),
        _ => {}
    }
    let mut entries: Vec<String> = names.iter().map(|(n, _, c)| format!("{} {c}", escape(n))).collect();
    if o.hidden > 0 {
        entries.push(format!("hidden {}", o.hidden));
    }
    let total = entries.len();
    let mut out = String::new();
    for (k, e) in entries.iter().enumerate() {
        let sep = if k == 0 { "" } else { ", " };
        let left = total - k - 1;
        let more = if left > 0 { format!(", +{left}") } else { String::new() };
        // Take this entry if it fits with room for the "+N" that would follow it.
        if width(&out) + width(sep) + width(e) + width(&more) <= max
            || (left == 0 && width(&out) + width(sep) + width(e) <= max)
        {
            out.push_str(sep);
            out.push_str(e);
            continue;
        }
        let rest = format!("{sep}+{}", total - k);
        if k == 0 {
            // Not even the first entry fits: shorten its name, keep its count and the rest marker.
            let count = format!(" {}", names.first().map_or(o.hidden, |n| n.2));
            let rest = if total > 1 { format!(", +{}", total - 1) } else { String::new() };
            let room = max.saturating_sub(width(&count) + width(&rest));
            if room >= 2 {
                let name = names.first().map_or("hidden".to_string(), |n| escape(&n.0).into_owned());
                return format!("{}{count}{rest}", ellipsize(&name, room));
            }
            return ellipsize(&entries.join(", "), max);
        }
        if width(&out) + width(&rest) <= max {
            out.push_str(&rest);
        }
        break;
    }
    out
}

/// The holders for a group's title, untruncated: `wrk[1201] 200, python3[1300] 100`, a name with several
/// processes as `nginx (3 processes) 301`, then `hidden N`.
pub fn title_label(o: &GroupOwners, procs: &[Arc<ProcessInfo>]) -> Option<String> {
    let mut entries: Vec<String> = by_name(o, procs)
        .into_iter()
        .map(|(n, pids, c)| match pids.as_slice() {
            [pid] => format!("{}[{pid}] {c}", escape(&n)),
            _ => format!("{} ({} processes) {c}", escape(&n), pids.len()),
        })
        .collect();
    if o.hidden > 0 {
        entries.push(format!("hidden {}", o.hidden));
    }
    (!entries.is_empty()).then(|| entries.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn procs() -> Vec<Arc<ProcessInfo>> {
        let p = |pid, comm: &str| Arc::new(ProcessInfo { pid, comm: comm.into(), cmdline: String::new(), uid: 0 });
        vec![p(11313, "redis-server"), p(2001, "wrk"), p(2002, "python3"), p(812, "nginx"), p(813, "nginx")]
    }

    #[test]
    fn one_holder_is_never_cut_inside_its_pid() {
        let o = GroupOwners { holders: vec![(0, 5)], hidden: 0 };
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
        let o = GroupOwners { holders: vec![(1, 200), (2, 100)], hidden: 0 };
        let cases = [
            (40, "wrk 200, python3 100"),
            (20, "wrk 200, python3 100"),
            (19, "wrk 200, +1"),
            (11, "wrk 200, +1"),
            (10, "w… 200, +1"),
        ];
        for (max, want) in cases {
            assert_eq!(row_label(&o, &procs(), max), want, "width {max}");
        }
        assert_eq!(title_label(&o, &procs()).unwrap(), "wrk[2001] 200, python3[2002] 100");
    }

    #[test]
    fn workers_of_one_name_are_one_entry_and_hidden_is_counted() {
        let o = GroupOwners { holders: vec![(3, 301), (4, 301)], hidden: 4 };
        assert_eq!(row_label(&o, &procs(), 30), "nginx 301, hidden 4");
        assert_eq!(title_label(&o, &procs()).unwrap(), "nginx (2 processes) 301, hidden 4");
        assert_eq!(row_label(&GroupOwners { holders: vec![], hidden: 3 }, &procs(), 30), "hidden");
        assert_eq!(row_label(&GroupOwners::default(), &procs(), 30), "-");
        assert_eq!(title_label(&GroupOwners::default(), &procs()), None);
    }

    /// One lookup per socket, then counting by group: a shared listener counts for each of its holders, a
    /// TIME-WAIT socket (inode 0) for nobody, an unheld socket of an incomplete scan as hidden.
    #[test]
    fn summarize_counts_single_shared_and_hidden_holders() {
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
        ];
        let (p0, p1) = (procs()[1].clone(), procs()[2].clone());
        let a: [(u64, u32); 2] = [(1, 3), (2, 4)];
        let b: [(u64, u32); 3] = [(1, 3), (3, 5), (4, 6)];
        let map = ProcessMap::build([(p0, &a[..]), (p1, &b[..])], 5);
        let groups = crate::group::group(&sockets);
        assert_eq!(groups.len(), 1);
        let got = summarize(&sockets, &groups, &map, false, &[]);
        assert_eq!(got, vec![GroupOwners { holders: vec![(1, 3), (0, 2)], hidden: 1 }]);
        let got = summarize(&sockets, &groups, &map, true, &codes(&sockets, &map));
        assert_eq!(got, vec![GroupOwners { holders: vec![(1, 3), (0, 2)], hidden: 0 }]);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(name_pid("a\x1b[2Jb", 7, "", 40), "a\\x1b[2Jb[7]");
    }
}
