//! Diagnostics: every user-facing problem as data, with a stable [`Code`], a message and the
//! file, line and column of the offending node.
//!
//! Invariant: diagnostics are data; only the renderers here and the CLI turn them into text.

use serde::Serialize;

/// Stable, kebab-case diagnostic codes. Each has a heading in `docs/diagnostics.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    // Planning.
    PermissionDenied,
    LastOwner,
    TooManyDeletions,
    ImmutableField,
    InvalidTransition,
    StalePlan,
    Internal,
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
