//! The YAML writer: manifest-shaped JSON values as the YAML a person writes, for the plan
//! renderers (`render`) and for exported manifests (`export`).
//!
//! Block maps and block lists, lists of scalars in flow style (`[a, b]`), and one rule for
//! strings ([`scalar`]): plain when YAML reads the plain text back as that same string, else
//! double-quoted with JSON-style escapes. Key order is the value's own.
//!
//! Invariant: what it writes reads back (serde-saphyr, YAML 1.1 or 1.2 readers) as the value it
//! was given; `export`'s property tests check this.

use std::fmt::Write as _;

use serde_json::Value;

/// Words YAML 1.1 or 1.2 reads as booleans, null or special floats, and the merge key.
const RESERVED: &[&str] = &[
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "<<", "nan", "inf",
    "infinity",
];

/// Where a scalar is written: flow collections also reserve `,[]{}`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Block,
    Flow,
}

/// A string as a YAML scalar in block context (a map value, a list item or a key).
#[must_use]
pub fn scalar(text: &str) -> String {
    string(text, Context::Block)
}

fn string(text: &str, context: Context) -> String {
    if is_plain(text, context) {
        text.to_owned()
    } else {
        double_quoted(text)
    }
}

/// Whether `text` written plain reads back as that same string.
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
    text.chars()
        .all(|ch| !(needs_escape(ch) || (context == Context::Flow && ",[]{}".contains(ch))))
}

/// A double-quoted scalar with JSON-style escapes; every non-printable or line-breaking
/// character is escaped, so the text stays on one line.
#[must_use]
pub fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ch if needs_escape(ch) => {
                let _ = write!(out, "\\u{:04X}", u32::from(ch));
            }
            ch => out.push(ch),
        }
    }
    out.push('"');
    out
}

/// Characters that are not printable in YAML, or that YAML 1.1 treats as line breaks or a byte
/// order mark.
fn needs_escape(ch: char) -> bool {
    let code = u32::from(ch);
    ch.is_control() || matches!(code, 0x2028 | 0x2029 | 0xFEFF | 0xFFFE | 0xFFFF)
}

/// A value in flow style, strings quoted only when YAML needs it: `[a, "b, c"]`, `{k: v}`.
#[must_use]
pub fn flow(value: &Value) -> String {
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

/// A value written on the line of its key or list dash: a string in block context (where it
/// may hold `,[]{}` unquoted), anything else in flow style.
#[must_use]
pub fn inline(value: &Value) -> String {
    match value {
        Value::String(text) => scalar(text),
        other => flow(other),
    }
}

/// Whether a value goes on the line of its key: scalars, empty maps, and lists of scalars.
#[must_use]
pub fn is_inline(value: &Value) -> bool {
    match value {
        Value::Array(items) => items
            .iter()
            .all(|item| !item.is_array() && !item.is_object()),
        Value::Object(map) => map.is_empty(),
        _ => true,
    }
}

/// A value as indented block lines (no line ends): maps one key per line, nested maps and lists
/// of maps indented by two, list items `- ` at their key's indentation plus two.
#[must_use]
pub fn lines(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    write_lines(value, 0, &mut out);
    out
}

/// A whole document: [`lines`] with a line end after each.
#[must_use]
pub fn document(value: &Value) -> String {
    let mut out = String::new();
    for line in lines(value) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn write_lines(value: &Value, indent: usize, out: &mut Vec<String>) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                let key = scalar(key);
                if is_inline(value) {
                    out.push(format!("{pad}{key}: {}", inline(value)));
                } else {
                    out.push(format!("{pad}{key}:"));
                    write_lines(value, indent + 2, out);
                }
            }
        }
        Value::Array(items) if !is_inline(value) => {
            for item in items {
                if is_inline(item) {
                    out.push(format!("{pad}- {}", inline(item)));
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
        other => out.push(format!("{pad}{}", inline(other))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Context, document, flow, is_plain, scalar};

    #[test]
    fn strings_are_quoted_only_when_yaml_needs_it() {
        for plain in [
            "gold",
            "Welcome to the project!",
            "Tier (bronze, silver, gold)",
            "env:production",
            "a-b_c.d/e@f",
            "owner@example.com",
            "Größe über",
            "say \"hi\"",
        ] {
            assert!(is_plain(plain, Context::Block), "{plain}");
            assert_eq!(scalar(plain), plain);
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
            "nan",
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
            "<<",
            "a\u{2028}b",
        ] {
            assert!(!is_plain(quoted, Context::Block), "{quoted:?}");
        }
        assert!(!is_plain("a, b", Context::Flow));
        assert!(!is_plain("a]", Context::Flow));
        for (text, quoted) in [
            ("yes", "\"yes\""),
            ("line\nbreak", "\"line\\nbreak\""),
            ("\u{85}", "\"\\u0085\""),
            ("\"hi\"", "\"\\\"hi\\\"\""),
        ] {
            assert_eq!(scalar(text), quoted, "{text:?}");
        }
    }

    #[test]
    fn documents_are_block_maps_with_flow_lists_of_scalars() {
        let value = json!({
            "kind": "Audience",
            "spec": {"rules": {"all": [
                {"attribute": "yes", "condition": "IN", "value": ["a", "b, c"]},
                {"any": [{"preset": "DEVICE_TYPE", "negate": true}]}
            ]}, "tags": [], "empty": {}}
        });
        assert_eq!(
            document(&value),
            "kind: Audience\nspec:\n  rules:\n    all:\n      - attribute: \"yes\"\n        \
             condition: IN\n        value: [a, \"b, c\"]\n      - any:\n          - preset: \
             DEVICE_TYPE\n            negate: true\n  tags: []\n  empty: {}\n"
        );
        assert_eq!(
            flow(&json!({"audiences": ["gold"], "match": "all"})),
            "{audiences: [gold], match: all}"
        );
    }
}
