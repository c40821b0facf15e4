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
    /// The congestion module's own state (`bbr:(...)`, `dctcp:(...)` in `-i`); inline, since with BBR every
    /// socket has it.
    pub cc_info: Option<CcInfo>,
    /// What ss prints with `-e`, `--tos`, `--cgroup`, `--inet-sockopt`, and per-family details; boxed so
    /// that `-i` alone does not pay for it.
    pub details: Option<Box<Details>>,
}

/// Congestion-control state reported beside tcp_info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CcInfo {
    Bbr(BbrInfo),
    /// DCTCP: enabled, ce_state, alpha, ab_ecn, ab_tot.
    Dctcp([u32; 5]),
}

impl Extra {
    pub fn is_empty(&self) -> bool {
        self.tcp_info.is_none()
            && self.congestion.is_none()
            && self.memory.is_none()
            && self.cc_info.is_none()
            && self.details.is_none()
    }
}

/// Per-socket details beyond the table's columns, each as the kernel reported it (`None`: not reported).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Details {
    /// `sk_shutdown` bits: 1 = no more receives, 2 = no more sends (ss shows `<->`, `--<`...).
    pub shutdown: Option<u8>,
    /// The socket's cgroup v2 id.
    pub cgroup_id: Option<u64>,
    /// IPv4 TOS, IPv6 traffic class, net_cls class id (`--tos`).
    pub tos: Option<u8>,
    pub tclass: Option<u8>,
    pub class_id: Option<u32>,
    /// `struct inet_diag_sockopt` bits (`--inet-sockopt`), low bit first: recverr, is_icsk, freebind, hdrincl,
    /// mc_loop, transparent, mc_all, nodefrag, bind_address_no_port, recverr_rfc4884, defer_connect.
    pub sockopt: Option<u16>,
    /// The upper-layer protocol on a TCP socket (`tls`, `mptcp`) and, for an MPTCP subflow, its state.
    pub ulp: Option<String>,
    pub subflow: Option<Subflow>,
    /// `struct mptcp_info` of an MPTCP socket (`-i`).
    pub mptcp: Option<MptcpInfo>,
    /// A bound UNIX socket's file: inode and device (`-e`).
    pub unix_vfs: Option<(u32, u32)>,
    /// Inodes of the connections waiting on a UNIX listener (`-e`).
    pub unix_pending: Option<Vec<u32>>,
    /// Packet socket internals (`-e`).
    pub packet: Option<PacketDetails>,
    /// A netlink socket's multicast groups (first word), shown by `-e`.
    pub netlink_groups: Option<u32>,
    /// Classic BPF filter attached to a packet socket: (code, jt, jf, k) per instruction (`-b`).
    pub bpf: Option<Vec<(u16, u8, u8, u32)>>,
}

/// `struct tcp_bbr_info`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BbrInfo {
    pub bw_bytes_per_s: u64,
    pub min_rtt_us: u32,
    /// Gains in 1/256 units, as the kernel reports them.
    pub pacing_gain: u32,
    pub cwnd_gain: u32,
}

/// MPTCP subflow attributes of a TCP socket (`INET_ULP_INFO_MPTCP`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Subflow {
    pub flags: Option<u32>,
    pub token_rem: Option<u32>,
    pub token_loc: Option<u32>,
    pub id_rem: Option<u8>,
    pub id_loc: Option<u8>,
    pub map_seq: Option<u64>,
    pub map_sfseq: Option<u32>,
    pub ssn_offset: Option<u32>,
    pub map_datalen: Option<u32>,
}

/// `struct mptcp_info`, the fields ss shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MptcpInfo {
    pub subflows: u8,
    pub add_addr_signal: u8,
    pub add_addr_accepted: u8,
    pub subflows_max: u8,
    pub add_addr_signal_max: u8,
    pub add_addr_accepted_max: u8,
    pub flags: u32,
    pub token: u32,
    pub write_seq: u64,
    pub snd_una: u64,
    pub rcv_nxt: u64,
}

impl MptcpInfo {
    pub fn decode(b: &[u8]) -> MptcpInfo {
        let u8_at = |o: usize| b.get(o).copied().unwrap_or(0);
        let u64_at = |o: usize| b.get(o..o + 8).and_then(|v| v.try_into().ok()).map_or(0, u64::from_ne_bytes);
        MptcpInfo {
            subflows: u8_at(0),
            add_addr_signal: u8_at(1),
            add_addr_accepted: u8_at(2),
            subflows_max: u8_at(3),
            add_addr_signal_max: u8_at(4),
            add_addr_accepted_max: u8_at(5),
            flags: u32_at(b, 8).unwrap_or(0),
            token: u32_at(b, 12).unwrap_or(0),
            write_seq: u64_at(16),
            snd_una: u64_at(24),
            rcv_nxt: u64_at(32),
        }
    }
}

/// Packet socket internals (`PACKET_DIAG_INFO`, rings, fanout).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PacketDetails {
    pub version: Option<u32>,
    pub copy_thresh: Option<u32>,
    /// PDI_* bits: 1 running, 2 auxdata, 4 origdev, 8 vnethdr, 16 loss.
    pub flags: Option<u32>,
    /// block size, block count, frame size, frame count, retire timeout, features.
    pub rx_ring: Option<[u32; 6]>,
    pub tx_ring: Option<[u32; 6]>,
    pub fanout: Option<u32>,
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
    /// Bit 0: the delivery rate was limited by the application (`tcpi_delivery_rate_app_limited`).
    rate_flags: u8 = 7,
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
pub(crate) mod tests;
