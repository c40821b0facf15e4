//! End to end with a real Docker daemon (needs root and Debian's docker.io and busybox-static): a private
//! `dockerd --bridge=none --iptables=false` with its own data root, an image built `FROM scratch` with a static
//! busybox (no pull), a container `--network none` listening with `busybox nc -l -p 8080`; `--all-netns` must
//! name the container its listener lives in. The daemon, container and directories go away in a guard.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Daemon {
    dir: PathBuf,
    sock: String,
    child: Child,
}

impl Daemon {
    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .arg("-H")
            .arg(&self.sock)
            .args(args)
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .expect("docker")
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.docker(&["rm", "-f", &format!("sockscope-netns-web-{}", std::process::id())]);
        // SIGTERM: dockerd stops its containerd and unmounts its layers.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_daemon() -> Daemon {
    let dir = std::env::temp_dir().join(format!("sockscope-netns-dockerd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sock = format!("unix://{}", dir.join("docker.sock").display());
    let log = std::fs::File::create(dir.join("dockerd.log")).expect("log file");
    let child = Command::new("dockerd")
        .args(["--bridge=none", "--iptables=false", "--ip6tables=false", "--host", &sock])
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(dir.join("dockerd.pid"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn dockerd");
    let d = Daemon { dir, sock, child };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if d.docker(&["info"]).status.success() {
            return d;
        }
        let log = std::fs::read_to_string(d.dir.join("dockerd.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "dockerd did not come up in 60 s:\n{log}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
#[ignore = "needs root: runs dockerd (Debian docker.io) and a busybox container"]
fn a_docker_container_is_named() {
    assert!(common::is_root(), "needs root");
    for cmd in ["dockerd", "docker"] {
        assert!(common::have(cmd), "needs {cmd} (apt-get install docker.io)");
    }
    let busybox = PathBuf::from("/bin/busybox");
    assert!(busybox.exists(), "needs a static busybox (apt-get install busybox-static)");
    let d = start_daemon();
    let me = std::process::id();
    let ctx = d.dir.join("image");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy(&busybox, ctx.join("busybox")).expect("copy busybox");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\n")
        .unwrap();
    let image = format!("sockscope-netns-busybox-{me}");
    d.docker_ok(&["build", "-q", "-t", &image, &ctx.display().to_string()]);
    let name = format!("sockscope-netns-web-{me}");
    let id = d.docker_ok(&["run", "-d", "--network", "none", "--name", &name, &image, "nc", "-l", "-p", "8080"]);
    assert_eq!(id.len(), 64, "a container id: {id}");

    let data_root = d.dir.join("data").display().to_string();
    // The listener may take a moment to appear after `docker run` returns.
    let deadline = Instant::now() + Duration::from_secs(20);
    let row = loop {
        let rows =
            common::ndjson(&["--all-netns", "-tln", "--ndjson", "--docker-root", &data_root, "container", &name]);
        if let Some(r) = rows.into_iter().next() {
            break r;
        }
        assert!(Instant::now() < deadline, "no listener of container {name} appeared");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(row["local"]["port"], 8080, "{row}");
    assert_eq!(row["container"]["runtime"], "docker");
    assert_eq!(row["container"]["id"], id.as_str());
    assert_eq!(row["container"]["name"], name.as_str());
    let table = common::run_ok(&["--all-netns", "-tlnH", "--docker-root", &data_root, "sport", "=", ":8080"]);
    let label = format!("docker:{name}");
    assert!(table.lines().any(|l| l.starts_with(&label)), "no row labelled {label}:\n{table}");
    // -N PID of the container's process reads the same namespace.
    let pid = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", &name]);
    let rows = common::ndjson(&["-N", &pid, "-tln", "--ndjson", "--docker-root", &data_root]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["container"]["name"], name.as_str());
}
