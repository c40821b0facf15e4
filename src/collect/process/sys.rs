//! Raw `/proc` access for the fd scan: directory fds, `getdents64`, `readlinkat`, whole-file reads, and the
//! parsers for what they return. No allocation per fd: names and link targets go through caller buffers.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `PF_KTHREAD` in the flags field of `/proc/PID/stat`.
const PF_KTHREAD: u64 = 0x0020_0000;

/// `f_type` of procfs in `statfs`.
const PROC_SUPER_MAGIC: libc::__fsword_t = 0x9fa0;

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
    pub(super) fn push_num(&mut self, mut n: u32) {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
    pub(super) fn push(&mut self, b: &[u8]) {
        // Callers only build short names; the last byte stays NUL.
        let n = b.len().min(self.buf.len() - 1 - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
    }
    fn ptr(&self) -> *const libc::c_char {
        self.buf.as_ptr().cast()
    }
}

/// An open directory (`O_DIRECTORY`), used as the base of `*at` calls.
#[derive(Debug)]
pub(super) struct Dir(OwnedFd);

fn cvt(rc: libc::c_long) -> io::Result<usize> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc as usize) }
}

impl Dir {
    pub(super) fn open(path: &Path) -> io::Result<Dir> {
        let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `c` is a valid NUL-terminated string; the returned fd is owned below.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        cvt(fd as libc::c_long)?;
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(Dir(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn open_raw(&self, name: &Name, flags: libc::c_int) -> io::Result<OwnedFd> {
        // SAFETY: `name` is NUL-terminated and the dir fd is open for the lifetime of `self`.
        let fd = unsafe { libc::openat(self.0.as_raw_fd(), name.ptr(), flags | libc::O_CLOEXEC) };
        cvt(fd as libc::c_long)?;
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    pub(super) fn open_dir(&self, name: &Name) -> io::Result<Dir> {
        self.open_raw(name, libc::O_RDONLY | libc::O_DIRECTORY).map(Dir)
    }

    /// Call `f(name)` for every entry but `.` and `..`. `buf` is the `getdents64` buffer; a larger one
    /// means fewer system calls.
    pub(super) fn for_each_entry(&self, buf: &mut [u8], mut f: impl FnMut(&[u8])) -> io::Result<()> {
        loop {
            // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
            let n =
                cvt(unsafe { libc::syscall(libc::SYS_getdents64, self.0.as_raw_fd(), buf.as_mut_ptr(), buf.len()) })?;
            if n == 0 {
                return Ok(());
            }
            // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
            let mut off = 0;
            while off + 19 < n {
                let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
                if reclen == 0 || off + reclen > n {
                    break;
                }
                let raw = &buf[off + 19..off + reclen];
                let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
                if name != b"." && name != b".." {
                    f(name);
                }
                off += reclen;
            }
        }
    }

    /// `readlinkat(dir, name)` into `buf`; the target is truncated to the buffer (and then cannot be a socket).
    pub(super) fn read_link<'b>(&self, name: &Name, buf: &'b mut [u8]) -> io::Result<&'b [u8]> {
        // SAFETY: `name` is NUL-terminated; the kernel writes at most `buf.len()` bytes.
        let n = cvt(unsafe {
            libc::readlinkat(self.0.as_raw_fd(), name.ptr(), buf.as_mut_ptr().cast(), buf.len()) as libc::c_long
        })?;
        Ok(&buf[..n])
    }

    /// Read the first `cap` bytes at most of a (small, `/proc`-style) file relative to this directory into
    /// `out`; the rest is not read. Opened without blocking and refused unless regular (a FIFO or a device
    /// in a fake tree must neither hang nor flood us).
    pub(super) fn read_file(&self, name: &Name, out: &mut Vec<u8>, cap: usize) -> io::Result<()> {
        let fd = self.open_raw(name, libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY)?;
        let file = std::fs::File::from(fd);
        crate::collect::input::check_file_type(file.metadata()?.file_type())?;
        out.clear();
        io::Read::read_to_end(&mut io::Read::take(&file, cap as u64), out)?;
        Ok(())
    }

    /// `st_size` of the directory itself. On procfs (Linux 6.2+) an fd directory reports its number of open
    /// fds; older kernels report 0.
    pub(super) fn size(&self) -> io::Result<u64> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: the fd is open; `st` is written by the kernel on success.
        cvt(unsafe { libc::fstat(self.0.as_raw_fd(), st.as_mut_ptr()) } as libc::c_long)?;
        // SAFETY: fstat succeeded, so `st` is initialised.
        Ok(u64::try_from(unsafe { st.assume_init() }.st_size).unwrap_or(0))
    }

    /// Whether this directory is on procfs (and not a fake tree).
    pub(super) fn is_procfs(&self) -> bool {
        let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
        // SAFETY: the fd is open; `st` is written by the kernel on success.
        if unsafe { libc::fstatfs(self.0.as_raw_fd(), st.as_mut_ptr()) } != 0 {
            return false;
        }
        // SAFETY: fstatfs succeeded, so `st` is initialised.
        unsafe { st.assume_init() }.f_type == PROC_SUPER_MAGIC
    }

    /// Identity of the entry `name`: inode number and change time. On procfs a `/proc/PID` inode lives as long
    /// as the process (a reused pid gets a new inode); on a fake tree a re-created directory gets a new ctime.
    pub(super) fn identity(&self, name: &Name) -> io::Result<(u64, i64, i64)> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `name` is NUL-terminated; `st` is written by the kernel on success.
        cvt(unsafe { libc::fstatat(self.0.as_raw_fd(), name.ptr(), st.as_mut_ptr(), 0) } as libc::c_long)?;
        // SAFETY: fstatat succeeded, so `st` is initialised.
        let st = unsafe { st.assume_init() };
        Ok((st.st_ino, st.st_ctime, st.st_ctime_nsec))
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
pub fn stat_has_no_files(stat: &[u8]) -> bool {
    let Some(close) = stat.iter().rposition(|&b| b == b')') else { return false };
    let mut fields = stat[close + 1..].split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
    // Field 3 is the state, field 9 the flags.
    let state = fields.next().and_then(|s| s.first().copied());
    let flags = fields.nth(5).and_then(parse_dec);
    matches!(state, Some(b'Z' | b'X')) || flags.is_some_and(|f| f & PF_KTHREAD != 0)
}

/// The real uid: first field of the `Uid:` line of `/proc/PID/status`.
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
pub fn parse_cmdline(raw: &[u8]) -> String {
    let end = raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let joined: Vec<u8> = raw[..end].iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
    match String::from_utf8(joined) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}
