//! `sockscope top`: the dashboard's flags and their check into a [`TopConfig`] (the selection as filter text
//! for the `/` input, the refresh interval).

use std::time::Duration;

use clap::Args;

use super::{SelectArgs, UsageError};
use crate::filter;
use crate::model::StateSet;
use crate::ports::audit::AuditOptions;
use crate::ports::services::Services;
use crate::tui::TopConfig;

pub(crate) const HELP: &str = "\
The home screen has one row per listening endpoint with the sockets on its port, counts by state, accept \
queue fill, distinct peers and a one-minute trend; outbound sockets are grouped by where they go, UNIX \
sockets by path. Enter opens a group, Enter again a socket, Esc goes back, ? lists every key.

The selection flags (-t -u -x -4 -6 --port --sport --dport --state) pre-set the filter you can edit with /. \
NO_COLOR set in the environment turns colours off.

The filter language and the state names are those of `sockscope list` (see `sockscope list --help`).";

/// Flags of the dashboard.
#[derive(Debug, Clone, Default, Args)]
pub struct TopArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Refresh interval: seconds (`2`, `0.5`) or with a unit (`500ms`, `2s`); + and - change it live
    #[arg(short = 'i', long, value_name = "TIME", default_value = "1", help_heading = "Dashboard")]
    pub interval: String,
}

impl TopArgs {
    pub fn resolve(&self) -> Result<TopConfig, UsageError> {
        let services = Services::system();
        let sel = &self.select;
        // Check everything as the listing would, so errors name the flag or point into the filter.
        sel.selection(&services)?;
        // The same selection as text for the `/` input: --state selectors first, then the filter, then the
        // port flags (and/or group from the left, so appending them keeps "filter and ports").
        let mut words: Vec<String> = Vec::new();
        for v in &sel.state {
            words.extend(v.split(',').filter(|n| !n.trim().is_empty()).map(|n| format!("state {}", n.trim())));
        }
        let user = filter::join_args(&sel.filter);
        if !user.trim().is_empty() {
            words.push(user);
        }
        for (kw, values) in [("port", &sel.port), ("sport", &sel.sport), ("dport", &sel.dport)] {
            let terms: Vec<String> =
                values.iter().map(|v| format!("{kw} :{}", v.trim().trim_start_matches(':'))).collect();
            match terms.len() {
                0 => {}
                1 => words.push(terms[0].clone()),
                _ => words.push(format!("( {} )", terms.join(" or "))),
            }
        }
        let filter_text = words.join(" ");
        let selection = filter::parse(&filter_text, &services, &filter::SystemLookup::new(&sel.proc_root))
            .map_err(|e| UsageError(format!("bad filter: {}", e.render(&filter_text))))?;
        let interval = parse_interval(&self.interval)
            .map_err(|e| UsageError(format!("invalid value '{}' for --interval: {e}", self.interval)))?;
        let q = sel.query(StateSet::ALL);
        Ok(TopConfig {
            interval,
            tcp: q.tcp,
            udp: q.udp,
            unix: q.unix,
            selection,
            filter_text,
            audit: super::audit::audit_options(AuditOptions::DEFAULT_THRESHOLD_PCT),
            ipv4: q.ipv4,
            ipv6: q.ipv6,
            source: sel.source_choice(),
            proc_root: sel.proc_root.clone(),
            color: crate::tui::view::Theme::wanted(),
            services,
            netns: sel.netns.choice()?,
            state_roots: sel.netns.state_roots(),
            latency_log: std::env::var_os("SOCKSCOPE_LATENCY_LOG").filter(|v| !v.is_empty()).map(Into::into),
        })
    }
}

/// `2`, `0.5`, `500ms`, `2s`: between 100 ms and one hour.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, scale) = if let Some(ms) = t.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = t.strip_suffix('s') {
        (s, 1.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| "expected seconds like 2 or 0.5, or 500ms".to_string())?;
    let secs = v * scale;
    if !(0.1..=3600.0).contains(&secs) {
        return Err("must be between 100ms and 3600s".into());
    }
    Ok(Duration::from_secs_f64(secs))
}
