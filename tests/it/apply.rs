//! Integration tests of `pzctl apply` and the applier: convergence, permissions, lost answers
//! and faults, crashes, Ctrl-C, stale saved plans, parity. Against the embedded local
//! organization and the emulator (in process over real HTTP), through the library and the
//! binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use pzctl::apply::{self, ApplyConfig, CancelToken, NoReporter};
use pzctl::live::embedded::EmbeddedBackend;
use pzctl::live::retry::RetryPolicy;
use pzctl::live::{Api, Backend, Method, Request};
use pzctl::manifest::{self, LoadConfig};
use pzctl::plan::{self, PlanConfig};
use pzctl::wire::{self, OrgRole, ProjectRole};
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::support::{Faulty, TestContext, describe, emulator_with as emulator};

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

fn multi_project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/multi-project")
}

/// Run the binary against the embedded organization in `state`.
fn pzctl(state: &Path, user: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pzctl"));
    command
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("PZCTL_ENDPOINT")
        .env_remove("PZCTL_REGION")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    match user {
        Some(user) => command.env("PZCTL_LOCAL_USER", user),
        None => command.env_remove("PZCTL_LOCAL_USER"),
    };
    command.output().expect("run pzctl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Seed an embedded organization with the users of `examples/emulator-users.yaml`.
fn seed_users(state: &Path) {
    let users = [
        ("owner@example.com", OrgRole::Owner),
        ("admin@example.com", OrgRole::Admin),
        ("member@example.com", OrgRole::Member),
        ("dev@example.com", OrgRole::Member),
    ]
    .into_iter()
    .map(|(email, organization_role)| wire::User {
        email: email.to_owned(),
        organization_role,
    })
    .collect();
    let store = pzctl::store::Store::new("local", users, pzctl::store::Limits::default());
    std::fs::create_dir_all(state).expect("state dir");
    std::fs::write(
        state.join("state.json"),
        serde_json::to_vec(&store.to_json()).expect("state json"),
    )
    .expect("write state");
}

fn embedded_as(state: &Path, user: &str) -> Api<EmbeddedBackend> {
    Api::new(EmbeddedBackend::open_as(state, user).expect("open the embedded organization"))
}

/// Names that occur more than once, per project and kind (projects by name too).
/// Apply `plan` to `api`, uninterrupted and unreported.
async fn run_apply<B: Backend + 'static>(
    plan: &plan::Plan,
    api: Arc<Api<B>>,
    live: &pzctl::model::LiveState,
    config: &ApplyConfig,
) -> apply::ApplyReport {
    apply::apply(plan, api, live, config, CancelToken::new(), &mut NoReporter).await
}

async fn duplicates<B: Backend>(api: &Api<B>) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    // Read through a retry policy, as observe does: the emulator may inject faults. The check
    // itself is not under test, so it is patient (20 failed attempts per read).
    let retry = RetryPolicy::fast().with_max_attempts(20);
    let projects =
        pzctl::retry_idempotent!(retry, api.list_projects().await).expect("list projects");
    for project in &projects {
        *seen.entry(format!("project/{}", project.name)).or_default() += 1;
        let uid = &project.uid;
        let prefix = format!("project/{}", project.name);
        for attribute in pzctl::retry_idempotent!(retry, api.list::<wire::Attribute>(uid).await)
            .expect("attributes")
        {
            *seen
                .entry(format!("{prefix}/attribute/{}", attribute.name))
                .or_default() += 1;
        }
        for event in
            pzctl::retry_idempotent!(retry, api.list::<wire::Event>(uid).await).expect("events")
        {
            *seen
                .entry(format!("{prefix}/event/{}", event.key))
                .or_default() += 1;
        }
        for audience in pzctl::retry_idempotent!(retry, api.list::<wire::Audience>(uid).await)
            .expect("audiences")
        {
            *seen
                .entry(format!("{prefix}/audience/{}", audience.name))
                .or_default() += 1;
        }
        for experience in pzctl::retry_idempotent!(retry, api.list::<wire::Experience>(uid).await)
            .expect("experiences")
        {
            *seen
                .entry(format!("{prefix}/experience/{}", experience.name))
                .or_default() += 1;
            let versions =
                pzctl::retry_idempotent!(retry, api.list_versions(uid, &experience.uid).await)
                    .expect("versions");
            let drafts = versions
                .iter()
                .filter(|version| version.status == wire::VersionStatus::Draft)
                .count();
            assert!(drafts <= 1, "{} has {drafts} drafts", experience.name);
        }
        if api.backend.supports_members() {
            for member in
                pzctl::retry_idempotent!(retry, api.list_members(uid).await).expect("members")
            {
                *seen
                    .entry(format!("{prefix}/member/{}", member.email))
                    .or_default() += 1;
            }
        }
    }
    seen.into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(name, count)| format!("{name} x{count}"))
        .collect()
}

/// Manifests for `projects` projects, each with `size` attributes, events and audiences and
/// `size` experiences in every status: about `projects * (4 * size + 2)` changes.
fn write_manifests(dir: &Path, projects: usize, size: usize) {
    write_generation(dir, projects, size, 0);
}

/// [`write_manifests`] at `generation` 0; generation 1 changes descriptions, moves every
/// experience's status (draft -> active, active -> paused, paused -> active), changes the
/// content of every other experience, and reverses the experience order.
fn write_generation(dir: &Path, projects: usize, size: usize, generation: usize) {
    let (order, word) = if generation == 0 {
        ("[x1, x0]", "")
    } else {
        ("[x0, x1]", " (edited)")
    };
    for p in 0..projects {
        let mut yaml = format!(
            "apiVersion: pzctl/v1\nkind: Project\nmetadata: {{name: p{p}}}\nspec:\n  description: generated {p}{word}\n  experienceOrder: {order}\n"
        );
        for i in 0..size {
            yaml.push_str(&format!(
                "---\napiVersion: pzctl/v1\nkind: Attribute\nmetadata: {{name: a{i}, project: p{p}}}\nspec: {{description: attribute {i}{word}}}\n\
                 ---\napiVersion: pzctl/v1\nkind: Event\nmetadata: {{name: e{i}, project: p{p}}}\nspec: {{description: event {i}}}\n\
                 ---\napiVersion: pzctl/v1\nkind: Audience\nmetadata: {{name: g{i}, project: p{p}}}\nspec:\n  rules:\n    all:\n      - {{attribute: a{i}, condition: STRING_EQUALS, value: v{i}}}\n"
            ));
            let status = if generation == 0 {
                ["draft", "active", "paused"][i % 3]
            } else {
                ["active", "paused", "active"][i % 3]
            };
            let (first, traffic, variant) = if generation == 1 && i % 2 == 0 {
                ("Control", 30, "W")
            } else {
                ("A", 50, "V")
            };
            if i % 4 == 3 {
                yaml.push_str(&format!(
                    "---\napiVersion: pzctl/v1\nkind: Experience\nmetadata: {{name: x{i}, project: p{p}}}\nspec:\n  type: ab_test\n  status: {status}\n  variants:\n    - {{name: {first}, traffic: {traffic}}}\n    - {{name: B, traffic: {rest}}}\n  targeting: {{audiences: [g{i}], match: all}}\n  metrics: [e{i}]\n",
                    rest = 100 - traffic
                ));
            } else {
                yaml.push_str(&format!(
                    "---\napiVersion: pzctl/v1\nkind: Experience\nmetadata: {{name: x{i}, project: p{p}}}\nspec:\n  type: segmented\n  tags: [gen]\n  status: {status}\n  variants:\n    - {{name: {variant}, audiences: [g{i}], match: any}}\n"
                ));
            }
        }
        std::fs::write(dir.join(format!("p{p}.yaml")), yaml).expect("write manifest");
    }
}

/// Load manifests, observe and plan, in process.
async fn plan_for<B: Backend>(
    api: &Api<B>,
    manifests: &Path,
) -> (plan::Plan, pzctl::model::LiveState) {
    let loaded = manifest::load(&LoadConfig {
        paths: vec![manifests.to_path_buf()],
        ..LoadConfig::default()
    });
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    let live = pzctl::live::observe(api, None).await.expect("observe");
    let plan = plan::plan(&loaded.desired, &live, &PlanConfig::default()).expect("plan");
    (plan, live)
}

#[test]
fn quickstart_converges_on_the_embedded_organization() {
    let context = TestContext::new();
    let state = context.path().join("org");
    let path = quickstart();
    let path = path.to_str().expect("utf-8 path");

    let first = pzctl(&state, None, &["apply", path, "--auto-approve"]);
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    let stderr = text(&first.stderr);
    assert!(stderr.contains("+ project/storefront: applied"), "{stderr}");
    assert!(
        stderr.contains("Apply complete: 9 applied, 0 failed, 0 skipped."),
        "{stderr}"
    );
    // The plan went to stdout before the work.
    assert!(text(&first.stdout).contains("Plan: 8 to create, 1 to update, 0 to delete."));

    let plan = pzctl(&state, None, &["plan", path, "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", describe(&plan));
    let second = pzctl(&state, None, &["apply", path, "--auto-approve"]);
    assert_eq!(second.status.code(), Some(0), "{}", describe(&second));
    assert_eq!(text(&second.stdout), "No changes.\n");
}

#[test]
fn several_projects_converge_and_the_report_is_json() {
    let context = TestContext::new();
    let state = context.path().join("org");
    let path = multi_project();
    let path = path.to_str().expect("utf-8 path");
    let first = pzctl(
        &state,
        None,
        &[
            "apply",
            path,
            "--auto-approve",
            "--format",
            "json",
            "--parallelism",
            "8",
        ],
    );
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    let report: Value = serde_json::from_slice(&first.stdout).expect("the report is JSON");
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["failed"], 0);
    assert!(report["applied"].as_u64().unwrap_or(0) > 3, "{report}");
    assert!(
        !text(&first.stdout).contains("Plan:"),
        "stdout holds only the report"
    );

    let second = pzctl(&state, None, &["apply", path, "--auto-approve"]);
    assert_eq!(
        text(&second.stdout),
        "No changes.\n",
        "{}",
        describe(&second)
    );
}

#[test]
fn without_a_terminal_apply_needs_auto_approve() {
    let context = TestContext::new();
    let state = context.path().join("org");
    let path = quickstart();
    let output = pzctl(&state, None, &["apply", path.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    // The plan is shown, then the refusal: the whole output.
    let mut command = context.pzctl();
    command
        .arg("--state-dir")
        .arg(&state)
        .arg("apply")
        .arg(&path)
        .stdin(Stdio::null());
    pzctl_snapshot!(context, "apply_without_auto_approve", &mut command);
    let api = embedded_as(&state, "owner@example.com");
    let projects = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(api.list_projects())
        .expect("list");
    assert!(projects.is_empty(), "nothing was written");
}

#[test]
fn invalid_manifests_write_nothing() {
    let context = TestContext::new();
    let state = context.path().join("org");
    let manifests = context.path().join("bad");
    std::fs::create_dir_all(&manifests).expect("dir");
    std::fs::write(
        manifests.join("bad.yaml"),
        "apiVersion: pzctl/v1\nkind: Attribute\nmetadata: {name: a, project: missing}\nspec: {colour: red}\n",
    )
    .expect("write");
    let output = pzctl(
        &state,
        None,
        &[
            "apply",
            manifests.to_str().expect("utf-8"),
            "--auto-approve",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    // Both problems of bad.yaml, and that nothing was applied: the whole output.
    let mut command = context.pzctl();
    command
        .arg("--state-dir")
        .arg(&state)
        .args(["apply", "bad", "--auto-approve"]);
    pzctl_snapshot!(context, "apply_invalid_manifests", &mut command);
    assert!(
        !state.join("state.json").exists() || {
            let api = embedded_as(&state, "owner@example.com");
            tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(api.list_projects())
                .expect("list")
                .is_empty()
        }
    );
}

/// Accept `email`'s invitation to `project` as that user (store extension).
async fn accept(state: &Path, project: &str, email: &str) {
    let api = embedded_as(state, email);
    api.backend
        .send(Request::new(
            Method::Post,
            format!("/projects/{project}/users/{email}/accept"),
        ))
        .await
        .expect("accept the invitation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_member_cannot_invite_and_nothing_is_written() {
    let context = TestContext::new();
    let state = context.path().join("org");
    seed_users(&state);
    let owner = embedded_as(&state, "owner@example.com");
    let project = owner
        .create_project(&wire::ProjectInput {
            name: "shared".to_owned(),
            description: "Shared".to_owned(),
            connected_stack_api_key: None,
        })
        .await
        .expect("create project");
    owner
        .invite_member(
            &project.uid,
            &wire::MemberInput {
                email: "member@example.com".to_owned(),
                role: wire::ProjectRole::Member,
                invitation_message: None,
            },
        )
        .await
        .expect("invite");
    accept(&state, &project.uid, "member@example.com").await;

    let manifests = context.path().join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    std::fs::write(
        manifests.join("shared.yaml"),
        "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: shared}\nspec:\n  description: Shared\n  members:\n    - {email: owner@example.com, role: owner}\n    - {email: member@example.com, role: member}\n    - {email: dev@example.com, role: member}\n---\napiVersion: pzctl/v1\nkind: Attribute\nmetadata: {name: tier, project: shared}\nspec: {}\n",
    )
    .expect("write");
    let before = std::fs::read(state.join("state.json")).expect("state");
    let output = pzctl(
        &state,
        Some("member@example.com"),
        &[
            "apply",
            manifests.to_str().expect("utf-8"),
            "--auto-approve",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        text(&output.stderr).contains("dev@example.com"),
        "{}",
        describe(&output)
    );
    let after = std::fs::read(state.join("state.json")).expect("state");
    assert!(
        before == after,
        "the organization changed although the plan was refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_who_demotes_themself_does_everything_else_first() {
    let context = TestContext::new();
    let state = context.path().join("org");
    seed_users(&state);
    let owner = embedded_as(&state, "owner@example.com");
    let project = owner
        .create_project(&wire::ProjectInput {
            name: "team".to_owned(),
            description: "Team".to_owned(),
            connected_stack_api_key: None,
        })
        .await
        .expect("create project");
    owner
        .invite_member(
            &project.uid,
            &wire::MemberInput {
                email: "dev@example.com".to_owned(),
                role: wire::ProjectRole::Owner,
                invitation_message: None,
            },
        )
        .await
        .expect("invite");
    accept(&state, &project.uid, "dev@example.com").await;

    let manifests = context.path().join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    let mut yaml = "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: team}\nspec:\n  description: Team, managed\n  stack: blt0000000000000001\n  members:\n    - {email: owner@example.com, role: owner}\n    - {email: dev@example.com, role: member}\n    - {email: member@example.com, role: member}\n".to_owned();
    for i in 0..6 {
        yaml.push_str(&format!(
            "---\napiVersion: pzctl/v1\nkind: Attribute\nmetadata: {{name: a{i}, project: team}}\nspec: {{}}\n---\napiVersion: pzctl/v1\nkind: Event\nmetadata: {{name: e{i}, project: team}}\nspec: {{}}\n"
        ));
    }
    std::fs::write(manifests.join("team.yaml"), yaml).expect("write");
    let output = pzctl(
        &state,
        Some("dev@example.com"),
        &[
            "apply",
            manifests.to_str().expect("utf-8"),
            "--auto-approve",
            "--parallelism",
            "4",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with(['+', '~', '-']))
        .collect();
    assert_eq!(lines.len(), 16, "{stderr}");
    assert_eq!(
        lines.last().copied(),
        Some("~ project/team/member/dev@example.com: applied"),
        "{stderr}"
    );
    let members = owner.list_members(&project.uid).await.expect("members");
    let dev = members
        .iter()
        .find(|member| member.email == "dev@example.com")
        .expect("dev is still a member");
    assert_eq!(dev.role, wire::ProjectRole::Member);
    assert!(
        members
            .iter()
            .any(|member| member.email == "member@example.com")
    );

    let again = pzctl(
        &state,
        Some("dev@example.com"),
        &[
            "apply",
            manifests.to_str().expect("utf-8"),
            "--auto-approve",
        ],
    );
    assert_eq!(text(&again.stdout), "No changes.\n", "{}", describe(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_whose_object_changed_live_is_refused_with_exit_3() {
    let context = TestContext::new();
    let state = context.path().join("org");
    let path = quickstart();
    let first = pzctl(
        &state,
        None,
        &["apply", path.to_str().expect("utf-8"), "--auto-approve"],
    );
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));

    // A change in the manifests, planned and saved.
    let manifests = context.path().join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    for entry in std::fs::read_dir(&path).expect("read quickstart") {
        let entry = entry.expect("entry");
        let content = std::fs::read_to_string(entry.path()).expect("read");
        let content = content.replace("Hero banner per segment", "Hero banner, reworded");
        std::fs::write(manifests.join(entry.file_name()), content).expect("write");
    }
    let api = embedded_as(&state, "owner@example.com");
    let (saved, live) = plan_for(&api, &manifests).await;
    assert_eq!(saved.changes.len(), 1, "{saved:#?}");
    let plan_file = context.path().join("plan.json");
    let plan_arg = plan_file.to_str().expect("utf-8");
    let manifests_arg = manifests.to_str().expect("utf-8");
    let saving = pzctl(&state, None, &["plan", manifests_arg, "--out", plan_arg]);
    assert_eq!(saving.status.code(), Some(0), "{}", describe(&saving));

    // Someone edits an attribute behind the plan's back.
    let project = &live.projects["storefront"];
    let attribute = project
        .attributes
        .iter()
        .find(|attribute| attribute.name == "loyalty-tier")
        .expect("attribute");
    api.update::<wire::Attribute>(
        &project.project.uid,
        &attribute.uid,
        &wire::AttributeInput {
            name: attribute.name.clone(),
            key: attribute.key.clone(),
            description: "edited in the UI".to_owned(),
        },
    )
    .await
    .expect("edit");

    // Planned again, the attribute needs an update the saved plan does not have: exit 3, and
    // the object is named.
    let refused = pzctl(&state, None, &["apply", "--plan", plan_arg]);
    assert_eq!(refused.status.code(), Some(3), "{}", describe(&refused));
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("no longer matches"), "{stderr}");
    assert!(
        stderr.contains("project/storefront/attribute/loyalty-tier: a new change"),
        "{stderr}"
    );
    assert!(stderr.contains("pzctl plan --out"), "{stderr}");

    // Planned again, the saved plan applies without a prompt.
    let saving = pzctl(&state, None, &["plan", manifests_arg, "--out", plan_arg]);
    assert_eq!(saving.status.code(), Some(0), "{}", describe(&saving));
    let applied = pzctl(&state, None, &["apply", "--plan", plan_arg]);
    assert_eq!(applied.status.code(), Some(0), "{}", describe(&applied));
    let (after, _) = plan_for(&api, &manifests).await;
    assert!(after.changes.is_empty(), "{after:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_plan_converges_through_faults_without_duplicates() {
    let context = TestContext::new();
    let state = context.path().join("org");
    let manifests = context.path().join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    write_manifests(&manifests, 3, 16);
    let faulty = Faulty::new(
        EmbeddedBackend::open_as(&state, "owner@example.com").expect("open"),
        7,
        0.2,
        0.1,
        0.05,
    );
    let api = Arc::new(Api::new(faulty));
    let config = ApplyConfig {
        parallelism: 8,
        // The applier's retries are the only ones (the HTTP client sends each request once).
        retry: RetryPolicy::fast().with_max_attempts(10),
    };
    let rounds = converge(&api, &manifests, &config).await;
    // A change that fails through its retries stops the run's new changes, so each such
    // failure costs one more apply; every create also makes the look before it. Three applies
    // leave room for two such failures; the property is convergence without duplicates.
    assert!(rounds <= 3, "took {rounds} applies");
    let duplicates = duplicates(&*api).await;
    assert!(duplicates.is_empty(), "duplicates: {duplicates:?}");
}

/// Plan and apply (with faults on) until the plan is empty; returns how many applies it took.
async fn converge<B: Backend + 'static>(
    api: &Arc<Api<Faulty<B>>>,
    manifests: &Path,
    config: &ApplyConfig,
) -> usize {
    let mut rounds = 0;
    loop {
        api.backend.enabled.store(false, Ordering::SeqCst);
        let (plan, live) = plan_for(&**api, manifests).await;
        if rounds == 0 {
            assert!(plan.changes.len() >= 190, "{} changes", plan.changes.len());
        }
        if plan.changes.is_empty() {
            return rounds;
        }
        assert!(
            rounds < 4,
            "no convergence after {rounds} applies: {plan:#?}"
        );
        api.backend.enabled.store(true, Ordering::SeqCst);
        let report = run_apply(&plan, Arc::clone(api), &live, config).await;
        api.backend.enabled.store(false, Ordering::SeqCst);
        let failures: Vec<_> = report
            .results
            .iter()
            .filter(|result| matches!(result.outcome, apply::Outcome::Failed { .. }))
            .collect();
        eprintln!(
            "round {rounds}: {} applied, failures {failures:#?}",
            report.applied
        );
        rounds += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_plan_converges_through_emulator_faults_without_duplicates() {
    let context = TestContext::new();
    let manifests = context.path().join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    write_manifests(&manifests, 3, 16);
    let emulator = emulator(|config| {
        config.fault_rate = 0.2;
        config.drop_rate = 0.05;
        config.seed = 11;
    });
    // The emulator injects 5xx and lost answers; 429s are injected here at 10%, past the
    // client's own retries, so the applier's handling of them is exercised too.
    let http = crate::support::http_backend(&emulator.url(), "owner-token");
    let api = Arc::new(Api::new(Faulty::new(http, 5, 0.0, 0.1, 0.0)));
    let config = ApplyConfig {
        parallelism: 8,
        retry: RetryPolicy::fast(),
    };
    let rounds = converge(&api, &manifests, &config).await;
    // A request fails through its 6 attempts with probability about 0.24^6 (5xx at 20%, lost
    // answers at 5%; 429s do not count), and such a failure stops the run's new changes, so
    // now and then an apply hands work to the next one. Three applies leave room for two such
    // failures; the property is convergence without duplicates.
    assert!(rounds <= 3, "took {rounds} applies");
    let duplicates = duplicates(&*api).await;
    assert!(duplicates.is_empty(), "duplicates: {duplicates:?}");
    let stats = emulator.stats();
    assert!(stats.drops > 0 && stats.server_errors > 0, "{stats:?}");
}

/// Run the binary against an emulator as the user of `token`.
fn pzctl_http(url: &str, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pzctl"))
        .arg("--endpoint")
        .arg(url)
        .args(args)
        .env_remove("PZCTL_REGION")
        .env_remove("CONTENTSTACK_OAUTH_TOKEN")
        .env("CONTENTSTACK_AUTHTOKEN", token)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run pzctl")
}

#[test]
fn quickstart_converges_on_the_emulator() {
    let emulator = emulator(|config| config.latency_ms = 1);
    let path = quickstart();
    let path = path.to_str().expect("utf-8");
    let first = pzctl_http(
        &emulator.url(),
        "owner-token",
        &["apply", path, "--auto-approve"],
    );
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    assert!(text(&first.stderr).contains("Apply complete: 9 applied, 0 failed, 0 skipped."));
    let plan = pzctl_http(
        &emulator.url(),
        "owner-token",
        &["plan", path, "--detailed-exitcode"],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", describe(&plan));
    for output in [&first, &plan] {
        let all = describe(output);
        assert!(!all.contains("owner-token"), "a token leaked: {all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_organization_and_the_emulator_give_the_same_report() {
    let context = TestContext::new();
    let emulator = emulator(|_| {});
    let http = Api::new(crate::support::http_backend(&emulator.url(), "owner-token"));
    let embedded = embedded_as(&context.path().join("org"), "owner@example.com");
    let config = ApplyConfig {
        parallelism: 1,
        ..ApplyConfig::default()
    };
    let (plan_http, live_http) = plan_for(&http, &quickstart()).await;
    let (plan_embedded, live_embedded) = plan_for(&embedded, &quickstart()).await;
    assert_eq!(plan_http.changes, plan_embedded.changes);
    let report_http = run_apply(&plan_http, Arc::new(http), &live_http, &config).await;
    let report_embedded =
        run_apply(&plan_embedded, Arc::new(embedded), &live_embedded, &config).await;
    assert!(report_http.is_success(), "{report_http:#?}");
    assert_eq!(report_http, report_embedded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_member_on_the_emulator_cannot_invite_and_nothing_is_written() {
    let emulator = emulator(|_| {});
    let owner = Api::new(crate::support::http_backend(&emulator.url(), "owner-token"));
    let project = owner
        .create_project(&wire::ProjectInput {
            name: "shared".to_owned(),
            description: "Shared".to_owned(),
            connected_stack_api_key: None,
        })
        .await
        .expect("create project");
    owner
        .invite_member(
            &project.uid,
            &wire::MemberInput {
                email: "member@example.com".to_owned(),
                role: wire::ProjectRole::Member,
                invitation_message: None,
            },
        )
        .await
        .expect("invite");
    let member = Api::new(crate::support::http_backend(
        &emulator.url(),
        "member-token",
    ));
    member
        .backend
        .send(Request::new(
            Method::Post,
            format!("/projects/{}/users/member@example.com/accept", project.uid),
        ))
        .await
        .expect("accept");

    let context = TestContext::new();
    std::fs::write(
        context.path().join("shared.yaml"),
        "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: shared}\nspec:\n  description: Shared\n  members:\n    - {email: owner@example.com, role: owner}\n    - {email: member@example.com, role: member}\n    - {email: dev@example.com, role: member}\n---\napiVersion: pzctl/v1\nkind: Attribute\nmetadata: {name: tier, project: shared}\nspec: {}\n",
    )
    .expect("write");
    let before = emulator.state();
    let url = emulator.url();
    let dir = context.path().to_str().expect("utf-8").to_owned();
    let output = tokio::task::spawn_blocking(move || {
        pzctl_http(&url, "member-token", &["apply", &dir, "--auto-approve"])
    })
    .await
    .expect("join");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        text(&output.stderr).contains("dev@example.com"),
        "{}",
        describe(&output)
    );
    assert_eq!(
        before,
        emulator.state(),
        "the emulator changed although the plan was refused"
    );
}

#[test]
fn killed_applies_converge_without_duplicates() {
    let context = TestContext::new();
    let manifests = context.path().join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    write_manifests(&manifests, 3, 10);
    let manifests_arg = manifests.to_str().expect("utf-8");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut interrupted_midway = 0;
    for seed in [1u64, 2, 3] {
        let state = context.path().join(format!("org{seed}"));
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for _ in 0..2 {
            let mut child = Command::new(env!("CARGO_BIN_EXE_pzctl"))
                .arg("--state-dir")
                .arg(&state)
                .args([
                    "apply",
                    manifests_arg,
                    "--auto-approve",
                    "--parallelism",
                    "4",
                ])
                .env_remove("PZCTL_ENDPOINT")
                .env_remove("PZCTL_LOCAL_USER")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn pzctl");
            // Kill soon after the run's first write, whatever the machine's load: a fixed
            // delay lands before the first write on a busy machine and after the last on an
            // idle one.
            wait_for_write(&state.join("state.json"), &mut child);
            std::thread::sleep(Duration::from_millis(rng.random_range(0..120)));
            let _ = child.kill();
            let _ = child.wait();
        }
        let api = embedded_as(&state, "owner@example.com");
        let (pending, live) = runtime.block_on(plan_for(&api, &manifests));
        eprintln!(
            "seed {seed}: {} projects live, {} changes left after the kills",
            live.projects.len(),
            pending.changes.len()
        );
        if !live.projects.is_empty() && !pending.changes.is_empty() {
            interrupted_midway += 1;
        }
        let finish = pzctl(&state, None, &["apply", manifests_arg, "--auto-approve"]);
        assert_eq!(
            finish.status.code(),
            Some(0),
            "seed {seed}: {}",
            describe(&finish)
        );
        let again = pzctl(&state, None, &["apply", manifests_arg, "--auto-approve"]);
        assert_eq!(
            text(&again.stdout),
            "No changes.\n",
            "seed {seed}: {}",
            describe(&again)
        );
        let api = embedded_as(&state, "owner@example.com");
        let duplicates = runtime.block_on(duplicates(&api));
        assert!(
            duplicates.is_empty(),
            "seed {seed}: duplicates {duplicates:?}"
        );
    }
    assert!(
        interrupted_midway > 0,
        "no kill landed in the middle of an apply"
    );
}

/// Wait (at most 60 s) until `state` is written anew or `child` exits.
fn wait_for_write(state: &std::path::Path, child: &mut std::process::Child) {
    let modified = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let before = modified(state);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if modified(state) != before || matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn ctrl_c_stops_starting_work_and_a_rerun_converges() {
    use std::io::BufRead;
    let context = TestContext::new();
    let manifests = context.path().join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    write_manifests(&manifests, 3, 10);
    let manifests_arg = manifests.to_str().expect("utf-8");
    let state = context.path().join("org");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pzctl"))
        .arg("--state-dir")
        .arg(&state)
        .args([
            "apply",
            manifests_arg,
            "--auto-approve",
            "--parallelism",
            "2",
        ])
        .env_remove("PZCTL_ENDPOINT")
        .env_remove("PZCTL_LOCAL_USER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pzctl");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    // Interrupt once the work has visibly started (the signal handler is installed by then).
    for line in lines.by_ref() {
        let line = line.expect("line");
        let started = line.ends_with(": applied");
        seen.push(line);
        if started {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("send SIGINT");
    assert!(status.success());
    seen.extend(lines.map_while(Result::ok));
    let exit = child.wait().expect("wait");
    let stderr = seen.join("\n");
    assert_eq!(exit.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("Interrupted: finishing the changes in flight"),
        "{stderr}"
    );
    assert!(stderr.contains("Apply interrupted"), "{stderr}");
    let summary = stderr
        .lines()
        .find(|line| line.starts_with("Apply interrupted:"))
        .expect("a summary line");
    assert!(!summary.ends_with(" 0 skipped."), "{summary}");

    let finish = pzctl(&state, None, &["apply", manifests_arg, "--auto-approve"]);
    assert_eq!(finish.status.code(), Some(0), "{}", describe(&finish));
    assert!(
        !text(&finish.stdout).contains("No changes."),
        "the interrupted run left work to do"
    );
    let again = pzctl(&state, None, &["apply", manifests_arg, "--auto-approve"]);
    assert_eq!(text(&again.stdout), "No changes.\n", "{}", describe(&again));
}

#[test]
fn updates_converge_through_every_status_move() {
    let context = TestContext::new();
    let manifests = context.path().join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    let manifests_arg = manifests.to_str().expect("utf-8");
    let state = context.path().join("org");
    write_generation(&manifests, 1, 12, 0);
    let first = pzctl(&state, None, &["apply", manifests_arg, "--auto-approve"]);
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));

    write_generation(&manifests, 1, 12, 1);
    let second = pzctl(
        &state,
        None,
        &[
            "apply",
            manifests_arg,
            "--auto-approve",
            "--parallelism",
            "6",
        ],
    );
    assert_eq!(second.status.code(), Some(0), "{}", describe(&second));
    let stderr = text(&second.stderr);
    assert!(
        stderr.contains("~ project/p0/experience/x0: applied"),
        "{stderr}"
    );
    assert!(
        stderr.contains("~ project/p0/experience_order: applied"),
        "{stderr}"
    );
    let plan = pzctl(
        &state,
        None,
        &["plan", manifests_arg, "--detailed-exitcode"],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", describe(&plan));

    let api = embedded_as(&state, "owner@example.com");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let duplicates = runtime.block_on(duplicates(&api));
    assert!(duplicates.is_empty(), "{duplicates:?}");
}

#[test]
fn a_declared_experience_order_converges_in_one_apply() {
    // The planner predicts the priority of new experiences from creation order; concurrent
    // creates must not reorder them.
    let context = TestContext::new();
    let manifests = context.path().join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    let names: Vec<String> = (0..12).map(|i| format!("x{i:02}")).collect();
    let mut yaml = format!(
        "apiVersion: pzctl/v1\nkind: Project\nmetadata: {{name: o}}\nspec:\n  experienceOrder: [{}]\n",
        names.join(", ")
    );
    for (i, name) in names.iter().enumerate() {
        let status = ["draft", "active", "paused"][i % 3];
        yaml.push_str(&format!(
            "---\napiVersion: pzctl/v1\nkind: Experience\nmetadata: {{name: {name}, project: o}}\nspec:\n  type: ab_test\n  status: {status}\n  variants:\n    - {{name: A, traffic: 50}}\n    - {{name: B, traffic: 50}}\n"
        ));
    }
    std::fs::write(manifests.join("o.yaml"), yaml).expect("write");
    let manifests_arg = manifests.to_str().expect("utf-8");
    let state = context.path().join("org");
    let first = pzctl(
        &state,
        None,
        &[
            "apply",
            manifests_arg,
            "--auto-approve",
            "--parallelism",
            "8",
        ],
    );
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    let plan = pzctl(
        &state,
        None,
        &["plan", manifests_arg, "--detailed-exitcode"],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", describe(&plan));
}

/// Issue 10: a member whose email holds a `/` could be invited but never updated or removed:
/// the email went into the path unencoded and split into two segments (404).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_email_holds_a_slash_is_invited_updated_and_removed() {
    let context = TestContext::new();
    let emulator = emulator(|_| {});
    let http = crate::support::http_backend(&emulator.url(), "owner-token");
    invite_update_and_remove_a_slash_email(Arc::new(Api::new(http)), &context.path().join("http"))
        .await;
    let embedded = embedded_as(&context.path().join("org"), "owner@example.com");
    invite_update_and_remove_a_slash_email(Arc::new(embedded), &context.path().join("embedded"))
        .await;
}

async fn invite_update_and_remove_a_slash_email<B: Backend + 'static>(
    api: Arc<Api<B>>,
    manifests: &Path,
) {
    std::fs::create_dir_all(manifests).expect("manifest dir");
    let config = PlanConfig {
        allow_delete: true,
        ..PlanConfig::default()
    };
    let member_of = |live: &pzctl::model::LiveState| {
        live.projects["team"]
            .members
            .iter()
            .flatten()
            .find(|member| member.email == "a/b@example.com")
            .map(|member| member.role)
    };
    for (members, expected) in [
        (
            "    - {email: a/b@example.com, role: member}\n",
            Some(ProjectRole::Member),
        ),
        (
            "    - {email: a/b@example.com, role: owner}\n",
            Some(ProjectRole::Owner),
        ),
        ("", None),
    ] {
        std::fs::write(
            manifests.join("team.yaml"),
            format!(
                "apiVersion: pzctl/v1\nkind: Project\nmetadata: {{name: team}}\nspec:\n  members:\n    - {{email: owner@example.com, role: owner}}\n{members}"
            ),
        )
        .expect("write manifest");
        let loaded = manifest::load(&LoadConfig {
            paths: vec![manifests.to_path_buf()],
            ..LoadConfig::default()
        });
        assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
        let live = pzctl::live::observe(&*api, None).await.expect("observe");
        let plan = plan::plan(&loaded.desired, &live, &config).expect("plan");
        assert!(!plan.changes.is_empty(), "{members:?} planned nothing");
        let report = run_apply(&plan, Arc::clone(&api), &live, &ApplyConfig::default()).await;
        assert!(report.is_success(), "{report:#?}");
        let after = pzctl::live::observe(&*api, None).await.expect("observe");
        assert_eq!(
            member_of(&after),
            expected,
            "{} after applying {members:?}",
            api.backend.describe()
        );
    }
}

/// Issue 10: a saved plan is checked whole when it is read. A change whose `after` is not a
/// spec of its kind used to fail mid-apply, after the changes before it were made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_with_an_invalid_spec_is_refused_before_anything_is_written() {
    let context = TestContext::new();
    let state = context.path().join("org");
    let plan_file = context.path().join("plan.json");
    let plan_arg = plan_file.to_str().expect("utf-8");
    let quickstart = quickstart();
    let saving = pzctl(
        &state,
        None,
        &[
            "plan",
            quickstart.to_str().expect("utf-8"),
            "--out",
            plan_arg,
        ],
    );
    assert_eq!(saving.status.code(), Some(0), "{}", describe(&saving));
    let mut plan: Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).expect("read")).expect("json");
    let changes = plan["changes"].as_array_mut().expect("changes");
    let audience = changes
        .iter()
        .position(|change| change["kind"] == "audience")
        .expect("an audience change");
    assert!(audience > 0, "the audience is not the first change");
    changes[audience]["after"]["rules"] = Value::from("all of them");
    std::fs::write(&plan_file, plan.to_string()).expect("write");

    // Edited by hand: the digest names it.
    let refused = pzctl(&state, None, &["apply", "--plan", plan_arg]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        text(&refused.stderr).contains("was edited after it was written"),
        "{}",
        describe(&refused)
    );
    // With its digest computed again, the spec itself is refused.
    plan["digest"] = Value::from(pzctl::plan::saved::digest_of(&plan));
    std::fs::write(&plan_file, plan.to_string()).expect("write");
    let refused = pzctl(&state, None, &["apply", "--plan", plan_arg]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        text(&refused.stderr).contains("is not a pzctl plan"),
        "{}",
        describe(&refused)
    );
    let api = embedded_as(&state, "owner@example.com");
    let live = pzctl::live::observe(&api, None).await.expect("observe");
    assert!(live.projects.is_empty(), "{:?}", live.projects.keys());
}

/// Apply looks for an object of the same identity right before every create: one made after
/// the plan was read (another run, the UI) fails that create with a `live-duplicate` message
/// naming it, instead of getting a twin or being adopted, and the rest of the plan is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_object_appeared_since_the_plan_fails_without_a_twin() {
    let context = TestContext::new();
    let emulator = emulator(|_| {});
    let api = Api::new(crate::support::http_backend(&emulator.url(), "owner-token"));
    let (plan, live) = plan_for(&api, &quickstart()).await;
    let api = Arc::new(api);
    let first = run_apply(&plan, Arc::clone(&api), &live, &ApplyConfig::default()).await;
    assert!(first.is_success(), "{first:#?}");

    let manifests = context.path().join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    for entry in std::fs::read_dir(quickstart()).expect("read quickstart") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), manifests.join(entry.file_name())).expect("copy");
    }
    for name in ["vip", "loyal"] {
        std::fs::write(
            manifests.join(format!("{name}.yaml")),
            format!("apiVersion: pzctl/v1\nkind: Attribute\nmetadata:\n  name: {name}\n  project: storefront\nspec:\n  key: {name}\n"),
        )
        .expect("write");
    }
    let (plan, live) = plan_for(&*api, &manifests).await;
    assert_eq!(plan.changes.len(), 2, "{plan:#?}");

    // Another run (or a person in the UI) creates `vip` between the plan and the apply.
    let project_uid = live.projects["storefront"].project.uid.clone();
    let made = api
        .create::<wire::Attribute>(
            &project_uid,
            &wire::AttributeInput {
                name: "vip".to_owned(),
                key: "vip".to_owned(),
                description: String::new(),
            },
        )
        .await
        .expect("the other run's create");

    let report = run_apply(&plan, Arc::clone(&api), &live, &ApplyConfig::default()).await;
    assert_eq!((report.applied, report.failed), (1, 1), "{report:#?}");
    let failed = report
        .results
        .iter()
        .find(|result| result.address.ends_with("/attribute/vip"))
        .expect("the vip change");
    let apply::Outcome::Failed { error } = &failed.outcome else {
        panic!("{failed:#?}");
    };
    assert!(
        error.starts_with("live-duplicate: attribute `vip` was made in project `storefront` since the plan was read")
            && error.contains(&format!("uid {}", made.uid))
            && error.contains("by owner@example.com"),
        "{error}"
    );
    assert!(duplicates(api.as_ref()).await.is_empty());
    let attributes = api
        .list::<wire::Attribute>(&project_uid)
        .await
        .expect("attributes");
    assert!(attributes.iter().any(|attribute| attribute.name == "loyal"));
}

/// A second apply of the same manifests whose plan was read before the first one ran: every
/// create finds the object the first run made, so nothing is made twice and nothing adopted;
/// the first run reports no conflict, the second only conflicts and what they block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_planned_before_the_first_made_its_objects_makes_no_duplicates() {
    let context = TestContext::new();
    let manifests = context.path().join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    write_manifests(&manifests, 1, 8);
    let emulator = emulator(|config| config.latency_ms = 1);
    let api = Arc::new(Api::new(crate::support::http_backend(
        &emulator.url(),
        "owner-token",
    )));
    api.create_project(&wire::ProjectInput {
        name: "p0".to_owned(),
        description: "generated 0".to_owned(),
        connected_stack_api_key: None,
    })
    .await
    .expect("project");
    let (plan_a, live_a) = plan_for(&*api, &manifests).await;
    let (plan_b, live_b) = plan_for(&*api, &manifests).await;
    assert_eq!(plan_a.changes, plan_b.changes);
    let config = ApplyConfig {
        parallelism: 4,
        retry: RetryPolicy::fast(),
    };
    let run = |plan: &plan::Plan, live: &pzctl::model::LiveState| {
        let plan = plan.clone();
        let live = live.clone();
        let api = Arc::clone(&api);
        let config = config.clone();
        async move { run_apply(&plan, api, &live, &config).await }
    };
    let a = run(&plan_a, &live_a).await;
    assert!(a.is_success(), "{a:#?}");
    let b = run(&plan_b, &live_b).await;
    assert_eq!(b.applied, 0, "{b:#?}");
    assert!(b.failed > 0, "{b:#?}");
    for result in &b.results {
        match &result.outcome {
            apply::Outcome::Failed { error } => {
                assert!(error.starts_with("live-duplicate:"), "{error}");
            }
            apply::Outcome::Skipped { .. } => {}
            other => panic!("{}: {other:?}", result.address),
        }
    }
    let duplicates = duplicates(&*api).await;
    assert!(duplicates.is_empty(), "duplicates: {duplicates:?}");
}

/// The looks before creates cost little: a project this run made is its own first look, and
/// a wave of creates of one kind in an existing project shares one list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looks_before_creates_share_their_lists() {
    let context = TestContext::new();
    let manifests = context.path().join("m");
    std::fs::create_dir_all(&manifests).expect("dir");
    write_manifests(&manifests, 2, 6);
    let emulator = emulator(|config| {
        config.latency_ms = 1;
        config.record_requests = true;
    });
    let api = Arc::new(Api::new(crate::support::http_backend(
        &emulator.url(),
        "owner-token",
    )));
    let config = ApplyConfig {
        parallelism: 8,
        retry: RetryPolicy::fast(),
    };
    // Plan and apply the manifests as they are; the reads the apply made, in order.
    let apply_reads = || async {
        let (plan, live) = plan_for(&*api, &manifests).await;
        let before = emulator.requests().len();
        let report = run_apply(&plan, Arc::clone(&api), &live, &config).await;
        assert!(report.is_success(), "{report:#?}");
        emulator.requests()[before..]
            .iter()
            // The order change reads the priority it rewrites; that is not a look.
            .filter(|request| request.method == "GET" && request.path != "/experiences-priority")
            .map(|request| request.path.clone())
            .collect::<Vec<_>>()
    };

    // New projects: one list of the projects, shared by both creates, and nothing else read.
    assert_eq!(apply_reads().await, ["/projects"]);

    // An existing project: the wave of attribute creates shares one list.
    let more = (0..6)
        .map(|i| {
            format!("---\napiVersion: pzctl/v1\nkind: Attribute\nmetadata: {{name: more{i}, project: p0}}\nspec: {{}}\n")
        })
        .collect::<String>();
    std::fs::write(manifests.join("more.yaml"), more).expect("write");
    // (The project is named by the `project_uid` header, not in the path.)
    assert_eq!(apply_reads().await, ["/attributes"]);
}
