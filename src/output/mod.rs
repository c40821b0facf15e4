//! Renderers over `impl Write`: the `ss`-style table and JSON / NDJSON. They do no I/O of their own beyond
//! the writer; names (services, interfaces, hosts, protocols, cgroups, threads) are looked up beforehand by the
//! commands (loaders in `collect::names` and `collect::cgroup`) and passed in [`Names`].

pub mod doctor;
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
        let comm = crate::model::text::escape_quoted(comm);
        if threads.is_some() {
            s.push_str(&format!("(\"{comm}\",pid={pid},tid={tid},fd={fd})"));
        } else {
            s.push_str(&format!("(\"{comm}\",pid={pid},fd={fd})"));
        }
    }
    s.push(')');
    s
}

/// Re-exported: it lives in `model` so that `group` (below `output`) can use it too.
pub use crate::model::Bracketed;
