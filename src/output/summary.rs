//! `ss -s`: the socket summary from the kernel's counters, in ss's layout or as one JSON object.

use std::io::{self, Write};

use crate::collect::procfs::sockstat::SockStat;

/// ss's summary text.
pub fn render(w: &mut dyn Write, s: &SockStat) -> io::Result<()> {
    writeln!(w, "Total: {}", s.sockets)?;
    writeln!(
        w,
        "TCP:   {} (estab {}, closed {}, orphaned {}, timewait {})",
        s.tcp_alloc + s.tcp_tw,
        s.tcp_established,
        s.tcp_closed(),
        s.tcp_orphan,
        s.tcp_tw
    )?;
    writeln!(w)?;
    writeln!(w, "Transport Total     IP        IPv6")?;
    let rows = [
        ("RAW", s.raw, s.raw6),
        ("UDP", s.udp, s.udp6),
        ("TCP", s.tcp_inuse, s.tcp6),
        ("INET", s.raw + s.udp + s.tcp_inuse, s.raw6 + s.udp6 + s.tcp6),
        ("FRAG", s.frag, s.frag6),
    ];
    for (name, v4, v6) in rows {
        writeln!(w, "{name}\t  {:<9} {v4:<9} {v6:<9}", v4 + v6)?;
    }
    writeln!(w)
}

/// The summary as one JSON object: the raw counters plus ss's derived numbers.
pub fn render_json(w: &mut dyn Write, s: &SockStat) -> io::Result<()> {
    let v = serde_json::json!({
        "total": s.sockets,
        "tcp": {
            "total": s.tcp_alloc + s.tcp_tw,
            "established": s.tcp_established,
            "closed": s.tcp_closed(),
            "orphaned": s.tcp_orphan,
            "timewait": s.tcp_tw,
            "memory_pages": s.tcp_mem,
        },
        "transport": {
            "raw": {"total": s.raw + s.raw6, "ipv4": s.raw, "ipv6": s.raw6},
            "udp": {"total": s.udp + s.udp6, "ipv4": s.udp, "ipv6": s.udp6},
            "tcp": {"total": s.tcp_inuse + s.tcp6, "ipv4": s.tcp_inuse, "ipv6": s.tcp6},
            "inet": {
                "total": s.raw + s.udp + s.tcp_inuse + s.raw6 + s.udp6 + s.tcp6,
                "ipv4": s.raw + s.udp + s.tcp_inuse,
                "ipv6": s.raw6 + s.udp6 + s.tcp6,
            },
            "frag": {"total": s.frag + s.frag6, "ipv4": s.frag, "ipv6": s.frag6,
                     "memory_ipv4": s.frag_memory, "memory_ipv6": s.frag6_memory},
        },
    });
    serde_json::to_writer_pretty(&mut *w, &v)?;
    writeln!(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_ss() {
        let s = SockStat {
            sockets: 51,
            tcp_inuse: 18,
            tcp6: 9,
            tcp_alloc: 30,
            tcp_established: 18,
            tcp_tw: 0,
            raw: 1,
            raw6: 1,
            udp: 3,
            udp6: 1,
            ..SockStat::default()
        };
        let mut out = Vec::new();
        render(&mut out, &s).unwrap();
        let want = "Total: 51\nTCP:   30 (estab 18, closed 3, orphaned 0, timewait 0)\n\n\
Transport Total     IP        IPv6\nRAW\t  2         1         1        \nUDP\t  4         3         1        \n\
TCP\t  27        18        9        \nINET\t  33        22        11       \nFRAG\t  0         0         0        \n\n";
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}
