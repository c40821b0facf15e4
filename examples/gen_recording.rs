//! Big synthetic inputs for measuring the readers' memory (a benchmark helper, not a test; nothing it writes
//! is committed), from `sockscope::record::synthetic`: a recording of `--events N` socket events through the
//! real writer, or a `list --json` snapshot of `--sockets N` sockets.
//!
//! ```text
//! gen_recording recording OUT.db --events 10000000 [--per-sample 1000] [--groups 50]
//! gen_recording snapshot OUT.json --sockets 200000 [--first-cookie 1] [--close-wait-every 0]
//! ```

use std::io::{BufWriter, Write};
use std::path::Path;

use sockscope::record::synthetic;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("recording"), Some(out)) => {
            let shape = synthetic::Shape {
                events: arg("--events", 1_000_000),
                per_sample: arg("--per-sample", 1000),
                groups: arg("--groups", 50),
            };
            let w = synthetic::recording(Path::new(out), shape)?;
            println!("{out}: {} samples, {} events, {} bytes", w.samples, w.events, std::fs::metadata(out)?.len());
        }
        (Some("snapshot"), Some(out)) => {
            let n = arg("--sockets", 200_000);
            let mut w = BufWriter::new(std::fs::File::create(out)?);
            synthetic::snapshot(&mut w, n, arg("--first-cookie", 1), arg("--close-wait-every", 0))?;
            w.flush()?;
            println!("{out}: {n} sockets, {} bytes", std::fs::metadata(out)?.len());
        }
        _ => return Err("usage: gen_recording recording OUT.db --events N | snapshot OUT.json --sockets N".into()),
    }
    Ok(())
}
