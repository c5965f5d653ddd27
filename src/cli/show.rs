//! `pzctl show`: render a saved plan again, exactly as `pzctl plan` printed it, or show the live
//! organization with its identifiers (UIDs, shortUids, versions, member roles and statuses).
//!
//! Nothing is written. Exit codes: 0 success, 1 any error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::output::{self, Stream};
use crate::live::{Api, Backend as _};
use crate::plan::{self, Plan};
use crate::render;

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFormat {
    /// Human text (a plan as `pzctl plan` prints it).
    Text,
    /// JSON (a plan file as `pzctl plan --out` writes it; the live view in its own format).
    Json,
    /// Markdown for a pull request comment (plans only).
    Markdown,
}

/// Arguments of `pzctl show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub target: super::TargetArgs,
    #[command(flatten)]
    pub color: super::ColorArgs,
    /// A plan saved with `pzctl plan --out FILE`. Without it, the live organization is shown.
    #[arg(value_name = "PLANFILE")]
    pub plan: Option<PathBuf>,
    /// Show only these live projects (repeatable; not with PLANFILE). With `--env`, a base
    /// project name or its live name.
    #[arg(long, value_name = "NAME")]
    pub project: Vec<String>,
    #[command(flatten)]
    pub environment: super::pipeline::EnvArgs,
    /// How to print on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ShowFormat,
}

pub async fn run(args: ShowArgs) -> anyhow::Result<ExitCode> {
    match &args.plan {
        Some(file) => {
            if !args.project.is_empty() {
                anyhow::bail!(
                    "`--project` selects live projects; a saved plan is shown whole (drop `--project` or PLANFILE)"
                );
            }
            if args.environment.env.is_some() || !args.environment.manifests.is_empty() {
                anyhow::bail!(
                    "`--env` selects live projects; a saved plan is shown whole (drop `--env` or PLANFILE)"
                );
            }
            let plan = read_plan(file)?;
            show_plan(&plan, args.format);
            Ok(ExitCode::SUCCESS)
        }
        None => {
            if args.format == ShowFormat::Markdown {
                anyhow::bail!(
                    "`--format markdown` renders a saved plan; the live organization is shown as text or json"
                );
            }
            let mut environment = args.environment.clone();
            super::env_or_variable(&mut environment.env);
            let projects = match super::pipeline::environment_projects(&environment, &args.project)?
            {
                Ok(projects) => projects,
                Err(code) => return Ok(code),
            };
            let target = super::target::select(&args.target)?;
            let retry = super::target::retry_policy(&args.target)?;
            let api = Api::new(target);
            let wanted: Vec<String> = match &projects {
                Some(projects) => projects.values().cloned().collect(),
                None => args.project.clone(),
            };
            let only = (!wanted.is_empty() || projects.is_some()).then_some(wanted.as_slice());
            let observed = crate::live::observe_with(&api, only, &retry).await;
            if let Some(summary) = api.backend.http_summary(&retry) {
                output::error_line(&summary.line());
            }
            let live =
                observed.with_context(|| format!("cannot read {}", api.backend.describe()))?;
            let missing: Vec<&str> = wanted
                .iter()
                .filter(|name| !live.projects.contains_key(name.as_str()))
                .map(String::as_str)
                .collect();
            match (&environment.env, missing.is_empty()) {
                (_, true) => {}
                (None, false) => {
                    anyhow::bail!("no live project named `{}`", missing.join("`, `"));
                }
                (Some(env), false) => output::error_line(&format!(
                    "note: not live yet in environment `{env}`: `{}` (apply the environment to create {})",
                    missing.join("`, `"),
                    if missing.len() == 1 { "it" } else { "them" }
                )),
            }
            let text = match args.format {
                ShowFormat::Json => render::live_json(&live),
                ShowFormat::Text | ShowFormat::Markdown => render::live_text(&live),
            };
            output::stdout_bytes(text.as_bytes());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Print a plan the way `pzctl plan --format FORMAT` prints it.
fn show_plan(plan: &Plan, format: ShowFormat) {
    match format {
        ShowFormat::Text => {
            output::stdout_bytes(render::text(plan, output::colors(Stream::Stdout)).as_bytes());
        }
        ShowFormat::Json => output::stdout_bytes(render::json(plan).as_bytes()),
        ShowFormat::Markdown => {
            let parts = render::markdown(plan);
            let separator = format!("\n{}\n", super::plan::MARKDOWN_PART_SEPARATOR);
            output::stdout_bytes(parts.join(&separator).as_bytes());
        }
    }
}

/// Read a plan file (`pzctl plan --out`), refusing anything that is not a plan of the version
/// this pzctl reads.
pub(super) fn read_plan(file: &Path) -> anyhow::Result<Plan> {
    let shown = file.display();
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read plan `{shown}`"))?;
    let value = serde_json::from_str::<serde_json::Value>(&text)
        .with_context(|| format!("`{shown}` is not a pzctl plan: it is not JSON"))?;
    let version = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64);
    if value.get("changes").is_none() {
        anyhow::bail!(
            "`{shown}` is not a pzctl plan: it has no `changes` (write one with `pzctl plan --out FILE`)"
        );
    }
    if version != Some(u64::from(plan::FORMAT_VERSION)) {
        anyhow::bail!(
            "`{shown}` has plan `format_version` {}; this pzctl reads version {}",
            version.map_or_else(|| "(missing)".to_owned(), |v| v.to_string()),
            plan::FORMAT_VERSION
        );
    }
    serde_json::from_value(value).with_context(|| format!("`{shown}` is not a pzctl plan"))
}
