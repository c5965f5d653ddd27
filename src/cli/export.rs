//! `pzctl export`: read the live organization and write manifests for it.
//!
//! The manifests come from the pure [`crate::export`]; this module reads live state, picks the
//! `$schema` reference, refuses to write into a non-empty folder without `--force`, writes
//! every file atomically and prints the warnings and a summary.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::output;
use crate::export::{self, Exported, Options};
use crate::live::{Api, Backend};

/// Arguments of `pzctl export`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub target: super::TargetArgs,
    /// Export only this project (repeatable; default: every project). With `--env`, a base
    /// project name or its live name.
    #[arg(long = "project", value_name = "NAME")]
    pub projects: Vec<String>,
    /// With `--env NAME`, export the live projects of that environment under their base names,
    /// with a `pzctl.yaml` mapping them to their live names, so the files compare with the base
    /// and `pzctl plan --env NAME OUT` plans them to no changes.
    #[command(flatten)]
    pub environment: super::pipeline::EnvArgs,
    /// Folder to write into: one sub-folder per project.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Write into a folder that is not empty. Only the files export generates are written
    /// (and overwritten); other files are left alone.
    #[arg(long)]
    pub force: bool,
    /// The JSON Schema editors should validate the files with: a URL (written as is) or a
    /// path from the current directory (written relative to each file). `none` writes no
    /// `# yaml-language-server` line.
    #[arg(
        long,
        value_name = "PATH|URL",
        default_value = "schemas/manifest.schema.json"
    )]
    pub schema: String,
}

pub async fn run(mut args: ExportArgs) -> anyhow::Result<ExitCode> {
    check_out_dir(&args.out, args.force)?;
    super::env_or_variable(&mut args.environment.env);
    let api = Api::new(super::target::select(&args.target)?);
    let retry = super::target::retry_policy(&args.target)?;
    let result = export_with(&api, &args, &retry).await;
    if let Some(summary) = api.backend.http_summary(&retry) {
        output::error_line(&summary.line());
    }
    result
}

/// Export what `api` sees into `args.out`, repeating reads through `retry`.
async fn export_with<B: Backend>(
    api: &Api<B>,
    args: &ExportArgs,
    retry: &crate::live::retry::RetryPolicy,
) -> anyhow::Result<ExitCode> {
    check_out_dir(&args.out, args.force)?;
    let environment =
        match super::pipeline::environment_projects(&args.environment, &args.projects)? {
            Ok(environment) => environment,
            Err(code) => return Ok(code),
        };
    let wanted: Vec<String> = match &environment {
        Some(projects) => projects.values().cloned().collect(),
        None => args.projects.clone(),
    };
    let only = (!wanted.is_empty() || environment.is_some()).then_some(wanted.as_slice());
    let mut live = crate::live::observe_with(api, only, retry)
        .await
        .with_context(|| {
            format!(
                "cannot read the organization from {}",
                api.backend.describe()
            )
        })?;
    super::output::live_warnings(&live);
    let select = super::SelectArgs {
        paths: Vec::new(),
        include: Vec::new(),
        exclude: Vec::new(),
        project: if environment.is_some() {
            Vec::new()
        } else {
            args.projects.clone()
        },
        env: None,
    };
    super::scope::check(api, &select, &[], &Default::default(), &live)
        .await
        .context("nothing was written")?;
    let options = Options {
        schema: schema_reference(&args.schema, &args.out)?,
    };
    let exported = match (&environment, &args.environment.env) {
        (Some(projects), Some(env)) => {
            let bases = to_base_names(&mut live, projects, env);
            live.projects.retain(|name, _| bases.contains(name));
            let mut exported = export::export_with(&live, &[], &options);
            exported
                .files
                .insert(PathBuf::from(WORKSPACE_FILE), workspace_file(env, projects));
            exported
        }
        _ => export::export_with(&live, &args.projects, &options),
    };
    for warning in &exported.warnings {
        output::error_line(&format!("warning: {warning}"));
    }
    write_files(&args.out, &exported)?;
    output::error_line(&format!(
        "Exported {} {}, {} {} to {}",
        exported.projects,
        plural(exported.projects, "project", "projects"),
        exported.resources,
        plural(exported.resources, "resource", "resources"),
        args.out.display()
    ));
    Ok(ExitCode::SUCCESS)
}

use crate::manifest::select::WORKSPACE_FILE;

/// Rename the live projects of `env` to their base names, in place; the base names of those
/// that are live, and a warning for each one that is not.
fn to_base_names(
    live: &mut crate::model::LiveState,
    projects: &super::pipeline::EnvProjects,
    env: &str,
) -> Vec<String> {
    // Every project out first, then in under its base name: a base name may be another
    // project's live name.
    let mut renamed = Vec::new();
    for (base, name) in projects {
        match live.projects.remove(name) {
            Some(mut project) => {
                project.project.name.clone_from(base);
                renamed.push((base.clone(), project));
            }
            None => output::error_line(&format!(
                "note: `{name}` (environment `{env}`) is not live yet; nothing exported for it"
            )),
        }
    }
    let bases = renamed.iter().map(|(base, _)| base.clone()).collect();
    live.projects.extend(renamed);
    bases
}

/// The workspace file of an environment's export: its projects' live names by base name.
fn workspace_file(env: &str, projects: &super::pipeline::EnvProjects) -> String {
    let mut text = format!(
        "# Written by `pzctl export --env {env}`: the documents use base project names; this file\n\
         # maps them to the environment's live projects (`pzctl plan --env {env}` on this folder).\n\
         apiVersion: pzctl/v1\nkind: Workspace\nenvironments:\n  {}:\n",
        crate::yaml_out::scalar(env)
    );
    let renamed: Vec<(&String, &String)> = projects
        .iter()
        .filter(|(base, live)| base != live)
        .collect();
    if renamed.is_empty() {
        text.push_str("    projects: {}\n");
    } else {
        text.push_str("    projects:\n");
        for (base, live) in renamed {
            text.push_str(&format!(
                "      {}: {}\n",
                crate::yaml_out::scalar(base),
                crate::yaml_out::scalar(live)
            ));
        }
    }
    text
}

fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}

/// Refuse a folder that has anything in it, unless `force`.
fn check_out_dir(dir: &Path, force: bool) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if !force && entries.next().is_some() {
                anyhow::bail!(
                    "`{}` is not empty; pass --force to write into it (only the files export \
                     generates are overwritten)",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error)
            .with_context(|| format!("cannot use `{}` as the output folder", dir.display())),
    }
}

/// Write every file atomically (temporary file in the same folder, then rename).
fn write_files(dir: &Path, exported: &Exported) -> anyhow::Result<()> {
    for (relative, text) in &exported.files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        crate::store::write_atomically(&path, text.as_bytes())
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    Ok(())
}

/// The `$schema` value for files written two levels under `out` (`out/<project>/x.yaml`).
fn schema_reference(schema: &str, out: &Path) -> anyhow::Result<Option<String>> {
    if schema == "none" || schema.is_empty() {
        return Ok(None);
    }
    if schema.contains("://") {
        return Ok(Some(schema.to_owned()));
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let target = normalize(&cwd.join(schema));
    let base = normalize(&cwd.join(out).join("project"));
    Ok(Some(relative(&base, &target)))
}

/// Resolve `.` and `..` without touching the file system (the folders may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `target` relative to the folder `base`, with `/` separators.
fn relative(base: &Path, target: &Path) -> String {
    let base: Vec<_> = base.components().collect();
    let target: Vec<_> = target.components().collect();
    let common = base.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); base.len() - common];
    parts.extend(
        target[common..]
            .iter()
            .map(|part| part.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_path_is_relative_to_each_file() {
        let base = normalize(Path::new("/repo/manifests/./project"));
        assert_eq!(
            relative(&base, Path::new("/repo/schemas/manifest.schema.json")),
            "../../schemas/manifest.schema.json"
        );
        let deep = normalize(Path::new("/repo/a/b/../c/project"));
        assert_eq!(
            relative(&deep, Path::new("/repo/schemas/m.json")),
            "../../../schemas/m.json"
        );
        assert_eq!(
            schema_reference("https://example.com/s.json", Path::new("x")).ok(),
            Some(Some("https://example.com/s.json".to_owned()))
        );
        assert_eq!(schema_reference("none", Path::new("x")).ok(), Some(None));
    }

    #[test]
    fn non_empty_folder_needs_force() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(check_out_dir(&dir.path().join("new"), false).is_ok());
        assert!(check_out_dir(dir.path(), false).is_ok());
        std::fs::write(dir.path().join("keep.txt"), "x").expect("write");
        let error = check_out_dir(dir.path(), false).expect_err("not empty");
        assert!(error.to_string().contains("pass --force"), "{error}");
        assert!(check_out_dir(dir.path(), true).is_ok());
    }
}
