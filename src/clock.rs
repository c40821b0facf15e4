//! Wall-clock timestamps as milliseconds since the Unix epoch (UTC): now, RFC 3339 text, and the moments a
//! user types (`--at 2026-11-30T20:31:00Z`, `--at 20:31`, `--at -5m`, `--at @1764534660`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Days since 1970-01-01 -> (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (year, month, day) -> days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-30T20:31:02.123Z`.
pub fn rfc3339(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", s / 3600, s / 60 % 60, s % 60, ms % 1000)
}

/// `20:31:02.123` (UTC), for table lines.
pub fn time_of_day(ms: u64) -> String {
    let s = (ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}.{:03}", s / 3600, s / 60 % 60, s % 60, ms % 1000)
}

/// A duration a user types: `500ms`, `10s`, `5m`, `2h`, `7d`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().map_err(|_| format!("expected a duration like 10s, 5m or 2h, got '{text}'"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        u => return Err(format!("unknown unit '{u}' in '{text}' (use ms, s, m, h or d)")),
    };
    let secs = v * scale;
    if !secs.is_finite() || secs > 10.0 * 365.0 * 86_400.0 {
        return Err(format!("'{text}' is too long"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A moment: `2026-11-30T20:31:02Z` (or with a space, without seconds or `Z`; always UTC), `20:31[:02]`
/// (today, UTC), `-5m` (that long before `now`), `@1764534662` (Unix seconds).
pub fn parse_moment(text: &str, now: u64) -> Result<u64, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "cannot read the time '{text}': use 2026-11-30T20:31:02Z, 20:31:02 (today, UTC), -5m (ago) or \
             @UNIXSECONDS"
        )
    };
    if let Some(ago) = t.strip_prefix('-') {
        let d = parse_duration(ago)?;
        return Ok(now.saturating_sub(d.as_millis() as u64));
    }
    if let Some(unix) = t.strip_prefix('@') {
        let s: f64 = unix.parse().map_err(|_| bad())?;
        return Ok((s * 1000.0) as u64);
    }
    let t = t.trim_end_matches('Z');
    let (date, clock) = match t.split_once(['T', ' ']) {
        Some((d, c)) => (Some(d), c),
        None if t.contains(':') => (None, t),
        None => (Some(t), "00:00"),
    };
    let day = match date {
        Some(d) => {
            let mut it = d.split('-');
            let (Some(y), Some(m), Some(dd), None) = (it.next(), it.next(), it.next(), it.next()) else {
                return Err(bad());
            };
            let (y, m, dd): (i64, u32, u32) =
                (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, dd.parse().map_err(|_| bad())?);
            if !(1..=12).contains(&m) || !(1..=31).contains(&dd) || !(1970..=9999).contains(&y) {
                return Err(bad());
            }
            days_from_civil(y, m, dd)
        }
        None => (now / 1000 / 86_400) as i64,
    };
    let mut parts = clock.split(':');
    let h: u64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let m: u64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let s: f64 = match parts.next() {
        Some(s) => s.parse().map_err(|_| bad())?,
        None => 0.0,
    };
    if parts.next().is_some() || h > 23 || m > 59 || !(0.0..61.0).contains(&s) {
        return Err(bad());
    }
    Ok(day as u64 * 86_400_000 + h * 3_600_000 + m * 60_000 + (s * 1000.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_through_parse() {
        let cases = [(0, "1970-01-01T00:00:00.000Z"), (1_764_534_662_123, "2025-11-30T20:31:02.123Z")];
        for (ms, text) in cases {
            assert_eq!(rfc3339(ms), text);
            assert_eq!(parse_moment(text, 0).unwrap(), ms);
        }
        assert_eq!(parse_moment("2000-02-29 12:00", 0).unwrap(), 951_825_600_000);
    }

    #[test]
    fn moments_a_user_types() {
        let now = 1_764_534_662_000;
        assert_eq!(parse_moment("-5m", now).unwrap(), now - 300_000);
        assert_eq!(parse_moment("@1764534662", now).unwrap(), now);
        assert_eq!(parse_moment("20:31:02", now).unwrap(), now);
        assert_eq!(time_of_day(now + 5), "20:31:02.005");
        for bad in ["yesterday", "25:00", "2025-13-01", "12:00:00:00", "-5 parsecs"] {
            assert!(parse_moment(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert!(parse_duration("1y").is_err());
    }
}
