//! `pzctl diff --env FROM --env TO`: how two environments' desired states differ, for a
//! promotion pull request. Reads manifests only, never a live organization.
//!
//! The comparison is the pure [`crate::plan::promotion::compare`] (projects by base name, objects
//! as manifest views); this module loads both environments, shows their problems, prints and
//! owns the exit codes: 0 no differences, 1 an error, 2 differences (as `plan
//! --detailed-exitcode`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::SelectArgs;
use super::output::{self, Stream};
use super::pipeline::{self, Problems};
use crate::diagnostic::{Diagnostic, Sources};
use crate::manifest::Loaded;
use crate::plan::promotion::{self, Side};
use crate::render;

/// The exit code when the environments differ.
pub const DIFFERENT: u8 = 2;

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Human text, after the plan's: `~` different, `-` only in the first, `+` only in the
    /// second environment.
    Text,
    /// JSON (`docs/environments.md`, "Promotion").
    Json,
    /// Markdown for a promotion pull request (parts split as `plan --format markdown` does).
    Markdown,
}

/// Arguments of `pzctl diff`.
#[derive(Debug, Clone, clap::Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub color: super::ColorArgs,
    /// Folders or files to read manifests from; the workspace file `pzctl.yaml` at the root of
    /// a folder declares the environments.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// The two environments to compare, in order: `--env FROM --env TO` (e.g. `--env staging
    /// --env production`). Differences read from the first to the second.
    #[arg(long = "env", value_name = "NAME", required = true)]
    pub envs: Vec<String>,
    /// Read only files matching this glob (repeatable).
    #[arg(long)]
    pub include: Vec<String>,
    /// Skip files matching this glob (repeatable).
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Compare only these projects, by base name (or by the live name either environment
    /// gives it) (repeatable).
    #[arg(long)]
    pub project: Vec<String>,
    /// How to print on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
}

pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let [from, to] = args.envs.as_slice() else {
        anyhow::bail!(
            "`pzctl diff` compares two environments: give `--env FROM --env TO` (got {})",
            args.envs.len()
        );
    };
    if from == to {
        anyhow::bail!("`--env {from}` is given twice: name two different environments");
    }
    if args.paths.iter().any(|path| path == Path::new("-")) {
        anyhow::bail!(
            "`pzctl diff` reads a manifest tree with its workspace file; `-` (standard input) has none"
        );
    }
    let problems = match args.format {
        DiffFormat::Json => Problems::Json,
        DiffFormat::Text | DiffFormat::Markdown => Problems::Text,
    };
    let select = |env: &str| SelectArgs {
        paths: args.paths.clone(),
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        project: Vec::new(),
        env: Some(env.to_owned()),
    };
    let left = pipeline::load(&select(from))?;
    let right = pipeline::load(&select(to))?;
    for notice in [left.skipped_notice(), right.skipped_notice()]
        .into_iter()
        .flatten()
        .take(1)
    {
        output::error_line(&notice);
    }
    let (diagnostics, sources) = merged(&left, &right);
    if left.has_errors() || right.has_errors() {
        pipeline::show(&diagnostics, &sources, problems);
        output::error_line("error: the manifests have errors; nothing was compared");
        return Ok(ExitCode::from(1));
    }
    pipeline::show_text(&diagnostics, &sources);
    let left_names = live_names(&left, from);
    let right_names = live_names(&right, to);
    let from = Side {
        environment: from,
        desired: &left.desired,
        projects: &left_names,
    };
    let to = Side {
        environment: to,
        desired: &right.desired,
        projects: &right_names,
    };
    let only = bases(&args.project, &from, &to)?;
    let compared = promotion::compare(&from, &to, &only);
    match args.format {
        DiffFormat::Text => output::stdout_bytes(
            render::promotion_text(&compared, output::colors(Stream::Stdout)).as_bytes(),
        ),
        DiffFormat::Json => output::stdout_bytes(render::promotion_json(&compared).as_bytes()),
        DiffFormat::Markdown => {
            let parts = render::promotion_markdown(&compared);
            let separator = format!("\n{}\n", super::plan::MARKDOWN_PART_SEPARATOR);
            output::stdout_bytes(parts.join(&separator).as_bytes());
        }
    }
    Ok(if compared.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(DIFFERENT)
    })
}

/// The diagnostics of both environments, each once, and the sources of both.
fn merged(left: &Loaded, right: &Loaded) -> (Vec<Diagnostic>, Sources) {
    let mut diagnostics = left.diagnostics.clone();
    for diagnostic in &right.diagnostics {
        if !diagnostics.contains(diagnostic) {
            diagnostics.push(diagnostic.clone());
        }
    }
    let mut sources = Sources::default();
    for loaded in [left, right] {
        for name in loaded.sources.names() {
            if let Some(text) = loaded.sources.get(name) {
                sources.insert(name.to_owned(), text.to_owned());
            }
        }
    }
    (diagnostics, sources)
}

/// The live project name by base name that the workspace file gives `env`.
fn live_names(loaded: &Loaded, env: &str) -> BTreeMap<String, String> {
    loaded
        .workspace
        .as_ref()
        .map(|workspace| workspace.live_names(env))
        .unwrap_or_default()
}

/// `--project` names as base names: a base name, or a live name of either environment.
fn bases(names: &[String], from: &Side<'_>, to: &Side<'_>) -> anyhow::Result<Vec<String>> {
    let mut known: BTreeMap<String, String> = BTreeMap::new();
    for side in [from, to] {
        for live in side.desired.projects.keys() {
            let base = promotion::base_name(side, live).to_owned();
            known.insert(live.clone(), base.clone());
            known.insert(base.clone(), base);
        }
    }
    names
        .iter()
        .map(|name| match known.get(name) {
            Some(base) => Ok(base.clone()),
            None => {
                let help = crate::diagnostic::suggest(name, known.keys().map(String::as_str))
                    .map(|close| format!("; did you mean `{close}`?"))
                    .unwrap_or_default();
                anyhow::bail!(
                    "`--project {name}`: neither `{}` nor `{}` declares a project `{name}`{help}",
                    from.environment,
                    to.environment
                )
            }
        })
        .collect()
}
