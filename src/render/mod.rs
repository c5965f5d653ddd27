//! Plan renderers: human text (Terraform style), JSON (the plan file), and Markdown for pull
//! request comments.
//!
//! Invariant: renderers read only a [`Plan`](crate::plan::Plan); re-rendering a saved plan gives
//! the same output as rendering it fresh. No IO here: the CLI prints.

mod json;
mod markdown;
mod text;

pub use json::json;
pub use markdown::{MARKDOWN_LIMIT, markdown};
pub use text::text;

use serde_json::Value;

use crate::plan::{Action, Change};

/// The one-character symbol of an action (meaning never by color alone: the word follows).
pub(crate) fn symbol(action: Action) -> char {
    match action {
        Action::Create => '+',
        Action::Update => '~',
        Action::Delete => '-',
    }
}

pub(crate) fn action_word(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
    }
}

/// `kind name`, or the kind alone for project-level kinds.
pub(crate) fn label(change: &Change) -> String {
    use crate::model::Kind;
    match change.kind {
        Kind::StackLink | Kind::ExperienceOrder => change.kind.as_str().to_owned(),
        _ => format!("{} {}", change.kind.as_str(), change.name),
    }
}

/// A value on one line: JSON, with `(none)` for absent values.
pub(crate) fn inline(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(none)".to_owned(),
        Some(value) => value.to_string(),
    }
}

/// Whether a field is long text that reads better as a line diff.
pub(crate) fn is_long_text(before: Option<&Value>, after: Option<&Value>) -> bool {
    let long = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .is_some_and(|text| text.chars().count() > 60 || text.contains('\n'))
    };
    let textual =
        |value: Option<&Value>| matches!(value, None | Some(Value::String(_) | Value::Null));
    textual(before) && textual(after) && (long(before) || long(after))
}

/// A line diff of two texts: (sign, line) pairs, sign one of `-`, `+`, ` `.
pub(crate) fn line_diff(before: Option<&Value>, after: Option<&Value>) -> Vec<(char, String)> {
    let before = before.and_then(Value::as_str).unwrap_or("");
    let after = after.and_then(Value::as_str).unwrap_or("");
    let diff = similar::TextDiff::from_lines(before, after);
    diff.iter_all_changes()
        .map(|change| {
            let sign = match change.tag() {
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
                similar::ChangeTag::Equal => ' ',
            };
            (sign, change.value().trim_end_matches('\n').to_owned())
        })
        .collect()
}

/// A spec as indented `key: value` lines (YAML-like), for creates and deletes.
pub(crate) fn spec_lines(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match value {
        Value::Object(_) | Value::Array(_) => write_lines(value, 0, &mut out),
        other => out.push(scalar(other)),
    }
    out
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_owned(),
        Value::String(text) if text.is_empty() => "\"\"".to_owned(),
        Value::String(text) if text.contains('\n') => Value::String(text.clone()).to_string(),
        Value::String(text) => text.clone(),
        Value::Array(items) if items.is_empty() => "[]".to_owned(),
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        other => other.to_string(),
    }
}

fn is_scalar(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => true,
    }
}

fn write_lines(value: &Value, indent: usize, out: &mut Vec<String>) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if is_scalar(value) {
                    out.push(format!("{pad}{key}: {}", scalar(value)));
                } else {
                    out.push(format!("{pad}{key}:"));
                    write_lines(value, indent + 2, out);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                if is_scalar(item) {
                    out.push(format!("{pad}- {}", scalar(item)));
                } else {
                    let mut nested = Vec::new();
                    write_lines(item, indent + 2, &mut nested);
                    for (index, line) in nested.into_iter().enumerate() {
                        if index == 0 {
                            out.push(format!("{pad}- {}", line.trim_start()));
                        } else {
                            out.push(line);
                        }
                    }
                }
            }
        }
        other => out.push(format!("{pad}{}", scalar(other))),
    }
}

/// `Plan: N to create, N to update, N to delete.`
pub(crate) fn closing(summary: &crate::plan::Summary) -> String {
    format!(
        "Plan: {} to create, {} to update, {} to delete.",
        summary.create, summary.update, summary.delete
    )
}

/// The sentence for an empty plan.
pub const NO_CHANGES: &str = "No changes. The live organization matches the manifests.";

/// Changes grouped by project, projects in order of first appearance, changes in plan order.
pub(crate) fn by_project(changes: &[Change]) -> Vec<(&str, Vec<&Change>)> {
    let mut groups: Vec<(&str, Vec<&Change>)> = Vec::new();
    for change in changes {
        match groups
            .iter_mut()
            .find(|(project, _)| *project == change.project)
        {
            Some((_, group)) => group.push(change),
            None => groups.push((change.project.as_str(), vec![change])),
        }
    }
    groups
}
