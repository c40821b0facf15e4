//! Escaping of strings that come from the system (process names and command lines, UNIX socket names,
//! conntrack fields, bytes quoted in parse errors) before they reach a terminal: any local user can put an
//! escape sequence or a newline in a process name. JSON output stays exact; only text for people is escaped.
//! Also the one decimal digit writer of the hot paths that skip `fmt` (the listing's numbers, `/proc` paths).

use std::borrow::Cow;

/// Does `c` need escaping on a terminal? Control characters (C0, DEL, C1) and the bidirectional overrides
/// that reorder what is shown.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped_char(out: &mut String, c: char) {
    use std::fmt::Write;
    let _ = if (c as u32) < 0x100 { write!(out, "\\x{:02x}", c as u32) } else { write!(out, "\\u{{{:x}}}", c as u32) };
}

/// `s` with control characters as `\xNN` (and bidi overrides as `\u{NNNN}`); borrowed when nothing changes.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            push_escaped_char(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`escape`], and `"` as `\"`: for a name shown between double quotes (`users:(("comm",pid=1))`).
pub fn escape_quoted(s: &str) -> Cow<'_, str> {
    match escape(s) {
        e if e.contains('"') => Cow::Owned(e.replace('"', "\\\"")),
        e => e,
    }
}

/// Append raw bytes to `out`, escaped as [`escape`] does; bytes that are not UTF-8 become `\xNN`.
pub fn push_escaped_bytes(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        out.push_str(&escape(chunk.valid()));
        for b in chunk.invalid() {
            push_escaped_char(out, char::from(*b));
        }
    }
}

/// Raw bytes as escaped text.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    push_escaped_bytes(&mut s, bytes);
    s
}

/// The decimal digits of `n`, written into the end of `buf` without going through `fmt`.
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_names_escape_quotes_too() {
        assert!(matches!(escape_quoted("nginx"), Cow::Borrowed("nginx")));
        assert_eq!(escape_quoted("a\"b\x1b"), "a\\\"b\\x1b");
    }

    #[test]
    fn control_bytes_are_escaped_and_plain_text_is_borrowed() {
        let cases: &[(&str, &str)] = &[
            ("nginx", "nginx"),
            ("\x1b[31mEVIL\nX", "\\x1b[31mEVIL\\x0aX"),
            ("tab\there", "tab\\x09here"),
            ("del\x7f", "del\\x7f"),
            ("c1\u{9b}31m", "c1\\x9b31m"),
            ("bidi\u{202e}txt", "bidi\\u{202e}txt"),
            ("ünïcödé ok", "ünïcödé ok"),
        ];
        for (raw, want) in cases {
            assert_eq!(escape(raw), *want, "{raw:?}");
        }
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape_bytes(b"a\xffb\x1b"), "a\\xffb\\x1b");
    }

    #[test]
    fn decimal_digits() {
        for n in [0, 7, 10, 99, 1_000_001, u32::MAX as u64, u64::MAX] {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string().as_bytes());
        }
    }
}
