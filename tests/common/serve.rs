//! Helpers of the exporter's tests (`tests/serve*.rs`): start `sockscope serve` on a loopback port and kill it
//! with the test, plain HTTP/1.0 requests over a socket, a thread inside a network namespace.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// Processes (and a temp directory) that go away with the test, panic or not, and the stderr lines of the
/// exporters among them.
#[derive(Default)]
pub struct Procs {
    pub children: Vec<Child>,
    pub dirs: Vec<PathBuf>,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Procs {
    /// With a directory removed at the end.
    pub fn with_dir(dir: &std::path::Path) -> Procs {
        let mut p = Procs::default();
        p.dirs.push(dir.to_path_buf());
        p
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Start `cmd` (a `sockscope serve ... --listen 127.0.0.1:0`) and return the address it serves on, read from
/// its first stderr line; the rest of stderr is passed through.
pub fn start_serve(procs: &mut Procs, mut cmd: Command) -> SocketAddr {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn sockscope serve");
    let mut err = BufReader::new(child.stderr.take().expect("piped stderr"));
    procs.children.push(child);
    let mut line = String::new();
    err.read_line(&mut line).expect("read the first stderr line");
    let log = procs.log.clone();
    std::thread::spawn(move || {
        for l in err.lines().map_while(Result::ok) {
            eprintln!("[serve] {l}");
            log.lock().unwrap().push(l);
        }
    });
    line.split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
}

/// The exporter on loopback, without the listeners' process lookup (a scan of every process's fds: seconds
/// on a busy shared machine; the namespace tests cover it). Requests get a generous timeout unless the test
/// sets its own.
pub fn serve_local(procs: &mut Procs, extra: &[&str]) -> SocketAddr {
    let mut cmd = super::bin();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--no-processes"]);
    if !extra.contains(&"--request-timeout") {
        cmd.args(["--request-timeout", "120s"]);
    }
    cmd.args(extra);
    start_serve(procs, cmd)
}

/// A response: status, head (lower-cased) and body.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// An HTTP/1.0 request (the server closes the connection after it, no chunking) over a plain socket.
pub fn try_request(addr: SocketAddr, method: &str, target: &str, headers: &[&str]) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(150)))?;
    let mut req = format!("{method} {target} HTTP/1.0\r\nHost: {addr}\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok(Reply { status, head: head.to_ascii_lowercase(), body: body.to_string() })
}

pub fn request(addr: SocketAddr, method: &str, target: &str, headers: &[&str]) -> Reply {
    try_request(addr, method, target, headers).unwrap_or_else(|e| panic!("{method} {target} on {addr}: {e}"))
}

pub fn get(addr: SocketAddr, target: &str) -> Reply {
    request(addr, "GET", target, &[])
}

/// The value of the sample line starting with `series` (name and labels exactly as written).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

pub fn percent_encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// Run `f` on a thread that has entered the network namespace `name` (setns affects only that thread).
pub fn in_netns<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{name}");
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&ns),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap_or_else(|e| panic!("setns {path}: {e}"));
        f()
    })
    .join()
    .expect("the thread in the namespace panicked")
}

/// The first line of an API error (the message, without the filter echoed under it).
pub fn error_line(r: &Reply) -> String {
    r.json()["error"].as_str().unwrap_or_else(|| panic!("no error in {}", r.body)).lines().next().unwrap().to_string()
}
