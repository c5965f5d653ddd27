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

use crate::export::yaml;
use crate::model::Kind;
use crate::plan::{Action, Change, manifest_view};

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
    match change.kind() {
        Kind::StackLink | Kind::ExperienceOrder => change.kind().as_str().to_owned(),
        _ => format!("{} {}", change.kind().as_str(), change.name),
    }
}

/// A field value of an update on one line: strings double-quoted (so ` -> ` never blurs where
/// a value ends), lists and maps in YAML flow style, `(none)` for absent values.
pub(crate) fn inline(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(none)".to_owned(),
        Some(Value::String(text)) => yaml::double_quoted(text),
        Some(value) => flow(value),
    }
}

/// A value in YAML flow style, strings quoted only when YAML needs it: `[a, "b, c"]`.
fn flow(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::String(text) => string(text, Context::Flow),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(key, value)| format!("{}: {}", string(key, Context::Flow), flow(value)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        other => other.to_string(),
    }
}

/// Where a scalar is written: flow collections also reserve `,[]{}`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Block,
    Flow,
}

/// A string as a YAML scalar that reads back as that same string: plain when YAML would read
/// it so, else double-quoted.
fn string(text: &str, context: Context) -> String {
    if is_plain(text, context) {
        text.to_owned()
    } else {
        yaml::double_quoted(text)
    }
}

/// Words YAML 1.1 or 1.2 reads as booleans, null or special floats, and the merge key.
const RESERVED: &[&str] = &[
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "<<",
];

fn is_plain(text: &str, context: Context) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    // Indicators, and what could read as a number, date or special float (`+1`, `.5`, `.inf`).
    if "-?:,[]{}#&*!|>'\"%@`+.".contains(first) || first.is_ascii_digit() {
        return false;
    }
    if text.ends_with(':') || text.contains(": ") || text.contains(" #") {
        return false;
    }
    if text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
        return false;
    }
    if RESERVED.iter().any(|word| text.eq_ignore_ascii_case(word)) {
        return false;
    }
    text.chars().all(|ch| {
        let code = u32::from(ch);
        !(ch.is_control()
            || matches!(code, 0x2028 | 0x2029 | 0xFEFF)
            || (context == Context::Flow && ",[]{}".contains(ch)))
    })
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

/// A spec of `kind` as its manifest view (see [`manifest_view`]) in indented YAML lines, as a
/// user writes it: block maps and lists, lists of plain values in flow style (`[a, b]`), strings
/// quoted only when YAML needs it. For creates, and for deletes in Markdown.
pub(crate) fn spec_lines(kind: Kind, spec: &Value) -> Vec<String> {
    let view = manifest_view(kind, spec);
    let mut out = Vec::new();
    if view.as_object().is_some_and(serde_json::Map::is_empty) {
        // Nothing a manifest would need to write (e.g. an event without description).
    } else if is_inline(&view) {
        out.push(block(&view));
    } else {
        write_lines(&view, 0, &mut out);
    }
    out
}

/// A spec of `kind` as its manifest view, one line per top-level field with nested values in
/// flow style: the compact form of what a delete removes.
pub(crate) fn compact_lines(kind: Kind, spec: &Value) -> Vec<String> {
    match manifest_view(kind, spec) {
        Value::Object(map) => map
            .iter()
            .map(|(key, value)| format!("{}: {}", string(key, Context::Block), block(value)))
            .collect(),
        other => vec![flow(&other)],
    }
}

/// Written on the line of its key: scalars, and lists of scalars (in flow style).
fn is_inline(value: &Value) -> bool {
    match value {
        Value::Array(items) => items
            .iter()
            .all(|item| !item.is_array() && !item.is_object()),
        Value::Object(map) => map.is_empty(),
        _ => true,
    }
}

fn write_lines(value: &Value, indent: usize, out: &mut Vec<String>) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let key = string(key, Context::Block);
                if is_inline(value) {
                    out.push(format!("{pad}{key}: {}", block(value)));
                } else {
                    out.push(format!("{pad}{key}:"));
                    write_lines(value, indent + 2, out);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                if is_inline(item) {
                    out.push(format!("{pad}- {}", block(item)));
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
        other => out.push(format!("{pad}{}", block(other))),
    }
}

/// An inline value in block context: a string may hold `,[]{}` unquoted there.
fn block(value: &Value) -> String {
    match value {
        Value::String(text) => string(text, Context::Block),
        other => flow(other),
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Context, compact_lines, inline, is_plain, spec_lines};
    use crate::model::Kind;

    #[test]
    fn strings_are_quoted_only_when_yaml_needs_it() {
        for plain in [
            "gold",
            "Welcome to the project!",
            "Tier (bronze, silver, gold)",
            "env:production",
            "a-b_c.d/e@f",
        ] {
            assert!(is_plain(plain, Context::Block), "{plain}");
        }
        for quoted in [
            "",
            "18",
            "1.5",
            "+1",
            ".inf",
            "-x",
            "true",
            "No",
            "null",
            "~",
            "a: b",
            "a #b",
            "end:",
            " lead",
            "trail ",
            "two\nlines",
            "*ref",
            "!tag",
            "'q'",
            "\"q\"",
            "[x]",
            "{x}",
            "#c",
            "%d",
            "@a",
            "`b`",
        ] {
            assert!(!is_plain(quoted, Context::Block), "{quoted:?}");
        }
        assert!(!is_plain("a, b", Context::Flow));
        assert!(!is_plain("a]", Context::Flow));
    }

    #[test]
    fn creates_read_as_manifests() {
        let spec = json!({
            "kind": "SEGMENTED", "description": "Hero, for all", "tags": ["env:prod", "a, b"],
            "status": "active",
            "variants": [{"segmented": {"name": "Gold", "audiences": ["gold"], "combination": "OR"}}],
            "targeting": null, "metrics": []
        });
        assert_eq!(
            spec_lines(Kind::Experience, &spec),
            vec![
                "type: segmented",
                "description: Hero, for all",
                "tags: [env:prod, \"a, b\"]",
                "status: active",
                "variants:",
                "  - name: Gold",
                "    audiences: [gold]",
                "    match: any",
            ]
        );
        assert!(spec_lines(Kind::Event, &json!({"key": "buy", "description": ""})).is_empty());
    }

    #[test]
    fn deletes_are_one_line_per_field() {
        let spec = json!({"description": "Old", "rules": {"combination": "OR", "rules": [
            {"condition": {"attribute": {"custom": "age"}, "condition": "NUMBER_GREATER_THAN", "value": 18, "negate": false}}
        ]}});
        assert_eq!(
            compact_lines(Kind::Audience, &spec),
            vec![
                "description: Old",
                "rules: {any: [{attribute: age, condition: NUMBER_GREATER_THAN, value: 18}]}",
            ]
        );
    }

    #[test]
    fn update_values_quote_top_level_strings_only() {
        assert_eq!(inline(Some(&json!("member"))), "\"member\"");
        assert_eq!(inline(Some(&json!(["a", "b c", "1"]))), "[a, b c, \"1\"]");
        assert_eq!(inline(None), "(none)");
        assert_eq!(
            inline(Some(&json!({"audiences": ["gold"], "match": "all"}))),
            "{audiences: [gold], match: all}"
        );
    }
}
