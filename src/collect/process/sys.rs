//! Raw `/proc` access for the fd scan (rustix, no `unsafe`): directory fds, `getdents64` (`RawDir`),
//! `readlinkat`, whole-file reads, and the parsers for what they return. No allocation per fd: names and link
//! targets go through caller buffers.

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{self, AtFlags, Mode, OFlags, RawDir};

/// `PF_KTHREAD` in the flags field of `/proc/PID/stat`.
const PF_KTHREAD: u64 = 0x0020_0000;

/// Read caps for `/proc/PID` files: the kernel's own are far smaller (`comm` 16 bytes, `stat` and `status`
/// about 1.5 KiB); a command line longer than the cap is shown truncated.
pub(super) const COMM_CAP: usize = 256;
pub(super) const STAT_CAP: usize = 4096;
pub(super) const STATUS_CAP: usize = 64 * 1024;
pub(super) const CMDLINE_CAP: usize = 64 * 1024;

/// How a failed call on one process is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// The process (or the fd) went away: normal, skipped silently.
    Gone,
    /// Not allowed to look (`EACCES`/`EPERM`): the process is hidden, not absent.
    Denied,
    /// Anything else.
    Other,
}

pub(super) fn classify(e: &io::Error) -> Failure {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ESRCH) => Failure::Gone,
        Some(libc::EACCES | libc::EPERM) => Failure::Denied,
        _ => Failure::Other,
    }
}

/// A NUL-terminated relative path built on the stack: `"1234/fd"`, `"17"`, ...
pub(super) struct Name {
    buf: [u8; 40],
    len: usize,
}

impl Name {
    pub(super) fn new() -> Name {
        Name { buf: [0; 40], len: 0 }
    }
    pub(super) fn num(n: u32) -> Name {
        let mut s = Name::new();
        s.push_num(n);
        s
    }
    /// `PID/suffix`.
    pub(super) fn pid_file(pid: u32, suffix: &[u8]) -> Name {
        let mut s = Name::num(pid);
        s.push(b"/");
        s.push(suffix);
        s
    }
    pub(super) fn push_num(&mut self, n: u32) {
        self.push(crate::model::text::decimal(n.into(), &mut [0; 20]));
    }
    pub(super) fn push(&mut self, b: &[u8]) {
        // Callers only build short names; the last byte stays NUL.
        let n = b.len().min(self.buf.len() - 1 - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
    }
    /// The name as a C string (the buffer always ends in NUL).
    fn c_str(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.buf[..=self.len]).unwrap_or(c"")
    }
}

/// An open directory (`O_DIRECTORY`), used as the base of `*at` calls.
#[derive(Debug)]
pub(super) struct Dir(OwnedFd);

/// A `getdents64` buffer of `n` bytes (left uninitialised: the kernel fills it).
pub(super) fn dents_buf(n: usize) -> Vec<MaybeUninit<u8>> {
    vec![MaybeUninit::uninit(); n]
}

impl Dir {
    pub(super) fn open(path: &Path) -> io::Result<Dir> {
        Ok(Dir(fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?))
    }

    fn open_raw(&self, name: &Name, flags: OFlags) -> io::Result<OwnedFd> {
        Ok(fs::openat(&self.0, name.c_str(), flags | OFlags::CLOEXEC, Mode::empty())?)
    }

    pub(super) fn open_dir(&self, name: &Name) -> io::Result<Dir> {
        self.open_raw(name, OFlags::RDONLY | OFlags::DIRECTORY).map(Dir)
    }

    /// Call `f(name)` for every entry but `.` and `..` (`getdents64` through `RawDir`). `buf` is the
    /// `getdents64` buffer; a larger one means fewer system calls.
    pub(super) fn for_each_entry(&self, buf: &mut [MaybeUninit<u8>], mut f: impl FnMut(&[u8])) -> io::Result<()> {
        let mut dir = RawDir::new(&self.0, buf);
        while let Some(entry) = dir.next() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                f(name);
            }
        }
        Ok(())
    }

    /// `readlinkat(dir, name)` into `buf`; the target is truncated to the buffer (and then cannot be a socket).
    pub(super) fn read_link<'b>(&self, name: &Name, buf: &'b mut [u8]) -> io::Result<&'b [u8]> {
        let n = fs::readlinkat_raw(&self.0, name.c_str(), &mut *buf)?;
        Ok(&buf[..n.min(buf.len())])
    }

    /// Read the first `cap` bytes at most of a (small, `/proc`-style) file relative to this directory into
    /// `out` (whose capacity is reused from call to call); the rest is not read. Opened without blocking: a
    /// FIFO in a fake tree reads as empty (or fails) instead of hanging, and `/dev/zero` stops at the cap.
    pub(super) fn read_file(&self, name: &Name, out: &mut Vec<u8>, cap: usize) -> io::Result<()> {
        let fd = self.open_raw(name, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY)?;
        out.clear();
        // Plain reads until EOF (std's `read_to_end` adds an fstat and lseeks per file for its size hint).
        let mut chunk = [0u8; 4096];
        while out.len() < cap {
            let want = chunk.len().min(cap - out.len());
            match rustix::io::read(&fd, &mut chunk[..want])? {
                0 => return Ok(()),
                n => out.extend_from_slice(&chunk[..n]),
            }
        }
        Ok(())
    }

    /// `st_size` of the directory itself. On procfs (Linux 6.2+) an fd directory reports its number of open
    /// fds; older kernels report 0.
    pub(super) fn size(&self) -> io::Result<u64> {
        Ok(u64::try_from(fs::fstat(&self.0)?.st_size).unwrap_or(0))
    }

    /// `st_size` of the entry `name` (one `fstatat`): see [`Dir::size`].
    pub(super) fn size_of(&self, name: &Name) -> io::Result<u64> {
        Ok(u64::try_from(fs::statat(&self.0, name.c_str(), AtFlags::empty())?.st_size).unwrap_or(0))
    }

    /// Whether this directory is on procfs (and not a fake tree).
    pub(super) fn is_procfs(&self) -> bool {
        fs::fstatfs(&self.0).is_ok_and(|st| st.f_type == fs::PROC_SUPER_MAGIC)
    }

    /// Identity of the entry `name`: inode number and change time. On procfs a `/proc/PID` inode lives as long
    /// as the process (a reused pid gets a new inode); on a fake tree a re-created directory gets a new ctime.
    pub(super) fn identity(&self, name: &Name) -> io::Result<(u64, i64, i64)> {
        let st = fs::statat(&self.0, name.c_str(), AtFlags::empty())?;
        // The field types differ between rustix backends and architectures.
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        Ok((st.st_ino.into(), st.st_ctime as i64, st.st_ctime_nsec as i64))
    }
}

/// Parse an unsigned decimal number (1 to 20 digits, no sign), overflow-checked.
fn parse_dec(d: &[u8]) -> Option<u64> {
    if d.is_empty() || d.len() > 20 {
        return None;
    }
    d.iter().try_fold(
        0u64,
        |v, &b| if b.is_ascii_digit() { v.checked_mul(10)?.checked_add(u64::from(b - b'0')) } else { None },
    )
}

/// A pid or fd directory entry name (`"1234"`).
pub(super) fn parse_u32(d: &[u8]) -> Option<u32> {
    if d.len() > 10 {
        return None;
    }
    parse_dec(d).and_then(|v| u32::try_from(v).ok())
}

/// The inode of a `socket:[INODE]` link target; `None` for anything else (files, pipes, malformed targets).
pub fn parse_socket_link(target: &[u8]) -> Option<u64> {
    let digits = target.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    parse_dec(digits).filter(|&i| i != 0)
}

/// `/proc/PID/stat`: is this a kernel thread or a dead (zombie) process, i.e. one without an fd table?
// Own parser, not procfs-core 0.18: its `Stat::from_read` panics on odd lines (`(x) S 1`) from a proc root.
pub fn stat_has_no_files(stat: &[u8]) -> bool {
    let Some(close) = stat.iter().rposition(|&b| b == b')') else { return false };
    let mut fields = stat[close + 1..].split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
    // Field 3 is the state, field 9 the flags.
    let state = fields.next().and_then(|s| s.first().copied());
    let flags = fields.nth(5).and_then(parse_dec);
    matches!(state, Some(b'Z' | b'X')) || flags.is_some_and(|f| f & PF_KTHREAD != 0)
}

/// `/proc/PID/stat`: the process's start time (field 22, clock ticks after boot). With the pid, it names one
/// process for its whole life: a reused pid starts later.
pub fn parse_stat_start(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let mut fields = stat[close + 1..].split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
    // The first field after the name is field 3.
    fields.nth(22 - 3).and_then(parse_dec)
}

/// The real uid: first field of the `Uid:` line of `/proc/PID/status`.
// Own parser, not procfs-core: its `Status::from_read` took 22 us a process against 72 ns (a map of every line).
pub fn parse_status_uid(status: &[u8]) -> Option<u32> {
    let line = status.split(|&b| b == b'\n').find_map(|l| l.strip_prefix(b"Uid:"))?;
    let first = line.split(|b| b.is_ascii_whitespace()).find(|f| !f.is_empty())?;
    parse_u32(first)
}

/// `/proc/PID/comm` without its newline.
pub fn parse_comm(comm: &[u8]) -> String {
    String::from_utf8_lossy(comm.strip_suffix(b"\n").unwrap_or(comm)).into_owned()
}

/// `/proc/PID/cmdline`: NUL-separated arguments, joined with spaces, trailing NULs dropped, lossy UTF-8.
// Own parser, not procfs: `Process::cmdline()` fails on arguments that are not UTF-8.
pub fn parse_cmdline(raw: &[u8]) -> String {
    let end = raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let joined: Vec<u8> = raw[..end].iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
    match String::from_utf8(joined) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}
