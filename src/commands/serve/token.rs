//! The bearer token of `--token-file`: its first line, read again whenever the file changes (a request checks
//! the file's inode, size and times first), so a rotated token is taken without a restart, as Prometheus
//! re-reads its own credentials file on every scrape.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Longest token accepted from the file (a header line must hold it).
pub const MAX_TOKEN: usize = 4096;

/// The token: the file's first line without surrounding white space; visible ASCII only (it travels in a
/// header). Opened without blocking and only when it is a regular file (a FIFO would hang every request).
pub fn read(path: &Path) -> Result<String, String> {
    let mut text = String::new();
    crate::collect::input::open(path)
        .and_then(|f| f.take(MAX_TOKEN as u64 + 2).read_to_string(&mut text))
        .map_err(|e| e.to_string())?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        return Err("the first line is empty".into());
    }
    if token.len() > MAX_TOKEN {
        return Err(format!("the token is longer than {MAX_TOKEN} bytes"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token must be visible ASCII characters".into());
    }
    Ok(token.to_string())
}

/// What tells one version of the file from the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    // Followed through symlinks: a Kubernetes secret is swapped by replacing the link.
    let m = std::fs::metadata(path)?;
    Ok(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

/// The token file and the token last read from it.
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    last: Mutex<(Option<Stamp>, Result<String, String>)>,
}

impl TokenFile {
    /// Read the file now; `Err` says why it holds no token.
    pub fn open(path: &Path) -> Result<TokenFile, String> {
        let stamp = stamp(path).ok();
        let token = read(path)?;
        Ok(TokenFile { path: path.to_path_buf(), last: Mutex::new((stamp, Ok(token))) })
    }

    /// The token as the file says now: read again when the file changed. `Err` (logged once per change)
    /// when the file is gone or holds no token: then no request is let in.
    pub fn current(&self) -> Result<String, String> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let now = stamp(&self.path);
        if let Ok(s) = &now
            && last.0 == Some(*s)
        {
            return last.1.clone();
        }
        let token = match &now {
            Ok(_) => read(&self.path),
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = &token
            && last.1.as_ref().err() != Some(why)
        {
            crate::errln!(
                "sockscope: --token-file {}: {why}; requests are refused until it is fixed",
                self.path.display()
            );
        }
        *last = (now.ok(), token.clone());
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_the_first_line() {
        let dir = std::env::temp_dir().join(format!("sockscope-serve-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "  s3cret-token \nsecond line\n").unwrap();
        assert_eq!(read(&file).unwrap(), "s3cret-token");
        std::fs::write(&file, "\n").unwrap();
        assert!(read(&file).unwrap_err().contains("empty"));
        std::fs::write(&file, "two words\n").unwrap();
        assert!(read(&file).unwrap_err().contains("visible ASCII"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The token was read once at start: rotating it (as Prometheus's credentials file is rotated) needed a
    /// restart, and the old token stayed valid. Now each check sees the file as it is.
    #[test]
    fn a_rotated_token_is_taken_without_a_restart() {
        let dir = std::env::temp_dir().join(format!("sockscope-serve-rotate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "first\n").unwrap();
        let t = TokenFile::open(&file).unwrap();
        assert_eq!(t.current().unwrap(), "first");
        // Written in place (same inode, maybe the same mtime tick: the size differs) and by rename.
        std::fs::write(&file, "second-one\n").unwrap();
        assert_eq!(t.current().unwrap(), "second-one");
        std::fs::write(dir.join("new"), "third-token\n").unwrap();
        std::fs::rename(dir.join("new"), &file).unwrap();
        assert_eq!(t.current().unwrap(), "third-token");
        // Gone or empty: nothing is let in (the old token is not kept).
        std::fs::remove_file(&file).unwrap();
        assert!(t.current().is_err());
        std::fs::write(&file, "\n").unwrap();
        assert!(t.current().unwrap_err().contains("empty"));
        std::fs::write(&file, "back\n").unwrap();
        assert_eq!(t.current().unwrap(), "back");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
