//! Cgroup paths of every runtime and manager shape -> container, pod and unit (a table of shapes).

use super::*;

const ID: &str = "3f2a9c1b7d10e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9";
const UID: &str = "5b8e1c3a-2d4f-4e6a-8b9c-0d1e2f3a4b5c";

/// (cgroup path, runtime, container id, pod uid, unit)
type Shape = (String, Option<Runtime>, &'static str, Option<&'static str>, Option<String>);

fn shapes() -> Vec<Shape> {
    let uid_ = UID.replace('-', "_");
    vec![
        // Docker, systemd driver (v2 and v1 name=systemd look the same)
        (
            format!("/system.slice/docker-{ID}.scope"),
            Some(Runtime::Docker),
            ID,
            None,
            Some(format!("docker-{ID}.scope")),
        ),
        // Docker, cgroupfs driver
        (format!("/docker/{ID}"), Some(Runtime::Docker), ID, None, None),
        // Docker-in-a-nested-cgroup (a CI runner): the innermost id wins
        (format!("/actions_job/{ID}/docker/{ID}"), Some(Runtime::Docker), ID, None, None),
        // containerd outside Kubernetes
        (
            format!("/system.slice/cri-containerd-{ID}.scope"),
            Some(Runtime::Containerd),
            ID,
            None,
            Some(format!("cri-containerd-{ID}.scope")),
        ),
        (
            format!("/system.slice/crio-{ID}.scope"),
            Some(Runtime::Containerd),
            ID,
            None,
            Some(format!("crio-{ID}.scope")),
        ),
        // Kubernetes, systemd driver, v2
        (
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/cri-containerd-{ID}.scope"
            ),
            Some(Runtime::Kubernetes),
            ID,
            Some(UID),
            Some(format!("cri-containerd-{ID}.scope")),
        ),
        // Kubernetes, guaranteed QoS (no class slice)
        (
            format!("/kubepods.slice/kubepods-pod{uid_}.slice/crio-{ID}.scope"),
            Some(Runtime::Kubernetes),
            ID,
            Some(UID),
            Some(format!("crio-{ID}.scope")),
        ),
        // Kubernetes, cgroupfs driver (v1)
        (format!("/kubepods/burstable/pod{UID}/{ID}"), Some(Runtime::Kubernetes), ID, Some(UID), None),
        // Kubernetes with dockershim
        (
            format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/docker-{ID}.scope"),
            Some(Runtime::Kubernetes),
            ID,
            Some(UID),
            Some(format!("docker-{ID}.scope")),
        ),
        // the pod's own cgroup, no container below
        (format!("/kubepods/besteffort/pod{UID}"), Some(Runtime::Kubernetes), "", Some(UID), None),
        // Podman, systemd driver; conmon beside it is not the container
        (
            format!("/machine.slice/libpod-{ID}.scope"),
            Some(Runtime::Podman),
            ID,
            None,
            Some(format!("libpod-{ID}.scope")),
        ),
        (
            format!("/machine.slice/libpod-{ID}.scope/container"),
            Some(Runtime::Podman),
            ID,
            None,
            Some(format!("libpod-{ID}.scope")),
        ),
        (format!("/machine.slice/libpod-conmon-{ID}.scope"), None, "", None, Some(format!("libpod-conmon-{ID}.scope"))),
        // Podman rootless, user slice
        (
            format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"),
            Some(Runtime::Podman),
            ID,
            None,
            Some(format!("libpod-{ID}.scope")),
        ),
        // Podman, cgroupfs driver
        (format!("/libpod_parent/libpod-{ID}"), Some(Runtime::Podman), ID, None, None),
        // LXC 4+ (v2), LXC v1, LXC monitor
        ("/lxc.payload.web/init.scope".into(), Some(Runtime::Lxc), "web", None, Some("init.scope".into())),
        ("/lxc/web".into(), Some(Runtime::Lxc), "web", None, None),
        ("/lxc.payload/web".into(), Some(Runtime::Lxc), "web", None, None),
        // systemd units
        ("/system.slice/nginx.service".into(), None, "", None, Some("nginx.service".into())),
        ("/user.slice/user-1000.slice/session-3.scope".into(), None, "", None, Some("session-3.scope".into())),
        (
            "/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service".into(),
            None,
            "",
            None,
            Some("foo.service".into()),
        ),
        (
            "/system.slice/system-getty.slice/getty@tty1.service".into(),
            None,
            "",
            None,
            Some("getty@tty1.service".into()),
        ),
        // nothing to say
        ("/".into(), None, "", None, None),
        ("/docker".into(), None, "", None, None),
        ("/docker/notanid".into(), None, "", None, None),
        ("/init.scope".into(), None, "", None, Some("init.scope".into())),
    ]
}

#[test]
fn every_cgroup_shape() {
    for (path, runtime, id, pod, unit) in shapes() {
        let w = workload(&path);
        assert_eq!(w.cgroup, path);
        assert_eq!(w.container.as_ref().map(|c| c.runtime), runtime, "runtime of {path}");
        if let Some(c) = &w.container {
            assert_eq!(c.id, id, "id of {path}");
            assert_eq!(c.pod.as_deref(), pod, "pod of {path}");
        }
        assert_eq!(w.unit, unit, "unit of {path}");
    }
}

#[test]
fn proc_cgroup_picks_the_telling_hierarchy() {
    // cgroup v1 with a v2 unified hierarchy beside it (hybrid): the v1 cpu path names the container.
    let hybrid = format!("12:cpu:/docker/{ID}\n1:name=systemd:/docker/{ID}\n0::/\n");
    let w = parse_proc_cgroup(&hybrid).unwrap();
    assert_eq!(w.container.unwrap().id, ID);
    // v2 only
    let w = parse_proc_cgroup("0::/system.slice/nginx.service\n").unwrap();
    assert_eq!(w.unit.as_deref(), Some("nginx.service"));
    assert!(w.container.is_none());
    // v1: the systemd hierarchy names the unit, the others are "/"
    let v1 = "5:memory:/\n1:name=systemd:/system.slice/sshd.service\n0::/\n";
    assert_eq!(parse_proc_cgroup(v1).unwrap().unit.as_deref(), Some("sshd.service"));
    // a plain path without unit or container is still the cgroup
    assert_eq!(parse_proc_cgroup("0::/mygroup\n").unwrap().cgroup, "/mygroup");
    assert_eq!(parse_proc_cgroup("0::/\n").unwrap().cgroup, "/");
    assert!(parse_proc_cgroup("").is_none());
    assert!(parse_proc_cgroup("garbage\n").is_none());
}

#[test]
fn pod_dirs_and_docker_config() {
    assert_eq!(
        parse_pod_dir(&format!("kube-system_coredns-5d78c9869d-abcde_{UID}")),
        Some(("kube-system".into(), "coredns-5d78c9869d-abcde".into(), UID.into()))
    );
    assert_eq!(parse_pod_dir("a_b"), None);
    assert_eq!(parse_pod_dir(&format!("a_b_c_{UID}")), None);
    assert_eq!(parse_pod_dir("a_b_short"), None);
    assert_eq!(docker_config_name(br#"{"ID":"x","Name":"/web","State":{}}"#).as_deref(), Some("web"));
    assert_eq!(docker_config_name(br#"{"Name":"/"}"#), None);
    assert_eq!(docker_config_name(b"not json"), None);
}

#[test]
fn namer_reads_state_roots() {
    let dir = std::env::temp_dir().join(format!("sockscope-netns-namer-{}", std::process::id()));
    let cdir = dir.join("docker/containers").join(ID);
    std::fs::create_dir_all(&cdir).unwrap();
    std::fs::write(cdir.join("config.v2.json"), br#"{"Name":"/web"}"#).unwrap();
    std::fs::create_dir_all(dir.join("pods").join(format!("shop_cart-7f9_{UID}"))).unwrap();
    let mut namer = Namer::new(Path::new("/proc"), StateRoots { docker: dir.join("docker"), pods: dir.join("pods") });
    let mut w = workload(&format!("/system.slice/docker-{ID}.scope"));
    namer.name(&mut w);
    assert_eq!(w.container.unwrap().name.as_deref(), Some("web"));
    let mut w = workload(&format!("/kubepods/burstable/pod{UID}/{ID}"));
    namer.name(&mut w);
    let c = w.container.unwrap();
    assert_eq!((c.namespace.as_deref(), c.pod.as_deref()), (Some("shop"), Some("cart-7f9")));
    // our own process: whatever its cgroup, reading it works
    assert!(Namer::new(Path::new("/proc"), StateRoots::default()).process(std::process::id()).is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}
