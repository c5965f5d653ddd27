//! `pzctl validate`.

use std::process::ExitCode;

/// Arguments of `pzctl validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {}

pub fn run(global: &super::GlobalArgs, args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    let _ = global;
    anyhow::bail!("`pzctl validate` is not written yet")
}
