//! What TCP and the socket layer report about a socket's insides (`ss -i`, `-m`): `struct tcp_info` and
//! `sk_meminfo`, decoded by length. Kernels send different sizes (older ones shorter, newer ones longer), so
//! every field is optional and a short struct never fails a dump.

use serde::Serialize;

/// Extra data requested with `-i` / `-m`, boxed so that sockets without it stay small.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Extra {
    /// `struct tcp_info` (TCP sockets with `-i`; absent for TIME-WAIT and request sockets).
    pub tcp_info: Option<TcpInfo>,
    /// Congestion control algorithm (`cubic`, `bbr`, ...), with `-i`.
    pub congestion: Option<String>,
    /// Socket memory, with `-m`.
    pub memory: Option<MemInfo>,
}

impl Extra {
    pub fn is_empty(&self) -> bool {
        self.tcp_info.is_none() && self.congestion.is_none() && self.memory.is_none()
    }
}

/// `struct tcp_info` (include/uapi/linux/tcp.h). Field names carry their unit. `None` where the kernel's struct
/// is too short to hold the field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TcpInfo {
    /// The TCP state number as tcp_info reports it (10 = LISTEN).
    pub state: Option<u8>,
    pub ca_state: Option<u8>,
    /// Retransmissions of the segment now at the head of the queue (`tcpi_retransmits`).
    pub retransmits: Option<u8>,
    pub probes: Option<u8>,
    pub backoff: Option<u8>,
    /// TCPI_OPT_* bits: 1 timestamps, 2 sack, 4 wscale, 8 ecn, 16 ecn_seen, 32 syn_data.
    pub options: Option<u8>,
    pub snd_wscale: Option<u8>,
    pub rcv_wscale: Option<u8>,
    pub rto_us: Option<u32>,
    pub ato_us: Option<u32>,
    pub snd_mss: Option<u32>,
    pub rcv_mss: Option<u32>,
    pub unacked: Option<u32>,
    pub sacked: Option<u32>,
    pub lost: Option<u32>,
    /// Segments retransmitted and not yet acknowledged (`tcpi_retrans`).
    pub retrans_in_flight: Option<u32>,
    pub last_data_sent_ms: Option<u32>,
    pub last_ack_sent_ms: Option<u32>,
    pub last_data_recv_ms: Option<u32>,
    pub last_ack_recv_ms: Option<u32>,
    pub pmtu: Option<u32>,
    pub rcv_ssthresh: Option<u32>,
    pub rtt_us: Option<u32>,
    pub rttvar_us: Option<u32>,
    /// `None` inside when the kernel reports "infinite" (no slow-start threshold yet).
    pub snd_ssthresh: Option<u32>,
    pub snd_cwnd: Option<u32>,
    pub advmss: Option<u32>,
    pub reordering: Option<u32>,
    pub rcv_rtt_us: Option<u32>,
    pub rcv_space: Option<u32>,
    pub total_retrans: Option<u32>,
    pub pacing_rate_bytes_per_s: Option<u64>,
    pub max_pacing_rate_bytes_per_s: Option<u64>,
    pub bytes_acked: Option<u64>,
    pub bytes_received: Option<u64>,
    pub segs_out: Option<u32>,
    pub segs_in: Option<u32>,
    pub notsent_bytes: Option<u32>,
    pub min_rtt_us: Option<u32>,
    pub data_segs_in: Option<u32>,
    pub data_segs_out: Option<u32>,
    pub delivery_rate_bytes_per_s: Option<u64>,
    pub busy_time_us: Option<u64>,
    pub rwnd_limited_us: Option<u64>,
    pub sndbuf_limited_us: Option<u64>,
    pub delivered: Option<u32>,
    pub delivered_ce: Option<u32>,
    pub bytes_sent: Option<u64>,
    pub bytes_retrans: Option<u64>,
    pub dsack_dups: Option<u32>,
    pub reord_seen: Option<u32>,
    pub rcv_ooopack: Option<u32>,
    pub snd_wnd: Option<u32>,
    pub rcv_wnd: Option<u32>,
}

/// The kernel's "no threshold yet" value of `tcpi_snd_ssthresh`.
const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;

fn u8_at(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

impl TcpInfo {
    /// Decode however much of `struct tcp_info` the kernel sent.
    pub fn decode(b: &[u8]) -> TcpInfo {
        let w = u8_at(b, 6);
        TcpInfo {
            state: u8_at(b, 0),
            ca_state: u8_at(b, 1),
            retransmits: u8_at(b, 2),
            probes: u8_at(b, 3),
            backoff: u8_at(b, 4),
            options: u8_at(b, 5),
            snd_wscale: w.map(|w| w & 0x0f),
            rcv_wscale: w.map(|w| w >> 4),
            rto_us: u32_at(b, 8),
            ato_us: u32_at(b, 12),
            snd_mss: u32_at(b, 16),
            rcv_mss: u32_at(b, 20),
            unacked: u32_at(b, 24),
            sacked: u32_at(b, 28),
            lost: u32_at(b, 32),
            retrans_in_flight: u32_at(b, 36),
            last_data_sent_ms: u32_at(b, 44),
            last_ack_sent_ms: u32_at(b, 48),
            last_data_recv_ms: u32_at(b, 52),
            last_ack_recv_ms: u32_at(b, 56),
            pmtu: u32_at(b, 60),
            rcv_ssthresh: u32_at(b, 64),
            rtt_us: u32_at(b, 68),
            rttvar_us: u32_at(b, 72),
            snd_ssthresh: u32_at(b, 76).filter(|v| *v < INFINITE_SSTHRESH),
            snd_cwnd: u32_at(b, 80),
            advmss: u32_at(b, 84),
            reordering: u32_at(b, 88),
            rcv_rtt_us: u32_at(b, 92),
            rcv_space: u32_at(b, 96),
            total_retrans: u32_at(b, 100),
            pacing_rate_bytes_per_s: u64_at(b, 104),
            max_pacing_rate_bytes_per_s: u64_at(b, 112),
            bytes_acked: u64_at(b, 120),
            bytes_received: u64_at(b, 128),
            segs_out: u32_at(b, 136),
            segs_in: u32_at(b, 140),
            notsent_bytes: u32_at(b, 144),
            min_rtt_us: u32_at(b, 148),
            data_segs_in: u32_at(b, 152),
            data_segs_out: u32_at(b, 156),
            delivery_rate_bytes_per_s: u64_at(b, 160),
            busy_time_us: u64_at(b, 168),
            rwnd_limited_us: u64_at(b, 176),
            sndbuf_limited_us: u64_at(b, 184),
            delivered: u32_at(b, 192),
            delivered_ce: u32_at(b, 196),
            bytes_sent: u64_at(b, 200),
            bytes_retrans: u64_at(b, 208),
            dsack_dups: u32_at(b, 216),
            reord_seen: u32_at(b, 220),
            rcv_ooopack: u32_at(b, 224),
            snd_wnd: u32_at(b, 228),
            rcv_wnd: u32_at(b, 232),
        }
    }

    /// `ss -i`-style text: `wscale:7,7 rto:204 rtt:0.032/0.016 ... cwnd:10 bytes_sent:...`.
    pub fn summary(&self, cong: Option<&str>) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let ms = |us: u32| {
            let v = us as f64 / 1000.0;
            if us.is_multiple_of(1000) { format!("{}", us / 1000) } else { format!("{v}") }
        };
        if let Some(o) = self.options {
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
        let listening = self.state == Some(10);
        if let (Some(a), Some(b), Some(o)) = (self.snd_wscale, self.rcv_wscale, self.options)
            && o & 4 != 0
        {
            let _ = write!(s, " wscale:{a},{b}");
        }
        if let Some(v) = self.rto_us.filter(|v| *v != 0) {
            let _ = write!(s, " rto:{}", ms(v));
        }
        if let (Some(r), Some(v)) = (self.rtt_us.filter(|r| *r != 0), self.rttvar_us) {
            let _ = write!(s, " rtt:{}/{}", ms(r), ms(v));
        }
        for (name, v) in [
            ("ato", self.ato_us.map(ms)),
            ("mss", self.snd_mss.map(|v| v.to_string())),
            ("pmtu", self.pmtu.map(|v| v.to_string())),
            ("rcvmss", self.rcv_mss.map(|v| v.to_string())),
            ("advmss", self.advmss.map(|v| v.to_string())),
            ("cwnd", self.snd_cwnd.map(|v| v.to_string())),
            ("ssthresh", self.snd_ssthresh.map(|v| v.to_string())),
        ] {
            if let Some(v) = v.filter(|v| v != "0") {
                let _ = write!(s, " {name}:{v}");
            }
        }
        for (name, v) in [
            ("bytes_sent", self.bytes_sent),
            ("bytes_retrans", self.bytes_retrans),
            ("bytes_acked", self.bytes_acked),
            ("bytes_received", self.bytes_received),
            ("segs_out", self.segs_out.map(u64::from)),
            ("segs_in", self.segs_in.map(u64::from)),
            ("data_segs_out", self.data_segs_out.map(u64::from)),
            ("data_segs_in", self.data_segs_in.map(u64::from)),
            ("lastsnd", self.last_data_sent_ms.map(u64::from)),
            ("lastrcv", self.last_data_recv_ms.map(u64::from)),
            ("lastack", self.last_ack_recv_ms.map(u64::from)),
        ] {
            if let Some(v) = v.filter(|v| *v != 0) {
                let _ = write!(s, " {name}:{v}");
            }
        }
        if let Some(r) = self.pacing_rate_bytes_per_s.filter(|r| *r != 0 && *r != u64::MAX) {
            let _ = write!(s, " pacing_rate {}", rate(r));
        }
        if let Some(r) = self.delivery_rate_bytes_per_s.filter(|r| *r != 0) {
            let _ = write!(s, " delivery_rate {}", rate(r));
        }
        for (name, v) in [
            ("busy", self.busy_time_us),
            ("rwnd_limited", self.rwnd_limited_us),
            ("sndbuf_limited", self.sndbuf_limited_us),
        ] {
            if let Some(v) = v.filter(|v| *v != 0) {
                let _ = write!(s, " {name}:{}ms", v / 1000);
            }
        }
        for (name, v) in [
            ("unacked", self.unacked),
            ("retrans", self.retrans_in_flight),
            ("lost", self.lost),
            ("sacked", self.sacked),
            ("reordering", self.reordering.filter(|r| *r != 3)),
            ("notsent", self.notsent_bytes),
        ] {
            if let Some(v) = v.filter(|v| *v != 0 && !listening) {
                let _ = write!(s, " {name}:{v}");
            }
        }
        if let (Some(now), Some(total)) = (self.retransmits, self.total_retrans)
            && (now != 0 || total != 0)
        {
            let _ = write!(s, " retransmits:{now}/{total}");
        }
        if let Some(v) = self.rcv_rtt_us.filter(|v| *v != 0) {
            let _ = write!(s, " rcv_rtt:{}", ms(v));
        }
        for (name, v) in [("rcv_space", self.rcv_space), ("rcv_ssthresh", self.rcv_ssthresh)] {
            if let Some(v) = v.filter(|v| *v != 0) {
                let _ = write!(s, " {name}:{v}");
            }
        }
        if let Some(v) = self.min_rtt_us.filter(|v| *v != 0 && *v != u32::MAX) {
            let _ = write!(s, " minrtt:{}", ms(v));
        }
        if let Some(v) = self.snd_wnd.filter(|v| *v != 0) {
            let _ = write!(s, " snd_wnd:{v}");
        }
        if let Some(v) = self.rcv_wnd.filter(|v| *v != 0) {
            let _ = write!(s, " rcv_wnd:{v}");
        }
        s.trim_start().to_string()
    }
}

/// Bytes per second as `ss` shows rates: bits per second with a unit.
fn rate(bytes_per_s: u64) -> String {
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

/// `sk_meminfo` (`INET_DIAG_SKMEMINFO`, `UNIX_DIAG_MEMINFO`): the socket's memory accounting, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MemInfo {
    pub rmem_alloc: Option<u32>,
    pub rcvbuf: Option<u32>,
    pub wmem_alloc: Option<u32>,
    pub sndbuf: Option<u32>,
    pub fwd_alloc: Option<u32>,
    pub wmem_queued: Option<u32>,
    pub optmem: Option<u32>,
    pub backlog: Option<u32>,
    /// Packets dropped (a count, not bytes).
    pub drops: Option<u32>,
}

impl MemInfo {
    pub fn decode(b: &[u8]) -> MemInfo {
        MemInfo {
            rmem_alloc: u32_at(b, 0),
            rcvbuf: u32_at(b, 4),
            wmem_alloc: u32_at(b, 8),
            sndbuf: u32_at(b, 12),
            fwd_alloc: u32_at(b, 16),
            wmem_queued: u32_at(b, 20),
            optmem: u32_at(b, 24),
            backlog: u32_at(b, 28),
            drops: u32_at(b, 32),
        }
    }

    /// `skmem:(r0,rb131072,t0,tb2626560,f0,w0,o0,bl0,d0)`, as `ss -m` prints it.
    pub fn summary(&self) -> String {
        let f = |tag: &str, v: Option<u32>| v.map(|v| format!("{tag}{v}"));
        let parts: Vec<String> = [
            f("r", self.rmem_alloc),
            f("rb", self.rcvbuf),
            f("t", self.wmem_alloc),
            f("tb", self.sndbuf),
            f("f", self.fwd_alloc),
            f("w", self.wmem_queued),
            f("o", self.optmem),
            f("bl", self.backlog),
            f("d", self.drops),
        ]
        .into_iter()
        .flatten()
        .collect();
        format!("skmem:({})", parts.join(","))
    }
}

#[cfg(test)]
mod tests;
