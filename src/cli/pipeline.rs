//! The stages `plan` and `apply` share: load the manifests, observe the selected projects,
//! plan, and show every problem the same way (text with source snippets on stderr, or with
//! `--format json` the JSON array `validate --format json` prints, on stdout).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::SelectArgs;
use super::output::{self, Stream};
use crate::diagnostic::{self, Diagnostic, Sources};
use crate::live::retry::RetryPolicy;
use crate::live::{self, Api, Backend};
use crate::manifest::{self, LoadConfig, Loaded};
use crate::model::{Kind, LiveState};
use crate::plan::{self, Plan, PlanConfig};

/// The name diagnostics give standard input (`pzctl validate -`).
pub const STDIN_NAME: &str = "<stdin>";

/// How a command shows the problems that stop it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problems {
    /// miette reports with source snippets on stderr.
    Text,
    /// The JSON array of `validate --format json`, on stdout.
    Json,
    /// miette reports on stderr, and one `refused` event on stdout (`apply --format ndjson`).
    Events,
}

/// Load the manifests `select` names, in the environment `--env` names (required when the
/// workspace file declares environments); a lone `-` reads one file from standard input.
pub fn load(select: &SelectArgs) -> anyhow::Result<Loaded> {
    load_as(select, false, &[])
}

/// What `validate` checks: like [`load`], but without `--env` every environment of the
/// workspace file.
pub fn load_every(select: &SelectArgs) -> anyhow::Result<Loaded> {
    load_as(select, true, &[])
}

/// `also`: projects read too when `--project` limits the run (those of `--delete-project`, so
/// that one the manifests declare is refused).
fn load_as(select: &SelectArgs, every: bool, also: &[String]) -> anyhow::Result<Loaded> {
    let stdin = Path::new("-");
    if select.paths.iter().any(|path| path == stdin) {
        if select.paths.len() > 1 {
            anyhow::bail!("`-` (standard input) cannot be combined with other paths");
        }
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
        return Ok(manifest::load_inputs(vec![(STDIN_NAME.to_owned(), bytes)]));
    }
    let config = LoadConfig {
        paths: select.paths.clone(),
        include: select.include.clone(),
        exclude: select.exclude.clone(),
    };
    // A run limited by `--project` reads only those projects' files.
    let mut projects = select.project.clone();
    if !projects.is_empty() {
        projects.extend(also.iter().cloned());
    }
    Ok(match (&select.env, every) {
        (None, true) => manifest::load_all_selected(&config, &projects),
        (env, _) => manifest::load_selected(&config, env.as_deref(), &projects),
    })
}

/// Show problems as `problems` says.
pub fn show(diagnostics: &[Diagnostic], sources: &Sources, problems: Problems) {
    match problems {
        Problems::Text => show_text(diagnostics, sources),
        Problems::Json => output::stdout_bytes(diagnostic::render_json(diagnostics).as_bytes()),
        Problems::Events => {
            show_text(diagnostics, sources);
            super::events::refused(diagnostics);
        }
    }
}

/// Show problems as miette reports on stderr.
pub fn show_text(diagnostics: &[Diagnostic], sources: &Sources) {
    if diagnostics.is_empty() {
        return;
    }
    let text = diagnostic::render_text(diagnostics, sources, output::colors(Stream::Stderr));
    output::error_line(text.trim_end());
}

/// What `plan` and `apply` plan from.
pub struct PlanRequest<'a> {
    pub select: &'a SelectArgs,
    pub allow_delete: bool,
    /// `--delete-project`.
    pub delete_projects: &'a [String],
    pub max_deletions: usize,
    pub problems: Problems,
}

/// A plan, with the live state it was made from.
pub struct Planned {
    pub plan: Plan,
    pub live: LiveState,
}

/// Load the manifests; errors are shown here and come back as the exit code to end with,
/// before any target is opened. Warnings, and the note about skipped foreign YAML files, go to
/// stderr.
pub fn load_checked(request: &PlanRequest<'_>) -> anyhow::Result<Result<Loaded, ExitCode>> {
    let loaded = load_as(request.select, false, request.delete_projects)?;
    if let Some(notice) = loaded.skipped_notice() {
        output::error_line(&notice);
    }
    if loaded.has_errors() {
        show(&loaded.diagnostics, &loaded.sources, request.problems);
        output::error_line(
            "error: the manifests have errors; nothing was read from or written to the live organization",
        );
        return Ok(Err(ExitCode::from(1)));
    }
    show_text(&loaded.diagnostics, &loaded.sources);
    Ok(Ok(loaded))
}

/// Observe the selected projects, repeating reads through `retry`, and plan. Refusals are shown
/// here and come back as the exit code to end with.
pub async fn plan_live<B: Backend>(
    api: &Api<B>,
    loaded: &Loaded,
    request: &PlanRequest<'_>,
    retry: &RetryPolicy,
) -> anyhow::Result<Result<Planned, ExitCode>> {
    let projects = &request.select.project;
    let only = super::scope::only(request.select, request.delete_projects);
    let live = live::observe_with(api, only.as_deref(), retry)
        .await
        .with_context(|| format!("cannot read the {}", api.backend.describe()))?;
    output::live_warnings(&live);
    super::scope::check(
        api,
        request.select,
        request.delete_projects,
        &loaded.declared_projects(),
        &live,
    )
    .await?;
    if live.principal.is_none() {
        output::error_line(
            "warning: this endpoint cannot tell who is acting, so permissions were not checked; apply may fail with 403",
        );
    }

    let config = PlanConfig {
        allow_delete: request.allow_delete,
        delete_projects: request.delete_projects.to_vec(),
        max_deletions: request.max_deletions,
        projects: projects.clone(),
        partial: !request.select.include.is_empty() || !request.select.exclude.is_empty(),
    };
    match plan::plan(&loaded.desired, &live, &config) {
        Ok(mut plan) => {
            let others = other_environments_projects(loaded);
            plan.unmanaged.retain(|object| {
                !(object.kind == Kind::Project && others.contains(&object.project))
            });
            Ok(Ok(Planned { plan, live }))
        }
        Err(refusals) => {
            let refusals = with_spans(refusals, &loaded.sources);
            show(&refusals, &loaded.sources, request.problems);
            output::error_line(&format!(
                "error: the plan was refused ({} {}); nothing was written",
                refusals.len(),
                if refusals.len() == 1 {
                    "problem"
                } else {
                    "problems"
                }
            ));
            Ok(Err(ExitCode::from(1)))
        }
    }
}

/// The live projects of the workspace's other environments (not those of the loaded one): a
/// plan of one environment does not list them as unmanaged, since the workspace manages them.
fn other_environments_projects(loaded: &Loaded) -> std::collections::BTreeSet<String> {
    let mut others = std::collections::BTreeSet::new();
    let (Some(workspace), Some(current)) = (&loaded.workspace, &loaded.environment) else {
        return others;
    };
    let Some(this) = workspace.environments.get(current) else {
        return others;
    };
    // Base names: this environment's projects under their base names, and every mapped name.
    let mut bases: std::collections::BTreeSet<String> = loaded
        .desired
        .projects
        .keys()
        .map(|live| {
            this.projects
                .iter()
                .find(|(_, (name, _))| name == live)
                .map_or_else(|| live.clone(), |(base, _)| base.clone())
        })
        .collect();
    for env in workspace.environments.values() {
        bases.extend(env.projects.keys().cloned());
    }
    for (name, env) in &workspace.environments {
        if name == current {
            continue;
        }
        for base in &bases {
            others.insert(
                env.projects
                    .get(base)
                    .map_or_else(|| base.clone(), |(live, _)| live.clone()),
            );
        }
    }
    for live in loaded.desired.projects.keys() {
        others.remove(live);
    }
    others
}

/// Give located plan diagnostics a span (the rest of their line), so the renderer can show the
/// manifest line they point at.
fn with_spans(mut diagnostics: Vec<Diagnostic>, sources: &Sources) -> Vec<Diagnostic> {
    for location in diagnostics
        .iter_mut()
        .filter_map(|diagnostic| diagnostic.location.as_mut())
        .filter(|location| location.span.is_none())
    {
        let Some(text) = sources.get(&location.file) else {
            continue;
        };
        let mut offset = 0;
        for (index, line) in text.split_inclusive('\n').enumerate() {
            if index + 1 == location.line {
                let content = line.trim_end_matches(['\n', '\r']);
                let column = content
                    .char_indices()
                    .nth(location.column.saturating_sub(1))
                    .map_or(content.len(), |(at, _)| at);
                location.span = Some((offset + column, content.len() - column));
                break;
            }
            offset += line.len();
        }
    }
    diagnostics
}

/// Where `show --env` and `export --env` read the workspace file and the manifests from.
#[derive(Debug, Clone, clap::Args)]
pub struct EnvArgs {
    /// The environment of the workspace file `pzctl.yaml` whose live projects to read (the
    /// projects it maps the base projects to, and those only it declares) [env: PZCTL_ENV].
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// With `--env`: the folders or files holding `pzctl.yaml` and the manifests (repeatable)
    /// [default: .].
    #[arg(long = "manifests", value_name = "PATH")]
    pub manifests: Vec<PathBuf>,
}

/// The projects of one environment: live name by base name (a project the environment does not
/// rename has the same name on both sides).
pub type EnvProjects = std::collections::BTreeMap<String, String>;

/// Load the environment `args.env` names, and return its projects, limited to `wanted` (base or
/// live names; empty: all). Problems are shown here and come back as the exit code.
pub fn environment_projects(
    args: &EnvArgs,
    wanted: &[String],
) -> anyhow::Result<Result<Option<EnvProjects>, ExitCode>> {
    let Some(env) = &args.env else {
        if !args.manifests.is_empty() {
            anyhow::bail!("`--manifests` says where to read `--env` from: give `--env NAME` too");
        }
        return Ok(Ok(None));
    };
    let select = SelectArgs {
        paths: if args.manifests.is_empty() {
            vec![PathBuf::from(".")]
        } else {
            args.manifests.clone()
        },
        include: Vec::new(),
        exclude: Vec::new(),
        project: Vec::new(),
        env: Some(env.clone()),
    };
    if select.paths.iter().any(|path| path == Path::new("-")) {
        anyhow::bail!(
            "`--manifests -`: an environment is read from a manifest tree with its `pzctl.yaml`"
        );
    }
    let loaded = load(&select)?;
    if loaded.has_errors() {
        show_text(&loaded.diagnostics, &loaded.sources);
        output::error_line(&format!(
            "error: the manifests of environment `{env}` have errors; nothing was read from the live organization"
        ));
        return Ok(Err(ExitCode::from(1)));
    }
    let renamed: EnvProjects = loaded
        .workspace
        .as_ref()
        .map(|workspace| workspace.live_names(env))
        .unwrap_or_default();
    let mut projects = EnvProjects::new();
    for live in loaded.desired.projects.keys() {
        let base = renamed
            .iter()
            .find(|(_, name)| *name == live)
            .map_or(live.as_str(), |(base, _)| base.as_str());
        projects.insert(base.to_owned(), live.clone());
    }
    if wanted.is_empty() {
        return Ok(Ok(Some(projects)));
    }
    let mut chosen = EnvProjects::new();
    for name in wanted {
        match projects
            .iter()
            .find(|(base, live)| *base == name || *live == name)
        {
            Some((base, live)) => {
                chosen.insert(base.clone(), live.clone());
            }
            None => {
                let names = projects.keys().chain(projects.values()).map(String::as_str);
                let help = crate::diagnostic::suggest(name, names)
                    .map(|close| format!("; did you mean `{close}`?"))
                    .unwrap_or_default();
                anyhow::bail!(
                    "`--project {name}`: environment `{env}` declares no project `{name}`{help}"
                );
            }
        }
    }
    Ok(Ok(Some(chosen)))
}
