//! The connection table's admissions and evictions, the socket deadlines (over loopback TCP, with deadlines
//! of milliseconds: what is checked is that they end the wait, not when), and the accept back-off.

use std::io::{Read, Write};
use std::net::Ipv4Addr;

use tokio::net::TcpStream;

use super::*;

fn limits(max: usize, per_peer: usize) -> Limits {
    Limits { max, per_peer, first_byte: Duration::from_millis(50), write: Duration::from_millis(50) }
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

fn open(table: &Arc<Table>) -> usize {
    table.conns.lock().unwrap().len()
}

fn in_table(table: &Arc<Table>, s: &Slot) -> bool {
    table.conns.lock().unwrap().iter().any(|c| Arc::ptr_eq(c, &s.conn))
}

/// 32 connections that never sent a byte held every slot: 0 of 40 scrapes, /healthz included, got in. A new
/// connection now closes the oldest one that has no request, then one idle between requests; one being
/// answered is never closed for it.
#[test]
fn idle_connections_make_room_for_new_ones() {
    let table = Table::new(limits(4, 4));
    let idle: Vec<Slot> = (0..4).map(|i| table.admit(ip(2 + i)).unwrap()).collect();
    let scrape = table.admit(ip(1)).expect("a slot for the scrape");
    assert_eq!(open(&table), 4);
    assert!(!in_table(&table, &idle[0]) && in_table(&table, &idle[1]), "the oldest header-less one went");

    // Between requests (keep-alive) goes after the header-less ones.
    idle[1].conn.request_started();
    idle[1].conn.response_ready(Duration::from_secs(9));
    idle[1].conn.response_done();
    let next = table.admit(ip(1)).unwrap();
    assert!(in_table(&table, &idle[1]) && !in_table(&table, &idle[2]));
    let next2 = table.admit(ip(1)).unwrap();
    assert!(in_table(&table, &idle[1]) && !in_table(&table, &idle[3]));

    // Every open one is being answered: nothing to close, the new one is refused.
    for s in [&scrape, &next, &next2] {
        s.conn.request_started();
    }
    let nine = table.admit(ip(9)).unwrap();
    nine.conn.request_started();
    assert!(!in_table(&table, &idle[1]), "the keep-alive one went last");
    assert_eq!(open(&table), 4);
    assert!(table.admit(ip(10)).is_none(), "all four are being answered");
    // A closed connection frees its place.
    drop(next);
    assert!(table.admit(ip(9)).is_some());
}

/// A client that does not read its response holds its slot while the write waits; when the table is full
/// and nothing is idle, the one stuck longest (at least [`STALLED`]) goes.
#[test]
fn a_connection_stuck_writing_goes_when_nothing_is_idle() {
    let table = Table::new(limits(2, 2));
    let t0 = Instant::now();
    let (a, b) = (table.admit_at(ip(2), t0).unwrap(), table.admit_at(ip(3), t0).unwrap());
    for s in [&a, &b] {
        s.conn.request_started();
    }
    assert!(table.admit_at(ip(4), t0).is_none(), "both are being answered");
    // `a` waits for its client from t0, `b` from two seconds later.
    a.conn.blocked_since.store(a.conn.ms(t0), Ordering::Relaxed);
    b.conn.blocked_since.store(b.conn.ms(t0 + Duration::from_secs(2)), Ordering::Relaxed);
    let later = t0 + Duration::from_millis(2500);
    let c = table.admit_at(ip(4), later).expect("a's place");
    assert!(!in_table(&table, &a) && in_table(&table, &b));
    c.conn.request_started();
    assert!(table.admit_at(ip(5), later).is_none(), "b has not waited long enough");
}

/// One client cannot take every slot: at its limit it makes room among its own connections, or is refused;
/// others still get in.
#[test]
fn one_peer_cannot_take_every_slot() {
    let table = Table::new(limits(8, 2));
    let mine: Vec<Slot> = (0..2).map(|_| table.admit(ip(2)).unwrap()).collect();
    let third = table.admit(ip(2)).unwrap();
    assert!(!in_table(&table, &mine[0]) && in_table(&table, &mine[1]) && in_table(&table, &third));
    mine[1].conn.request_started();
    third.conn.request_started();
    assert!(table.admit(ip(2)).is_none(), "both of its connections are being answered");
    assert!(table.admit(ip(1)).is_some(), "another client gets in");
    // The /64 of an IPv6 client is one peer; an IPv4-mapped address is the IPv4 one.
    let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(Peer::of(v6("2001:db8::1")), Peer::of(v6("2001:db8::ffff:1234")));
    assert_ne!(Peer::of(v6("2001:db8::1")), Peer::of(v6("2001:db8:0:1::1")));
    assert_eq!(Peer::of(v6("::ffff:127.0.0.2")), Peer::of(ip(2)));
}

/// Under descriptor exhaustion `accept failed` was logged every 100 ms. Now once a minute with the count
/// of the others, and the wait doubles up to a second.
#[test]
fn accept_failures_are_logged_once_a_minute() {
    let mut errors = AcceptErrors::default();
    let e = io::Error::from_raw_os_error(libc::EMFILE);
    let t0 = Instant::now();
    let mut lines = Vec::new();
    let mut waits = Vec::new();
    for i in 0..700u64 {
        let (line, wait) = errors.failed(&e, t0 + Duration::from_millis(100 * i));
        lines.extend(line);
        waits.push(wait);
    }
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("accept failed: ") && !lines[0].contains("more failures"), "{}", lines[0]);
    assert!(lines[1].contains("(599 more failures since the last report)"), "{}", lines[1]);
    assert_eq!(waits[0], Duration::from_millis(10));
    assert_eq!(waits[1], Duration::from_millis(20));
    assert_eq!(*waits.last().unwrap(), Duration::from_secs(1));
    errors.succeeded();
    assert_eq!(errors.failed(&e, t0 + Duration::from_secs(200)).1, Duration::from_millis(10));
}

/// A connected pair on loopback: the client (blocking) and the server's end.
async fn pair() -> (std::net::TcpStream, TcpStream) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (server, _) = l.accept().await.unwrap();
    (client, server)
}

async fn read(io: &mut Guarded<TcpStream>, buf: &mut [u8]) -> io::Result<usize> {
    std::future::poll_fn(|cx| {
        let mut rb = ReadBuf::new(buf);
        ready!(Pin::new(&mut *io).poll_read(cx, &mut rb))?;
        Poll::Ready(Ok(rb.filled().len()))
    })
    .await
}

/// Write all of `data`, as hyper does chunk by chunk.
async fn write_all(io: &mut Guarded<TcpStream>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = std::future::poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, data)).await?;
        data = &data[n..];
    }
    Ok(())
}

/// A connection that never sends a byte is closed after `first_byte`; one that sends is not.
#[tokio::test]
async fn no_first_byte_ends_the_connection() {
    let table = Table::new(limits(4, 4));
    let slot = table.admit(ip(2)).unwrap();
    let (_client, server) = pair().await;
    let mut io = Guarded::new(server, slot.conn.clone(), slot.limits());
    let mut buf = [0u8; 16];
    let e = read(&mut io, &mut buf).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);

    let slot = table.admit(ip(2)).unwrap();
    let (mut client, server) = pair().await;
    let mut io = Guarded::new(server, slot.conn.clone(), slot.limits());
    client.write_all(b"G").unwrap();
    assert_eq!(read(&mut io, &mut buf).await.unwrap(), 1);
    drop(client);
    assert_eq!(read(&mut io, &mut buf).await.unwrap(), 0, "EOF, not a timeout, once a byte came");
}

/// A response nobody reads was written for up to 300 s (the connection's life), holding its memory and its
/// slot. Its write now ends at the response's deadline; a client that reads gets it all.
#[tokio::test]
async fn a_response_nobody_reads_ends_at_its_deadline() {
    let table = Table::new(limits(4, 4));
    let slot = table.admit(ip(2)).unwrap();
    let (client, server) = pair().await;
    let mut io = Guarded::new(server, slot.conn.clone(), slot.limits());
    slot.conn.request_started();
    slot.conn.response_ready(slot.limits().write);
    // More than the kernel's buffers on both ends take (bounded: 256 MiB).
    let chunk = vec![b'x'; 1 << 20];
    let mut result = Ok(());
    for _ in 0..256 {
        result = write_all(&mut io, &chunk).await;
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
    assert!(slot.conn.eviction_rank(Instant::now() + STALLED).is_some_and(|r| r.0 == 2), "it waited to write");
    drop(client);

    let slot = table.admit(ip(2)).unwrap();
    let (mut client, server) = pair().await;
    let long = Limits { write: Duration::from_secs(600), ..slot.limits() };
    let mut io = Guarded::new(server, slot.conn.clone(), long);
    slot.conn.request_started();
    slot.conn.response_ready(long.write);
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        client.read_to_end(&mut all).map(|_| all.len())
    });
    for _ in 0..8 {
        write_all(&mut io, &chunk).await.unwrap();
    }
    drop(io);
    assert_eq!(reader.join().unwrap().unwrap(), 8 << 20);
}
