//! Numbers and names as the dashboard writes them: ages, durations, intervals, endpoints, sparklines.

use std::time::Duration;

use crate::group::GroupKey;
use crate::model::text::escape;

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

const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` samples as bars, scaled to their highest.
pub fn sparkline(samples: &[u32], width: usize) -> String {
    let tail = &samples[samples.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0).max(1);
    tail.iter()
        .map(|&n| if n == 0 { ' ' } else { SPARKS[((n as u64 * 7).div_ceil(max as u64)) as usize % 8] })
        .collect()
}

/// A group's endpoint: `*:5432` for a dual-stack wildcard listener.
pub fn endpoint_label(k: &GroupKey, dual: bool) -> String {
    match k {
        GroupKey::Listen { ip, port, .. } if dual && ip.is_unspecified() => format!("*:{port}"),
        _ => escape(&k.to_string()).into_owned(),
    }
}
