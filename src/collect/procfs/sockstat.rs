//! `/proc/net/sockstat`, `sockstat6` and the `Tcp:` table of `/proc/net/snmp`: the counters behind `ss -s`.
//! Pure parsers, [`SockStat::add_namespace`] (the sum over namespaces), and [`read`], the thin I/O.

use std::io;
use std::path::Path;

use serde::Serialize;

/// The kernel's socket counters, as `ss -s` uses them. Missing lines read as 0, as in ss.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SockStat {
    /// `sockets: used`: every socket of the namespace.
    pub sockets: u64,
    pub tcp_inuse: u64,
    pub tcp_orphan: u64,
    pub tcp_tw: u64,
    pub tcp_alloc: u64,
    /// Pages.
    pub tcp_mem: u64,
    pub udp: u64,
    pub raw: u64,
    pub frag: u64,
    pub frag_memory: u64,
    pub tcp6: u64,
    pub udp6: u64,
    pub raw6: u64,
    pub frag6: u64,
    pub frag6_memory: u64,
    /// `Tcp: CurrEstab` from `/proc/net/snmp`.
    pub tcp_established: u64,
}

impl SockStat {
    /// Add the lines of `sockstat` or `sockstat6` text.
    pub fn parse_sockstat(&mut self, text: &str) {
        for line in text.lines() {
            let Some((id, rest)) = line.split_once(' ') else { continue };
            let kv: Vec<(&str, u64)> = rest
                .split_whitespace()
                .collect::<Vec<_>>()
                .chunks(2)
                .filter_map(|c| Some((*c.first()?, c.get(1)?.parse().ok()?)))
                .collect();
            let get = |k: &str| kv.iter().find(|(n, _)| *n == k).map_or(0, |(_, v)| *v);
            match id {
                "sockets:" => self.sockets = get("used"),
                "TCP:" => {
                    self.tcp_inuse = get("inuse");
                    self.tcp_orphan = get("orphan");
                    self.tcp_tw = get("tw");
                    self.tcp_alloc = get("alloc");
                    self.tcp_mem = get("mem");
                }
                "UDP:" => self.udp = get("inuse"),
                "RAW:" => self.raw = get("inuse"),
                "FRAG:" => (self.frag, self.frag_memory) = (get("inuse"), get("memory")),
                "TCP6:" => self.tcp6 = get("inuse"),
                "UDP6:" => self.udp6 = get("inuse"),
                "RAW6:" => self.raw6 = get("inuse"),
                "FRAG6:" => (self.frag6, self.frag6_memory) = (get("inuse"), get("memory")),
                _ => {}
            }
        }
    }

    /// Take `CurrEstab` from `/proc/net/snmp` (the counters' parser; 0 when it is missing or the file bad).
    pub fn parse_snmp(&mut self, text: &str) {
        self.tcp_established =
            super::counters::parse(text.as_bytes()).ok().and_then(|c| c.get("Tcp", "CurrEstab")).unwrap_or(0);
    }

    /// Add another network namespace's counters. Most are the namespace's own and add up; `TCP: orphan`,
    /// `alloc` and `mem` are the kernel's host-wide counters (every namespace's file shows the same values),
    /// so they are taken once (the larger, as two reads are moments apart).
    pub fn add_namespace(&mut self, o: &SockStat) {
        let SockStat {
            sockets,
            tcp_inuse,
            tcp_orphan,
            tcp_tw,
            tcp_alloc,
            tcp_mem,
            udp,
            raw,
            frag,
            frag_memory,
            tcp6,
            udp6,
            raw6,
            frag6,
            frag6_memory,
            tcp_established,
        } = *o;
        for (mine, theirs) in [
            (&mut self.sockets, sockets),
            (&mut self.tcp_inuse, tcp_inuse),
            (&mut self.tcp_tw, tcp_tw),
            (&mut self.udp, udp),
            (&mut self.raw, raw),
            (&mut self.frag, frag),
            (&mut self.frag_memory, frag_memory),
            (&mut self.tcp6, tcp6),
            (&mut self.udp6, udp6),
            (&mut self.raw6, raw6),
            (&mut self.frag6, frag6),
            (&mut self.frag6_memory, frag6_memory),
            (&mut self.tcp_established, tcp_established),
        ] {
            *mine = mine.saturating_add(theirs);
        }
        for (mine, theirs) in
            [(&mut self.tcp_orphan, tcp_orphan), (&mut self.tcp_alloc, tcp_alloc), (&mut self.tcp_mem, tcp_mem)]
        {
            *mine = (*mine).max(theirs);
        }
    }

    /// TCP sockets closed but not yet freed, as ss computes them.
    pub fn tcp_closed(&self) -> i64 {
        self.tcp_alloc as i64 - (self.tcp_inuse as i64 + self.tcp6 as i64 - self.tcp_tw as i64)
    }
}

/// The counters of the namespace `proc_root` shows (`/proc`, or `/proc/thread-self` on a thread that entered
/// another namespace): `net/sockstat`, `net/sockstat6` and `net/snmp`. A missing file reads as zeros, as in
/// ss; a `net` directory that cannot be read at all is an error.
pub fn read(proc_root: &Path) -> io::Result<SockStat> {
    let dir = proc_root.join("net");
    std::fs::metadata(&dir)?;
    let read = |f: &str| crate::collect::input::read_to_string_capped(&dir.join(f), 1 << 20).unwrap_or_default();
    let mut s = SockStat::default();
    s.parse_sockstat(&read("sockstat"));
    s.parse_sockstat(&read("sockstat6"));
    s.parse_snmp(&read("snmp"));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_format() {
        let mut s = SockStat::default();
        s.parse_sockstat(
            "sockets: used 31\nTCP: inuse 3 orphan 1 tw 43 alloc 30 mem 119\nUDP: inuse 2 mem 0\nRAW: inuse 1\n\
             FRAG: inuse 0 memory 0\n",
        );
        s.parse_sockstat("TCP6: inuse 4\nUDP6: inuse 1\nRAW6: inuse 1\nFRAG6: inuse 0 memory 0\n");
        s.parse_snmp("Ip: Forwarding\nIp: 1\nTcp: RtoAlgorithm RtoMin CurrEstab\nTcp: 1 200 18\n");
        assert_eq!((s.sockets, s.tcp_inuse, s.tcp_tw, s.tcp_alloc, s.tcp6), (31, 3, 43, 30, 4));
        assert_eq!((s.udp, s.udp6, s.raw, s.raw6, s.tcp_established), (2, 1, 1, 1, 18));
        assert_eq!(s.tcp_closed(), 30 - (3 + 4 - 43));
        let mut junk = SockStat::default();
        junk.parse_sockstat("garbage\nTCP: inuse x\n\n");
        junk.parse_snmp("Tcp: CurrEstab\n");
        assert_eq!(junk, SockStat::default());
    }

    #[test]
    fn namespaces_add_up_but_host_wide_counters_count_once() {
        let mut a = SockStat::default();
        a.parse_sockstat("sockets: used 10\nTCP: inuse 3 orphan 1 tw 2 alloc 500 mem 7\nUDP: inuse 1 mem 0\n");
        a.parse_sockstat("TCP6: inuse 1\nUDP6: inuse 2\n");
        a.parse_snmp("Tcp: CurrEstab\nTcp: 2\n");
        let mut b = SockStat::default();
        b.parse_sockstat("sockets: used 5\nTCP: inuse 4 orphan 1 tw 0 alloc 501 mem 7\nUDP: inuse 0 mem 0\n");
        b.parse_snmp("Tcp: CurrEstab\nTcp: 4\n");
        let mut sum = SockStat::default();
        sum.add_namespace(&a);
        sum.add_namespace(&b);
        assert_eq!((sum.sockets, sum.tcp_inuse, sum.tcp_tw, sum.udp, sum.tcp6, sum.udp6), (15, 7, 2, 1, 1, 2));
        assert_eq!(sum.tcp_established, 6);
        assert_eq!((sum.tcp_orphan, sum.tcp_alloc, sum.tcp_mem), (1, 501, 7), "host-wide: once");
        // one namespace added to nothing is itself
        let mut one = SockStat::default();
        one.add_namespace(&a);
        assert_eq!(one, a);
    }

    #[test]
    fn read_needs_a_net_directory() {
        let dir = std::env::temp_dir().join(format!("sockscope-sockstat-{}", std::process::id()));
        assert!(read(&dir).is_err());
        std::fs::create_dir_all(dir.join("net")).unwrap();
        std::fs::write(dir.join("net/sockstat"), "sockets: used 9\n").unwrap();
        assert_eq!(read(&dir).unwrap().sockets, 9);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
