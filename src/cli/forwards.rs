//! `sockscope forwards` flags and their check into a [`ForwardsConfig`].

use std::path::PathBuf;

use crate::commands::forwards::ForwardsConfig;

pub(crate) const HELP: &str = "\
Reads the kernel's connection-tracking table (/proc/net/nf_conntrack, this network \
namespace only; needs root) and shows the flows whose replies come from another address or \
port than the one the client sent to: DNAT rules, port forwards, REDIRECTs, container port \
publishing, load balancers. Conntrack holds flows, not rules: a forward nobody is using \
right now does not show. Source-NAT'ed (masqueraded) flows are counted, not listed. \
Without conntrack (the nf_conntrack module not loaded, or a kernel built without \
CONFIG_NF_CONNTRACK_PROCFS) it says so in one line and exits 0.

JSON (--json), one object: available, reason (why not, when not available), source, flows \
(tracked flows), snat_flows, skipped_lines, forwards[] {proto, external_address, \
external_port, internal_address, internal_port, flows, clients, states {STATE: count; `-` \
for stateless protocols}}

Exit status: 0 (also when conntrack is not available), 1 when the table cannot be read.";

#[derive(Debug, Clone, Default, clap::Args)]
#[command(after_help = HELP)]
pub struct ForwardsArgs {
    /// One JSON object instead of the table (fields below)
    #[arg(long)]
    pub json: bool,
    /// The proc filesystem to read net/nf_conntrack from
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    pub proc_root: PathBuf,
}

impl ForwardsArgs {
    pub fn resolve(&self) -> ForwardsConfig {
        ForwardsConfig { json: self.json, proc_root: self.proc_root.clone() }
    }
}
