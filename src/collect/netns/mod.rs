//! Network namespaces on the host: discovery (every process's `ns/net` link deduplicated by inode, and every
//! `nsfs` bind mount such as `/run/netns/NAME` or `/run/docker/netns/ID`), `-N NAME|PID|PATH` resolution, what
//! a collection covers ([`Plan`]), the parallel dump of many namespaces ([`dump`]) and the collector over them
//! with ids that stay while a view runs ([`MultiCollector`]).
//!
//! Parsers are pure ([`parse_ns_link`], [`parse_mountinfo`]); the proc root and the `ip netns` directory are
//! parameters.

mod collector;
pub mod dump;
mod plan;
#[cfg(test)]
mod tests;

pub use collector::{FORGET_AFTER, Ids, MultiCollector};
pub use plan::Plan;

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::cgroup::Namer;
use crate::model::netns::Namespace;

/// A process table larger than this is not walked further (a bound on untrusted input).
const MAX_PROCESSES: usize = 4 << 20;
/// Candidate paths kept per namespace: if the first process exits mid-dump, the next one is tried.
const MAX_PATHS: usize = 4;

/// The largest mount table read (a host with many containers has tens of thousands of mounts).
const MAX_MOUNTINFO: usize = 64 << 20;

/// Where namespaces are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// The proc filesystem (`/proc`).
    pub proc_root: PathBuf,
    /// Where `ip netns` keeps its names (`/run/netns`).
    pub netns_dir: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots { proc_root: "/proc".into(), netns_dir: "/run/netns".into() }
    }
}

/// `net:[4026531840]` (the text of a `/proc/PID/ns/net` link, or an nsfs mount's root) -> 4026531840.
pub fn parse_ns_link(link: &[u8]) -> Option<u64> {
    std::str::from_utf8(link).ok()?.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

/// The network-namespace bind mounts in a `mountinfo` text: (inode, mount point). An nsfs mount's root field
/// is `net:[INODE]`; mount points have spaces and other odd bytes escaped as `\NNN` octal.
pub fn parse_mountinfo(text: &str) -> Vec<(u64, PathBuf)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        if right.split(' ').next() != Some("nsfs") {
            continue;
        }
        let f: Vec<&str> = left.split(' ').collect();
        let (Some(root), Some(point)) = (f.get(3), f.get(4)) else { continue };
        if let Some(inode) = parse_ns_link(root.as_bytes()) {
            out.push((inode, PathBuf::from(unescape_octal(point))));
        }
    }
    out
}

fn unescape_octal(s: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') as u32 * 64 + (b[i + 2] - b'0') as u32 * 8 + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    std::ffi::OsString::from_vec(out)
}

/// A namespace found on the host, with the paths through which it can be entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub ns: Namespace,
    /// Bind mounts first, then `/proc/PID/ns/net` of the lowest pids.
    pub paths: Vec<PathBuf>,
    /// The pids seen in it (ascending, at most a few), for the /proc fallback.
    pub pids: Vec<u32>,
}

/// The result of discovery.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// The caller's own namespace first, then named ones by name, then the others by inode.
    pub found: Vec<Found>,
    /// Processes whose namespace could not be read (another user's, without privilege).
    pub hidden_processes: usize,
}

/// The inode of the calling thread's network namespace.
pub fn own_inode(proc_root: &Path) -> io::Result<u64> {
    let link = std::fs::read_link(proc_root.join("thread-self/ns/net"))
        .or_else(|_| std::fs::read_link(proc_root.join("self/ns/net")))?;
    parse_ns_link(link.as_os_str().as_encoded_bytes())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("odd namespace link {link:?}")))
}

/// Every network namespace on the host. `namer` labels each with the workload of its lowest pid.
pub fn discover(roots: &Roots, namer: &mut Namer) -> io::Result<Discovery> {
    let own = own_inode(&roots.proc_root)?;
    let mut by_inode: BTreeMap<u64, Found> = BTreeMap::new();
    let mut hidden = 0usize;

    if let Ok(text) = super::input::read_to_string_capped(&roots.proc_root.join("self/mountinfo"), MAX_MOUNTINFO) {
        for (inode, point) in parse_mountinfo(&text) {
            let f = by_inode.entry(inode).or_insert_with(|| new_found(inode));
            let name = if point.parent() == Some(roots.netns_dir.as_path()) {
                point.file_name().map(|n| n.to_string_lossy().into_owned())
            } else {
                Some(point.to_string_lossy().into_owned())
            };
            // An `ip netns` name beats another mount point's path.
            let better = match (&f.ns.name, &name) {
                (None, _) => true,
                (Some(old), Some(_)) => old.starts_with('/') && point.parent() == Some(roots.netns_dir.as_path()),
                _ => false,
            };
            if better {
                f.ns.name = name;
            }
            if !f.paths.contains(&point) {
                f.paths.insert(0, point);
            }
        }
    }

    let mut pids: Vec<u32> = std::fs::read_dir(&roots.proc_root)?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .take(MAX_PROCESSES)
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let link = roots.proc_root.join(pid.to_string()).join("ns/net");
        match std::fs::read_link(&link) {
            Ok(target) => {
                let Some(inode) = parse_ns_link(target.as_os_str().as_encoded_bytes()) else { continue };
                let f = by_inode.entry(inode).or_insert_with(|| new_found(inode));
                if f.pids.len() < MAX_PATHS {
                    f.pids.push(pid);
                    f.paths.push(link);
                }
            }
            // Exited since the directory was read, or a kernel thread.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => hidden += 1,
            Err(_) => {}
        }
    }
    by_inode.entry(own).or_insert_with(|| new_found(own));

    let mut found: Vec<Found> = by_inode.into_values().collect();
    for f in &mut found {
        f.ns.pid = f.pids.first().copied();
        // pid 1, or kthreadd (pid 2; kernel threads live in the initial namespace) when pid 1 is unreadable.
        f.ns.host = f.pids.iter().any(|p| *p <= 2);
        f.ns.owner = f.ns.pid.and_then(|p| namer.process(p));
    }
    found.sort_by(|a, b| {
        let key = |f: &Found| (f.ns.inode != own, f.ns.name.as_ref().is_none_or(|n| n.starts_with('/')));
        key(a).cmp(&key(b)).then_with(|| a.ns.name.cmp(&b.ns.name)).then(a.ns.inode.cmp(&b.ns.inode))
    });
    Ok(Discovery { found, hidden_processes: hidden })
}

fn new_found(inode: u64) -> Found {
    Found { ns: Namespace { inode, ..Namespace::default() }, paths: Vec::new(), pids: Vec::new() }
}

/// What `-N` names: an `ip netns` name, a pid, or a path to a namespace file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Name(String),
    Pid(u32),
    Path(PathBuf),
}

impl Target {
    /// `-N` text: digits are a pid, text with a `/` a path, anything else a name under the netns directory.
    pub fn parse(text: &str) -> Result<Target, String> {
        if text.is_empty() {
            return Err("an empty namespace name".into());
        }
        if text.contains('/') {
            return Ok(Target::Path(text.into()));
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().map(Target::Pid).map_err(|_| format!("pid {text} is out of range"));
        }
        if text == "." || text == ".." {
            return Err(format!("'{text}' is not a namespace name"));
        }
        Ok(Target::Name(text.into()))
    }

    /// The namespace this names, with its path, or an error that says what was tried.
    pub fn resolve(&self, roots: &Roots, namer: &mut Namer) -> io::Result<Found> {
        let (path, name, pid) = match self {
            Target::Name(n) => (roots.netns_dir.join(n), Some(n.clone()), None),
            Target::Pid(p) => (roots.proc_root.join(p.to_string()).join("ns/net"), None, Some(*p)),
            Target::Path(p) => (p.clone(), None, None),
        };
        let meta =
            std::fs::metadata(&path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        // A namespace file (nsfs) is a regular file; anything else is refused before it is opened (a FIFO
        // would block the open forever).
        super::input::check_file_type(meta.file_type())
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let mut ns = Namespace { inode: meta.ino(), name, pid, owner: None, host: pid == Some(1) };
        ns.owner = pid.and_then(|p| namer.process(p));
        Ok(Found { ns, paths: vec![path], pids: pid.into_iter().collect() })
    }
}

/// Which namespaces a collection covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Choice {
    /// The caller's own (no namespace is entered).
    #[default]
    Own,
    /// One namespace (`-N NAME|PID|PATH`).
    One(Target),
    /// Every namespace on the host (`--all-netns`, `-N all`).
    All,
}

impl Choice {
    /// `-N` text (`all` is every namespace) and `--all-netns`.
    pub fn from_flags(net: Option<&str>, all: bool) -> Result<Choice, String> {
        match net {
            _ if all => Ok(Choice::All),
            None => Ok(Choice::Own),
            Some("all") => Ok(Choice::All),
            Some(t) => Target::parse(t).map(Choice::One),
        }
    }

    /// Is more than one namespace possible (then listings show a namespace column)?
    pub fn is_all(&self) -> bool {
        matches!(self, Choice::All)
    }
}

/// Why a namespace collection failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("cannot list network namespaces: {0}")]
    Discover(io::Error),
    #[error("network namespace {target}: {error}")]
    Target { target: String, error: io::Error },
    #[error("network namespace {target}: {skip}")]
    Skipped { target: String, skip: dump::Skip },
    #[error("no network namespace could be read: {0}")]
    Nothing(String),
    #[error(transparent)]
    Collect(#[from] super::CollectError),
}
