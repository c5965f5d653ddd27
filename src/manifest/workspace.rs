//! The workspace file: an optional `pzctl.yaml` (`kind: Workspace`) at the root of a manifest
//! tree. It declares the tree's environments (for each, the live project name of every base
//! project, its overlay folders and its typed values) and the organization's limits where they
//! were raised above the API's defaults.
//!
//! Invariant: the workspace file is never loaded as a manifest; a `Workspace` document
//! anywhere else is an error. Reading it never panics: every problem is a diagnostic at its
//! file, line and column.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::raw::ApiVersion;
use super::yaml::{self, Document, Pos};
use super::{file_diag, select::WORKSPACE_FILE};
use crate::diagnostic::{Code, Diagnostic, Severity};

/// The committed schema of the workspace file.
pub const COMMITTED: &str = include_str!("../../schemas/workspace.schema.json");

/// File name of the workspace schema inside `schemas/`.
pub const SCHEMA_FILE: &str = "workspace.schema.json";

/// Pattern of environment names and value names.
pub const NAME_PATTERN: &str = "^[A-Za-z][A-Za-z0-9_-]{0,63}$";

/// Pattern of a stack key (a Contentstack stack's API key).
pub const STACK_KEY_PATTERN: &str = "^blt[0-9A-Za-z]{16}$";

/// The document kind of the workspace file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WorkspaceKind {
    /// The settings of a manifest tree.
    Workspace,
}

/// The workspace file `pzctl.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "Workspace")]
pub struct WorkspaceDocument {
    /// The manifest format version; always `pzctl/v1`.
    pub api_version: ApiVersion,
    /// The document kind.
    pub kind: WorkspaceKind,
    /// The environments the manifests are applied to, by name (`--env NAME`). Each one is the
    /// base manifests, patched by its overlays, with its values filled in and its projects
    /// renamed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": NAME_PATTERN}))]
    pub environments: BTreeMap<String, Environment>,
    /// The organization's limits, where they were raised above the API's defaults (on request
    /// to Contentstack). Manifests that exceed a declared limit are an error; manifests that
    /// exceed a default limit not declared here give one warning.
    #[serde(default, skip_serializing_if = "LimitsDocument::is_empty")]
    #[schemars(example = serde_json::json!({"projects": 25, "experiences": 300}))]
    pub limits: LimitsDocument,
}

/// The organization's raised limits, as written in `pzctl.yaml`. Each is at least the API's
/// default and at most what the API grants on request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsDocument {
    /// Projects in the organization (default 3, up to 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 3, max = 100))]
    pub projects: Option<u32>,
    /// Experiences in a project (default 100, up to 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 1000))]
    pub experiences: Option<u32>,
    /// Audiences in a project (default 100, up to 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 1000))]
    pub audiences: Option<u32>,
    /// Custom attributes in a project (default 100, up to 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 1000))]
    pub attributes: Option<u32>,
    /// Events in a project (default 100, up to 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 1000))]
    pub events: Option<u32>,
    /// Variants in an experience (default 20, up to 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 20, max = 50))]
    pub variants: Option<u32>,
    /// Rules (conditions) in an audience (default 50, up to 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 50, max = 100))]
    pub rules: Option<u32>,
}

impl LimitsDocument {
    fn is_empty(&self) -> bool {
        *self == LimitsDocument::default()
    }

    fn get(&self, limit: Limit) -> Option<u32> {
        match limit {
            Limit::Projects => self.projects,
            Limit::Experiences => self.experiences,
            Limit::Audiences => self.audiences,
            Limit::Attributes => self.attributes,
            Limit::Events => self.events,
            Limit::Variants => self.variants,
            Limit::Rules => self.rules,
        }
    }
}

/// One of the API's raisable limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Limit {
    Projects,
    Experiences,
    Audiences,
    Attributes,
    Events,
    Variants,
    Rules,
}

impl Limit {
    /// Every limit, in the order `pzctl.yaml` lists them.
    pub const ALL: [Limit; 7] = [
        Limit::Projects,
        Limit::Experiences,
        Limit::Audiences,
        Limit::Attributes,
        Limit::Events,
        Limit::Variants,
        Limit::Rules,
    ];

    /// Its key under `limits:` in `pzctl.yaml`.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Limit::Projects => "projects",
            Limit::Experiences => "experiences",
            Limit::Audiences => "audiences",
            Limit::Attributes => "attributes",
            Limit::Events => "events",
            Limit::Variants => "variants",
            Limit::Rules => "rules",
        }
    }

    /// What is counted, in the plural ("conditions" for rules: nested groups count what they
    /// hold).
    #[must_use]
    pub fn noun(self) -> &'static str {
        match self {
            Limit::Rules => "conditions",
            other => other.key(),
        }
    }

    /// Where it is counted: "in the organization", "in a project", ...
    #[must_use]
    pub fn scope(self) -> &'static str {
        match self {
            Limit::Projects => "in the organization",
            Limit::Variants => "in an experience",
            Limit::Rules => "in an audience",
            _ => "in a project",
        }
    }

    /// The API's default.
    #[must_use]
    pub fn default_value(self) -> usize {
        use crate::wire::limits;
        match self {
            Limit::Projects => limits::PROJECTS_PER_ORG,
            Limit::Experiences => limits::EXPERIENCES_PER_PROJECT,
            Limit::Audiences => limits::AUDIENCES_PER_PROJECT,
            Limit::Attributes => limits::ATTRIBUTES_PER_PROJECT,
            Limit::Events => limits::EVENTS_PER_PROJECT,
            Limit::Variants => limits::VARIANTS_PER_EXPERIENCE,
            Limit::Rules => limits::RULES_PER_AUDIENCE,
        }
    }

    /// The most the API grants on request.
    #[must_use]
    pub fn maximum(self) -> usize {
        match self {
            Limit::Projects => 100,
            Limit::Variants => 50,
            Limit::Rules => 100,
            _ => 1000,
        }
    }
}

/// The limits a workspace file declares, with where each is written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    /// The workspace file, as displayed (`None`: there is none).
    pub file: Option<String>,
    /// The declared value of each raised limit and the position of its key.
    pub declared: BTreeMap<Limit, (usize, Pos)>,
}

impl Limits {
    /// The declared value of `limit` and where it is written, if `pzctl.yaml` declares it.
    #[must_use]
    pub fn declared(&self, limit: Limit) -> Option<(usize, &Pos)> {
        self.declared.get(&limit).map(|(value, pos)| (*value, pos))
    }
}

/// One environment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// The live project name of base projects, by base project name (the `metadata.name` of a
    /// `Project` document). A base project not listed keeps its name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(example = serde_json::json!({"storefront": "storefront-staging"}))]
    pub projects: BTreeMap<String, String>,
    /// Folders, relative to `pzctl.yaml`, whose manifests patch, add to or remove from the
    /// base documents in this environment. The base never reads them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(example = vec!["environments/staging"])]
    pub overlays: Vec<String>,
    /// Values that manifests use as `${values.NAME}` (the whole YAML value), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": NAME_PATTERN}))]
    #[schemars(example = serde_json::json!({"stack": {"type": "stackKey", "value": "blt0123456789abcdef"}}))]
    pub values: BTreeMap<String, Value>,
}

/// A typed value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Value {
    /// The value's type, checked here and where it is used.
    #[serde(rename = "type")]
    pub kind: ValueType,
    /// The value itself, of the declared type.
    pub value: serde_json::Value,
}

/// The type of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ValueType {
    /// Text.
    String,
    /// The API key of a Contentstack stack (`blt` and 16 letters or digits); the only type
    /// `spec.stack` accepts.
    StackKey,
    /// A whole number.
    Integer,
    /// A list of texts (tags, metrics, audiences).
    List,
}

impl ValueType {
    /// The type's name as written in `pzctl.yaml`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::StackKey => "stackKey",
            ValueType::Integer => "integer",
            ValueType::List => "list",
        }
    }
}

/// A value of an environment, checked against its type, with where it was declared.
#[derive(Clone, Debug, PartialEq)]
pub struct TypedValue {
    pub kind: ValueType,
    pub value: serde_json::Value,
    /// Where `value:` is, in the workspace file.
    pub pos: Pos,
}

/// One environment, read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Env {
    pub name: String,
    /// Live project name by base project name, with where each mapping is written.
    pub projects: BTreeMap<String, (String, Pos)>,
    /// Overlay folders, relative to the workspace folder, with where each is written.
    pub overlays: Vec<(String, Pos)>,
    /// Values that passed their type check (a mistyped value is left out, so its uses report
    /// it as undefined in addition to its declaration's error; see `mistyped`).
    pub values: BTreeMap<String, TypedValue>,
    /// Names of values whose declaration is mistyped: their uses are not reported again.
    pub mistyped: Vec<String>,
}

/// The workspace file, read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Workspace {
    /// The file's name as displayed in diagnostics.
    pub file: String,
    /// The folder holding it (overlay folders are relative to it).
    pub folder: std::path::PathBuf,
    /// By name.
    pub environments: BTreeMap<String, Env>,
    /// The organization's limits it declares.
    pub limits: Limits,
}

impl Workspace {
    /// The environment names, sorted.
    #[must_use]
    pub fn names(&self) -> Vec<&str> {
        self.environments.keys().map(String::as_str).collect()
    }

    /// The live project name of each base project in environment `env` (empty for an
    /// unknown one).
    #[must_use]
    pub fn live_names(&self, env: &str) -> BTreeMap<String, String> {
        self.environments
            .get(env)
            .map(|env| {
                env.projects
                    .iter()
                    .map(|(base, (live, _))| (base.clone(), live.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Read the workspace file: its text, as displayed under `file`, in `folder`. Always returns
/// a workspace (empty when the file is unusable) and every problem.
#[must_use]
pub fn read(file: &str, folder: &std::path::Path, text: &str) -> (Workspace, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut workspace = Workspace {
        file: file.to_owned(),
        folder: folder.to_path_buf(),
        environments: BTreeMap::new(),
        limits: Limits {
            file: Some(file.to_owned()),
            declared: BTreeMap::new(),
        },
    };
    let start = Pos {
        line: 1,
        column: 1,
        ..Pos::default()
    };
    let (documents, problems) = yaml::parse(text);
    for problem in problems {
        let code = match problem.kind {
            yaml::YamlProblemKind::Syntax => Code::YamlSyntax,
            yaml::YamlProblemKind::DuplicateKey => Code::DuplicateKey,
            yaml::YamlProblemKind::Budget => Code::YamlLimit,
        };
        let mut d = file_diag(file, code, Severity::Error, problem.message, problem.pos);
        d.help = problem.help;
        diagnostics.push(d);
    }
    if !diagnostics.is_empty() {
        return (workspace, diagnostics);
    }
    let mut documents = documents.into_iter();
    let Some(doc) = documents.next() else {
        diagnostics.push(invalid(
            file,
            format!("`{WORKSPACE_FILE}` holds no document; it needs `apiVersion: pzctl/v1` and `kind: Workspace`"),
            start,
            None,
        ));
        return (workspace, diagnostics);
    };
    if let Some(extra) = documents.next() {
        diagnostics.push(invalid(
            file,
            format!("`{WORKSPACE_FILE}` holds one document, the workspace; this is a second one"),
            extra.start,
            Some("move manifests into files of their own".to_owned()),
        ));
    }
    if doc.value.get("kind").and_then(serde_json::Value::as_str) != Some("Workspace") {
        diagnostics.push(invalid(
            file,
            format!(
                "`{WORKSPACE_FILE}` at the root of a manifest tree is the workspace file, so its document must be `kind: Workspace`"
            ),
            doc.key_pos("/kind"),
            Some("rename the file if it holds manifests".to_owned()),
        ));
        return (workspace, diagnostics);
    }
    let schema = check_schema(file, &doc);
    if !schema.is_empty() {
        diagnostics.extend(schema);
        return (workspace, diagnostics);
    }
    let typed = match WorkspaceDocument::deserialize(&doc.value) {
        Ok(typed) => typed,
        Err(error) => {
            diagnostics.push(file_diag(
                file,
                Code::Internal,
                Severity::Error,
                format!("the workspace passed the schema but could not be read: {error}; this is a bug in pzctl"),
                doc.start.clone(),
            ));
            return (workspace, diagnostics);
        }
    };
    for limit in Limit::ALL {
        if let Some(value) = typed.limits.get(limit) {
            let pos = doc.key_pos(&format!("/limits/{}", limit.key()));
            workspace.limits.declared.insert(
                limit,
                (
                    usize::try_from(value).unwrap_or(usize::MAX),
                    Pos {
                        file: Some(std::sync::Arc::from(file)),
                        ..pos
                    },
                ),
            );
        }
    }
    for (name, environment) in typed.environments {
        let base = format!("/environments/{}", yaml::escape(&name));
        let mut env = Env {
            name: name.clone(),
            ..Env::default()
        };
        for (project, live) in environment.projects {
            let pointer = format!("{base}/projects/{}", yaml::escape(&project));
            env.projects.insert(project, (live, doc.key_pos(&pointer)));
        }
        for (i, folder) in environment.overlays.into_iter().enumerate() {
            let pos = doc.pos(&format!("{base}/overlays/{i}"));
            let path = std::path::Path::new(&folder);
            if path.is_absolute()
                || path
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                diagnostics.push(invalid(
                    file,
                    format!("overlay folder `{folder}` must be a folder inside the workspace, relative to `{WORKSPACE_FILE}`"),
                    pos,
                    None,
                ));
                continue;
            }
            if !workspace.folder.join(&folder).is_dir() {
                diagnostics.push(invalid(
                    file,
                    format!("overlay folder `{folder}` of environment `{name}` does not exist"),
                    pos,
                    Some(format!(
                        "create it, relative to `{WORKSPACE_FILE}`, or remove it from `overlays`"
                    )),
                ));
                continue;
            }
            env.overlays.push((folder, pos));
        }
        for (value_name, value) in environment.values {
            let pointer = format!("{base}/values/{}/value", yaml::escape(&value_name));
            let pos = doc.pos(&pointer);
            match type_problem(value.kind, &value.value) {
                None => {
                    env.values.insert(
                        value_name,
                        TypedValue {
                            kind: value.kind,
                            value: value.value,
                            pos: Pos {
                                file: Some(std::sync::Arc::from(file)),
                                ..pos
                            },
                        },
                    );
                }
                Some(problem) => {
                    diagnostics.push(
                        file_diag(
                            file,
                            Code::MistypedValue,
                            Severity::Error,
                            format!(
                                "value `{value_name}` of environment `{name}` is declared `{}` but {problem}",
                                value.kind.as_str()
                            ),
                            pos,
                        ),
                    );
                    env.mistyped.push(value_name);
                }
            }
        }
        workspace.environments.insert(name, env);
    }
    diagnostics.sort_by_key(|d| (d.line(), d.column()));
    (workspace, diagnostics)
}

/// Why `value` is not of type `kind`, if it is not.
fn type_problem(kind: ValueType, value: &serde_json::Value) -> Option<String> {
    use serde_json::Value as V;
    let found = match value {
        V::Null => "empty",
        V::Bool(_) => "a boolean",
        V::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        V::Number(_) => "a number",
        V::String(_) => "a text",
        V::Array(_) => "a list",
        V::Object(_) => "a mapping",
    };
    match (kind, value) {
        (ValueType::String, V::String(text)) => placeholder_in(text),
        (ValueType::StackKey, V::String(text)) => {
            if is_stack_key(text) {
                None
            } else {
                Some(format!(
                    "`{text}` is not a stack key (`blt` and 16 letters or digits)"
                ))
            }
        }
        (ValueType::Integer, V::Number(n)) if n.is_i64() || n.is_u64() => None,
        (ValueType::List, V::Array(items)) => items.iter().find_map(|item| match item {
            V::String(text) => placeholder_in(text),
            _ => Some("its items must all be texts".to_owned()),
        }),
        _ => Some(format!("is {found}")),
    }
}

/// Values hold no placeholders: they are filled in once, never recursively.
fn placeholder_in(text: &str) -> Option<String> {
    text.contains("${")
        .then(|| "holds `${`; values cannot refer to other values".to_owned())
}

/// Whether `text` matches [`STACK_KEY_PATTERN`].
#[must_use]
pub fn is_stack_key(text: &str) -> bool {
    text.strip_prefix("blt")
        .is_some_and(|rest| rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn invalid(file: &str, message: String, pos: Pos, help: Option<String>) -> Diagnostic {
    let mut d = file_diag(file, Code::InvalidWorkspace, Severity::Error, message, pos);
    d.help = help;
    d
}

/// Validate the workspace document against the committed workspace schema.
fn check_schema(file: &str, doc: &Document) -> Vec<Diagnostic> {
    static CELL: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    let validator = CELL.get_or_init(|| {
        let schema: serde_json::Value = serde_json::from_str(COMMITTED)
            .map_err(|e| format!("the embedded workspace schema is not JSON: {e}"))?;
        jsonschema::draft202012::new(&schema)
            .map_err(|e| format!("the embedded workspace schema does not compile: {e}"))
    });
    match validator {
        Ok(validator) => super::schema::check_with(file, doc, Some("Workspace"), validator),
        Err(message) => vec![file_diag(
            file,
            Code::Internal,
            Severity::Error,
            format!("{message}; this is a bug in pzctl"),
            doc.start.clone(),
        )],
    }
}

#[cfg(test)]
mod tests {
    use crate::manifest::{LoadConfig, load_env_in};

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (path, text) in files {
            let path = dir.path().join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(path, text).expect("write");
        }
        dir
    }

    fn load(dir: &tempfile::TempDir, env: Option<&str>) -> crate::manifest::Loaded {
        let config = LoadConfig {
            paths: vec![".".into()],
            ..LoadConfig::default()
        };
        load_env_in(dir.path(), &config, env)
    }

    fn found(loaded: &crate::manifest::Loaded) -> Vec<String> {
        loaded
            .diagnostics
            .iter()
            .map(|d| format!("{} {} {}", d.code.as_str(), d.location(), d.message))
            .collect()
    }

    const PROJECT: &str = "apiVersion: pzctl/v1\nkind: Project\nmetadata:\n  name: shop\nspec:\n  stack: ${values.stack}\n";

    #[test]
    fn declared_types_are_checked_and_mistyped_uses_are_not_reported_twice() {
        let dir = tree(&[
            (
                "pzctl.yaml",
                "apiVersion: pzctl/v1\nkind: Workspace\nenvironments:\n  dev:\n    values:\n      stack: {type: stackKey, value: main}\n      n: {type: integer, value: '3'}\n      l: {type: list, value: [a, 1]}\n",
            ),
            ("project.yaml", PROJECT),
        ]);
        let loaded = load(&dir, Some("dev"));
        assert_eq!(
            found(&loaded),
            [
                "mistyped-value pzctl.yaml:6:38 value `stack` of environment `dev` is declared `stackKey` but `main` is not a stack key (`blt` and 16 letters or digits)",
                "mistyped-value pzctl.yaml:7:33 value `n` of environment `dev` is declared `integer` but is a text",
                "mistyped-value pzctl.yaml:8:30 value `l` of environment `dev` is declared `list` but its items must all be texts",
            ]
        );
    }

    #[test]
    fn workspace_problems_are_reported_where_they_are_written() {
        let dir = tree(&[
            (
                "pzctl.yaml",
                "apiVersion: pzctl/v1\nkind: Workspace\nenvironments:\n  dev:\n    projects: {shp: shop-dev}\n    overlays: [missing, ../out]\n    valeus: {}\n",
            ),
            (
                "project.yaml",
                "apiVersion: pzctl/v1\nkind: Project\nmetadata:\n  name: shop\nspec: {}\n",
            ),
            (
                "sub/settings.yaml",
                "apiVersion: pzctl/v1\nkind: Workspace\n",
            ),
        ]);
        let loaded = load(&dir, None);
        let problems = found(&loaded);
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0].starts_with("unknown-field pzctl.yaml:7:5"),
            "{problems:#?}"
        );
        assert!(
            problems[1].starts_with("invalid-workspace sub/settings.yaml:2:1"),
            "{problems:#?}"
        );
        std::fs::write(
            dir.path().join("pzctl.yaml"),
            "apiVersion: pzctl/v1\nkind: Workspace\nenvironments:\n  dev:\n    projects: {shp: shop-dev}\n    overlays: [missing, ../out]\n",
        )
        .expect("write");
        std::fs::remove_file(dir.path().join("sub/settings.yaml")).expect("rm");
        let loaded = load(&dir, Some("dev"));
        let problems = found(&loaded);
        assert_eq!(
            problems,
            [
                "invalid-workspace pzctl.yaml:6:16 overlay folder `missing` of environment `dev` does not exist",
                "invalid-workspace pzctl.yaml:6:25 overlay folder `../out` must be a folder inside the workspace, relative to `pzctl.yaml`",
                "invalid-workspace pzctl.yaml:5:16 environment `dev` maps project `shp` to `shop-dev`, but no base `Project` document is named `shp`",
            ]
        );
        assert_eq!(
            loaded.diagnostics[2].help.as_deref(),
            Some("did you mean `shop`?")
        );
    }

    #[test]
    fn an_unknown_environment_or_none_at_all_is_an_error() {
        let dir = tree(&[
            (
                "pzctl.yaml",
                "apiVersion: pzctl/v1\nkind: Workspace\nenvironments:\n  staging: {}\n  production: {}\n",
            ),
            (
                "project.yaml",
                "apiVersion: pzctl/v1\nkind: Project\nmetadata:\n  name: shop\nspec: {}\n",
            ),
        ]);
        let loaded = load(&dir, Some("stagign"));
        assert_eq!(
            found(&loaded),
            ["invalid-workspace - `--env stagign`: `pzctl.yaml` declares no environment `stagign`"]
        );
        assert_eq!(
            loaded.diagnostics[0].help.as_deref(),
            Some("did you mean `staging`?")
        );
        let bare = tree(&[(
            "project.yaml",
            "apiVersion: pzctl/v1\nkind: Project\nmetadata:\n  name: shop\nspec: {}\n",
        )]);
        assert!(found(&load(&bare, Some("staging")))[0].contains("there is no workspace file"));
        assert!(found(&load(&bare, None)).is_empty());
    }

    fn projects(count: usize) -> String {
        (0..count)
            .map(|i| format!("apiVersion: pzctl/v1\nkind: Project\nmetadata:\n  name: p{i}\n"))
            .collect::<Vec<_>>()
            .join("---\n")
    }

    fn codes(loaded: &crate::manifest::Loaded) -> Vec<&'static str> {
        loaded.diagnostics.iter().map(|d| d.code.as_str()).collect()
    }

    #[test]
    fn the_default_limit_warns_once_per_run_even_in_every_environment() {
        let dir = tree(&[
            (
                "pzctl.yaml",
                "apiVersion: pzctl/v1\nkind: Workspace\nenvironments:\n  staging:\n    projects: {p0: p0-staging}\n  production: {}\n",
            ),
            ("a.yaml", &projects(3)),
            ("b.yaml", &projects(6).split_off(projects(3).len() + 4)),
        ]);
        let loaded = crate::manifest::load_all_in(
            dir.path(),
            &LoadConfig {
                paths: vec![".".into()],
                ..LoadConfig::default()
            },
        );
        assert_eq!(
            codes(&loaded),
            ["default-limit"],
            "{:#?}",
            loaded.diagnostics
        );
        let warning = &loaded.diagnostics[0];
        assert_eq!(warning.severity, crate::diagnostic::Severity::Warning);
        assert_eq!(
            warning.message,
            "the manifests exceed the API's default limits: 6 projects (default 3)"
        );
        assert_eq!(warning.location(), "b.yaml:4:9");
        assert!(
            warning.help.as_deref().is_some_and(
                |h| h.contains("under `limits:` in `pzctl.yaml` (at least `projects: 6`)")
            ),
            "{warning:?}"
        );
    }

    #[test]
    fn a_declared_limit_silences_the_warning_and_exceeding_it_is_an_error() {
        let dir = tree(&[
            (
                "pzctl.yaml",
                "apiVersion: pzctl/v1\nkind: Workspace\nlimits:\n  projects: 5\n",
            ),
            ("a.yaml", &projects(5)),
        ]);
        let loaded = load(&dir, None);
        assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
        std::fs::write(dir.path().join("a.yaml"), projects(7)).expect("write");
        let loaded = load(&dir, None);
        assert_eq!(
            found(&loaded),
            [
                "too-many-projects a.yaml:29:9 project `p5` is project number 6; the organization's limit, as `pzctl.yaml` declares it, is 5 projects"
            ]
        );
        assert_eq!(
            loaded.diagnostics[0].help.as_deref(),
            Some(
                "the limit is declared at pzctl.yaml:4; if the organization's limit was raised further, raise it there too (the API allows at most 100)"
            )
        );
    }

    #[test]
    fn declared_limits_are_between_the_default_and_the_maximum() {
        let dir = tree(&[
            (
                "pzctl.yaml",
                "apiVersion: pzctl/v1\nkind: Workspace\nlimits:\n  projects: 2\n  variants: 51\n  experiments: 5\n",
            ),
            ("a.yaml", &projects(1)),
        ]);
        assert_eq!(
            codes(&load(&dir, None)),
            ["out-of-range", "out-of-range", "unknown-field"]
        );
    }

    #[test]
    fn limits_agree_with_the_schema() {
        let schema: serde_json::Value = serde_json::from_str(super::COMMITTED).expect("json");
        for limit in super::Limit::ALL {
            let field = &schema["$defs"]["LimitsDocument"]["properties"][limit.key()];
            assert_eq!(field["minimum"], limit.default_value(), "{limit:?}");
            assert_eq!(field["maximum"], limit.maximum(), "{limit:?}");
        }
    }

    fn example() -> LoadConfig {
        LoadConfig {
            paths: vec!["examples/environments".into()],
            ..LoadConfig::default()
        }
    }

    #[test]
    fn the_example_loads_in_every_environment() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for env in ["staging", "production"] {
            let loaded = load_env_in(root, &example(), Some(env));
            assert!(
                loaded.diagnostics.is_empty(),
                "{env}: {:#?}",
                loaded.diagnostics
            );
            let names: Vec<&String> = loaded.desired.projects.keys().collect();
            assert_eq!(names, [&format!("storefront-{env}")]);
        }
    }
}
