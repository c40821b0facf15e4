//! tcp_info and skmeminfo decoding at several struct lengths: short (old kernels), the 232-byte prefix the
//! netlink crate knows, and a current kernel's longer struct.

use super::*;

/// A tcp_info image of `len` bytes where every field holds a recognisable value.
pub(crate) fn image(len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len.max(256)];
    b[..8].copy_from_slice(&[1, 0, 2, 3, 4, 7, 0x97, 0]); // state, ca, retransmits, probes, backoff, opts, wscale 7/9
    let put32 = |b: &mut Vec<u8>, off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    let put64 = |b: &mut Vec<u8>, off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    for (off, v) in [(8, 204_000), (12, 40_000), (16, 32768), (20, 536), (32, 2), (60, 65535), (68, 32), (72, 16)] {
        put32(&mut b, off, v);
    }
    put32(&mut b, 76, 0x7fff_ffff); // infinite ssthresh
    put32(&mut b, 80, 10); // cwnd
    put32(&mut b, 100, 5); // total_retrans
    put64(&mut b, 120, 4242); // bytes_acked
    put64(&mut b, 160, 1_000_000); // delivery rate
    put64(&mut b, 200, 4300); // bytes_sent
    put32(&mut b, 228, 65536); // snd_wnd
    put32(&mut b, 232, 131072); // rcv_wnd
    b.truncate(len);
    b
}

#[test]
fn decodes_by_length() {
    let empty = TcpInfo::decode(&[]);
    assert_eq!(empty, TcpInfo::default());

    let tiny = TcpInfo::decode(&image(7));
    assert_eq!(tiny.retransmits(), Some(2));
    assert_eq!(tiny.rto_us(), None, "field past the end");

    // Linux 3.x era: ends after total_retrans (104 bytes).
    let old = TcpInfo::decode(&image(104));
    assert_eq!((old.rto_us(), old.snd_cwnd(), old.total_retrans()), (Some(204_000), Some(10), Some(5)));
    assert_eq!(old.bytes_acked(), None);
    assert_eq!((old.snd_wscale(), old.rcv_wscale()), (Some(7), Some(9)));
    assert_eq!(old.snd_ssthresh(), None, "infinite ssthresh reads as none");

    // The netlink crate's 232-byte struct: up to snd_wnd.
    let crate_len = TcpInfo::decode(&image(232));
    assert_eq!(
        (crate_len.bytes_acked(), crate_len.bytes_sent(), crate_len.snd_wnd()),
        (Some(4242), Some(4300), Some(65536))
    );
    assert_eq!(crate_len.rcv_wnd(), None);

    // A current kernel sends more than we know; the extra bytes are ignored.
    let new = TcpInfo::decode(&image(280));
    assert_eq!(new.rcv_wnd(), Some(131072));
    assert_eq!(new.delivery_rate_bytes_per_s(), Some(1_000_000));
}

#[test]
fn meminfo_by_length() {
    let mut b = Vec::new();
    for v in [0u32, 131072, 0, 2626560, 4096, 0, 0, 0, 7] {
        b.extend_from_slice(&v.to_ne_bytes());
    }
    let m = MemInfo::decode(&b);
    assert_eq!((m.rcvbuf, m.fwd_alloc, m.drops), (Some(131072), Some(4096), Some(7)));
    let short = MemInfo::decode(&b[..28]);
    assert_eq!((short.optmem, short.backlog, short.drops), (Some(0), None, None));
    assert_eq!(MemInfo::decode(&b[..3]), MemInfo::default());
}
