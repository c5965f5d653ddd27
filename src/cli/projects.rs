//! `pzctl projects`: the projects a manifest tree declares, or only those a change since a git
//! ref touches, one per line or as a JSON array for a CI matrix.
//!
//! Strict: the manifests are loaded and checked as `validate` does, and when they have errors
//! nothing is listed (exit 1), so a matrix never runs on a tree that cannot be planned.
//! Git runs as a subprocess (`git diff`, `git ls-files`, `git cat-file`) in the repository of
//! the first PATH.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use super::{output, pipeline};
use crate::manifest::LoadConfig;
use crate::manifest::select::{self, Selection};

/// Arguments of `pzctl projects`.
#[derive(Debug, clap::Args)]
pub struct ProjectsArgs {
    #[command(flatten)]
    pub select: super::SelectArgs,
    /// List only the projects that a change since this git ref (a branch, tag or commit)
    /// touches: a manifest file changed, added, deleted, renamed or untracked since then that
    /// declares documents of the project (before or after the change), or the workspace file
    /// `pzctl.yaml` at the root of a PATH folder, which touches every project. With `--env`,
    /// the files of that environment's overlays count too. Compares the ref with the working
    /// tree.
    #[arg(long, value_name = "GIT_REF")]
    pub changed_since: Option<String>,
    /// `text`: one name per line; `json`: one JSON array of names (for `strategy.matrix`).
    /// Both sorted.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ProjectsFormat,
}

/// Output formats of `pzctl projects`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProjectsFormat {
    Text,
    Json,
}

pub fn run(args: ProjectsArgs) -> anyhow::Result<ExitCode> {
    let config = LoadConfig {
        paths: args.select.paths.clone(),
        include: args.select.include.clone(),
        exclude: args.select.exclude.clone(),
    };
    if args.changed_since.is_some() && config.paths.iter().any(|path| path == Path::new("-")) {
        bail!("--changed-since compares manifest files in a git repository, not standard input");
    }
    let loaded = pipeline::load(&args.select)?;
    if loaded.has_errors() {
        pipeline::show_text(&loaded.diagnostics, &loaded.sources);
        output::error_line(
            "error: the manifests have errors (see `pzctl validate`); no projects are listed",
        );
        return Ok(ExitCode::from(1));
    }
    let declared: BTreeSet<String> = loaded.desired.projects.keys().cloned().collect();
    for name in &args.select.project {
        if !declared.contains(name) {
            bail!("--project `{name}`: no manifest declares this project");
        }
    }
    let mut listed: BTreeSet<String> = if args.select.project.is_empty() {
        declared.clone()
    } else {
        args.select.project.iter().cloned().collect()
    };
    if let Some(reference) = &args.changed_since {
        let mut changes = changed_since(&config, reference, args.select.env.as_deref())?;
        // Files name base projects; what is listed are their live names in the environment.
        if let Some(env) = loaded
            .environment
            .as_ref()
            .and_then(|name| loaded.workspace.as_ref()?.environments.get(name))
        {
            changes.projects = changes
                .projects
                .into_iter()
                .map(|name| {
                    env.projects
                        .get(&name)
                        .map_or(name, |(live, _)| live.clone())
                })
                .collect();
        }
        if !changes.everything {
            listed.retain(|name| changes.projects.contains(name));
        }
        output::error_line(&format!(
            "{} of {} projects touched by changes since `{reference}` ({}{})",
            listed.len(),
            declared.len(),
            plural(changes.files, "changed manifest file"),
            if changes.everything {
                format!(
                    "; `{}` changed, which touches every project",
                    select::WORKSPACE_FILE
                )
            } else {
                String::new()
            }
        ));
    }
    match args.format {
        ProjectsFormat::Text => {
            for name in &listed {
                output::stdout_line(name);
            }
        }
        ProjectsFormat::Json => {
            let names: Vec<&String> = listed.iter().collect();
            output::stdout_line(&serde_json::to_string(&names)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// What the changes since a ref touch.
#[derive(Debug, Default)]
struct Changes {
    /// Projects with a document in a changed file, before or after the change.
    projects: BTreeSet<String>,
    /// A workspace file changed: every project is touched.
    everything: bool,
    /// Changed files the loader reads (or read at the ref).
    files: usize,
}

/// One changed path (relative to the repository's top level) and whether it existed at the
/// ref and exists now.
struct Changed {
    path: PathBuf,
    before: bool,
    after: bool,
}

fn changed_since(
    config: &LoadConfig,
    reference: &str,
    env: Option<&str>,
) -> anyhow::Result<Changes> {
    if reference.starts_with('-') || reference.is_empty() {
        bail!("`{reference}` is not a git ref");
    }
    let start = config
        .paths
        .first()
        .map(|path| {
            if path.is_dir() {
                path.clone()
            } else {
                match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                    _ => PathBuf::from("."),
                }
            }
        })
        .unwrap_or_else(|| PathBuf::from("."));
    git(&start, [OsStr::new("--version")])?;
    let top = git(
        &start,
        [OsStr::new("rev-parse"), OsStr::new("--show-toplevel")],
    )
    .context("the manifests are not in a git repository")?;
    let top = PathBuf::from(String::from_utf8_lossy(&top).trim_end_matches(['\n', '\r']));
    let top = std::fs::canonicalize(&top)
        .with_context(|| format!("cannot resolve the repository folder {}", top.display()))?;
    let commit = git(
        &top,
        [
            OsStr::new("rev-parse"),
            OsStr::new("--verify"),
            OsStr::new("--quiet"),
            OsStr::new(&format!("{reference}^{{commit}}")),
        ],
    )
    .map_err(|_| anyhow::anyhow!("unknown git ref `{reference}`: no commit has that name"))?;
    let commit = String::from_utf8_lossy(&commit).trim().to_owned();

    let mut changed = Vec::new();
    let diff = git(
        &top,
        [
            "diff",
            "--name-status",
            "-z",
            "--no-renames",
            "--no-ext-diff",
            "--ignore-submodules",
            &commit,
            "--",
        ]
        .map(OsStr::new),
    )?;
    let mut fields = diff.split(|b| *b == 0).filter(|f| !f.is_empty());
    while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
        let status = status.first().copied().unwrap_or(b'M');
        changed.push(Changed {
            path: PathBuf::from(os_str(path)),
            before: status != b'A',
            after: status != b'D',
        });
    }
    let untracked = git(
        &top,
        ["ls-files", "--others", "--exclude-standard", "-z"].map(OsStr::new),
    )?;
    for path in untracked.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        changed.push(Changed {
            path: PathBuf::from(os_str(path)),
            before: false,
            after: true,
        });
    }

    let selection = Selection::new(config);
    let mut changes = Changes::default();
    for file in changed {
        let absolute = top.join(&file.path);
        if selection.is_workspace_file(&absolute) {
            changes.everything = true;
            continue;
        }
        if selection.name_in(&absolute, env).is_none() {
            continue;
        }
        changes.files += 1;
        if file.before {
            let mut spec = OsString::from(format!("{commit}:"));
            spec.push(file.path.as_os_str());
            let old = git(&top, [OsStr::new("cat-file"), OsStr::new("blob"), &spec]).with_context(
                || format!("cannot read `{}` at `{reference}`", file.path.display()),
            )?;
            changes
                .projects
                .extend(select::projects_of(&String::from_utf8_lossy(&old)));
        }
        if file.after {
            // Gone since `git diff` ran, or unreadable: `load` already reported what it read.
            if let Ok(bytes) = std::fs::read(&absolute) {
                changes
                    .projects
                    .extend(select::projects_of(&String::from_utf8_lossy(&bytes)));
            }
        }
    }
    Ok(changes)
}

/// A path as git prints it with `-z`: raw bytes.
#[cfg(unix)]
fn os_str(bytes: &[u8]) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(bytes).to_os_string()
}

#[cfg(not(unix))]
fn os_str(bytes: &[u8]) -> OsString {
    OsString::from(String::from_utf8_lossy(bytes).into_owned())
}

/// Run git in `dir`; its standard output, or an error with what it printed on stderr.
fn git<I, S>(dir: &Path, args: I) -> anyhow::Result<Vec<u8>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let result = std::process::Command::new("git")
        .args(&args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output();
    let out = match result {
        Ok(out) => out,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            bail!("--changed-since needs git, and git is not installed or not on PATH")
        }
        Err(error) => bail!("cannot run `git {shown}`: {error}"),
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!(
            "`git {shown}` failed ({}): {}",
            out.status,
            stderr.trim().lines().last().unwrap_or("no message")
        );
    }
    Ok(out.stdout)
}
