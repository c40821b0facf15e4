//! Lines for stderr (notes, errors) that never panic: `eprintln!` panics when stderr cannot be written (a full
//! disk, `2>/dev/full`, a closed pipe), which would turn any outcome into exit status 101.

use std::fmt;
use std::io::{self, Write};

/// Write a message to stderr, then a newline; a failed write is ignored (the exit status says what happened).
/// Each line of the message is escaped ([`escape`](crate::model::text::escape)): errors quote paths and
/// bytes from files, which must not reach the terminal raw.
pub fn line(args: fmt::Arguments<'_>) {
    let text = args.to_string();
    let mut out = String::with_capacity(text.len() + 1);
    for (i, l) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&crate::model::text::escape(l));
    }
    out.push('\n');
    let _ = io::stderr().lock().write_all(out.as_bytes());
}

/// `eprintln!` that never panics: `errln!("sockscope: {e}")`.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::diag::line(format_args!($($arg)*))
    };
}
