//! `apply --plan FILE` does the reviewed changes or nothing: the file is sealed by its digest,
//! bound to its target, selection and guards, and planned again before anything is written
//! (exit 3 when the changes differ). Versioned state files, and no file created on a refusal.
//! The real binary against the embedded local organization and the emulator.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use crate::support::{TestContext, describe};

const PROJECT: &str =
    "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: shop}\nspec: {description: The shop}\n";

fn attribute(name: &str, description: &str) -> String {
    format!(
        "apiVersion: pzctl/v1\nkind: Attribute\nmetadata: {{name: {name}, project: shop}}\nspec: {{key: {name}, description: {description}}}\n"
    )
}

fn event(name: &str) -> String {
    format!(
        "apiVersion: pzctl/v1\nkind: Event\nmetadata: {{name: {name}, project: shop}}\nspec: {{description: {name} happened}}\n"
    )
}

/// A scratch directory with `personalize/` holding `files`.
fn context(files: &[(&str, String)]) -> TestContext {
    let context = TestContext::new();
    write_manifests(&context, "personalize", files);
    context
}

fn write_manifests(context: &TestContext, folder: &str, files: &[(&str, String)]) {
    let dir = context.path().join(folder);
    std::fs::create_dir_all(&dir).expect("mkdir");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write a manifest");
    }
}

fn shop() -> Vec<(&'static str, String)> {
    vec![
        ("project.yaml", PROJECT.to_owned()),
        ("tier.yaml", attribute("tier", "Loyalty tier")),
        ("signup.yaml", event("signup")),
    ]
}

/// `pzctl ARGS` in the context's directory (embedded organization in `.pzctl` unless the args
/// say otherwise).
fn pzctl(context: &TestContext, args: &[&str]) -> Output {
    context.pzctl().args(args).output().expect("pzctl runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn ok(context: &TestContext, args: &[&str]) -> Output {
    let output = pzctl(context, args);
    assert!(
        output.status.success(),
        "pzctl {args:?}: {}",
        describe(&output)
    );
    output
}

fn save_plan(context: &TestContext, extra: &[&str]) -> Value {
    let mut args = vec!["plan", "personalize", "--out", "plan.json"];
    args.extend_from_slice(extra);
    ok(context, &args);
    read_json(&context.path().join("plan.json"))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON")
}

fn write_plan(context: &TestContext, plan: &Value) {
    let text = serde_json::to_string_pretty(plan).expect("JSON");
    std::fs::write(context.path().join("plan.json"), text).expect("write plan.json");
}

/// The plan with its digest computed again, as someone who knows the format could.
fn resealed(mut plan: Value) -> Value {
    plan["digest"] = json!(pzctl::plan::saved::digest_of(&plan));
    plan
}

fn state(context: &TestContext) -> String {
    std::fs::read_to_string(context.path().join(".pzctl/state.json")).unwrap_or_default()
}

/// `apply --plan plan.json` refused with `code`, writing nothing; returns stderr.
fn refused(context: &TestContext, extra: &[&str], code: i32) -> String {
    let before = state(context);
    let mut args = vec!["apply", "--plan", "plan.json"];
    args.extend_from_slice(extra);
    let output = pzctl(context, &args);
    assert_eq!(output.status.code(), Some(code), "{}", describe(&output));
    assert_eq!(state(context), before, "a refused plan wrote nothing");
    stderr(&output)
}

#[test]
fn a_saved_plan_applies_with_the_recorded_selection_and_records_no_credential() {
    let context = context(&shop());
    let plan = save_plan(&context, &[]);
    assert_eq!(plan["format_version"], json!(3));
    assert_eq!(
        plan["binding"]["selection"]["paths"],
        json!(["personalize"])
    );
    assert_eq!(plan["binding"]["target"]["state_dir"], json!(".pzctl"));
    assert_eq!(plan["binding"]["target"]["endpoint"], Value::Null);
    assert_eq!(
        plan["binding"]["guards"],
        json!({"allow_delete": false, "max_deletions": 10})
    );
    assert!(
        plan["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    // No paths: the recorded `personalize`, not `.`.
    let output = ok(&context, &["apply", "--plan", "plan.json"]);
    assert!(
        stderr(&output).contains("Apply complete: 3 applied"),
        "{}",
        describe(&output)
    );
    let output = pzctl(&context, &["plan", "personalize", "--detailed-exitcode"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

#[test]
fn every_edit_of_a_plan_is_refused_before_anything_is_written() {
    let context = context(&shop());
    let original = save_plan(&context, &[]);
    type Edit = (&'static str, Box<dyn Fn(&mut Value)>);
    let edits: Vec<Edit> = vec![
        (
            "action",
            Box::new(|p| p["changes"][1]["action"] = json!("delete")),
        ),
        (
            "address",
            Box::new(|p| p["changes"][1]["address"] = json!("project/shop/attribute/other")),
        ),
        (
            "kind",
            Box::new(|p| p["changes"][2]["kind"] = json!("attribute")),
        ),
        (
            "value",
            Box::new(|p| p["changes"][1]["after"]["description"] = json!("Edited")),
        ),
        (
            "a change removed",
            Box::new(|p| {
                if let Some(changes) = p["changes"].as_array_mut() {
                    changes.remove(2);
                }
            }),
        ),
        (
            "a change added",
            Box::new(|p| {
                let mut extra = p["changes"][1].clone();
                extra["address"] = json!("project/shop/attribute/extra");
                extra["name"] = json!("extra");
                extra["after"]["key"] = json!("extra");
                if let Some(changes) = p["changes"].as_array_mut() {
                    changes.push(extra);
                }
            }),
        ),
        (
            "depends_on an unknown address",
            Box::new(|p| p["changes"][1]["depends_on"] = json!(["project/nowhere"])),
        ),
        (
            "the guards",
            Box::new(|p| p["binding"]["guards"]["allow_delete"] = json!(true)),
        ),
    ];
    for (what, edit) in &edits {
        let mut plan = original.clone();
        edit(&mut plan);
        // Edited by hand: named as such (exit 1).
        write_plan(&context, &plan);
        let message = refused(&context, &[], 1);
        assert!(
            message.contains("plan.json was edited after it was written"),
            "{what}: {message}"
        );
        // Edited and sealed again: planning again finds the difference (exit 3), except for a
        // change of the guards, which the fresh plan uses and so gives the same changes.
        if *what == "the guards" {
            continue;
        }
        write_plan(&context, &resealed(plan));
        let message = refused(&context, &[], 3);
        assert!(message.contains("no longer matches"), "{what}: {message}");
    }
    let mut plan = original.clone();
    plan["digest"] = json!("sha256:0000");
    write_plan(&context, &plan);
    let message = refused(&context, &[], 1);
    assert!(message.contains("edited after it was written"), "{message}");
    // The untouched plan still applies.
    write_plan(&context, &original);
    ok(&context, &["apply", "--plan", "plan.json"]);
}

#[test]
fn the_differences_are_listed_with_their_fields() {
    let context = context(&shop());
    let mut plan = save_plan(&context, &[]);
    plan["changes"][1]["after"]["description"] = json!("Edited");
    if let Some(changes) = plan["changes"].as_array_mut() {
        changes.remove(2);
    }
    write_plan(&context, &resealed(plan));
    let message = refused(&context, &[], 3);
    assert!(
        message.contains("project/shop/attribute/tier: differs in after"),
        "{message}"
    );
    assert!(
        message.contains("project/shop/event/signup: a new change"),
        "{message}"
    );
    assert!(message.contains("nothing was written"), "{message}");
}

#[test]
fn a_plan_for_another_target_is_refused() {
    let context = context(&shop());
    save_plan(&context, &[]);
    let before = state(&context);
    let output = pzctl(
        &context,
        &["apply", "--plan", "plan.json", "--state-dir", "elsewhere"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let message = stderr(&output);
    assert!(
        message.contains("`.pzctl`") && message.contains("`elsewhere`"),
        "{message}"
    );
    assert!(
        !context.path().join("elsewhere").exists(),
        "nothing created"
    );
    assert_eq!(state(&context), before);

    let emulator = crate::support::default_emulator();
    let url = emulator.url();
    let output = context
        .pzctl()
        .args(["apply", "--plan", "plan.json", "--endpoint", &url])
        .env("CONTENTSTACK_AUTHTOKEN", "owner-token")
        .output()
        .expect("pzctl runs");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("127.0.0.1"),
        "{}",
        describe(&output)
    );
    assert_eq!(emulator.stats().writes, 0);
}

/// The Content Management API a plan was made with is part of its target: content types would
/// be linked on another stack host.
#[test]
fn a_plan_for_another_content_management_api_is_refused() {
    let context = context(&shop());
    let emulator = crate::support::default_emulator();
    let url = emulator.url();
    let cma = emulator.cma_url();
    let run = |args: &[&str]| {
        context
            .pzctl()
            .args(args)
            .args(["--endpoint", &url])
            .env("CONTENTSTACK_AUTHTOKEN", "owner-token")
            .output()
            .expect("pzctl runs")
    };
    let output = run(&[
        "plan",
        "personalize",
        "--out",
        "plan.json",
        "--cma-endpoint",
        &cma,
    ]);
    assert!(output.status.success(), "{}", describe(&output));
    let plan = read_json(&context.path().join("plan.json"));
    assert_eq!(plan["binding"]["target"]["cma_endpoint"], json!(cma));

    for other in [&["--cma-endpoint", "http://127.0.0.1:9"][..], &[]] {
        let mut args = vec!["apply", "--plan", "plan.json", "--auto-approve"];
        args.extend_from_slice(other);
        let output = run(&args);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        // The message as one line, without the wrapping of the terminal.
        let message = stderr(&output)
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            message.contains(&format!(
                "with the Content Management API at {cma}, not for"
            )),
            "{}",
            describe(&output)
        );
    }

    // A plan that records none is refused by a target that has one, saying why.
    let output = run(&["plan", "personalize", "--out", "plan.json"]);
    assert!(output.status.success(), "{}", describe(&output));
    let output = run(&[
        "apply",
        "--plan",
        "plan.json",
        "--auto-approve",
        "--cma-endpoint",
        &cma,
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("records no Content Management API"),
        "{}",
        describe(&output)
    );
    assert_eq!(emulator.stats().writes, 0);
}

#[test]
fn a_flag_that_contradicts_the_plan_is_an_error_and_one_that_agrees_is_not() {
    let context = context(&shop());
    save_plan(&context, &["--project", "shop"]);
    for (flags, named) in [
        (&["--project", "other"][..], "--project"),
        (&["--max-deletions", "50"][..], "--max-deletions"),
        (&["--allow-delete"][..], "--allow-delete"),
        (&["elsewhere"][..], "paths"),
        (&["--exclude", "*.yaml"][..], "--exclude"),
        (&["--include", "tier.yaml"][..], "--include"),
    ] {
        let message = refused(&context, flags, 1);
        assert!(message.contains(named), "{flags:?}: {message}");
        assert!(message.contains("contradicts"), "{flags:?}: {message}");
    }
    ok(
        &context,
        &[
            "apply",
            "--plan",
            "plan.json",
            "./personalize/",
            "--project",
            "shop",
            "--max-deletions",
            "10",
        ],
    );
}

#[test]
fn an_unrelated_live_change_does_not_block_the_plan() {
    let context = context(&shop());
    ok(&context, &["apply", "personalize", "--auto-approve"]);
    write_manifests(
        &context,
        "personalize",
        &[("tier.yaml", attribute("tier", "Changed"))],
    );
    save_plan(&context, &[]);
    // Someone adds an event the manifests do not declare (the project does not prune).
    write_manifests(
        &context,
        "other",
        &[
            ("project.yaml", PROJECT.to_owned()),
            ("ui.yaml", event("from-the-ui")),
        ],
    );
    ok(&context, &["apply", "other", "--auto-approve"]);
    let output = ok(&context, &["apply", "--plan", "plan.json"]);
    assert!(
        stderr(&output).contains("Apply complete: 1 applied"),
        "{}",
        describe(&output)
    );
}

#[test]
fn a_live_change_to_a_planned_object_refuses_the_plan_with_exit_3() {
    let context = context(&shop());
    ok(&context, &["apply", "personalize", "--auto-approve"]);
    write_manifests(
        &context,
        "personalize",
        &[("tier.yaml", attribute("tier", "Changed"))],
    );
    save_plan(&context, &[]);
    write_manifests(
        &context,
        "other",
        &[
            ("project.yaml", PROJECT.to_owned()),
            ("tier.yaml", attribute("tier", "In the UI")),
        ],
    );
    ok(&context, &["apply", "other", "--auto-approve"]);
    let message = refused(&context, &[], 3);
    assert!(
        message.contains("project/shop/attribute/tier: differs in before"),
        "{message}"
    );
}

#[test]
fn a_plan_from_a_newer_pzctl_is_refused_naming_both_versions() {
    let context = context(&shop());
    let mut plan = save_plan(&context, &[]);
    plan["format_version"] = json!(99);
    write_plan(&context, &resealed(plan));
    let message = refused(&context, &[], 1);
    assert!(
        message.contains("plan.json") && message.contains("99"),
        "{message}"
    );
    assert!(message.contains("version 3"), "{message}");
}

#[test]
fn a_state_file_from_a_newer_pzctl_is_refused_and_left_as_it_is() {
    let context = context(&shop());
    ok(&context, &["apply", "personalize", "--auto-approve"]);
    let path = context.path().join(".pzctl/state.json");
    let mut state = read_json(&path);
    assert_eq!(state["formatVersion"], json!(1));
    state["formatVersion"] = json!(99);
    state["newerData"] = json!({"kept": true});
    let text = serde_json::to_string_pretty(&state).expect("JSON");
    std::fs::write(&path, &text).expect("write");
    for args in [
        &["plan", "personalize"][..],
        &["apply", "personalize", "--auto-approve"][..],
    ] {
        let output = pzctl(&context, args);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        let message = stderr(&output);
        assert!(
            message.contains("state.json") && message.contains("99") && message.contains("1"),
            "{message}"
        );
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    }
    // Same version, an unknown field: refused too, never dropped.
    state["formatVersion"] = json!(1);
    let text = serde_json::to_string_pretty(&state).expect("JSON");
    std::fs::write(&path, &text).expect("write");
    let output = pzctl(&context, &["apply", "personalize", "--auto-approve"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("`newerData`"),
        "{}",
        describe(&output)
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
}

#[test]
fn emulator_data_from_a_newer_pzctl_is_refused_and_left_as_it_is() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path: PathBuf = dir.path().join("data.json");
    let mut data =
        pzctl::store::Store::new("org", Vec::new(), pzctl::store::Limits::default()).to_json();
    assert_eq!(data["formatVersion"], json!(1));
    data["formatVersion"] = json!(99);
    let text = serde_json::to_string_pretty(&data).expect("JSON");
    std::fs::write(&path, &text).expect("write");
    let mut config = pzctl::emulator::EmulatorConfig::with_default_users();
    config.data = Some(path.clone());
    let error = pzctl::emulator::start(config, "127.0.0.1:0".parse().expect("an address"))
        .err()
        .expect("a newer data file is refused");
    let message = error.to_string();
    assert!(
        message.contains("data.json") && message.contains("99") && message.contains("version 1"),
        "{message}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
}

#[test]
fn no_file_is_created_when_the_input_is_refused() {
    let broken = [(
        "broken.yaml",
        "apiVersion: pzctl/v1\nkind: Attribute\nmetadata: {name: x}\n".to_owned(),
    )];
    let context = context(&broken);
    let output = pzctl(&context, &["apply", "personalize", "--auto-approve"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let output = pzctl(&context, &["plan", "personalize", "--out", "plan.json"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        !context.path().join(".pzctl").exists(),
        "no state directory"
    );
    assert!(!context.path().join("plan.json").exists(), "no plan file");

    // A saved plan refused for its file, its flags or its target opens no organization.
    // Planning reads a local organization that does not exist yet without creating it.
    let good = context_with_plan();
    assert!(
        !good.path().join(".pzctl").exists(),
        "plan created no state directory"
    );
    let mut plan = read_json(&good.path().join("plan.json"));
    let sealed = plan.clone();
    plan["summary"]["create"] = json!(0);
    write_plan(&good, &plan);
    let output = pzctl(&good, &["apply", "--plan", "plan.json"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    write_plan(&good, &sealed);
    let output = pzctl(&good, &["apply", "--plan", "plan.json", "--project", "x"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let output = pzctl(&good, &["apply", "--plan", "plan.json", "--state-dir", "b"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(!good.path().join(".pzctl").exists(), "no state directory");
    assert!(!good.path().join("b").exists(), "no state directory");
}

fn context_with_plan() -> TestContext {
    let context = context(&shop());
    save_plan(&context, &[]);
    context
}
