//! The streaming listing: rows are written while the collector is still dumping, chunks align on their own,
//! JSON stays one valid array, a closed output stops the dump.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::collect::{CollectError, Query, Snapshot, SourceChoice};
use crate::filter::Expr;
use crate::model::{Proto, State};
use crate::output::table::TableOptions;

fn config(format: Format) -> ListConfig {
    ListConfig {
        query: Query::default(),
        summary: false,
        summary_only: false,
        diag: None,
        from_dump: None,
        threads: false,
        cgroups: false,
        filter: Expr::True,
        format,
        table: TableOptions { header: true, state: true, ..TableOptions::default() },
        numeric: true,
        resolve: false,
        processes: false,
        source: SourceChoice::Auto,
        proc_root: PathBuf::from("/proc"),
        services: Default::default(),
        netns: Default::default(),
        state_roots: Default::default(),
    }
}

fn sock(i: usize) -> Socket {
    let lo = IpAddr::V4(Ipv4Addr::new(127, 0, (i >> 8) as u8, i as u8));
    Socket::inet(Proto::Tcp, State::ESTABLISHED, (lo, 10000 + (i % 50000) as u16), (lo, 80))
}

/// Streams `batches` batches of 1024 sockets; before each one it checks that the writer has already
/// written the rows of all but the batches that may be in flight.
struct Checking {
    batches: usize,
    written: Arc<AtomicUsize>,
}

impl Collector for Checking {
    fn stream(&mut self, _q: &Query, sink: &mut collect::Sink<'_>) -> Result<Snapshot, CollectError> {
        for b in 0..self.batches {
            // The writer may lag by the channel, the batch it holds and the one being sent, plus a table
            // chunk (about 60k rows); nothing more.
            let must = (b * 1024).saturating_sub((IN_FLIGHT + 2) * 1024 + 70_000);
            let mut waited = 0;
            while self.written.load(Ordering::SeqCst) < must {
                std::thread::sleep(std::time::Duration::from_millis(1));
                waited += 1;
                assert!(waited < 60_000, "batch {b}: only {} rows out", self.written.load(Ordering::SeqCst));
            }
            if !sink((b * 1024..(b + 1) * 1024).map(sock).collect()) {
                return Ok(Snapshot::default());
            }
        }
        Ok(Snapshot::default())
    }
}

/// Counts the lines written.
struct Lines(Arc<AtomicUsize>, Vec<u8>);

impl Write for Lines {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.fetch_add(b.iter().filter(|&&c| c == b'\n').count(), Ordering::SeqCst);
        self.1.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn rows_are_written_while_the_dump_runs() {
    // Regression: the whole table (205k sockets: 46 MiB, 155-214 MiB with -i) was held until the dump ended.
    for format in [Format::Table, Format::Json] {
        let written = Arc::new(AtomicUsize::new(0));
        let collector = Box::new(Checking { batches: 100, written: written.clone() });
        let mut out = Lines(written.clone(), Vec::new());
        run_with(config(format), collector, &mut out).unwrap();
        let text = String::from_utf8(out.1).unwrap();
        match format {
            Format::Json => {
                let v: serde_json::Value = serde_json::from_str(&text).expect("one valid array");
                assert_eq!(v.as_array().unwrap().len(), 100 * 1024);
            }
            _ => {
                assert_eq!(text.lines().count(), 100 * 1024 + 1);
                assert_eq!(text.lines().filter(|l| l.starts_with("State")).count(), 1, "one header");
            }
        }
    }
}

/// A writer that fails after a few bytes, as a closed pipe does.
struct Closed(usize);

impl Write for Closed {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.0 == 0 {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let n = b.len().min(self.0);
        self.0 -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_closed_output_stops_the_dump() {
    let written = Arc::new(AtomicUsize::new(usize::MAX / 2));
    // Without the stop the collector would produce 100 million sockets.
    let collector = Box::new(Checking { batches: 100_000, written });
    let e = run_with(config(Format::Json), collector, Closed(1000)).unwrap_err();
    assert!(e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)));
}

#[test]
fn table_chunks_align_on_their_own() {
    let names = Names::default();
    let opts = TableOptions { header: true, ..TableOptions::default() };
    let mut out = Vec::new();
    let mut t = TableWriter::new(&mut out, &names, &opts).with_chunk_bytes(40);
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let wide = IpAddr::V4(Ipv4Addr::new(192, 168, 100, 200));
    for (a, p) in [(lo, 1), (lo, 22), (wide, 8080), (wide, 65535)] {
        t.push(&Socket::inet(Proto::Tcp, State::ESTABLISHED, (a, p), (a, 80)), &names).unwrap();
    }
    t.finish().unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    // Within a chunk the ':' of the local address lines up; the second chunk has its own widths.
    let colon = |l: &str| l.find(":").unwrap();
    assert_eq!(colon(lines[1]), colon(lines[2]), "{text}");
    assert_eq!(colon(lines[3]), colon(lines[4]), "{text}");
}
