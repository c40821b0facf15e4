//! Who runs a process, from its cgroup: container runtime and id (Docker, containerd/CRI-O, Kubernetes pods,
//! Podman, LXC) or systemd unit, parsed from `/proc/PID/cgroup` paths (cgroup v1 and v2, systemd and cgroupfs
//! drivers); container and pod names from the runtimes' state files on disk, never from a daemon API.
//!
//! Parsing is pure ([`workload`], [`parse_proc_cgroup`], [`parse_pod_dir`], [`docker_config_name`]); [`Namer`]
//! is the thin I/O layer with the state roots as parameters.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::model::netns::{Container, Runtime, Workload};

/// A state file larger than this is not read (Docker's `config.v2.json` is a few KiB).
const MAX_STATE_FILE: u64 = 4 << 20;
/// `/proc/PID/cgroup` is one line per hierarchy; more than this is not a real one.
const MAX_CGROUP_FILE: u64 = 64 << 10;

/// Container ids are hex; 12 digits at least (Docker's short form), 64 in cgroup paths.
fn is_container_id(s: &str) -> bool {
    (12..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `prefix<ID>.scope` (systemd driver) or `prefix<ID>` (cgroupfs driver) -> ID.
fn scoped_id<'a>(component: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = component.strip_prefix(prefix)?;
    let id = rest.strip_suffix(".scope").unwrap_or(rest);
    is_container_id(id).then_some(id)
}

/// A Kubernetes pod UID from `kubepods-besteffort-pod<UID>.slice` (underscores for dashes) or `pod<UID>`.
fn pod_uid(component: &str) -> Option<String> {
    let c = component.strip_suffix(".slice").unwrap_or(component);
    let at = c.rfind("pod")?;
    let uid = &c[at + 3..];
    let ok = uid.len() >= 32 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'_');
    ok.then(|| uid.replace('_', "-"))
}

/// The container id in one path component, with the runtime its name says.
fn container_in(component: &str, parent: Option<&str>) -> Option<(Runtime, String)> {
    for (prefix, runtime) in [
        ("docker-", Runtime::Docker),
        ("cri-containerd-", Runtime::Containerd),
        ("crio-", Runtime::Containerd),
        ("libpod-", Runtime::Podman),
    ] {
        if let Some(id) = scoped_id(component, prefix) {
            return Some((runtime, id.to_string()));
        }
    }
    // cgroupfs driver: /docker/<id>, /libpod_parent/libpod-<id> (handled above), a bare id under a pod.
    if is_container_id(component) {
        let runtime = match parent {
            Some("docker") => Runtime::Docker,
            Some(p) if p.starts_with("pod") || p.starts_with("kubepods") => Runtime::Kubernetes,
            Some("containerd") | Some("system.slice") => Runtime::Containerd,
            _ => return None,
        };
        return Some((runtime, component.to_string()));
    }
    None
}

/// Where the cgroup2 file system is mounted, from `PROC/self/mounts` (`None` when it is not): the root of
/// `cgroup PATH` terms and of the paths `-e`/`--cgroup` print.
pub fn cgroup2_root(proc_root: &Path) -> Option<PathBuf> {
    let mounts = std::fs::read_to_string(proc_root.join("self/mounts")).ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[2] == "cgroup2").then(|| PathBuf::from(f[1]))
    })
}

/// Map cgroup ids to paths (`/`, `/system.slice/nginx.service`) by walking the cgroup2 mount: the id is the
/// directory's inode number. `None` when no cgroup2 file system is mounted; the walk stops past 100 000 groups.
pub fn cgroup_paths(proc_root: &Path) -> Option<HashMap<u64, String>> {
    use std::os::unix::fs::MetadataExt;
    let root = cgroup2_root(proc_root)?;
    let mut map = HashMap::new();
    let mut stack = vec![(root, String::from("/"))];
    while let Some((dir, path)) = stack.pop() {
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
    Some(map)
}

/// What one cgroup path says: `/system.slice/docker-<id>.scope`, `/docker/<id>`,
/// `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope`,
/// `/kubepods/burstable/pod<uid>/<id>`, `/machine.slice/libpod-<id>.scope`, `/lxc.payload.web`, `/lxc/web`,
/// `/system.slice/nginx.service`, ...
pub fn workload(path: &str) -> Workload {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut w = Workload { cgroup: path.to_string(), ..Workload::default() };
    w.unit = parts.iter().rev().find(|p| p.ends_with(".service") || p.ends_with(".scope")).map(|p| p.to_string());
    let kube = parts.iter().any(|p| p.starts_with("kubepods"));
    let pod = if kube { parts.iter().find_map(|p| pod_uid(p)) } else { None };
    // The innermost component that names a container wins (conmon scopes sit beside it, not inside).
    let found = parts.iter().enumerate().rev().find_map(|(i, c)| {
        if c.starts_with("libpod-conmon-") || c.starts_with("crio-conmon-") {
            return None;
        }
        container_in(c, i.checked_sub(1).map(|j| parts[j]))
    });
    if let Some((runtime, id)) = found {
        w.container = Some(Container {
            runtime: if kube { Runtime::Kubernetes } else { runtime },
            id,
            name: None,
            pod: pod.clone(),
            namespace: None,
        });
    } else if let Some(uid) = pod {
        // A process in the pod's own cgroup (the pause/sandbox), no container below.
        w.container = Some(Container {
            runtime: Runtime::Kubernetes,
            id: String::new(),
            name: None,
            pod: Some(uid),
            namespace: None,
        });
    } else if let Some(name) = lxc_name(&parts) {
        w.container = Some(Container {
            runtime: Runtime::Lxc,
            id: name.to_string(),
            name: Some(name.to_string()),
            pod: None,
            namespace: None,
        });
    }
    w
}

/// LXC: `/lxc.payload.NAME/...` (LXC 4+), `/lxc.payload/NAME`, `/lxc/NAME` (v1), `/lxc.monitor.NAME`.
fn lxc_name<'a>(parts: &[&'a str]) -> Option<&'a str> {
    let first = *parts.first()?;
    if let Some(n) = first.strip_prefix("lxc.payload.").or_else(|| first.strip_prefix("lxc.monitor.")) {
        return Some(n);
    }
    if first == "lxc" || first == "lxc.payload" {
        return parts.get(1).copied();
    }
    None
}

/// The workload of a process from its `/proc/PID/cgroup` text (`ID:CONTROLLERS:PATH` lines). Of all its
/// hierarchies the path that names a container wins, then one with a systemd unit, then cgroup v2's path
/// (`0::`), then v1's systemd hierarchy.
// Own line split, not procfs-core's `ProcessCGroups`: one malformed line or a non-UTF-8 path fails its whole parse.
pub fn parse_proc_cgroup(text: &str) -> Option<Workload> {
    let mut paths: Vec<(u8, &str)> = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(id), Some(ctl), Some(path)) = (f.next(), f.next(), f.next()) else { continue };
        let rank = match (id, ctl) {
            ("0", "") => 0,
            (_, "name=systemd") => 1,
            _ => 2,
        };
        paths.push((rank, path));
    }
    paths.sort_by_key(|p| p.0);
    let all: Vec<Workload> = paths.iter().map(|(_, p)| workload(p)).collect();
    let best = all
        .iter()
        .position(|w| w.container.is_some())
        .or_else(|| all.iter().position(|w| w.unit.is_some()))
        .or_else(|| all.iter().position(|w| w.cgroup != "/"))
        .or(if all.is_empty() { None } else { Some(0) })?;
    all.into_iter().nth(best)
}

/// `<namespace>_<pod>_<uid>` (a `/var/log/pods` directory) -> (namespace, pod, uid). Kubernetes names cannot
/// hold `_`, so the split is exact.
pub fn parse_pod_dir(name: &str) -> Option<(String, String, String)> {
    let mut f = name.split('_');
    let (ns, pod, uid) = (f.next()?, f.next()?, f.next()?);
    if f.next().is_some() || ns.is_empty() || pod.is_empty() || uid.len() < 32 {
        return None;
    }
    Some((ns.to_string(), pod.to_string(), uid.to_string()))
}

/// The container name in Docker's `config.v2.json` (`"Name": "/web"`), without the leading `/`.
pub fn docker_config_name(json: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(rename = "Name")]
        name: Option<String>,
    }
    let c: Config = serde_json::from_slice(json).ok()?;
    let n = c.name?;
    let n = n.trim_start_matches('/');
    (!n.is_empty()).then(|| n.to_string())
}

/// Where the runtimes keep their state (parameters, as `--proc-root` is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRoots {
    /// Docker's data root: `<root>/containers/<id>/config.v2.json`.
    pub docker: PathBuf,
    /// The kubelet's pod log root: `<root>/<namespace>_<pod>_<uid>`.
    pub pods: PathBuf,
}

impl Default for StateRoots {
    fn default() -> Self {
        StateRoots { docker: "/var/lib/docker".into(), pods: "/var/log/pods".into() }
    }
}

/// Reads cgroups and names containers, caching what it read.
#[derive(Debug)]
pub struct Namer {
    proc_root: PathBuf,
    roots: StateRoots,
    pods: Option<HashMap<String, (String, String)>>,
    docker: HashMap<String, Option<String>>,
}

impl Namer {
    pub fn new(proc_root: &Path, roots: StateRoots) -> Namer {
        Namer { proc_root: proc_root.to_path_buf(), roots, pods: None, docker: HashMap::new() }
    }

    /// The workload of process `pid`, named; `None` when its cgroup cannot be read (it exited).
    pub fn process(&mut self, pid: u32) -> Option<Workload> {
        let text = read_capped(&self.proc_root.join(pid.to_string()).join("cgroup"), MAX_CGROUP_FILE)?;
        let mut w = parse_proc_cgroup(&String::from_utf8_lossy(&text))?;
        self.name(&mut w);
        Some(w)
    }

    /// Fill in the container's name, and a pod's namespace and name, from the state roots.
    pub fn name(&mut self, w: &mut Workload) {
        let Some(c) = w.container.as_mut() else { return };
        if c.name.is_none() && is_container_id(&c.id) && matches!(c.runtime, Runtime::Docker | Runtime::Kubernetes) {
            let root = &self.roots.docker;
            c.name = self
                .docker
                .entry(c.id.clone())
                .or_insert_with(|| {
                    let file = root.join("containers").join(&c.id).join("config.v2.json");
                    read_capped(&file, MAX_STATE_FILE).and_then(|j| docker_config_name(&j))
                })
                .clone();
        }
        if let Some(uid) = c.pod.clone() {
            let pods = self.pods.get_or_insert_with(|| read_pod_dirs(&self.roots.pods));
            if let Some((ns, pod)) = pods.get(&uid) {
                c.namespace = Some(ns.clone());
                c.pod = Some(pod.clone());
            }
        }
    }
}

fn read_pod_dirs(root: &Path) -> HashMap<String, (String, String)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir(root) else { return out };
    for e in dir.flatten().take(100_000) {
        if let Some((ns, pod, uid)) = e.file_name().to_str().and_then(parse_pod_dir) {
            out.insert(uid, (ns, pod));
        }
    }
    out
}

/// A whole small file, or `None` when it is missing, unreadable, not a regular file or larger than `max`.
pub(crate) fn read_capped(path: &Path, max: u64) -> Option<Vec<u8>> {
    super::input::read_capped(path, usize::try_from(max).unwrap_or(usize::MAX)).ok()
}

#[cfg(test)]
mod tests;
