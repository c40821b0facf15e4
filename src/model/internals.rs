//! What TCP and the socket layer report about a socket's insides (`ss -i`, `-m`): `struct tcp_info` and
//! `sk_meminfo`, decoded by length. Kernels send different sizes (older ones shorter, newer ones longer), so
//! every field is optional and a short struct never fails a dump.

use serde::Serialize;

/// Extra data requested with `-i` / `-m`, boxed so that sockets without it stay small.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extra {
    /// `struct tcp_info` (TCP sockets with `-i`; absent for TIME-WAIT and request sockets).
    pub tcp_info: Option<TcpInfo>,
    /// Congestion control algorithm (`cubic`, `bbr`, ...), with `-i`; shared between sockets.
    pub congestion: Option<std::sync::Arc<str>>,
    /// Socket memory, with `-m` (boxed: most sockets asked for `-i` alone do not carry it).
    pub memory: Option<Box<MemInfo>>,
}

impl Extra {
    pub fn is_empty(&self) -> bool {
        self.tcp_info.is_none() && self.congestion.is_none() && self.memory.is_none()
    }
}

/// Declares [`TcpInfo`]: each field with its offset in `struct tcp_info` (include/uapi/linux/tcp.h). Values
/// are stored plainly with the length the kernel sent (about 280 bytes a socket instead of twice that as
/// `Option`s: it shows at 200k sockets); each accessor gives `None` for a field past that length.
macro_rules! tcp_info {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty = $off:expr ),* $(,)?) => {
        /// `struct tcp_info`, decoded by length. Field names carry their unit.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct TcpInfo {
            /// Bytes the kernel sent.
            len: u16,
            /// The byte holding `snd_wscale` (low 4 bits) and `rcv_wscale` (high 4 bits).
            wscale: u8,
            $( $name: $ty, )*
        }

        impl TcpInfo {
            /// Decode however much of `struct tcp_info` the kernel sent.
            pub fn decode(b: &[u8]) -> TcpInfo {
                TcpInfo {
                    len: b.len().min(u16::MAX as usize) as u16,
                    wscale: b.get(6).copied().unwrap_or(0),
                    $( $name: read::<$ty>(b, $off), )*
                }
            }

            $(
                $(#[$doc])*
                pub fn $name(&self) -> Option<$ty> {
                    (($off + std::mem::size_of::<$ty>()) <= self.len as usize).then_some(self.$name)
                }
            )*

            pub fn snd_wscale(&self) -> Option<u8> {
                (self.len > 6).then_some(self.wscale & 0x0f)
            }
            pub fn rcv_wscale(&self) -> Option<u8> {
                (self.len > 6).then_some(self.wscale >> 4)
            }
            /// `None` also when the kernel reports "infinite" (no slow-start threshold yet).
            pub fn snd_ssthresh(&self) -> Option<u32> {
                self.raw_snd_ssthresh().filter(|v| *v < INFINITE_SSTHRESH)
            }
        }

        impl Serialize for TcpInfo {
            fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let mut st = ser.serialize_struct("TcpInfo", 64)?;
                $( if stringify!($name) != "raw_snd_ssthresh" { st.serialize_field(stringify!($name), &self.$name())?; } )*
                st.serialize_field("snd_wscale", &self.snd_wscale())?;
                st.serialize_field("rcv_wscale", &self.rcv_wscale())?;
                st.serialize_field("snd_ssthresh", &self.snd_ssthresh())?;
                st.end()
            }
        }
    };
}

trait Field: Copy + Default {
    fn from_ne(b: &[u8]) -> Option<Self>;
}
impl Field for u8 {
    fn from_ne(b: &[u8]) -> Option<u8> {
        b.first().copied()
    }
}
impl Field for u32 {
    fn from_ne(b: &[u8]) -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(..4)?.try_into().ok()?))
    }
}
impl Field for u64 {
    fn from_ne(b: &[u8]) -> Option<u64> {
        Some(u64::from_ne_bytes(b.get(..8)?.try_into().ok()?))
    }
}

fn read<T: Field>(b: &[u8], off: usize) -> T {
    b.get(off..).and_then(T::from_ne).unwrap_or_default()
}

tcp_info! {
    /// The TCP state number as tcp_info reports it (10 = LISTEN).
    state: u8 = 0,
    ca_state: u8 = 1,
    /// Retransmissions of the segment now at the head of the queue (`tcpi_retransmits`).
    retransmits: u8 = 2,
    probes: u8 = 3,
    backoff: u8 = 4,
    /// TCPI_OPT_* bits: 1 timestamps, 2 sack, 4 wscale, 8 ecn, 16 ecn_seen, 32 syn_data.
    options: u8 = 5,
    rto_us: u32 = 8,
    ato_us: u32 = 12,
    snd_mss: u32 = 16,
    rcv_mss: u32 = 20,
    unacked: u32 = 24,
    sacked: u32 = 28,
    lost: u32 = 32,
    /// Segments retransmitted and not yet acknowledged (`tcpi_retrans`).
    retrans_in_flight: u32 = 36,
    last_data_sent_ms: u32 = 44,
    last_ack_sent_ms: u32 = 48,
    last_data_recv_ms: u32 = 52,
    last_ack_recv_ms: u32 = 56,
    pmtu: u32 = 60,
    rcv_ssthresh: u32 = 64,
    rtt_us: u32 = 68,
    rttvar_us: u32 = 72,
    /// `tcpi_snd_ssthresh` as sent; [`TcpInfo::snd_ssthresh`] hides the "infinite" value.
    raw_snd_ssthresh: u32 = 76,
    snd_cwnd: u32 = 80,
    advmss: u32 = 84,
    reordering: u32 = 88,
    rcv_rtt_us: u32 = 92,
    rcv_space: u32 = 96,
    total_retrans: u32 = 100,
    pacing_rate_bytes_per_s: u64 = 104,
    max_pacing_rate_bytes_per_s: u64 = 112,
    bytes_acked: u64 = 120,
    bytes_received: u64 = 128,
    segs_out: u32 = 136,
    segs_in: u32 = 140,
    notsent_bytes: u32 = 144,
    min_rtt_us: u32 = 148,
    data_segs_in: u32 = 152,
    data_segs_out: u32 = 156,
    delivery_rate_bytes_per_s: u64 = 160,
    busy_time_us: u64 = 168,
    rwnd_limited_us: u64 = 176,
    sndbuf_limited_us: u64 = 184,
    delivered: u32 = 192,
    delivered_ce: u32 = 196,
    bytes_sent: u64 = 200,
    bytes_retrans: u64 = 208,
    dsack_dups: u32 = 216,
    reord_seen: u32 = 220,
    rcv_ooopack: u32 = 224,
    snd_wnd: u32 = 228,
    rcv_wnd: u32 = 232,
}

/// The kernel's "no threshold yet" value of `tcpi_snd_ssthresh`.
const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
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
}

#[cfg(test)]
#[path = "internals_tests.rs"]
pub(crate) mod tests;
