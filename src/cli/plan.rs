//! `pzctl plan`.

use std::process::ExitCode;

/// Arguments of `pzctl plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {}

pub async fn run(global: &super::GlobalArgs, args: PlanArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    let _ = global;
    anyhow::bail!("`pzctl plan` is not written yet")
}
