//! Who is behind each socket: the namespace table of a snapshot plus the workload (container, systemd unit,
//! cgroup) of every process holding a socket, and the containers `docker-proxy` listeners forward to.
//!
//! A socket's workload is its holder's (with process attribution), else its namespace's when that namespace
//! belongs to a container (its first process runs in one). A `docker-proxy` socket is labelled with the
//! container whose address its command line (`-container-ip X -container-port Y`) names.

use std::net::IpAddr;
use std::path::Path;

use super::cgroup::{Namer, read_capped};
use super::process::ProcessMap;
use crate::hash::FastMap;
use crate::model::Socket;
use crate::model::netns::{Namespaces, NetnsId, Workload};

/// The command name of Docker's userland port forwarder.
const DOCKER_PROXY: &str = "docker-proxy";

/// The per-snapshot attribution tables.
#[derive(Debug, Clone, Default)]
pub struct Workloads {
    pub namespaces: Namespaces,
    /// The workload of each socket-holding process, by pid (absent: its cgroup could not be read).
    by_pid: FastMap<u32, Workload>,
    /// Socket inodes held by a docker-proxy -> the namespace it forwards into.
    proxies: FastMap<u64, NetnsId>,
}

/// `docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80`
/// -> (172.17.0.2, 80). Flags may be written `-flag value` or `-flag=value` (Go's flag package; `--` too).
pub fn proxy_target(cmdline: &str) -> Option<(IpAddr, u16)> {
    let words: Vec<&str> = cmdline.split_whitespace().collect();
    let value = |flag: &str| {
        words.iter().enumerate().find_map(|(i, w)| {
            let w = w.trim_start_matches('-');
            if w == flag { words.get(i + 1).copied() } else { w.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) }
        })
    };
    Some((value("container-ip")?.parse().ok()?, value("container-port")?.parse().ok()?))
}

/// The local IPv4 addresses of a namespace from its `/proc/PID/net/fib_trie` (the `/32 host LOCAL` leaves).
pub fn fib_trie_locals(text: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut last: Option<IpAddr> = None;
    for line in text.lines() {
        let t = line.trim_start_matches([' ', '|', '+', '-']).trim();
        if let Ok(ip) = t.parse::<IpAddr>() {
            last = Some(ip);
        } else if t.starts_with("/32 host LOCAL")
            && let Some(ip) = last
            && !out.contains(&ip)
        {
            out.push(ip);
        }
    }
    out
}

/// The local IPv6 addresses from `/proc/PID/net/if_inet6` (32 hex digits first on each line).
pub fn if_inet6_locals(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let hex = l.split_whitespace().next()?;
            let v = u128::from_str_radix(hex, 16).ok()?;
            (hex.len() == 32).then(|| IpAddr::V6(v.into()))
        })
        .collect()
}

impl Workloads {
    /// What a filter is bound with (see `filter::bind`): the snapshot's namespaces (the caller's own when it
    /// has none), and, only when the filter has workload terms (`workloads`), the workload of each holder in
    /// `map`.
    pub fn for_filter(
        namespaces: &Namespaces,
        map: Option<&ProcessMap>,
        workloads: bool,
        proc_root: &Path,
        namer: &mut Namer,
    ) -> Workloads {
        let namespaces = if namespaces.is_empty() { Self::own_namespace(proc_root) } else { namespaces.clone() };
        if workloads {
            Workloads::load(namespaces, map, proc_root, namer)
        } else {
            Workloads { namespaces, ..Workloads::default() }
        }
    }

    /// The namespace table of a command that looks only at its own namespace: that one namespace (none when
    /// its inode cannot be read), so that `netns` terms bind against it.
    pub fn own_namespace(proc_root: &Path) -> Namespaces {
        match super::netns::own_inode(proc_root) {
            Ok(inode) => Namespaces(vec![crate::model::netns::Namespace { inode, ..Default::default() }]),
            Err(_) => Namespaces::default(),
        }
    }

    /// Build the tables: the workload of every process in `map` (one `/proc/PID/cgroup` read each) and the
    /// docker-proxy targets. Without a map, when several namespaces are shown, the docker-proxy processes are
    /// found by a targeted scan (one `comm` read per process).
    pub fn load(namespaces: Namespaces, map: Option<&ProcessMap>, proc_root: &Path, namer: &mut Namer) -> Workloads {
        let mut w = Workloads { namespaces, ..Workloads::default() };
        let targeted;
        let map = match map {
            Some(m) => {
                for p in m.processes() {
                    if let Some(wl) = namer.process(p.pid) {
                        w.by_pid.insert(p.pid, wl);
                    }
                }
                m
            }
            None if w.namespaces.len() > 1 => match super::process::scan_named(proc_root, &|c| c == DOCKER_PROXY) {
                Ok(scan) => {
                    targeted = scan.map;
                    &targeted
                }
                Err(_) => return w,
            },
            None => return w,
        };
        let mut locals: Option<Vec<(NetnsId, Vec<IpAddr>)>> = None;
        for inode in map.inodes() {
            for h in map.get(inode).filter(|h| h.process.comm == DOCKER_PROXY) {
                let Some((ip, _port)) = proxy_target(&h.process.cmdline) else { continue };
                let locals = locals.get_or_insert_with(|| namespace_locals(&w.namespaces, proc_root));
                if let Some((id, _)) = locals.iter().find(|(_, ips)| ips.contains(&ip)) {
                    w.proxies.insert(inode, *id);
                }
            }
        }
        w
    }

    /// Are some sockets labelled apart from their namespace (docker-proxy sockets, holders' workloads)?
    pub fn labels_sockets(&self) -> bool {
        !self.proxies.is_empty() || !self.by_pid.is_empty()
    }

    /// The namespace's workload when the namespace belongs to a container.
    fn namespace_container(&self, id: NetnsId) -> Option<&Workload> {
        self.namespaces.get(id)?.owner.as_ref().filter(|o| o.container.is_some())
    }

    /// The workload behind `s`: a docker-proxy's target container, its holder's, else its namespace's.
    pub fn of(&self, s: &Socket, map: Option<&ProcessMap>) -> Option<&Workload> {
        if let Some(ns) = self.proxies.get(&s.inode).filter(|_| s.inode != 0) {
            return self.namespace_container(*ns);
        }
        if let Some(map) = map.filter(|_| s.inode != 0) {
            let held = map.get(s.inode).find_map(|h| self.by_pid.get(&h.process.pid));
            let in_container = |w: &&Workload| w.container.is_some() || self.namespace_container(s.netns).is_none();
            if let Some(w) = held.filter(in_container) {
                return Some(w);
            }
        }
        self.namespace_container(s.netns)
    }

    /// What a filter term resolves to: the namespace ids, the pids and the (docker-proxy) socket inodes whose
    /// workload `keep` accepts.
    pub fn matching(&self, keep: &dyn Fn(&Workload) -> bool) -> (Vec<NetnsId>, Vec<u32>, Vec<u64>) {
        let ns =
            (0..self.namespaces.len() as NetnsId).filter(|i| self.namespace_container(*i).is_some_and(keep)).collect();
        let pids = self.by_pid.iter().filter(|(_, w)| keep(w)).map(|(p, _)| *p).collect();
        let inodes =
            self.proxies.iter().filter(|(_, ns)| self.namespace_container(**ns).is_some_and(keep)).map(|(i, _)| *i);
        (ns, pids, inodes.collect())
    }
}

fn namespace_locals(namespaces: &Namespaces, proc_root: &Path) -> Vec<(NetnsId, Vec<IpAddr>)> {
    let mut out = Vec::new();
    for (i, ns) in namespaces.0.iter().enumerate() {
        let Some(pid) = ns.pid else { continue };
        let dir = proc_root.join(pid.to_string()).join("net");
        let mut ips = Vec::new();
        if let Some(t) = read_capped(&dir.join("fib_trie"), 16 << 20) {
            ips.extend(fib_trie_locals(&String::from_utf8_lossy(&t)));
        }
        if let Some(t) = read_capped(&dir.join("if_inet6"), 1 << 20) {
            ips.extend(if_inet6_locals(&String::from_utf8_lossy(&t)));
        }
        out.push((i as NetnsId, ips));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_proxy_command_lines() {
        let c = "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 \
                 -container-port 80";
        assert_eq!(proxy_target(c), Some(("172.17.0.2".parse().unwrap(), 80)));
        let c = "docker-proxy --container-ip=fd00::2 --container-port=443 -use-listen-fd";
        assert_eq!(proxy_target(c), Some(("fd00::2".parse().unwrap(), 443)));
        assert_eq!(proxy_target("docker-proxy -container-ip 172.17.0.2"), None);
        assert_eq!(proxy_target("docker-proxy -container-ip nope -container-port 1"), None);
        assert_eq!(proxy_target(""), None);
    }

    #[test]
    fn local_addresses() {
        let fib = "\
Main:
  +-- 0.0.0.0/0 3 0 5
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 172.17.0.0/16 2 0 2
        |-- 172.17.0.2
           /32 host LOCAL
        |-- 172.17.255.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
        |-- 172.17.0.2
           /32 host LOCAL
";
        let ips: Vec<String> = fib_trie_locals(fib).iter().map(|i| i.to_string()).collect();
        assert_eq!(ips, vec!["127.0.0.1", "172.17.0.2"]);
        let v6 = "00000000000000000000000000000001 01 80 10 80       lo\nfd000000000000000000000000000002 02 40 00 80 eth0\n";
        let ips: Vec<String> = if_inet6_locals(v6).iter().map(|i| i.to_string()).collect();
        assert_eq!(ips, vec!["::1", "fd00::2"]);
    }
}
