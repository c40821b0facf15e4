//! The replay's pictures as numbers and text: a trend bucketed to a width, the time axis's labels.

use crate::clock;
use crate::tui::model::history::{GroupSample, Series};

/// Bucket `v` into `width` columns (the largest value of each), for a trend over the whole recording.
pub fn buckets(v: &[u32], width: usize) -> Vec<u32> {
    if v.len() <= width || width == 0 {
        return v.to_vec();
    }
    (0..width).map(|i| v[i * v.len() / width..(i + 1) * v.len() / width].iter().copied().max().unwrap_or(0)).collect()
}

/// The sockets of the series' samples, for the list's trend.
pub fn trend(series: &Series<GroupSample>) -> Vec<u32> {
    series.samples.iter().map(|s| s.total.round() as u32).collect()
}

/// The time axis' end labels, longest first: the time of day (with the date when the recording crosses
/// midnight, UTC), then shorter forms for narrow charts.
pub fn axis_times(first: u64, last: u64) -> Vec<(String, String)> {
    let (a, b) = (clock::rfc3339(first), clock::rfc3339(last));
    let cut = |from: usize, to: usize| (a[from..to].to_string(), b[from..to].to_string());
    if a[..10] != b[..10] { vec![cut(5, 16), cut(5, 10)] } else { vec![cut(11, 19), cut(11, 16)] }
}
