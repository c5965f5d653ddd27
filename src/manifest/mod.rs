//! Manifests: finding and reading YAML files, parsing them with spans, validating each
//! document against the committed JSON Schema, and lowering them to `model::DesiredState`;
//! and the inverse, raising specs back into manifest documents (`raise`).
//!
//! Invariant: loading never stops at the first problem and never panics; it returns
//! everything it could lower plus every diagnostic. No type of `raw` leaves this module.
//! The JSON Schemas are generated from `raw` and documents are validated against them in
//! [`schema`], a part of this module, so the dependency points one way.

pub mod lower;
pub mod overlay;
pub mod raise;
pub mod raw;
pub mod schema;
pub mod select;
pub mod workspace;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Code, Diagnostic, Location, Severity, Sources};
use crate::model::DesiredState;

/// Files larger than this are refused.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// Which files to read.
#[derive(Clone, Debug, Default)]
pub struct LoadConfig {
    /// Files or folders (read recursively).
    pub paths: Vec<PathBuf>,
    /// Globs a file must match (any of them), when not empty.
    pub include: Vec<String>,
    /// Globs that skip a file.
    pub exclude: Vec<String>,
}

/// Everything that was loaded.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// Best effort: whatever was valid, lowered.
    pub desired: DesiredState,
    /// Every problem, sorted by file, line and column.
    pub diagnostics: Vec<Diagnostic>,
    /// The text of every file read.
    pub sources: Sources,
    /// Manifest files read, as displayed in diagnostics.
    pub files: Vec<String>,
    /// YAML files skipped because they are not pzctl's (see [`is_foreign`]), as displayed.
    pub skipped: Vec<String>,
    /// The workspace file at the root of the manifest tree, when there is one.
    pub workspace: Option<Box<workspace::Workspace>>,
    /// The environment loaded (`None`: the base).
    pub environment: Option<String>,
    /// Folders not read because they hold a workspace file of their own (another manifest
    /// tree, read on its own), as displayed.
    pub nested: Vec<String>,
    /// A run limited by `--project` to a name no file read declares: the projects that the
    /// files not read declare (live names), for telling a typo from an undeclared project.
    pub unread_projects: std::collections::BTreeSet<String>,
}

impl Loaded {
    /// One line about the skipped foreign files (how many, which), when there are any.
    #[must_use]
    pub fn skipped_notice(&self) -> Option<String> {
        let nested = (!self.nested.is_empty()).then(|| {
            let one = self.nested.len() == 1;
            format!(
                "note: skipped {}: {} with {} own `{}`, read on {} own",
                crate::diagnostic::backticked(self.nested.iter()),
                if one {
                    "a manifest tree"
                } else {
                    "manifest trees"
                },
                if one { "its" } else { "their" },
                select::WORKSPACE_FILE,
                if one { "its" } else { "their" },
            )
        });
        match (self.foreign_notice(), nested) {
            (Some(a), Some(b)) => Some(format!("{a}\n{b}")),
            (a, b) => a.or(b),
        }
    }

    fn foreign_notice(&self) -> Option<String> {
        const SHOWN: usize = 5;
        let count = self.skipped.len();
        if count == 0 {
            return None;
        }
        let mut names = self.skipped[..count.min(SHOWN)].join(", ");
        if count > SHOWN {
            names.push_str(&format!(" and {} more", count - SHOWN));
        }
        Some(format!(
            "note: skipped {count} YAML {} that {} no pzctl manifest (no `apiVersion: pzctl/…`): {names}",
            if count == 1 { "file" } else { "files" },
            if count == 1 { "holds" } else { "hold" },
        ))
    }

    /// The projects the manifests declare: those read, and those of files a run limited by
    /// `--project` did not read (known only when a `--project` name is not among the first).
    #[must_use]
    pub fn declared_projects(&self) -> std::collections::BTreeSet<&str> {
        self.desired
            .projects
            .keys()
            .chain(&self.unread_projects)
            .map(String::as_str)
            .collect()
    }

    /// Whether any diagnostic is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

fn file_diag(
    file: &str,
    code: Code,
    severity: Severity,
    message: String,
    pos: yaml::Pos,
) -> Diagnostic {
    Diagnostic::new(code, severity, message).at(Location::new(
        pos.file_or(file),
        pos.line,
        pos.column,
    )
    .with_span(pos.offset, pos.len))
}

fn no_place(code: Code, message: String) -> Diagnostic {
    Diagnostic::error(code, message)
}

fn display(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    match text.strip_prefix("./") {
        Some(rest) if !rest.is_empty() => rest.to_owned(),
        _ => text,
    }
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

fn walk(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    diagnostics: &mut Vec<Diagnostic>,
    depth: usize,
    shown: &dyn Fn(&Path) -> String,
    skip: &[PathBuf],
    nested: &mut Vec<PathBuf>,
) {
    if depth > 64 {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            diagnostics.push(no_place(
                Code::ReadError,
                format!("cannot read folder `{}`: {error}", shown(dir)),
            ));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if skip.contains(&path) {
            continue;
        }
        if path.is_dir() && !hidden && select::is_workspace_tree(&path) {
            // Another manifest tree, with its own environments: read on its own.
            nested.push(path);
            continue;
        }
        if path.is_dir() {
            if !hidden {
                walk(&path, out, diagnostics, depth + 1, shown, skip, nested);
            }
        } else if is_manifest(&path) {
            out.push(path);
        }
    }
}

fn globs(patterns: &[String], diagnostics: &mut Vec<Diagnostic>) -> Option<globset::GlobSet> {
    if patterns.is_empty() {
        return None;
    }
    let mut builder = globset::GlobSetBuilder::new();
    for pattern in patterns {
        match globset::Glob::new(pattern) {
            Ok(glob) => {
                builder.add(glob);
            }
            Err(error) => diagnostics.push(no_place(
                Code::ReadError,
                format!("invalid glob `{pattern}`: {error}"),
            )),
        }
    }
    builder.build().ok()
}

/// Load every manifest under the configured paths.
#[must_use]
pub fn load(config: &LoadConfig) -> Loaded {
    load_in(Path::new(""), config)
}

/// Load every manifest under the configured paths, relative paths taken from `base`, and
/// files named as they are from there: what `load` gives when run in `base`. A workspace file
/// at the root of a folder is read as such (never as a manifest) and its overlay folders are
/// not read: this is the base, with no environment (an error when the workspace declares
/// environments: one must be chosen).
#[must_use]
pub fn load_in(base: &Path, config: &LoadConfig) -> Loaded {
    load_env_in(base, config, None)
}

/// Load the manifests of one environment of the workspace (`None`: the base alone).
#[must_use]
pub fn load_env(config: &LoadConfig, env: Option<&str>) -> Loaded {
    load_env_in(Path::new(""), config, env)
}

/// [`load_env`], relative paths taken from `base` (see [`load_in`]).
#[must_use]
pub fn load_env_in(base: &Path, config: &LoadConfig, env: Option<&str>) -> Loaded {
    load_selected_in(base, config, env, &[])
}

/// [`load_env`] for a run limited to `projects` (`--project`; empty: every project): only
/// the files that may hold a document of one of them are read and checked (see
/// [`select::may_belong`]), with the workspace file, so the run's cost follows what it
/// selects, not the size of the tree. Names are live names (in an environment, the base
/// projects they rename are selected).
#[must_use]
pub fn load_selected(config: &LoadConfig, env: Option<&str>, projects: &[String]) -> Loaded {
    load_selected_in(Path::new(""), config, env, projects)
}

/// [`load_selected`], relative paths taken from `base` (see [`load_in`]).
#[must_use]
pub fn load_selected_in(
    base: &Path,
    config: &LoadConfig,
    env: Option<&str>,
    projects: &[String],
) -> Loaded {
    let shown = |path: &Path| display(path.strip_prefix(base).unwrap_or(path));
    let mut diagnostics = Vec::new();
    let mut sources = Vec::new();
    let (workspace, skip) = find_workspace(base, config, &mut diagnostics, &mut sources, &shown);
    let mut paths = Vec::new();
    let mut nested = Vec::new();
    for path in &config.paths {
        let path = base.join(path);
        if path.is_dir() {
            walk(
                &path,
                &mut paths,
                &mut diagnostics,
                0,
                &shown,
                &skip,
                &mut nested,
            );
        } else if path.exists() {
            paths.push(path);
        } else {
            diagnostics.push(no_place(
                Code::ReadError,
                format!("`{}` does not exist", shown(&path)),
            ));
        }
    }
    let include = globs(&config.include, &mut diagnostics);
    let exclude = globs(&config.exclude, &mut diagnostics);
    let mut seen = std::collections::BTreeSet::new();
    let mut read = |paths: Vec<PathBuf>, diagnostics: &mut Vec<Diagnostic>| {
        let mut inputs = Vec::new();
        for path in paths {
            let name = shown(&path);
            if include.as_ref().is_some_and(|g| !g.is_match(&name))
                || exclude.as_ref().is_some_and(|g| g.is_match(&name))
                || !seen.insert(name.clone())
            {
                continue;
            }
            match std::fs::read(&path) {
                Ok(bytes) => inputs.push((name, bytes)),
                Err(error) => diagnostics.push(no_place(
                    Code::ReadError,
                    format!("cannot read `{name}`: {error}"),
                )),
            }
        }
        inputs
    };
    let inputs = read(paths, &mut diagnostics);
    let chosen = match (env, &workspace) {
        (None, Some(workspace)) if !workspace.environments.is_empty() => {
            let mut d = no_place(
                Code::InvalidWorkspace,
                format!(
                    "`{}` declares environments {}: choose one with `--env NAME`",
                    workspace.file,
                    crate::diagnostic::backticked(workspace.names().iter())
                ),
            );
            d.help = Some(format!(
                "`pzctl validate` without `--env` checks every environment; for example `--env {}`",
                workspace.names().first().copied().unwrap_or_default()
            ));
            diagnostics.push(d);
            None
        }
        (None, _) => None,
        (Some(name), None) => {
            diagnostics.push(no_place(
                Code::InvalidWorkspace,
                format!(
                    "`--env {name}`: there is no workspace file `{}` at the root of {}, so there are no environments",
                    select::WORKSPACE_FILE,
                    config.paths.iter().map(|p| format!("`{}`", display(p))).collect::<Vec<_>>().join(", ")
                ),
            ));
            None
        }
        (Some(name), Some(workspace)) => match workspace.environments.get(name) {
            Some(env) => Some((workspace, env)),
            None => {
                let mut d = no_place(
                    Code::InvalidWorkspace,
                    format!(
                        "`--env {name}`: `{}` declares no environment `{name}`",
                        workspace.file
                    ),
                );
                d.help = Some(environment_help(workspace, name));
                diagnostics.push(d);
                None
            }
        },
    };
    let needs_env = workspace
        .as_ref()
        .is_some_and(|w| !w.environments.is_empty());
    if chosen.is_none() && (env.is_some() || needs_env) {
        // No environment to load: the base alone would only add noise.
        let mut loaded = Loaded {
            diagnostics,
            ..Loaded::default()
        };
        for (name, text) in sources {
            loaded.sources.insert(name, text);
        }
        loaded.workspace = workspace.map(Box::new);
        return loaded;
    }
    let overlay_inputs = match chosen {
        Some((workspace, env)) => {
            let mut paths = Vec::new();
            for (folder, _) in &env.overlays {
                walk(
                    &workspace.folder.join(folder),
                    &mut paths,
                    &mut diagnostics,
                    0,
                    &shown,
                    &[],
                    &mut nested,
                );
            }
            read(paths, &mut diagnostics)
        }
        None => Vec::new(),
    };
    if inputs.is_empty() && overlay_inputs.is_empty() && diagnostics.is_empty() {
        let shown: Vec<String> = config.paths.iter().map(|p| display(p)).collect();
        diagnostics.push(no_place(
            Code::NoManifests,
            format!(
                "no `*.yaml` or `*.yml` file found under {}",
                shown.join(", ")
            ),
        ));
    }
    let read = inputs.len() + overlay_inputs.len();
    // A run limited to some projects reads only the files that may hold them.
    let selected: Option<std::collections::BTreeSet<String>> = (!projects.is_empty()).then(|| {
        let mut names: std::collections::BTreeSet<String> = projects.iter().cloned().collect();
        if let Some((_, env)) = chosen {
            for (base, (live, _)) in &env.projects {
                if names.contains(live) {
                    names.insert(base.clone());
                }
            }
        }
        names
    });
    let mut unread: Vec<Input> = Vec::new();
    let (inputs, overlay_inputs) = match &selected {
        Some(names) => {
            let mut keep = |inputs: Vec<Input>| -> Vec<Input> {
                let (kept, left): (Vec<Input>, Vec<Input>) = inputs
                    .into_iter()
                    .partition(|(_, bytes)| select::may_belong(bytes, names));
                unread.extend(left);
                kept
            };
            let inputs = keep(inputs);
            (inputs, keep(overlay_inputs))
        }
        None => (inputs, overlay_inputs),
    };
    let mut loaded = match chosen {
        Some((workspace, env)) => {
            load_environment(workspace, env, inputs, overlay_inputs, selected.as_ref())
        }
        None => load_inputs_with(
            inputs,
            workspace.as_ref().map(|w| &w.limits).unwrap_or(&NO_LIMITS),
        ),
    };
    if read > 0 && selected.is_none() && loaded.files.is_empty() && loaded.diagnostics.is_empty() {
        let shown: Vec<String> = config.paths.iter().map(|p| display(p)).collect();
        diagnostics.push(no_place(
            Code::NoManifests,
            format!(
                "no pzctl manifest under {}, only YAML of other tools",
                shown.join(", ")
            ),
        ));
    }
    diagnostics.append(&mut loaded.diagnostics);
    loaded.diagnostics = diagnostics;
    for (name, text) in sources {
        loaded.sources.insert(name, text);
    }
    loaded.nested = nested.iter().map(|path| shown(path)).collect();
    if projects
        .iter()
        .any(|name| !loaded.desired.projects.contains_key(name))
    {
        // A name that is not among the projects read: the files not read tell whether it is
        // declared at all, and which names are (for a did-you-mean).
        let live = |base: String| match chosen {
            Some((_, env)) => env
                .projects
                .get(&base)
                .map_or(base, |(live, _)| live.clone()),
            None => base,
        };
        loaded.unread_projects = unread
            .iter()
            .filter_map(|(_, bytes)| yaml::heads(std::str::from_utf8(bytes).ok()?))
            .flatten()
            .filter(|head| head.kind.as_deref() == Some("Project"))
            .filter_map(|head| head.project().map(str::to_owned))
            .map(live)
            .collect();
    }
    loaded.environment = chosen.map(|(_, env)| env.name.clone());
    loaded.workspace = workspace.map(Box::new);
    loaded
}

/// What `pzctl validate` checks without `--env`: the base when there is no workspace file or
/// it declares no environment, else every environment (the base through each of them), with
/// each problem once; a problem that only some environments have names them.
#[must_use]
pub fn load_all(config: &LoadConfig) -> Loaded {
    load_all_in(Path::new(""), config)
}

/// [`load_all`], relative paths taken from `base` (see [`load_in`]).
#[must_use]
pub fn load_all_in(base: &Path, config: &LoadConfig) -> Loaded {
    load_all_selected_in(base, config, &[])
}

/// [`load_all`] for a run limited to `projects` (see [`load_selected`]).
#[must_use]
pub fn load_all_selected(config: &LoadConfig, projects: &[String]) -> Loaded {
    load_all_selected_in(Path::new(""), config, projects)
}

/// [`load_all_selected`], relative paths taken from `base` (see [`load_in`]).
#[must_use]
pub fn load_all_selected_in(base: &Path, config: &LoadConfig, projects: &[String]) -> Loaded {
    let loaded = load_selected_in(base, config, None, projects);
    let names: Vec<String> = match &loaded.workspace {
        Some(workspace) if !workspace.environments.is_empty() => {
            workspace.environments.keys().cloned().collect()
        }
        _ => return loaded,
    };
    let mut merged = Loaded {
        workspace: loaded.workspace,
        ..Loaded::default()
    };
    let mut found: Vec<(Diagnostic, Vec<String>)> = Vec::new();
    for name in &names {
        let one = load_selected_in(base, config, Some(name), projects);
        for diagnostic in one.diagnostics {
            match found.iter_mut().find(|(d, _)| *d == diagnostic) {
                Some((_, envs)) => envs.push(name.clone()),
                None => found.push((diagnostic, vec![name.clone()])),
            }
        }
        for file in one.files {
            if !merged.files.contains(&file) {
                merged.files.push(file);
            }
        }
        for file in one.skipped {
            if !merged.skipped.contains(&file) {
                merged.skipped.push(file);
            }
        }
        for folder in one.nested {
            if !merged.nested.contains(&folder) {
                merged.nested.push(folder);
            }
        }
        let texts: Vec<(String, String)> = one
            .sources
            .names()
            .filter_map(|name| Some((name.to_owned(), one.sources.get(name)?.to_owned())))
            .collect();
        for (name, text) in texts {
            merged.sources.insert(name, text);
        }
        merged.desired.projects.extend(one.desired.projects);
        merged.unread_projects.extend(one.unread_projects);
    }
    merged.diagnostics = found
        .into_iter()
        .map(|(mut diagnostic, envs)| {
            if envs.len() < names.len() {
                let shown: Vec<String> = envs
                    .iter()
                    .filter(|env| !diagnostic.message.contains(&format!("environment `{env}`")))
                    .map(|env| format!("`{env}`"))
                    .collect();
                if !shown.is_empty() {
                    diagnostic.message = format!(
                        "{} (in environment {})",
                        diagnostic.message,
                        shown.join(", ")
                    );
                }
            }
            diagnostic
        })
        .collect();
    merged.diagnostics.sort_by(|a, b| {
        (a.file(), a.line(), a.column(), a.code).cmp(&(b.file(), b.line(), b.column(), b.code))
    });
    // One warning about the default limits per run, not one per environment.
    let mut warned = false;
    merged
        .diagnostics
        .retain(|d| d.code != Code::DefaultLimit || !std::mem::replace(&mut warned, true));
    merged
}

/// The help line of an unknown environment name: the closest name, or every name.
#[must_use]
pub fn environment_help(workspace: &workspace::Workspace, name: &str) -> String {
    let names = workspace.names();
    match crate::diagnostic::suggest(name, names.iter().copied()) {
        Some(close) => format!("did you mean `{close}`?"),
        None if names.is_empty() => format!("`{}` declares no environment", workspace.file),
        None => format!(
            "environments: {}",
            crate::diagnostic::backticked(names.iter())
        ),
    }
}

/// The workspace file at the root of the first configured folder that has one, and the paths
/// the walk skips: every root's workspace file and every environment's overlay folders.
fn find_workspace(
    base: &Path,
    config: &LoadConfig,
    diagnostics: &mut Vec<Diagnostic>,
    sources: &mut Vec<(String, String)>,
    shown: &dyn Fn(&Path) -> String,
) -> (Option<workspace::Workspace>, Vec<PathBuf>) {
    let mut found: Option<workspace::Workspace> = None;
    let mut skip = Vec::new();
    for path in &config.paths {
        let folder = base.join(path);
        let file = folder.join(select::WORKSPACE_FILE);
        if !folder.is_dir() || !file.is_file() {
            continue;
        }
        skip.push(file.clone());
        let name = shown(&file);
        if let Some(first) = &found {
            diagnostics.push(no_place(
                Code::InvalidWorkspace,
                format!(
                    "`{name}` is a second workspace file; the manifests given are read with `{}`",
                    first.file
                ),
            ));
            continue;
        }
        let text = match std::fs::read(&file).map(String::from_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(_)) => {
                diagnostics.push(no_place(
                    Code::InvalidUtf8,
                    format!("`{name}` is not UTF-8 text"),
                ));
                continue;
            }
            Err(error) => {
                diagnostics.push(no_place(
                    Code::ReadError,
                    format!("cannot read `{name}`: {error}"),
                ));
                continue;
            }
        };
        let (workspace, mut problems) = workspace::read(&name, &folder, &text);
        diagnostics.append(&mut problems);
        sources.push((name, text));
        for env in workspace.environments.values() {
            for (overlay, _) in &env.overlays {
                skip.push(folder.join(overlay));
            }
        }
        found = Some(workspace);
    }
    (found, skip)
}

/// Load one environment: the base files patched by the overlay files, values filled in,
/// projects renamed, then checked and lowered like any manifests.
fn load_environment(
    workspace: &workspace::Workspace,
    env: &workspace::Env,
    inputs: Vec<Input>,
    overlays: Vec<Input>,
    selected: Option<&std::collections::BTreeSet<String>>,
) -> Loaded {
    let mut out = FileOut::default();
    let mut files = Vec::new();
    let mut base: Vec<(String, Option<overlay::Node>)> = Vec::new();
    for (name, bytes) in inputs {
        files.push(name.clone());
        for doc in parse_file(&name, bytes, &mut out, false) {
            base.push((name.clone(), Some(overlay::Node::from_document(&doc, None))));
        }
    }
    let declared: std::collections::BTreeSet<String> = base
        .iter()
        .filter_map(|(_, node)| node.as_ref().and_then(overlay::identity))
        .filter(|(kind, _, _)| kind == "Project")
        .map(|(_, _, name)| name)
        .collect();
    let mut added = Vec::new();
    for (name, bytes) in overlays {
        files.push(name.clone());
        for doc in parse_file(&name, bytes, &mut out, false) {
            if !doc.value.is_object() {
                check_document(&name, doc, Some(env), &mut out);
                continue;
            }
            let mut problems = Vec::new();
            let node = overlay::Node::from_document(&doc, Some(&name));
            let outcome = overlay::apply(
                &mut base,
                overlay::OverlayDoc {
                    file: name.clone(),
                    node,
                },
                &env.name,
                &mut problems,
            );
            for problem in problems {
                let mut d = file_diag(
                    &name,
                    Code::InvalidOverlay,
                    Severity::Error,
                    problem.message,
                    problem.pos,
                );
                d.help = problem.help;
                out.diagnostics.push(d);
            }
            if let Some(overlay::Outcome::Added(node)) = outcome {
                added.push((name.clone(), Some(node)));
            }
        }
    }
    for (project, (live, pos)) in &env.projects {
        // A run limited to some projects read only their files: the others' mappings are
        // checked by a run that reads them.
        let unread = selected.is_some_and(|names| !names.contains(project));
        if !declared.contains(project) && !unread {
            let help = crate::diagnostic::suggest(project, declared.iter().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"));
            let mut d = file_diag(
                &workspace.file,
                Code::InvalidWorkspace,
                Severity::Error,
                format!(
                    "environment `{}` maps project `{project}` to `{live}`, but no base `Project` document is named `{project}`",
                    env.name
                ),
                pos.clone(),
            );
            d.help = help;
            out.diagnostics.push(d);
        }
    }
    let mut live_names: BTreeMap<String, String> = BTreeMap::new();
    for project in &declared {
        let live = env
            .projects
            .get(project)
            .map_or(project.clone(), |(live, _)| live.clone());
        if let Some(other) = live_names.insert(live.clone(), project.clone()) {
            let pos = env
                .projects
                .get(project)
                .or_else(|| env.projects.get(&other))
                .map(|(_, pos)| pos.clone())
                .unwrap_or_default();
            out.diagnostics.push(file_diag(
                &workspace.file,
                Code::InvalidWorkspace,
                Severity::Error,
                format!(
                    "in environment `{}`, projects `{other}` and `{project}` both have the live name `{live}`",
                    env.name
                ),
                pos,
            ));
        }
    }
    for (name, node) in base.into_iter().chain(added) {
        let Some(node) = node else { continue };
        let mut doc = node.into_document();
        overlay::rename(&mut doc, &env.projects);
        check_document(&name, doc, Some(env), &mut out);
    }
    finish(files, vec![out], &workspace.limits)
}

/// Whether a parsed file belongs to another tool (a Kubernetes manifest, a GitHub workflow, a
/// users file): it has documents and none of them is pzctl's. A document is pzctl's when its
/// `apiVersion` starts with `pzctl/`, when it has no (text) `apiVersion` but one of pzctl's
/// kinds, or when it is a list of such documents (a mistake reported as `not-a-mapping`).
/// Foreign files are skipped whole, with one notice; inside a file of pzctl's every document
/// must be a pzctl manifest.
#[must_use]
pub fn is_foreign(documents: &[yaml::Document]) -> bool {
    fn ours(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => {
                match map.get("apiVersion").and_then(|v| v.as_str()) {
                    Some(version) => version.starts_with("pzctl/"),
                    None => map
                        .get("kind")
                        .and_then(|k| k.as_str())
                        .is_some_and(|kind| raw::KINDS.contains(&kind)),
                }
            }
            serde_json::Value::Array(items) => items.iter().any(ours),
            _ => false,
        }
    }
    !documents.is_empty() && !documents.iter().any(|doc| ours(&doc.value))
}

/// Load one in-memory file (tests, fuzzing).
#[must_use]
pub fn load_str(file: &str, text: &str) -> Loaded {
    load_inputs(vec![(file.to_owned(), text.as_bytes().to_vec())])
}

/// Stack size of the thread that parses: deep (but accepted) nesting recurses, and callers
/// may run on small-stack threads (tests, async runtimes).
const PARSE_STACK_BYTES: usize = 64 * 1024 * 1024;

/// One file to load: its displayed name and its bytes.
type Input = (String, Vec<u8>);

/// Below this many bytes in total, one worker thread is enough.
const PARALLEL_BYTES: usize = 256 * 1024;

/// No workspace file: the API's default limits.
static NO_LIMITS: workspace::Limits = workspace::Limits {
    file: None,
    declared: BTreeMap::new(),
};

/// Load in-memory files: `(displayed name, bytes)`.
#[must_use]
pub fn load_inputs(inputs: Vec<(String, Vec<u8>)>) -> Loaded {
    load_inputs_with(inputs, &NO_LIMITS)
}

/// [`load_inputs`], counts checked against the limits a workspace file declares.
fn load_inputs_with(inputs: Vec<(String, Vec<u8>)>, limits: &workspace::Limits) -> Loaded {
    let files: Vec<String> = inputs.iter().map(|(name, _)| name.clone()).collect();
    let bytes: usize = inputs.iter().map(|(_, b)| b.len()).sum();
    let workers = if bytes < PARALLEL_BYTES {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, 8)
            .min(inputs.len())
            .max(1)
    };
    // Contiguous chunks, so that merging them in order keeps the input order.
    let per_chunk = inputs.len().div_ceil(workers).max(1);
    let mut chunks: Vec<std::sync::Mutex<Vec<Input>>> = Vec::new();
    let mut inputs = inputs.into_iter().peekable();
    while inputs.peek().is_some() {
        chunks.push(std::sync::Mutex::new(
            inputs.by_ref().take(per_chunk).collect(),
        ));
    }
    let outs: Vec<FileOut> = std::thread::scope(|scope| {
        let jobs: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let job = move || {
                    let taken = chunk
                        .lock()
                        .map(|mut guard| std::mem::take(&mut *guard))
                        .unwrap_or_default();
                    let mut out = FileOut::default();
                    for (name, bytes) in taken {
                        process_file(name, bytes, &mut out);
                    }
                    out
                };
                let spawned = std::thread::Builder::new()
                    .name("pzctl-load".to_owned())
                    .stack_size(PARSE_STACK_BYTES)
                    .spawn_scoped(scope, job);
                (spawned, job)
            })
            .collect();
        jobs.into_iter()
            .map(|(spawned, job)| match spawned {
                Ok(handle) => handle.join().unwrap_or_else(|_| FileOut {
                    diagnostics: vec![no_place(
                        Code::Internal,
                        "loading the manifests crashed; this is a bug in pzctl".to_owned(),
                    )],
                    ..FileOut::default()
                }),
                // No thread: work here (the chunk was not taken).
                Err(_) => job(),
            })
            .collect()
    });
    finish(files, outs, limits)
}

/// Lower what the files contributed (in input order) and sort the diagnostics.
fn finish(files: Vec<String>, outs: Vec<FileOut>, limits: &workspace::Limits) -> Loaded {
    let mut diagnostics = Vec::new();
    let mut sources = Sources::default();
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    let mut unreadable = std::collections::BTreeSet::new();
    let mut consequences = std::collections::BTreeSet::new();
    for out in outs {
        unreadable.extend(out.unreadable);
        consequences.extend(out.consequences);
        diagnostics.extend(out.diagnostics);
        items.extend(out.items);
        skipped.extend(out.skipped);
        for (name, text) in out.sources {
            sources.insert(name, text);
        }
    }
    let (desired, mut meaning) = lower::lower_with(&items, unreadable, limits);
    meaning.retain(|d| {
        let place = (
            d.file().unwrap_or_default().to_owned(),
            d.line().unwrap_or(0),
            d.column().unwrap_or(0),
        );
        !consequences.contains(&place)
    });
    diagnostics.append(&mut meaning);
    diagnostics.sort_by(|a, b| {
        (a.file(), a.line(), a.column(), a.code).cmp(&(b.file(), b.line(), b.column(), b.code))
    });
    let files = files
        .into_iter()
        .filter(|file| !skipped.contains(file))
        .collect();
    Loaded {
        desired,
        diagnostics,
        sources,
        files,
        skipped,
        workspace: None,
        environment: None,
        nested: Vec::new(),
        unread_projects: std::collections::BTreeSet::new(),
    }
}

/// What one file contributed.
#[derive(Default)]
struct FileOut {
    diagnostics: Vec<Diagnostic>,
    items: Vec<lower::Item>,
    sources: Vec<(String, std::sync::Arc<str>)>,
    skipped: Vec<String>,
    /// The `name:` values of a file whose YAML could not be parsed.
    unreadable: Vec<String>,
    /// Places (file, line, column) where a meaning problem would only repeat a schema error:
    /// at a wrong value left out of a document, or at the node that held it.
    consequences: Vec<(String, usize, usize)>,
}

/// Read, parse and schema-check one file. Its documents find their positions only when a
/// problem needs one ([`yaml::parse_lazy`]).
fn process_file(name: String, bytes: Vec<u8>, out: &mut FileOut) {
    for doc in parse_file(&name, bytes, out, true) {
        check_document(&name, doc, None, out);
    }
}

/// Read and parse one file: its documents (none when it is too large, not UTF-8 or another
/// tool's), its text remembered in `out.sources`. `lazy`: without a span map per document
/// (see [`yaml::parse_lazy`]).
fn parse_file(name: &str, bytes: Vec<u8>, out: &mut FileOut, lazy: bool) -> Vec<yaml::Document> {
    let name = name.to_owned();
    let start = yaml::Pos {
        line: 1,
        column: 1,
        offset: 0,
        len: 0,
        file: None,
    };
    if bytes.len() > MAX_FILE_BYTES {
        out.diagnostics.push(file_diag(
            &name,
            Code::FileTooLarge,
            Severity::Error,
            format!(
                "file is {} bytes; manifest files may be at most {MAX_FILE_BYTES} bytes (8 MiB)",
                bytes.len()
            ),
            start,
        ));
        return Vec::new();
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let column = valid.iter().rev().take_while(|b| **b != b'\n').count() + 1;
            out.diagnostics.push(file_diag(
                &name,
                Code::InvalidUtf8,
                Severity::Error,
                format!(
                    "file is not UTF-8 text (invalid byte at offset {}); is it a binary file?",
                    valid.len()
                ),
                yaml::Pos {
                    line,
                    column,
                    offset: 0,
                    len: 0,
                    file: None,
                },
            ));
            return Vec::new();
        }
    };
    let text: std::sync::Arc<str> = std::sync::Arc::from(text);
    let (documents, problems) = if lazy {
        yaml::parse_lazy(&text)
    } else {
        yaml::parse(&text)
    };
    if is_foreign(&documents) {
        out.skipped.push(name);
        return Vec::new();
    }
    out.sources.push((name.clone(), text));
    for problem in problems {
        let code = match problem.kind {
            yaml::YamlProblemKind::Syntax => Code::YamlSyntax,
            yaml::YamlProblemKind::DuplicateKey => Code::DuplicateKey,
            yaml::YamlProblemKind::Budget => Code::YamlLimit,
        };
        let mut d = file_diag(&name, code, Severity::Error, problem.message, problem.pos);
        d.help = problem.help;
        if code == Code::YamlLimit {
            d.help = Some(format!(
                "manifests may nest at most {} levels and may not expand aliases without bound",
                yaml::MAX_DEPTH
            ));
        }
        out.diagnostics.push(d);
    }
    let had_error = out.diagnostics.iter().any(|d| {
        d.file() == Some(name.as_str()) && matches!(d.code, Code::YamlSyntax | Code::YamlLimit)
    });
    if had_error {
        out.unreadable = out
            .sources
            .last()
            .map(|(_, text)| written_names(text))
            .unwrap_or_default();
    }
    if documents.is_empty() && !had_error {
        out.diagnostics.push(file_diag(
            &name,
            Code::EmptyFile,
            Severity::Warning,
            "file holds no YAML document".to_owned(),
            start,
        ));
    }
    documents
}

/// Check one parsed document (placeholders, schema) and keep it for lowering. `env` provides
/// the values of `${values.NAME}`; without it every placeholder is unresolved.
fn check_document(
    name: &str,
    mut doc: yaml::Document,
    env: Option<&workspace::Env>,
    out: &mut FileOut,
) {
    let name = name.to_owned();
    if !doc.value.is_object() {
        let what = match &doc.value {
            serde_json::Value::Array(_) => "a list",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Null => "empty",
            _ => "a scalar",
        };
        let mut d = file_diag(
            &name,
            Code::NotAMapping,
            Severity::Error,
            format!(
                "a manifest document must be a mapping with `apiVersion`, `kind`, `metadata` and `spec`; this one is {what}"
            ),
            doc.start,
        );
        d.help = Some("separate documents with `---`".to_owned());
        out.diagnostics.push(d);
        return;
    }
    if doc.value.get("apiVersion").is_none() && doc.value.get("kind").is_none() {
        let mut d = file_diag(
            &name,
            Code::NotAManifest,
            Severity::Error,
            "this document has neither `apiVersion` nor `kind`, in a file of pzctl manifests"
                .to_owned(),
            doc.start,
        );
        d.help = Some(format!(
            "start it with `apiVersion: {}` and `kind:`, or move it to a file of its own",
            raw::API_VERSION
        ));
        out.diagnostics.push(d);
        return;
    }
    if doc.value.get("kind").and_then(|k| k.as_str()) == Some("Workspace") {
        let mut d = file_diag(
            &name,
            Code::InvalidWorkspace,
            Severity::Error,
            format!(
                "a `Workspace` document is read only from `{}` at the root of the manifest tree",
                select::WORKSPACE_FILE
            ),
            doc.key_pos("/kind"),
        );
        d.help = Some(format!(
            "move it to `{}` in the folder given to pzctl",
            select::WORKSPACE_FILE
        ));
        out.diagnostics.push(d);
        return;
    }
    let mut placeholders = Vec::new();
    for problem in overlay::resolve(&mut doc, env) {
        let code = if problem.mistyped {
            Code::MistypedValue
        } else {
            Code::UnresolvedValue
        };
        let problem = problem.problem;
        let mut d = file_diag(&name, code, Severity::Error, problem.message, problem.pos);
        d.help = problem.help;
        placeholders.push(d.location.clone().map(|l| (l.file, l.line, l.column)));
        out.diagnostics.push(d);
    }
    let mut checked = schema::check(&name, &doc);
    // A placeholder left unresolved is the problem at its place, not the text's type.
    checked.diagnostics.retain(|d| {
        !placeholders.contains(&d.location.clone().map(|l| (l.file, l.line, l.column)))
    });
    let typed = if checked.diagnostics.is_empty() && !placeholders.is_empty() {
        // The placeholder's text stands where a value of another type belongs.
        typed(&doc.value).ok()
    } else if checked.diagnostics.is_empty() {
        match typed(&doc.value) {
            Ok(typed) => Some(typed),
            Err(message) => {
                out.diagnostics.push(file_diag(
                    &name,
                    Code::Internal,
                    Severity::Error,
                    format!("the document passed the schema but could not be read: {message}; this is a bug in pzctl"),
                    doc.start.clone(),
                ));
                None
            }
        }
    } else if checked.only_unknown_fields {
        // A typo should not hide the meaning problems: check the rest of the document.
        let mut value = doc.value.clone();
        for pointer in checked.unknown_fields.iter().rev() {
            remove_pointer(&mut value, pointer);
        }
        typed(&value).ok()
    } else if checked.only_removable {
        // A wrong value should not hide the others either: without the unknown fields and
        // the wrong values, a document that passes the schema is checked for meaning. What
        // lowering then says at a removed value or the node holding it (a variant without
        // its wrong `traffic` has none) follows from the schema error, and is left out.
        let mut value = doc.value.clone();
        let mut pointers: Vec<&String> = checked
            .unknown_fields
            .iter()
            .chain(&checked.wrong_values)
            .collect();
        // Deepest and last list items first, so removing one moves no other.
        pointers.sort_by_key(|pointer| std::cmp::Reverse(pointer_key(pointer)));
        pointers.dedup();
        for pointer in pointers {
            remove_pointer(&mut value, pointer);
            let parent = pointer.rsplit_once('/').map_or("", |(parent, _)| parent);
            for at in [pointer.as_str(), parent] {
                for pos in [doc.pos(at), doc.key_pos(at)] {
                    out.consequences.push((name.clone(), pos.line, pos.column));
                }
            }
        }
        crate::schema::is_valid(&value)
            .then(|| typed(&value).ok())
            .flatten()
    } else {
        None
    };
    let schema_diags = checked.diagnostics;
    out.diagnostics.extend(schema_diags);
    if typed.is_some() {
        // Lowering reads the typed document, not the value.
        doc.value = serde_json::Value::Null;
    }
    out.items.push(lower::Item {
        file: name.clone(),
        doc,
        typed,
    });
}

/// Remove the value at a JSON pointer, if there is one (a key of a mapping, an item of a list).
fn remove_pointer(value: &mut serde_json::Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(serde_json::Value::Object(map)) => {
            map.remove(&key);
        }
        Some(serde_json::Value::Array(items)) => {
            if let Ok(index) = key.parse::<usize>()
                && index < items.len()
            {
                items.remove(index);
            }
        }
        _ => {}
    }
}

/// The values of `name:` and `project:` keys in a text that is not valid YAML, read line by
/// line (block or flow style), for telling references to what it declares from dangling ones.
fn written_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        for key in ["name:", "project:"] {
            let mut rest = line;
            while let Some(at) = rest.find(key) {
                let before = rest[..at].chars().next_back();
                let value = &rest[at + key.len()..];
                rest = value;
                if before.is_some_and(|c| !matches!(c, ' ' | '\t' | '{' | ',' | '-')) {
                    continue;
                }
                let value = value
                    .split([',', '}', '#'])
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .trim_matches(['"', '\'']);
                if !value.is_empty() {
                    names.push(value.to_owned());
                }
            }
        }
    }
    names
}

/// A pointer's segments, list indices compared as numbers.
fn pointer_key(pointer: &str) -> Vec<(u8, usize, String)> {
    pointer
        .split('/')
        .map(|segment| match segment.parse::<usize>() {
            Ok(index) => (1, index, String::new()),
            Err(_) => (0, 0, segment.to_owned()),
        })
        .collect()
}

fn typed(value: &serde_json::Value) -> Result<lower::Typed, String> {
    use lower::Typed;
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default();
    use serde::Deserialize;
    let result = match kind {
        "Project" => raw::ProjectDocument::deserialize(value).map(Typed::Project),
        "Attribute" => raw::AttributeDocument::deserialize(value).map(Typed::Attribute),
        "Event" => raw::EventDocument::deserialize(value).map(Typed::Event),
        "Audience" => raw::AudienceDocument::deserialize(value).map(Typed::Audience),
        "Experience" => raw::ExperienceDocument::deserialize(value).map(Typed::Experience),
        other => return Err(format!("unknown kind `{other}`")),
    };
    result.map_err(|e| e.to_string())
}
