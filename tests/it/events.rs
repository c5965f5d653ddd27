//! `pzctl apply --format ndjson`: every line of a real apply stream is a JSON object of a type
//! `docs/apply.md` documents, with the keys it documents.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::TestContext;

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

fn pzctl(context: &TestContext, args: &[&str]) -> Command {
    let mut command = context.pzctl();
    command.args(["--state-dir", "org"]).args(args);
    command
}

/// The event types of `docs/apply.md`'s table, with the fields every event of the type has.
fn documented() -> BTreeMap<String, Vec<&'static str>> {
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/apply.md"))
        .expect("read docs/apply.md");
    let section = docs
        .split("## The event stream")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/apply.md has a section on the event stream");
    let types: Vec<String> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .filter(|name| *name != "type")
        .map(str::to_owned)
        .collect();
    let required = |name: &str| -> Vec<&'static str> {
        match name {
            "plan" => vec!["create", "update", "delete", "changes"],
            "change_started" => vec!["address", "kind", "action"],
            "change_finished" => vec!["address", "kind", "action", "status"],
            "change_skipped" => vec!["address", "kind", "action", "blocked_by"],
            "refused" => vec!["message", "diagnostics"],
            "error" => vec!["message"],
            "report" => vec!["report"],
            other => {
                panic!("docs/apply.md documents an event type `{other}` this test does not know")
            }
        }
    };
    types
        .iter()
        .map(|name| (name.clone(), required(name)))
        .collect()
}

/// Check every line of `stdout`; returns the events.
fn check_stream(stdout: &[u8]) -> Vec<Value> {
    let documented = documented();
    assert_eq!(documented.len(), 7, "{documented:?}");
    let text = String::from_utf8(stdout.to_vec()).expect("utf-8");
    assert!(text.ends_with('\n'), "{text}");
    let mut events = Vec::new();
    for line in text.lines() {
        let event: Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
        assert_eq!(event["v"], 1, "{line}");
        let kind = event["type"]
            .as_str()
            .unwrap_or_else(|| panic!("no type: {line}"));
        let keys = documented
            .get(kind)
            .unwrap_or_else(|| panic!("undocumented event type `{kind}`: {line}"));
        for key in keys {
            assert!(event.get(key).is_some(), "`{kind}` without `{key}`: {line}");
        }
        events.push(event);
    }
    events
}

#[test]
fn every_line_of_an_apply_stream_is_a_documented_event() {
    let context = TestContext::new();
    let path = quickstart();
    let path = path.to_str().expect("utf-8 path");
    let output = pzctl_snapshot!(
        context,
        "ndjson_apply",
        &mut pzctl(
            &context,
            &[
                "apply",
                path,
                "--auto-approve",
                "--format",
                "ndjson",
                "--parallelism",
                "1"
            ]
        )
    );
    assert_eq!(output.status.code(), Some(0));
    let events = check_stream(&output.stdout);
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"plan"));
    assert_eq!(types.last(), Some(&"report"));
    assert_eq!(types.iter().filter(|t| **t == "change_started").count(), 9);
    assert_eq!(types.iter().filter(|t| **t == "change_finished").count(), 9);
    // Creates carry what they created; an experience its shortUid and its variants'.
    let hero = events
        .iter()
        .find(|e| {
            e["type"] == "change_finished"
                && e["address"] == "project/storefront/experience/homepage-hero"
        })
        .expect("the experience finished");
    assert!(hero["created"]["uid"].is_string(), "{hero}");
    assert!(hero["created"]["shortUid"].is_string(), "{hero}");
    assert!(
        hero["created"]["variants"][0]["shortUid"].is_string(),
        "{hero}"
    );

    // Nothing to do: the plan and the report.
    let again = pzctl(
        &context,
        &["apply", path, "--auto-approve", "--format", "ndjson"],
    )
    .output()
    .expect("run pzctl");
    let types: Vec<String> = check_stream(&again.stdout)
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(types, ["plan", "report"]);
}

#[test]
fn refusals_and_errors_are_events_too() {
    let context = TestContext::new();
    std::fs::write(
        context.path().join("broken.yaml"),
        "apiVersion: pzctl/v1\nkind: Event\nmetadata:\n  name: signup\n  project: nowhere\nspec:\n  colour: blue\n",
    )
    .expect("write");
    let output = pzctl_snapshot!(
        context,
        "ndjson_refused",
        &mut pzctl(
            &context,
            &[
                "apply",
                "broken.yaml",
                "--auto-approve",
                "--format",
                "ndjson"
            ]
        )
    );
    assert_eq!(output.status.code(), Some(1));
    let events = check_stream(&output.stdout);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "refused");
    assert!(
        events[0]["diagnostics"]
            .as_array()
            .is_some_and(|all| !all.is_empty())
    );

    let mut command = pzctl(
        &context,
        &[
            "apply",
            "--auto-approve",
            "--format",
            "ndjson",
            "--plan",
            "missing.json",
        ],
    );
    let output = command.output().expect("run pzctl");
    assert_eq!(output.status.code(), Some(1));
    let events = check_stream(&output.stdout);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "error");
}
