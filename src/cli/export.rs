//! `pzctl export`.

use std::process::ExitCode;

/// Arguments of `pzctl export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {}

pub async fn run(global: &super::GlobalArgs, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    let _ = global;
    anyhow::bail!("`pzctl export` is not written yet")
}
