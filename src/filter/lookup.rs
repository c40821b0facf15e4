//! What the filter parser asks of the system: interface indexes (`dev`), host names (`src`/`dst`), the
//! ephemeral port range (`dport ephemeral`) and cgroup ids (`cgroup PATH`). [`SystemLookup`] asks this host,
//! [`UntrustedLookup`] asks it only what is safe on behalf of a remote client (no DNS), [`NoLookup`] knows
//! nothing, and any `Fn(&str) -> Option<u32>` is an interface table.

use std::net::IpAddr;

use crate::ports::range::PortRange;

/// Name lookups the parser needs.
pub trait Lookup {
    /// The index of the interface called `name` (`dev NAME`); `None` when there is none.
    fn ifindex(&self, name: &str) -> Option<u32> {
        let _ = name;
        None
    }
    /// The addresses of host `name` (`src NAME`); empty when it does not resolve, `Err` saying why when names
    /// are not looked up here.
    fn hosts(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let _ = name;
        Ok(Vec::new())
    }
    /// The host's ephemeral port range (`dport ephemeral`); `None` when unknown.
    fn ephemeral_range(&self) -> Option<PortRange> {
        None
    }
    /// The id of the cgroup v2 at `path` (`cgroup PATH`, relative to the cgroup2 mount), or why not. The parser
    /// has refused paths with `..` components before asking.
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
        let root = crate::collect::cgroup::cgroup2_root(&self.proc_root).ok_or("no cgroup2 file system is mounted")?;
        let rel = path.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        crate::sys::directory_inode_beneath(&root, rel)
            .map_err(|e| format!("no cgroup {path} ({}: {e})", root.join(rel).display()))
    }
    fn hosts(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        use std::net::ToSocketAddrs;
        let mut v: Vec<IpAddr> = match (name, 0).to_socket_addrs() {
            Ok(it) => it.map(|a| a.ip()).collect(),
            Err(_) => Vec::new(),
        };
        v.dedup();
        Ok(v)
    }
}

/// The lookups a filter from an untrusted client may cause (the exporter's API): interface indexes (an ioctl)
/// and the ephemeral range (one sysctl file) as [`SystemLookup`]; cgroup ids only where the exporter collects
/// them, and only below the cgroup2 mount (no `..`, no symlinks: the parser refuses `..` before any lookup, so
/// a client cannot learn which files exist elsewhere); never host names, so no client makes us query DNS.
#[derive(Debug, Clone)]
pub struct UntrustedLookup {
    pub system: SystemLookup,
    /// The sockets' cgroup ids are collected (a `cgroup PATH` term can match).
    pub cgroup_ids: bool,
}

/// Why a `cgroup PATH` term cannot match where the cgroup ids are not collected.
pub const NO_CGROUP_IDS: &str = "a `cgroup PATH` term matches the sockets' cgroup ids, which this exporter collects \
                                 only when its own filter has such a term";

impl Lookup for UntrustedLookup {
    fn ifindex(&self, name: &str) -> Option<u32> {
        self.system.ifindex(name)
    }
    fn ephemeral_range(&self) -> Option<PortRange> {
        self.system.ephemeral_range()
    }
    fn cgroup_id(&self, path: &str) -> Result<u64, String> {
        if !self.cgroup_ids {
            return Err(NO_CGROUP_IDS.into());
        }
        self.system.cgroup_id(path)
    }
    fn hosts(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let _ = name;
        Err("host names are not resolved here: give an address or a prefix".into())
    }
}
