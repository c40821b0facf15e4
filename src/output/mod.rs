//! Renderers over `impl Write`: the `ss`-style table and JSON / NDJSON. They do no I/O of their own beyond
//! the writer; names (services, interfaces, hosts) are looked up beforehand and passed in [`Names`].

pub mod events;
pub mod json;
pub mod metrics;
pub mod plain;
pub mod recording;
pub mod table;
pub mod tcp_info;

use std::collections::HashMap;
use std::net::IpAddr;

use crate::collect::workloads::Workloads;
use crate::model::Socket;
use crate::model::netns::Workload;
use crate::model::owners::{Holders, Owner, ProcessMap, ProcessRef};
use crate::model::text::escape;
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

    /// `users:(("nginx",pid=812,fd=6),("nginx",pid=813,fd=6))` as `ss -p` prints it, or
    /// `users:(hidden,uid=1000(alice))`; for a UNIX socket also its peer's holders after `->`.
    pub fn process_text(&self, s: &Socket) -> Option<String> {
        let mut out = match self.owner(s)? {
            Owner::Held(h) => users(&h.collect::<Vec<_>>()),
            Owner::Hidden => format!("users:(hidden,{})", self.user(s.uid)),
            Owner::None => "-".to_string(),
        };
        if let (Some(p), Some(peer)) = (&self.processes, s.unix_peer_inode()) {
            let held: Vec<ProcessRef> = p.map.get(peer).collect();
            if !held.is_empty() {
                out.push_str(" -> ");
                out.push_str(&users(&held));
            }
        }
        Some(out)
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
            if let Some(i) = s.ifindex.filter(|i| *i != 0) {
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
                if let Some(name) = crate::sys::reverse_lookup(ip) {
                    self.hosts.insert(ip, name);
                }
            }
        }
    }
}

fn users(held: &[ProcessRef]) -> String {
    let mut s = String::from("users:(");
    let mut first = true;
    for h in held {
        for fd in h.fds {
            if !first {
                s.push(',');
            }
            first = false;
            let comm = crate::model::text::escape(&h.process.comm).replace('"', "\\\"");
            s.push_str(&format!("(\"{comm}\",pid={},fd={fd})", h.process.pid));
        }
    }
    s.push(')');
    s
}

/// Re-exported: it lives in `model` so that `group` (below `output`) can use it too.
pub use crate::model::Bracketed;
