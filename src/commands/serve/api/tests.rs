//! The API's query parameters and pages: limits, cursors that survive a new collection, groups by position.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::model::{Proto, State};

fn params(q: &str) -> Result<Params, String> {
    Params::parse(Some(q))
}

#[test]
fn query_parameters() {
    let p = Params::parse(None).unwrap();
    assert_eq!((p.filter.as_str(), p.limit, p.after), ("", DEFAULT_LIMIT, None));
    let p = params("filter=sport+%3D+%3A22&limit=5&after=1.2.3.0&x=1").unwrap();
    assert_eq!((p.filter.as_str(), p.limit, p.after.as_deref()), ("sport = :22", 5, Some("1.2.3.0")));
    for bad in ["limit=0", "limit=-1", "limit=100001", "limit=ten"] {
        assert!(params(bad).unwrap_err().starts_with("bad limit '"), "{bad}");
    }
    assert!(params("limit=%1b%5b31m").unwrap_err().contains("\\x1b[31m"), "client text is escaped");
    let long = format!("filter={}", "a".repeat(MAX_FILTER + 1));
    assert!(params(&long).unwrap_err().contains("longer than 4096"));
    let next = params("filter=state+listening&limit=3").unwrap().next("7.0.9.0");
    assert_eq!(next, "filter=state+listening&limit=3&after=7.0.9.0");
}

/// Sockets `cookies` (0: none, with inode 0 like a TIME-WAIT socket from /proc), as one interval's data.
fn data(cookies: &[u64]) -> Arc<Data> {
    let mut socks = Vec::new();
    for (n, &c) in cookies.iter().enumerate() {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let mut s = Socket::inet(Proto::Tcp, State::ESTABLISHED, (ip, 1000 + n as u16), (ip, 80));
        (s.cookie, s.inode) = if c == 0 { (None, 0) } else { (Some(c), c + 100) };
        socks.push(s);
    }
    let mut d = Data::failed(String::new());
    d.error = None;
    let groups = group::group(&socks);
    d.keep(socks, groups);
    Arc::new(d)
}

/// Every page from `after` on, `limit` at a time, the data being `d`: the local ports seen and the last cursor.
fn walk(d: &Arc<Data>, limit: usize, mut after: Option<String>, pages: usize) -> (Vec<u16>, Option<String>) {
    let latest = Arc::new(Latest::default());
    latest.set(d.clone());
    let mut ports = Vec::new();
    for _ in 0..pages {
        let p = Params { filter: String::new(), limit, after: after.clone() };
        let page = sockets(&latest, d, StateSet::ALL, Bound::everything(), &p).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&page.body.collect()).unwrap();
        let items = v.as_array().unwrap();
        assert!(items.len() <= limit);
        ports.extend(items.iter().map(|s| s["local"]["port"].as_u64().unwrap() as u16));
        match page.next {
            Some(c) => after = Some(c),
            None => return (ports, None),
        }
    }
    (ports, after)
}

/// The API answered with everything at once (95 MB of JSON at 100k pairs, rendered per request). Pages of
/// `limit` sockets follow each other by cursor: each socket once, ties (no cookie, no inode) included.
#[test]
fn pages_list_every_socket_once() {
    let d = data(&[50, 7, 0, 31, 0, 0, 12, 99, 3, 0, 64]);
    for limit in [1, 2, 3, 4, 10, 11, 100] {
        let (ports, last) = walk(&d, limit, None, 100);
        assert_eq!(last, None, "limit {limit}");
        let mut sorted = ports.clone();
        sorted.sort();
        assert_eq!(sorted, (1000..1011).collect::<Vec<u16>>(), "limit {limit}: {ports:?}");
    }
    let latest = Arc::new(Latest::default());
    let all = sockets(&latest, &d, StateSet::ALL, Bound::everything(), &Params::parse(None).unwrap()).unwrap();
    assert!(all.next.is_none());
    assert!(sockets(&latest, &d, StateSet::ALL, Bound::everything(), &params("after=1.2").unwrap()).is_err());
}

/// A cursor taken in one collection continues in the next: the sockets alive in both are listed once, the
/// closed ones are not, and nothing is listed twice.
#[test]
fn a_cursor_survives_a_new_collection() {
    let before = data(&[5, 10, 15, 20, 25, 30]);
    let (first, cursor) = walk(&before, 2, None, 1);
    assert_eq!(first, vec![1000, 1001], "cookies 5 and 10");
    // Next interval: 15 closed, 8 (before the cursor) and 40 opened; ports are positions in the new list.
    let after = data(&[40, 30, 25, 20, 8, 10, 5]);
    let (rest, _) = walk(&after, 2, cursor, 10);
    let cookies: Vec<u64> = rest.iter().map(|&p| after.sockets[(p - 1000) as usize].cookie.unwrap()).collect();
    assert_eq!(cookies, vec![20, 25, 30, 40]);
}

/// The cookies in a page's JSON.
fn cookies(json: &[u8]) -> Vec<u64> {
    let v: serde_json::Value = serde_json::from_slice(json).unwrap();
    v.as_array().unwrap().iter().map(|s| s["cookie"].as_u64().unwrap()).collect()
}

/// A page being read held its interval's data until the client had read it all: clients that read slowly
/// over several intervals kept as many intervals alive. A page now holds no data between its chunks: each is
/// rendered from the latest, within the page's range of keys.
#[test]
fn a_page_being_read_holds_no_interval_data() {
    let first = data(&(1..=40).collect::<Vec<u64>>());
    let latest = Arc::new(Latest::default());
    latest.set(first.clone());
    let p = Params { filter: String::new(), limit: 30, after: None };
    let page = sockets(&latest, &first, StateSet::ALL, Bound::everything(), &p).unwrap();
    assert_eq!(page.next.as_deref(), Some("30.0.130.0"));
    // Chunks of one socket each.
    let mut body = page.body.in_chunks_of(1);
    let mut json = Vec::new();
    for _ in 0..10 {
        json.extend_from_slice(&body.next_chunk().unwrap());
    }
    // The next interval: 11 to 20 closed, 41 opened (after the page's range). The first is gone.
    let second = data(&(1..=10).chain(21..=41).collect::<Vec<u64>>());
    latest.set(second);
    let weak = Arc::downgrade(&first);
    drop(first);
    assert!(weak.upgrade().is_none(), "the page holds no interval's data");
    while let Some(c) = body.next_chunk() {
        json.extend_from_slice(&c);
    }
    let want: Vec<u64> = (1..=10).chain(21..=30).collect();
    assert_eq!(cookies(&json), want);
}

/// Groups (the interval's own, or those of a filter's sockets) come `limit` at a time by position.
#[test]
fn groups_are_paged_by_position() {
    // Five outbound groups: ports 80 to 84 of 10.0.0.2, with 5, 4, 3, 2 and 1 sockets.
    let ip = |d| IpAddr::V4(Ipv4Addr::new(10, 0, 0, d));
    let mut socks = Vec::new();
    for g in 0..5u16 {
        for n in 0..(5 - g) {
            socks.push(Socket::inet(Proto::Tcp, State::ESTABLISHED, (ip(1), 40000 + g * 10 + n), (ip(2), 80 + g)));
        }
    }
    let mut d = Data::failed(String::new());
    let grouped = group::group(&socks);
    d.keep(socks, grouped);
    let d = Arc::new(d);
    let latest = Arc::new(Latest::default());
    latest.set(d.clone());
    let services = Arc::new(Services::parse("".as_bytes()));
    let ports = |expr: &Bound, limit: usize| {
        let (mut all, mut after, mut pages) = (Vec::new(), None, 0);
        loop {
            let p = Params { filter: String::new(), limit, after };
            let page = groups(&latest, &services, &d, StateSet::ALL, expr, &p).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&page.body.collect()).unwrap();
            all.extend(v.as_array().unwrap().iter().map(|g| g["port"].as_u64().unwrap()));
            pages += 1;
            match page.next {
                Some(n) => after = Some(n),
                None => return (all, pages),
            }
        }
    };
    assert_eq!(ports(&Bound::everything(), 2), (vec![80, 81, 82, 83, 84], 3));
    assert_eq!(ports(&Bound::everything(), 5), (vec![80, 81, 82, 83, 84], 1));
    let not_81 = crate::filter::parse("not dport = :81", &Services::parse("".as_bytes()), &crate::filter::NoLookup)
        .unwrap()
        .expr;
    let not_81 = crate::filter::bind(&not_81, &crate::filter::Have::new("test")).unwrap();
    assert_eq!(ports(&not_81, 3), (vec![80, 82, 83, 84], 2));
    let p = Params { filter: String::new(), limit: 2, after: Some("x".into()) };
    assert!(groups(&latest, &services, &d, StateSet::ALL, &Bound::everything(), &p).is_err());
}
