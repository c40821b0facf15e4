//! The kernel's protocol counters in `/proc/net/netstat` and `/proc/net/snmp`: pairs of lines, a header
//! `Section: Name1 Name2 ...` followed by `Section: value1 value2 ...`. A pure parser and a thin reader.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::Path;

use super::ParseError;
use crate::collect::CollectError;

/// Longest line accepted (the real ones are under 4 KiB; `TcpExt` grows with every kernel).
const MAX_LINE: usize = 64 * 1024;

/// Counters by (section, name), e.g. `("TcpExt", "ListenOverflows")`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters(BTreeMap<(String, String), u64>);

impl Counters {
    pub fn get(&self, section: &str, name: &str) -> Option<u64> {
        // BTreeMap<(String, String)> cannot be queried by (&str, &str) without allocating; these are small.
        self.0.get(&(section.to_string(), name.to_string())).copied()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Add every counter of `other` (a second file).
    pub fn extend(&mut self, other: Counters) {
        self.0.extend(other.0);
    }
}

/// Parse one file. Values that are not unsigned integers (`Tcp: MaxConn` is `-1`) are left out; a values
/// line that does not follow its header line, or has another number of fields, is an error.
// Own parser, not procfs-core 0.18: it has no /proc/net/netstat (TcpExt) reader, and its `Snmp` fails whole when
// one of its fields is missing; one parser serves both files.
pub fn parse(mut r: impl BufRead) -> Result<Counters, ParseError> {
    let mut out = Counters::default();
    let mut header: Option<(String, Vec<String>)> = None;
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = r
            .by_ref()
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| ParseError { line: line_no + 1, msg: e.to_string() })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.len() > MAX_LINE {
            return Err(ParseError { line: line_no, msg: format!("line longer than {MAX_LINE} bytes") });
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let Some((section, rest)) = line.split_once(':') else {
            return Err(ParseError { line: line_no, msg: "expected `Section: fields`".into() });
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        match header.take() {
            Some((h, names)) if h == section => {
                if names.len() != fields.len() {
                    return Err(ParseError {
                        line: line_no,
                        msg: format!("{section}: {} names but {} values", names.len(), fields.len()),
                    });
                }
                for (name, v) in names.into_iter().zip(fields) {
                    if let Ok(v) = v.parse::<u64>() {
                        out.0.insert((section.to_string(), name), v);
                    }
                }
            }
            Some((h, _)) => {
                return Err(ParseError { line: line_no, msg: format!("{h}: header without a values line") });
            }
            None => header = Some((section.to_string(), fields.into_iter().map(str::to_string).collect())),
        }
    }
    if let Some((h, _)) = header {
        return Err(ParseError { line: line_no, msg: format!("{h}: header without a values line") });
    }
    Ok(out)
}

/// Read `<proc_root>/net/netstat` and `<proc_root>/net/snmp` (a missing file contributes nothing).
pub fn read(proc_root: &Path) -> Result<Counters, CollectError> {
    let mut all = Counters::default();
    for file in ["netstat", "snmp"] {
        let path = proc_root.join("net").join(file);
        // Bounded and regular files only: these files are a few KiB.
        let bytes = match crate::collect::input::read_capped(&path, crate::collect::input::MAX_SMALL_FILE) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(CollectError::ProcIo { path, error }),
        };
        let c =
            parse(&bytes[..]).map_err(|e| CollectError::ProcParse { path: path.clone(), line: e.line, msg: e.msg })?;
        all.extend(c);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NETSTAT: &str = "\
TcpExt: SyncookiesSent ListenOverflows ListenDrops
TcpExt: 3 17 19
IpExt: InNoRoutes InOctets
IpExt: 0 123456789012
";
    const SNMP: &str = "\
Tcp: RtoAlgorithm MaxConn ActiveOpens RetransSegs
Tcp: 1 -1 82 5
Udp: InDatagrams NoPorts
Udp: 78 2
";

    #[test]
    fn parses_header_value_pairs() {
        let mut c = parse(NETSTAT.as_bytes()).unwrap();
        c.extend(parse(SNMP.as_bytes()).unwrap());
        assert_eq!(c.get("TcpExt", "ListenOverflows"), Some(17));
        assert_eq!(c.get("TcpExt", "ListenDrops"), Some(19));
        assert_eq!(c.get("IpExt", "InOctets"), Some(123_456_789_012));
        assert_eq!(c.get("Tcp", "RetransSegs"), Some(5));
        assert_eq!(c.get("Udp", "NoPorts"), Some(2));
        // -1 is "no limit", not a counter.
        assert_eq!(c.get("Tcp", "MaxConn"), None);
        assert_eq!(c.get("Tcp", "Nope"), None);
        assert_eq!(c.len(), 10);
    }

    #[test]
    fn bad_files_name_the_line() {
        for (text, line, what) in [
            ("TcpExt: A B\nTcpExt: 1\n", 2, "2 names but 1 values"),
            ("TcpExt: A B\nIpExt: 1 2\n", 2, "header without a values line"),
            ("TcpExt: A B\n", 1, "header without a values line"),
            ("garbage\n", 1, "expected"),
        ] {
            let e = parse(text.as_bytes()).unwrap_err();
            assert_eq!(e.line, line, "{text:?}");
            assert!(e.msg.contains(what), "{text:?}: {}", e.msg);
        }
        assert!(parse("".as_bytes()).unwrap().is_empty());
        let long = format!("TcpExt: {}\n", "A ".repeat(MAX_LINE));
        assert!(parse(long.as_bytes()).unwrap_err().msg.contains("longer"));
    }

    #[test]
    fn reads_the_live_files() {
        let c = read(Path::new("/proc")).unwrap();
        assert!(c.get("Tcp", "ActiveOpens").is_some(), "{c:?}");
        assert!(c.get("TcpExt", "ListenOverflows").is_some());
    }
}
