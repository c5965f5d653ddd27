//! The JSON form of a plan: exactly its serialization, pretty-printed, with a trailing newline.

use crate::plan::Plan;

/// The plan as pretty JSON with a trailing newline (the `--out` file and `--format json`).
#[must_use]
pub fn json(plan: &Plan) -> String {
    match serde_json::to_string_pretty(plan) {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        // A plan holds only strings, numbers and string-keyed maps: this cannot fail.
        Err(error) => format!("{{\"error\": {:?}}}\n", error.to_string()),
    }
}
