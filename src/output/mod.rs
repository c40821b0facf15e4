//! Renderers over `impl Write`: the `ss`-style table and JSON / NDJSON. They do no I/O of their own beyond
//! the writer; names (services, interfaces, hosts) are looked up beforehand and passed in [`Names`].

pub mod json;
pub mod table;

use std::collections::HashMap;
use std::net::IpAddr;

use std::borrow::Cow;

use crate::collect::process::{ProcessMap, ProcessRef};
use crate::collect::workloads::Workloads;
use crate::model::Socket;
use crate::model::netns::Workload;
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
            text.push_str(&printable(&c.label()));
        }
        text
    }

    /// The label of namespace `id` (escaped), `-` when the table does not have it.
    pub fn netns_label(&self, id: crate::model::netns::NetnsId) -> String {
        self.workloads.namespaces.get(id).map_or_else(|| "-".to_string(), |n| printable(&n.label()).into_owned())
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
                && let Some(n) = user_name(u)
            {
                self.users.insert(u, n);
            }
        }
    }

    /// Look up the interface names the sockets refer to (one `if_indextoname` per distinct index).
    pub fn load_interfaces(&mut self, socks: &[Socket]) {
        for s in socks {
            if let Some(i) = s.ifindex.filter(|i| *i != 0) {
                self.interfaces.entry(i).or_insert_with(|| interface_name(i));
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
                if let Some(name) = reverse_lookup(ip) {
                    self.hosts.insert(ip, name);
                }
            }
        }
    }
}

/// `text` with control characters shown as `\xNN`, safe to print on a terminal.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut s = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            s.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            s.push(c);
        }
    }
    Cow::Owned(s)
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

/// The user name of `uid` from the password database (`getpwuid_r`), if it has one.
fn user_name(uid: u32) -> Option<String> {
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live, correctly sized storage; on success `out` points to `pw`, whose
    // strings live in `buf`.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: pw_name is a NUL-terminated string inside `buf`.
    Some(unsafe { std::ffi::CStr::from_ptr(pw.pw_name) }.to_string_lossy().into_owned())
}

fn interface_name(index: u32) -> String {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes as if_indextoname requires; on success it is NUL-terminated.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return index.to_string();
    }
    // SAFETY: if_indextoname succeeded, so buf holds a NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

fn reverse_lookup(ip: IpAddr) -> Option<String> {
    use std::net::SocketAddr;
    let sa: socket2_like::SockAddr = socket2_like::SockAddr::from(SocketAddr::new(ip, 0));
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: sa points to a valid sockaddr of the given length; host has the given size.
    let rc = unsafe {
        libc::getnameinfo(
            sa.as_ptr(),
            sa.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo succeeded and wrote a NUL-terminated string.
    Some(unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) }.to_string_lossy().into_owned())
}

/// A `sockaddr_in`/`sockaddr_in6` built from a std address, for `getnameinfo`.
mod socket2_like {
    use std::net::SocketAddr;

    pub enum SockAddr {
        V4(libc::sockaddr_in),
        V6(libc::sockaddr_in6),
    }

    impl From<SocketAddr> for SockAddr {
        fn from(a: SocketAddr) -> Self {
            match a {
                SocketAddr::V4(a) => SockAddr::V4(libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                    sin_zero: [0; 8],
                }),
                SocketAddr::V6(a) => SockAddr::V6(libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                    sin6_scope_id: a.scope_id(),
                }),
            }
        }
    }

    impl SockAddr {
        pub fn as_ptr(&self) -> *const libc::sockaddr {
            match self {
                SockAddr::V4(a) => (a as *const libc::sockaddr_in).cast(),
                SockAddr::V6(a) => (a as *const libc::sockaddr_in6).cast(),
            }
        }
        pub fn len(&self) -> libc::socklen_t {
            (match self {
                SockAddr::V4(_) => std::mem::size_of::<libc::sockaddr_in>(),
                SockAddr::V6(_) => std::mem::size_of::<libc::sockaddr_in6>(),
            }) as libc::socklen_t
        }
    }
}
