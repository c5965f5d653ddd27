//! Integration tests: experiences' content types (`spec.contentTypes`), linked on the Content
//! Management API's variant groups. The emulator's CMA listener, plans that link, unlink and
//! delete with links, applies against the emulator and the embedded organization, observe's
//! request count, export round trips and the refusals when the CMA cannot be read.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pzctl::emulator::EmulatorConfig;
use pzctl::live::http::HttpBackend;
use pzctl::live::{Api, Backend, BackendError, Method, Request, observe};
use pzctl::wire;
use serde_json::{Value, json};

use crate::support::{TestContext, emulator, emulator_backend, fast_config};

const STACK: &str = "blt5e0c3a1f2d4b6a70";

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/content-types")
}

/// A project with a stack, an audience and one segmented experience `hero` with `content`
/// (the `contentTypes` line, or nothing), plus `extra` documents.
fn manifests(content: &str, extra: &str) -> String {
    format!(
        r"apiVersion: pzctl/v1
kind: Project
metadata:
  name: newsroom
spec:
  stack: {STACK}
  prune: true
---
apiVersion: pzctl/v1
kind: Audience
metadata:
  name: subscribers
  project: newsroom
spec:
  rules:
    all:
      - preset: REFERRER
        condition: STRING_EQUALS
        value: newsletter.example.com
---
apiVersion: pzctl/v1
kind: Experience
metadata:
  name: hero
  project: newsroom
spec:
  type: segmented
  variants:
    - name: Subscribers
      audiences: [subscribers]
{content}{extra}"
    )
}

/// The manifests up to the experience `hero`, which is left out.
fn without_the_experience(manifests: &str) -> String {
    manifests
        .split("---\napiVersion: pzctl/v1\nkind: Experience")
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn write(context: &TestContext, text: &str) {
    std::fs::write(context.path().join("manifests.yaml"), text).expect("write the manifests");
}

/// The binary against the emulator's Personalize API and, with `cma`, its CMA.
fn against(
    context: &TestContext,
    emulator: &pzctl::emulator::EmulatorHandle,
    cma: bool,
    token: &str,
) -> Command {
    let mut command = context.pzctl();
    command
        .arg("--endpoint")
        .arg(emulator.url())
        .env("CONTENTSTACK_AUTHTOKEN", token);
    if cma {
        command.arg("--cma-endpoint").arg(emulator.cma_url());
    }
    command
}

/// `pzctl apply . --auto-approve` through [`against`].
fn apply_with(
    context: &TestContext,
    emulator: &pzctl::emulator::EmulatorHandle,
    cma: bool,
    token: &str,
) -> Output {
    against(context, emulator, cma, token)
        .args(["apply", ".", "--auto-approve"])
        .output()
        .expect("run")
}

/// An entry of the emulator's users file.
fn user(yaml: &str) -> pzctl::emulator::UserEntry {
    serde_saphyr::from_str(yaml).expect("a user entry")
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n{}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The content types each variant group of the emulator's state links, by group name.
fn links(emulator: &pzctl::emulator::EmulatorHandle) -> Vec<(String, Vec<String>)> {
    let state = emulator.state();
    state["variantGroups"]
        .as_array()
        .map(|groups| {
            groups
                .iter()
                .map(|group| {
                    let name = group["name"].as_str().unwrap_or_default().to_owned();
                    let linked = group["contentTypes"]
                        .as_array()
                        .map(|list| {
                            list.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default();
                    (name, linked)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

#[test]
fn the_example_validates_applies_links_and_converges_on_the_emulator() {
    let context = TestContext::new();
    let emulator = emulator(EmulatorConfig::with_default_users());
    let path = example();
    let path = path.to_str().expect("utf-8 path");
    let validate = context
        .pzctl()
        .args(["validate", path])
        .output()
        .expect("run");
    assert_eq!(validate.status.code(), Some(0), "{}", text(&validate));
    let apply = against(&context, &emulator, true, "owner-token")
        .args(["apply", path, "--auto-approve"])
        .output()
        .expect("run");
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let groups = links(&emulator);
    assert!(
        groups.contains(&("front-page".to_owned(), strings(&["banner", "home_page"]))),
        "{groups:?}"
    );
    assert!(
        groups.contains(&("sidebar-test".to_owned(), Vec::new())),
        "{groups:?}"
    );
    let again = against(&context, &emulator, true, "owner-token")
        .args(["plan", path, "--detailed-exitcode"])
        .output()
        .expect("run");
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(!text(&apply).contains("owner-token"));
}

#[test]
fn plans_show_linking_unlinking_and_deleting_with_links() {
    let context = TestContext::new();
    let state = context.path().join("org");
    let local = |args: &[&str]| {
        let mut command = context.pzctl();
        command.arg("--state-dir").arg(&state).args(args);
        command
    };
    write(&context, &manifests("  contentTypes: [home_page]\n", ""));
    let first = local(&["apply", ".", "--auto-approve"])
        .output()
        .expect("run");
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));

    write(
        &context,
        &manifests("  contentTypes: [home_page, banner]\n", ""),
    );
    pzctl_snapshot!(context, "link_text", &mut local(&["plan", "."]));
    pzctl_snapshot!(
        context,
        "link_json",
        &mut local(&["plan", ".", "--format", "json"])
    );
    pzctl_snapshot!(
        context,
        "link_markdown",
        &mut local(&["plan", ".", "--format", "markdown"])
    );
    let linked = local(&["apply", ".", "--auto-approve"])
        .output()
        .expect("run");
    assert_eq!(linked.status.code(), Some(0), "{}", text(&linked));

    // Absent: not managed, so nothing to do whatever is linked.
    write(&context, &manifests("", ""));
    let unmanaged = local(&["plan", ".", "--detailed-exitcode"])
        .output()
        .expect("run");
    assert_eq!(unmanaged.status.code(), Some(0), "{}", text(&unmanaged));

    write(&context, &manifests("  contentTypes: []\n", ""));
    pzctl_snapshot!(context, "unlink_text", &mut local(&["plan", "."]));

    // The experience goes (prune: true): its links are shown and unlinked first.
    write(&context, &without_the_experience(&manifests("", "")));
    pzctl_snapshot!(
        context,
        "delete_with_links_text",
        &mut local(&["plan", "."])
    );
    pzctl_snapshot!(
        context,
        "delete_with_links_json",
        &mut local(&["plan", ".", "--format", "json"])
    );
    let deleted = local(&["apply", ".", "--auto-approve"])
        .output()
        .expect("run");
    assert_eq!(deleted.status.code(), Some(0), "{}", text(&deleted));
    // The group stays behind (as on the hosted service), with nothing linked.
    let store: Value = serde_json::from_slice(
        &std::fs::read(state.join("state.json")).expect("read the local organization"),
    )
    .expect("JSON");
    let groups = store["variantGroups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["contentTypes"], json!([]));
}

#[test]
fn apply_links_and_unlinks_on_the_emulator_and_unlinks_before_deleting() {
    let context = TestContext::new();
    let emulator = emulator(EmulatorConfig::with_default_users());
    let apply = |context: &TestContext| {
        let output = apply_with(context, &emulator, true, "member-token");
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    };
    // The member may edit experiences but not create projects: the owner makes the project.
    write(&context, &manifests("", "").replace("  prune: true\n", "  prune: true\n  members:\n    - {email: owner@example.com, role: owner}\n    - {email: member@example.com, role: member}\n"));
    let output = apply_with(&context, &emulator, true, "owner-token");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    // The invitation is accepted out of band.
    let owner = Api::new(emulator_backend(&emulator, "owner-token"));
    let api = Api::new(emulator_backend(&emulator, "member-token"));
    let members = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let live = observe(&owner, None).await.expect("observe");
            let project = live.projects["newsroom"].project.uid.clone();
            api.backend
                .send(Request::new(
                    Method::Post,
                    wire::path(&[
                        "projects",
                        &project,
                        "users",
                        "member@example.com",
                        "accept",
                    ]),
                ))
                .await
        });
    assert!(members.is_ok(), "{members:?}");

    let with = |content: &str| {
        manifests(content, "").replace(
            "  prune: true\n",
            "  prune: true\n  members:\n    - {email: owner@example.com, role: owner}\n    - {email: member@example.com, role: member}\n",
        )
    };
    write(&context, &with("  contentTypes: [home_page, banner]\n"));
    apply(&context);
    assert_eq!(
        links(&emulator),
        [("hero".to_owned(), strings(&["banner", "home_page"]))]
    );
    write(&context, &with("  contentTypes: [banner]\n"));
    apply(&context);
    assert_eq!(
        links(&emulator),
        [("hero".to_owned(), strings(&["banner"]))]
    );
    let before = emulator.stats().cma_requests;
    let unchanged = against(&context, &emulator, true, "member-token")
        .args(["plan", ".", "--detailed-exitcode"])
        .output()
        .expect("run");
    assert_eq!(unchanged.status.code(), Some(0), "{}", text(&unchanged));
    assert_eq!(
        emulator.stats().cma_requests - before,
        1,
        "a plan reads the stack's variant groups with one request"
    );

    // Deleting the experience unlinks it first; the group stays behind.
    write(&context, &without_the_experience(&with("")));
    apply(&context);
    assert_eq!(links(&emulator), [("hero".to_owned(), Vec::new())]);
}

#[test]
fn the_emulator_serves_variant_groups_on_its_own_listener() {
    let mut config = EmulatorConfig::with_default_users();
    config.users.push(user(&format!(
        "email: reader@example.com\nrole: admin\ntoken: reader-token\nstacks: {{{STACK}: read}}\n"
    )));
    config.users.push(user(
        "email: stranger@example.com\nrole: admin\ntoken: stranger-token\nstacks: {}\n",
    ));
    let emulator = emulator(config);
    let context = TestContext::new();
    write(&context, &manifests("", ""));
    let output = apply_with(&context, &emulator, false, "owner-token");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let owner = emulator_backend(&emulator, "owner-token");
    let send = |backend: &HttpBackend, request: Request| {
        runtime.block_on(async { backend.send(request).await })
    };
    let status = |result: Result<Value, BackendError>| match result {
        Ok(_) => 200,
        Err(error) => error.status().unwrap_or(0),
    };
    let live = runtime
        .block_on(observe(&Api::new(owner.clone()), None))
        .expect("observe");
    let experience = &live.projects["newsroom"].experiences[0].experience;
    let cms = experience.cms.clone().expect("the experience has `_cms`");
    let list = format!("/v3/variant_groups?experience_uid={}", experience.uid);

    // One group, matching `_cms`: its uid and one variant per experience variant.
    let answer = send(&owner, Request::get(list.clone()).stack(STACK)).expect("list");
    let groups = answer["variant_groups"].as_array().expect("variant_groups");
    assert_eq!(groups.len(), 1, "{answer}");
    assert_eq!(groups[0]["uid"], cms["variantGroup"]);
    assert_eq!(groups[0]["name"], json!("hero"));
    assert_eq!(
        groups[0]["personalize_metadata"]["experience_uid"],
        json!(experience.uid)
    );
    let variants = groups[0]["variants"].as_array().expect("variants");
    assert_eq!(variants.len(), 1);
    assert_eq!(variants[0]["uid"], cms["variants"]["0"]);
    assert_eq!(
        variants[0]["personalize_metadata"]["variant_short_uid"],
        json!("0")
    );
    let group = groups[0]["uid"].as_str().expect("uid").to_owned();
    let put = |content_types: Value| {
        Request::new(Method::Put, format!("/v3/variant_groups/{group}"))
            .stack(STACK)
            .body(json!({"name": "hero", "content_types": content_types}))
    };

    // The api_key and the token are checked.
    assert_eq!(status(send(&owner, Request::get(list.clone()))), 412);
    assert_eq!(
        status(send(
            &owner,
            Request::get(list.clone()).stack("blt_unknown")
        )),
        412
    );
    let nobody = HttpBackend::new({
        let mut config = fast_config(&emulator.url(), Some("no-such-token"));
        config.cma_url = Some(emulator.cma_url());
        config
    })
    .expect("backend");
    assert_eq!(
        status(send(&nobody, Request::get(list.clone()).stack(STACK))),
        401
    );
    let reader = emulator_backend(&emulator, "reader-token");
    let stranger = emulator_backend(&emulator, "stranger-token");
    assert_eq!(
        status(send(&reader, Request::get(list.clone()).stack(STACK))),
        200
    );
    assert_eq!(
        status(send(
            &reader,
            put(json!([{"uid": "home_page", "status": "linked"}]))
        )),
        403
    );
    assert_eq!(
        status(send(&stranger, Request::get(list.clone()).stack(STACK))),
        403
    );

    // Both fields are required.
    let missing = Request::new(Method::Put, format!("/v3/variant_groups/{group}"))
        .stack(STACK)
        .body(json!({"content_types": []}));
    let refused = send(&owner, missing).expect_err("refused");
    assert_eq!(refused.status(), Some(422));
    assert!(
        refused
            .to_string()
            .contains("Name or content types is required"),
        "{refused}"
    );

    // Linking and unlinking.
    send(&owner, put(json!([{"uid": "home_page", "status": "linked"}, {"uid": "banner", "status": "linked"}]))).expect("link");
    send(
        &owner,
        put(json!([{"uid": "banner", "status": "unlinked"}])),
    )
    .expect("unlink");
    let answer = send(&owner, Request::get(list.clone()).stack(STACK)).expect("list");
    assert_eq!(
        answer["variant_groups"][0]["content_types"],
        json!([{"uid": "home_page", "status": "linked"}])
    );
    // The whole stack, paged, with the count.
    let all = send(
        &owner,
        Request::get("/v3/variant_groups?include_count=true&limit=100&skip=0").stack(STACK),
    )
    .expect("list all");
    assert_eq!(all["count"], json!(1));
    assert_eq!(
        send(
            &owner,
            Request::get("/v3/variant_groups?limit=100&skip=1").stack(STACK)
        )
        .expect("second page")["variant_groups"],
        json!([])
    );

    // Each listener serves its own API only.
    let crossed = HttpBackend::new({
        let mut config = fast_config(&emulator.cma_url(), Some("owner-token"));
        config.cma_url = Some(emulator.url());
        config
    })
    .expect("backend");
    assert_eq!(status(send(&crossed, Request::get(list).stack(STACK))), 404);
    assert_eq!(status(send(&crossed, Request::get("/projects"))), 404);

    // The CMA's requests are counted apart too.
    let stats = emulator.stats();
    assert!(stats.cma_requests >= 12, "{stats:?}");
    assert!(stats.requests > stats.cma_requests, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_reads_a_stacks_variant_groups_in_one_request_not_one_per_experience() {
    let emulator = emulator(EmulatorConfig::with_default_users());
    let context = TestContext::new();
    let experiences: String = (0..12)
        .map(|i| {
            format!(
                "---\napiVersion: pzctl/v1\nkind: Experience\nmetadata: {{name: e{i:02}, project: newsroom}}\nspec:\n  type: segmented\n  variants:\n    - {{name: V, audiences: [subscribers]}}\n  contentTypes: [ct_{i}]\n"
            )
        })
        .collect();
    write(&context, &manifests("", &experiences));
    let output = apply_with(&context, &emulator, true, "owner-token");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    let api = Api::new(emulator_backend(&emulator, "owner-token"));
    let before = emulator.stats().cma_requests;
    let live = observe(&api, None).await.expect("observe");
    let ours = emulator.stats().cma_requests - before;
    let project = &live.projects["newsroom"];
    assert_eq!(project.experiences.len(), 13);
    for experience in &project.experiences {
        let name = &experience.experience.name;
        let expected = name
            .strip_prefix('e')
            .and_then(|i| i.parse::<u32>().ok())
            .map(|i| vec![format!("ct_{i}")])
            .unwrap_or_default();
        assert_eq!(
            experience.content_types.read(),
            Some(&expected[..]),
            "{name}"
        );
    }
    // The official CLI's way: one GET per experience.
    let per_experience = project.experiences.len() as u64;
    assert_eq!(ours, 1, "one page of variant groups for 13 experiences");
    eprintln!(
        "observe: {ours} CMA request(s) for {per_experience} experiences (one per experience: {per_experience}; ratio {per_experience}:1)"
    );
}

/// Where a stack's groups cannot be listed (quirks mode), observe falls back to the official
/// CLI's one request per experience and reads the same links: the baseline of the ratio.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_falls_back_to_one_request_per_experience_when_the_stack_cannot_be_listed() {
    let mut config = EmulatorConfig::with_default_users();
    config.quirks = true;
    let emulator = emulator(config);
    let context = TestContext::new();
    let experiences: String = (0..5)
        .map(|i| {
            format!(
                "---\napiVersion: pzctl/v1\nkind: Experience\nmetadata: {{name: e{i}, project: newsroom}}\nspec:\n  type: segmented\n  variants:\n    - {{name: V, audiences: [subscribers]}}\n  contentTypes: [ct_{i}]\n"
            )
        })
        .collect();
    write(
        &context,
        &manifests("  contentTypes: [home_page]\n", &experiences),
    );
    let output = apply_with(&context, &emulator, true, "owner-token");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    let api = Api::new(emulator_backend(&emulator, "owner-token"));
    let before = emulator.stats().cma_requests;
    let live = observe(&api, None).await.expect("observe");
    let requests = emulator.stats().cma_requests - before;
    let project = &live.projects["newsroom"];
    assert_eq!(project.cms_unread, None);
    for experience in &project.experiences {
        let expected = match experience.experience.name.strip_prefix('e') {
            Some(i) => vec![format!("ct_{i}")],
            None => vec!["home_page".to_owned()],
        };
        assert_eq!(
            experience.content_types.read(),
            Some(&expected[..]),
            "{}",
            experience.experience.name
        );
    }
    // The refused listing, then one request per experience.
    assert_eq!(requests, 1 + project.experiences.len() as u64);
}

#[test]
fn a_plan_that_cannot_read_the_cma_is_refused_before_anything_is_written() {
    let mut config = EmulatorConfig::with_default_users();
    config.users.push(user(
        "email: stranger@example.com\nrole: admin\ntoken: stranger-token\nstacks: {}\n",
    ));
    let emulator = emulator(config);
    let context = TestContext::new();
    write(&context, &manifests("", ""));
    let output = apply_with(&context, &emulator, true, "owner-token");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    write(
        &context,
        &manifests("  description: changed\n  contentTypes: [home_page]\n", ""),
    );
    let writes = emulator.stats().writes;
    // No CMA for this target.
    pzctl_snapshot!(
        context,
        "no_cma_endpoint",
        &mut against(&context, &emulator, false, "owner-token").args([
            "apply",
            ".",
            "--auto-approve"
        ])
    );
    // The CMA refuses this user (stack permissions are not Personalize roles).
    pzctl_snapshot!(
        context,
        "cma_refused",
        &mut against(&context, &emulator, true, "stranger-token").args(["plan", "."])
    );
    assert_eq!(emulator.stats().writes, writes, "nothing was written");
}

#[test]
fn a_put_the_cma_refuses_fails_that_change_with_a_clear_message() {
    let mut config = EmulatorConfig::with_default_users();
    config.users.push(user(&format!(
        "email: reader@example.com\nrole: admin\ntoken: reader-token\nstacks: {{{STACK}: read}}\n"
    )));
    let emulator = emulator(config);
    let context = TestContext::new();
    write(&context, &manifests("  contentTypes: [home_page]\n", ""));
    let output = apply_with(&context, &emulator, true, "reader-token");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let all = text(&output);
    assert!(
        all.contains(
            "the Content Management API refused to change the variant group of experience `hero`"
        ) && all.contains("Personalize project roles do not"),
        "{all}"
    );
    assert!(!all.contains("reader-token"), "{all}");
}

#[test]
fn export_writes_content_types_and_plans_no_changes_after() {
    let context = TestContext::new();
    let state = context.path().join("org");
    let local = |args: &[&str]| {
        let mut command = context.pzctl();
        command.arg("--state-dir").arg(&state).args(args);
        command.output().expect("run")
    };
    let path = example();
    let path = path.to_str().expect("utf-8 path");
    let applied = local(&["apply", path, "--auto-approve"]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let exported = local(&["export", "--out", "exported"]);
    assert_eq!(exported.status.code(), Some(0), "{}", text(&exported));
    let experiences =
        std::fs::read_to_string(context.path().join("exported/newsroom/experiences.yaml"))
            .expect("the exported experiences");
    let (front, sidebar) = experiences
        .split_once("name: sidebar-test")
        .expect("both experiences");
    assert!(front.contains("name: front-page"), "{experiences}");
    assert!(
        front.contains("contentTypes: [banner, home_page]"),
        "{experiences}"
    );
    assert!(
        !sidebar.contains("contentTypes"),
        "none linked: not managed\n{experiences}"
    );
    let validate = context
        .pzctl()
        .args(["validate", "exported"])
        .output()
        .expect("run");
    assert_eq!(validate.status.code(), Some(0), "{}", text(&validate));
    let plan = local(&["plan", "exported", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let shown = local(&["show", "--project", "newsroom"]);
    let shown = text(&shown);
    assert!(
        shown.contains("      variant group   cs")
            && shown.contains("      content types   banner, home_page\n")
            && shown.contains("      content types   (none)\n"),
        "{shown}"
    );
}

#[test]
fn linking_waits_for_the_stack_link_the_same_plan_makes() {
    let context = TestContext::new();
    let state = context.path().join("org");
    let local = |args: &[&str]| {
        let mut command = context.pzctl();
        command.arg("--state-dir").arg(&state).args(args);
        command.output().expect("run")
    };
    let unstacked = manifests("", "").replace(&format!("  stack: {STACK}\n"), "");
    write(&context, &unstacked);
    let first = local(&["apply", ".", "--auto-approve"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));

    write(&context, &manifests("  contentTypes: [home_page]\n", ""));
    let plan = local(&["plan", ".", "--format", "json"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let plan: Value = serde_json::from_slice(&plan.stdout).expect("a JSON plan");
    let changes = plan["changes"].as_array().expect("changes");
    let addresses: Vec<&str> = changes
        .iter()
        .filter_map(|change| change["address"].as_str())
        .collect();
    assert_eq!(
        addresses,
        [
            "project/newsroom/stack_link",
            "project/newsroom/experience/hero"
        ]
    );
    assert_eq!(
        changes[1]["depends_on"],
        json!(["project/newsroom/stack_link"])
    );
    assert_eq!(
        changes[1]["fields"],
        json!([{"path": "contentTypes", "before": [], "after": ["home_page"]}])
    );
    let applied = local(&["apply", ".", "--auto-approve"]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let again = local(&["plan", ".", "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
}
