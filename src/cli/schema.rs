//! `pzctl schema`: print or write the JSON Schemas generated from the manifest types.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::output;

/// Arguments of `pzctl schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Write `manifest.schema.json` and one `KIND.schema.json` per kind into this folder.
    /// Without it, print the main schema to stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    let files = crate::schema::generate();
    match args.out {
        None => {
            if let Some((_, text)) = files.first() {
                output::stdout_bytes(text.as_bytes());
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create folder `{}`", dir.display()))?;
            for (name, text) in &files {
                let path = dir.join(name);
                crate::store::write_atomically(&path, text.as_bytes())
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
                output::error_line(&format!("wrote {}", path.display()));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
