//! `kill` against a scripted connection in a private network namespace: it closes it (the peer sees a
//! reset), asks on a terminal and takes no for an answer, and is refused cleanly without privilege.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;

use common::Netns;

struct Connection {
    child: Child,
    lines: Receiver<String>,
}

impl Connection {
    fn start(ns: &Netns, wait_s: u32) -> Connection {
        let (child, lines) = common::python(ns, &common::ONE_CONNECTION.replace("WAIT", &wait_s.to_string()));
        Connection { child, lines }
    }

    /// What the client saw.
    fn outcome(&mut self) -> String {
        self.lines.recv_timeout(std::time::Duration::from_secs(30)).unwrap_or_default()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn established(ns: &Netns) -> usize {
    let out = ns.sockscope(&["-tnH", "state", "established"]);
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
#[ignore = "needs root: a private network namespace and CAP_NET_ADMIN for SOCK_DESTROY"]
fn kill_closes_the_connection_and_the_peer_sees_a_reset() {
    common::require_root();
    let ns = Netns::create("time-kill");
    let mut conn = Connection::start(&ns, 20);
    let out = ns.sockscope(&["kill", "--yes", "-n", "sport", ":5000"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.lines().count(), 1, "one socket selected: {text}");
    assert!(text.starts_with("closed  tcp ESTAB 127.0.0.1:5000 127.0.0.1:"), "{text}");
    assert_eq!(conn.outcome(), "RESET");
    assert_eq!(established(&ns), 0);

    // ss's spelling: -K without a filter is refused, with one it closes without asking.
    let out = ns.sockscope(&["-K", "-t"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-K needs a filter"));
}

#[test]
#[ignore = "needs root: a private network namespace"]
fn kill_asks_on_a_terminal_and_no_means_no() {
    common::require_root();
    common::require(&["script"]);
    let ns = Netns::create("time-kill-ask");
    let _conn = Connection::start(&ns, 30);
    assert_eq!(established(&ns), 2);
    // `script` gives the command a pseudo-terminal; the answer "n" arrives on it.
    let cmd = format!("ip netns exec {} {} kill -n dport :5000", ns.name, env!("CARGO_BIN_EXE_sockscope"));
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        stdin.write_all(b"n\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Close these 1 sockets? [y/N]"), "{text}");
    assert!(text.contains("nothing closed"), "{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(established(&ns), 2, "the connection is still there");

    // Not a terminal and no --yes: refused.
    let out = ns.sockscope(&["kill", "dport", ":5000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --yes"));
    // No filter at all: refused before anything is read.
    let out = ns.sockscope(&["kill", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to close every connected socket"));
    assert_eq!(established(&ns), 2);
}

#[test]
#[ignore = "needs root: a private network namespace, and setpriv to drop privilege"]
fn kill_without_privilege_is_refused_cleanly() {
    common::require_root();
    let ns = Netns::create("time-kill-nobody");
    let _conn = Connection::start(&ns, 30);
    let nobody = common::AsNobody::new(env!("CARGO_BIN_EXE_sockscope"));
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(nobody.path())
        .args(["kill", "--yes", "-n", "dport", ":5000"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim(), "sockscope: closing sockets needs CAP_NET_ADMIN (run as root); nothing was closed");
    assert!(out.stdout.is_empty());
    assert_eq!(established(&ns), 2);
}
