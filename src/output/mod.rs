//! Renderers over `impl Write`: the `ss`-style table and JSON / NDJSON. They do no I/O of their own beyond
//! the writer; names (services, interfaces, hosts) are looked up beforehand and passed in [`Names`].

pub mod json;
pub mod table;

use std::collections::HashMap;
use std::net::IpAddr;

use crate::collect::process::{ProcessMap, ProcessRef};
use crate::model::Socket;
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
}

/// How a socket's owning processes are shown.
#[derive(Debug, Clone)]
pub enum Owner<'a> {
    /// `-p` was not asked for.
    NotAsked,
    /// The processes holding it.
    Held(Vec<ProcessRef<'a>>),
    /// Some processes could not be inspected (another user's, without privilege): the holder may be one of
    /// them. The socket's owner uid is known.
    Hidden { uid: Option<u32> },
    /// No process holds it (TIME-WAIT and request sockets, sockets of exited processes).
    None,
}

impl Names {
    /// The processes holding `s`, or why they are not known.
    pub fn owner(&self, s: &Socket) -> Owner<'_> {
        let Some(p) = &self.processes else { return Owner::NotAsked };
        let held: Vec<ProcessRef> = if s.inode == 0 { Vec::new() } else { p.map.get(s.inode).collect() };
        if !held.is_empty() {
            Owner::Held(held)
        } else if s.inode != 0 && !p.complete {
            Owner::Hidden { uid: s.uid }
        } else {
            Owner::None
        }
    }

    /// `users:(("nginx",pid=812,fd=6),("nginx",pid=813,fd=6))` as `ss -p` prints it, or
    /// `users:(hidden,uid=1000(alice))`; for a UNIX socket also its peer's holders after `->`.
    pub fn process_text(&self, s: &Socket) -> Option<String> {
        let mut out = match self.owner(s) {
            Owner::NotAsked => return None,
            Owner::Held(h) => users(&h),
            Owner::Hidden { uid } => format!("users:(hidden,{})", self.user(uid)),
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
            let comm = h.process.comm.replace('"', "\\\"");
            s.push_str(&format!("(\"{comm}\",pid={},fd={fd})", h.process.pid));
        }
    }
    s.push(')');
    s
}
