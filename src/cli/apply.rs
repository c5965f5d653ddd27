//! `pzctl apply`.

use std::process::ExitCode;

/// Arguments of `pzctl apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {}

pub async fn run(global: &super::GlobalArgs, args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    let _ = global;
    anyhow::bail!("`pzctl apply` is not written yet")
}
