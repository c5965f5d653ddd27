//! The JSON Schemas of the manifests: generation from `manifest::raw` (schemars) and
//! validation of parsed documents against the COMMITTED schema (`schemas/`, embedded with
//! `include_str!`), so `pzctl validate` agrees with editors. Validator errors are mapped back
//! to file, line and column through the document's span map.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::yaml::{Document, Pos};
use super::{raw, workspace};
use crate::diagnostic::{Code, Diagnostic, Location, suggest};

/// The committed main schema.
pub const COMMITTED: &str = include_str!("../../schemas/manifest.schema.json");

/// File name of the main schema inside `schemas/`.
pub const MAIN_FILE: &str = "manifest.schema.json";

/// Generate every schema file: `(file name, pretty JSON + newline)`, main schema first.
#[must_use]
pub fn generate() -> Vec<(String, String)> {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let _ = generator.subschema_for::<raw::ProjectDocument>();
    let _ = generator.subschema_for::<raw::AttributeDocument>();
    let _ = generator.subschema_for::<raw::EventDocument>();
    let _ = generator.subschema_for::<raw::AudienceDocument>();
    let _ = generator.subschema_for::<raw::ExperienceDocument>();
    let mut defs = Value::Object(generator.take_definitions(true));
    strip_null(&mut defs);

    let branches: Vec<Value> = raw::KINDS
        .iter()
        .map(|kind| {
            json!({
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": format!("#/$defs/{kind}Document")},
            })
        })
        .collect();
    let main = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/pzctl/pzctl/schemas/manifest.schema.json",
        "title": "pzctl manifest",
        "description": "One pzctl manifest document (a YAML file may hold several, separated by `---`). The `kind` selects the document's shape.",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata"],
        "properties": {
            "apiVersion": {"description": "The manifest format version; always `pzctl/v1`.", "const": raw::API_VERSION},
            "kind": {"description": "The document kind.", "enum": raw::KINDS},
            "metadata": {"description": "The resource's identity: `name` (and `project` for everything but projects).", "type": "object"},
            "spec": {"description": "What the resource should look like; its shape depends on `kind`.", "type": "object"},
        },
        "allOf": branches,
        "$defs": defs,
    });
    let mut files = vec![(MAIN_FILE.to_owned(), pretty(&main))];
    for kind in raw::KINDS {
        let one = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": format!("pzctl {kind} manifest"),
            "$ref": format!("{MAIN_FILE}#/$defs/{kind}Document"),
        });
        files.push((format!("{}.schema.json", kind.to_lowercase()), pretty(&one)));
    }
    files.push((
        workspace::SCHEMA_FILE.to_owned(),
        pretty(&workspace_schema()),
    ));
    files
}

/// The schema of the workspace file `pzctl.yaml`, which is not a manifest.
fn workspace_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let _ = generator.subschema_for::<workspace::WorkspaceDocument>();
    let mut defs = Value::Object(generator.take_definitions(true));
    strip_null(&mut defs);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("https://github.com/pzctl/pzctl/schemas/{}", workspace::SCHEMA_FILE),
        "title": "pzctl workspace",
        "description": "The workspace file `pzctl.yaml` at the root of a manifest tree: its environments, each with the live names of its projects, its overlay folders and its typed values.",
        "$ref": "#/$defs/WorkspaceDocument",
        "$defs": defs,
    })
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Optional fields are expressed by leaving them out of `required`; `null` is not accepted.
fn strip_null(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            string_enum(map);
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let single = types.remove(0);
                    map.insert("type".to_owned(), single);
                }
            }
            if let Some(Value::Array(any)) = map.get("anyOf") {
                let rest: Vec<Value> = any
                    .iter()
                    .filter(|s| s.get("type") != Some(&json!("null")))
                    .cloned()
                    .collect();
                if rest.len() == 1 && rest.len() < any.len() {
                    map.remove("anyOf");
                    if let Value::Object(inner) = &rest[0] {
                        for (k, v) in inner {
                            map.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            for child in map.values_mut() {
                strip_null(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}

/// schemars writes a documented unit enum as `oneOf` of `const`s, whose validation errors are
/// vague ("not valid under any of the schemas"). Rewrite it as one `enum` (or `const`) and
/// move the variant docs into the description.
fn string_enum(map: &mut serde_json::Map<String, Value>) {
    let Some(Value::Array(branches)) = map.get("oneOf") else {
        return;
    };
    let mut values = Vec::new();
    let mut docs = Vec::new();
    for branch in branches {
        match (branch.get("const"), branch.get("type")) {
            (Some(Value::String(value)), Some(t)) if t == "string" => {
                values.push(Value::String(value.clone()));
                if let Some(doc) = branch.get("description").and_then(Value::as_str) {
                    docs.push(format!("`{value}`: {}", doc.trim_end_matches('.')));
                }
            }
            _ => return,
        }
    }
    map.remove("oneOf");
    map.insert("type".to_owned(), json!("string"));
    if values.len() == 1 {
        map.insert("const".to_owned(), values.remove(0));
    } else {
        let base = map
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        map.insert(
            "description".to_owned(),
            Value::String(format!("{base} {}.", docs.join("; ")).trim().to_owned()),
        );
        map.insert("enum".to_owned(), Value::Array(values));
    }
}

struct Validators {
    envelope: jsonschema::Validator,
    kinds: Vec<(&'static str, jsonschema::Validator)>,
}

fn validators() -> Result<&'static Validators, String> {
    static CELL: OnceLock<Result<Validators, String>> = OnceLock::new();
    CELL.get_or_init(|| {
        let main: Value = serde_json::from_str(COMMITTED)
            .map_err(|e| format!("the embedded schema is not JSON: {e}"))?;
        let envelope = jsonschema::draft202012::new(&main)
            .map_err(|e| format!("the embedded schema does not compile: {e}"))?;
        let defs = main.get("$defs").cloned().unwrap_or_else(|| json!({}));
        let mut kinds = Vec::new();
        for kind in raw::KINDS {
            let schema = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$ref": format!("#/$defs/{kind}Document"),
                "$defs": defs,
            });
            let validator = jsonschema::draft202012::new(&schema)
                .map_err(|e| format!("the embedded {kind} schema does not compile: {e}"))?;
            kinds.push((*kind, validator));
        }
        Ok(Validators { envelope, kinds })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Validate one document against the committed schema: against its kind's subschema when the
/// kind is known (precise errors), else against the main schema.
pub fn validate(file: &str, doc: &Document) -> Vec<Diagnostic> {
    check(file, doc).diagnostics
}

/// The outcome of [`check`].
#[derive(Debug, Default)]
pub struct Checked {
    /// Every schema problem, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    /// JSON pointers of unknown fields.
    pub unknown_fields: Vec<String>,
    /// Whether unknown fields are the only problems (so the document, without them, is
    /// still worth checking for meaning).
    pub only_unknown_fields: bool,
    /// JSON pointers of values that are wrong in themselves (a wrong type, a value outside its
    /// enum, pattern, length or range): without them the document may still be checked for
    /// meaning.
    pub wrong_values: Vec<String>,
    /// Whether every problem is an unknown field or a wrong value (see `wrong_values`).
    pub only_removable: bool,
}

/// Like [`validate`], and also says which fields were unknown.
pub fn check(file: &str, doc: &Document) -> Checked {
    let validators = match validators() {
        Ok(v) => v,
        Err(message) => {
            return Checked {
                diagnostics: vec![diag(
                    file,
                    Code::Internal,
                    format!("{message}; this is a bug in pzctl"),
                    doc.start.clone(),
                    None,
                )],
                ..Checked::default()
            };
        }
    };
    let kind = doc.value.get("kind").and_then(Value::as_str);
    let validator = kind
        .and_then(|k| validators.kinds.iter().find(|(name, _)| *name == k))
        .map_or(&validators.envelope, |(_, v)| v);
    run(file, doc, kind, validator)
}

/// Validate a document of `kind` against `validator` (the workspace file's schema).
pub fn check_with(
    file: &str,
    doc: &Document,
    kind: Option<&str>,
    validator: &jsonschema::Validator,
) -> Vec<Diagnostic> {
    run(file, doc, kind, validator).diagnostics
}

fn run(
    file: &str,
    doc: &Document,
    kind: Option<&str>,
    validator: &jsonschema::Validator,
) -> Checked {
    let mut out = Vec::new();
    if validator.is_valid(&doc.value) {
        return Checked::default();
    }
    let mut unknown_fields = Vec::new();
    let mut only_unknown_fields = true;
    let mut wrong_values = Vec::new();
    let mut only_removable = true;
    for error in validator.iter_errors(&doc.value) {
        let ptr = error.instance_path().as_str().to_owned();
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for field in unexpected {
                    unknown_fields.push(format!("{ptr}/{}", super::yaml::escape(field)));
                }
            }
            ValidationErrorKind::Type { .. }
            | ValidationErrorKind::Enum { .. }
            | ValidationErrorKind::Constant { .. }
            | ValidationErrorKind::Pattern { .. }
            | ValidationErrorKind::MinLength { .. }
            | ValidationErrorKind::MaxLength { .. }
            | ValidationErrorKind::Minimum { .. }
            | ValidationErrorKind::Maximum { .. }
                if !ptr.is_empty() =>
            {
                only_unknown_fields = false;
                wrong_values.push(ptr.clone());
            }
            _ => {
                only_unknown_fields = false;
                only_removable = false;
            }
        }
        out.extend(map_error(
            file,
            doc,
            kind,
            &ptr,
            error.kind(),
            &error.to_string(),
        ));
    }
    out.sort_by_key(|d| (d.line(), d.column()));
    out.dedup();
    Checked {
        diagnostics: out,
        unknown_fields,
        only_unknown_fields,
        wrong_values,
        only_removable,
    }
}

/// Whether a document value passes the schema of its kind.
#[must_use]
pub fn is_valid(value: &Value) -> bool {
    let Ok(validators) = validators() else {
        return false;
    };
    let kind = value.get("kind").and_then(Value::as_str);
    kind.and_then(|k| validators.kinds.iter().find(|(name, _)| *name == k))
        .map_or(&validators.envelope, |(_, v)| v)
        .is_valid(value)
}

fn diag(file: &str, code: Code, message: String, pos: Pos, help: Option<String>) -> Diagnostic {
    Diagnostic::error(code, message)
        .at(Location::new(pos.file_or(file), pos.line, pos.column).with_span(pos.offset, pos.len))
        .with_help(help)
}

/// `/spec/variants/0/name` -> `spec.variants[0].name`; the root is `the document`.
#[must_use]
pub fn display_path(ptr: &str) -> String {
    let mut out = String::new();
    for segment in ptr.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.parse::<usize>().is_ok() {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    if out.is_empty() {
        "the document".to_owned()
    } else {
        out
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn json_type_name(kind: &TypeKind) -> String {
    let name = |t: String| match t.as_str() {
        "object" => "a mapping".to_owned(),
        "array" => "a list".to_owned(),
        "string" => "a string".to_owned(),
        "integer" => "an integer".to_owned(),
        "number" => "a number".to_owned(),
        "boolean" => "a boolean (true or false)".to_owned(),
        other => other.to_owned(),
    };
    match kind {
        TypeKind::Single(t) => name(t.to_string()),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| name(t.to_string()))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

/// The known property names of the object at `ptr`, for "did you mean" suggestions.
fn known_fields(doc_kind: Option<&str>, ptr: &str) -> Vec<String> {
    let committed = if doc_kind == Some("Workspace") {
        crate::manifest::workspace::COMMITTED
    } else {
        COMMITTED
    };
    let Ok(main) = serde_json::from_str::<Value>(committed) else {
        return Vec::new();
    };
    let Some(kind) = doc_kind else {
        return Vec::new();
    };
    let defs = main.get("$defs").cloned().unwrap_or(Value::Null);
    let mut schema = defs
        .get(format!("{kind}Document"))
        .cloned()
        .unwrap_or(Value::Null);
    for segment in ptr.split('/').skip(1) {
        schema = resolve(&defs, schema);
        let next = if segment.parse::<usize>().is_ok() {
            schema.get("items").cloned()
        } else {
            schema
                .get("properties")
                .and_then(|p| p.get(segment))
                .cloned()
        };
        schema = next.unwrap_or(Value::Null);
    }
    let schema = resolve(&defs, schema);
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn resolve(defs: &Value, mut schema: Value) -> Value {
    for _ in 0..8 {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let name = reference.trim_start_matches("#/$defs/").to_owned();
        schema = defs.get(&name).cloned().unwrap_or(Value::Null);
    }
    schema
}

fn list(options: &Value) -> String {
    options
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) => format!("`{s}`"),
                    other => format!("`{other}`"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn map_error(
    file: &str,
    doc: &Document,
    doc_kind: Option<&str>,
    ptr: &str,
    kind: &ValidationErrorKind,
    fallback: &str,
) -> Vec<Diagnostic> {
    let path = display_path(ptr);
    let instance = doc.value.pointer(ptr).unwrap_or(&Value::Null);
    let at = doc.pos(ptr);
    let one = |code: Code, message: String, pos: Pos, help: Option<String>| {
        vec![diag(file, code, message, pos, help)]
    };
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let known = known_fields(doc_kind, ptr);
            unexpected
                .iter()
                .map(|field| {
                    let child = format!("{ptr}/{}", super::yaml::escape(field));
                    let help = match suggest(field, known.iter().map(String::as_str)) {
                        Some(s) => Some(format!("did you mean `{s}`?")),
                        None if !known.is_empty() => Some(format!(
                            "known fields here: {}",
                            crate::diagnostic::backticked(known.iter())
                        )),
                        None => None,
                    };
                    let where_ = if ptr.is_empty() { "at the top level".to_owned() } else { format!("in `{path}`") };
                    diag(
                        file,
                        Code::UnknownField,
                        format!("unknown field `{field}` {where_}"),
                        doc.key_pos(&child),
                        help,
                    )
                })
                .collect()
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let (code, help) = match (ptr, name) {
                ("", "apiVersion") => (Code::MissingField, Some(format!("add `apiVersion: {}`", raw::API_VERSION))),
                ("", "kind") => (Code::MissingField, Some(format!("add `kind:` with one of {}", raw::KINDS.join(", ")))),
                _ => (Code::MissingField, None),
            };
            let where_ = if ptr.is_empty() { "the document".to_owned() } else { format!("`{path}`") };
            one(code, format!("missing required field `{name}` in {where_}"), doc.key_pos(ptr), help)
        }
        ValidationErrorKind::Type { kind } => one(
            Code::WrongType,
            format!("`{path}` must be {}, found {}", json_type_name(kind), type_name(instance)),
            at,
            None,
        ),
        ValidationErrorKind::Enum { options } => {
            let found = match instance {
                Value::String(s) => format!("`{s}`"),
                other => other.to_string(),
            };
            let code = if ptr == "/kind" { Code::UnknownKind } else { Code::InvalidValue };
            let help = instance.as_str().and_then(|s| {
                let opts: Vec<&str> = options.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                suggest(s, opts).map(|x| format!("did you mean `{x}`?"))
            });
            one(code, format!("`{path}` is {found}; expected one of {}", list(options)), at, help)
        }
        ValidationErrorKind::Constant { expected_value } => {
            let code = if ptr == "/apiVersion" { Code::UnsupportedApiVersion } else { Code::InvalidValue };
            one(code, format!("`{path}` is {instance}; expected {expected_value}"), at, None)
        }
        ValidationErrorKind::Pattern { pattern } => {
            let (code, what) = if ptr.contains("/tags/") {
                (Code::InvalidTag, "a tag: 1 to 32 letters, digits, `_`, `:` or `-`")
            } else if ptr.contains("/contentTypes/") {
                (Code::InvalidContentType, "a content type UID: 1 to 200 lowercase letters, digits or `_`")
            } else if ptr.ends_with("/key") || (doc_kind == Some("Event") && ptr == "/metadata/name") {
                (Code::InvalidKey, "a key: 1 to 64 letters, digits, `_` or `-`")
            } else {
                (Code::InvalidFormat, "text matching the pattern")
            };
            one(code, format!("`{path}` is {instance}; expected {what}"), at, Some(format!("pattern: {pattern}")))
        }
        ValidationErrorKind::MaxItems { limit } => {
            let code = if ptr.ends_with("/tags") {
                Code::TooManyTags
            } else if ptr.ends_with("/variants") {
                Code::TooManyVariants
            } else if ptr.ends_with("/audiences") {
                Code::TooManyAudiences
            } else {
                Code::LimitExceeded
            };
            let count = instance.as_array().map_or(0, Vec::len);
            one(code, format!("`{path}` has {count} items; at most {limit} are allowed"), doc.key_pos(ptr), None)
        }
        ValidationErrorKind::MinItems { limit } => one(
            Code::TooFewItems,
            format!("`{path}` must have at least {limit} item{}", if *limit == 1 { "" } else { "s" }),
            doc.key_pos(ptr),
            None,
        ),
        ValidationErrorKind::MaxLength { limit } => {
            let code = if ptr.contains("/tags/") { Code::InvalidTag } else { Code::OutOfRange };
            one(code, format!("`{path}` is longer than {limit} characters"), at, None)
        }
        ValidationErrorKind::MinLength { limit } => {
            one(Code::OutOfRange, format!("`{path}` must have at least {limit} character{}", if *limit == 1 { "" } else { "s" }), at, None)
        }
        ValidationErrorKind::Maximum { limit } => {
            one(Code::OutOfRange, format!("`{path}` is {instance}; the maximum is {limit}"), at, None)
        }
        ValidationErrorKind::Minimum { limit } => {
            one(Code::OutOfRange, format!("`{path}` is {instance}; the minimum is {limit}"), at, None)
        }
        ValidationErrorKind::MinProperties { .. } | ValidationErrorKind::MaxProperties { .. }
            if ptr.ends_with("/rules") || ptr.contains("/rules/") =>
        {
            one(
                Code::InvalidRule,
                format!("`{path}` must have exactly one of `all` or `any`"),
                doc.key_pos(ptr),
                Some("write `all:` (every rule matches) or `any:` (at least one matches) with a list of rules".to_owned()),
            )
        }
        _ => one(Code::SchemaViolation, format!("`{path}`: {fallback}"), at, None),
    }
}
