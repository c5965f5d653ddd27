//! Environments (`pzctl.yaml`, `--env`): `examples/environments` validates, plans and applies
//! in each environment against the embedded organization and then plans to no changes; an
//! environment must be chosen and an unknown one is refused with a suggestion.

use std::path::PathBuf;

use crate::support::{TestContext, describe};

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

#[test]
fn a_saved_plan_records_its_environment_and_refuses_another() {
    let context = TestContext::new();
    let plan = context.path().join("plan.json");
    let plan_arg = plan.to_string_lossy().into_owned();
    let planned = run(&context, &["plan", "--env", "staging", "--out", &plan_arg]);
    assert_eq!(planned.status.code(), Some(0), "{}", describe(&planned));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).expect("read the plan"))
            .expect("the plan is JSON");
    assert_eq!(saved["binding"]["selection"]["env"], "staging");
    let state = context.path().join("state/state.json");
    // Another environment contradicts the plan: refused before anything is read or written.
    let other = run(
        &context,
        &[
            "apply",
            "--plan",
            &plan_arg,
            "--env",
            "production",
            "--auto-approve",
        ],
    );
    assert_eq!(other.status.code(), Some(1), "{}", describe(&other));
    let message = String::from_utf8_lossy(&other.stderr);
    assert!(
        message.contains("--env production contradicts the saved plan"),
        "{message}"
    );
    assert!(message.contains("made with staging"), "{message}");
    assert!(!state.exists(), "a refused plan wrote nothing");
    // Without `--env`, the recorded one is planned again, and the plan applies.
    let applied = run(&context, &["apply", "--plan", &plan_arg, "--auto-approve"]);
    assert_eq!(applied.status.code(), Some(0), "{}", describe(&applied));
    assert!(state.exists());
    let again = run(
        &context,
        &["plan", "--env", "staging", "--detailed-exitcode"],
    );
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    // The same environment given again agrees with the plan; now the plan is stale (exit 3).
    let stale = run(
        &context,
        &[
            "apply",
            "--plan",
            &plan_arg,
            "--env",
            "staging",
            "--auto-approve",
        ],
    );
    assert_eq!(stale.status.code(), Some(3), "{}", describe(&stale));
}

#[test]
fn diff_shows_what_promotion_changes_in_manifest_words() {
    let context = TestContext::new();
    let mut command = context.pzctl();
    command.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "diff",
        "--env",
        "staging",
        "--env",
        "production",
        "examples/environments",
    ]);
    pzctl_snapshot!(context, "diff_staging_production", &mut command);

    // JSON: by base project name, with the live names of each side.
    let json = context
        .pzctl()
        .args([
            "diff",
            "--env",
            "staging",
            "--env",
            "production",
            "--format",
            "json",
        ])
        .arg(example())
        .output()
        .expect("run pzctl diff");
    assert_eq!(json.status.code(), Some(2), "{}", describe(&json));
    let promotion: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(promotion["format_version"], 1);
    assert_eq!(
        promotion["from"]["projects"]["storefront"],
        "storefront-staging"
    );
    assert_eq!(
        promotion["to"]["projects"]["storefront"],
        "storefront-production"
    );
    let found = |address: &str| {
        promotion["differences"]
            .as_array()
            .expect("differences")
            .iter()
            .find(|d| d["address"] == address)
            .cloned()
            .unwrap_or_else(|| panic!("no difference at {address}: {promotion}"))
    };
    assert_eq!(
        found("project/storefront/experience/checkout-test")["difference"],
        "only_in_from"
    );
    assert_eq!(
        found("project/storefront/member/member@example.com")["difference"],
        "only_in_to"
    );
    let hero = found("project/storefront/experience/homepage-hero");
    assert_eq!(hero["difference"], "different");
    assert_eq!(hero["fields"][0]["path"], "tags");
    assert_eq!(
        hero["fields"][0]["from"],
        serde_json::json!(["env:staging", "team:web"])
    );
    assert_eq!(hero["to"]["status"], "active");
    assert_eq!(promotion["summary"]["different"], 3);

    // Markdown for a promotion pull request.
    let markdown = context
        .pzctl()
        .args([
            "diff",
            "--env",
            "staging",
            "--env",
            "production",
            "--format",
            "markdown",
        ])
        .arg(example())
        .output()
        .expect("run pzctl diff");
    assert_eq!(markdown.status.code(), Some(2), "{}", describe(&markdown));
    let markdown = String::from_utf8_lossy(&markdown.stdout);
    assert!(
        markdown.starts_with("## pzctl diff: `staging` → `production`"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| experience `checkout-test` | only in staging |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("- tags: [env:staging, team:web]\n+ tags: [env:production, team:web]"),
        "{markdown}"
    );

    // An environment compared with itself, or one project only by base or live name.
    let same = context
        .pzctl()
        .args(["diff", "--env", "production", "--env", "production"])
        .arg(example())
        .output()
        .expect("run pzctl diff");
    assert_eq!(same.status.code(), Some(1), "{}", describe(&same));
    for project in ["storefront", "storefront-staging"] {
        let one = context
            .pzctl()
            .args([
                "diff",
                "--env",
                "production",
                "--env",
                "staging",
                "--project",
                project,
            ])
            .arg(example())
            .output()
            .expect("run pzctl diff");
        assert_eq!(one.status.code(), Some(2), "{}", describe(&one));
        let text = String::from_utf8_lossy(&one.stdout);
        assert!(
            text.contains("+ experience checkout-test (only in staging)"),
            "{text}"
        );
    }
    let unknown = context
        .pzctl()
        .args(["diff", "--env", "staging", "--env", "prodution"])
        .arg(example())
        .output()
        .expect("run pzctl diff");
    assert_eq!(unknown.status.code(), Some(1), "{}", describe(&unknown));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("did you mean `production`?"),
        "{}",
        describe(&unknown)
    );
}

#[test]
fn diff_of_environments_that_agree_exits_0() {
    let context = TestContext::new();
    let root = context.path().join("tree");
    std::fs::create_dir_all(root.join("base")).expect("mkdir");
    std::fs::write(
        root.join("pzctl.yaml"),
        "apiVersion: pzctl/v1\nkind: Workspace\nenvironments:\n  staging:\n    projects: {shop: shop-staging}\n  production: {}\n",
    )
    .expect("write pzctl.yaml");
    std::fs::write(
        root.join("base/shop.yaml"),
        "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: shop}\nspec: {description: The shop}\n---\napiVersion: pzctl/v1\nkind: Event\nmetadata: {name: buy, project: shop}\nspec: {description: Bought}\n",
    )
    .expect("write a manifest");
    let output = context
        .pzctl()
        .args(["diff", "--env", "staging", "--env", "production"])
        .arg(&root)
        .output()
        .expect("run pzctl diff");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "No differences. Environments staging and production declare the same objects with the same fields.\n"
    );
}

#[test]
fn show_and_export_read_an_environments_live_projects() {
    let context = TestContext::new();
    for env in ["staging", "production"] {
        let applied = run(&context, &["apply", "--env", env, "--auto-approve"]);
        assert_eq!(applied.status.code(), Some(0), "{}", describe(&applied));
    }
    let state = context.path().join("state");
    let pzctl = |args: &[&str]| {
        context
            .pzctl()
            .env("PZCTL_LOCAL_USER", "owner@example.com")
            .args(args)
            .arg("--manifests")
            .arg(example())
            .arg("--state-dir")
            .arg(&state)
            .output()
            .expect("run pzctl")
    };
    // Both environments live in one organization: a plan of one does not list the other's
    // project as unmanaged (the workspace manages it), and still has no changes.
    for env in ["staging", "production"] {
        let planned = run(
            &context,
            &[
                "plan",
                "--env",
                env,
                "--format",
                "json",
                "--detailed-exitcode",
                "--unmanaged-is-drift",
            ],
        );
        assert_eq!(planned.status.code(), Some(0), "{}", describe(&planned));
        let plan: serde_json::Value = serde_json::from_slice(&planned.stdout).expect("JSON");
        assert!(plan.get("unmanaged").is_none(), "{env}: {plan}");
    }
    // `show --env` shows the environment's live projects only.
    let shown = pzctl(&["show", "--env", "production"]);
    assert_eq!(shown.status.code(), Some(0), "{}", describe(&shown));
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("project storefront-production"), "{text}");
    assert!(!text.contains("storefront-staging"), "{text}");
    // `--project` takes the base name (or the live one) with `--env`.
    let one = pzctl(&[
        "show",
        "--env",
        "staging",
        "--project",
        "storefront",
        "--format",
        "json",
    ]);
    assert_eq!(one.status.code(), Some(0), "{}", describe(&one));
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(
        text.contains("storefront-staging") && !text.contains("storefront-production"),
        "{text}"
    );
    // An unknown environment: the same error as every command, with the environments.
    let unknown = pzctl(&["show", "--env", "stagin"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", describe(&unknown));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("did you mean `staging`?"),
        "{}",
        describe(&unknown)
    );

    // `export --env` writes the environment's projects under their base names, with a
    // `pzctl.yaml` that maps them back; planned in that environment, it has no changes.
    let out = context.path().join("production");
    let exported = pzctl(&[
        "export",
        "--env",
        "production",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(exported.status.code(), Some(0), "{}", describe(&exported));
    assert!(out.join("storefront/project.yaml").is_file());
    assert!(!out.join("storefront-production").exists());
    let workspace = std::fs::read_to_string(out.join("pzctl.yaml")).expect("read pzctl.yaml");
    assert!(
        workspace.contains("storefront: storefront-production"),
        "{workspace}"
    );
    let project = std::fs::read_to_string(out.join("storefront/project.yaml")).expect("read");
    assert!(project.contains("name: storefront\n"), "{project}");
    let planned = context
        .pzctl()
        .env("PZCTL_LOCAL_USER", "owner@example.com")
        .args([
            "plan",
            "--env",
            "production",
            "--detailed-exitcode",
            "--project",
            "storefront-production",
        ])
        .arg(&out)
        .arg("--state-dir")
        .arg(&state)
        .output()
        .expect("run pzctl plan");
    assert_eq!(planned.status.code(), Some(0), "{}", describe(&planned));
    // Nothing is written when the environment is unknown.
    let refused = context.path().join("refused");
    let bad = pzctl(&[
        "export",
        "--env",
        "qa",
        "--out",
        refused.to_str().expect("utf-8"),
    ]);
    assert_eq!(bad.status.code(), Some(1), "{}", describe(&bad));
    assert!(!refused.exists());
}

/// What an overlay adds or patches is located in the overlay's file, at the overlay's line: a
/// refusal of a member the production overlay adds points there, not into the base file.
#[test]
fn what_an_overlay_adds_is_located_in_the_overlay() {
    let loaded = pzctl::manifest::load_env_in(
        &example(),
        &pzctl::manifest::LoadConfig {
            paths: vec![PathBuf::from(".")],
            ..Default::default()
        },
        Some("production"),
    );
    assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
    let project = &loaded.desired.projects["storefront-production"];
    let origin = |address: &str| {
        project
            .origins
            .get(address)
            .unwrap_or_else(|| panic!("no origin of {address}: {:#?}", project.origins))
    };
    let added = origin("project/storefront-production/member/member@example.com");
    assert_eq!(
        (added.file.as_str(), added.line),
        ("overlays/production/project.yaml", 9),
        "{added:?}"
    );
    let base = origin("project/storefront-production/member/owner@example.com");
    assert_eq!(base.file, "base/project.yaml", "{base:?}");
}
