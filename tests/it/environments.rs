//! Environments (`pzctl.yaml`, `--env`): `examples/environments` validates, plans and applies
//! in each environment against the embedded organization and then plans to no changes; an
//! environment must be chosen and an unknown one is refused with a suggestion.

use std::path::PathBuf;

use crate::support::TestContext;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/environments")
}

fn run(context: &TestContext, args: &[&str]) -> std::process::Output {
    let mut command = context.pzctl();
    command
        .env("PZCTL_LOCAL_USER", "owner@example.com")
        .args(args)
        .arg(example());
    if args.first() != Some(&"validate") {
        command.arg("--state-dir").arg(context.path().join("state"));
    }
    command.output().expect("run pzctl")
}

fn describe(output: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_example_validates_plans_applies_and_converges_in_every_environment() {
    let context = TestContext::new();
    let validated = run(&context, &["validate"]);
    assert_eq!(validated.status.code(), Some(0), "{}", describe(&validated));
    for env in ["staging", "production"] {
        let planned = run(&context, &["plan", "--env", env, "--format", "json"]);
        assert_eq!(planned.status.code(), Some(0), "{}", describe(&planned));
        let plan: serde_json::Value =
            serde_json::from_slice(&planned.stdout).expect("the plan is JSON");
        let text = plan.to_string();
        let live = format!("storefront-{env}");
        assert!(text.contains(&live), "{env}: {text}");
        // Nothing unresolved in what would be sent.
        assert!(!text.contains("${"), "{env}: {text}");
        let applied = run(&context, &["apply", "--env", env, "--auto-approve"]);
        assert_eq!(applied.status.code(), Some(0), "{}", describe(&applied));
        let again = run(&context, &["plan", "--env", env, "--detailed-exitcode"]);
        assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    }
    // The environments differ as their overlays say: staging alone has the QA event and the
    // A/B test, production alone the third member.
    let exported = context.path().join("exported");
    let mut command = context.pzctl();
    let out = command
        .env("PZCTL_LOCAL_USER", "owner@example.com")
        .args(["export", "--out"])
        .arg(&exported)
        .arg("--state-dir")
        .arg(context.path().join("state"))
        .output()
        .expect("run pzctl export");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let read_tree = |project: &str| {
        let mut text = String::new();
        let mut stack = vec![exported.join(project)];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).expect("read dir") {
                    stack.push(entry.expect("entry").path());
                }
            } else {
                text.push_str(&std::fs::read_to_string(&path).expect("read file"));
            }
        }
        text
    };
    let staging = read_tree("storefront-staging");
    let production = read_tree("storefront-production");
    assert!(staging.contains("qa_check") && !production.contains("qa_check"));
    assert!(staging.contains("checkout-test") && !production.contains("checkout-test"));
    assert!(production.contains("member@example.com") && !staging.contains("member@example.com"));
    assert!(staging.contains("blt0123456789abcdef") && production.contains("bltfedcba9876543210"));
    assert!(staging.contains("env:staging") && production.contains("env:production"));
}

#[test]
fn an_environment_must_be_chosen_and_known() {
    let context = TestContext::new();
    // These messages name the workspace file as it was given and are wrapped at 100 columns,
    // so they are run from the checkout with a relative path: an absolute one would wrap
    // differently in a checkout at another place.
    let mut command = context.pzctl();
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["plan", "examples/environments"]);
    pzctl_snapshot!(context, "plan_without_env", &mut command);
    let mut command = context.pzctl();
    command.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "plan",
        "--env",
        "stagign",
        "examples/environments",
    ]);
    pzctl_snapshot!(context, "plan_unknown_env", &mut command);
    let mut command = context.pzctl();
    command
        .args(["projects", "--env", "production"])
        .arg(example());
    pzctl_snapshot!(context, "projects_in_production", &mut command);
}
