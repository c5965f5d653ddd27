//! `pzctl apply --format ndjson`: every line of a real apply stream is a JSON object of a type
//! `docs/apply.md` documents, with the keys it documents.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{TestContext, emulator_with};

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

fn pzctl(context: &TestContext, args: &[&str]) -> Command {
    let mut command = context.pzctl();
    command.args(["--state-dir", "org"]).args(args);
    command
}

/// What every retry, lookup and wait event has.
const RETRY_FIELDS: &[&str] = &["address", "attempt", "status", "wait_ms", "method", "path"];

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
            "retry" | "lookup" => RETRY_FIELDS.to_vec(),
            "wait" => [RETRY_FIELDS, &["reason"]].concat(),
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
    assert_eq!(documented.len(), 10, "{documented:?}");
    let text = String::from_utf8(stdout.to_vec()).expect("utf-8");
    assert!(text.ends_with('\n'), "{text}");
    let mut events = Vec::new();
    for line in text.lines() {
        let event: Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
        assert_eq!(event["v"], 2, "{line}");
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

/// A project with `count` attributes: enough creates that the seeded faults below hit some.
fn many_attributes(count: usize) -> String {
    let mut text = String::from("apiVersion: pzctl/v1\nkind: Project\nmetadata:\n  name: busy\n");
    for index in 0..count {
        text.push_str(&format!(
            "---\napiVersion: pzctl/v1\nkind: Attribute\nmetadata:\n  name: signal-{index}\n  project: busy\nspec:\n  key: signal_{index}\n"
        ));
    }
    text
}

#[test]
fn retries_and_waits_are_streamed_between_their_change_start_and_finish() {
    // 5xx answers, answers lost after the write, and a rate limit below the client's pace,
    // with a fixed seed. The changes run one at a time, so the faults fall the same way on
    // every run (429s are decided before the fault draws); only the timing of 429s varies.
    let emulator = emulator_with(|config| {
        config.fault_rate = 0.15;
        config.drop_rate = 0.15;
        config.rate_limit = Some(2.0);
        config.seed = 7;
    });
    let context = TestContext::new();
    std::fs::write(context.path().join("busy.yaml"), many_attributes(4)).expect("write");
    let output = context
        .pzctl()
        .args(["apply", "busy.yaml", "--auto-approve", "--format", "ndjson"])
        .args(["--parallelism", "1", "--rate-limit", "50"])
        .arg("--endpoint")
        .arg(emulator.url())
        .env("CONTENTSTACK_AUTHTOKEN", "owner-token")
        .output()
        .expect("run pzctl");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!stdout.contains("owner-token"), "a token leaked: {stdout}");
    let events = check_stream(&output.stdout);

    let position = |kind: &str, address: &Value| {
        events
            .iter()
            .position(|event| event["type"] == kind && &event["address"] == address)
    };
    let plan = position("plan", &Value::Null).expect("a plan event");
    let of = |kind: &str| -> Vec<(usize, &Value)> {
        events
            .iter()
            .enumerate()
            .filter(|(_, event)| event["type"] == kind)
            .collect()
    };
    let (retries, lookups, waits) = (of("retry"), of("lookup"), of("wait"));
    for &(index, event) in retries.iter().chain(&lookups).chain(&waits) {
        let address = &event["address"];
        assert!(event["attempt"].as_u64().is_some_and(|n| n >= 1), "{event}");
        assert!(event["wait_ms"].is_u64(), "{event}");
        if address.is_null() {
            // Reading the organization, before the plan.
            assert!(index < plan, "{event}");
            continue;
        }
        let started = position("change_started", address).expect("its change started");
        let finished = position("change_finished", address).expect("its change finished");
        assert!(
            started < index && index < finished,
            "{event} is not between its change's start ({started}) and finish ({finished})"
        );
    }
    assert!(
        retries
            .iter()
            .any(|(_, e)| e["status"].as_u64().is_some_and(|s| s >= 500)),
        "no 5xx retry: {stdout}"
    );
    assert!(
        lookups
            .iter()
            .any(|(_, e)| e["method"] == "POST" && e["status"].is_null()),
        "no create looked up after a lost answer: {stdout}"
    );
    assert!(
        retries.iter().any(|(_, e)| e["status"] == 429),
        "no retry after a 429: {stdout}"
    );
    let retry_after: Vec<_> = waits
        .iter()
        .filter(|(_, e)| e["reason"] == "retry_after")
        .collect();
    assert!(
        retry_after
            .iter()
            .all(|(_, e)| e["status"] == 429 && e["wait_ms"].as_u64() >= Some(1000)),
        "{stdout}"
    );
    assert!(
        waits
            .iter()
            .any(|(_, e)| e["reason"] == "slowdown" && e["rate"].as_f64() < Some(50.0)),
        "no slowdown: {stdout}"
    );
    let report = &events.last().expect("a report")["report"];
    assert_eq!(
        report["http"]["retries"].as_u64(),
        Some(u64::try_from(retries.len() + lookups.len()).expect("count")),
        "every retry and lookup is an event: {stdout}"
    );
    assert_eq!(
        report["http"]["rate_limited"].as_u64(),
        Some(u64::try_from(retry_after.len()).expect("count")),
        "every 429 (the emulator always sends Retry-After) is a wait event: {stdout}"
    );
}

/// A rename in place says, in its events, the name it had.
#[test]
fn a_rename_names_its_old_name_in_its_events() {
    let context = TestContext::new();
    let manifests = context.path().join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    for entry in std::fs::read_dir(quickstart()).expect("read quickstart") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), manifests.join(entry.file_name())).expect("copy");
    }
    let path = manifests.to_str().expect("utf-8 path");
    let applied = pzctl(&context, &["apply", path, "--auto-approve"])
        .output()
        .expect("pzctl runs");
    assert!(applied.status.success(), "{applied:?}");
    let audiences = manifests.join("audiences.yaml");
    let text = std::fs::read_to_string(&audiences).expect("read");
    assert!(text.contains("  name: gold-members\n"), "{text}");
    std::fs::write(
        &audiences,
        text.replace("gold-members", "gold-tier").replace(
            "  name: gold-tier\n",
            "  name: gold-tier\n  previousNames: [gold-members]\n",
        ),
    )
    .expect("write");
    let experiences = manifests.join("experiences.yaml");
    let text = std::fs::read_to_string(&experiences).expect("read");
    std::fs::write(&experiences, text.replace("gold-members", "gold-tier")).expect("write");

    let output = pzctl(
        &context,
        &["apply", path, "--auto-approve", "--format", "ndjson"],
    )
    .output()
    .expect("pzctl runs");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let events = check_stream(&output.stdout);
    let renamed: Vec<(&str, &str)> = events
        .iter()
        .filter(|event| event["address"] == "project/storefront/audience/gold-tier")
        .map(|event| {
            (
                event["type"].as_str().unwrap_or_default(),
                event["renamed_from"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        renamed,
        [
            ("change_started", "gold-members"),
            ("change_finished", "gold-members")
        ],
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .filter(|event| event["type"] == "change_started")
            .all(
                |event| event["address"] == "project/storefront/audience/gold-tier"
                    || event.get("renamed_from").is_none()
            ),
        "{events:#?}"
    );
}
