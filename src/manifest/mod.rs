//! Manifests: finding and reading YAML files, parsing them with spans, validating each
//! document against the committed JSON Schema, and lowering them to `model::DesiredState`;
//! and the inverse, raising specs back into manifest documents (`raise`).
//!
//! Invariant: loading never stops at the first problem and never panics; it returns
//! everything it could lower plus every diagnostic. No type of `raw` leaves this module.
//! The JSON Schemas are generated from `raw` and documents are validated against them in
//! [`schema`], a part of this module, so the dependency points one way.

pub mod lower;
pub mod raise;
pub mod raw;
pub mod schema;
pub mod select;
pub mod yaml;

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
}

impl Loaded {
    /// One line about the skipped foreign files (how many, which), when there are any.
    #[must_use]
    pub fn skipped_notice(&self) -> Option<String> {
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
    Diagnostic::new(code, severity, message)
        .at(Location::new(file, pos.line, pos.column).with_span(pos.offset, pos.len))
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
        if path.is_dir() {
            if !hidden {
                walk(&path, out, diagnostics, depth + 1, shown);
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
/// files named as they are from there: what `load` gives when run in `base`.
#[must_use]
pub fn load_in(base: &Path, config: &LoadConfig) -> Loaded {
    let shown = |path: &Path| display(path.strip_prefix(base).unwrap_or(path));
    let mut diagnostics = Vec::new();
    let mut paths = Vec::new();
    for path in &config.paths {
        let path = base.join(path);
        if path.is_dir() {
            walk(&path, &mut paths, &mut diagnostics, 0, &shown);
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
    let mut inputs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
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
    let read = inputs.len();
    let mut loaded = load_inputs(inputs);
    if read > 0 && loaded.files.is_empty() && loaded.diagnostics.is_empty() {
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
    loaded
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

/// Load in-memory files: `(displayed name, bytes)`.
#[must_use]
pub fn load_inputs(inputs: Vec<(String, Vec<u8>)>) -> Loaded {
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
    finish(files, outs)
}

/// Lower what the files contributed (in input order) and sort the diagnostics.
fn finish(files: Vec<String>, outs: Vec<FileOut>) -> Loaded {
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
    let (desired, mut meaning) = lower::lower_with(&items, unreadable);
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
    }
}

/// What one file contributed.
#[derive(Default)]
struct FileOut {
    diagnostics: Vec<Diagnostic>,
    items: Vec<lower::Item>,
    sources: Vec<(String, String)>,
    skipped: Vec<String>,
    /// The `name:` values of a file whose YAML could not be parsed.
    unreadable: Vec<String>,
    /// Places (file, line, column) where a meaning problem would only repeat a schema error:
    /// at a wrong value left out of a document, or at the node that held it.
    consequences: Vec<(String, usize, usize)>,
}

/// Read, parse and schema-check one file.
fn process_file(name: String, bytes: Vec<u8>, out: &mut FileOut) {
    let start = yaml::Pos {
        line: 1,
        column: 1,
        offset: 0,
        len: 0,
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
        return;
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
                },
            ));
            return;
        }
    };
    let (documents, problems) = yaml::parse(&text);
    if is_foreign(&documents) {
        out.skipped.push(name);
        return;
    }
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
        out.unreadable = written_names(&text);
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
            out.diagnostics.push(d);
            continue;
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
            continue;
        }
        let checked = schema::check(&name, &doc);
        let typed = if checked.diagnostics.is_empty() {
            match typed(&doc.value) {
                Ok(typed) => Some(typed),
                Err(message) => {
                    out.diagnostics.push(file_diag(
                        &name,
                        Code::Internal,
                        Severity::Error,
                        format!("the document passed the schema but could not be read: {message}; this is a bug in pzctl"),
                        doc.start,
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
        out.items.push(lower::Item {
            file: name.clone(),
            doc,
            typed,
        });
    }
    out.sources.push((name, text));
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
