//! Plan renderers: human text (Terraform style), JSON (the plan file), and Markdown for pull
//! request comments; the same three forms of a promotion (`pzctl diff`).
//!
//! Invariant: renderers read only a [`Plan`](crate::plan::Plan); re-rendering a saved plan gives
//! the same output as rendering it fresh. No IO here: the CLI prints.

mod json;
mod live;
mod markdown;
mod promotion;
mod text;

pub use json::json;
pub use live::{LIVE_FORMAT_VERSION, live_json, live_text};
pub use markdown::{MARKDOWN_LIMIT, markdown};
pub use promotion::{promotion_json, promotion_markdown, promotion_text};
pub use text::text;

use serde_json::Value;

use crate::model::Kind;
use crate::plan::{Action, Change, manifest_view};
use crate::yaml_out;

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

/// What follows a change's label: `(create)`, `(update)`, `(delete)`, or for an update that
/// renames the object in place `(renamed from OLD)`.
pub(crate) fn action_note(change: &Change) -> String {
    match &change.renamed_from {
        Some(old) => format!("(renamed from {old})"),
        None => format!("({})", action_word(change.action)),
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
/// [`inline`], for the planner's notes.
#[must_use]
pub fn inline_value(value: Option<&Value>) -> String {
    inline(value)
}

pub(crate) fn inline(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(none)".to_owned(),
        Some(Value::String(text)) => yaml_out::double_quoted(text),
        Some(value) => yaml_out::flow(value),
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

/// A spec of `kind` as its manifest view (see [`manifest_view`]) in indented YAML lines, as a
/// user writes it (see [`yaml_out`]). For creates, and for deletes in Markdown.
pub(crate) fn spec_lines(kind: Kind, spec: &Value) -> Vec<String> {
    let view = manifest_view(kind, spec);
    if view.as_object().is_some_and(serde_json::Map::is_empty) {
        // Nothing a manifest would need to write (e.g. an event without description).
        return Vec::new();
    }
    yaml_out::lines(&view)
}

/// A spec of `kind` as its manifest view, one line per top-level field with nested values in
/// flow style: the compact form of what a delete removes.
pub(crate) fn compact_lines(kind: Kind, spec: &Value) -> Vec<String> {
    match manifest_view(kind, spec) {
        Value::Object(map) => map
            .iter()
            .map(|(key, value)| format!("{}: {}", yaml_out::scalar(key), yaml_out::inline(value)))
            .collect(),
        other => vec![yaml_out::flow(&other)],
    }
}

/// `Plan: N to create, N to update, N to delete.`
pub(crate) fn closing(summary: &crate::plan::Summary) -> String {
    format!(
        "Plan: {} to create, {} to update, {} to delete.",
        summary.create, summary.update, summary.delete
    )
}

/// The plan's notes as lines (empty when it has none), the same in every text form.
pub(crate) fn note_lines(plan: &crate::plan::Plan) -> Vec<String> {
    let mut lines = Vec::new();
    for note in &plan.notes {
        lines.push(format!("Note: {}: {}", note.address, note.message));
        for step in &note.steps {
            lines.push(format!("  - {step}"));
        }
    }
    lines
}

/// The heading of the unmanaged objects in text and Markdown.
pub(crate) const UNMANAGED: &str =
    "Unmanaged: live objects no manifest declares, left alone by this plan";

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

    use super::{compact_lines, inline, spec_lines};
    use crate::model::Kind;

    #[test]
    fn creates_read_as_manifests() {
        let spec = json!({
            "kind": "segmented", "description": "Hero, for all", "tags": ["env:prod", "a, b"],
            "status": "active",
            "variants": [{"segmented": {"name": "Gold", "audiences": ["gold"], "combination": "any"}}],
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
        let spec = json!({"description": "Old", "rules": {"combination": "any", "rules": [
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
