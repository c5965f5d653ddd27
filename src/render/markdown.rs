//! The Markdown form of a plan, for pull request comments: a summary table per project, then
//! one folded `<details>` block per change with a `diff` code block, split into numbered parts
//! that each fit in one GitHub comment.
//!
//! Invariant: a part never ends inside a code fence or a `<details>` block.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::{
    NO_CHANGES, action_note, by_project, closing, inline, is_long_text, line_diff, spec_lines,
    symbol,
};
use crate::model::Kind;
use crate::plan::{Action, Change, Plan};

/// GitHub's limit on the length of a comment, in characters. Every part is shorter.
pub const MARKDOWN_LIMIT: usize = 65_536;

/// Room kept in every part for the `Part i of N` header.
const HEADER_ROOM: usize = 64;

/// The budget of one part's blocks.
pub(super) const BUDGET: usize = MARKDOWN_LIMIT - HEADER_ROOM - 1;

/// The plan as Markdown, in parts shorter than [`MARKDOWN_LIMIT`] characters.
#[must_use]
pub fn markdown(plan: &Plan) -> Vec<String> {
    let mut blocks = vec![summary(plan)];
    for change in &plan.changes {
        blocks.push(details(change));
    }
    if !plan.unmanaged.is_empty() {
        blocks.push(unmanaged(plan));
    }
    split(blocks)
}

/// Blocks joined into numbered parts shorter than [`MARKDOWN_LIMIT`] characters, a block never
/// cut (each is shorter than [`BUDGET`]).
pub(super) fn split(blocks: Vec<String>) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for block in blocks {
        let block_len = block.chars().count();
        if current_len > 0 && current_len + block_len > BUDGET {
            parts.push(std::mem::take(&mut current));
            current_len = 0;
        }
        current.push_str(&block);
        current_len += block_len;
    }
    if !current.is_empty() {
        parts.push(current);
    }
    let total = parts.len();
    if total > 1 {
        for (index, part) in parts.iter_mut().enumerate() {
            *part = format!("**Part {} of {total}**\n\n{part}", index + 1);
        }
    }
    parts
}

fn summary(plan: &Plan) -> String {
    let mut out = String::from("## pzctl plan\n\n");
    let notes = super::note_lines(plan);
    if plan.changes.is_empty() {
        let _ = writeln!(out, "{NO_CHANGES}");
        if !notes.is_empty() {
            let _ = writeln!(out, "\n{}", notes.join("\n"));
        }
        return out;
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "{}\n", notes.join("\n"));
    }
    let _ = writeln!(out, "**{}**\n", closing(&plan.summary));
    for (project, changes) in by_project(&plan.changes) {
        let mut counts: BTreeMap<Kind, [usize; 3]> = BTreeMap::new();
        for change in changes {
            let slot = match change.action {
                Action::Create => 0,
                Action::Update => 1,
                Action::Delete => 2,
            };
            counts.entry(change.kind()).or_default()[slot] += 1;
        }
        let _ = writeln!(out, "### Project `{}`\n", escape_code(project));
        let _ = writeln!(out, "| Kind | Create | Update | Delete |");
        let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
        for (kind, [create, update, delete]) in counts {
            let _ = writeln!(
                out,
                "| {} | {create} | {update} | {delete} |",
                kind.as_str()
            );
        }
        let _ = writeln!(out);
    }
    out
}

/// The unmanaged objects as a table, after the changes.
fn unmanaged(plan: &Plan) -> String {
    let gap = if plan.changes.is_empty() { "\n" } else { "" };
    let mut out = format!("{gap}### {}\n\n", super::UNMANAGED);
    let _ = writeln!(out, "| Address | Kind | uid |");
    let _ = writeln!(out, "| --- | --- | --- |");
    for object in &plan.unmanaged {
        let _ = writeln!(
            out,
            "| `{}` | {} | `{}` |",
            escape_code(&object.address).replace('|', "\\|"),
            object.kind.as_str(),
            escape_code(&object.uid).replace('|', "\\|")
        );
    }
    let _ = writeln!(out);
    out
}

/// Markdown inline code cannot hold backticks; HTML needs `<`, `>` and `&` escaped.
pub(super) fn escape_code(text: &str) -> String {
    text.replace('`', "'")
}

pub(super) fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn diff_lines(change: &Change) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(note) = &change.note {
        lines.push(format!("# {note}"));
    }
    match change.action {
        Action::Create | Action::Delete => {
            let (sign, spec) = match change.action {
                Action::Create => ('+', change.after_json()),
                _ => ('-', change.before_json()),
            };
            let spec_lines = spec.map(|spec| spec_lines(change.kind(), &spec));
            lines.extend(
                spec_lines
                    .into_iter()
                    .flatten()
                    .map(|line| format!("{sign} {line}")),
            );
        }
        Action::Update => {
            for field in &change.fields {
                let (before, after) = (field.before.as_ref(), field.after.as_ref());
                field_lines(&mut lines, &field.path, before, after);
            }
        }
    }
    lines
}

/// The diff lines of one changed field: a long text line by line, else `-` and `+` lines.
pub(super) fn field_lines(
    lines: &mut Vec<String>,
    path: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) {
    if is_long_text(before, after) {
        lines.push(format!("  {path}:"));
        for (sign, line) in line_diff(before, after) {
            lines.push(format!("{sign}   {line}"));
        }
    } else {
        lines.push(format!("- {path}: {}", inline(before)));
        lines.push(format!("+ {path}: {}", inline(after)));
    }
}

fn details(change: &Change) -> String {
    let head = format!(
        "<details><summary><code>{} {}</code> {}</summary>\n\n",
        symbol(change.action),
        escape_html(&change.address),
        escape_html(&action_note(change))
    );
    let lines = diff_lines(change);
    if lines.is_empty() && change.renamed_from.is_some() {
        return format!("{head}Renamed in place; nothing else changes.\n\n</details>\n\n");
    }
    if lines.is_empty() {
        // The manifest view is empty (an event or a project without description).
        return format!("{head}No fields besides its name.\n\n</details>\n\n");
    }
    fenced(&head, &lines, "pzctl plan")
}

/// `head` of a `<details>` block, then `lines` in a `diff` fence longer than any run of
/// backticks in them, cut short (pointing at `COMMAND --format json`) where they would not
/// fit in one part; then the block's end.
pub(super) fn fenced(head: &str, lines: &[String], command: &str) -> String {
    let longest_run = lines
        .iter()
        .map(|line| longest_backtick_run(line))
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    let open = format!("{fence}diff\n");
    let close = format!("{fence}\n\n</details>\n\n");
    let fixed = head.chars().count() + open.chars().count() + close.chars().count();
    let mut body = String::new();
    let mut body_len = 0;
    // A single change larger than a part is cut short, inside its own fence.
    let room = BUDGET.saturating_sub(fixed + 120);
    for (index, line) in lines.iter().enumerate() {
        let line_len = line.chars().count() + 1;
        if body_len + line_len > room {
            let _ = writeln!(
                body,
                "# … {} more lines; see `{command} --format json`",
                lines.len() - index
            );
            break;
        }
        body.push_str(line);
        body.push('\n');
        body_len += line_len;
    }
    format!("{head}{open}{body}{close}")
}

pub(super) fn longest_backtick_run(line: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for character in line.chars() {
        if character == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::{BUDGET, fenced};

    #[test]
    fn a_block_larger_than_a_part_is_cut_short_and_points_at_the_json_form() {
        let lines: Vec<String> = (0..BUDGET / 10).map(|i| format!("+ line {i:>5}")).collect();
        for command in ["pzctl plan", "pzctl diff"] {
            let block = fenced("<details>\n\n", &lines, command);
            assert!(block.chars().count() < BUDGET, "{command}");
            assert!(block.ends_with("```\n\n</details>\n\n"), "{command}");
            let note = format!(" more lines; see `{command} --format json`\n```");
            assert!(block.contains(&note), "{command}");
        }
        let short = fenced("<details>\n\n", &lines[..2], "pzctl plan");
        assert_eq!(
            short,
            "<details>\n\n```diff\n+ line     0\n+ line     1\n```\n\n</details>\n\n"
        );
    }
}
