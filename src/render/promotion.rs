//! The forms of a promotion (`pzctl diff --env FROM --env TO`): text after the plan's (`~` an
//! object in both environments with its fields `from -> to`, `-` only in the first, `+` only in
//! the second), its JSON, and Markdown for a promotion pull request.
//!
//! Invariant: reads only a [`Promotion`]; the same words as the plan renderers (manifest views
//! in YAML, values inline as in an update).

use std::fmt::Write as _;

use serde_json::Value;

use super::markdown::{escape_code, escape_html, fenced, field_lines, split};
use super::text::{BOLD, Paint, YELLOW, write_field};
use crate::model::Kind;
use crate::plan::promotion::{Difference, DifferenceKind, Promotion};
use crate::yaml_out;

/// The promotion as JSON (`docs/environments.md`, "Promotion").
#[must_use]
pub fn promotion_json(promotion: &Promotion) -> String {
    let mut text = serde_json::to_string_pretty(promotion).unwrap_or_default();
    text.push('\n');
    text
}

fn symbol(difference: DifferenceKind) -> char {
    match difference {
        DifferenceKind::OnlyInFrom => '-',
        DifferenceKind::OnlyInTo => '+',
        DifferenceKind::Different => '~',
    }
}

/// `kind name`, or the kind alone for project-level kinds.
fn label(difference: &Difference) -> String {
    match difference.kind {
        Kind::StackLink | Kind::ExperienceOrder => difference.kind.as_str().to_owned(),
        kind => format!("{} {}", kind.as_str(), difference.name),
    }
}

fn where_(promotion: &Promotion, difference: DifferenceKind) -> String {
    match difference {
        DifferenceKind::OnlyInFrom => format!("only in {}", promotion.from.name),
        DifferenceKind::OnlyInTo => format!("only in {}", promotion.to.name),
        DifferenceKind::Different => "different".to_owned(),
    }
}

/// The closing line: the counts.
fn closing(promotion: &Promotion) -> String {
    let summary = &promotion.summary;
    format!(
        "Environments {} and {} differ: {} different, {} only in {}, {} only in {}.",
        promotion.from.name,
        promotion.to.name,
        summary.different,
        summary.only_in_from,
        promotion.from.name,
        summary.only_in_to,
        promotion.to.name
    )
}

fn no_differences(promotion: &Promotion) -> String {
    format!(
        "No differences. Environments {} and {} declare the same objects with the same fields.",
        promotion.from.name, promotion.to.name
    )
}

/// Differences grouped by base project, in order.
fn by_project(promotion: &Promotion) -> Vec<(&str, Vec<&Difference>)> {
    let mut groups: Vec<(&str, Vec<&Difference>)> = Vec::new();
    for difference in &promotion.differences {
        match groups.last_mut() {
            Some((project, group)) if *project == difference.project => group.push(difference),
            _ => groups.push((difference.project.as_str(), vec![difference])),
        }
    }
    groups
}

/// `project BASE (LIVE in FROM, LIVE in TO)`, naming only the environments that declare it.
fn project_heading(promotion: &Promotion, base: &str, code: bool) -> String {
    let quote = |name: &str| {
        if code {
            format!("`{}`", escape_code(name))
        } else {
            name.to_owned()
        }
    };
    let live: Vec<String> = [&promotion.from, &promotion.to]
        .iter()
        .filter_map(|side| {
            side.projects
                .get(base)
                .map(|live| format!("{} in {}", quote(live), quote(&side.name)))
        })
        .collect();
    format!("project {} ({})", quote(base), live.join(", "))
}

/// A view as YAML lines; nothing for an empty view.
fn view_lines(view: Option<&Value>) -> Vec<String> {
    match view {
        Some(view) if !view.as_object().is_some_and(serde_json::Map::is_empty) => {
            yaml_out::lines(view)
        }
        _ => Vec::new(),
    }
}

/// A view one line per top-level field, nested values in flow style.
fn compact_lines(view: Option<&Value>) -> Vec<String> {
    match view {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(key, value)| format!("{}: {}", yaml_out::scalar(key), yaml_out::inline(value)))
            .collect(),
        Some(other) => vec![yaml_out::flow(other)],
        None => Vec::new(),
    }
}

/// The promotion as text; `color` adds ANSI colors (the symbols and words carry the meaning).
#[must_use]
pub fn promotion_text(promotion: &Promotion, color: bool) -> String {
    let paint = Paint { color };
    if promotion.is_empty() {
        return format!("{}\n", no_differences(promotion));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Comparing environment {} (-) with environment {} (+), projects by base name:",
        promotion.from.name, promotion.to.name
    );
    for (project, differences) in by_project(promotion) {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}",
            paint.paint(BOLD, &project_heading(promotion, project, false))
        );
        for difference in differences {
            let header = format!(
                "{} {} ({})",
                symbol(difference.difference),
                label(difference),
                where_(promotion, difference.difference)
            );
            let header = match difference.difference {
                DifferenceKind::Different => paint.paint(YELLOW, &header),
                other => paint.sign(symbol(other), &header),
            };
            let _ = writeln!(out, "  {header}");
            match difference.difference {
                DifferenceKind::OnlyInTo => {
                    for line in view_lines(difference.to.as_ref()) {
                        let _ = writeln!(out, "      {line}");
                    }
                }
                DifferenceKind::OnlyInFrom => {
                    for line in compact_lines(difference.from.as_ref()) {
                        let _ = writeln!(out, "      {}", paint.sign('-', &format!("- {line}")));
                    }
                }
                DifferenceKind::Different => {
                    for field in &difference.fields {
                        write_field(
                            &mut out,
                            &paint,
                            &field.path,
                            field.from.as_ref(),
                            field.to.as_ref(),
                        );
                    }
                }
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", closing(promotion));
    out
}

/// The promotion as Markdown, in parts shorter than [`super::MARKDOWN_LIMIT`] characters: a
/// table per project, then one folded `diff` block per object.
#[must_use]
pub fn promotion_markdown(promotion: &Promotion) -> Vec<String> {
    let mut head = format!(
        "## pzctl diff: `{}` → `{}`\n\n",
        escape_code(&promotion.from.name),
        escape_code(&promotion.to.name)
    );
    if promotion.is_empty() {
        let _ = writeln!(head, "{}", no_differences(promotion));
        return vec![head];
    }
    let _ = writeln!(head, "**{}**\n", closing(promotion));
    let mut blocks = vec![head];
    for (project, differences) in by_project(promotion) {
        let mut table = format!("### {}\n\n", project_heading(promotion, project, true));
        let _ = writeln!(table, "| Object | Difference |");
        let _ = writeln!(table, "| --- | --- |");
        for difference in &differences {
            let what = match difference.difference {
                DifferenceKind::Different => difference
                    .fields
                    .iter()
                    .map(|field| format!("`{}`", escape_code(&field.path)))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => where_(promotion, other),
            };
            let object = match difference.kind {
                Kind::StackLink | Kind::ExperienceOrder => difference.kind.as_str().to_owned(),
                kind => format!(
                    "{} `{}`",
                    kind.as_str(),
                    escape_code(&difference.name).replace('|', "\\|")
                ),
            };
            let _ = writeln!(table, "| {object} | {} |", what.replace('|', "\\|"));
        }
        let _ = writeln!(table);
        blocks.push(table);
        for difference in differences {
            blocks.push(details(promotion, difference));
        }
    }
    split(blocks)
}

fn diff_lines(difference: &Difference) -> Vec<String> {
    match difference.difference {
        DifferenceKind::OnlyInTo => view_lines(difference.to.as_ref())
            .into_iter()
            .map(|line| format!("+ {line}"))
            .collect(),
        DifferenceKind::OnlyInFrom => view_lines(difference.from.as_ref())
            .into_iter()
            .map(|line| format!("- {line}"))
            .collect(),
        DifferenceKind::Different => {
            let mut lines = Vec::new();
            for field in &difference.fields {
                let (from, to) = (field.from.as_ref(), field.to.as_ref());
                field_lines(&mut lines, &field.path, from, to);
            }
            lines
        }
    }
}

fn details(promotion: &Promotion, difference: &Difference) -> String {
    let head = format!(
        "<details><summary><code>{} {}</code> ({})</summary>\n\n",
        symbol(difference.difference),
        escape_html(&difference.address),
        escape_html(&where_(promotion, difference.difference))
    );
    let lines = diff_lines(difference);
    if lines.is_empty() {
        return format!("{head}No fields besides its name.\n\n</details>\n\n");
    }
    fenced(&head, &lines, "pzctl diff")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::{promotion_markdown, promotion_text};
    use crate::model::Kind;
    use crate::plan::promotion::{
        Difference, DifferenceKind, Environment, FORMAT_VERSION, Field, Promotion, Summary,
    };
    use crate::render::MARKDOWN_LIMIT;

    fn promotion(differences: Vec<Difference>) -> Promotion {
        let side = |name: &str| Environment {
            name: name.to_owned(),
            projects: BTreeMap::from([("shop".to_owned(), format!("shop-{name}"))]),
        };
        Promotion {
            format_version: FORMAT_VERSION,
            from: side("staging"),
            to: side("production"),
            summary: Summary {
                only_in_from: 0,
                only_in_to: 0,
                different: differences.len(),
            },
            differences,
        }
    }

    fn description(name: &str, from: &str, to: &str) -> Difference {
        Difference {
            address: format!("project/shop/event/{name}"),
            difference: DifferenceKind::Different,
            kind: Kind::Event,
            project: "shop".to_owned(),
            name: name.to_owned(),
            from: Some(json!({"description": from})),
            to: Some(json!({"description": to})),
            fields: vec![Field {
                path: "description".to_owned(),
                from: Some(json!(from)),
                to: Some(json!(to)),
            }],
        }
    }

    #[test]
    fn long_texts_read_as_line_diffs_and_short_ones_inline() {
        let long = "line one\nline two\n".repeat(3);
        let text = promotion_text(
            &promotion(vec![
                description("buy", "Bought", "Paid"),
                description("view", &long, &long.replace("two", "2")),
            ]),
            false,
        );
        assert!(
            text.contains("      ~ description: \"Bought\" -> \"Paid\"\n"),
            "{text}"
        );
        assert!(
            text.contains("          - line two\n          + line 2\n"),
            "{text}"
        );
        assert!(
            text.contains("project shop (shop-staging in staging, shop-production in production)")
        );
    }

    #[test]
    fn markdown_parts_stay_under_the_comment_limit_and_keep_their_fences() {
        let differences = (0..400)
            .map(|index| description(&format!("event-{index}"), &"x".repeat(300), "y"))
            .collect();
        let parts = promotion_markdown(&promotion(differences));
        assert!(parts.len() > 1, "{} parts", parts.len());
        for part in &parts {
            assert!(part.chars().count() < MARKDOWN_LIMIT);
            let fences = part.lines().filter(|line| line.starts_with("```")).count();
            assert_eq!(fences % 2, 0, "a part leaves a fence open");
        }
        assert!(parts[0].starts_with("**Part 1 of"), "{}", &parts[0][..40]);
        assert!(
            parts
                .iter()
                .any(|part| part.contains("project/shop/event/event-399"))
        );
    }
}
