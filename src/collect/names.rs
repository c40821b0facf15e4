//! The names a listing may show instead of numbers, read from the system: IP protocol names (`/etc/protocols`),
//! the command behind a netlink port id, the threads of a process, user names, interface names and reverse DNS.
//! The renderers never read them; the commands call these loaders and hand the maps to `output::Names`.
//! Each loader adds to a map it is given, so that a streamed listing looks each value up once.

use std::collections::HashMap;
use std::io::BufRead;
use std::net::IpAddr;
use std::path::Path;

use crate::model::{Endpoint, Socket};

/// The system's configuration directory, where `protocols` lives.
pub const ETC: &str = "/etc";

/// IP protocol names by number from `ETC/protocols` (`etc` is a parameter so tests can give their own); empty
/// when the file cannot be read.
pub fn protocols(etc: &Path) -> HashMap<u16, String> {
    match std::fs::File::open(etc.join("protocols")) {
        Ok(f) => parse_protocols(std::io::BufReader::new(f)),
        Err(_) => HashMap::new(),
    }
}

/// `/etc/protocols`: `name number aliases...` per line, `#` comments; the first name of a number wins. A line
/// that is not UTF-8 is skipped.
pub fn parse_protocols(text: impl BufRead) -> HashMap<u16, String> {
    let mut m = HashMap::new();
    for line in text.split(b'\n').map_while(Result::ok) {
        let Ok(line) = std::str::from_utf8(&line) else { continue };
        let line = line.split('#').next().unwrap_or("");
        let mut f = line.split_whitespace();
        if let (Some(name), Some(num)) = (f.next(), f.next())
            && let Ok(n) = num.parse::<u16>()
        {
            m.entry(n).or_insert_with(|| name.to_string());
        }
    }
    m
}

/// Name the processes behind netlink port ids (ss shows `rtnl:systemd/1`): the `comm` of each port id that is
/// a process id, added to `owners`.
pub fn netlink_owners(socks: &[Socket], proc_root: &Path, owners: &mut HashMap<i32, String>) {
    for s in socks {
        if let Endpoint::Netlink { portid, .. } = s.local
            && portid > 0
            && !owners.contains_key(&portid)
            && let Ok(comm) = std::fs::read(proc_root.join(portid.to_string()).join("comm"))
        {
            owners.insert(portid, super::process::parse::parse_comm(&comm));
        }
    }
}

/// `-T`: the thread ids of each of `pids` (`/proc/PID/task`), sorted; empty for a process that is gone.
pub fn threads(pids: impl IntoIterator<Item = u32>, proc_root: &Path) -> HashMap<u32, Vec<u32>> {
    let mut t = HashMap::new();
    for pid in pids {
        let mut tids: Vec<u32> = std::fs::read_dir(proc_root.join(pid.to_string()).join("task"))
            .map(|rd| rd.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
            .unwrap_or_default();
        tids.sort_unstable();
        t.insert(pid, tids);
    }
    t
}

/// The user names of the sockets' owners (the password database), added to `users`.
pub fn users(socks: &[Socket], users: &mut HashMap<u32, String>) {
    for s in socks {
        if let Some(u) = s.uid
            && !users.contains_key(&u)
            && let Some(n) = crate::sys::user_name(u)
        {
            users.insert(u, n);
        }
    }
}

/// The interface names the sockets refer to (one `if_indextoname` per distinct index; the number when the
/// index has no name), added to `interfaces`.
pub fn interfaces(socks: &[Socket], interfaces: &mut HashMap<u32, String>) {
    for s in socks {
        let link = match s.local {
            Endpoint::Link { ifindex, .. } => Some(ifindex),
            _ => None,
        };
        for i in [s.ifindex, link].into_iter().flatten().filter(|i| *i != 0) {
            interfaces.entry(i).or_insert_with(|| crate::sys::interface_name(i).unwrap_or_else(|| i.to_string()));
        }
    }
}

/// Reverse-resolve every distinct address (slow: DNS), added to `hosts`. Addresses without a name stay out.
pub fn hosts(socks: &[Socket], hosts: &mut HashMap<IpAddr, String>) {
    for s in socks {
        for ip in [s.local.ip(), s.peer.ip()].into_iter().flatten() {
            if ip.is_unspecified() || hosts.contains_key(&ip) {
                continue;
            }
            // glibc (and so ss) looks a v4-mapped address up as the IPv4 address it holds.
            let lookup = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                v4 => v4,
            };
            if let Some(name) = crate::sys::reverse_lookup(lookup) {
                hosts.insert(ip, name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_file_names_numbers_first_name_wins() {
        let text =
            "# comment\nip 0 IP\nicmp\t1 ICMP # internet control\nbad x\n\nalso-icmp 1\nipv6-icmp 58 IPv6-ICMP\n";
        let m = parse_protocols(text.as_bytes());
        assert_eq!(m.len(), 3);
        assert_eq!(m[&0], "ip");
        assert_eq!(m[&1], "icmp");
        assert_eq!(m[&58], "ipv6-icmp");
    }

    #[test]
    fn protocols_are_read_from_the_given_root() {
        let dir = std::env::temp_dir().join(format!("sockscope-protocols-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("protocols"), b"tcp 6 TCP\n\xff\xfe 7\nudp 17 UDP\n").unwrap();
        let m = protocols(&dir);
        assert_eq!((m.get(&6).map(String::as_str), m.get(&17).map(String::as_str)), (Some("tcp"), Some("udp")));
        assert!(protocols(&dir.join("missing")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn netlink_owners_and_threads_come_from_the_proc_root() {
        let dir = std::env::temp_dir().join(format!("sockscope-names-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("42/task/42")).unwrap();
        std::fs::create_dir_all(dir.join("42/task/44")).unwrap();
        std::fs::create_dir_all(dir.join("42/task/43")).unwrap();
        std::fs::write(dir.join("42/comm"), "sys temd)\n").unwrap();
        let any = (std::net::Ipv4Addr::UNSPECIFIED.into(), 0);
        let mut s = Socket::inet(crate::model::Proto::Netlink, crate::model::State::CLOSE, any, any);
        s.local = Endpoint::Netlink { protocol: 0, portid: 42 };
        let mut missing = s.clone();
        missing.local = Endpoint::Netlink { protocol: 0, portid: 7 };
        let mut owners = HashMap::new();
        netlink_owners(&[s, missing], &dir, &mut owners);
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[&42], "sys temd)");
        let t = threads([42, 9], &dir);
        assert_eq!(t[&42], [42, 43, 44]);
        assert!(t[&9].is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
