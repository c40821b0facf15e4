//! Reading the past: `sockscope list --from FILE --at TIME` (a recording's groups at a moment, and the
//! sockets its events knew open) and `sockscope diff` (two moments of a recording, or two JSON snapshots).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::clock;
use crate::output::recording::{GroupDiff, render_event, render_groups};
use crate::record::reader::Recording;

/// A checked `diff`: a recording (one file) or two snapshots.
#[derive(Debug, Clone)]
pub struct DiffConfig {
    pub files: Vec<std::path::PathBuf>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub json: bool,
}

/// `list --from FILE --at TIME`.
pub fn list_at(path: &Path, at: &str, json: bool) -> anyhow::Result<ExitCode> {
    let at_ms = clock::parse_moment(at, clock::now_ms()).map_err(anyhow::Error::msg)?;
    let rec = Recording::open(path)?;
    let sample = rec.sample_at(at_ms)?;
    let groups = rec.groups(sample.id)?;
    let open = rec.open_at(at_ms)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if json {
        let v = serde_json::json!({
            "at": clock::rfc3339(at_ms),
            "sample": { "time": clock::rfc3339(sample.time_ms), "sockets": sample.sockets },
            "groups": groups,
            "open_from_events": open,
        });
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "Sample at {} ({} sockets, {} groups)",
        clock::rfc3339(sample.time_ms),
        sample.sockets,
        groups.len()
    )?;
    render_groups(&mut out, &groups)?;
    writeln!(out)?;
    writeln!(out, "Sockets opened during the recording and open at {} ({}):", clock::rfc3339(at_ms), open.len())?;
    for e in &open {
        render_event(&mut out, e)?;
    }
    out.flush()?;
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

fn diff_recording(path: &Path, args: &DiffConfig) -> anyhow::Result<ExitCode> {
    let rec = Recording::open(path)?;
    let samples = rec.samples()?;
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        bail!("{}: the recording is empty", path.display());
    };
    let now = clock::now_ms();
    let moment = |t: &Option<String>, default: u64| -> anyhow::Result<u64> {
        match t {
            Some(t) => clock::parse_moment(t, now).map_err(anyhow::Error::msg),
            None => Ok(default),
        }
    };
    let from = rec.sample_at(moment(&args.from, first.time_ms)?)?;
    let to = rec.sample_at(moment(&args.to, last.time_ms)?)?;
    let groups = GroupDiff::of(&rec.groups(from.id)?, &rec.groups(to.id)?);
    let events = rec.events_between(from.time_ms, to.time_ms)?;
    let count = |k: &str| events.iter().filter(|e| e.event == k).count();
    let dropped: u64 =
        samples.iter().filter(|s| s.time_ms > from.time_ms && s.time_ms <= to.time_ms).map(|s| s.events_dropped).sum();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let v = serde_json::json!({
            "from": clock::rfc3339(from.time_ms),
            "to": clock::rfc3339(to.time_ms),
            "groups": groups,
            "opened": count("open"),
            "closed": count("close"),
            "changed": count("state"),
            "events_not_stored": dropped,
            "events": events,
        });
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
    } else {
        writeln!(out, "From {} to {}", clock::rfc3339(from.time_ms), clock::rfc3339(to.time_ms))?;
        groups.render(&mut out)?;
        for e in &events {
            render_event(&mut out, e)?;
        }
        write!(out, "opened {}, closed {}, changed {}", count("open"), count("close"), count("state"))?;
        if dropped > 0 {
            write!(out, " (and {dropped} events over --max-events, counted but not stored)")?;
        }
        writeln!(out)?;
    }
    out.flush()?;
    Ok(ExitCode::from(u8::from(!(groups.is_empty() && events.is_empty()))))
}

/// Largest snapshot read (a `list --json` of 1M sockets is about 500 MB).
const MAX_SNAPSHOT: u64 = 2 << 30;

fn read_snapshot(path: &Path) -> anyhow::Result<Vec<Value>> {
    let len = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len();
    if len > MAX_SNAPSHOT {
        bail!("{}: {} bytes is larger than the {} a snapshot may have", path.display(), len, MAX_SNAPSHOT);
    }
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    // `list --json` writes one array; `--ndjson` one object a line: take either.
    match serde_json::from_slice::<Value>(&text) {
        Ok(Value::Array(v)) => Ok(v),
        Ok(_) => bail!("{}: expected the array `sockscope list --json` writes", path.display()),
        Err(first) => {
            let mut v = Vec::new();
            for (i, line) in text.split(|&b| b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                v.push(serde_json::from_slice(line).map_err(|e| {
                    anyhow::anyhow!("{}:{}: not a JSON snapshot ({first}; as NDJSON: {e})", path.display(), i + 1)
                })?);
            }
            Ok(v)
        }
    }
}

fn end(e: &Value) -> String {
    match (e.get("address").and_then(Value::as_str), e.get("port"), e.get("path")) {
        (Some(a), Some(p), _) if a.contains(':') => format!("[{a}]:{p}"),
        (Some(a), Some(p), _) => format!("{a}:{p}"),
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
    crate::output::events::printable(&format!(
        "{} {} {} {}",
        v["proto"].as_str().unwrap_or("?"),
        v["state"].as_str().unwrap_or("?"),
        end(&v["local"]),
        end(&v["peer"])
    ))
}

fn diff_snapshots(a: &Path, b: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let before: BTreeMap<String, Value> = read_snapshot(a)?.into_iter().map(|v| (id(&v), v)).collect();
    let after: BTreeMap<String, Value> = read_snapshot(b)?.into_iter().map(|v| (id(&v), v)).collect();
    let opened: Vec<&Value> = after.iter().filter(|(k, _)| !before.contains_key(*k)).map(|(_, v)| v).collect();
    let closed: Vec<&Value> = before.iter().filter(|(k, _)| !after.contains_key(*k)).map(|(_, v)| v).collect();
    let changed: Vec<(&Value, &Value)> = before
        .iter()
        .filter_map(|(k, b)| after.get(k).map(|a| (b, a)))
        .filter(|(b, a)| b["state"] != a["state"])
        .collect();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if json {
        let ch: Vec<Value> = changed.iter().map(|(b, a)| serde_json::json!({"before": b, "after": a})).collect();
        serde_json::to_writer(&mut out, &serde_json::json!({"opened": opened, "closed": closed, "changed": ch}))?;
        writeln!(out)?;
    } else {
        for v in &opened {
            writeln!(out, "+ {}", line(v))?;
        }
        for v in &closed {
            writeln!(out, "- {}", line(v))?;
        }
        for (b, a) in &changed {
            writeln!(out, "~ {} (was {})", line(a), b["state"].as_str().unwrap_or("?"))?;
        }
        writeln!(out, "opened {}, closed {}, changed {}", opened.len(), closed.len(), changed.len())?;
    }
    out.flush()?;
    Ok(ExitCode::from(u8::from(!(opened.is_empty() && closed.is_empty() && changed.is_empty()))))
}
