//! Reading the past: `sockscope list --from FILE --at TIME` (a recording's groups at a moment, and the
//! sockets its events knew open) and `sockscope diff` (two moments of a recording, or two JSON snapshots).
//! Everything streams: rows go from SQLite (which sorts and aggregates, on disk past its cache) to the
//! output one by one, and two snapshots are compared in a temporary on-disk database, so memory stays
//! bounded whatever the size of the files.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::clock;
use crate::model::text::escape;
use crate::output::recording::{JsonArray, render_event, render_group, render_group_change, render_groups_header};
use crate::record::reader::{Change, Recording};

/// A checked `diff`: a recording (one file) or two snapshots.
#[derive(Debug, Clone)]
pub struct DiffConfig {
    pub files: Vec<std::path::PathBuf>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub json: bool,
}

/// Standard output, buffered (a recording's events are millions of lines).
fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::with_capacity(256 * 1024, io::stdout().lock())
}

/// Say what the reader noted (rows skipped, a read-only file system).
fn notes(rec: &mut Recording) {
    for n in rec.notes() {
        crate::errln!("sockscope: note: {n}");
    }
}

/// `list --from FILE --at TIME`.
pub fn list_at(path: &Path, at: &str, json: bool) -> anyhow::Result<ExitCode> {
    let at_ms = clock::parse_moment(at, clock::now_ms()).map_err(anyhow::Error::msg)?;
    let mut rec = Recording::open(path)?;
    let sample = rec.sample_at(at_ms)?;
    let mut out = stdout();
    if json {
        let head = serde_json::json!({ "time": clock::rfc3339(sample.time_ms), "sockets": sample.sockets });
        write!(out, "{{\"at\":{},\"sample\":{head},\"groups\":", Value::from(clock::rfc3339(at_ms)))?;
        let mut groups = JsonArray::default();
        rec.each_group(sample.id, |g| groups.push(&mut out, &g).map_err(anyhow::Error::from))?;
        groups.finish(&mut out)?;
        write!(out, ",\"open_from_events\":")?;
        let mut open = JsonArray::default();
        rec.each_open_at(at_ms, |e| open.push(&mut out, &e).map_err(anyhow::Error::from))?;
        open.finish(&mut out)?;
        writeln!(out, "}}")?;
    } else {
        let count = rec.group_count(sample.id)?;
        writeln!(out, "Sample at {} ({} sockets, {count} groups)", clock::rfc3339(sample.time_ms), sample.sockets)?;
        render_groups_header(&mut out)?;
        rec.each_group(sample.id, |g| render_group(&mut out, &g).map_err(anyhow::Error::from))?;
        writeln!(out)?;
        writeln!(out, "Sockets opened during the recording and open at {}:", clock::rfc3339(at_ms))?;
        let mut n = 0u64;
        rec.each_open_at(at_ms, |e| {
            n += 1;
            render_event(&mut out, &e).map_err(anyhow::Error::from)
        })?;
        writeln!(out, "({n} socket{})", if n == 1 { "" } else { "s" })?;
    }
    out.flush()?;
    notes(&mut rec);
    Ok(ExitCode::SUCCESS)
}

pub fn diff(args: &DiffConfig) -> anyhow::Result<ExitCode> {
    match args.files.as_slice() {
        [rec] => diff_recording(rec, args),
        [a, b] => {
            if args.from.is_some() || args.to.is_some() {
                bail!("--from/--to are for a recording; two snapshots are compared as they are");
            }
            diff_snapshots(a, b, args.json)
        }
        _ => bail!("diff takes a recording or two snapshots"),
    }
}

const CHANGES: [(Change, &str); 3] =
    [(Change::Added, "added"), (Change::Removed, "removed"), (Change::Changed, "changed")];

fn diff_recording(path: &Path, args: &DiffConfig) -> anyhow::Result<ExitCode> {
    let mut rec = Recording::open(path)?;
    let Some((first, last)) = rec.span()? else {
        bail!("{}: the recording is empty", path.display());
    };
    let now = clock::now_ms();
    // A moment before the first sample is the first sample (`--from @0`: from the start).
    let sample = |t: &Option<String>, default: u64| -> anyhow::Result<_> {
        let at = match t {
            Some(t) => clock::parse_moment(t, now).map_err(anyhow::Error::msg)?,
            None => default,
        };
        Ok(rec.sample_from(at)?)
    };
    let (from, to) = (sample(&args.from, first.time_ms)?, sample(&args.to, last.time_ms)?);
    let counts = rec.event_counts(from.time_ms, to.time_ms)?;
    let span = (from.time_ms, to.time_ms);
    let mut out = stdout();
    let mut differ = false;
    if args.json {
        let (f, t) = (Value::from(clock::rfc3339(from.time_ms)), Value::from(clock::rfc3339(to.time_ms)));
        write!(out, "{{\"from\":{f},\"to\":{t},\"groups\":{{")?;
        for (i, (change, name)) in CHANGES.into_iter().enumerate() {
            write!(out, "{}\"{name}\":", if i > 0 { "," } else { "" })?;
            let mut arr = JsonArray::default();
            rec.group_diff((from.id, to.id), change, |g, after| {
                differ = true;
                match after {
                    Some(a) => arr.push(&mut out, &(g, a)),
                    None => arr.push(&mut out, g),
                }
                .map_err(anyhow::Error::from)
            })?;
            arr.finish(&mut out)?;
        }
        write!(
            out,
            "}},\"opened\":{},\"closed\":{},\"changed\":{},\"events_not_stored\":{},\"events\":",
            counts.opened, counts.closed, counts.changed, counts.not_stored
        )?;
        let mut arr = JsonArray::default();
        rec.each_event(span, |e| arr.push(&mut out, &e).map_err(anyhow::Error::from))?;
        differ |= arr.finish(&mut out)? > 0;
        writeln!(out, "}}")?;
    } else {
        writeln!(out, "From {} to {}", clock::rfc3339(from.time_ms), clock::rfc3339(to.time_ms))?;
        for (change, _) in CHANGES {
            rec.group_diff((from.id, to.id), change, |g, after| {
                differ = true;
                render_group_change(&mut out, change, g, after).map_err(anyhow::Error::from)
            })?;
        }
        rec.each_event(span, |e| {
            differ = true;
            render_event(&mut out, &e).map_err(anyhow::Error::from)
        })?;
        write!(out, "opened {}, closed {}, changed {}", counts.opened, counts.closed, counts.changed)?;
        if counts.not_stored > 0 {
            write!(out, " (and {} events over --max-events, counted but not stored)", counts.not_stored)?;
        }
        writeln!(out)?;
    }
    out.flush()?;
    notes(&mut rec);
    Ok(ExitCode::from(u8::from(differ)))
}

/// The longest line of an NDJSON snapshot (a socket with every detail is a few kB).
const MAX_SNAPSHOT_LINE: usize = 16 << 20;

/// Each socket of a snapshot, streamed: `list --json` writes one array, `--ndjson` one object a line.
fn each_snapshot_socket(path: &Path, mut each: impl FnMut(Value) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let file = crate::collect::input::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut r = BufReader::with_capacity(256 * 1024, file);
    let bad = |line: usize, e: &dyn std::fmt::Display| {
        anyhow::anyhow!("{}:{line}: not a JSON snapshot ({e})", path.display())
    };
    // The first byte that is not white space says which; the lines before it count for error positions.
    let mut lines_before = 0;
    let first = loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            break None;
        }
        let text = buf.iter().position(|b| !b.is_ascii_whitespace());
        let skip = text.unwrap_or(buf.len());
        lines_before += buf[..skip].iter().filter(|&&b| b == b'\n').count();
        r.consume(skip);
        if text.is_some() {
            break r.fill_buf()?.first().copied();
        }
    };
    match first {
        None => Ok(()),
        Some(b'[') => {
            let mut de = serde_json::Deserializer::from_reader(r);
            let mut failed = None;
            let seq = serde::Deserializer::deserialize_seq(&mut de, EachItem { each: &mut each, failed: &mut failed });
            if let Some(e) = failed {
                return Err(e);
            }
            seq.and_then(|()| de.end()).map_err(|e| bad(lines_before + e.line(), &json_error(&e)))
        }
        Some(_) => {
            let mut line = Vec::new();
            for n in 1.. {
                line.clear();
                let got = (&mut r).take(MAX_SNAPSHOT_LINE as u64 + 1).read_until(b'\n', &mut line)?;
                if got == 0 {
                    break;
                }
                if line.len() > MAX_SNAPSHOT_LINE {
                    return Err(bad(lines_before + n, &format!("a line longer than {MAX_SNAPSHOT_LINE} bytes")));
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let v: Value = serde_json::from_slice(&line).map_err(|e| bad(lines_before + n, &json_error(&e)))?;
                if !v.is_object() {
                    return Err(bad(lines_before + n, &"expected the array `sockscope list --json` writes"));
                }
                each(v)?;
            }
            Ok(())
        }
    }
}

/// A JSON parse error without serde's position (relative to where parsing began), but its column.
fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&at) {
        Some(msg) => format!("{msg}, column {}", e.column()),
        None => text,
    }
}

/// A visitor giving each element of a JSON array to `each` as it is parsed (the array is never held); an
/// error of `each` stops the parse and is kept in `failed`.
struct EachItem<'a, F> {
    each: &'a mut F,
    failed: &'a mut Option<anyhow::Error>,
}

impl<'de, F: FnMut(Value) -> anyhow::Result<()>> serde::de::Visitor<'de> for EachItem<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the array `sockscope list --json` writes")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            if let Err(e) = (self.each)(v) {
                *self.failed = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

fn end(e: &Value) -> String {
    match (e.get("address").and_then(Value::as_str), e.get("port"), e.get("path")) {
        (Some(a), Some(p), _) => format!("{}:{p}", crate::model::Bracketed(a)),
        (_, _, Some(Value::String(p))) => format!("{p} {}", e["inode"]),
        _ => format!("* {}", e.get("inode").unwrap_or(&Value::Null)),
    }
}

/// The identity of a snapshot socket: its cookie, or its protocol and ends.
fn id(v: &Value) -> String {
    match v.get("cookie").and_then(Value::as_u64) {
        Some(c) => format!("sk:{c}"),
        None => format!("{} {} {}", v["proto"].as_str().unwrap_or("?"), end(&v["local"]), end(&v["peer"])),
    }
}

fn line(v: &Value) -> String {
    let text = format!(
        "{} {} {} {}",
        v["proto"].as_str().unwrap_or("?"),
        v["state"].as_str().unwrap_or("?"),
        end(&v["local"]),
        end(&v["peer"])
    );
    escape(&text).into_owned()
}

/// The sockets of both snapshots by identity, in a temporary on-disk database (SQLite's page cache is all
/// it holds in memory): side 0 before, 1 after; a socket given twice in one snapshot counts its last.
const SPILL: &str = "
PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = FILE; PRAGMA cache_size = -32768;
CREATE TABLE socket (side INTEGER NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, was TEXT NOT NULL,
    line TEXT NOT NULL, json TEXT, PRIMARY KEY (side, id)) WITHOUT ROWID;
";

fn spill(db: &rusqlite::Connection, side: i64, path: &Path, json: bool) -> anyhow::Result<()> {
    let tx = db.unchecked_transaction()?;
    {
        let mut ins = tx.prepare("INSERT OR REPLACE INTO socket VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        each_snapshot_socket(path, |v| {
            let was = escape(v["state"].as_str().unwrap_or("?")).into_owned();
            let state = v["state"].to_string();
            let text = json.then(|| v.to_string());
            ins.execute(rusqlite::params![side, id(&v), state, was, line(&v), text])?;
            Ok(())
        })?;
    }
    tx.commit()?;
    Ok(())
}

fn diff_snapshots(a: &Path, b: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let db = rusqlite::Connection::open("").context("cannot create the temporary database diff compares in")?;
    db.execute_batch(SPILL)?;
    spill(&db, 0, a, json)?;
    spill(&db, 1, b, json)?;
    // Sockets only on `side`, in the order of their identity.
    let only = |side: i64| {
        format!(
            "SELECT line, json FROM socket s WHERE side = {side} AND NOT EXISTS \
             (SELECT 1 FROM socket o WHERE o.side = {} AND o.id = s.id) ORDER BY id",
            1 - side
        )
    };
    let changed = "SELECT a.line, b.was, b.json, a.json FROM socket b JOIN socket a ON a.side = 1 AND a.id = b.id \
                   WHERE b.side = 0 AND a.state <> b.state ORDER BY b.id";
    let mut out = stdout();
    let mut n = [0u64; 3];
    if json {
        write!(out, "{{\"opened\":")?;
        for (i, side) in [1, 0].into_iter().enumerate() {
            if i > 0 {
                write!(out, ",\"closed\":")?;
            }
            let mut arr = JsonArray::default();
            let mut st = db.prepare(&only(side))?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                arr.push_raw(&mut out, r.get_ref(1)?.as_str()?)?;
            }
            n[i] = arr.finish(&mut out)?;
        }
        write!(out, ",\"changed\":")?;
        let mut arr = JsonArray::default();
        let mut st = db.prepare(changed)?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let (before, after) = (r.get_ref(2)?.as_str()?, r.get_ref(3)?.as_str()?);
            arr.push_raw(&mut out, &format!("{{\"before\":{before},\"after\":{after}}}"))?;
        }
        n[2] = arr.finish(&mut out)?;
        writeln!(out, "}}")?;
    } else {
        for (i, (side, mark)) in [(1, '+'), (0, '-')].into_iter().enumerate() {
            let mut st = db.prepare(&only(side))?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                writeln!(out, "{mark} {}", r.get_ref(0)?.as_str()?)?;
                n[i] += 1;
            }
        }
        let mut st = db.prepare(changed)?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            writeln!(out, "~ {} (was {})", r.get_ref(0)?.as_str()?, r.get_ref(1)?.as_str()?)?;
            n[2] += 1;
        }
        writeln!(out, "opened {}, closed {}, changed {}", n[0], n[1], n[2])?;
    }
    out.flush()?;
    Ok(ExitCode::from(u8::from(n.iter().any(|&c| c > 0))))
}
