//! Renderers over `impl Write`: the `ss`-style table and JSON / NDJSON. They do no I/O of their own beyond
//! the writer; names (services, interfaces, hosts) are looked up beforehand and passed in [`Names`].

pub mod json;
pub mod table;

use std::collections::HashMap;
use std::net::IpAddr;

use crate::model::Socket;
use crate::services::Services;

/// Names the renderers may show instead of numbers.
#[derive(Debug, Default)]
pub struct Names {
    /// Service names for ports; `None` with `-n`.
    pub services: Option<Services>,
    /// Interface names by index, for sockets bound to a device (`127.0.0.1%lo`).
    pub interfaces: HashMap<u32, String>,
    /// Host names by address (`-r` only).
    pub hosts: HashMap<IpAddr, String>,
}

impl Names {
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
