//! The plain-text table of the port commands (`services`, `audit`, `forwards`): left-aligned columns.

use std::io::{self, Write};

/// A plain table: left-aligned columns two spaces apart, the last one unpadded. Cells are escaped (process
/// names, conntrack fields come from the system).
pub fn write_table(w: &mut dyn Write, head: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let rows: Vec<Vec<String>> =
        rows.iter().map(|r| r.iter().map(|c| crate::model::text::escape(c).into_owned()).collect()).collect();
    let rows = &rows;
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut line = |cells: &mut dyn Iterator<Item = &str>| -> io::Result<()> {
        let mut s = String::new();
        for (i, c) in cells.enumerate() {
            if i + 1 == widths.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.extend(std::iter::repeat_n(' ', widths[i].saturating_sub(c.chars().count()) + 2));
            }
        }
        writeln!(w, "{}", s.trim_end())
    };
    line(&mut head.iter().copied())?;
    for r in rows {
        line(&mut r.iter().map(String::as_str))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_writer_aligns() {
        let mut v = Vec::new();
        write_table(&mut v, &["A", "Bee", "C"], &[vec!["long".into(), "x".into(), "".into()]]).unwrap();
        assert_eq!(String::from_utf8(v).unwrap(), "A     Bee  C\nlong  x\n");
    }
}
