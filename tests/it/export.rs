//! Integration tests: export round trips. An organization is seeded through the typed `Api`
//! against the in-process store, read back with `observe`, exported, then loaded as manifests
//! and planned against the same live state: the plan must be empty.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use pzctl::export;
use pzctl::live::{Api, Backend, observe};

use crate::support::StoreBackend;
use pzctl::manifest;
use pzctl::model::LiveState;
use pzctl::plan::{self, PlanConfig};
use pzctl::store::{Limits, Store};
use pzctl::wire::{
    self, AttributeInput, EventInput, ExperienceInput, ExperienceType, MemberInput, OrgRole,
    ProjectInput, ProjectRole, Request, VersionStatus,
};
use serde_json::{Value, json};

const OWNER: &str = "owner@example.com";

fn org() -> Api<StoreBackend> {
    let users = ["owner@example.com", "dev@example.com", "member@example.com"]
        .iter()
        .enumerate()
        .map(|(index, email)| wire::User {
            email: (*email).to_owned(),
            organization_role: if index == 0 {
                OrgRole::Owner
            } else {
                OrgRole::Member
            },
        })
        .collect();
    Api::new(StoreBackend {
        store: Arc::new(Mutex::new(Store::new("blt0rg", users, Limits::default()))),
        actor: OWNER,
        members: true,
    })
}

fn rule(attribute: Value, condition: &str, value: Option<Value>, negate: bool) -> Value {
    let mut rule = json!({"__type": "Rule", "attribute": attribute,
        "attributeMatchCondition": condition, "invertCondition": negate});
    if let Some(value) = value {
        let kind = pzctl::convert::match_options_type(&value);
        rule["attributeMatchOptions"] = json!({"__type": kind, "value": value});
    }
    rule
}

fn custom(uid: &str) -> Value {
    json!({"__type": "CustomAttributeReference", "ref": uid})
}

fn preset(name: &str) -> Value {
    json!({"__type": "PresetAttributeReference", "ref": name})
}

fn audience_input(name: &str, description: &str, definition: Value) -> wire::AudienceInput {
    serde_json::from_value(
        json!({"name": name, "description": description, "definition": definition}),
    )
    .expect("audience input")
}

fn segmented(name: &str, audiences: &[&str], combination: &str) -> Value {
    json!({"__type": "SegmentedVariant", "name": name, "audiences": audiences,
        "audienceCombinationType": combination})
}

fn version_input(status: &str, variants: Value, extra: Value) -> wire::VersionInput {
    let mut body = json!({"status": status, "variants": variants});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    serde_json::from_value(body).expect("version input")
}

/// The draft every new experience starts with.
async fn draft_uid(api: &Api<StoreBackend>, project: &str, experience: &str) -> String {
    let versions = api
        .list_versions(project, experience)
        .await
        .expect("list versions");
    versions
        .iter()
        .find(|version| version.status == VersionStatus::Draft)
        .map(|version| version.uid.clone())
        .expect("a new experience has a draft")
}

/// A storefront built "in the UI": every kind, awkward strings, nested rules, each status.
async fn seed_storefront(api: &Api<StoreBackend>) {
    let project = api
        .create_project(&ProjectInput {
            name: "Storefront".to_owned(),
            description: "Online store: personalization".to_owned(),
            connected_stack_api_key: Some("blt0123456789abcdef".to_owned()),
        })
        .await
        .expect("project");
    let p = project.uid.as_str();
    api.invite_member(
        p,
        &MemberInput {
            email: "Dev@Example.com".to_owned(),
            role: ProjectRole::Member,
            invitation_message: None,
        },
    )
    .await
    .expect("invite");
    let tier = api
        .create::<wire::Attribute>(
            p,
            &AttributeInput {
                name: "loyalty-tier".to_owned(),
                key: "loyalty_tier".to_owned(),
                description: "Tier".to_owned(),
            },
        )
        .await
        .expect("attribute");
    let yes = api
        .create::<wire::Attribute>(
            p,
            &AttributeInput {
                name: "yes".to_owned(),
                key: "yes".to_owned(),
                description: "- starts like a list: and has # signs".to_owned(),
            },
        )
        .await
        .expect("attribute");
    let cart = api
        .create::<wire::Event>(
            p,
            &EventInput {
                key: "add_to_cart".to_owned(),
                description: "Added to cart".to_owned(),
            },
        )
        .await
        .expect("event");
    let buy = api
        .create::<wire::Event>(
            p,
            &EventInput {
                key: "purchase".to_owned(),
                description: String::new(),
            },
        )
        .await
        .expect("event");
    let gold = api
        .create::<wire::Audience>(
            p,
            &audience_input(
                "gold-members",
                "Gold tier on mobile",
                json!({"__type": "RuleCombination", "combinationType": "AND", "rules": [
                    rule(custom(&tier.uid), "STRING_EQUALS", Some(json!("gold")), false),
                    {"__type": "RuleCombination", "combinationType": "OR", "rules": [
                        rule(preset("DEVICE_TYPE"), "STRING_EQUALS", Some(json!("MOBILE")), false),
                        rule(custom(&yes.uid), "HAS_ANY_VALUE", None, true),
                    ]},
                ]}),
            ),
        )
        .await
        .expect("audience");
    let everyone = api
        .create::<wire::Audience>(
            p,
            &audience_input(
                "null",
                "",
                json!({"__type": "RuleCombination", "combinationType": "OR", "rules": [
                    rule(custom(&tier.uid), "STRING_EQUALS", Some(json!("no")), false),
                ]}),
            ),
        )
        .await
        .expect("audience");

    // Active segmented experience with a pending draft.
    let hero = api
        .create::<wire::Experience>(
            p,
            &ExperienceInput {
                name: "homepage-hero".to_owned(),
                description: "Hero banner per segment".to_owned(),
                kind: ExperienceType::Segmented,
                tags: vec!["Env:Production".to_owned(), "hero".to_owned()],
            },
        )
        .await
        .expect("experience");
    let draft = draft_uid(api, p, &hero.uid).await;
    api.update_version(
        p,
        &hero.uid,
        &draft,
        &version_input(
            "ACTIVE",
            json!([
                segmented("Gold", &[&gold.uid], "OR"),
                segmented("Yes", &[&everyone.uid, &gold.uid], "AND")
            ]),
            json!({}),
        ),
    )
    .await
    .expect("activate");
    api.create_version(
        p,
        &hero.uid,
        &version_input(
            "DRAFT",
            json!([segmented("Gold only", &[&gold.uid], "OR")]),
            json!({}),
        ),
    )
    .await
    .expect("pending draft");

    // A/B test in draft with targeting and metrics.
    let checkout = api
        .create::<wire::Experience>(
            p,
            &ExperienceInput {
                name: "checkout-test".to_owned(),
                description: String::new(),
                kind: ExperienceType::AbTest,
                tags: Vec::new(),
            },
        )
        .await
        .expect("experience");
    let draft = draft_uid(api, p, &checkout.uid).await;
    api.update_version(
        p,
        &checkout.uid,
        &draft,
        &version_input(
            "DRAFT",
            json!([
                {"__type": "ABTestVariant", "name": "Control", "trafficDistribution": 50},
                {"__type": "ABTestVariant", "name": "Bold", "trafficDistribution": 50},
            ]),
            json!({
                "metrics": [{"__type": "Primary", "event": cart.uid, "name": "add_to_cart"},
                            {"__type": "Secondary", "event": buy.uid, "name": "purchase"}],
                "targeting": {"audience": {"audiences": [gold.uid], "audienceCombinationType": "AND"}},
            }),
        ),
    )
    .await
    .expect("draft content");

    // Paused.
    let paused = api
        .create::<wire::Experience>(
            p,
            &ExperienceInput {
                name: "Summer Sale 2024".to_owned(),
                description: "on".to_owned(),
                kind: ExperienceType::Segmented,
                tags: vec!["seasonal".to_owned()],
            },
        )
        .await
        .expect("experience");
    let draft = draft_uid(api, p, &paused.uid).await;
    let variants = json!([segmented("Everyone", &[&everyone.uid], "OR")]);
    api.update_version(
        p,
        &paused.uid,
        &draft,
        &version_input("ACTIVE", variants.clone(), json!({})),
    )
    .await
    .expect("activate");
    api.update_version(
        p,
        &paused.uid,
        &draft,
        &version_input("PAUSED", variants, json!({})),
    )
    .await
    .expect("pause");

    api.put_priority(
        p,
        &wire::Priority {
            priority_order: vec![paused.uid.clone(), hero.uid.clone(), checkout.uid.clone()],
        },
    )
    .await
    .expect("priority");
}

/// Export `live`, load the files as manifests, and plan them against `live`.
fn round_trip(live: &LiveState) -> (export::Exported, plan::Plan) {
    let exported = export::export(live, &[]);
    let inputs = exported
        .files
        .iter()
        .map(|(path, text)| (path.display().to_string(), text.as_bytes().to_vec()))
        .collect();
    let loaded = manifest::load_inputs(inputs);
    assert!(
        !loaded.has_errors(),
        "exported manifests do not validate:\n{}\n{}",
        pzctl::diagnostic::render_text(&loaded.diagnostics, &loaded.sources, false),
        all_files(&exported)
    );
    let plan =
        plan::plan(&loaded.desired, live, &PlanConfig::default()).unwrap_or_else(|diagnostics| {
            panic!(
                "plan refused the exported manifests:\n{}",
                pzctl::diagnostic::render_text(&diagnostics, &loaded.sources, false)
            )
        });
    (exported, plan)
}

fn all_files(exported: &export::Exported) -> String {
    exported
        .files
        .iter()
        .map(|(path, text)| format!("=== {}\n{text}", path.display()))
        .collect()
}

fn changes(plan: &plan::Plan) -> String {
    serde_json::to_string_pretty(&plan.changes).unwrap_or_default()
}

#[tokio::test]
async fn seeded_storefront_exports_validates_and_plans_no_changes() {
    let api = org();
    seed_storefront(&api).await;
    // A second owner-created project with nothing in it.
    api.create_project(&ProjectInput {
        name: "empty".to_owned(),
        description: String::new(),
        connected_stack_api_key: None,
    })
    .await
    .expect("project");

    let live = observe(&api, None).await.expect("observe");
    let (exported, plan) = round_trip(&live);
    assert!(
        plan.summary.is_empty() && plan.changes.is_empty(),
        "plan is not empty:\n{}\n{}",
        changes(&plan),
        all_files(&exported)
    );
    assert_eq!(exported.projects, 2);
    assert_eq!(exported.resources, 2 + 2 + 2 + 3);
    insta::assert_snapshot!(all_files(&exported));
    insta::assert_snapshot!(exported.warnings.join("\n"));
}

#[tokio::test]
async fn hosted_like_target_round_trips_without_members() {
    let api = org();
    seed_storefront(&api).await;
    let hosted = Api::new(StoreBackend {
        store: Arc::clone(&api.backend.store),
        actor: OWNER,
        members: false,
    });
    let live = observe(&hosted, None).await.expect("observe");
    let (exported, plan) = round_trip(&live);
    assert!(
        plan.changes.is_empty(),
        "plan is not empty:\n{}",
        changes(&plan)
    );
    let project = &exported.files[&std::path::PathBuf::from("storefront/project.yaml")];
    assert!(!project.contains("members"), "{project}");
}

#[tokio::test]
async fn only_the_named_projects_are_exported() {
    let api = org();
    seed_storefront(&api).await;
    api.create_project(&ProjectInput {
        name: "other".to_owned(),
        description: String::new(),
        connected_stack_api_key: None,
    })
    .await
    .expect("project");
    let only = vec!["other".to_owned()];
    let live = observe(&api, Some(&only)).await.expect("observe");
    let exported = export::export(&live, &only);
    let paths: Vec<String> = exported
        .files
        .keys()
        .map(|path| path.display().to_string())
        .collect();
    assert_eq!(paths, ["other/project.yaml"]);
}

/// A generated audience: (name, description, attribute index, negate, value).
type GenAudience = (String, String, usize, bool, Value);
/// A generated experience: (name, segmented?, tags, status 0 draft / 1 active / 2 paused,
/// audience indexes).
type GenExperience = (String, bool, Vec<String>, u8, Vec<usize>);

/// A small random organization: what the generator may create in one project.
#[derive(Clone, Debug)]
struct Shape {
    /// (name, description).
    project: (String, String),
    /// (key, description); the name is the key with `_` as spaces.
    attributes: Vec<(String, String)>,
    /// (key, description).
    events: Vec<(String, String)>,
    audiences: Vec<GenAudience>,
    experiences: Vec<GenExperience>,
    reverse_priority: bool,
    /// Invited users: (index into [`INVITEES`], owner?, accepted?).
    members: Vec<(usize, bool, bool)>,
}

const INVITEES: [&str; 2] = ["dev@example.com", "member@example.com"];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_-]{0,8}",
        prop::sample::select(vec![
            "yes",
            "no",
            "null",
            "1.5",
            "a: b",
            "x #y",
            " pad",
            "tab\there",
            "ünïcode"
        ])
        .prop_map(str::to_owned),
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}",
        prop::sample::select(vec!["yes", "on", "true", "Null", "Big Sale", "x:y", "1st"])
            .prop_map(str::to_owned),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => text().prop_map(Value::from),
        1 => any::<i32>().prop_map(Value::from),
        1 => (-1.0e6f64..1.0e6).prop_map(Value::from),
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        (name(), text()),
        prop::collection::btree_map("[a-z][a-z_]{0,6}", text(), 1..4),
        prop::collection::btree_map("[a-z][a-z_]{0,6}", text(), 0..3),
        prop::collection::btree_map(name(), (text(), 0usize..4, any::<bool>(), value()), 0..4),
        prop::collection::btree_map(
            name(),
            (
                any::<bool>(),
                prop::collection::vec("[a-zA-Z][a-z:_-]{0,4}", 0..3),
                0u8..3,
                prop::collection::vec(0usize..4, 0..3),
            ),
            0..4,
        ),
        any::<bool>(),
        prop::collection::btree_map(0usize..2, (any::<bool>(), any::<bool>()), 0..3),
    )
        .prop_map(
            |(project, attributes, events, audiences, experiences, reverse_priority, members)| {
                Shape {
                    members: members
                        .into_iter()
                        .map(|(index, (owner, accepted))| (index, owner, accepted))
                        .collect(),
                    project,
                    attributes: attributes.into_iter().collect(),
                    events: events.into_iter().collect(),
                    audiences: audiences
                        .into_iter()
                        .map(|(name, (description, attribute, negate, value))| {
                            (name, description, attribute, negate, value)
                        })
                        .collect(),
                    experiences: experiences
                        .into_iter()
                        .map(|(name, (segmented, tags, status, audiences))| {
                            (name, segmented, tags, status, audiences)
                        })
                        .collect(),
                    reverse_priority,
                }
            },
        )
}

async fn seed_shape(api: &Api<StoreBackend>, shape: &Shape) {
    let project = api
        .create_project(&ProjectInput {
            name: shape.project.0.clone(),
            description: shape.project.1.clone(),
            connected_stack_api_key: None,
        })
        .await
        .expect("project");
    let p = project.uid.as_str();
    for (index, owner, accepted) in &shape.members {
        let email = INVITEES[*index];
        let role = if *owner {
            ProjectRole::Owner
        } else {
            ProjectRole::Member
        };
        api.invite_member(
            p,
            &MemberInput {
                email: email.to_owned(),
                role,
                invitation_message: Some("welcome".to_owned()),
            },
        )
        .await
        .expect("invite");
        if *accepted {
            let invitee = StoreBackend {
                store: Arc::clone(&api.backend.store),
                actor: email,
                members: true,
            };
            invitee
                .send(Request::new(
                    wire::Method::Post,
                    format!("/projects/{p}/users/{email}/accept"),
                ))
                .await
                .expect("accept");
        }
    }
    let mut attributes = Vec::new();
    for (key, description) in &shape.attributes {
        let created = api
            .create::<wire::Attribute>(
                p,
                &AttributeInput {
                    name: key.replace('_', " "),
                    key: key.clone(),
                    description: description.clone(),
                },
            )
            .await
            .expect("attribute");
        attributes.push(created.uid);
    }
    let mut events = Vec::new();
    for (key, description) in &shape.events {
        let created = api
            .create::<wire::Event>(
                p,
                &EventInput {
                    key: key.clone(),
                    description: description.clone(),
                },
            )
            .await
            .expect("event");
        events.push(created.uid);
    }
    let mut audiences = Vec::new();
    for (name, description, attribute, negate, value) in &shape.audiences {
        let attribute = &attributes[attribute % attributes.len()];
        let created = api
            .create::<wire::Audience>(
                p,
                &audience_input(
                    name,
                    description,
                    json!({"__type": "RuleCombination", "combinationType": "AND", "rules": [
                        rule(
                            custom(attribute),
                            if value.is_string() { "STRING_EQUALS" } else { "NUMBER_EQUAL_TO" },
                            Some(value.clone()),
                            *negate,
                        ),
                        {"__type": "RuleCombination", "combinationType": "OR", "rules": [
                            rule(preset("COUNTRY"), "HAS_ANY_VALUE", None, false),
                        ]},
                    ]}),
                ),
            )
            .await
            .expect("audience");
        audiences.push(created.uid);
    }
    let mut order = Vec::new();
    for (name, is_segmented, tags, status, picks) in &shape.experiences {
        let experience = api
            .create::<wire::Experience>(
                p,
                &ExperienceInput {
                    name: name.clone(),
                    description: format!("{name}: {}", tags.join(" #")),
                    kind: if *is_segmented {
                        ExperienceType::Segmented
                    } else {
                        ExperienceType::AbTest
                    },
                    tags: tags.clone(),
                },
            )
            .await
            .expect("experience");
        order.push(experience.uid.clone());
        let chosen: Vec<&str> = if audiences.is_empty() {
            Vec::new()
        } else {
            picks
                .iter()
                .map(|pick| audiences[pick % audiences.len()].as_str())
                .collect()
        };
        let mut unique = chosen.clone();
        unique.dedup();
        let (variants, extra) = if *is_segmented && !unique.is_empty() {
            (json!([segmented(name, &unique, "OR")]), json!({}))
        } else if *is_segmented {
            continue;
        } else {
            let mut extra = json!({});
            if let Some(event) = events.first() {
                extra["metrics"] = json!([{"__type": "Primary", "event": event, "name": ""}]);
            }
            if !unique.is_empty() {
                extra["targeting"] =
                    json!({"audience": {"audiences": unique, "audienceCombinationType": "OR"}});
            }
            (
                json!([
                    {"__type": "ABTestVariant", "name": "A", "trafficDistribution": 30},
                    {"__type": "ABTestVariant", "name": "B", "trafficDistribution": 70},
                ]),
                extra,
            )
        };
        let draft = draft_uid(api, p, &experience.uid).await;
        let first = if *status == 0 { "DRAFT" } else { "ACTIVE" };
        api.update_version(
            p,
            &experience.uid,
            &draft,
            &version_input(first, variants.clone(), extra.clone()),
        )
        .await
        .expect("version");
        if *status == 2 {
            api.update_version(
                p,
                &experience.uid,
                &draft,
                &version_input("PAUSED", variants, extra),
            )
            .await
            .expect("pause");
        }
    }
    if shape.reverse_priority {
        order.reverse();
    }
    if !order.is_empty() {
        api.put_priority(
            p,
            &wire::Priority {
                priority_order: order,
            },
        )
        .await
        .expect("priority");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_organizations_round_trip_to_an_empty_plan(shape in shape()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (exported, plan) = runtime.block_on(async {
            let api = org();
            seed_shape(&api, &shape).await;
            let live = observe(&api, None).await.expect("observe");
            round_trip(&live)
        });
        prop_assert!(
            plan.changes.is_empty(),
            "plan is not empty:\n{}\n{}",
            changes(&plan),
            all_files(&exported)
        );
    }
}

mod cli {
    //! The real binary: apply the quickstart, export it, then validate and plan the export.

    use std::path::{Path, PathBuf};

    use assert_cmd::Command;
    use pzctl::emulator::{self, EmulatorConfig};

    fn quickstart() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
    }

    /// `pzctl` in `dir`, isolated from the caller's environment.
    fn pzctl(dir: &Path) -> Command {
        let mut cmd = Command::cargo_bin("pzctl").expect("the pzctl binary");
        cmd.current_dir(dir)
            .env_remove("PZCTL_ENDPOINT")
            .env_remove("PZCTL_REGION")
            .env_remove("PZCTL_STATE_DIR")
            .env_remove("CONTENTSTACK_AUTHTOKEN")
            .env_remove("CONTENTSTACK_OAUTH_TOKEN")
            .env_remove("CONTENTSTACK_ORGANIZATION_UID")
            .env("NO_COLOR", "1");
        cmd
    }

    fn stderr(output: &std::process::Output) -> String {
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// validate is clean and plan reports no changes (exit 0 with --detailed-exitcode).
    fn assert_round_trip(dir: &Path, target: &[&str]) {
        let validate = pzctl(dir).args(["validate", "out"]).output().expect("run");
        assert!(validate.status.success(), "validate: {}", stderr(&validate));
        let plan = pzctl(dir)
            .args(target)
            .args(["plan", "out", "--detailed-exitcode"])
            .env("CONTENTSTACK_AUTHTOKEN", "owner-token")
            .output()
            .expect("run");
        assert_eq!(
            plan.status.code(),
            Some(0),
            "plan: {}{}",
            String::from_utf8_lossy(&plan.stdout),
            stderr(&plan)
        );
        assert!(String::from_utf8_lossy(&plan.stdout).contains("No changes."));
    }

    #[test]
    fn embedded_org_round_trips_through_the_binary() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        let apply = pzctl(dir)
            .args(["--state-dir", "state", "apply", "--auto-approve"])
            .arg(quickstart())
            .output()
            .expect("run");
        assert!(apply.status.success(), "apply: {}", stderr(&apply));

        let export = pzctl(dir)
            .args(["--state-dir", "state", "export", "--out", "out"])
            .output()
            .expect("run");
        assert!(export.status.success(), "export: {}", stderr(&export));
        assert!(
            stderr(&export).contains("Exported 1 project, 5 resources to out"),
            "{}",
            stderr(&export)
        );
        let project =
            std::fs::read_to_string(dir.join("out/storefront/project.yaml")).expect("project.yaml");
        assert!(
            project.starts_with(
                "# yaml-language-server: $schema=../../schemas/manifest.schema.json\n"
            )
        );
        assert_round_trip(dir, &["--state-dir", "state"]);

        // A non-empty folder is refused without --force ...
        let again = pzctl(dir)
            .args(["--state-dir", "state", "export", "--out", "out"])
            .output()
            .expect("run");
        assert_eq!(again.status.code(), Some(1));
        assert!(
            stderr(&again).contains("pass --force"),
            "{}",
            stderr(&again)
        );
        // ... and with it, only generated files are written.
        std::fs::write(dir.join("out/README.md"), "mine").expect("write");
        std::fs::write(dir.join("out/storefront/events.yaml"), "stale").expect("write");
        let forced = pzctl(dir)
            .args(["--state-dir", "state", "export", "--out", "out", "--force"])
            .output()
            .expect("run");
        assert!(forced.status.success(), "{}", stderr(&forced));
        assert_eq!(
            std::fs::read_to_string(dir.join("out/README.md")).expect("kept"),
            "mine"
        );
        let events =
            std::fs::read_to_string(dir.join("out/storefront/events.yaml")).expect("events.yaml");
        assert!(events.contains("kind: Event"), "{events}");
    }

    #[test]
    fn emulator_org_round_trips_over_http() {
        let server = emulator::start(
            EmulatorConfig::with_default_users(),
            "127.0.0.1:0".parse().expect("address"),
        )
        .expect("start the emulator");
        let url = server.url();
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        let target = ["--endpoint", url.as_str()];
        let apply = pzctl(dir)
            .args(target)
            .args(["apply", "--auto-approve"])
            .arg(quickstart())
            .env("CONTENTSTACK_AUTHTOKEN", "owner-token")
            .output()
            .expect("run");
        assert!(apply.status.success(), "apply: {}", stderr(&apply));
        let before = server.stats().requests;
        let export = pzctl(dir)
            .args(target)
            .args(["export", "--out", "out", "--project", "storefront"])
            .args(["--schema", "https://example.com/manifest.schema.json"])
            .env("CONTENTSTACK_AUTHTOKEN", "owner-token")
            .output()
            .expect("run");
        assert!(export.status.success(), "export: {}", stderr(&export));
        // user, projects, 6 lists for the project, one versions list per experience (2).
        assert_eq!(server.stats().requests - before, 2 + 6 + 2);
        let project =
            std::fs::read_to_string(dir.join("out/storefront/project.yaml")).expect("project.yaml");
        assert!(project.starts_with(
            "# yaml-language-server: $schema=https://example.com/manifest.schema.json\n"
        ));
        assert_round_trip(dir, &target);
    }

    #[test]
    fn unknown_project_fails() {
        let temp = tempfile::tempdir().expect("temp dir");
        let output = pzctl(temp.path())
            .args([
                "--state-dir",
                "state",
                "export",
                "--out",
                "out",
                "--project",
                "nope",
            ])
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(1));
        let text = stderr(&output);
        assert!(
            text.contains("no project named `nope` in the organization"),
            "{text}"
        );
        assert!(!temp.path().join("out").exists());
    }
}

mod raise {
    use pzctl::manifest::{
        self,
        raise::{Project, Raise, document},
    };
    use pzctl::yaml_out;

    /// Raising every spec of a manifest tree and loading the documents again gives the same
    /// desired state: raising is the inverse of lowering.
    #[test]
    fn lowering_what_was_raised_gives_the_same_specs() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
        let mut text = String::new();
        for file in [
            "project.yaml",
            "signals.yaml",
            "audiences.yaml",
            "experiences.yaml",
        ] {
            text.push_str(&std::fs::read_to_string(dir.join(file)).expect("example"));
            text.push_str("\n---\n");
        }
        let loaded = manifest::load_str("quickstart.yaml", text.trim_end_matches("---\n"));
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let mut documents = Vec::new();
        for (name, project) in &loaded.desired.projects {
            let parts = Project {
                spec: Some(&project.spec),
                stack: project.stack.as_deref(),
                members: project.members.as_deref(),
                invitation_message: project.invitation_message.as_deref(),
                experience_order: project.experience_order.as_deref(),
                prune: Some(project.prune),
            };
            documents.push(document("Project", name, None, parts.raise()));
            for (key, spec) in &project.attributes {
                documents.push(document("Attribute", key, Some(name), spec.raise()));
            }
            for (key, spec) in &project.events {
                documents.push(document("Event", key, Some(name), spec.raise()));
            }
            for (key, spec) in &project.audiences {
                documents.push(document("Audience", key, Some(name), spec.raise()));
            }
            for (key, spec) in &project.experiences {
                documents.push(document("Experience", key, Some(name), spec.raise()));
            }
        }
        assert!(documents.len() > 4, "the example declares a few resources");
        let raised: Vec<String> = documents.iter().map(yaml_out::document).collect();
        let again = manifest::load_str("raised.yaml", &raised.join("---\n"));
        assert!(again.diagnostics.is_empty(), "{:?}", again.diagnostics);
        for (name, project) in &loaded.desired.projects {
            let other = &again.desired.projects[name];
            assert_eq!(project.spec, other.spec);
            assert_eq!(project.stack, other.stack);
            assert_eq!(project.members, other.members);
            assert_eq!(project.invitation_message, other.invitation_message);
            assert_eq!(project.experience_order, other.experience_order);
            assert_eq!(project.prune, other.prune);
            assert_eq!(project.attributes, other.attributes);
            assert_eq!(project.events, other.events);
            assert_eq!(project.audiences, other.audiences);
            assert_eq!(project.experiences, other.experiences);
        }
    }
}
