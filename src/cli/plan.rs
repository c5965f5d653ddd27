//! `pzctl plan`: load the manifests, read the live organization, compute the plan, print it
//! in the chosen format, and optionally save it as JSON for `pzctl apply --plan`.
//!
//! Nothing is written to the live organization. Exit codes: 0 success (or no changes with
//! `--detailed-exitcode`), 1 any error or refusal, 2 changes found with `--detailed-exitcode`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::output;
use crate::diagnostic::{self, Diagnostic, Sources};
use crate::live::Api;
use crate::manifest::{self, LoadConfig};
use crate::plan::{PlanConfig, plan};
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
    /// Also write the plan as JSON to this file, for `pzctl apply --plan`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// How to print the plan on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: PlanFormat,
    /// Exit 0 when there are no changes and 2 when there are some (1 stays an error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Plan deletes of undeclared objects outside `prune: true` projects, and of projects no
    /// manifest declares.
    #[arg(long)]
    pub allow_delete: bool,
    /// Refuse a plan that deletes more than this many objects.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_deletions: usize,
}

/// The separator printed between Markdown parts.
pub const MARKDOWN_PART_SEPARATOR: &str = "<!-- pzctl:part -->";

pub async fn run(global: &super::GlobalArgs, args: PlanArgs) -> anyhow::Result<ExitCode> {
    let stderr_color = std::env::var_os("NO_COLOR").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let loaded = manifest::load(&LoadConfig {
        paths: args.select.paths.clone(),
        include: args.select.include.clone(),
        exclude: args.select.exclude.clone(),
    });
    if let Some(notice) = loaded.skipped_notice() {
        output::error_line(&notice);
    }
    if !loaded.diagnostics.is_empty() {
        let text = diagnostic::render_text(&loaded.diagnostics, &loaded.sources, stderr_color);
        output::error_line(text.trim_end());
    }
    if loaded.has_errors() {
        output::error_line(
            "error: the manifests have errors; nothing was read from or written to the live organization",
        );
        return Ok(ExitCode::from(1));
    }

    let target = super::target::select(global)?;
    let retry = super::target::retry_policy(global)?;
    let api = Api::new(target);
    let only = (!args.select.project.is_empty()).then_some(args.select.project.as_slice());
    let observed = crate::live::observe_with(&api, only, &retry).await;
    if let Some(summary) = api.backend.http_summary(&retry) {
        output::error_line(&summary.line());
    }
    let live = observed.context("cannot read the live organization")?;
    output::live_warnings(&live);
    if live.principal.is_none() {
        output::error_line(
            "warning: this endpoint cannot tell who is acting, so permissions were not checked; apply may fail with 403",
        );
    }

    let config = PlanConfig {
        allow_delete: args.allow_delete,
        max_deletions: args.max_deletions,
        projects: args.select.project.clone(),
        partial: !args.select.include.is_empty() || !args.select.exclude.is_empty(),
    };
    let plan = match plan(&loaded.desired, &live, &config) {
        Ok(plan) => plan,
        Err(refusals) => {
            let refusals = with_spans(refusals, &loaded.sources);
            let text = diagnostic::render_text(&refusals, &loaded.sources, stderr_color);
            output::error_line(text.trim_end());
            output::error_line(&format!(
                "error: the plan was refused ({} {}); nothing was written",
                refusals.len(),
                if refusals.len() == 1 {
                    "problem"
                } else {
                    "problems"
                }
            ));
            return Ok(ExitCode::from(1));
        }
    };

    if let Some(path) = &args.out {
        // Stored server text goes through the same redactor as printed text.
        write_atomically(path, output::redacted(&render::json(&plan)).as_bytes())
            .with_context(|| format!("cannot write the plan to {}", path.display()))?;
    }

    match args.format {
        PlanFormat::Text => {
            let color = std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stdout());
            output::stdout_bytes(render::text(&plan, color).as_bytes());
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

    Ok(if args.detailed_exitcode && !plan.summary.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Give located plan diagnostics a span (the rest of their line), so the renderer can show the
/// manifest line they point at.
fn with_spans(mut diagnostics: Vec<Diagnostic>, sources: &Sources) -> Vec<Diagnostic> {
    for diagnostic in &mut diagnostics {
        if diagnostic.span.is_some() || diagnostic.line == 0 {
            continue;
        }
        let Some(text) = diagnostic
            .file
            .as_deref()
            .and_then(|file| sources.get(file))
        else {
            continue;
        };
        let mut offset = 0;
        for (index, line) in text.split_inclusive('\n').enumerate() {
            if index + 1 == diagnostic.line {
                let content = line.trim_end_matches(['\n', '\r']);
                let column = content
                    .char_indices()
                    .nth(diagnostic.column.saturating_sub(1))
                    .map_or(content.len(), |(at, _)| at);
                diagnostic.span = Some((offset + column, content.len() - column));
                break;
            }
            offset += line.len();
        }
    }
    diagnostics
}

/// Write `bytes` to `path` through a temporary file in the same folder, so a reader never sees
/// a half-written plan.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(&folder)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}
