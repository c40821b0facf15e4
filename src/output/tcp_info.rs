//! The `-i` / `-m` text ss prints on a socket's second line: `skmem:(...)`, tcp_info, BBR, MPTCP, and the
//! timer and rate formats ss uses everywhere (`4min44sec`, `26.5Gbps`, C's `%g`).

use std::io::Write;

use crate::model::internals::{CcInfo, Details, MemInfo, MptcpInfo, TcpInfo};

/// C's `printf("%.*g", prec, v)`: `prec` significant digits, trailing zeros dropped, exponent form outside
/// 1e-4..1e`prec`.
pub fn c_g(v: f64, prec: usize) -> String {
    let mut a = Vec::with_capacity(16);
    c_g_into(&mut a, v, prec);
    String::from_utf8(a).unwrap_or_default()
}

/// [`c_g`] appended to `a`. The digits come from one `%e`-style conversion into a stack buffer: `%g` rounds
/// at the same decimal place as `%.(prec-1)e`, so its plain form is those digits with the point moved.
fn c_g_into(a: &mut Vec<u8>, v: f64, prec: usize) {
    let prec = prec.clamp(1, 17);
    if v.is_nan() {
        return a.extend_from_slice(b"nan");
    }
    if v.is_sign_negative() && v != 0.0 {
        a.push(b'-');
    }
    let v = v.abs();
    if v == 0.0 || v.is_infinite() {
        return a.extend_from_slice(if v == 0.0 { b"0" } else { b"inf" });
    }
    let mut sci = StackBuf::default();
    let _ = std::fmt::Write::write_fmt(&mut sci, format_args!("{:.*e}", prec - 1, v));
    let sci = sci.as_bytes();
    let e_at = sci.iter().position(|&b| b == b'e').unwrap_or(sci.len());
    let exp: i32 =
        std::str::from_utf8(&sci[(e_at + 1).min(sci.len())..]).ok().and_then(|e| e.parse().ok()).unwrap_or(0);
    let digits: StackBuf = sci[..e_at].iter().copied().filter(u8::is_ascii_digit).collect();
    place_point(a, digits.as_bytes(), exp, prec);
}

/// `%g`'s layout of significant `digits` whose first is at the decimal exponent `exp`: plain inside
/// 1e-4..1e`prec`, else `d.ddde+XX`; trailing zeros dropped either way.
fn place_point(a: &mut Vec<u8>, digits: &[u8], exp: i32, prec: usize) {
    if digits.is_empty() {
        return a.push(b'0');
    }
    let significant = digits.len() - digits.iter().rev().take_while(|&&d| d == b'0').count();
    let digits = &digits[..significant.max(1)];
    if exp < -4 || exp >= prec as i32 {
        a.push(digits[0]);
        if digits.len() > 1 {
            a.push(b'.');
            a.extend_from_slice(&digits[1..]);
        }
        a.extend_from_slice(if exp < 0 { b"e-" } else { b"e+" });
        if exp.abs() < 10 {
            a.push(b'0');
        }
        push_u64(a, exp.unsigned_abs() as u64);
    } else if exp < 0 {
        a.extend_from_slice(b"0.");
        a.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
        a.extend_from_slice(digits);
    } else {
        let int = exp as usize + 1;
        if digits.len() <= int {
            a.extend_from_slice(digits);
            a.extend(std::iter::repeat_n(b'0', int - digits.len()));
        } else {
            a.extend_from_slice(&digits[..int]);
            a.push(b'.');
            a.extend_from_slice(&digits[int..]);
        }
    }
}

/// [`c_g_into`] for the whole number `n / 10^k` without floating point, when that is exact: `None` (nothing
/// written) for an exact tie, whose rounding follows the binary value the caller would print, and for more
/// than 2^53 (not a whole `f64`).
fn c_g_ratio_into(a: &mut Vec<u8>, n: u64, k: u32, prec: usize) -> Option<()> {
    if n == 0 {
        a.push(b'0');
        return Some(());
    }
    if n > 1 << 53 || prec == 0 || prec > 17 {
        return None;
    }
    let len = n.ilog10() + 1;
    let (mut q, mut exp) = (n, len as i32 - 1 - k as i32);
    if len as usize > prec {
        let cut = 10u64.pow(len - prec as u32);
        let (r, half) = (n % cut, cut / 2);
        q = n / cut;
        if r == half {
            return None;
        }
        if r > half {
            q += 1;
        }
        if q == 10u64.pow(prec as u32) {
            q /= 10;
            exp += 1;
        }
    }
    let mut digits = Vec::with_capacity(20);
    push_u64(&mut digits, q);
    place_point(a, &digits, exp, prec);
    Some(())
}

/// A small buffer on the stack: a `%e` conversion of an `f64` with up to 17 digits (at most 24 bytes), or its
/// digits.
#[derive(Default)]
struct StackBuf {
    buf: [u8; 32],
    len: usize,
}

impl StackBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl FromIterator<u8> for StackBuf {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Self {
        let mut d = StackBuf::default();
        for b in iter.into_iter().take(d.buf.len()) {
            d.buf[d.len] = b;
            d.len += 1;
        }
        d
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Microseconds as milliseconds in `%g`, without formatting machinery below 1000 ms (six significant digits
/// at most, so `%g` prints them plainly): `0.099`, `200`, `12.5`. This runs several times per socket in `-i`.
fn ms_into(a: &mut Vec<u8>, us: u32) {
    if us >= 1_000_000 {
        if c_g_ratio_into(a, us as u64, 3, 6).is_none() {
            c_g_into(a, us as f64 / 1000.0, 6);
        }
        return;
    }
    let (int, frac) = (us / 1000, us % 1000);
    push_u64(a, int as u64);
    if frac != 0 {
        let digits = [b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8];
        let len = 3 - digits.iter().rev().take_while(|d| **d == b'0').count();
        a.push(b'.');
        a.extend_from_slice(&digits[..len]);
    }
}

/// Decimal digits without going through `fmt` (shared with the table).
pub(crate) fn push_u64(a: &mut Vec<u8>, n: u64) {
    a.extend_from_slice(crate::model::text::decimal(n, &mut [0; 20]));
}

/// ` name:value` for an integer field.
fn field(a: &mut Vec<u8>, name: &str, v: u64) {
    a.push(b' ');
    a.extend_from_slice(name.as_bytes());
    a.push(b':');
    push_u64(a, v);
}

/// A rate in bits per second as ss prints it (the unit `bps` follows): `%.0f` with `-n`, else
/// `26.5G`, `800k`, `950`.
pub fn bw(bits: f64, numeric: bool) -> String {
    let mut a = Vec::with_capacity(16);
    bw_into(&mut a, bits, numeric);
    String::from_utf8(a).unwrap_or_default()
}

/// [`bw`] appended to `a`. Rates from byte counters are whole numbers and take the integer path.
fn bw_into(a: &mut Vec<u8>, bits: f64, numeric: bool) {
    let whole = bits.fract() == 0.0 && (0.0..9.0e15).contains(&bits);
    if numeric {
        if whole {
            push_u64(a, bits as u64);
        } else {
            let _ = write!(a, "{bits:.0}");
        }
        return;
    }
    for (scale, k, unit) in [(1e12, 12, b"T"), (1e9, 9, b"G"), (1e6, 6, b"M"), (1e3, 3, b"k")] {
        if bits >= scale {
            if !(whole && c_g_ratio_into(a, bits as u64, k, 3).is_some()) {
                c_g_into(a, bits / scale, 3);
            }
            a.extend_from_slice(unit);
            return;
        }
    }
    if !(whole && c_g_ratio_into(a, bits as u64, 0, 6).is_some()) {
        c_g_into(a, bits, 6);
    }
}

/// A BBR gain (a fraction of 256) as `%g`: `g / 256` is `g * 390625 / 10^8` exactly.
fn gain_into(a: &mut Vec<u8>, gain: u32) {
    if c_g_ratio_into(a, gain as u64 * 390_625, 8, 6).is_none() {
        c_g_into(a, gain as f64 / 256.0, 6);
    }
}

/// A timer's time left as ss prints it: `200ms`, `1.5sec`... exactly: `4min44sec`, `12sec`, `1.204ms`-style
/// millisecond remainders only below ten seconds.
pub fn timer_text(ms: u64) -> String {
    let ms = ms.min(u32::MAX as u64);
    let mut secs = ms / 1000;
    let minutes = secs / 60;
    secs %= 60;
    let mut msecs = ms % 1000;
    let mut out = String::new();
    if minutes != 0 {
        msecs = 0;
        out.push_str(&format!("{minutes}min"));
        if minutes > 9 {
            secs = 0;
        }
    }
    if secs != 0 {
        if secs > 9 {
            msecs = 0;
        }
        out.push_str(&format!("{secs}{}", if msecs != 0 { "." } else { "sec" }));
    }
    if msecs != 0 {
        out.push_str(&format!("{msecs:03}ms"));
    }
    out
}

/// ` skmem:(r0,rb131072,t0,tb2626560,f0,w0,o0,bl0,d0)`, with its leading space; `bl` and `d` only when the
/// kernel sent them.
pub fn skmem(a: &mut Vec<u8>, m: &MemInfo) {
    let v = |x: Option<u32>| x.unwrap_or(0);
    let _ = write!(
        a,
        " skmem:(r{},rb{},t{},tb{},f{},w{},o{}",
        v(m.rmem_alloc),
        v(m.rcvbuf),
        v(m.wmem_alloc),
        v(m.sndbuf),
        v(m.fwd_alloc),
        v(m.wmem_queued),
        v(m.optmem)
    );
    if let Some(b) = m.backlog {
        let _ = write!(a, ",bl{b}");
    }
    if let Some(d) = m.drops {
        let _ = write!(a, ",d{d}");
    }
    a.push(b')');
}

/// How the tcp_info text is printed.
#[derive(Debug, Clone, Copy, Default)]
pub struct InfoStyle {
    /// `ts sack ecn ecnseen fastopen`: ss shows the negotiated options only with `-o` (or `-e`).
    pub options: bool,
    /// `-n`: rates as plain numbers.
    pub numeric: bool,
}

/// The tcp_info part of ss's `-i` line, each field with its leading space, in ss's order and with its
/// rules (zero fields left out, ssthresh only below 0xffff, rto 3s hidden, sacked not on listeners).
pub fn tcp(
    a: &mut Vec<u8>,
    t: &TcpInfo,
    cong: Option<&str>,
    cc: Option<&CcInfo>,
    details: Option<&Details>,
    style: InfoStyle,
) {
    options(a, t, cong, style);
    timers(a, t);
    sizes(a, t);
    congestion(a, cc, style);
    rates(a, t, style);
    loss(a, t);
    receiver(a, t);
    if let Some(d) = details {
        ulp(a, d);
    }
}

/// A field this kernel's tcp_info does not have reads as 0 (and zero fields are left out).
fn z(v: Option<u32>) -> u32 {
    v.unwrap_or(0)
}

fn z64(v: Option<u64>) -> u64 {
    v.unwrap_or(0)
}

/// ` ts sack ecn ecnseen fastopen` (with `-o`), the congestion control's name, ` wscale:S,R`.
fn options(a: &mut Vec<u8>, t: &TcpInfo, cong: Option<&str>, style: InfoStyle) {
    let opts = t.options().unwrap_or(0);
    if style.options {
        for (bit, name) in [(1, "ts"), (2, "sack"), (8, "ecn"), (16, "ecnseen"), (32, "fastopen")] {
            if opts & bit != 0 {
                let _ = write!(a, " {name}");
            }
        }
    }
    if let Some(c) = cong.filter(|c| !c.is_empty()) {
        let _ = write!(a, " {}", c.get(..15).unwrap_or(c));
    }
    if opts & 4 != 0 {
        let _ = write!(a, " wscale:{},{}", t.snd_wscale().unwrap_or(0), t.rcv_wscale().unwrap_or(0));
    }
}

/// ` rto:` (unless 3s), ` backoff:`, ` rtt:RTT/VAR`, ` ato:`.
fn timers(a: &mut Vec<u8>, t: &TcpInfo) {
    let rto = z(t.rto_us());
    if rto != 0 && rto != 3_000_000 {
        a.extend_from_slice(b" rto:");
        ms_into(a, rto);
    }
    if let Some(b) = t.backoff().filter(|b| *b != 0) {
        let _ = write!(a, " backoff:{b}");
    }
    let rtt = z(t.rtt_us());
    if rtt != 0 {
        a.extend_from_slice(b" rtt:");
        ms_into(a, rtt);
        a.push(b'/');
        ms_into(a, z(t.rttvar_us()));
    }
    if let Some(v) = t.ato_us().filter(|v| *v != 0) {
        a.extend_from_slice(b" ato:");
        ms_into(a, v);
    }
}

/// Segment sizes, the window, ssthresh; the byte and segment counters.
fn sizes(a: &mut Vec<u8>, t: &TcpInfo) {
    let mss = z(t.snd_mss());
    let cwnd = z(t.snd_cwnd());
    for (name, v) in [
        ("mss", mss),
        ("pmtu", z(t.pmtu())),
        ("rcvmss", z(t.rcv_mss())),
        ("advmss", z(t.advmss())),
        ("cwnd", cwnd),
        ("ssthresh", z(t.raw_snd_ssthresh()).min(0xffff) % 0xffff),
    ] {
        if v != 0 {
            field(a, name, v as u64);
        }
    }
    for (name, v) in [
        ("bytes_sent", z64(t.bytes_sent())),
        ("bytes_retrans", z64(t.bytes_retrans())),
        ("bytes_acked", z64(t.bytes_acked())),
        ("bytes_received", z64(t.bytes_received())),
        ("segs_out", z(t.segs_out()) as u64),
        ("segs_in", z(t.segs_in()) as u64),
        ("data_segs_out", z(t.data_segs_out()) as u64),
        ("data_segs_in", z(t.data_segs_in()) as u64),
    ] {
        if v != 0 {
            field(a, name, v);
        }
    }
}

/// DCTCP's and BBR's own state.
fn congestion(a: &mut Vec<u8>, cc: Option<&CcInfo>, style: InfoStyle) {
    if let Some(CcInfo::Dctcp(d)) = cc {
        if d[0] != 0 {
            let _ = write!(a, " dctcp:(ce_state:{},alpha:{},ab_ecn:{},ab_tot:{})", d[1], d[2], d[3], d[4]);
        } else {
            a.extend_from_slice(b" dctcp:fallback_mode");
        }
    }
    if let Some(CcInfo::Bbr(b)) = cc {
        a.extend_from_slice(b" bbr:(bw:");
        bw_into(a, b.bw_bytes_per_s as f64 * 8.0, style.numeric);
        a.extend_from_slice(b"bps,mrtt:");
        ms_into(a, b.min_rtt_us);
        for (name, gain) in [(&b",pacing_gain:"[..], b.pacing_gain), (b",cwnd_gain:", b.cwnd_gain)] {
            if gain != 0 {
                a.extend_from_slice(name);
                gain_into(a, gain);
            }
        }
        a.push(b')');
    }
}

/// The send rate (cwnd over rtt), the last send/receive/ack, pacing and delivery rates, app_limited, busy time.
fn rates(a: &mut Vec<u8>, t: &TcpInfo, style: InfoStyle) {
    let (rtt, mss, cwnd) = (z(t.rtt_us()), z(t.snd_mss()), z(t.snd_cwnd()));
    if rtt != 0 && mss != 0 && cwnd != 0 {
        let send = cwnd as f64 * mss as f64 * 8_000_000.0 / rtt as f64;
        a.extend_from_slice(b" send ");
        bw_into(a, send, style.numeric);
        a.extend_from_slice(b"bps");
    }
    for (name, v) in [
        ("lastsnd", z(t.last_data_sent_ms())),
        ("lastrcv", z(t.last_data_recv_ms())),
        ("lastack", z(t.last_ack_recv_ms())),
    ] {
        if v != 0 {
            field(a, name, v as u64);
        }
    }
    let pacing = z64(t.pacing_rate_bytes_per_s());
    if pacing != 0 && pacing != u64::MAX {
        a.extend_from_slice(b" pacing_rate ");
        bw_into(a, pacing as f64 * 8.0, style.numeric);
        a.extend_from_slice(b"bps");
        let max = z64(t.max_pacing_rate_bytes_per_s());
        if max != 0 && max != u64::MAX {
            a.push(b'/');
            bw_into(a, max as f64 * 8.0, style.numeric);
            a.extend_from_slice(b"bps");
        }
    }
    let delivery = z64(t.delivery_rate_bytes_per_s());
    if delivery != 0 {
        a.extend_from_slice(b" delivery_rate ");
        bw_into(a, delivery as f64 * 8.0, style.numeric);
        a.extend_from_slice(b"bps");
    }
    for (name, v) in [("delivered", z(t.delivered())), ("delivered_ce", z(t.delivered_ce()))] {
        if v != 0 {
            field(a, name, v as u64);
        }
    }
    if t.rate_flags().unwrap_or(0) & 1 != 0 {
        a.extend_from_slice(b" app_limited");
    }
    let busy = z64(t.busy_time_us());
    if busy != 0 {
        let _ = write!(a, " busy:{}ms", busy / 1000);
        for (name, v) in [("rwnd_limited", z64(t.rwnd_limited_us())), ("sndbuf_limited", z64(t.sndbuf_limited_us()))] {
            if v != 0 {
                let _ = write!(a, " {name}:{}ms({:.1}%)", v / 1000, 100.0 * v as f64 / busy as f64);
            }
        }
    }
}

/// Unacked, retransmitted, lost, sacked and duplicate segments; reordering.
fn loss(a: &mut Vec<u8>, t: &TcpInfo) {
    if let Some(v) = t.unacked().filter(|v| *v != 0) {
        let _ = write!(a, " unacked:{v}");
    }
    let (retrans, total) = (z(t.retrans_in_flight()), z(t.total_retrans()));
    if retrans != 0 || total != 0 {
        let _ = write!(a, " retrans:{retrans}/{total}");
    }
    if let Some(v) = t.lost().filter(|v| *v != 0) {
        let _ = write!(a, " lost:{v}");
    }
    if let Some(v) = t.sacked().filter(|v| *v != 0 && t.state() != Some(10)) {
        let _ = write!(a, " sacked:{v}");
    }
    if let Some(v) = t.dsack_dups().filter(|v| *v != 0) {
        let _ = write!(a, " dsack_dups:{v}");
    }
    let reordering = z(t.reordering());
    if reordering != 3 {
        let _ = write!(a, " reordering:{reordering}");
    }
    if let Some(v) = t.reord_seen().filter(|v| *v != 0) {
        let _ = write!(a, " reord_seen:{v}");
    }
}

/// The receiver's rtt and space, notsent, minrtt, out-of-order packets, the peer's window.
fn receiver(a: &mut Vec<u8>, t: &TcpInfo) {
    if let Some(v) = t.rcv_rtt_us().filter(|v| *v != 0) {
        a.extend_from_slice(b" rcv_rtt:");
        ms_into(a, v);
    }
    for (name, v) in
        [("rcv_space", z(t.rcv_space())), ("rcv_ssthresh", z(t.rcv_ssthresh())), ("notsent", z(t.notsent_bytes()))]
    {
        if v != 0 {
            field(a, name, v as u64);
        }
    }
    let min_rtt = z(t.min_rtt_us());
    if min_rtt != 0 && min_rtt != u32::MAX {
        a.extend_from_slice(b" minrtt:");
        ms_into(a, min_rtt);
    }
    if let Some(v) = t.rcv_ooopack().filter(|v| *v != 0) {
        let _ = write!(a, " rcv_ooopack:{v}");
    }
    if let Some(v) = t.snd_wnd().filter(|v| *v != 0) {
        let _ = write!(a, " snd_wnd:{v}");
    }
}

/// ` tcp-ulp-mptcp flags:Mmc token:0000(id:0)/5943d0d6(id:0) seq:... sfseq:1 ssnoff:... maplen:0`.
fn ulp(a: &mut Vec<u8>, d: &Details) {
    if let Some(name) = &d.ulp {
        let _ = write!(a, " tcp-ulp-{name}");
    }
    let Some(sf) = &d.subflow else { return };
    if let Some(flags) = sf.flags.filter(|f| *f != 0) {
        a.extend_from_slice(b" flags:");
        for (bit, c) in
            [(1, b'M'), (2, b'm'), (4, b'J'), (8, b'j'), (16, b'B'), (32, b'b'), (64, b'e'), (128, b'c'), (256, b'v')]
        {
            if flags & bit != 0 {
                a.push(c);
            }
        }
    }
    if let (Some(tr), Some(tl), Some(ir), Some(il)) = (sf.token_rem, sf.token_loc, sf.id_rem, sf.id_loc) {
        let _ = write!(a, " token:{tr:04x}(id:{ir})/{tl:04x}(id:{il})");
    }
    if let Some(v) = sf.map_seq {
        let _ = write!(a, " seq:{v:x}");
    }
    for (name, v) in [("sfseq", sf.map_sfseq), ("ssnoff", sf.ssn_offset), ("maplen", sf.map_datalen)] {
        if let Some(v) = v {
            let _ = write!(a, " {name}:{v:x}");
        }
    }
}

/// The MPTCP part of `-i` for an MPTCP socket.
pub fn mptcp(a: &mut Vec<u8>, m: &MptcpInfo) {
    for (name, v) in [
        ("subflows", m.subflows),
        ("add_addr_signal", m.add_addr_signal),
        ("add_addr_accepted", m.add_addr_accepted),
        ("subflows_max", m.subflows_max),
        ("add_addr_signal_max", m.add_addr_signal_max),
        ("add_addr_accepted_max", m.add_addr_accepted_max),
    ] {
        if v != 0 {
            let _ = write!(a, " {name}:{v}");
        }
    }
    if m.flags & 1 != 0 {
        a.extend_from_slice(b" fallback");
    }
    if m.flags & 2 != 0 {
        a.extend_from_slice(b" remote_key");
    }
    if m.token != 0 {
        let _ = write!(a, " token:{:x}", m.token);
    }
    for (name, v) in [("write_seq", m.write_seq), ("snd_una", m.snd_una), ("rcv_nxt", m.rcv_nxt)] {
        if v != 0 {
            let _ = write!(a, " {name}:{v:x}");
        }
    }
}

/// The whole tcp_info text as one string, without the leading space (for the dashboard's detail view).
pub fn summary(t: &TcpInfo, cong: Option<&str>) -> String {
    let mut a = Vec::new();
    tcp(&mut a, t, cong, None, None, InfoStyle { options: true, numeric: false });
    String::from_utf8_lossy(&a).trim_start().to_string()
}

/// `skmem:(...)` as one string, without the leading space.
pub fn memory_summary(m: &MemInfo) -> String {
    let mut a = Vec::new();
    skmem(&mut a, m);
    String::from_utf8_lossy(&a).trim_start().to_string()
}

#[cfg(test)]
mod tests;
