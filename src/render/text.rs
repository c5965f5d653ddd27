//! The human text form of a plan, after Terraform: grouped by project, `+` create, `~` update,
//! `-` delete, field-level `before -> after`, and a closing count line.

use std::fmt::Write as _;

use super::{
    NO_CHANGES, UNMANAGED, action_note, by_project, closing, compact_lines, inline, is_long_text,
    label, line_diff, spec_lines, symbol,
};
use crate::plan::{Action, Change, Plan};

const GREEN: &str = "\x1b[32m";
pub(super) const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
pub(super) const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

pub(super) struct Paint {
    pub(super) color: bool,
}

impl Paint {
    pub(super) fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    fn action(&self, action: Action, text: &str) -> String {
        self.paint(
            match action {
                Action::Create => GREEN,
                Action::Update => YELLOW,
                Action::Delete => RED,
            },
            text,
        )
    }

    pub(super) fn sign(&self, sign: char, text: &str) -> String {
        match sign {
            '+' => self.paint(GREEN, text),
            '-' => self.paint(RED, text),
            _ => text.to_owned(),
        }
    }
}

/// The plan as text; `color` adds ANSI colors (the symbols and words carry the meaning).
#[must_use]
pub fn text(plan: &Plan, color: bool) -> String {
    let mut notes = String::new();
    for line in super::note_lines(plan) {
        let _ = writeln!(notes, "{line}");
    }
    if !notes.is_empty() {
        notes.insert(0, '\n');
    }
    if plan.changes.is_empty() {
        let mut out = format!("{NO_CHANGES}\n");
        write_unmanaged(&mut out, plan);
        out.push_str(&notes);
        return out;
    }
    let paint = Paint { color };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pzctl will perform the following actions, in this order:"
    );
    for (project, changes) in by_project(&plan.changes) {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", paint.paint(BOLD, &format!("project {project}")));
        for change in changes {
            write_change(&mut out, change, &paint);
        }
    }
    write_unmanaged(&mut out, plan);
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", closing(&plan.summary));
    out.push_str(&notes);
    out
}

/// The unmanaged objects, one line each, after the changes.
fn write_unmanaged(out: &mut String, plan: &Plan) {
    if plan.unmanaged.is_empty() {
        return;
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{UNMANAGED} ({}):", plan.unmanaged.len());
    for object in &plan.unmanaged {
        let _ = writeln!(out, "  ? {} (uid {})", object.address, object.uid);
    }
}

/// One changed field, `~ path: before -> after`, or a line diff under `~ path:` for long text.
pub(super) fn write_field(
    out: &mut String,
    paint: &Paint,
    path: &str,
    before: Option<&serde_json::Value>,
    after: Option<&serde_json::Value>,
) {
    if is_long_text(before, after) {
        let _ = writeln!(out, "      ~ {path}:");
        for (sign, line) in line_diff(before, after) {
            let _ = writeln!(
                out,
                "          {}",
                paint.sign(sign, &format!("{sign} {line}"))
            );
        }
    } else {
        let _ = writeln!(
            out,
            "      ~ {path}: {} -> {}",
            inline(before),
            inline(after)
        );
    }
}

fn write_change(out: &mut String, change: &Change, paint: &Paint) {
    let header = format!(
        "{} {} {}",
        symbol(change.action),
        label(change),
        action_note(change)
    );
    let _ = writeln!(out, "  {}", paint.action(change.action, &header));
    if let Some(note) = &change.note {
        let _ = writeln!(out, "      # {note}");
    }
    match change.action {
        Action::Create => {
            if let Some(after) = &change.after_json() {
                for line in spec_lines(change.kind(), after) {
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
        Action::Update => {
            for field in &change.fields {
                write_field(
                    out,
                    paint,
                    &field.path,
                    field.before.as_ref(),
                    field.after.as_ref(),
                );
            }
        }
        Action::Delete => {
            if let Some(before) = &change.before_json() {
                for line in compact_lines(change.kind(), before) {
                    let _ = writeln!(out, "      {}", paint.sign('-', &format!("- {line}")));
                }
            }
        }
    }
}
