//! Diagnostics: every user-facing problem as data, with a stable [`Code`], a message and,
//! when the problem has a place in a manifest, its [`Location`].
//!
//! Invariant: diagnostics are data; only the renderers here and the CLI turn them into text.
//! Every diagnostic is made through one builder ([`Diagnostic::error`] /
//! [`Diagnostic::warning`], then [`Diagnostic::at`] and [`Diagnostic::with_help`]), and every
//! code is declared once, in the `codes!` table below.

use serde::Serialize;

/// Declares [`Code`] with, for each code, its kebab-case name and its description, once.
macro_rules! codes {
    ($($(#[$comment:meta])* $variant:ident = $name:literal : $description:literal,)*) => {
        /// Stable, kebab-case diagnostic codes. Each has a heading in `docs/diagnostics.md`
        /// whose first paragraph is its description (a test keeps the two in sync).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $(#[doc = $description] $variant,)*
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The kebab-case name (as in JSON output and `docs/diagnostics.md`).
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }

            /// One sentence saying what the code means.
            #[must_use]
            pub fn description(self) -> &'static str {
                match self {
                    $(Code::$variant => $description,)*
                }
            }
        }
    };
}

codes! {
    // Loading and validation.
    ReadError = "read-error": "A manifest file or folder could not be read.",
    NoManifests = "no-manifests": "No `*.yaml`/`*.yml` file was found under the given paths, or every one found belongs to another tool.",
    InvalidUtf8 = "invalid-utf8": "A manifest file is not UTF-8 text (for example a binary file).",
    FileTooLarge = "file-too-large": "A manifest file is larger than the 8 MiB limit.",
    EmptyFile = "empty-file": "A manifest file holds no document (warning).",
    YamlSyntax = "yaml-syntax": "The file is not valid YAML.",
    YamlLimit = "yaml-limit": "The YAML is nested too deeply or expands too many aliases (an alias bomb).",
    DuplicateKey = "duplicate-key": "A mapping repeats a key.",
    NotAMapping = "not-a-mapping": "A document is not a mapping.",
    NotAManifest = "not-a-manifest": "A document in a file of pzctl manifests has neither `apiVersion` nor `kind`.",
    UnsupportedApiVersion = "unsupported-api-version": "`apiVersion` is not `pzctl/v1`.",
    UnknownKind = "unknown-kind": "`kind` is not one of the known kinds.",
    UnknownField = "unknown-field": "A field that the schema does not define.",
    MissingField = "missing-field": "A required field is missing.",
    WrongType = "wrong-type": "A value has the wrong type.",
    InvalidValue = "invalid-value": "A value is not one of the allowed values.",
    InvalidFormat = "invalid-format": "A text value does not match its format.",
    OutOfRange = "out-of-range": "A number or text length is outside its allowed range.",
    TooFewItems = "too-few-items": "A list has fewer items than required.",
    SchemaViolation = "schema-violation": "Another JSON Schema violation.",
    InvalidEmail = "invalid-email": "A member email is not an email address.",
    InvalidKey = "invalid-key": "An attribute key or event key has characters other than letters, digits, `_` and `-`, or is longer than 64 characters.",
    InvalidTag = "invalid-tag": "A tag is longer than 32 characters or has characters other than letters, digits, `_`, `:` and `-`.",
    InvalidContentType = "invalid-content-type": "A content type UID in `contentTypes` is not one the CMS accepts: 1 to 200 lowercase letters, digits and `_`, and not a restricted keyword such as `api_key` or `sys_metadata`.",
    DuplicateContentType = "duplicate-content-type": "An experience's `contentTypes` lists the same content type twice.",
    ContentTypesWithoutStack = "content-types-without-stack": "An experience declares `contentTypes` in a project that connects no stack (`spec.stack`): content types live in the connected stack.",
    DuplicateName = "duplicate-name": "Two documents of the same kind and project have the same name.",
    DuplicateMember = "duplicate-member": "A member email appears twice in a project.",
    DuplicateReference = "duplicate-reference": "A list of references names the same resource twice.",
    NoOwner = "no-owner": "An explicit member list has no owner.",
    DanglingReference = "dangling-reference": "A reference names a resource that no manifest declares.",
    InvalidRule = "invalid-rule": "An audience rule is neither a group (`all`/`any`) nor a condition (`attribute`/`preset` + `condition`).",
    ValueRequired = "value-required": "A condition that compares a value has no `value`.",
    ValueForbidden = "value-forbidden": "`HAS_ANY_VALUE`, `IS_TRUE` and `IS_FALSE` take no `value`.",
    WrongConditionValue = "wrong-condition-value": "A condition's `value` is not of the type the condition takes.",
    TrafficSum = "traffic-sum": "The traffic of an A/B test's variants does not sum to 100.",
    TooFewVariants = "too-few-variants": "An A/B test has fewer than two variants.",
    MissingAudiences = "missing-audiences": "A segmented variant has no audiences.",
    MissingTraffic = "missing-traffic": "An A/B variant has no `traffic`.",
    FieldNotAllowed = "field-not-allowed": "A field that does not apply to this experience type (e.g. `traffic` or `targeting` on a segmented experience).",
    DuplicateVariant = "duplicate-variant": "Two variants of one experience have the same name.",
    PreviousNameConflict = "previous-name-conflict": "A `previousNames` entry is the current name of a document of the same kind and project (or of another variant of the experience), or is listed twice, so a rename would be ambiguous.",
    TooManyVariants = "too-many-variants": "An experience has more variants than the organization's limit declared in `pzctl.yaml`, or more than 50, the most the API allows.",
    TooManyRules = "too-many-rules": "An audience has more conditions than the organization's limit declared in `pzctl.yaml`, or more than 100, the most the API allows.",
    TooManyAudiences = "too-many-audiences": "A variant or targeting lists more than 50 audiences.",
    TooManyTags = "too-many-tags": "An experience has more than 10 tags.",
    TooManyProjects = "too-many-projects": "More projects than the organization's limit declared in `pzctl.yaml`, or more than 100, the most the API allows.",
    LimitExceeded = "limit-exceeded": "A project declares more resources of one kind than the organization's limit declared in `pzctl.yaml`, or more than 1000, the most the API allows.",
    DefaultLimit = "default-limit": "The manifests exceed one of the API's default limits (3 projects; 100 experiences, audiences, attributes or events in a project; 20 variants; 50 conditions in an audience) and `pzctl.yaml` declares no raised limit for it (warning, at most one per run: the organization's limit may have been raised).",
    InvalidWorkspace = "invalid-workspace": "The workspace file `pzctl.yaml` is not usable: an overlay folder that does not exist, a project mapping that names no base project, two projects with one live name, or a `Workspace` document outside the root's `pzctl.yaml`.",
    InvalidOverlay = "invalid-overlay": "An overlay document cannot patch the base: it lacks its kind or name, or removes a document the base does not declare.",
    UnresolvedValue = "unresolved-value": "A `${...}` placeholder names no value of the environment, or is used where no environment provides values; nothing unresolved is sent to the API.",
    MistypedValue = "mistyped-value": "A value of an environment is not of its declared type, or is used where its type does not fit (only a `stackKey` value fits `spec.stack`).",
    // Planning and applying.
    PermissionDenied = "permission-denied": "The acting principal lacks a permission a change needs.",
    CmsUnavailable = "cms-unavailable": "A change links or unlinks content types, but the connected stack's variant groups cannot be read: the target has no Content Management API endpoint (`--cma-endpoint`), or the CMA refused the credentials (stack permissions are not Personalize roles).",
    LastOwner = "last-owner": "A change would leave a project without an accepted owner (a pending owner invitation does not count).",
    TooManyDeletions = "too-many-deletions": "A plan deletes more resources than allowed.",
    AmbiguousRename = "ambiguous-rename": "The `previousNames` of a manifest match more than one live object, or a live object both a rename and a delete would touch; nothing is renamed.",
    LiveDuplicate = "live-duplicate": "Two live objects share one identity (name or key) in a project; changes to it are refused.",
    ImmutableField = "immutable-field": "A change touches a field the API cannot update.",
    InvalidTransition = "invalid-transition": "A status change the API does not allow.",
    StalePlan = "stale-plan": "A saved plan no longer matches: planned again, its changes differ (one diagnostic per difference; `apply --plan` exits 3 and writes nothing).",
    SavedPlan = "saved-plan": "A saved plan cannot be used here: another format version, edited after it was written, made for another target, or a flag contradicts it (`apply --plan` exits 1 and writes nothing).",
    Internal = "internal": "A bug in pzctl.",
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Where a problem is: a file, a 1-based line and column, and optionally the byte span of the
/// offending node for underlining.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
    /// Byte offset and length of the offending node in the file.
    #[serde(skip)]
    pub span: Option<(usize, usize)>,
}

impl Location {
    /// A place without a span; line and column are 1-based (0 is read as 1).
    #[must_use]
    pub fn new(file: impl Into<String>, line: usize, column: usize) -> Self {
        Location {
            file: file.into(),
            line: line.max(1),
            column: column.max(1),
            span: None,
        }
    }

    /// The same place, with the byte span of the offending node.
    #[must_use]
    pub fn with_span(mut self, offset: usize, len: usize) -> Self {
        self.span = Some((offset, len));
        self
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// Where the problem is, when it has a place in a manifest.
    #[serde(flatten)]
    pub location: Option<Location>,
    /// A suggestion, shown as a separate `help:` line.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem without a place or help.
    #[must_use]
    pub fn new(code: Code, severity: Severity, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity,
            message: message.into(),
            location: None,
            help: None,
        }
    }

    /// An error without a place.
    #[must_use]
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Diagnostic::new(code, Severity::Error, message)
    }

    /// A warning without a place.
    #[must_use]
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Diagnostic::new(code, Severity::Warning, message)
    }

    /// The same diagnostic at `location` (`None` leaves it without a place).
    #[must_use]
    pub fn at(mut self, location: impl Into<Option<Location>>) -> Self {
        self.location = location.into();
        self
    }

    /// The same diagnostic with a `help:` line (`None` leaves it without one).
    #[must_use]
    pub fn with_help(mut self, help: impl Into<Option<String>>) -> Self {
        self.help = help.into();
        self
    }

    /// The file, when the problem has a place.
    #[must_use]
    pub fn file(&self) -> Option<&str> {
        self.location
            .as_ref()
            .map(|location| location.file.as_str())
    }

    /// The 1-based line, when the problem has a place.
    #[must_use]
    pub fn line(&self) -> Option<usize> {
        self.location.as_ref().map(|location| location.line)
    }

    /// The 1-based column, when the problem has a place.
    #[must_use]
    pub fn column(&self) -> Option<usize> {
        self.location.as_ref().map(|location| location.column)
    }

    /// `file:line:column`, or `-` when the problem has no place.
    #[must_use]
    pub fn location(&self) -> String {
        match &self.location {
            Some(location) => location.to_string(),
            None => "-".to_owned(),
        }
    }
}

/// The text of every loaded file, by the name diagnostics use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    files: std::collections::BTreeMap<String, std::sync::Arc<str>>,
}

impl Sources {
    /// Remember a file's text (shared, not copied, when it is an `Arc<str>` already).
    pub fn insert(&mut self, file: impl Into<String>, text: impl Into<std::sync::Arc<str>>) {
        self.files.insert(file.into(), text.into());
    }

    /// The text of a file.
    #[must_use]
    pub fn get(&self, file: &str) -> Option<&str> {
        self.files.get(file).map(|text| &**text)
    }

    /// File names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }
}

/// `items` in backticks, separated by commas: "`a`, `b`", for lists in messages.
pub fn backticked(items: impl IntoIterator<Item = impl std::fmt::Display>) -> String {
    let listed: Vec<String> = items.into_iter().map(|item| format!("`{item}`")).collect();
    listed.join(", ")
}

/// The candidate closest to `word` (ignoring case) within a small edit distance, for
/// "did you mean" help lines.
#[must_use]
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            (
                strsim::levenshtein(&word, &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).clamp(1, 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
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
        let snippet = diagnostic.location.as_ref().and_then(|location| {
            let text = sources.get(&location.file)?;
            let (offset, len) = location.span?;
            (!text.is_empty() && snippet_fits(text, offset))
                .then_some((location, text, offset, len))
        });
        let rendered = match snippet {
            Some((location, text, offset, len)) => {
                let offset = floor_char_boundary(text, offset);
                let len = floor_char_boundary(text, offset + len) - offset;
                let label = format!("line {}, column {}", location.line, location.column);
                report = report.with_label(LabeledSpan::new(Some(label), offset, len));
                let report = miette::Report::new(report).with_source_code(
                    miette::NamedSource::new(&location.file, text.to_owned()).with_language("yaml"),
                );
                let mut text = String::new();
                handler
                    .render_report(&mut text, report.as_ref())
                    .map(|()| text)
            }
            None => {
                let mut text = String::new();
                if let Some(location) = &diagnostic.location {
                    report.message = format!("{location}: {}", report.message);
                }
                handler.render_report(&mut text, &report).map(|()| text)
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

/// Render diagnostics as a JSON array of `{file, line, column, code, message, severity, help}`;
/// `file`, `line` and `column` are `null` for a problem without a place.
#[must_use]
pub fn render_json(diagnostics: &[Diagnostic]) -> String {
    let items: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|d| {
            let mut object = serde_json::json!({
                "file": d.file(),
                "line": d.line(),
                "column": d.column(),
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
        let place = match &d.location {
            Some(location) => format!(
                "file={},line={},col={},",
                escape_property(&location.file),
                location.line,
                location.column
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

#[cfg(test)]
mod tests {
    use super::Code;

    /// Every code has a `## name` heading in `docs/diagnostics.md` whose first paragraph is the
    /// code's description, so the table above is the one source of both.
    #[test]
    fn docs_follow_the_code_table() {
        let docs = include_str!("../docs/diagnostics.md");
        let mut problems = Vec::new();
        let mut previous = 0;
        for code in Code::ALL {
            let heading = format!("\n## {}\n\n", code.as_str());
            let Some(at) = docs.find(&heading) else {
                problems.push(format!("no `## {code}` heading"));
                continue;
            };
            if at < previous {
                problems.push(format!("`## {code}` is out of the table's order"));
            }
            previous = at;
            let body = &docs[at + heading.len()..];
            let paragraph = body.split("\n\n").next().unwrap_or_default();
            if paragraph != code.description() {
                problems.push(format!(
                    "`## {code}` says {paragraph:?}, the code table {:?}",
                    code.description()
                ));
            }
        }
        let headings = docs.matches("\n## ").count();
        if headings != Code::ALL.len() {
            problems.push(format!("{headings} headings for {} codes", Code::ALL.len()));
        }
        assert!(problems.is_empty(), "docs/diagnostics.md: {problems:#?}");
    }
}
