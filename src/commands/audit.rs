//! `sockscope audit` (being written).

use std::process::ExitCode;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuditArgs {}

pub fn run(_args: &AuditArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("sockscope audit is not available in this build")
}
