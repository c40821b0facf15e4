//! The `ss -i` and `ss -m` text of a socket's insides: [`tcp_info`] renders `struct tcp_info`, [`memory`]
//! renders `sk_meminfo`. The model holds the decoded data; this is how the listing and the dashboard show it.

use crate::model::internals::{MemInfo, TcpInfo};

/// `ss -i`-style text: `wscale:7,7 rto:204 rtt:0.032/0.016 ... cwnd:10 bytes_sent:...`.
pub fn tcp_info(t: &TcpInfo, cong: Option<&str>) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let ms = |us: u32| {
        let v = us as f64 / 1000.0;
        if us.is_multiple_of(1000) { format!("{}", us / 1000) } else { format!("{v}") }
    };
    if let Some(o) = t.options() {
        for (bit, name) in [(1, "ts"), (2, "sack"), (8, "ecn"), (16, "ecnseen"), (32, "fastopen")] {
            if o & bit != 0 {
                let _ = write!(s, " {name}");
            }
        }
    }
    if let Some(c) = cong {
        let _ = write!(s, " {c}");
    }
    // A listener's tcp_info holds only its congestion window; unacked/sacked there mean the backlog.
    let listening = t.state() == Some(10);
    if let (Some(a), Some(b), Some(o)) = (t.snd_wscale(), t.rcv_wscale(), t.options())
        && o & 4 != 0
    {
        let _ = write!(s, " wscale:{a},{b}");
    }
    if let Some(v) = t.rto_us().filter(|v| *v != 0) {
        let _ = write!(s, " rto:{}", ms(v));
    }
    if let (Some(r), Some(v)) = (t.rtt_us().filter(|r| *r != 0), t.rttvar_us()) {
        let _ = write!(s, " rtt:{}/{}", ms(r), ms(v));
    }
    for (name, v) in [
        ("ato", t.ato_us().map(ms)),
        ("mss", t.snd_mss().map(|v| v.to_string())),
        ("pmtu", t.pmtu().map(|v| v.to_string())),
        ("rcvmss", t.rcv_mss().map(|v| v.to_string())),
        ("advmss", t.advmss().map(|v| v.to_string())),
        ("cwnd", t.snd_cwnd().map(|v| v.to_string())),
        ("ssthresh", t.snd_ssthresh().map(|v| v.to_string())),
    ] {
        if let Some(v) = v.filter(|v| v != "0") {
            let _ = write!(s, " {name}:{v}");
        }
    }
    for (name, v) in [
        ("bytes_sent", t.bytes_sent()),
        ("bytes_retrans", t.bytes_retrans()),
        ("bytes_acked", t.bytes_acked()),
        ("bytes_received", t.bytes_received()),
        ("segs_out", t.segs_out().map(u64::from)),
        ("segs_in", t.segs_in().map(u64::from)),
        ("data_segs_out", t.data_segs_out().map(u64::from)),
        ("data_segs_in", t.data_segs_in().map(u64::from)),
        ("lastsnd", t.last_data_sent_ms().map(u64::from)),
        ("lastrcv", t.last_data_recv_ms().map(u64::from)),
        ("lastack", t.last_ack_recv_ms().map(u64::from)),
    ] {
        if let Some(v) = v.filter(|v| *v != 0) {
            let _ = write!(s, " {name}:{v}");
        }
    }
    if let Some(r) = t.pacing_rate_bytes_per_s().filter(|r| *r != 0 && *r != u64::MAX) {
        let _ = write!(s, " pacing_rate {}", rate(r));
    }
    if let Some(r) = t.delivery_rate_bytes_per_s().filter(|r| *r != 0) {
        let _ = write!(s, " delivery_rate {}", rate(r));
    }
    for (name, v) in
        [("busy", t.busy_time_us()), ("rwnd_limited", t.rwnd_limited_us()), ("sndbuf_limited", t.sndbuf_limited_us())]
    {
        if let Some(v) = v.filter(|v| *v != 0) {
            let _ = write!(s, " {name}:{}ms", v / 1000);
        }
    }
    for (name, v) in [
        ("unacked", t.unacked()),
        ("retrans", t.retrans_in_flight()),
        ("lost", t.lost()),
        ("sacked", t.sacked()),
        ("reordering", t.reordering().filter(|r| *r != 3)),
        ("notsent", t.notsent_bytes()),
    ] {
        if let Some(v) = v.filter(|v| *v != 0 && !listening) {
            let _ = write!(s, " {name}:{v}");
        }
    }
    if let (Some(now), Some(total)) = (t.retransmits(), t.total_retrans())
        && (now != 0 || total != 0)
    {
        let _ = write!(s, " retransmits:{now}/{total}");
    }
    if let Some(v) = t.rcv_rtt_us().filter(|v| *v != 0) {
        let _ = write!(s, " rcv_rtt:{}", ms(v));
    }
    for (name, v) in [("rcv_space", t.rcv_space()), ("rcv_ssthresh", t.rcv_ssthresh())] {
        if let Some(v) = v.filter(|v| *v != 0) {
            let _ = write!(s, " {name}:{v}");
        }
    }
    if let Some(v) = t.min_rtt_us().filter(|v| *v != 0 && *v != u32::MAX) {
        let _ = write!(s, " minrtt:{}", ms(v));
    }
    if let Some(v) = t.snd_wnd().filter(|v| *v != 0) {
        let _ = write!(s, " snd_wnd:{v}");
    }
    if let Some(v) = t.rcv_wnd().filter(|v| *v != 0) {
        let _ = write!(s, " rcv_wnd:{v}");
    }
    s.trim_start().to_string()
}

/// Bytes per second as `ss` shows rates: bits per second with a unit.
pub fn rate(bytes_per_s: u64) -> String {
    let bps = bytes_per_s as f64 * 8.0;
    if bps >= 1e9 {
        format!("{:.1}Gbps", bps / 1e9)
    } else if bps >= 1e6 {
        format!("{:.1}Mbps", bps / 1e6)
    } else if bps >= 1e3 {
        format!("{:.1}Kbps", bps / 1e3)
    } else {
        format!("{bps}bps")
    }
}

/// `skmem:(r0,rb131072,t0,tb2626560,f0,w0,o0,bl0,d0)`, as `ss -m` prints it.
pub fn memory(m: &MemInfo) -> String {
    let f = |tag: &str, v: Option<u32>| v.map(|v| format!("{tag}{v}"));
    let parts: Vec<String> = [
        f("r", m.rmem_alloc),
        f("rb", m.rcvbuf),
        f("t", m.wmem_alloc),
        f("tb", m.sndbuf),
        f("f", m.fwd_alloc),
        f("w", m.wmem_queued),
        f("o", m.optmem),
        f("bl", m.backlog),
        f("d", m.drops),
    ]
    .into_iter()
    .flatten()
    .collect();
    format!("skmem:({})", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::internals::tests::image;

    #[test]
    fn summary_reads_like_ss() {
        let t = TcpInfo::decode(&image(248));
        let s = tcp_info(&t, Some("cubic"));
        assert!(s.starts_with("ts sack cubic wscale:7,9 rto:204 rtt:0.032/0.016 ato:40 mss:32768 pmtu:65535"), "{s}");
        assert!(s.contains("cwnd:10") && !s.contains("ssthresh:"), "{s}");
        assert!(s.contains("bytes_sent:4300") && s.contains("bytes_acked:4242"), "{s}");
        assert!(s.contains("delivery_rate 8.0Mbps"), "{s}");
        assert!(s.contains("retransmits:2/5") && s.contains("lost:2"), "{s}");
    }

    #[test]
    fn memory_reads_like_ss() {
        let mut b = Vec::new();
        for v in [0u32, 131072, 0, 2626560, 4096, 0, 0, 0, 7] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        assert_eq!(memory(&MemInfo::decode(&b)), "skmem:(r0,rb131072,t0,tb2626560,f4096,w0,o0,bl0,d7)");
        assert_eq!(memory(&MemInfo::decode(&b[..28])), "skmem:(r0,rb131072,t0,tb2626560,f4096,w0,o0)");
    }

    #[test]
    fn listeners_show_no_backlog_as_sacked() {
        let mut b = vec![0u8; 104];
        b[0] = 10; // LISTEN
        b[28..32].copy_from_slice(&128u32.to_ne_bytes()); // sacked = max backlog on a listener
        b[80..84].copy_from_slice(&10u32.to_ne_bytes());
        assert_eq!(tcp_info(&TcpInfo::decode(&b), Some("bbr")), "bbr cwnd:10");
    }
}
