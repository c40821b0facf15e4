//! Byte-level scanning shared by the `/proc/net` parsers: the line reader, whitespace field splitting and
//! hand-written number parsing over byte slices (no allocation per line or per field).

use std::io::BufRead;

use super::ParseError;

/// Reads a file line by line into one reused buffer, counting lines (1-based).
pub(super) struct LineReader<R> {
    r: R,
    buf: Vec<u8>,
    line: usize,
}

impl<R: BufRead> LineReader<R> {
    pub(super) fn new(r: R) -> Self {
        LineReader { r, buf: Vec::with_capacity(256), line: 0 }
    }

    /// The next line without its `\n`, and its number; `None` at the end of the input.
    pub(super) fn next_line(&mut self) -> Result<Option<(usize, &[u8])>, ParseError> {
        self.buf.clear();
        let n = crate::collect::input::read_line_capped(&mut self.r, &mut self.buf, crate::collect::input::MAX_LINE)
            .map_err(|e| ParseError { line: self.line + 1, msg: format!("read error: {e}") })?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let line = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
        Ok(Some((self.line, line)))
    }
}

/// Splits a line into fields separated by runs of ASCII whitespace.
pub(super) struct Fields<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    pub(super) fn new(line: &'a [u8]) -> Self {
        Fields { line, pos: 0 }
    }

    /// Offset just past the last field returned.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.line.get(self.pos..)?;
        let start = self.pos + rest.iter().position(|b| !b.is_ascii_whitespace())?;
        let tail = self.line.get(start..)?;
        let len = tail.iter().position(u8::is_ascii_whitespace).unwrap_or(tail.len());
        self.pos = start + len;
        tail.get(..len)
    }
}

/// True for a line with nothing but whitespace.
pub(super) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// 1 to 16 hex digits.
pub(super) fn hex_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| Some(acc << 4 | u64::from(hex_digit(b)?)))
}

/// 1 to 8 hex digits.
pub(super) fn hex_u32(s: &[u8]) -> Option<u32> {
    if s.len() > 8 {
        return None;
    }
    hex_u64(s).and_then(|v| u32::try_from(v).ok())
}

/// 1 to 4 hex digits.
pub(super) fn hex_u16(s: &[u8]) -> Option<u16> {
    if s.len() > 4 {
        return None;
    }
    hex_u64(s).and_then(|v| u16::try_from(v).ok())
}

/// 1 to 2 hex digits.
pub(super) fn hex_u8(s: &[u8]) -> Option<u8> {
    if s.len() > 2 {
        return None;
    }
    hex_u64(s).and_then(|v| u8::try_from(v).ok())
}

/// Unsigned decimal, `None` on overflow.
pub(super) fn dec_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d < 10)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Unsigned decimal that must fit a `u32`.
pub(super) fn dec_u32(s: &[u8]) -> Option<u32> {
    dec_u64(s).and_then(|v| u32::try_from(v).ok())
}

/// Signed decimal (`-` allowed), `None` on overflow.
pub(super) fn dec_i64(s: &[u8]) -> Option<i64> {
    match s.split_first() {
        Some((b'-', digits)) => dec_u64(digits).and_then(|v| 0i64.checked_sub_unsigned(v)),
        _ => dec_u64(s).and_then(|v| i64::try_from(v).ok()),
    }
}

/// A field for an error message: lossy UTF-8, cut to a readable length.
pub(super) fn show(s: &[u8]) -> String {
    const MAX: usize = 48;
    let cut = s.get(..MAX).unwrap_or(s);
    let mut out = crate::model::text::escape_bytes(cut);
    if cut.len() < s.len() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_split_on_whitespace_runs() {
        let line = b"  0: 0100007F:1F90\t 00000000:0000  0A ";
        let mut f = Fields::new(line);
        assert_eq!(f.next(), Some(&b"0:"[..]));
        assert_eq!(f.pos(), 4);
        assert_eq!(f.next(), Some(&b"0100007F:1F90"[..]));
        assert_eq!(f.next(), Some(&b"00000000:0000"[..]));
        assert_eq!(f.next(), Some(&b"0A"[..]));
        assert_eq!(f.pos(), line.len() - 1);
        assert_eq!(f.next(), None);
        assert_eq!(f.next(), None);
        assert_eq!(Fields::new(b"").next(), None);
        assert_eq!(Fields::new(b"   ").next(), None);
    }

    #[test]
    fn hex_parsing() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (b"0", Some(0)),
            (b"1F90", Some(0x1f90)),
            (b"ffffffffffffffff", Some(u64::MAX)),
            (b"10000000000000000", None),
            (b"", None),
            (b"12g", None),
            (b"-1", None),
            (b" 1", None),
        ];
        for (s, want) in cases {
            assert_eq!(hex_u64(s), *want, "{}", show(s));
        }
        assert_eq!(hex_u32(b"FFFFFFFF"), Some(u32::MAX));
        assert_eq!(hex_u32(b"100000000"), None);
        assert_eq!(hex_u32(b"0000000001"), None);
        assert_eq!(hex_u16(b"FFFF"), Some(u16::MAX));
        assert_eq!(hex_u16(b"10000"), None);
        assert_eq!(hex_u8(b"0A"), Some(10));
        assert_eq!(hex_u8(b"100"), None);
    }

    #[test]
    fn decimal_parsing() {
        assert_eq!(dec_u64(b"1323841"), Some(1_323_841));
        assert_eq!(dec_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(dec_u64(b"18446744073709551616"), None);
        assert_eq!(dec_u64(b""), None);
        assert_eq!(dec_u64(b"12a"), None);
        assert_eq!(dec_u64(b"+1"), None);
        assert_eq!(dec_u32(b"4294967296"), None);
        assert_eq!(dec_i64(b"-1"), Some(-1));
        assert_eq!(dec_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(dec_i64(b"-9223372036854775809"), None);
        assert_eq!(dec_i64(b"9223372036854775808"), None);
        assert_eq!(dec_i64(b"-"), None);
    }

    #[test]
    fn line_reader_numbers_lines_and_strips_newlines() {
        let mut r = LineReader::new(&b"a\n\nlast"[..]);
        assert_eq!(r.next_line().unwrap(), Some((1, &b"a"[..])));
        assert_eq!(r.next_line().unwrap(), Some((2, &b""[..])));
        assert_eq!(r.next_line().unwrap(), Some((3, &b"last"[..])));
        assert_eq!(r.next_line().unwrap(), None);
    }

    #[test]
    fn show_cuts_long_fields() {
        assert_eq!(show(b"ab\xff"), "ab\\xff");
        // Regression: bytes from the file went raw into error messages.
        assert_eq!(show(b"\x1b[31m\n"), "\\x1b[31m\\x0a");
        assert_eq!(show(&[b'x'; 60]), format!("{}...", "x".repeat(48)));
    }
}
