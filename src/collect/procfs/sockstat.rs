//! `/proc/net/sockstat`, `sockstat6` and the `Tcp:` table of `/proc/net/snmp`: the counters behind `ss -s`.
//! Pure parsers; the caller reads the files.

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

    /// Take `CurrEstab` from the `Tcp:` header/value line pair of `/proc/net/snmp`.
    pub fn parse_snmp(&mut self, text: &str) {
        let mut lines = text.lines();
        while let Some(head) = lines.next() {
            if !head.starts_with("Tcp:") {
                continue;
            }
            let Some(vals) = lines.next() else { break };
            if let Some(i) = head.split_whitespace().position(|k| k == "CurrEstab") {
                self.tcp_established = vals.split_whitespace().nth(i).and_then(|v| v.parse().ok()).unwrap_or(0);
            }
            break;
        }
    }

    /// TCP sockets closed but not yet freed, as ss computes them.
    pub fn tcp_closed(&self) -> i64 {
        self.tcp_alloc as i64 - (self.tcp_inuse as i64 + self.tcp6 as i64 - self.tcp_tw as i64)
    }
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
}
