//! The one redactor: removes the current credentials from any text a server sent before pzctl
//! prints or stores it (error bodies, redirect targets, transport and decode messages). The CLI
//! runs everything it prints through the same redactor as a second line of defence.

use serde_json::Value;

/// Shown instead of a credential.
pub const MASK: &str = "***";

/// Tokens shorter than this are not searched for: masking every `abc` would garble output, and
/// no real credential is that short.
const MIN_SECRET_LEN: usize = 6;

/// The secrets to remove. Cheap to clone.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// A redactor for these secret values.
    #[must_use]
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(str::trim)
            .filter(|secret| secret.len() >= MIN_SECRET_LEN)
            .map(str::to_owned)
            .collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// Whether there is nothing to remove.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret replaced by [`MASK`].
    #[must_use]
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }

    /// `value` with every secret removed from its strings and keys.
    #[must_use]
    pub fn json(&self, value: Value) -> Value {
        if self.is_empty() {
            return value;
        }
        match value {
            Value::String(text) => Value::String(self.text(&text)),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(key, value)| (self.text(&key), self.json(value)))
                    .collect(),
            ),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removes_secrets_from_text_and_json() {
        let redactor = Redactor::new(["tok-SECRET-1", "abc"]);
        assert_eq!(redactor.text("bad token tok-SECRET-1!"), "bad token ***!");
        assert_eq!(redactor.text("abc stays"), "abc stays");
        assert_eq!(
            redactor.json(json!({"message": ["Bearer tok-SECRET-1"], "tok-SECRET-1": 1})),
            json!({"message": ["Bearer ***"], "***": 1})
        );
    }
}
