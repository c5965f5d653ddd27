//! `pzctl plan`: load the manifests, read the live organization, compute the plan, print it
//! in the chosen format, and optionally save it as JSON for `pzctl apply --plan`.
//!
//! Nothing is written to the live organization. Exit codes: 0 success (or no changes with
//! `--detailed-exitcode`), 1 any error or refusal, 2 changes found with `--detailed-exitcode`
//! (or unmanaged objects, with `--unmanaged-is-drift` too).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::output::{self, Stream};
use super::pipeline::{self, PlanRequest, Planned, Problems};
use crate::live::Api;
use crate::render;

/// How to print the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// Terraform-style text.
    Text,
    /// The plan file format (`docs/plan-format.md`).
    Json,
    /// Markdown for a pull request comment; parts are separated by a line with `<!-- pzctl:part -->`.
    Markdown,
}

/// Arguments of `pzctl plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub select: super::SelectArgs,
    #[command(flatten)]
    pub target: super::TargetArgs,
    #[command(flatten)]
    pub color: super::ColorArgs,
    /// Also write the plan as JSON to this file, for `pzctl apply --plan`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// How to print the plan on stdout. With `json`, problems that stop the plan are printed on
    /// stdout as the JSON array of `validate --format json`.
    #[arg(long, value_enum, default_value = "text")]
    pub format: PlanFormat,
    /// Exit 0 when there are no changes and 2 when there are some (1 stays an error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// With `--detailed-exitcode`, also exit 2 when the plan lists unmanaged objects (live
    /// objects no manifest declares), so a drift check sees what the UI added.
    #[arg(long, requires = "detailed_exitcode")]
    pub unmanaged_is_drift: bool,
    /// Allow deletes of undeclared objects outside `prune: true` projects. Never deletes a
    /// project.
    #[arg(long)]
    pub allow_delete: bool,
    /// Delete this project and everything in it (repeatable). No manifest may declare it;
    /// nothing else deletes a project.
    #[arg(long, value_name = "NAME")]
    pub delete_project: Vec<String>,
    /// Refuse a plan that deletes more than this many objects.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_deletions: usize,
}

/// The separator printed between Markdown parts.
pub const MARKDOWN_PART_SEPARATOR: &str = "<!-- pzctl:part -->";

pub async fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let request = PlanRequest {
        select: &args.select,
        allow_delete: args.allow_delete,
        delete_projects: &args.delete_project,
        max_deletions: args.max_deletions,
        problems: match args.format {
            PlanFormat::Json => Problems::Json,
            PlanFormat::Text | PlanFormat::Markdown => Problems::Text,
        },
    };
    let loaded = match pipeline::load_checked(&request)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let bound_to = super::target::plan_target(&args.target)?;
    let api = Api::new(super::target::select(&args.target)?);
    let retry = super::target::retry_policy(&args.target)?;
    let planned = pipeline::plan_live(&api, &loaded, &request, &retry).await;
    if let Some(summary) = api.backend.http_summary(&retry) {
        output::error_line(&summary.line());
    }
    let plan = match planned? {
        Ok(Planned { plan, .. }) => crate::plan::saved::seal(plan, binding(&args, bound_to)),
        Err(code) => return Ok(code),
    };

    if let Some(path) = &args.out {
        // Stored server text goes through the same redactor as printed text.
        crate::store::write_atomically(path, output::redacted(&render::json(&plan)).as_bytes())
            .with_context(|| format!("cannot write the plan to {}", path.display()))?;
    }

    match args.format {
        PlanFormat::Text => {
            output::stdout_bytes(render::text(&plan, output::colors(Stream::Stdout)).as_bytes());
        }
        PlanFormat::Json => output::stdout_bytes(render::json(&plan).as_bytes()),
        PlanFormat::Markdown => {
            let parts = render::markdown(&plan);
            let separator = format!("\n{MARKDOWN_PART_SEPARATOR}\n");
            output::stdout_bytes(parts.join(&separator).as_bytes());
        }
    }
    if let Some(path) = &args.out {
        output::error_line(&format!("saved the plan to {}", path.display()));
    }

    let drift = !plan.summary.is_empty() || (args.unmanaged_is_drift && !plan.unmanaged.is_empty());
    Ok(if args.detailed_exitcode && drift {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// What the plan records of how it was made, for `apply --plan`.
fn binding(args: &PlanArgs, target: crate::plan::PlanTarget) -> crate::plan::Binding {
    let select = &args.select;
    crate::plan::Binding {
        pzctl_version: env!("CARGO_PKG_VERSION").to_owned(),
        target,
        selection: crate::plan::Selection {
            paths: select
                .paths
                .iter()
                .map(|path| path.to_string_lossy().into_owned())
                .collect(),
            include: select.include.clone(),
            exclude: select.exclude.clone(),
            projects: select.project.clone(),
            env: select.env.clone(),
        },
        guards: crate::plan::Guards {
            allow_delete: args.allow_delete,
            max_deletions: args.max_deletions,
            delete_projects: args.delete_project.clone(),
        },
    }
}
