//! Renderers over `impl Write`: the `ss`-style table and JSON / NDJSON. They do no I/O of their own beyond
//! the writer; names (services, interfaces, hosts) are looked up beforehand and passed in [`Names`].

pub mod events;
pub mod json;
pub mod metrics;
pub mod plain;
pub mod recording;
pub mod summary;
pub mod table;
pub mod tcp_info;

use std::collections::HashMap;
use std::net::IpAddr;

use crate::collect::workloads::Workloads;
use crate::model::netns::Workload;
use crate::model::owners::{Holders, Owner, ProcessMap, ProcessRef};
use crate::model::text::escape;
use crate::model::{Proto, Socket};
use crate::ports::services::Services;

/// Who holds each socket (`-p`).
#[derive(Debug, Default)]
pub struct Processes {
    pub map: ProcessMap,
    /// Every process's fd table could be read: a socket without a holder really has none.
    pub complete: bool,
}

/// Names the renderers may show instead of numbers.
#[derive(Debug, Default)]
pub struct Names {
    /// Service names for ports; `None` with `-n`.
    pub services: Option<Services>,
    /// Interface names by index, for sockets bound to a device (`127.0.0.1%lo`).
    pub interfaces: HashMap<u32, String>,
    /// Host names by address (`-r` only).
    pub hosts: HashMap<IpAddr, String>,
    /// Socket holders, with `-p`.
    pub processes: Option<Processes>,
    /// User names by uid, for sockets whose process is hidden.
    pub users: HashMap<u32, String>,
    /// `-n`: numbers instead of protocol names (raw, packet, netlink) and of netlink port owners.
    pub numeric: bool,
    /// The host's ephemeral port range: ss shows no service names for ports in it.
    pub ephemeral: Option<(u16, u16)>,
    /// IP protocol names by number (`/etc/protocols`), the "port" of raw sockets.
    pub protocols: HashMap<u16, String>,
    /// The command of each netlink port id that is a process id (`comm` from `/proc/PID/stat`).
    pub netlink_owners: HashMap<i32, String>,
    /// cgroup v2 paths by cgroup id, for `-e` and `--cgroup`; `None` when no cgroup2 file system is mounted.
    pub cgroups: Option<HashMap<u64, String>>,
    /// `-T`: the thread ids of each holding process (ss lists one entry per thread).
    pub threads: Option<HashMap<u32, Vec<u32>>>,
    /// Namespaces and workloads (containers, units) behind the sockets.
    pub workloads: Workloads,
    /// Show the namespace column (more than one namespace is listed).
    pub netns_column: bool,
}

impl Names {
    /// Who holds `s`; `None` when `-p` was not asked for.
    pub fn owner(&self, s: &Socket) -> Option<Owner<Holders<'_>>> {
        self.processes.as_ref().map(|p| p.map.owner(s.inode, p.complete))
    }

    /// `users:(("nginx",pid=813,fd=6),("nginx",pid=812,fd=6))` as `ss -p` prints it (latest pid and fd
    /// first, as ss's scan leaves them), or `users:(hidden,uid=1000(alice))` when the holder may be a process
    /// that could not be inspected; `None` without `-p` or when nothing holds the socket (ss prints nothing).
    pub fn process_text(&self, s: &Socket) -> Option<String> {
        match self.owner(s)? {
            Owner::None | Owner::NotLookedUp => None,
            Owner::Held(h) => Some(users(&h.collect::<Vec<_>>(), self.threads.as_ref())),
            Owner::Hidden => Some(format!("users:(hidden,{})", self.user(s.uid))),
        }
    }

    /// The service name ss shows for `port`: from the services file only, never for a port in the
    /// ephemeral range; for raw sockets the "port" is the IP protocol, named from `/etc/protocols`.
    pub fn port_name(&self, proto: Proto, port: u16) -> Option<&str> {
        if self.numeric {
            return None;
        }
        if proto == Proto::Raw {
            return self.protocols.get(&port).map(|s| s.as_str());
        }
        let services = self.services.as_ref()?;
        if self.ephemeral.is_some_and(|(lo, hi)| (lo..=hi).contains(&port)) {
            return None;
        }
        let lookup = match proto {
            Proto::Mptcp | Proto::Sctp => Proto::Tcp,
            p => p,
        };
        services
            .service(lookup, port)
            .filter(|sv| sv.source == crate::ports::services::ServiceSource::File)
            .map(|sv| sv.name)
    }

    /// The cgroup path of `id` as ss prints it: the path under the cgroup2 mount, or `unreachable:ID` (hex).
    pub fn cgroup_path(&self, id: u64) -> String {
        match self.cgroups.as_ref().and_then(|m| m.get(&id)) {
            Some(p) => p.clone(),
            None => format!("unreachable:{id:x}"),
        }
    }

    /// Name the processes behind netlink port ids (ss shows `rtnl:systemd/1`).
    pub fn load_netlink_owners(&mut self, socks: &[Socket], proc_root: &std::path::Path) {
        for s in socks {
            if let crate::model::Endpoint::Netlink { portid, .. } = s.local
                && portid > 0
                && !self.netlink_owners.contains_key(&portid)
                && let Ok(stat) = std::fs::read_to_string(proc_root.join(portid.to_string()).join("stat"))
                && let (Some(open), Some(close)) = (stat.find(" ("), stat.rfind(')'))
                && let Some(comm) = stat.get(open + 2..close)
            {
                self.netlink_owners.insert(portid, comm.to_string());
            }
        }
    }

    /// `-T`: list the threads of every process that holds a socket (`/proc/PID/task`).
    pub fn load_threads(&mut self, proc_root: &std::path::Path) {
        let Some(p) = &self.processes else { return };
        let mut t = HashMap::new();
        for pid in p.map.pids() {
            let mut tids: Vec<u32> = std::fs::read_dir(proc_root.join(pid.to_string()).join("task"))
                .map(|rd| rd.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
                .unwrap_or_default();
            tids.sort_unstable();
            t.insert(pid, tids);
        }
        self.threads = Some(t);
    }

    /// Read `/etc/protocols` when raw sockets are shown with names.
    pub fn load_protocols(&mut self, socks: &[Socket]) {
        // Once per listing: the batches of a stream each ask.
        if self.numeric || !self.protocols.is_empty() || !socks.iter().any(|s| s.proto == Proto::Raw) {
            return;
        }
        if let Ok(text) = std::fs::read_to_string("/etc/protocols") {
            self.protocols = parse_protocols(&text);
        }
    }

    /// Map cgroup ids to paths by walking the cgroup2 mount (the id is the directory's inode number).
    pub fn load_cgroups(&mut self, proc_root: &std::path::Path) {
        let Some(root) = crate::collect::cgroup::cgroup2_root(proc_root) else { return };
        let mut map = HashMap::new();
        let mut stack = vec![(root.clone(), String::from("/"))];
        while let Some((dir, path)) = stack.pop() {
            use std::os::unix::fs::MetadataExt;
            if let Ok(md) = std::fs::metadata(&dir) {
                map.insert(md.ino(), path.clone());
            }
            if map.len() > 100_000 {
                break;
            }
            let Ok(rd) = std::fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let child = if path == "/" { format!("/{name}") } else { format!("{path}/{name}") };
                    stack.push((e.path(), child));
                }
            }
        }
        self.cgroups = Some(map);
    }

    /// The workload (container, unit) behind a socket.
    pub fn workload(&self, s: &Socket) -> Option<&Workload> {
        self.workloads.of(s, self.processes.as_ref().map(|p| &p.map))
    }

    /// The namespace column's text: the namespace's label, and the socket's container when that is another
    /// one (a host-network container, a docker-proxy's target). Escaped for a terminal.
    pub fn netns_text(&self, s: &Socket) -> String {
        let ns = self.workloads.namespaces.get(s.netns);
        let mut text = self.netns_label(s.netns);
        let ns_container = ns.and_then(|n| n.owner.as_ref()).and_then(|o| o.container.as_ref());
        if let Some(c) = self.workload(s).and_then(|w| w.container.as_ref()).filter(|c| Some(*c) != ns_container) {
            text.push(' ');
            text.push_str(&escape(&c.label()));
        }
        text
    }

    /// The label of namespace `id` (escaped), `-` when the table does not have it.
    pub fn netns_label(&self, id: crate::model::netns::NetnsId) -> String {
        self.workloads.namespaces.get(id).map_or_else(|| "-".to_string(), |n| escape(&n.label()).into_owned())
    }

    fn user(&self, uid: Option<u32>) -> String {
        match uid {
            Some(u) => match self.users.get(&u) {
                Some(n) => format!("uid={u}({n})"),
                None => format!("uid={u}"),
            },
            None => "uid=?".into(),
        }
    }

    /// Look up the names of the owners of sockets whose process is hidden.
    pub fn load_users(&mut self, socks: &[Socket]) {
        if self.processes.as_ref().is_none_or(|p| p.complete) {
            return;
        }
        for s in socks {
            if let Some(u) = s.uid
                && !self.users.contains_key(&u)
                && let Some(n) = crate::sys::user_name(u)
            {
                self.users.insert(u, n);
            }
        }
    }

    /// Look up the interface names the sockets refer to (one `if_indextoname` per distinct index).
    pub fn load_interfaces(&mut self, socks: &[Socket]) {
        for s in socks {
            let link = match s.local {
                crate::model::Endpoint::Link { ifindex, .. } => Some(ifindex),
                _ => None,
            };
            for i in [s.ifindex, link].into_iter().flatten().filter(|i| *i != 0) {
                self.interfaces
                    .entry(i)
                    .or_insert_with(|| crate::sys::interface_name(i).unwrap_or_else(|| i.to_string()));
            }
        }
    }

    /// Reverse-resolve every distinct address (slow: DNS). Addresses without a name stay numeric.
    pub fn resolve_hosts(&mut self, socks: &[Socket]) {
        for s in socks {
            for ip in [s.local.ip(), s.peer.ip()].into_iter().flatten() {
                if ip.is_unspecified() || self.hosts.contains_key(&ip) {
                    continue;
                }
                // glibc (and so ss) looks a v4-mapped address up as the IPv4 address it holds.
                let lookup = match ip {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                    v4 => v4,
                };
                if let Some(name) = crate::sys::reverse_lookup(lookup) {
                    self.hosts.insert(ip, name);
                }
            }
        }
    }
}

fn users(held: &[ProcessRef], threads: Option<&HashMap<u32, Vec<u32>>>) -> String {
    // (pid, tid, fd, comm); tid 0 without -T.
    let mut all: Vec<(u32, u32, u32, &str)> = Vec::new();
    for h in held {
        let pid = h.process.pid;
        let tids: &[u32] = match threads.and_then(|t| t.get(&pid)) {
            Some(t) if !t.is_empty() => t,
            _ if threads.is_some() => std::slice::from_ref(&pid),
            _ => &[0],
        };
        for fd in h.fds {
            for tid in tids {
                all.push((pid, *tid, *fd, h.process.comm.as_str()));
            }
        }
    }
    // ss lists the holders in the reverse of its /proc scan: highest pid first, then (with -T) highest
    // thread, then highest fd.
    all.sort_unstable_by_key(|&(pid, tid, fd, _)| std::cmp::Reverse((pid, fd, tid)));
    let mut s = String::from("users:(");
    for (i, (pid, tid, fd, comm)) in all.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let comm = crate::model::text::escape(comm).replace('"', "\\\"");
        if threads.is_some() {
            s.push_str(&format!("(\"{comm}\",pid={pid},tid={tid},fd={fd})"));
        } else {
            s.push_str(&format!("(\"{comm}\",pid={pid},fd={fd})"));
        }
    }
    s.push(')');
    s
}

/// `/etc/protocols`: `name number aliases...` per line, `#` comments.
pub fn parse_protocols(text: &str) -> HashMap<u16, String> {
    let mut m = HashMap::new();
    for line in text.lines() {
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

/// Re-exported: it lives in `model` so that `group` (below `output`) can use it too.
pub use crate::model::Bracketed;
