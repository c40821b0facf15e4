//! Tests of the `-i`/`-m` text: ss's %g, rates and timers, and the fast paths held to the reference %g.

use super::*;

#[test]
fn c_g_matches_printf() {
    for (v, p, want) in [
        (0.099, 6, "0.099"),
        (200.0, 6, "200"),
        (0.0495, 6, "0.0495"),
        (26.457373737, 3, "26.5"),
        (1.0, 6, "1"),
        (2.885, 6, "2.885"),
        (1234567.0, 6, "1.23457e+06"),
        (0.00001, 6, "1e-05"),
        (999.9, 3, "1e+03"),
    ] {
        assert_eq!(c_g(v, p), want, "{v} %.{p}g");
    }
}

#[test]
fn rates_and_timers_read_like_ss() {
    assert_eq!(bw(26_457_373_737.0, false), "26.5G");
    assert_eq!(bw(26_457_373_737.0, true), "26457373737");
    assert_eq!(bw(800.0, false), "800");
    assert_eq!(bw(8_000.0, false), "8k");
    for (ms, want) in
        [(284_000, "4min44sec"), (12_000, "12sec"), (1_500, "1.500ms"), (200, "200ms"), (600_000, "10min"), (0, "")]
    {
        assert_eq!(timer_text(ms), want, "{ms}");
    }
}

#[test]
fn skmem_by_length() {
    let full =
        MemInfo { rmem_alloc: Some(0), rcvbuf: Some(131072), backlog: Some(0), drops: Some(7), ..Default::default() };
    let mut a = Vec::new();
    skmem(&mut a, &full);
    assert_eq!(a, b" skmem:(r0,rb131072,t0,tb0,f0,w0,o0,bl0,d7)");
}

#[test]
fn listener_backlog_is_not_sacked_and_options_need_o() {
    let mut b = vec![0u8; 104];
    b[0] = 10; // LISTEN
    b[5] = 3; // ts, sack
    b[28..32].copy_from_slice(&128u32.to_ne_bytes());
    b[80..84].copy_from_slice(&10u32.to_ne_bytes());
    b[88..92].copy_from_slice(&3u32.to_ne_bytes());
    let t = TcpInfo::decode(&b);
    let mut a = Vec::new();
    tcp(&mut a, &t, Some("bbr"), None, None, InfoStyle::default());
    assert_eq!(String::from_utf8_lossy(&a), " bbr cwnd:10");
    a.clear();
    tcp(&mut a, &t, Some("bbr"), None, None, InfoStyle { options: true, numeric: false });
    assert_eq!(String::from_utf8_lossy(&a), " ts sack bbr cwnd:10");
}

/// Regression guard: the allocation-free millisecond printer agrees with `%g` everywhere it is used.
#[test]
fn ms_into_matches_c_g() {
    for us in (0..3000).chain([9_999, 99_999, 123_456, 999_999, 1_000_000, 1_234_567, u32::MAX]) {
        let mut a = Vec::new();
        ms_into(&mut a, us);
        assert_eq!(String::from_utf8(a).unwrap(), c_g(us as f64 / 1000.0, 6), "{us}");
    }
    assert_eq!(bw(75_611_234_248.0, true), "75611234248");
    assert_eq!(bw(2.5, true), "2");
}

/// `%g` by the book (two conversions and string trimming): the reference the fast paths are held to.
fn c_g_reference(v: f64, prec: usize) -> String {
    let sci = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = sci.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    let trim = |s: &str| {
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s.into() }
    };
    if exp < -4 || exp >= prec as i32 {
        format!("{}e{}{:02}", trim(mant), if exp < 0 { '-' } else { '+' }, exp.abs())
    } else {
        trim(&format!("{v:.*}", (prec as i32 - 1 - exp).max(0) as usize))
    }
}

/// The integer and single-conversion paths print what `%g` prints, rounding and ties included.
#[test]
fn fast_g_matches_reference() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut values: Vec<u64> = (0..5000).collect();
    values.extend([999, 1000, 1005, 1015, 1_000_000, 999_500, 999_499, 9_995_000, 26_450_000_000, 1 << 53]);
    for _ in 0..20_000 {
        let bits = next() % 64;
        values.push(next() >> (64 - bits.max(1)));
    }
    for &n in &values {
        for (k, prec) in [(0, 6), (3, 3), (6, 3), (9, 3), (12, 3), (3, 6), (8, 6)] {
            let mut a = Vec::new();
            let v = n as f64 / 10f64.powi(k as i32);
            if c_g_ratio_into(&mut a, n, k, prec).is_some() {
                assert_eq!(String::from_utf8(a).unwrap(), c_g_reference(v, prec), "{n}/10^{k} %.{prec}g");
            }
            assert_eq!(c_g(v, prec), c_g_reference(v, prec), "{v} %.{prec}g");
        }
        let bits = (n as f64) * 8.0;
        let scaled = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")].into_iter().find(|(s, _)| bits >= *s);
        let want = match scaled {
            Some((scale, unit)) => format!("{}{unit}", c_g_reference(bits / scale, 3)),
            None if bits == 0.0 => "0".into(),
            None => c_g_reference(bits, 6),
        };
        assert_eq!(bw(bits, false), want, "{bits}");
    }
    for gain in 0..4096u32 {
        let mut a = Vec::new();
        gain_into(&mut a, gain);
        let want = if gain == 0 { "0".into() } else { c_g_reference(gain as f64 / 256.0, 6) };
        assert_eq!(String::from_utf8(a).unwrap(), want, "gain {gain}");
    }
    for v in [0.5, 1.25e-7, 3.0e20, 123.456789, -2.5, f64::MIN_POSITIVE, 1e-300, f64::MAX] {
        assert_eq!(c_g(v, 6), c_g_reference(v, 6), "{v}");
        assert_eq!(c_g(v, 3), c_g_reference(v, 3), "{v}");
    }
}
