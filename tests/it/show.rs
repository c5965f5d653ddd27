//! `pzctl show`: a saved plan rendered again exactly as `plan` printed it, and the live
//! organization with its identifiers, against the embedded organization.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::TestContext;

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

fn run(context: &TestContext, args: &[&str]) -> std::process::Output {
    let mut command = pzctl(context, args);
    command.output().expect("run pzctl")
}

fn pzctl(context: &TestContext, args: &[&str]) -> Command {
    let mut command = context.pzctl();
    command.args(["--state-dir", "org"]).args(args);
    command
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_saved_plan_renders_exactly_as_plan_printed_it() {
    let context = TestContext::new();
    let path = quickstart();
    let path = path.to_str().expect("utf-8 path");
    for format in ["text", "json", "markdown"] {
        let printed = run(
            &context,
            &["plan", path, "--out", "plan.json", "--format", format],
        );
        assert_eq!(printed.status.code(), Some(0));
        let shown = run(&context, &["show", "plan.json", "--format", format]);
        assert_eq!(shown.status.code(), Some(0));
        assert!(stdout(&shown).contains("storefront"), "{format}");
        assert_eq!(stdout(&shown), stdout(&printed), "{format}");
    }
    pzctl_snapshot!(
        context,
        "show_saved_plan",
        &mut pzctl(&context, &["show", "plan.json"])
    );
}

#[test]
fn a_file_that_is_not_a_plan_is_refused() {
    let context = TestContext::new();
    std::fs::write(
        context.path().join("report.json"),
        r#"{"format_version": 1}"#,
    )
    .expect("write");
    std::fs::write(context.path().join("notes.txt"), "not json").expect("write");
    pzctl_snapshot!(
        context,
        "show_not_a_plan",
        &mut pzctl(&context, &["show", "report.json"])
    );
    pzctl_snapshot!(
        context,
        "show_not_json",
        &mut pzctl(&context, &["show", "notes.txt"])
    );
    pzctl_snapshot!(
        context,
        "show_live_markdown",
        &mut pzctl(&context, &["show", "--format", "markdown"])
    );
}

#[test]
fn the_live_organization_is_shown_with_its_identifiers() {
    let context = TestContext::new();
    let path = quickstart();
    let path = path.to_str().expect("utf-8 path");
    let empty = run(&context, &["show"]);
    assert_eq!(stdout(&empty), "No projects.\n");
    // One change at a time, so the counters give the same ids on every run.
    let applied = run(
        &context,
        &["apply", path, "--auto-approve", "--parallelism", "1"],
    );
    assert_eq!(applied.status.code(), Some(0));

    pzctl_snapshot!(context, "show_live_text", &mut pzctl(&context, &["show"]));
    let output = pzctl_snapshot!(
        context,
        "show_live_json",
        &mut pzctl(
            &context,
            &["show", "--format", "json", "--project", "storefront"]
        )
    );
    let view: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let experiences = &view["projects"][0]["experiences"];
    assert!(
        experiences
            .as_array()
            .is_some_and(|all| all.iter().all(|e| e["shortUid"].is_string())),
        "{view}"
    );
    pzctl_snapshot!(
        context,
        "show_live_unknown_project",
        &mut pzctl(&context, &["show", "--project", "nope"])
    );
}
