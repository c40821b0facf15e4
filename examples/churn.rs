//! Connection churn for `scripts/churn` (a benchmark, not a test): on 127.0.0.1, keeps `--stable N` TCP
//! connections open for the whole run and opens and closes others as fast as `--threads T` connectors can
//! for `--seconds S`. Closes reset (SO_LINGER 0), so no TIME-WAIT piles up and ports are reused at once.
//!
//! Prints `READY port=P stable=C1,C2,...` (the listener port and the client ports of the stable
//! connections) once they are up, then when the churn stops `DONE connections=N seconds=S rate=R`; the
//! stable connections stay open until stdin closes. Run it inside a private network namespace.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn reset_on_close(s: &TcpStream) {
    let _ = rustix::net::sockopt::set_socket_linger(s, Some(Duration::ZERO));
}

fn main() -> std::io::Result<()> {
    let (stable_n, seconds, threads) = (arg("--stable", 1000), arg("--seconds", 30), arg("--threads", 2));
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr: SocketAddr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    // The acceptor keeps the first `stable_n` server ends and resets the rest.
    let acceptor = {
        let (stop, accepted) = (stop.clone(), accepted.clone());
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            for s in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(s) = s else { continue };
                if (kept.len() as u64) < stable_n {
                    kept.push(s);
                } else {
                    reset_on_close(&s);
                }
                accepted.fetch_add(1, Ordering::Relaxed);
            }
            kept
        })
    };
    let stable: Vec<TcpStream> = (0..stable_n).map(|_| TcpStream::connect(addr)).collect::<Result<_, _>>()?;
    while accepted.load(Ordering::Relaxed) < stable_n {
        std::thread::sleep(Duration::from_millis(5));
    }
    let ports: Vec<String> =
        stable.iter().map(|s| s.local_addr().map(|a| a.port().to_string())).collect::<Result<_, _>>()?;
    println!("READY port={} stable={}", addr.port(), ports.join(","));
    std::io::stdout().flush()?;

    let opened = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, opened) = (stop.clone(), opened.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(s) = TcpStream::connect(addr) {
                        reset_on_close(&s);
                        opened.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let took = start.elapsed().as_secs_f64();
    // Wake the acceptor so it sees the stop.
    let _ = TcpStream::connect(addr);
    let _ = acceptor.join();
    let n = opened.load(Ordering::Relaxed);
    println!("DONE connections={n} seconds={took:.1} rate={:.0}", n as f64 / took);
    std::io::stdout().flush()?;
    // Listings that started during the churn may still run: the stable connections live until stdin closes.
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new())?;
    drop(stable);
    Ok(())
}
