//! Integration tests of renames in place (`metadata.previousNames`, `variants[].previousNames`):
//! the real binary against the emulator. A renamed object keeps what the API gave it (uids,
//! shortUids, versions, the CMS variant group), and a reviewed plan with renames applies.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use pzctl::live::Api;
use pzctl::wire;

use crate::support::{TestContext, default_emulator, describe};

/// Write `BEFORE` into `dir` and apply it.
fn apply_before(url: &str, dir: &Path) {
    std::fs::write(dir.join("manifests.yaml"), BEFORE).expect("write");
    let first = pzctl(url, dir, &["apply", "manifests.yaml", "--auto-approve"]);
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
}

fn pzctl(url: &str, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pzctl"))
        .current_dir(dir)
        .arg("--endpoint")
        .arg(url)
        .args(args)
        .env_remove("PZCTL_REGION")
        .env_remove("CONTENTSTACK_OAUTH_TOKEN")
        .env("CONTENTSTACK_AUTHTOKEN", "owner-token")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run pzctl")
}

/// The manifests before the renames.
const BEFORE: &str = "\
apiVersion: pzctl/v1
kind: Project
metadata: {name: storefront}
spec:
  description: Online store
  experienceOrder: [homepage-hero, banner]
---
apiVersion: pzctl/v1
kind: Attribute
metadata: {name: tier, project: storefront}
spec: {key: tier}
---
apiVersion: pzctl/v1
kind: Event
metadata: {name: add_to_cart, project: storefront}
---
apiVersion: pzctl/v1
kind: Audience
metadata: {name: gold, project: storefront}
spec:
  rules:
    all:
      - {attribute: tier, condition: STRING_EQUALS, value: gold}
---
apiVersion: pzctl/v1
kind: Experience
metadata: {name: homepage-hero, project: storefront}
spec:
  type: ab_test
  status: active
  variants:
    - {name: Control, traffic: 50}
    - {name: Bold, traffic: 50}
  targeting: {audiences: [gold]}
  metrics: [add_to_cart]
---
apiVersion: pzctl/v1
kind: Experience
metadata: {name: banner, project: storefront}
spec:
  type: segmented
  variants:
    - {name: Gold, audiences: [gold]}
";

/// The same organization, every object renamed (and one variant), nothing else changed.
const AFTER: &str = "\
apiVersion: pzctl/v1
kind: Project
metadata: {name: shop, previousNames: [storefront]}
spec:
  description: Online store
  experienceOrder: [hero-banner, banner]
---
apiVersion: pzctl/v1
kind: Attribute
metadata: {name: loyalty-tier, project: shop, previousNames: [tier]}
spec: {key: tier}
---
apiVersion: pzctl/v1
kind: Event
metadata: {name: cart_add, project: shop, previousNames: [add_to_cart]}
---
apiVersion: pzctl/v1
kind: Audience
metadata: {name: gold-members, project: shop, previousNames: [gold]}
spec:
  rules:
    all:
      - {attribute: loyalty-tier, condition: STRING_EQUALS, value: gold}
---
apiVersion: pzctl/v1
kind: Experience
metadata: {name: hero-banner, project: shop, previousNames: [homepage-hero]}
spec:
  type: ab_test
  status: active
  variants:
    - {name: Baseline, traffic: 50, previousNames: [Control]}
    - {name: Bold, traffic: 50}
  targeting: {audiences: [gold-members]}
  metrics: [cart_add]
---
apiVersion: pzctl/v1
kind: Experience
metadata: {name: banner, project: shop}
spec:
  type: segmented
  variants:
    - {name: Gold, audiences: [gold-members]}
";

/// An experience's uid, shortUid, variant shortUids (by position), version uids and `_cms`.
type ExperienceIdentity = (
    String,
    String,
    Vec<Option<String>>,
    Vec<String>,
    Option<serde_json::Value>,
);

/// What the API gave the objects: project UID, and per experience its uid, shortUid, variant
/// shortUids (by position), version uids and `_cms`.
#[derive(Debug, PartialEq)]
struct Identity {
    project: String,
    attribute: String,
    event: String,
    audience: String,
    experiences: Vec<ExperienceIdentity>,
}

fn short_uids(version: &wire::Version) -> Vec<Option<String>> {
    version
        .variants
        .iter()
        .map(|variant| match variant {
            wire::Variant::Segmented { short_uid, .. }
            | wire::Variant::AbTest { short_uid, .. } => short_uid.clone(),
        })
        .collect()
}

fn identity(url: &str, project_name: &str) -> (Identity, Vec<String>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let api = Api::new(crate::support::http_backend(url, "owner-token"));
        let projects = api.list_projects().await.expect("projects");
        let names: Vec<String> = projects
            .iter()
            .map(|project| project.name.clone())
            .collect();
        let project = projects
            .into_iter()
            .find(|project| project.name == project_name)
            .unwrap_or_else(|| panic!("no project {project_name}: {names:?}"));
        let attributes: Vec<wire::Attribute> = api.list(&project.uid).await.expect("attributes");
        let events: Vec<wire::Event> = api.list(&project.uid).await.expect("events");
        let audiences: Vec<wire::Audience> = api.list(&project.uid).await.expect("audiences");
        let experiences: Vec<wire::Experience> = api.list(&project.uid).await.expect("experiences");
        let mut described = Vec::new();
        for experience in &experiences {
            let versions = api
                .list_versions(&project.uid, &experience.uid)
                .await
                .expect("versions");
            let active = versions
                .iter()
                .find(|version| version.status == wire::VersionStatus::Active)
                .or(versions.first())
                .expect("a version");
            described.push((
                experience.uid.clone(),
                experience.short_uid.clone(),
                short_uids(active),
                versions.iter().map(|version| version.uid.clone()).collect(),
                experience.cms.clone(),
            ));
        }
        described.sort_by(|a, b| a.0.cmp(&b.0));
        let mut live_names: Vec<String> = attributes
            .iter()
            .filter(|attribute| attribute.kind == wire::AttributeType::Custom)
            .map(|attribute| format!("attribute {}", attribute.name))
            .collect();
        live_names.extend(events.iter().map(|event| format!("event {}", event.key)));
        live_names.extend(
            audiences
                .iter()
                .map(|audience| format!("audience {}", audience.name)),
        );
        live_names.extend(
            experiences
                .iter()
                .map(|experience| format!("experience {}", experience.name)),
        );
        live_names.sort();
        let custom = attributes
            .iter()
            .find(|attribute| attribute.kind == wire::AttributeType::Custom)
            .expect("the custom attribute");
        (
            Identity {
                project: project.uid.clone(),
                attribute: custom.uid.clone(),
                event: events[0].uid.clone(),
                audience: audiences[0].uid.clone(),
                experiences: described,
            },
            live_names,
        )
    })
}

#[test]
fn renaming_every_object_keeps_every_identifier_the_api_gave_it() {
    let emulator = default_emulator();
    let url = emulator.url();
    let context = TestContext::new();
    let dir = context.path();
    apply_before(&url, dir);
    let (before, _) = identity(&url, "storefront");
    // The A/B test has a CMS variant group and numbered variants.
    let hero = before
        .experiences
        .iter()
        .find(|(_, _, variants, _, _)| variants.len() == 2)
        .expect("the A/B test");
    assert!(hero.4.is_some(), "no _cms: {hero:?}");
    assert!(hero.2.iter().all(Option::is_some), "{hero:?}");

    // Rename everything, review the plan, apply the reviewed plan.
    std::fs::write(dir.join("manifests.yaml"), AFTER).expect("write");
    let plan = pzctl(&url, dir, &["plan", "manifests.yaml", "--out", "plan.json"]);
    assert_eq!(plan.status.code(), Some(0), "{}", describe(&plan));
    let shown = String::from_utf8_lossy(&plan.stdout).into_owned();
    for line in [
        "~ project shop (renamed from storefront)",
        "~ attribute loyalty-tier (renamed from tier)",
        "~ event cart_add (renamed from add_to_cart)",
        "~ audience gold-members (renamed from gold)",
        "~ experience hero-banner (renamed from homepage-hero)",
        "Plan: 0 to create, 5 to update, 0 to delete.",
    ] {
        assert!(shown.contains(line), "{line}\n{}", describe(&plan));
    }
    // The segmented experience that refers to the renamed audience does not change.
    assert!(!shown.contains("experience banner"), "{shown}");
    let apply = pzctl(
        &url,
        dir,
        &["apply", "--plan", "plan.json", "--auto-approve"],
    );
    assert_eq!(apply.status.code(), Some(0), "{}", describe(&apply));

    let (after, live_names) = identity(&url, "shop");
    assert_eq!(
        live_names,
        [
            "attribute loyalty-tier",
            "audience gold-members",
            "event cart_add",
            "experience banner",
            "experience hero-banner",
        ]
    );
    assert_eq!(after.project, before.project, "the project UID changed");
    assert_eq!(after.attribute, before.attribute);
    assert_eq!(after.event, before.event);
    assert_eq!(after.audience, before.audience);
    for (old, new) in before.experiences.iter().zip(&after.experiences) {
        // uid, shortUid and the variants' shortUids (the renamed variant's too) are kept.
        assert_eq!((&old.0, &old.1, &old.2), (&new.0, &new.1, &new.2));
        // Every version is still there (the renamed variant is a new version of the A/B test).
        assert!(
            old.3.iter().all(|uid| new.3.contains(uid)),
            "{old:?} {new:?}"
        );
        // The CMS variant group is the same, and so is every variant's CMS uid.
        assert_eq!(old.4, new.4);
    }

    // Converged: nothing more to do.
    let again = pzctl(
        &url,
        dir,
        &["plan", "manifests.yaml", "--detailed-exitcode"],
    );
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
}

#[test]
fn a_variant_renamed_without_previous_names_gets_a_new_short_uid_and_the_plan_says_so() {
    let emulator = default_emulator();
    let url = emulator.url();
    let context = TestContext::new();
    let dir = context.path();
    apply_before(&url, dir);
    std::fs::write(
        dir.join("manifests.yaml"),
        BEFORE.replace(
            "{name: Control, traffic: 50}",
            "{name: Baseline, traffic: 50}",
        ),
    )
    .expect("write");
    let plan = pzctl(&url, dir, &["plan", "manifests.yaml"]);
    let shown = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert!(
        shown.contains("variant `Baseline` gets a new shortUid")
            && shown.contains("live variant `Control` (shortUid 0) is removed"),
        "{}",
        describe(&plan)
    );
}

/// `examples/renames` is `examples/quickstart` after renames: planned against the applied
/// quickstart on the embedded organization, every object is updated in place, and once applied
/// the plan is empty.
#[test]
fn the_renames_example_renames_the_applied_quickstart_in_place() {
    let context = TestContext::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |args: &[&str]| {
        let mut command = context.pzctl();
        command.args(args);
        command
    };
    let quickstart = root.join("examples/quickstart");
    let renames = root.join("examples/renames");
    let (quickstart, renames) = (
        quickstart.to_str().expect("utf-8"),
        renames.to_str().expect("utf-8"),
    );
    let first = run(&["apply", quickstart, "--auto-approve"])
        .output()
        .expect("run");
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    pzctl_snapshot!(
        context,
        "renames_example_plan",
        &mut run(&["plan", renames, "--detailed-exitcode"])
    );
    let markdown = run(&["plan", renames, "--format", "markdown"])
        .output()
        .expect("run");
    let markdown = String::from_utf8_lossy(&markdown.stdout).into_owned();
    assert!(
        markdown.contains(
            "<code>~ project/shop/experience/hero-banner</code> (renamed from homepage-hero)"
        ),
        "{markdown}"
    );
    let apply = run(&["apply", renames, "--auto-approve"])
        .output()
        .expect("run");
    assert_eq!(apply.status.code(), Some(0), "{}", describe(&apply));
    let again = run(&["plan", renames, "--detailed-exitcode"])
        .output()
        .expect("run");
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
}

/// A reviewed plan renames only what it said: when an object with the new name appears after
/// the review, the plan made again no longer renames, so `apply --plan` refuses (exit 3) and
/// writes nothing.
#[test]
fn a_reviewed_rename_that_no_longer_holds_is_refused() {
    let emulator = default_emulator();
    let url = emulator.url();
    let context = TestContext::new();
    let dir = context.path();
    apply_before(&url, dir);
    let renamed = BEFORE
        .replace(
            "metadata: {name: banner, project: storefront}",
            "metadata: {name: side-banner, project: storefront, previousNames: [banner]}",
        )
        .replace("[homepage-hero, banner]", "[homepage-hero, side-banner]");
    std::fs::write(dir.join("manifests.yaml"), renamed).expect("write");
    let plan = pzctl(&url, dir, &["plan", "manifests.yaml", "--out", "plan.json"]);
    assert_eq!(plan.status.code(), Some(0), "{}", describe(&plan));
    assert!(
        String::from_utf8_lossy(&plan.stdout)
            .contains("~ experience side-banner (renamed from banner)"),
        "{}",
        describe(&plan)
    );
    // Someone makes `side-banner` in the UI before the apply.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let api = Api::new(crate::support::http_backend(&url, "owner-token"));
        let project = api
            .list_projects()
            .await
            .expect("projects")
            .into_iter()
            .find(|project| project.name == "storefront")
            .expect("the project");
        api.create::<wire::Experience>(
            &project.uid,
            &wire::ExperienceInput {
                name: "side-banner".to_owned(),
                description: String::new(),
                kind: wire::ExperienceType::Segmented,
                tags: Vec::new(),
            },
        )
        .await
        .expect("create in the UI");
    });
    let before = emulator.state();
    let apply = pzctl(
        &url,
        dir,
        &["apply", "--plan", "plan.json", "--auto-approve"],
    );
    assert_eq!(apply.status.code(), Some(3), "{}", describe(&apply));
    assert!(
        String::from_utf8_lossy(&apply.stderr).contains("renamed_from"),
        "{}",
        describe(&apply)
    );
    assert_eq!(before, emulator.state(), "a refused plan wrote something");
}
