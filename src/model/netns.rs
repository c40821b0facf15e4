//! Network namespaces and the workloads in them: the per-snapshot namespace table that [`Socket::netns`]
//! indexes, and what a cgroup path says about who runs there (container, pod, systemd unit).
//!
//! [`Socket::netns`]: crate::model::Socket::netns

use serde::Serialize;

/// Index of a namespace in its snapshot's [`Namespaces`] table (a `u32` on every socket, not a string).
pub type NetnsId = u32;

/// The container runtime that made a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Docker,
    /// containerd or CRI-O outside Kubernetes (`cri-containerd-<id>.scope`, `crio-<id>.scope`).
    Containerd,
    /// A Kubernetes pod (any CRI runtime): the cgroup names the pod UID.
    Kubernetes,
    Podman,
    Lxc,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::Kubernetes => "kubernetes",
            Runtime::Podman => "podman",
            Runtime::Lxc => "lxc",
        }
    }
}

/// A container, as far as its cgroup path and the runtime's state files on disk say.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Container {
    pub runtime: Runtime,
    /// The container id (64 hex digits for Docker/containerd/Podman; the container name for LXC; may be
    /// empty for a pod-level cgroup).
    pub id: String,
    /// The container's name (Docker's `config.v2.json`, the LXC name), when known.
    pub name: Option<String>,
    /// Kubernetes: the pod name (from `/var/log/pods/<namespace>_<pod>_<uid>`), else the pod UID.
    pub pod: Option<String>,
    /// Kubernetes: the pod's namespace.
    pub namespace: Option<String>,
}

impl Container {
    /// Short text for a column: `docker:web`, `k8s:default/nginx`, `podman:3f2a9c1b7d10`.
    pub fn label(&self) -> String {
        let short = |id: &str| id.chars().take(12).collect::<String>();
        match (self.runtime, &self.name, &self.pod, &self.namespace) {
            (Runtime::Kubernetes, _, Some(pod), Some(ns)) => format!("k8s:{ns}/{pod}"),
            (Runtime::Kubernetes, _, Some(pod), None) => format!("k8s:{pod}"),
            (r, Some(name), _, _) => format!("{}:{name}", r.name()),
            (r, None, _, _) => format!("{}:{}", r.name(), short(&self.id)),
        }
    }
}

/// Who a cgroup belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Workload {
    /// The cgroup path (cgroup v2's, or v1's systemd hierarchy).
    pub cgroup: String,
    pub container: Option<Container>,
    /// The systemd unit (`nginx.service`, `docker-<id>.scope`), when the path has one.
    pub unit: Option<String>,
}

/// One network namespace in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Namespace {
    /// The namespace's inode (`net:[INODE]`), its identity on the host.
    pub inode: u64,
    /// A name it is known by: `/run/netns/NAME` (as `ip netns` names it) or another bind mount's file name.
    pub name: Option<String>,
    /// The workload of the namespace's first process (a container's init), when one was found.
    pub owner: Option<Workload>,
    /// A process in the namespace (the lowest pid found), when one was found.
    pub pid: Option<u32>,
    /// The namespace of pid 1 (the host's, unless the proc root is a container's).
    pub host: bool,
}

impl Namespace {
    /// Text for the namespace column: the name, the owner's container, or the inode; name and container
    /// both when both are known (`ns1 docker:web`).
    pub fn label(&self) -> String {
        let container = self.owner.as_ref().and_then(|w| w.container.as_ref()).map(Container::label);
        match (&self.name, container) {
            // A runtime's bind mount (`/run/docker/netns/ID`) says less than the container's name.
            (Some(n), Some(c)) if n.starts_with('/') => c,
            (Some(n), Some(c)) => format!("{n} {c}"),
            (Some(n), None) => n.clone(),
            (None, Some(c)) => c,
            (None, None) if self.host => "host".into(),
            (None, None) => format!("net:[{}]", self.inode),
        }
    }

    /// Does `NAME|INODE` (a filter's or `-N`'s word) name this namespace?
    pub fn is_named(&self, word: &str) -> bool {
        self.name.as_deref() == Some(word)
            || word.parse::<u64>().is_ok_and(|i| i == self.inode)
            || word.strip_prefix("net:[").and_then(|w| w.strip_suffix(']')).and_then(|w| w.parse().ok())
                == Some(self.inode)
    }
}

/// The namespaces of one snapshot; [`crate::model::Socket::netns`] indexes it. Empty when the collection did
/// not look at namespaces (then every socket is in the caller's own).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Namespaces(pub Vec<Namespace>);

impl Namespaces {
    pub fn get(&self, id: NetnsId) -> Option<&Namespace> {
        self.0.get(id as usize)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_prefer_names_and_containers() {
        let c = Container {
            runtime: Runtime::Docker,
            id: "0123456789abcdef0123".into(),
            name: None,
            pod: None,
            namespace: None,
        };
        assert_eq!(c.label(), "docker:0123456789ab");
        let named = Container { name: Some("web".into()), ..c.clone() };
        assert_eq!(named.label(), "docker:web");
        let pod = Container {
            runtime: Runtime::Kubernetes,
            pod: Some("nginx".into()),
            namespace: Some("default".into()),
            ..c.clone()
        };
        assert_eq!(pod.label(), "k8s:default/nginx");
        let mut ns = Namespace { inode: 4026532291, ..Namespace::default() };
        assert_eq!(ns.label(), "net:[4026532291]");
        assert_eq!(Namespace { host: true, ..ns.clone() }.label(), "host");
        ns.owner = Some(Workload { container: Some(named), ..Workload::default() });
        assert_eq!(ns.label(), "docker:web");
        ns.name = Some("blue".into());
        assert_eq!(ns.label(), "blue docker:web");
        assert!(ns.is_named("blue") && ns.is_named("4026532291") && ns.is_named("net:[4026532291]"));
        ns.name = Some("/run/docker/netns/1a2b3c".into());
        assert_eq!(ns.label(), "docker:web");
        ns.name = Some("blue".into());
        assert!(!ns.is_named("red") && !ns.is_named("1"));
    }
}
