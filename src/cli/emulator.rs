//! `pzctl emulator`.

use std::process::ExitCode;

/// Arguments of `pzctl emulator`.
#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {}

pub async fn run(global: &super::GlobalArgs, args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    let _ = global;
    anyhow::bail!("`pzctl emulator` is not written yet")
}
