//! What the filter parser asks of the system: interface indexes (`dev`), host names (`src`/`dst`), the
//! ephemeral port range (`dport ephemeral`) and cgroup ids (`cgroup PATH`). [`SystemLookup`] asks this host,
//! [`NoLookup`] knows nothing, and any `Fn(&str) -> Option<u32>` is an interface table.

use std::net::IpAddr;

use crate::ports::range::PortRange;

/// Name lookups the parser needs.
pub trait Lookup {
    /// The index of the interface called `name` (`dev NAME`); `None` when there is none.
    fn ifindex(&self, name: &str) -> Option<u32> {
        let _ = name;
        None
    }
    /// The addresses of host `name` (`src NAME`); empty when it does not resolve.
    fn hosts(&self, name: &str) -> Vec<IpAddr> {
        let _ = name;
        Vec::new()
    }
    /// The host's ephemeral port range (`dport ephemeral`); `None` when unknown.
    fn ephemeral_range(&self) -> Option<PortRange> {
        None
    }
    /// The id of the cgroup v2 at `path` (`cgroup PATH`, relative to the cgroup2 mount), or why not.
    fn cgroup_id(&self, path: &str) -> Result<u64, String> {
        let _ = path;
        Err("no cgroup2 file system is mounted".into())
    }
}

/// No lookups: `dev` takes only numeric indexes and `src`/`dst` only addresses.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLookup;

impl Lookup for NoLookup {}

/// A function from interface name to index.
impl<F: Fn(&str) -> Option<u32>> Lookup for F {
    fn ifindex(&self, name: &str) -> Option<u32> {
        self(name)
    }
}

/// The system's lookups: `if_nametoindex(3)`, the resolver (`getaddrinfo`, which may query DNS), and the
/// ephemeral port range below a proc root (normally `/proc`; `--proc-root` says otherwise).
#[derive(Debug, Clone)]
pub struct SystemLookup {
    pub proc_root: std::path::PathBuf,
}

impl SystemLookup {
    pub fn new(proc_root: &std::path::Path) -> SystemLookup {
        SystemLookup { proc_root: proc_root.to_path_buf() }
    }
}

impl Lookup for SystemLookup {
    fn ifindex(&self, name: &str) -> Option<u32> {
        crate::sys::interface_index(name)
    }
    fn ephemeral_range(&self) -> Option<PortRange> {
        Some(crate::ports::classes::HostPorts::read(&self.proc_root).ok()?.ephemeral)
    }
    fn cgroup_id(&self, path: &str) -> Result<u64, String> {
        use std::os::unix::fs::MetadataExt;
        let root = crate::collect::cgroup::cgroup2_root(&self.proc_root).ok_or("no cgroup2 file system is mounted")?;
        let full = root.join(path.trim_start_matches('/'));
        std::fs::metadata(&full).map(|m| m.ino()).map_err(|e| format!("no cgroup {path} ({}: {e})", full.display()))
    }
    fn hosts(&self, name: &str) -> Vec<IpAddr> {
        use std::net::ToSocketAddrs;
        let mut v: Vec<IpAddr> = match (name, 0).to_socket_addrs() {
            Ok(it) => it.map(|a| a.ip()).collect(),
            Err(_) => Vec::new(),
        };
        v.dedup();
        v
    }
}
