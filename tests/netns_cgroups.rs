//! Container attribution on real cgroups (needs root): the test makes cgroups named the way Docker (systemd
//! and cgroupfs drivers), containerd under Kubernetes, Podman and systemd name them, in cgroup v2 and in v1
//! hierarchies, moves a socket-holding process in a private network namespace into each, writes Docker's and
//! the kubelet's state files into a temporary root, and checks the labels `--all-netns` gives. Every cgroup
//! and namespace is removed by guards.

mod common;

use std::path::{Path, PathBuf};

use common::Netns;
use serde_json::Value;

const ID_DOCKER: &str = "d0c4e7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d";
const ID_CGROUPFS: &str = "c9f5e7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d";
const ID_KUBE: &str = "aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44";
const ID_PODMAN: &str = "bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55";
const ID_QUIET: &str = "ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22";
const POD_UID: &str = "5b8e1c3a-2d4f-4e6a-8b9c-0d1e2f3a4b5c";

/// The mount points of cgroup v2 and of the v1 hierarchies this test uses, from mountinfo.
struct Mounts {
    v2: PathBuf,
    v1_systemd: PathBuf,
    v1_pids: PathBuf,
}

fn mounts() -> Mounts {
    let text = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let mut v2 = None;
    let mut v1_systemd = None;
    let mut v1_pids = None;
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let point = PathBuf::from(left.split(' ').nth(4).unwrap_or(""));
        let mut r = right.split(' ');
        let (fstype, opts) = (r.next().unwrap_or(""), r.nth(1).unwrap_or(""));
        match fstype {
            "cgroup2" => v2 = v2.or(Some(point)),
            "cgroup" if opts.split(',').any(|o| o == "name=systemd") => v1_systemd = Some(point),
            "cgroup" if opts.split(',').any(|o| o == "pids") => v1_pids = Some(point),
            _ => {}
        }
    }
    Mounts {
        v2: v2.expect("a cgroup2 mount"),
        v1_systemd: v1_systemd.expect("a cgroup v1 name=systemd hierarchy"),
        v1_pids: v1_pids.expect("a cgroup v1 pids hierarchy"),
    }
}

/// Cgroups made for the test, removed deepest first (their processes are gone by then: declare after them).
#[derive(Default)]
struct Cgroups(Vec<PathBuf>);

impl Cgroups {
    /// Make `root/rel` (with parents) and move `pid` into it.
    fn put(&mut self, root: &Path, rel: &str, pid: u32) {
        let mut dir = root.to_path_buf();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            dir.push(part);
            if !dir.exists() {
                std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
                self.0.push(dir.clone());
            }
        }
        std::fs::write(dir.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("move {pid} into {}: {e}", dir.display()));
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            // A process still inside (a failed test) goes back to the root first.
            if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                let root = dir.ancestors().find(|a| a.join("cgroup.procs").exists() && !self.0.iter().any(|d| d == a));
                for pid in procs.lines() {
                    if let Some(r) = root {
                        let _ = std::fs::write(r.join("cgroup.procs"), pid);
                    }
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
    }
}

const LISTENER: &str = r#"
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else PORT)); s.listen(8)
print("READY", flush=True)
sys.stdin.read()
"#;

fn listener_in(ns: &mut Netns, port: u16) -> u32 {
    ns.run_python(&LISTENER.replace("PORT", &port.to_string()));
    ns.child.as_ref().expect("the python child").id()
}

struct TempRoot(PathBuf);
impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
#[ignore = "needs root: creates cgroups and network namespaces"]
fn containers_and_units_are_named_from_real_cgroups() {
    assert!(common::is_root(), "needs root");
    assert!(common::have("ip") && common::have("python3"), "needs ip and python3");
    let m = mounts();
    let me = std::process::id();
    let state = TempRoot(std::env::temp_dir().join(format!("sockscope-netns-state-{me}")));
    let docker_root = state.0.join("docker");
    let pods_root = state.0.join("pods");
    for (id, name) in [(ID_DOCKER, "shop-web"), (ID_CGROUPFS, "legacy-db"), (ID_QUIET, "quiet")] {
        let dir = docker_root.join("containers").join(id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.v2.json"), format!(r#"{{"ID":"{id}","Name":"/{name}"}}"#)).unwrap();
    }
    std::fs::create_dir_all(pods_root.join(format!("shop_cart-7f9c_{POD_UID}"))).unwrap();

    // Declared before the processes, so dropped after them.
    let mut cgroups = Cgroups::default();
    let uid_ = POD_UID.replace('-', "_");
    let unit = format!("sockscope-netns-{me}.service");
    // (namespace, port, hierarchy, cgroup path)
    let cases: Vec<(&str, u16, &Path, String)> = vec![
        ("cg-docker", 6101, &m.v2, format!("/system.slice/docker-{ID_DOCKER}.scope")),
        ("cg-cgroupfs", 6102, &m.v1_pids, format!("/docker/{ID_CGROUPFS}")),
        (
            "cg-kube",
            6103,
            &m.v1_systemd,
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/cri-containerd-{ID_KUBE}.scope"
            ),
        ),
        ("cg-podman", 6104, &m.v2, format!("/machine.slice/libpod-{ID_PODMAN}.scope")),
        ("cg-unit", 6105, &m.v2, format!("/system.slice/{unit}")),
    ];
    let mut namespaces = Vec::new();
    for (tag, port, root, path) in &cases {
        let mut ns = Netns::create(&format!("netns-{tag}"));
        let pid = listener_in(&mut ns, *port);
        cgroups.put(root, path, pid);
        namespaces.push(ns);
    }
    // A namespace whose only process in a container holds no socket: its first process (a sleep, in the
    // container's cgroup) labels it; the listener is held by a later process outside any container.
    let mut quiet = Netns::create("netns-cg-quiet");
    let mut sleeper = std::process::Command::new("ip")
        .args(["netns", "exec", &quiet.name, "sleep", "600"])
        .spawn()
        .expect("spawn sleep");
    cgroups.put(&m.v2, &format!("/system.slice/docker-{ID_QUIET}.scope"), sleeper.id());
    listener_in(&mut quiet, 6106);

    // A docker-proxy in another namespace forwarding to the Docker container's address (set on its lo).
    assert!(common::sh(&["ip", "-n", &namespaces[0].name, "addr", "add", "10.199.1.2/32", "dev", "lo"]));
    let mut proxy_ns = Netns::create("netns-cg-proxy");
    {
        use std::io::BufRead;
        let script = "import ctypes, socket, sys\n\
            ctypes.CDLL(None).prctl(15, b'docker-proxy', 0, 0, 0)\n\
            s = socket.socket(); s.bind(('127.0.0.1', 6199)); s.listen(8)\n\
            print('READY', flush=True)\n\
            sys.stdin.read()\n";
        let mut child = std::process::Command::new("ip")
            .args(["netns", "exec", &proxy_ns.name, "python3", "-c", script])
            .args(["-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", "6199"])
            .args(["-container-ip", "10.199.1.2", "-container-port", "6101"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the docker-proxy stand-in");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("READY");
        proxy_ns.child = Some(child);
        assert_eq!(line.trim(), "READY");
    }

    let args = |extra: &[&str]| -> Vec<Value> {
        let mut a = vec![
            "--all-netns".to_string(),
            "-tln".into(),
            "--ndjson".into(),
            "--docker-root".into(),
            docker_root.display().to_string(),
            "--pods-root".into(),
            pods_root.display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        common::ndjson(&refs)
    };
    let one = |ns: &Netns, options: &[&str]| -> Value {
        let mut all = options.to_vec();
        all.extend_from_slice(&["netns", ns.name.as_str()]);
        let rows = args(&all);
        assert_eq!(rows.len(), 1, "one listener in {}: {rows:?}", ns.name);
        rows[0].clone()
    };
    for with_p in [false, true] {
        let extra: &[&str] = if with_p { &["-p"] } else { &[] };
        let r = one(&namespaces[0], extra);
        assert_eq!(r["container"]["runtime"], "docker", "{r}");
        assert_eq!(r["container"]["id"], ID_DOCKER);
        assert_eq!(r["container"]["name"], "shop-web");
        assert_eq!(r["unit"], format!("docker-{ID_DOCKER}.scope"));
        let r = one(&namespaces[1], extra);
        assert_eq!(
            (r["container"]["runtime"].as_str(), r["container"]["name"].as_str()),
            (Some("docker"), Some("legacy-db")),
            "{r}"
        );
        let r = one(&namespaces[2], extra);
        assert_eq!(r["container"]["runtime"], "kubernetes", "{r}");
        assert_eq!(r["container"]["id"], ID_KUBE);
        assert_eq!(
            (r["container"]["namespace"].as_str(), r["container"]["pod"].as_str()),
            (Some("shop"), Some("cart-7f9c"))
        );
        let r = one(&namespaces[3], extra);
        assert_eq!(
            (r["container"]["runtime"].as_str(), r["container"]["id"].as_str()),
            (Some("podman"), Some(ID_PODMAN)),
            "{r}"
        );
        let r = one(&quiet, extra);
        assert_eq!(r["container"]["name"], "quiet", "the sleeping first process labels the namespace: {r}");
    }
    // The docker-proxy listener names the container it forwards to, with and without -p.
    for options in [&["-p"][..], &[][..]] {
        let r = one(&proxy_ns, options);
        assert_eq!(r["container"]["name"], "shop-web", "docker-proxy {options:?}: {r}");
    }
    let rows = args(&["container", "shop-web"]);
    let mut ports: Vec<u64> = rows.iter().filter_map(|r| r["local"]["port"].as_u64()).collect();
    ports.sort_unstable();
    assert_eq!(ports, vec![6101, 6199], "the container's listener and its proxy");
    // A systemd unit outside a container: named from the socket's holder, so with -p.
    let r = one(&namespaces[4], &["-p"]);
    assert_eq!(r["unit"], unit.as_str(), "{r}");
    assert_eq!(r["container"], Value::Null);
    // The filter terms and the table column.
    let rows = args(&["container", "legacy-*"]);
    assert_eq!(rows.iter().map(|r| r["local"]["port"].clone()).collect::<Vec<_>>(), vec![6102]);
    let rows = args(&["container", "k8s:shop/cart-*"]);
    assert_eq!(rows.iter().map(|r| r["local"]["port"].clone()).collect::<Vec<_>>(), vec![6103]);
    let rows = args(&["unit", &unit]);
    assert_eq!(rows.iter().map(|r| r["local"]["port"].clone()).collect::<Vec<_>>(), vec![6105]);
    let rows = args(&["cgroup", "/machine.slice/*"]);
    assert_eq!(rows.iter().map(|r| r["local"]["port"].clone()).collect::<Vec<_>>(), vec![6104]);
    let table = common::run_ok(&[
        "--all-netns",
        "-tlnH",
        "--docker-root",
        &docker_root.display().to_string(),
        "--pods-root",
        &pods_root.display().to_string(),
        "sport",
        ">=",
        ":6101",
        "and",
        "sport",
        "<=",
        ":6199",
    ]);
    for label in [
        format!("{} docker:shop-web", namespaces[0].name),
        format!("{} k8s:shop/cart-7f9c", namespaces[2].name),
        format!("{} podman:{}", namespaces[3].name, &ID_PODMAN[..12]),
        format!("{} docker:quiet", quiet.name),
        format!("{} docker:shop-web", proxy_ns.name),
    ] {
        assert!(table.lines().any(|l| l.starts_with(&label)), "no row starts with {label:?}:\n{table}");
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    drop(proxy_ns);
    drop(quiet);
    drop(namespaces);
}
