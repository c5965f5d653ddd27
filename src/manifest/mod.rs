//! Manifests: finding and reading YAML files, parsing them with spans, validating each
//! document against the committed JSON Schema, and lowering them to `model::DesiredState`.
//!
//! Invariant: loading never stops at the first problem and never panics; it returns
//! everything it could lower plus every diagnostic. No type of `raw` leaves this module and
//! `schema`.

pub mod lower;
pub mod raw;
pub mod yaml;

use std::path::{Path, PathBuf};

use crate::diagnostic::{Code, Diagnostic, Severity, Sources};
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
    /// Files read, as displayed in diagnostics.
    pub files: Vec<String>,
}

impl Loaded {
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
    Diagnostic {
        code,
        severity,
        message,
        file: Some(file.to_owned()),
        line: pos.line.max(1),
        column: pos.column.max(1),
        span: Some((pos.offset, pos.len)),
        help: None,
    }
}

fn no_place(code: Code, message: String) -> Diagnostic {
    Diagnostic {
        code,
        severity: Severity::Error,
        message,
        file: None,
        line: 0,
        column: 0,
        span: None,
        help: None,
    }
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

fn walk(dir: &Path, out: &mut Vec<PathBuf>, diagnostics: &mut Vec<Diagnostic>, depth: usize) {
    if depth > 64 {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            diagnostics.push(no_place(
                Code::ReadError,
                format!("cannot read folder `{}`: {error}", display(dir)),
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
        if path.is_dir() {
            if !hidden {
                walk(&path, out, diagnostics, depth + 1);
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
    let mut diagnostics = Vec::new();
    let mut paths = Vec::new();
    for path in &config.paths {
        if path.is_dir() {
            walk(path, &mut paths, &mut diagnostics, 0);
        } else if path.exists() {
            paths.push(path.clone());
        } else {
            diagnostics.push(no_place(
                Code::ReadError,
                format!("`{}` does not exist", display(path)),
            ));
        }
    }
    let include = globs(&config.include, &mut diagnostics);
    let exclude = globs(&config.exclude, &mut diagnostics);
    let mut inputs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for path in paths {
        let name = display(&path);
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
    if inputs.is_empty() && diagnostics.is_empty() {
        let shown: Vec<String> = config.paths.iter().map(|p| display(p)).collect();
        diagnostics.push(no_place(
            Code::NoManifests,
            format!(
                "no `*.yaml` or `*.yml` file found under {}",
                shown.join(", ")
            ),
        ));
    }
    let mut loaded = load_inputs(inputs);
    diagnostics.append(&mut loaded.diagnostics);
    loaded.diagnostics = diagnostics;
    loaded
}

/// Load one in-memory file (tests, fuzzing).
#[must_use]
pub fn load_str(file: &str, text: &str) -> Loaded {
    load_inputs(vec![(file.to_owned(), text.as_bytes().to_vec())])
}

/// Stack size of the thread that parses: deep (but accepted) nesting recurses, and callers
/// may run on small-stack threads (tests, async runtimes).
const PARSE_STACK_BYTES: usize = 64 * 1024 * 1024;

/// Load in-memory files: `(displayed name, bytes)`.
#[must_use]
pub fn load_inputs(inputs: Vec<(String, Vec<u8>)>) -> Loaded {
    let shared = std::sync::Mutex::new(Some(inputs));
    let run = || {
        let inputs = shared
            .lock()
            .map(|mut guard| guard.take().unwrap_or_default())
            .unwrap_or_default();
        load_inputs_here(inputs)
    };
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .name("pzctl-load".to_owned())
            .stack_size(PARSE_STACK_BYTES)
            .spawn_scoped(scope, run)
        {
            Ok(handle) => handle.join().unwrap_or_else(|_| Loaded {
                diagnostics: vec![no_place(
                    Code::Internal,
                    "loading the manifests crashed; this is a bug in pzctl".to_owned(),
                )],
                ..Loaded::default()
            }),
            // No thread: parse here (the inputs were not taken).
            Err(_) => run(),
        }
    })
}

fn load_inputs_here(inputs: Vec<(String, Vec<u8>)>) -> Loaded {
    let mut diagnostics = Vec::new();
    let mut sources = Sources::default();
    let mut files = Vec::new();
    let mut items = Vec::new();
    let start = yaml::Pos {
        line: 1,
        column: 1,
        offset: 0,
        len: 0,
    };
    for (name, bytes) in inputs {
        files.push(name.clone());
        if bytes.len() > MAX_FILE_BYTES {
            diagnostics.push(file_diag(
                &name,
                Code::FileTooLarge,
                Severity::Error,
                format!(
                    "file is {} bytes; manifest files may be at most {MAX_FILE_BYTES} bytes (8 MiB)",
                    bytes.len()
                ),
                start,
            ));
            continue;
        }
        let text =
            match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(error) => {
                    let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
                    let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
                    let column = valid.iter().rev().take_while(|b| **b != b'\n').count() + 1;
                    diagnostics.push(file_diag(
                    &name,
                    Code::InvalidUtf8,
                    Severity::Error,
                    format!(
                        "file is not UTF-8 text (invalid byte at offset {}); is it a binary file?",
                        valid.len()
                    ),
                    yaml::Pos { line, column, offset: 0, len: 0 },
                ));
                    continue;
                }
            };
        let (documents, problems) = yaml::parse(&text);
        for problem in problems {
            let code = match problem.kind {
                yaml::YamlProblemKind::Syntax => Code::YamlSyntax,
                yaml::YamlProblemKind::DuplicateKey => Code::DuplicateKey,
                yaml::YamlProblemKind::Budget => Code::YamlLimit,
            };
            let mut d = file_diag(&name, code, Severity::Error, problem.message, problem.pos);
            if code == Code::YamlLimit {
                d.help = Some(format!(
                    "manifests may nest at most {} levels and may not expand aliases without bound",
                    yaml::MAX_DEPTH
                ));
            }
            diagnostics.push(d);
        }
        let had_error = diagnostics.iter().any(|d| {
            d.file.as_deref() == Some(name.as_str())
                && matches!(d.code, Code::YamlSyntax | Code::YamlLimit)
        });
        if documents.is_empty() && !had_error {
            diagnostics.push(file_diag(
                &name,
                Code::EmptyFile,
                Severity::Warning,
                "file holds no YAML document".to_owned(),
                start,
            ));
        }
        for doc in documents {
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
                diagnostics.push(d);
                continue;
            }
            if doc.value.get("apiVersion").is_none() && doc.value.get("kind").is_none() {
                let mut d = file_diag(
                    &name,
                    Code::NotAManifest,
                    Severity::Warning,
                    "this document has neither `apiVersion` nor `kind`: it is not a pzctl manifest and is skipped".to_owned(),
                    doc.start,
                );
                d.help = Some(format!(
                    "manifests start with `apiVersion: {}` and `kind:`",
                    raw::API_VERSION
                ));
                diagnostics.push(d);
                continue;
            }
            let schema_diags = crate::schema::validate(&name, &doc);
            let typed = if schema_diags.is_empty() {
                match typed(&doc.value) {
                    Ok(typed) => Some(typed),
                    Err(message) => {
                        diagnostics.push(file_diag(
                            &name,
                            Code::Internal,
                            Severity::Error,
                            format!("the document passed the schema but could not be read: {message}; this is a bug in pzctl"),
                            doc.start,
                        ));
                        None
                    }
                }
            } else {
                None
            };
            diagnostics.extend(schema_diags);
            items.push(lower::Item {
                file: name.clone(),
                doc,
                typed,
            });
        }
        sources.insert(name, text);
    }
    let (desired, mut meaning) = lower::lower(&items);
    diagnostics.append(&mut meaning);
    diagnostics.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.code).cmp(&(&b.file, b.line, b.column, b.code))
    });
    Loaded {
        desired,
        diagnostics,
        sources,
        files,
    }
}

fn typed(value: &serde_json::Value) -> Result<lower::Typed, String> {
    use lower::Typed;
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default();
    let value = value.clone();
    let result = match kind {
        "Project" => serde_json::from_value(value).map(Typed::Project),
        "Attribute" => serde_json::from_value(value).map(Typed::Attribute),
        "Event" => serde_json::from_value(value).map(Typed::Event),
        "Audience" => serde_json::from_value(value).map(Typed::Audience),
        "Experience" => serde_json::from_value(value).map(Typed::Experience),
        other => return Err(format!("unknown kind `{other}`")),
    };
    result.map_err(|e| e.to_string())
}
