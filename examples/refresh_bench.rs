//! Times dashboard refreshes on the live host as the dashboard does them: a full refresh (collect every
//! socket, attribute processes, track and group, draw one 120x40 frame) and a listeners-only refresh. For
//! each phase it prints wall time and this thread's CPU time split into kernel (system) and userspace
//! (user), from getrusage(RUSAGE_THREAD): the dump's kernel time is the floor, the userspace share is ours.
//!
//! The kernel's share is measured apart: a bare receive loop over the same dump requests (TCP, and the
//! other tables the dashboard asks for) that only keeps the bytes (its CPU time is the kernel's walk and
//! copy), then the decoding of the TCP bytes alone. The userspace cost of a full refresh is the refresh's
//! whole CPU time (this thread and the threads it starts) minus the bare dumps': decode, dedupe, allocation
//! (page faults included), process attribution, tracking, grouping, owners and one frame.
//! Run it where the sockets are, for example inside a benchmark namespace:
//! `nsenter -t PIDNS -n -p -m target/release/examples/refresh_bench 10` (`scripts/bench-dashboard` does).

use std::time::{Duration, Instant};

use sockscope::collect::netlink::{FirstByCookie, decode, request};
use sockscope::collect::process::{Attributor, Policy};
use sockscope::collect::{self, SourceChoice, Table};
use sockscope::tui::bench::Dashboard;

/// (user, system) CPU time of this thread.
fn cpu() -> (Duration, Duration) {
    sockscope::sys::thread_times()
}

#[derive(Default, Clone, Copy)]
struct Phase {
    wall: Duration,
    user: Duration,
    sys: Duration,
}

fn measure<T>(f: impl FnOnce() -> T) -> (T, Phase) {
    let (u0, s0) = cpu();
    let t0 = Instant::now();
    let out = f();
    let wall = t0.elapsed();
    let (u1, s1) = cpu();
    (out, Phase { wall, user: u1 - u0, sys: s1 - s0 })
}

/// CPU time of the whole process (every thread: the dump threads of other tables included).
fn process_cpu() -> Duration {
    sockscope::sys::process_cpu_time()
}

/// The bare dump of `table`: send the dashboard's request, receive every reply buffer and keep the bytes.
/// What it costs is the kernel's walk (plus a copy of each buffer).
fn raw_dump(q: &sockscope::collect::Query, table: Table) -> Vec<Vec<u8>> {
    use netlink_sys::{Socket as NlSocket, protocols::NETLINK_SOCK_DIAG};
    let mut sock = NlSocket::new(NETLINK_SOCK_DIAG).expect("netlink socket");
    sock.bind_auto().expect("bind");
    let _ = sock.set_rx_buf_sz(1 << 20);
    let bytecode = if table.is_inet() { q.bytecode.as_deref() } else { None };
    let req = request::dump_request(table, q, bytecode, 1);
    sock.send(&req, 0).expect("send");
    let mut bufs = Vec::new();
    loop {
        let mut buf = Vec::with_capacity(64 * 1024);
        sock.recv(&mut buf, 0).expect("recv");
        // The dump ends with NLMSG_DONE (3) or NLMSG_ERROR (2): look at each message's type.
        let mut off = 0;
        let mut end = buf.is_empty();
        while off + decode::NLMSG_HDRLEN <= buf.len() {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            end |= kind == 2 || kind == 3;
            off += (len.max(decode::NLMSG_HDRLEN) + 3) & !3;
        }
        bufs.push(buf);
        if end {
            return bufs;
        }
    }
}

/// Decode the dump's buffers as the collector does (and, with `first`, drop repeated cookies as it does);
/// the number of sockets kept.
fn decode_all(bufs: &[Vec<u8>], mut first: Option<&mut FirstByCookie>) -> usize {
    let mut n = 0usize;
    for b in bufs {
        decode::for_each_message(b, Table::TcpAll, false, |m| {
            if let decode::Message::Socket(s) = m {
                n += usize::from(first.as_mut().is_none_or(|f| f.keep(&s)));
            }
            true
        })
        .expect("decode");
    }
    n
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    // As the dashboard does.
    sockscope::sys::return_large_blocks(sockscope::sys::LARGE_BLOCK);
    let mut attributor = Attributor::new(Policy::dashboard());
    let mut collector = collect::open_here(SourceChoice::Auto, "/proc".into());
    // As the dashboard does: the audit markers and the ephemeral-port pressure with the host's ports.
    let host = sockscope::ports::classes::HostPorts::read("/proc".as_ref()).ok();
    let mut dash = Dashboard::new(host, 120, 40).expect("an off-screen terminal");
    let q = dash.query();
    let lq = dash.listeners_query();
    let (mut kernel, mut user, mut listen) = (Vec::new(), Vec::new(), Vec::new());
    let (mut bare, mut decoding, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let (bufs, tcp) = measure(|| raw_dump(&q, Table::TcpAll));
        let ((), rest) =
            measure(|| q.tables().into_iter().filter(|t| *t != Table::TcpAll).for_each(|t| drop(raw_dump(&q, t))));
        let (decoded, dec) = measure(|| decode_all(&bufs, None));
        let (_, dedupe) = measure(|| decode_all(&bufs, Some(&mut FirstByCookie::default())));
        let bytes: usize = bufs.iter().map(Vec::len).sum();
        drop(bufs);
        let p0 = process_cpu();
        let spare = dash.take_spare();
        let (snap, collect) =
            measure(|| sockscope::collect::collect_into(&mut *collector, &q, spare).expect("collect"));
        let n = snap.sockets.len();
        let took = collect.wall;
        // As the dashboard's full refresh does when its process look is due.
        attributor.expire();
        let (attribution, procs) = measure(|| attributor.attribute(std::path::Path::new("/proc"), &snap.sockets));
        let (tracked, track) = measure(|| dash.track(snap, took, attribution.as_ref().ok()));
        let ((), draw) = measure(|| dash.show(tracked).expect("draw"));
        let ((), l) = measure(|| {
            let snap = collector.collect(&lq).expect("collect listeners");
            dash.listeners(&snap.sockets)
        });
        let refresh_cpu = process_cpu() - p0;
        let raw_cpu = tcp.user + tcp.sys + rest.user + rest.sys;
        let userspace = refresh_cpu.saturating_sub(raw_cpu);
        println!(
            "refresh {i}: bare dumps {:.1} ms CPU (TCP {:.1} ms, {:.1} wall, {} KiB, {decoded} sockets), the TCP decoding alone \
             {:.1} ms ({:.1} with the dump's dedupe by cookie); \
             full refresh {:.1} ms CPU of which userspace {:.1} ms ({:.1}% of the bare dump)",
            ms(raw_cpu),
            ms(tcp.user + tcp.sys),
            ms(tcp.wall),
            bytes / 1024,
            ms(dec.wall),
            ms(dedupe.wall),
            ms(refresh_cpu),
            ms(userspace),
            100.0 * userspace.as_secs_f64() / raw_cpu.as_secs_f64().max(1e-9),
        );
        println!(
            "  phases: {n} sockets  dump: kernel {:.1} ms + decode {:.1} ms  processes: user {:.1} ms kernel \
             {:.1} ms (wall {:.1}, {} scanned, full {})  track+group {:.1} ms  update+draw {:.1} ms  listeners-only {:.1} ms",
            ms(collect.sys),
            ms(collect.user),
            ms(procs.user),
            ms(procs.sys),
            ms(procs.wall),
            attributor.stats().scanned,
            attributor.stats().full,
            ms(track.user + track.sys),
            ms(draw.user + draw.sys),
            ms(l.user + l.sys),
        );
        if i > 0 {
            // The first refresh scans every process and fills the caches: not the steady state.
            kernel.push(ms(raw_cpu));
            user.push(ms(userspace));
            bare.push(ms(tcp.wall));
            decoding.push(ms(dec.wall));
            whole.push(ms(refresh_cpu));
            listen.push(ms(l.user + l.sys));
        }
    }
    let (k, u) = (median(kernel), median(user));
    println!(
        "median over refreshes 1..{runs}: kernel dumps {k:.1} ms CPU (TCP wall {:.1} ms), full refresh {:.1} ms CPU, \
         userspace {u:.1} ms ({:.1}% of the kernel's; decoding alone {:.1} ms), listeners-only refresh {:.1} ms",
        median(bare),
        median(whole),
        100.0 * u / k.max(1e-9),
        median(decoding),
        median(listen)
    );
}
