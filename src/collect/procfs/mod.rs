//! The `/proc/net/*` collector: [`ProcCollector`] and its file I/O (opening `<root>/net/<file>`, telling read
//! errors from parse errors, the clock tick rate); the parsers themselves are pure and live in `inet` and `unix`.

pub mod counters;
mod inet;
mod scan;
pub mod sockstat;
mod unix;

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

pub use inet::parse_inet;
pub use unix::parse_unix;

use super::{CollectError, Collector, Query, Sink, Snapshot, Table};
use crate::model::{Endpoint, Socket};

/// A line of a `/proc/net` file that could not be parsed (or a read error while parsing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number (0: not about any line).
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

impl std::error::Error for ParseError {}

pub struct ProcCollector {
    root: PathBuf,
}

impl ProcCollector {
    /// A collector reading `root/net/*`; `root` is normally `/proc`.
    pub fn new(root: PathBuf) -> Self {
        ProcCollector { root }
    }

    /// Reads `root/net/<table.proc_file()>`, returns only sockets whose state is in `q.states`.
    ///
    /// A missing file (e.g. `tcp6` on a kernel without IPv6) is an empty table, not an error; a missing
    /// `root/net` directory is an error (a wrong `--proc-root` must not look like a host without sockets).
    pub fn collect_table(&self, q: &Query, table: Table) -> Result<Vec<Socket>, CollectError> {
        Ok(self.read_table(q, table)?.unwrap_or_default())
    }

    /// [`collect_table`](Self::collect_table), with `None` for a table whose file does not exist.
    fn read_table(&self, q: &Query, table: Table) -> Result<Option<Vec<Socket>>, CollectError> {
        if table == Table::TcpAll {
            let v4 = self.read_table(q, Table::Tcp4)?;
            let v6 = self.read_table(q, Table::Tcp6)?;
            return Ok(match (v4, v6) {
                (None, None) => None,
                (a, b) => Some(a.into_iter().chain(b).flatten().collect()),
            });
        }
        if !matches!(
            table,
            Table::Unix | Table::Tcp4 | Table::Tcp6 | Table::Udp4 | Table::Udp6 | Table::Raw4 | Table::Raw6
        ) {
            return Err(CollectError::Unsupported { table });
        }
        let dir = self.root.join("net");
        let path = dir.join(table.proc_file());
        let file = match super::input::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return match std::fs::metadata(&dir) {
                    Ok(m) if m.is_dir() => Ok(None),
                    Ok(_) => Err(CollectError::ProcIo { path: dir, error: io::Error::other("not a directory") }),
                    Err(error) => Err(CollectError::ProcIo { path: dir, error }),
                };
            }
            Err(e) => return Err(CollectError::ProcIo { path, error: e }),
        };
        let mut read_error = None;
        let reader = ErrorTap { inner: BufReader::with_capacity(128 * 1024, file), error: &mut read_error };
        let parsed = match table {
            Table::Unix => parse_unix(reader, q.states),
            _ => parse_inet(reader, table, q.states, clock_ticks_per_sec()),
        };
        match (parsed, read_error) {
            (_, Some(error)) => Err(CollectError::ProcIo { path, error }),
            (Ok(mut socks), None) => {
                dedupe(&mut socks);
                Ok(Some(socks))
            }
            (Err(e), None) => Err(CollectError::ProcParse { path, line: e.line, msg: e.msg }),
        }
    }
}

/// `/proc/net/*` is read a page at a time while the tables change underneath, so a socket that moves within
/// its hash chain between two reads can be printed twice. Keep the first of identical rows.
fn dedupe(socks: &mut Vec<Socket>) {
    let mut seen: crate::hash::FastSet<(u64, &Endpoint, &Endpoint)> =
        crate::hash::FastSet::with_capacity_and_hasher(socks.len(), Default::default());
    let keep: Vec<bool> = socks.iter().map(|s| seen.insert((s.inode, &s.local, &s.peer))).collect();
    if keep.iter().all(|k| *k) {
        return;
    }
    let mut flags = keep.into_iter();
    socks.retain(|_| flags.next().unwrap_or(true));
}

impl Collector for ProcCollector {
    /// Table after table; each file is read whole, then handed on.
    fn stream(&mut self, q: &Query, sink: &mut Sink<'_>) -> Result<Snapshot, CollectError> {
        let mut snap = Snapshot::default();
        let (mut found, mut missing) = (0, Vec::new());
        for t in q.tables() {
            match self.read_table(q, t)? {
                Some(part) => {
                    found += 1;
                    snap.sources.push((t, super::Source::Proc));
                    if !part.is_empty() && !sink(part) {
                        break;
                    }
                }
                None => {
                    missing.push(t);
                    snap.sources.push((t, super::Source::Proc));
                }
            }
        }
        if found == 0 && !missing.is_empty() {
            let files: Vec<&str> = missing.iter().map(|t| t.proc_file()).collect();
            return Err(CollectError::ProcTablesMissing { dir: self.root.join("net"), files: files.join(", ") });
        }
        Ok(snap)
    }
}

/// The unit of `tm->when` in `/proc/net/tcp`: the kernel prints `jiffies_delta_to_clock_t`, in clock ticks
/// of `sysconf(_SC_CLK_TCK)` (USER_HZ, 100 on Linux).
fn clock_ticks_per_sec() -> u64 {
    crate::sys::clock_ticks_per_second().unwrap_or(100)
}

/// Passes reads through, keeping the first read error so that the caller can report it as I/O rather
/// than as the parse error the parser turns it into.
struct ErrorTap<'a, R> {
    inner: R,
    error: &'a mut Option<io::Error>,
}

/// Record `e` (the first one that is not EINTR) and hand the parser a copy.
fn keep(slot: &mut Option<io::Error>, e: io::Error) -> io::Error {
    let copy = io::Error::new(e.kind(), e.to_string());
    if e.kind() != io::ErrorKind::Interrupted && slot.is_none() {
        *slot = Some(e);
    }
    copy
}

impl<R: Read> Read for ErrorTap<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| keep(self.error, e))
    }
}

impl<R: BufRead> BufRead for ErrorTap<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self.inner.fill_buf() {
            Ok(buf) => Ok(buf),
            Err(e) => Err(keep(self.error, e)),
        }
    }

    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StateSet;

    /// A reader that yields some bytes, then fails.
    struct Failing(&'static [u8]);

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn read_errors_are_kept_apart_from_parse_errors() {
        let mut error = None;
        let reader = ErrorTap { inner: BufReader::new(Failing(b"  sl  local_address\n")), error: &mut error };
        let err = parse_inet(reader, Table::Tcp4, StateSet::ALL, 100).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.msg.starts_with("read error"), "{}", err.msg);
        assert_eq!(error.map(|e| e.raw_os_error()), Some(Some(libc::EIO)));

        let mut error = None;
        let reader = ErrorTap { inner: BufReader::new(&b"junk\n"[..]), error: &mut error };
        assert_eq!(parse_unix(reader, StateSet::ALL).unwrap_err().line, 1);
        assert!(error.is_none());
    }
}

#[cfg(test)]
mod dedupe_tests {
    use super::*;
    use crate::model::State;

    /// Regression: a /proc/net/tcp read while other sockets were being created listed one socket twice.
    #[test]
    fn identical_rows_read_twice_are_kept_once() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:9FA1 0100007F:99BE 01 00000000:00000000 00:00000000 00000000     0        0 2218014 1
   1: 0100007F:9FA1 0100007F:99B4 01 00000000:00000000 00:00000000 00000000     0        0 2218013 1
   2: 0100007F:9FA1 0100007F:99BE 01 00000000:00000000 00:00000000 00000000     0        0 2218014 1
   3: 0100007F:1F90 0100007F:99C0 06 00000000:00000000 03:00001770 00000000     0        0 0 3
   4: 0100007F:1F90 0100007F:99C1 06 00000000:00000000 03:00001770 00000000     0        0 0 3
";
        let mut socks = parse_inet(text.as_bytes(), Table::Tcp4, crate::model::StateSet::ALL, 100).unwrap();
        assert_eq!(socks.len(), 5);
        dedupe(&mut socks);
        let inodes: Vec<u64> = socks.iter().map(|s| s.inode).collect();
        assert_eq!(inodes, vec![2218014, 2218013, 0, 0], "two TIME-WAIT sockets with inode 0 both stay");
        assert!(socks.iter().filter(|s| s.state == State::TIME_WAIT).count() == 2);
    }
}
