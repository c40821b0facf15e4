//! Rows for tests: a listener's group and a socket event, shared by the recording, diff and replay tests;
//! and a recording's path in the temp directory that is removed, with its WAL files, when the test ends.

use super::{EventRow, GroupRow};

/// The group of a TCP listener on 127.0.0.1:`port` with `established` connections.
pub fn group_row(port: u16, established: u32) -> GroupRow {
    GroupRow {
        peers: 1,
        owner: Some("python3/42".into()),
        ..super::synthetic::listener_group(std::net::Ipv4Addr::LOCALHOST.into(), port, established)
    }
}

/// An event of a connection 127.0.0.1:`local_port` -> 127.0.0.1:`peer_port` with cookie `cookie`.
pub fn event_row(time_ms: u64, kind: &str, cookie: u64, (local_port, peer_port): (u16, u16)) -> EventRow {
    let (local, peer) = (("127.0.0.1", local_port), ("127.0.0.1", peer_port));
    EventRow {
        lifetime_ms: (kind == "close").then_some(5),
        ..super::synthetic::tcp_event(time_ms, kind, cookie, local, peer)
    }
}

/// A recording's path in the temp directory (`sockscope-time-{name}-{pid}.db`), removed with its WAL files
/// when created and when dropped: tests leave nothing behind.
pub struct TempPath(std::path::PathBuf);

impl TempPath {
    pub fn new(name: &str) -> TempPath {
        let p = TempPath(std::env::temp_dir().join(format!("sockscope-time-{name}-{}.db", std::process::id())));
        p.remove();
        p
    }
    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl std::ops::Deref for TempPath {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempPath {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        self.remove();
    }
}
