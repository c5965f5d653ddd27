//! Diagnostics: every user-facing problem as data, with a stable [`Code`], a message and the
//! file, line and column of the offending node.
//!
//! Invariant: diagnostics are data; only the renderers here and the CLI turn them into text.

use serde::Serialize;

/// Stable, kebab-case diagnostic codes. Each has a heading in `docs/diagnostics.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    // Loading and validation.
    ReadError,
    NoManifests,
    InvalidUtf8,
    FileTooLarge,
    EmptyFile,
    YamlSyntax,
    YamlLimit,
    DuplicateKey,
    NotAMapping,
    NotAManifest,
    UnsupportedApiVersion,
    UnknownKind,
    UnknownField,
    MissingField,
    WrongType,
    InvalidValue,
    InvalidFormat,
    OutOfRange,
    TooFewItems,
    SchemaViolation,
    InvalidEmail,
    InvalidKey,
    InvalidTag,
    DuplicateName,
    DuplicateMember,
    DuplicateReference,
    NoOwner,
    DanglingReference,
    InvalidRule,
    ValueRequired,
    ValueForbidden,
    TrafficSum,
    TooFewVariants,
    MissingAudiences,
    MissingTraffic,
    FieldNotAllowed,
    DuplicateVariant,
    TooManyVariants,
    TooManyRules,
    TooManyAudiences,
    TooManyTags,
    TooManyProjects,
    LimitExceeded,
    // Planning.
    PermissionDenied,
    LastOwner,
    TooManyDeletions,
    ImmutableField,
    InvalidTransition,
    StalePlan,
    Internal,
}

impl Code {
    /// Every code, in declaration order.
    pub const ALL: &'static [Code] = &[
        Code::ReadError,
        Code::NoManifests,
        Code::InvalidUtf8,
        Code::FileTooLarge,
        Code::EmptyFile,
        Code::YamlSyntax,
        Code::YamlLimit,
        Code::DuplicateKey,
        Code::NotAMapping,
        Code::NotAManifest,
        Code::UnsupportedApiVersion,
        Code::UnknownKind,
        Code::UnknownField,
        Code::MissingField,
        Code::WrongType,
        Code::InvalidValue,
        Code::InvalidFormat,
        Code::OutOfRange,
        Code::TooFewItems,
        Code::SchemaViolation,
        Code::InvalidEmail,
        Code::InvalidKey,
        Code::InvalidTag,
        Code::DuplicateName,
        Code::DuplicateMember,
        Code::DuplicateReference,
        Code::NoOwner,
        Code::DanglingReference,
        Code::InvalidRule,
        Code::ValueRequired,
        Code::ValueForbidden,
        Code::TrafficSum,
        Code::TooFewVariants,
        Code::MissingAudiences,
        Code::MissingTraffic,
        Code::FieldNotAllowed,
        Code::DuplicateVariant,
        Code::TooManyVariants,
        Code::TooManyRules,
        Code::TooManyAudiences,
        Code::TooManyTags,
        Code::TooManyProjects,
        Code::LimitExceeded,
        Code::PermissionDenied,
        Code::LastOwner,
        Code::TooManyDeletions,
        Code::ImmutableField,
        Code::InvalidTransition,
        Code::StalePlan,
        Code::Internal,
    ];

    /// The kebab-case name (as in JSON output and `docs/diagnostics.md`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Code::ReadError => "read-error",
            Code::NoManifests => "no-manifests",
            Code::InvalidUtf8 => "invalid-utf8",
            Code::FileTooLarge => "file-too-large",
            Code::EmptyFile => "empty-file",
            Code::YamlSyntax => "yaml-syntax",
            Code::YamlLimit => "yaml-limit",
            Code::DuplicateKey => "duplicate-key",
            Code::NotAMapping => "not-a-mapping",
            Code::NotAManifest => "not-a-manifest",
            Code::UnsupportedApiVersion => "unsupported-api-version",
            Code::UnknownKind => "unknown-kind",
            Code::UnknownField => "unknown-field",
            Code::MissingField => "missing-field",
            Code::WrongType => "wrong-type",
            Code::InvalidValue => "invalid-value",
            Code::InvalidFormat => "invalid-format",
            Code::OutOfRange => "out-of-range",
            Code::TooFewItems => "too-few-items",
            Code::SchemaViolation => "schema-violation",
            Code::InvalidEmail => "invalid-email",
            Code::InvalidKey => "invalid-key",
            Code::InvalidTag => "invalid-tag",
            Code::DuplicateName => "duplicate-name",
            Code::DuplicateMember => "duplicate-member",
            Code::DuplicateReference => "duplicate-reference",
            Code::NoOwner => "no-owner",
            Code::DanglingReference => "dangling-reference",
            Code::InvalidRule => "invalid-rule",
            Code::ValueRequired => "value-required",
            Code::ValueForbidden => "value-forbidden",
            Code::TrafficSum => "traffic-sum",
            Code::TooFewVariants => "too-few-variants",
            Code::MissingAudiences => "missing-audiences",
            Code::MissingTraffic => "missing-traffic",
            Code::FieldNotAllowed => "field-not-allowed",
            Code::DuplicateVariant => "duplicate-variant",
            Code::TooManyVariants => "too-many-variants",
            Code::TooManyRules => "too-many-rules",
            Code::TooManyAudiences => "too-many-audiences",
            Code::TooManyTags => "too-many-tags",
            Code::TooManyProjects => "too-many-projects",
            Code::LimitExceeded => "limit-exceeded",
            Code::PermissionDenied => "permission-denied",
            Code::LastOwner => "last-owner",
            Code::TooManyDeletions => "too-many-deletions",
            Code::ImmutableField => "immutable-field",
            Code::InvalidTransition => "invalid-transition",
            Code::StalePlan => "stale-plan",
            Code::Internal => "internal",
        }
    }

    /// One sentence saying what the code means.
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            Code::ReadError => "A manifest file or folder could not be read.",
            Code::NoManifests => {
                "No `*.yaml`/`*.yml` file was found under the given paths, or every one found belongs to another tool."
            }
            Code::InvalidUtf8 => "A manifest file is not UTF-8 text (for example a binary file).",
            Code::FileTooLarge => "A manifest file is larger than the 8 MiB limit.",
            Code::EmptyFile => "A manifest file holds no document (warning).",
            Code::YamlSyntax => "The file is not valid YAML.",
            Code::YamlLimit => {
                "The YAML is nested too deeply or expands too many aliases (an alias bomb)."
            }
            Code::DuplicateKey => "A mapping repeats a key.",
            Code::NotAMapping => "A document is not a mapping.",
            Code::NotAManifest => {
                "A document in a file of pzctl manifests has neither `apiVersion` nor `kind`."
            }
            Code::UnsupportedApiVersion => "`apiVersion` is not `pzctl/v1`.",
            Code::UnknownKind => "`kind` is not one of the known kinds.",
            Code::UnknownField => "A field that the schema does not define.",
            Code::MissingField => "A required field is missing.",
            Code::WrongType => "A value has the wrong type.",
            Code::InvalidValue => "A value is not one of the allowed values.",
            Code::InvalidFormat => "A text value does not match its format.",
            Code::OutOfRange => "A number or text length is outside its allowed range.",
            Code::TooFewItems => "A list has fewer items than required.",
            Code::SchemaViolation => "Another JSON Schema violation.",
            Code::InvalidEmail => "A member email is not an email address.",
            Code::InvalidKey => {
                "An attribute key or event key has characters other than letters, digits, `_` and `-`, or is longer than 64 characters."
            }
            Code::InvalidTag => {
                "A tag is longer than 32 characters or has characters other than letters, digits, `_`, `:` and `-`."
            }
            Code::DuplicateName => "Two documents of the same kind and project have the same name.",
            Code::DuplicateMember => "A member email appears twice in a project.",
            Code::DuplicateReference => "A list of references names the same resource twice.",
            Code::NoOwner => "An explicit member list has no owner.",
            Code::DanglingReference => "A reference names a resource that no manifest declares.",
            Code::InvalidRule => {
                "An audience rule is neither a group (`all`/`any`) nor a condition (`attribute`/`preset` + `condition`)."
            }
            Code::ValueRequired => "A condition that compares a value has no `value`.",
            Code::ValueForbidden => "`HAS_ANY_VALUE`, `IS_TRUE` and `IS_FALSE` take no `value`.",
            Code::TrafficSum => "The traffic of an A/B test's variants does not sum to 100.",
            Code::TooFewVariants => "An A/B test has fewer than two variants.",
            Code::MissingAudiences => "A segmented variant has no audiences.",
            Code::MissingTraffic => "An A/B variant has no `traffic`.",
            Code::FieldNotAllowed => {
                "A field that does not apply to this experience type (e.g. `traffic` or `targeting` on a segmented experience)."
            }
            Code::DuplicateVariant => "Two variants of one experience have the same name.",
            Code::TooManyVariants => "An experience has more than 20 variants.",
            Code::TooManyRules => "An audience has more than 50 conditions.",
            Code::TooManyAudiences => "A variant or targeting lists more than 50 audiences.",
            Code::TooManyTags => "An experience has more than 10 tags.",
            Code::TooManyProjects => {
                "More than 3 projects, the default organization limit (warning: the organization's limit may be higher)."
            }
            Code::LimitExceeded => {
                "A project declares more resources of one kind than the API allows (100 each)."
            }
            Code::PermissionDenied => "The acting principal lacks a permission a change needs.",
            Code::LastOwner => "A change would leave a project without an owner.",
            Code::TooManyDeletions => "A plan deletes more resources than allowed.",
            Code::ImmutableField => "A change touches a field the API cannot update.",
            Code::InvalidTransition => "A status change the API does not allow.",
            Code::StalePlan => "Live state changed since the plan was made.",
            Code::Internal => "A bug in pzctl.",
        }
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// The file, when the problem has a place in a manifest.
    pub file: Option<String>,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
    /// Byte offset and length of the offending node in the file, for underlining.
    pub span: Option<(usize, usize)>,
    /// A suggestion, shown as a separate `help:` line.
    pub help: Option<String>,
}

/// The text of every loaded file, by the name diagnostics use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    files: std::collections::BTreeMap<String, String>,
}

impl Sources {
    /// Remember a file's text.
    pub fn insert(&mut self, file: impl Into<String>, text: impl Into<String>) {
        self.files.insert(file.into(), text.into());
    }

    /// The text of a file.
    #[must_use]
    pub fn get(&self, file: &str) -> Option<&str> {
        self.files.get(file).map(String::as_str)
    }

    /// File names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }
}

impl Diagnostic {
    /// `file:line:column`, or `-` when the problem has no place.
    #[must_use]
    pub fn location(&self) -> String {
        match &self.file {
            Some(file) => format!("{file}:{}:{}", self.line, self.column),
            None => "-".to_owned(),
        }
    }
}

/// Render diagnostics as miette graphical reports (source line underlined, `help:` line).
#[must_use]
pub fn render_text(diagnostics: &[Diagnostic], sources: &Sources, color: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic};

    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let mut report = MietteDiagnostic::new(diagnostic.message.clone())
            .with_code(diagnostic.code.as_str())
            .with_severity(match diagnostic.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            });
        if let Some(help) = &diagnostic.help {
            report = report.with_help(help.clone());
        }
        let source = diagnostic
            .file
            .as_deref()
            .and_then(|file| sources.get(file).map(|text| (file, text)));
        let rendered = match (source, diagnostic.span) {
            (Some((file, text)), Some((offset, len)))
                if !text.is_empty() && snippet_fits(text, offset) =>
            {
                let offset = floor_char_boundary(text, offset);
                let len = floor_char_boundary(text, offset + len) - offset;
                let label = format!("line {}, column {}", diagnostic.line, diagnostic.column);
                report = report.with_label(LabeledSpan::new(Some(label), offset, len));
                let report = miette::Report::new(report).with_source_code(
                    miette::NamedSource::new(file, text.to_owned()).with_language("yaml"),
                );
                let mut text = String::new();
                handler
                    .render_report(&mut text, report.as_ref())
                    .map(|()| text)
            }
            _ => {
                let mut text = String::new();
                let located = match &diagnostic.file {
                    Some(_) => {
                        report.message = format!("{}: {}", diagnostic.location(), report.message);
                        report
                    }
                    None => report,
                };
                handler.render_report(&mut text, &located).map(|()| text)
            }
        };
        match rendered {
            Ok(text) => out.push_str(&text),
            Err(_) => out.push_str(&format!(
                "{}: {} [{}]\n",
                diagnostic.location(),
                diagnostic.message,
                diagnostic.code.as_str()
            )),
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The largest char boundary at or below `offset` (clamped to the text).
fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Whether the line holding `offset` is short enough to show as a snippet.
fn snippet_fits(text: &str, offset: usize) -> bool {
    const MAX_LINE: usize = 400;
    let offset = offset.min(text.len());
    let bytes = text.as_bytes();
    let start = bytes[..offset]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let end = bytes[offset..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(text.len(), |i| offset + i);
    end - start <= MAX_LINE
}

/// Render diagnostics as a JSON array of `{file, line, column, code, message, severity, help}`.
#[must_use]
pub fn render_json(diagnostics: &[Diagnostic]) -> String {
    let items: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|d| {
            let mut object = serde_json::json!({
                "file": d.file,
                "line": d.line,
                "column": d.column,
                "code": d.code.as_str(),
                "message": d.message,
                "severity": d.severity,
            });
            if let (Some(help), Some(map)) = (&d.help, object.as_object_mut()) {
                map.insert("help".to_owned(), serde_json::Value::String(help.clone()));
            }
            object
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".to_owned());
    text.push('\n');
    text
}

/// Render diagnostics as GitHub Actions workflow annotations.
#[must_use]
pub fn render_github(diagnostics: &[Diagnostic]) -> String {
    fn escape_data(text: &str) -> String {
        text.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    }
    fn escape_property(text: &str) -> String {
        escape_data(text).replace(':', "%3A").replace(',', "%2C")
    }
    let mut out = String::new();
    for d in diagnostics {
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            message.push_str(&format!("\nhelp: {help}"));
        }
        let place = match &d.file {
            Some(file) => format!(
                "file={},line={},col={},",
                escape_property(file),
                d.line,
                d.column
            ),
            None => String::new(),
        };
        out.push_str(&format!(
            "::{level} {place}title={}::{}\n",
            escape_property(d.code.as_str()),
            escape_data(&message)
        ));
    }
    out
}
