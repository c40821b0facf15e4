//! Numbers as the dashboard writes them: ages, durations, intervals.

use std::time::Duration;

pub fn fmt_ms(d: Duration) -> String {
    if d >= Duration::from_secs(10) { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

/// `0.4s`, `2.6s`, `12s`.
pub fn fmt_secs(d: Duration) -> String {
    if d >= Duration::from_secs(10) { format!("{}s", d.as_secs()) } else { format!("{:.1}s", d.as_secs_f64()) }
}

pub fn fmt_interval(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

/// `12s`, `5m03s`, `2h10m`, `3d04h`.
pub fn fmt_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}
