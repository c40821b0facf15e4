//! Files whose content we do not control (a `/proc` tree given with `--proc-root`, `/proc/PID/*`, the
//! conntrack table, a services file): opened without blocking, refused unless regular (procfs files are),
//! and read with caps on line and file size, so a FIFO cannot hang us and `/dev/zero` cannot exhaust memory.

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The longest line any of our text parsers accepts. Real lines are under 300 bytes (a `/proc/net/unix`
/// path is at most 108 bytes; conntrack lines ~400); a longer one is garbage, not data.
pub const MAX_LINE: usize = 64 * 1024;

/// The largest small file (`/proc/PID/status`, `comm`, sysctl values) read whole.
pub const MAX_SMALL_FILE: usize = 1 << 20;

/// An error for a file of the wrong type; says what it is instead.
pub fn check_file_type(ft: std::fs::FileType) -> io::Result<()> {
    let what = if ft.is_file() {
        return Ok(());
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{what}, not a regular file")))
}

/// Open `path` for reading without blocking (a FIFO with no writer would block `open` forever) and refuse
/// anything but a regular file (procfs files are regular; reads of regular files never block).
pub fn open(path: &Path) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)?;
    check_file_type(file.metadata()?.file_type())?;
    Ok(file)
}

/// Read all of `path` (opened as [`open`] does); more than `cap` bytes is an error.
pub fn read_capped(path: &Path, cap: usize) -> io::Result<Vec<u8>> {
    let file = open(path)?;
    let mut buf = Vec::new();
    file.take(cap as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > cap {
        return Err(too_long("the file is longer", cap));
    }
    Ok(buf)
}

/// [`read_capped`] as text (invalid UTF-8 is an error).
pub fn read_to_string_capped(path: &Path, cap: usize) -> io::Result<String> {
    String::from_utf8(read_capped(path, cap)?).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))
}

fn too_long(what: &str, cap: usize) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what} than {cap} bytes"))
}

/// `read_until(b'\n')` with a cap: appends one line (with its `\n`, if any) to `buf` and returns the bytes
/// read, 0 at the end. A line longer than `max` bytes is an `InvalidData` error, and nothing past the cap is
/// buffered.
pub fn read_line_capped(r: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    let start = buf.len();
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(buf.len() - start);
        }
        let (take, done) = match memchr_nl(avail) {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if buf.len() - start + take > max + usize::from(done) {
            return Err(too_long("a line is longer", max));
        }
        buf.extend_from_slice(&avail[..take]);
        r.consume(take);
        if done {
            return Ok(buf.len() - start);
        }
    }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// Lines of at most [`MAX_LINE`] bytes, without their `\n`: `split(b'\n')` with a cap.
pub struct CappedLines<R> {
    r: R,
    max: usize,
}

impl<R: BufRead> CappedLines<R> {
    pub fn new(r: R) -> Self {
        CappedLines { r, max: MAX_LINE }
    }
}

impl<R: BufRead> Iterator for CappedLines<R> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<io::Result<Vec<u8>>> {
        let mut buf = Vec::new();
        match read_line_capped(&mut self.r, &mut buf, self.max) {
            Ok(0) => None,
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                }
                Some(Ok(buf))
            }
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_capped_without_buffering_past_the_cap() {
        let mut r = io::BufReader::with_capacity(16, io::repeat(b'x'));
        let mut buf = Vec::new();
        let e = read_line_capped(&mut r, &mut buf, 100).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(buf.len() <= 100, "{}", buf.len());
        let mut r = &b"ab\ncd"[..];
        let mut buf = Vec::new();
        assert_eq!(read_line_capped(&mut r, &mut buf, 2).unwrap(), 3);
        assert_eq!(read_line_capped(&mut r, &mut buf, 2).unwrap(), 2);
        assert_eq!(read_line_capped(&mut r, &mut buf, 2).unwrap(), 0);
        assert_eq!(buf, b"ab\ncd");
        let lines: Vec<_> = CappedLines::new(&b"a\n\nb"[..]).map(Result::unwrap).collect();
        assert_eq!(lines, [b"a".to_vec(), vec![], b"b".to_vec()]);
    }

    #[test]
    fn dev_zero_and_fifos_are_refused_not_read() {
        let e = read_capped(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        let dir = std::env::temp_dir().join(format!("sockscope-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        use rustix::fs::{CWD, FileType, Mode, mknodat};
        mknodat(CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        let e = open(&fifo).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        assert!(open(&dir).unwrap_err().to_string().contains("a directory"));
        std::fs::write(dir.join("big"), vec![b'a'; 11]).unwrap();
        assert!(read_capped(&dir.join("big"), 10).unwrap_err().to_string().contains("longer than 10 bytes"));
        assert_eq!(read_capped(&dir.join("big"), 11).unwrap().len(), 11);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
