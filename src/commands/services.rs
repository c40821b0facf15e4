//! `sockscope services` (being written).

use std::process::ExitCode;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServicesArgs {}

pub fn run(_args: &ServicesArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("sockscope services is not available in this build")
}
