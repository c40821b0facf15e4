//! Big synthetic inputs for measuring the readers' memory (a benchmark helper, not a test; nothing it writes
//! is committed): a recording of `--events N` socket events through the real writer, or a `list --json`
//! snapshot of `--sockets N` sockets.
//!
//! ```text
//! gen_recording recording OUT.db --events 10000000 [--per-sample 1000] [--groups 50]
//! gen_recording snapshot OUT.json --sockets 200000 [--first-cookie 1] [--close-wait-every 0]
//! ```
//!
//! The recording's connections each open, turn `close-wait` a sample later and close three samples later,
//! one in a thousand stays open; every sample has `--groups` listener groups. A snapshot's sockets are TCP
//! connections with cookies from `--first-cookie` on; every `--close-wait-every`th is in close-wait (0: none).

use std::io::{BufWriter, Write};

use sockscope::record::writer::{Limits, Pending, Recorder, Sample};
use sockscope::record::{EventRow, GroupRow};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn event(time_ms: u64, kind: &str, cookie: u64, state: &str) -> EventRow {
    let port = 1024 + (cookie % 60_000) as u16;
    EventRow {
        time_ms,
        event: kind.into(),
        proto: "tcp".into(),
        state: state.into(),
        old_state: (kind == "state").then(|| "established".into()),
        local_address: Some("10.1.2.3".into()),
        local_port: Some(443),
        peer_address: Some(format!("10.9.{}.{}", (cookie >> 8) % 256, cookie % 256)),
        peer_port: Some(port),
        cookie: Some(cookie),
        pid: Some(4242),
        comm: Some("nginx".into()),
        lifetime_ms: (kind == "close").then_some(3000),
        bytes_sent: (kind == "close").then_some(12_345),
        bytes_received: (kind == "close").then_some(678),
        retrans: None,
        rtt_us: None,
        via: "dump".into(),
        late: false,
    }
}

fn group(port: u16, established: u32) -> GroupRow {
    let mut states = [0u32; 11];
    states[0] = established;
    states[9] = 1;
    GroupRow {
        kind: "listen".into(),
        proto: "tcp".into(),
        address: Some("10.1.2.3".into()),
        port: Some(port),
        sockets: established + 1,
        listeners: 1,
        states,
        accept_queue: Some(0),
        accept_backlog: Some(511),
        peers: established,
        top_peers: "10.9.0.1=3 10.9.0.2=2".into(),
        owner: Some("nginx[4242]".into()),
    }
}

fn recording(out: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (events, per_sample, groups) = (arg("--events", 1_000_000), arg("--per-sample", 1000), arg("--groups", 50));
    let limits = Limits { keep: None, max_size: None, max_events: usize::MAX };
    let mut rec = Recorder::create(std::path::Path::new(out), limits)?;
    let t0 = 1_700_000_000_000u64;
    // Each sample: the opens of new connections, state changes of last sample's, closes of those three back.
    let opens = per_sample.max(3) / 3;
    let (mut written, mut sample) = (0u64, 0u64);
    while written < events {
        let time = t0 + sample * 1000;
        let mut p = Pending::default();
        for i in 0..opens {
            let c = |s: u64| s * opens + i + 1;
            p.push_row(event(time + i % 1000, "open", c(sample), "established"), usize::MAX);
            if sample >= 1 {
                p.push_row(event(time + i % 1000, "state", c(sample - 1), "close-wait"), usize::MAX);
            }
            if sample >= 3 && c(sample - 3) % 1000 != 0 {
                p.push_row(event(time + i % 1000, "close", c(sample - 3), "close-wait"), usize::MAX);
            }
        }
        written += p.rows.len() as u64;
        let gs: Vec<GroupRow> = (0..groups).map(|g| group(8000 + g as u16, ((sample + g) % 97) as u32)).collect();
        rec.write(&Sample { time_ms: time + 999, dump_ms: 5, sockets: 1000, groups: &gs, events: &p })?;
        sample += 1;
    }
    drop(rec);
    println!("{out}: {sample} samples, {written} events, {} bytes", std::fs::metadata(out)?.len());
    Ok(())
}

fn snapshot(out: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (n, first, every) = (arg("--sockets", 200_000), arg("--first-cookie", 1), arg("--close-wait-every", 0));
    let mut w = BufWriter::new(std::fs::File::create(out)?);
    writeln!(w, "[")?;
    for i in 0..n {
        let cookie = first + i;
        let state = if every > 0 && cookie % every == 0 { "close-wait" } else { "established" };
        let sep = if i + 1 < n { "," } else { "" };
        writeln!(
            w,
            r#"{{"proto":"tcp","family":"inet","kind":null,"state":"{state}","recv_q":0,"send_q":0,"local":{{"address":"10.1.2.3","port":443}},"peer":{{"address":"10.9.{}.{}","port":{}}},"uid":0,"inode":{},"cookie":{cookie},"ifindex":0,"interface":null,"v6only":null,"timer":null,"mark":0,"congestion":null,"tcp_info":null,"memory":null,"processes":null,"process_hidden":null,"details":null,"congestion_info":null,"cgroup":null,"netns":{{"inode":4026531833,"name":null}},"container":null,"unit":null}}{sep}"#,
            (cookie >> 8) % 256,
            cookie % 256,
            1024 + cookie % 60_000,
            100_000 + cookie,
        )?;
    }
    writeln!(w, "]")?;
    w.flush()?;
    println!("{out}: {n} sockets, {} bytes", std::fs::metadata(out)?.len());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("recording"), Some(out)) => recording(out),
        (Some("snapshot"), Some(out)) => snapshot(out),
        _ => Err("usage: gen_recording recording OUT.db --events N | snapshot OUT.json --sockets N".into()),
    }
}
