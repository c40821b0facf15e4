//! `sockscope forwards` (being written).

use std::process::ExitCode;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ForwardsArgs {}

pub fn run(_args: &ForwardsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("sockscope forwards is not available in this build")
}
