//! `pzctl schema`.

use std::process::ExitCode;

/// Arguments of `pzctl schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {}

pub fn run(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    let _ = args;

    anyhow::bail!("`pzctl schema` is not written yet")
}
