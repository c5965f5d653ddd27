//! Integration tests: the planner and its three renderers, through the public library API.
//!
//! Scenarios are built from a small fixture organization (`fixture()`), turned into live state
//! by `live_from()` (what a perfect apply would leave), then changed on one side. Each scenario
//! snapshots the text, JSON and Markdown forms (or the refusals).

use std::collections::BTreeMap;

use proptest::prelude::*;
use pzctl::convert::{self, Uids, VersionContent};
use pzctl::diagnostic::Diagnostic;
use pzctl::model::{
    AttributeRef, AttributeSpec, AudienceSpec, Combination, Condition, ContentTypeLinks,
    DesiredProject, DesiredState, EventSpec, ExperienceSpec, ExperienceStatus, ExperienceType,
    LiveExperience, LiveProject, LiveState, MemberSpec, OrgRole, Origin, Principal, ProjectRole,
    ProjectSpec, RuleGroup, RuleNode, TargetingSpec, VariantSpec,
};
use pzctl::plan::{Action, Plan, PlanConfig, Requirement, plan};
use pzctl::wire::{self, MemberStatus};

// ---------------------------------------------------------------------------------------------
// Builders.

fn condition(attribute: AttributeRef, condition: &str, value: Option<&str>) -> RuleNode {
    RuleNode::Condition(Condition {
        attribute,
        condition: condition.to_owned(),
        value: value.map(serde_json::Value::from),
        negate: false,
    })
}

fn audience(description: &str, attribute: &str, value: &str) -> AudienceSpec {
    AudienceSpec {
        description: description.to_owned(),
        rules: RuleGroup {
            combination: Combination::All,
            rules: vec![
                condition(
                    AttributeRef::Custom(attribute.into()),
                    "STRING_EQUALS",
                    Some(value),
                ),
                RuleNode::Group(RuleGroup {
                    combination: Combination::Any,
                    rules: vec![condition(
                        AttributeRef::Preset("DEVICE_TYPE".to_owned()),
                        "STRING_EQUALS",
                        Some("MOBILE"),
                    )],
                }),
            ],
        },
    }
}

fn segmented(status: ExperienceStatus, audiences: &[&str]) -> ExperienceSpec {
    ExperienceSpec {
        kind: ExperienceType::Segmented,
        description: "Hero banner per segment".to_owned(),
        tags: vec!["env:production".to_owned()],
        status,
        variants: vec![VariantSpec::Segmented {
            name: "Gold".to_owned(),
            audiences: audiences.iter().map(|name| (*name).into()).collect(),
            combination: Combination::Any,
        }],
        targeting: None,
        metrics: Vec::new(),
        content_types: None,
    }
}

fn ab_test(status: ExperienceStatus) -> ExperienceSpec {
    ExperienceSpec {
        kind: ExperienceType::AbTest,
        description: String::new(),
        tags: Vec::new(),
        status,
        variants: vec![
            VariantSpec::AbTest {
                name: "Control".to_owned(),
                traffic: 50,
            },
            VariantSpec::AbTest {
                name: "Bold".to_owned(),
                traffic: 50,
            },
        ],
        targeting: Some(TargetingSpec {
            audiences: vec!["gold-members".into()],
            combination: Combination::All,
        }),
        metrics: vec!["add_to_cart".into()],
        content_types: None,
    }
}

fn member(email: &str, role: ProjectRole) -> MemberSpec {
    MemberSpec {
        email: email.to_owned(),
        role,
    }
}

/// The fixture: one project with one of everything.
fn storefront() -> DesiredProject {
    let mut project = DesiredProject {
        name: "storefront".to_owned(),
        spec: ProjectSpec {
            description: "Online store personalization".to_owned(),
        },
        stack: Some("blt0123456789abcdef".to_owned()),
        members: Some(vec![
            member("owner@example.com", ProjectRole::Owner),
            member("dev@example.com", ProjectRole::Member),
        ]),
        invitation_message: Some("Welcome!".to_owned()),
        experience_order: None,
        prune: false,
        ..DesiredProject::default()
    };
    project.attributes.insert(
        "loyalty-tier".to_owned(),
        AttributeSpec {
            key: "loyalty_tier".to_owned(),
            description: "Tier".to_owned(),
        },
    );
    project.events.insert(
        "add_to_cart".to_owned(),
        EventSpec {
            key: "add_to_cart".to_owned(),
            description: "Added to cart".to_owned(),
        },
    );
    project.audiences.insert(
        "gold-members".to_owned(),
        audience("Gold tier on mobile", "loyalty-tier", "gold"),
    );
    project.experiences.insert(
        "homepage-hero".to_owned(),
        segmented(ExperienceStatus::Active, &["gold-members"]),
    );
    project
        .experiences
        .insert("checkout-test".to_owned(), ab_test(ExperienceStatus::Draft));
    let mut line = 1;
    for address in [
        "project/storefront".to_owned(),
        "project/storefront/attribute/loyalty-tier".to_owned(),
        "project/storefront/event/add_to_cart".to_owned(),
        "project/storefront/audience/gold-members".to_owned(),
        "project/storefront/experience/homepage-hero".to_owned(),
        "project/storefront/experience/checkout-test".to_owned(),
    ] {
        project.origins.insert(
            address,
            Origin {
                file: "manifests/storefront.yaml".to_owned(),
                line,
                column: 1,
            },
        );
        line += 10;
    }
    project
}

fn fixture() -> DesiredState {
    let mut desired = DesiredState::default();
    desired
        .projects
        .insert("storefront".to_owned(), storefront());
    desired
}

fn owner() -> Principal {
    Principal {
        email: "owner@example.com".to_owned(),
        org_role: OrgRole::Owner,
    }
}

fn org_member(email: &str) -> Principal {
    Principal {
        email: email.to_owned(),
        org_role: OrgRole::Member,
    }
}

fn uid(project: &str, kind: &str, name: &str) -> String {
    format!("{project}-{kind}-{name}")
}

/// What a perfect apply of `desired` would leave live (with the server's quirks: upper-case
/// duplicated tags, presets in the attribute list, server fields filled in).
fn live_from(desired: &DesiredState, principal: Option<Principal>) -> LiveState {
    let mut live = LiveState {
        projects: BTreeMap::new(),
        principal: principal.clone(),
        warnings: Vec::new(),
    };
    for (name, project) in &desired.projects {
        let project_uid = uid(name, "project", name);
        let mut attributes = vec![wire::Attribute {
            id: uid(name, "preset", "DEVICE_TYPE"),
            uid: uid(name, "preset", "DEVICE_TYPE"),
            name: "Device Type".to_owned(),
            key: "DEVICE_TYPE".to_owned(),
            description: String::new(),
            kind: wire::AttributeType::Preset,
            project: project_uid.clone(),
            updated_at: "2026-01-01T00:00:00Z".to_owned(),
            made: wire::Made::default(),
        }];
        for (attribute_name, spec) in &project.attributes {
            let input = convert::attribute_input(attribute_name, spec);
            attributes.push(wire::Attribute {
                id: uid(name, "attribute", attribute_name),
                uid: uid(name, "attribute", attribute_name),
                name: input.name,
                key: input.key,
                description: input.description,
                kind: wire::AttributeType::Custom,
                project: project_uid.clone(),
                updated_at: "2026-01-01T00:00:00Z".to_owned(),
                made: wire::Made::default(),
            });
        }
        let events: Vec<wire::Event> = project
            .events
            .iter()
            .map(|(event_name, spec)| wire::Event {
                id: uid(name, "event", event_name),
                uid: uid(name, "event", event_name),
                key: spec.key.clone(),
                description: spec.description.clone(),
                project: project_uid.clone(),
                updated_at: String::new(),
                made: wire::Made::default(),
            })
            .collect();
        let mut live_project = LiveProject {
            project: wire::Project {
                id: project_uid.clone(),
                uid: project_uid.clone(),
                name: name.clone(),
                description: project.spec.description.clone(),
                organization_uid: "org".to_owned(),
                connected_stack_api_key: project.stack.clone(),
                created_at: "2026-01-01T00:00:00Z".to_owned(),
                updated_at: "2026-01-01T00:00:00Z".to_owned(),
            },
            members: Some(Vec::new()),
            attributes,
            events,
            audiences: Vec::new(),
            experiences: Vec::new(),
            priority: Vec::new(),
            cms_unread: None,
        };
        let uids = Uids::from_live(&live_project);
        let audiences: Vec<wire::Audience> = project
            .audiences
            .iter()
            .map(|(audience_name, spec)| {
                let input = convert::audience_input(audience_name, spec, &uids)
                    .expect("fixture references resolve");
                wire::Audience {
                    id: uid(name, "audience", audience_name),
                    uid: uid(name, "audience", audience_name),
                    name: input.name,
                    description: input.description,
                    definition: Some(input.definition),
                    source: None,
                    slug: None,
                    project: project_uid.clone(),
                    updated_at: String::new(),
                    made: wire::Made::default(),
                }
            })
            .collect();
        live_project.audiences = audiences;
        let uids = Uids::from_live(&live_project);
        for (experience_name, spec) in &project.experiences {
            let version = convert::version_input(
                &VersionContent::of_spec(spec),
                convert::version_status(spec.status),
                None,
                &uids,
            )
            .expect("fixture references resolve");
            let mut tags: Vec<String> = spec.tags.iter().map(|tag| tag.to_uppercase()).collect();
            tags.extend(spec.tags.iter().cloned());
            live_project.experiences.push(LiveExperience {
                experience: wire::Experience {
                    id: uid(name, "experience", experience_name),
                    uid: uid(name, "experience", experience_name),
                    name: experience_name.clone(),
                    description: spec.description.clone(),
                    kind: spec.kind.into(),
                    short_uid: "1".to_owned(),
                    status: format!("{:?}", version.status).to_uppercase(),
                    latest_version: uid(name, "version", experience_name),
                    tags,
                    referred_audiences: Vec::new(),
                    cms: None,
                    updated_at: String::new(),
                    made: wire::Made::default(),
                },
                versions: vec![wire::Version {
                    id: uid(name, "version", experience_name),
                    uid: uid(name, "version", experience_name),
                    status: version.status,
                    variants: version.variants,
                    metrics: version.metrics,
                    targeting: version.targeting,
                    updated_at: String::new(),
                    extra: wire::Extra::new(),
                }],
                content_types: ContentTypeLinks::Read(
                    spec.content_types.clone().unwrap_or_default(),
                ),
            });
        }
        let mut order: Vec<String> = project.experience_order.clone().unwrap_or_default();
        for experience_name in project.experiences.keys() {
            if !order.contains(experience_name) {
                order.push(experience_name.clone());
            }
        }
        live_project.priority = order
            .iter()
            .map(|experience_name| uid(name, "experience", experience_name))
            .collect();
        let mut members: Vec<wire::Member> = project
            .members
            .iter()
            .flatten()
            .map(|spec| wire::Member {
                email: spec.email.clone(),
                role: spec.role.into(),
                status: MemberStatus::Accepted,
                invitation_message: None,
                updated_at: String::new(),
            })
            .collect();
        // Without a declared member list, the creator is the only member.
        if project.members.is_none()
            && let Some(principal) = &principal
        {
            members.push(wire::Member {
                email: principal.email.clone(),
                role: wire::ProjectRole::Owner,
                status: MemberStatus::Accepted,
                invitation_message: None,
                updated_at: String::new(),
            });
        }
        live_project.members = Some(members);
        live.projects.insert(name.clone(), live_project);
    }
    live
}

fn project_mut<'a>(live: &'a mut LiveState, name: &str) -> &'a mut LiveProject {
    live.projects.get_mut(name).expect("fixture project")
}

// ---------------------------------------------------------------------------------------------
// The check helper.

fn render_all(plan: &Plan) -> String {
    let mut out = String::new();
    out.push_str("==== text\n");
    out.push_str(&pzctl::render::text(plan, false));
    out.push_str("==== markdown\n");
    for part in pzctl::render::markdown(plan) {
        out.push_str(&part);
        out.push_str("==== (end of part)\n");
    }
    out.push_str("==== json\n");
    out.push_str(&pzctl::render::json(plan));
    out
}

fn render_refusals(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|diagnostic| {
            format!(
                "{} at {}:{}:{}: {}\n",
                serde_json::to_value(diagnostic.code)
                    .expect("code")
                    .as_str()
                    .unwrap_or_default(),
                diagnostic.file().unwrap_or("-"),
                diagnostic.line().unwrap_or(0),
                diagnostic.column().unwrap_or(0),
                diagnostic.message
            )
        })
        .collect()
}

/// Plan and check the invariants every plan has; returns the plan or the refusals.
fn plan_checked(
    desired: &DesiredState,
    live: &LiveState,
    config: &PlanConfig,
) -> Result<Plan, Vec<Diagnostic>> {
    let result = plan(desired, live, config);
    if let Ok(plan) = &result {
        assert_backwards(plan);
        // Same inputs, same bytes.
        let again = pzctl::plan::plan(desired, live, config).expect("planned once");
        assert_eq!(pzctl::render::json(plan), pzctl::render::json(&again));
        // The JSON form is exactly the serialization, and reads back.
        let parsed: Plan = serde_json::from_str(&pzctl::render::json(plan)).expect("plan JSON");
        assert_eq!(&parsed, plan);
    }
    result
}

fn check(name: &str, desired: &DesiredState, live: &LiveState, config: &PlanConfig) -> Plan {
    let plan = plan_checked(desired, live, config)
        .unwrap_or_else(|refusals| panic!("{name}: refused:\n{}", render_refusals(&refusals)));
    insta::assert_snapshot!(name, render_all(&plan));
    plan
}

fn check_refused(
    name: &str,
    desired: &DesiredState,
    live: &LiveState,
    config: &PlanConfig,
) -> Vec<Diagnostic> {
    let refusals = match plan_checked(desired, live, config) {
        Ok(plan) => panic!("{name}: expected a refusal, got:\n{}", render_all(&plan)),
        Err(refusals) => refusals,
    };
    insta::assert_snapshot!(name, render_refusals(&refusals));
    refusals
}

fn assert_backwards(plan: &Plan) {
    let mut seen = std::collections::BTreeSet::new();
    for change in &plan.changes {
        for dependency in &change.depends_on {
            assert!(
                seen.contains(dependency),
                "{} depends on {dependency}, which is not earlier",
                change.address
            );
        }
        assert!(
            seen.insert(change.address.clone()),
            "duplicate {}",
            change.address
        );
    }
}

fn position(plan: &Plan, address: &str) -> usize {
    plan.changes
        .iter()
        .position(|change| change.address == address)
        .unwrap_or_else(|| panic!("{address} is not in the plan"))
}

fn addresses(plan: &Plan) -> Vec<(Action, &str)> {
    plan.changes
        .iter()
        .map(|change| (change.action, change.address.as_str()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

#[test]
fn create_everything_in_a_new_project() {
    let desired = fixture();
    let live = LiveState {
        projects: BTreeMap::new(),
        principal: Some(owner()),
        warnings: Vec::new(),
    };
    let plan = check("create_everything", &desired, &live, &PlanConfig::default());
    // The creator is the owner already: only dev is invited.
    assert!(
        plan.changes
            .iter()
            .all(|change| change.address != "project/storefront/member/owner@example.com")
    );
    assert_eq!(position(&plan, "project/storefront"), 0);
    assert!(
        position(&plan, "project/storefront/attribute/loyalty-tier")
            < position(&plan, "project/storefront/audience/gold-members")
    );
    assert!(
        position(&plan, "project/storefront/audience/gold-members")
            < position(&plan, "project/storefront/experience/homepage-hero")
    );
    assert!(
        position(&plan, "project/storefront/event/add_to_cart")
            < position(&plan, "project/storefront/experience/checkout-test")
    );
    let invite = &plan.changes[position(&plan, "project/storefront/member/dev@example.com")];
    assert_eq!(
        invite
            .after_json()
            .as_ref()
            .and_then(|after| after.get("invitation_message")),
        Some(&serde_json::Value::from("Welcome!"))
    );
    assert_eq!(plan.summary.delete, 0);
}

#[test]
fn live_equal_to_desired_plans_nothing() {
    let desired = fixture();
    let live = live_from(&desired, Some(owner()));
    let plan = plan_checked(&desired, &live, &PlanConfig::default()).expect("plans");
    assert!(plan.changes.is_empty(), "{}", render_all(&plan));
    assert_eq!(
        pzctl::render::text(&plan, false),
        "No changes. The live organization matches the manifests.\n"
    );
    assert!(!plan.live_fingerprint.digest.is_empty());
    assert!(
        plan.live_fingerprint
            .objects
            .contains_key("project/storefront/experience/homepage-hero")
    );
}

#[test]
fn updates_of_every_kind() {
    let live = live_from(&fixture(), Some(owner()));
    let mut desired = fixture();
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.spec.description = "Online store personalization, all regions".to_owned();
    project
        .attributes
        .get_mut("loyalty-tier")
        .expect("fixture")
        .description = "Loyalty tier from the CRM".to_owned();
    project
        .events
        .get_mut("add_to_cart")
        .expect("fixture")
        .description = "Added an item to the cart".to_owned();
    project.audiences.insert(
        "gold-members".to_owned(),
        audience("Gold tier on mobile", "loyalty-tier", "platinum"),
    );
    let hero = project
        .experiences
        .get_mut("homepage-hero")
        .expect("fixture");
    hero.tags = vec!["env:production".to_owned(), "team:web".to_owned()];
    hero.description = "A much longer description of the hero banner that goes past sixty characters\nand has a second line".to_owned();
    project.members = Some(vec![
        member("owner@example.com", ProjectRole::Owner),
        member("dev@example.com", ProjectRole::Owner),
    ]);
    let plan = check("updates", &desired, &live, &PlanConfig::default());
    assert_eq!(plan.summary.update, 6);
    assert_eq!(plan.summary.create + plan.summary.delete, 0);
}

fn with_extras(live: &mut LiveState) {
    // Undeclared objects: an attribute used by an undeclared audience, used by an undeclared
    // experience, plus an undeclared event and a pending invitation.
    let mut extra = fixture();
    let project = extra.projects.get_mut("storefront").expect("fixture");
    project.attributes.insert(
        "age".to_owned(),
        AttributeSpec {
            key: "age".to_owned(),
            description: String::new(),
        },
    );
    project
        .audiences
        .insert("adults".to_owned(), audience("Adults", "age", "18"));
    project.experiences.insert(
        "old-banner".to_owned(),
        segmented(ExperienceStatus::Paused, &["adults"]),
    );
    project.events.insert(
        "old_click".to_owned(),
        EventSpec {
            key: "old_click".to_owned(),
            description: String::new(),
        },
    );
    let mut extra_live = live_from(&extra, Some(owner()));
    let extra_project = project_mut(&mut extra_live, "storefront");
    if let Some(members) = &mut extra_project.members {
        members.push(wire::Member {
            email: "gone@example.com".to_owned(),
            role: wire::ProjectRole::Member,
            status: MemberStatus::Pending,
            invitation_message: None,
            updated_at: String::new(),
        });
    }
    *live = extra_live;
}

#[test]
fn prune_off_leaves_undeclared_objects() {
    let desired = fixture();
    let mut live = live_from(&desired, Some(owner()));
    with_extras(&mut live);
    let plan = plan_checked(&desired, &live, &PlanConfig::default()).expect("plans");
    // Only the member missing from the declared member list goes: that list is whole.
    assert_eq!(
        addresses(&plan),
        [(Action::Delete, "project/storefront/member/gone@example.com")],
        "{}",
        render_all(&plan)
    );
}

#[test]
fn prune_on_deletes_in_reverse_dependency_order() {
    let mut desired = fixture();
    desired
        .projects
        .get_mut("storefront")
        .expect("fixture")
        .prune = true;
    let mut live = live_from(&desired, Some(owner()));
    with_extras(&mut live);
    let plan = check("prune_on", &desired, &live, &PlanConfig::default());
    assert_eq!(plan.summary.delete, 5);
    let experience = position(&plan, "project/storefront/experience/old-banner");
    let audience = position(&plan, "project/storefront/audience/adults");
    let attribute = position(&plan, "project/storefront/attribute/age");
    assert!(experience < audience && audience < attribute);
    assert!(
        plan.changes[audience]
            .depends_on
            .contains(&"project/storefront/experience/old-banner".to_owned())
    );
}

#[test]
fn unmanaged_objects_are_listed_in_every_format() {
    // What the UI added: objects of every kind in a declared project, and a whole project. No
    // `prune`, no `--allow-delete`: nothing is deleted, everything is listed.
    let (desired, mut live) = with_legacy();
    let members = project_mut(&mut live, "storefront")
        .members
        .as_mut()
        .expect("members");
    members.retain(|member| member.email != "gone@example.com");
    let plan = check("unmanaged", &desired, &live, &PlanConfig::default());
    assert!(plan.changes.is_empty(), "{}", render_all(&plan));
    let listed: Vec<(&str, &str)> = plan
        .unmanaged
        .iter()
        .map(|object| (object.address.as_str(), object.uid.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("project/legacy", "legacy-project-legacy"),
            (
                "project/storefront/attribute/age",
                "storefront-attribute-age"
            ),
            (
                "project/storefront/audience/adults",
                "storefront-audience-adults"
            ),
            (
                "project/storefront/event/old_click",
                "storefront-event-old_click"
            ),
            (
                "project/storefront/experience/old-banner",
                "storefront-experience-old-banner"
            ),
        ]
    );
    // What the plan deletes is not unmanaged; `--project` narrows the list too.
    let config = PlanConfig {
        allow_delete: true,
        projects: vec!["storefront".to_owned()],
        ..PlanConfig::default()
    };
    let plan = plan_checked(&desired, &live, &config).expect("plans");
    assert!(plan.unmanaged.is_empty(), "{}", render_all(&plan));
    assert_eq!(plan.summary.delete, 4);
}

#[test]
fn a_replacement_says_what_it_loses_and_hints_at_a_rename() {
    let mut desired = fixture();
    let mut live = live_from(&desired, Some(owner()));
    // The live experience is linked to a CMS variant group.
    let hero = project_mut(&mut live, "storefront")
        .experiences
        .iter_mut()
        .find(|experience| experience.experience.name == "homepage-hero")
        .expect("fixture");
    hero.experience.cms = Some(serde_json::json!({"variantGroup": "cs_group_1"}));
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.prune = true;
    let spec = project
        .experiences
        .remove("homepage-hero")
        .expect("fixture");
    project.experiences.insert("hero-banner".to_owned(), spec);
    let plan = check("replacement_hint", &desired, &live, &PlanConfig::default());
    let delete = &plan.changes[position(&plan, "project/storefront/experience/homepage-hero")];
    let note = delete.note.as_deref().unwrap_or_default();
    for loss in [
        "it is active",
        "its analytics (1 version)",
        "CMS variant group stays behind",
        "renamed?",
    ] {
        assert!(note.contains(loss), "{note}");
    }
    let create = &plan.changes[position(&plan, "project/storefront/experience/hero-banner")];
    assert!(
        create
            .note
            .as_deref()
            .is_some_and(|note| note.contains("renamed?")
                && note.contains("`previousNames: [homepage-hero]`")),
        "{:?}",
        create.note
    );
}

#[test]
fn live_duplicates_are_noted_and_left_alone_while_the_rest_is_planned() {
    let mut desired = fixture();
    let mut live = live_from(&desired, Some(owner()));
    // A second `gold-members` (two runs at once, or the UI), and a changed description that
    // could go to either.
    let project = project_mut(&mut live, "storefront");
    let mut twin = project
        .audiences
        .iter()
        .find(|audience| audience.name == "gold-members")
        .expect("fixture")
        .clone();
    twin.uid = "storefront-audience-gold-members-2".to_owned();
    twin.id = twin.uid.clone();
    twin.updated_at = "2026-02-03T04:05:06Z".to_owned();
    twin.made = wire::Made {
        created_at: "2026-02-01T00:00:00Z".to_owned(),
        created_by: "blt0123456789abcdef".to_owned(),
        created_by_user_name: "Ada Marketer".to_owned(),
    };
    project.audiences.push(twin);
    let storefront = desired.projects.get_mut("storefront").expect("fixture");
    storefront.prune = true;
    storefront.spec.description = "Renamed store".to_owned();
    if let Some(audience) = storefront.audiences.get_mut("gold-members") {
        audience.description = "Changed".to_owned();
    }
    let plan = check("live_duplicate", &desired, &live, &PlanConfig::default());
    assert_eq!(
        addresses(&plan),
        [(Action::Update, "project/storefront")],
        "the rest is planned; nothing touches the duplicated audience"
    );
    let note = plan
        .notes
        .iter()
        .find(|note| note.address == "project/storefront/audience/gold-members")
        .expect("a live-duplicate note");
    assert!(
        note.message.starts_with("live-duplicate:")
            && note
                .message
                .contains("uid storefront-audience-gold-members;")
            && note.message.contains(
                "uid storefront-audience-gold-members-2, made 2026-02-01T00:00:00Z by Ada Marketer, last updated 2026-02-03T04:05:06Z"
            ),
        "{}",
        note.message
    );
    assert!(plan.unmanaged.is_empty());
}

#[test]
fn a_pending_draft_that_an_update_replaces_is_shown_with_its_differences() {
    let mut desired = fixture();
    let mut live = live_from(&desired, Some(owner()));
    // A marketer left a draft of the active `homepage-hero` in the UI: its variant is renamed.
    let hero = project_mut(&mut live, "storefront")
        .experiences
        .iter_mut()
        .find(|experience| experience.experience.name == "homepage-hero")
        .expect("fixture");
    let mut draft = hero.versions[0].clone();
    draft.uid = "storefront-version-homepage-hero-draft".to_owned();
    draft.id = draft.uid.clone();
    draft.status = wire::VersionStatus::Draft;
    draft.updated_at = "2026-03-04T05:06:07Z".to_owned();
    for variant in &mut draft.variants {
        if let wire::Variant::Segmented { name, .. } = variant {
            *name = "Platinum".to_owned();
        }
    }
    hero.versions.push(draft);
    // The manifests change the content another way.
    let storefront = desired.projects.get_mut("storefront").expect("fixture");
    let Some(VariantSpec::Segmented { combination, .. }) = storefront
        .experiences
        .get_mut("homepage-hero")
        .and_then(|experience| experience.variants.first_mut())
    else {
        panic!("the fixture's hero is segmented")
    };
    *combination = Combination::All;
    let plan = check("pending_draft", &desired, &live, &PlanConfig::default());
    let change = &plan.changes[position(&plan, "project/storefront/experience/homepage-hero")];
    let note = change.note.as_deref().unwrap_or_default();
    assert!(
        note.contains("replaces the pending draft (version storefront-version-homepage-hero-draft, last updated 2026-03-04T05:06:07Z)")
            && note.contains(r#"variants[0].name: "Platinum" -> "Gold""#)
            && note.contains(r#"variants[0].match: "any" -> "all""#),
        "{note}"
    );
    // A draft equal to the manifest, or no content change, says nothing about drafts.
    let storefront = desired.projects.get_mut("storefront").expect("fixture");
    if let Some(VariantSpec::Segmented { combination, .. }) = storefront
        .experiences
        .get_mut("homepage-hero")
        .and_then(|experience| experience.variants.first_mut())
    {
        *combination = Combination::Any;
    }
    let plan = plan_checked(&desired, &live, &PlanConfig::default()).expect("plans");
    assert!(
        plan.changes.iter().all(|change| !change
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("pending draft")),
        "{}",
        render_all(&plan)
    );
}

#[test]
fn partial_manifests_never_delete() {
    let mut desired = fixture();
    desired
        .projects
        .get_mut("storefront")
        .expect("fixture")
        .prune = true;
    let mut live = live_from(&desired, Some(owner()));
    with_extras(&mut live);
    let config = PlanConfig {
        partial: true,
        allow_delete: true,
        ..PlanConfig::default()
    };
    let plan = plan_checked(&desired, &live, &config).expect("plans");
    // The member list is part of the project document, which was read whole.
    assert_eq!(
        addresses(&plan),
        [(Action::Delete, "project/storefront/member/gone@example.com")],
        "{}",
        render_all(&plan)
    );
}

/// The organization of `allow_delete`: storefront with extra objects, and `legacy`, which no
/// manifest declares.
fn with_legacy() -> (DesiredState, LiveState) {
    let desired = fixture();
    let mut other = fixture();
    let legacy = storefront();
    other.projects.insert(
        "legacy".to_owned(),
        DesiredProject {
            name: "legacy".to_owned(),
            ..legacy
        },
    );
    let mut live = live_from(&other, Some(owner()));
    let mut with_extra_objects = live_from(&desired, Some(owner()));
    with_extras(&mut with_extra_objects);
    live.projects.insert(
        "storefront".to_owned(),
        with_extra_objects
            .projects
            .remove("storefront")
            .expect("fixture"),
    );
    (desired, live)
}

#[test]
fn allow_delete_deletes_undeclared_objects_but_never_a_project() {
    let (desired, live) = with_legacy();
    let config = PlanConfig {
        allow_delete: true,
        ..PlanConfig::default()
    };
    let plan = check("allow_delete", &desired, &live, &config);
    assert!(
        plan.changes
            .iter()
            .all(|change| change.project == "storefront"),
        "a project the manifests do not mention is never deleted by the selection"
    );
    assert!(plan.summary.delete > 0);
}

#[test]
fn delete_project_is_an_explicit_request_counted_whole() {
    let (desired, live) = with_legacy();
    let config = PlanConfig {
        delete_projects: vec!["legacy".to_owned()],
        max_deletions: 100,
        ..PlanConfig::default()
    };
    let plan = check("delete_project", &desired, &live, &config);
    let legacy: Vec<(Action, &str)> = addresses(&plan)
        .into_iter()
        .filter(|(_, address)| address.starts_with("project/legacy"))
        .collect();
    assert_eq!(legacy, [(Action::Delete, "project/legacy")]);
    // `--project storefront` still deletes legacy when asked to: the request names it.
    let config = PlanConfig {
        projects: vec!["storefront".to_owned()],
        ..config
    };
    let plan = plan_checked(&desired, &live, &config).expect("plans");
    assert!(addresses(&plan).contains(&(Action::Delete, "project/legacy")));
    // The guard counts the project and everything in it: 1 + 1 attribute + 1 event
    // + 1 audience + 2 experiences = 6 (preset attributes come with every project), plus the
    // member storefront's member list drops: 7.
    let config = PlanConfig {
        delete_projects: vec!["legacy".to_owned()],
        max_deletions: 6,
        ..PlanConfig::default()
    };
    let refusals = check_refused("delete_project_guard", &desired, &live, &config);
    assert_eq!(refusals.len(), 1);
    assert!(
        refusals[0].message.contains("deletes 7 objects"),
        "{}",
        refusals[0].message
    );
    let config = PlanConfig {
        max_deletions: 7,
        ..config
    };
    assert!(plan_checked(&desired, &live, &config).is_ok());
}

#[test]
fn mass_deletion_guard_lists_the_deletes() {
    let mut desired = fixture();
    desired
        .projects
        .get_mut("storefront")
        .expect("fixture")
        .prune = true;
    let mut live = live_from(&desired, Some(owner()));
    with_extras(&mut live);
    let config = PlanConfig {
        max_deletions: 2,
        ..PlanConfig::default()
    };
    let refusals = check_refused("too_many_deletions", &desired, &live, &config);
    assert_eq!(refusals.len(), 1);
    assert!(
        refusals[0]
            .message
            .contains("project/storefront/attribute/age")
    );
}

#[test]
fn stack_connect_switch_disconnect() {
    let desired = fixture();
    for (name, live_stack, desired_stack, action) in [
        (
            "stack_connect",
            None,
            Some("blt0123456789abcdef"),
            Action::Create,
        ),
        (
            "stack_switch",
            Some("bltold"),
            Some("blt0123456789abcdef"),
            Action::Update,
        ),
        ("stack_disconnect", Some("bltold"), None, Action::Delete),
    ] {
        let mut desired = desired.clone();
        desired
            .projects
            .get_mut("storefront")
            .expect("fixture")
            .stack = desired_stack.map(str::to_owned);
        let mut live = live_from(&desired, Some(owner()));
        project_mut(&mut live, "storefront")
            .project
            .connected_stack_api_key = live_stack.map(str::to_owned);
        let plan = check(name, &desired, &live, &PlanConfig::default());
        assert_eq!(
            addresses(&plan),
            vec![(action, "project/storefront/stack_link")]
        );
        assert_eq!(plan.changes[0].requires, Requirement::ProjectOwner);
    }
}

#[test]
fn member_invite_promotion_and_removal() {
    let mut desired = fixture();
    desired
        .projects
        .get_mut("storefront")
        .expect("fixture")
        .prune = true;
    let live = live_from(&desired, Some(owner()));
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.members = Some(vec![
        member("owner@example.com", ProjectRole::Owner),
        member("new@example.com", ProjectRole::Owner),
    ]);
    let plan = check("members", &desired, &live, &PlanConfig::default());
    // Add before remove.
    assert!(
        position(&plan, "project/storefront/member/new@example.com")
            < position(&plan, "project/storefront/member/dev@example.com")
    );
}

#[test]
fn self_demotion_runs_last_and_promotion_first() {
    // The acting user is an organization admin and a plain member of the project: the plan
    // promotes them, then demotes the current owner.
    let admin = Principal {
        email: "admin@example.com".to_owned(),
        org_role: OrgRole::Admin,
    };
    let mut desired = fixture();
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.members = Some(vec![
        member("owner@example.com", ProjectRole::Owner),
        member("admin@example.com", ProjectRole::Member),
    ]);
    let live = live_from(&desired, Some(admin.clone()));
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.members = Some(vec![
        member("owner@example.com", ProjectRole::Member),
        member("admin@example.com", ProjectRole::Owner),
    ]);
    project.stack = Some("bltnew".to_owned());
    let plan = check("self_promotion", &desired, &live, &PlanConfig::default());
    let grant = position(&plan, "project/storefront/member/admin@example.com");
    let stack = position(&plan, "project/storefront/stack_link");
    assert!(grant < stack);
    assert!(
        plan.changes[stack]
            .depends_on
            .contains(&"project/storefront/member/admin@example.com".to_owned())
    );

    // The project owner demotes themself: that runs after everything else, and the changes
    // before it are checked against the owner role.
    let mut desired = fixture();
    let live = live_from(&desired, Some(org_member("owner@example.com")));
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.members = Some(vec![
        member("owner@example.com", ProjectRole::Member),
        member("dev@example.com", ProjectRole::Owner),
    ]);
    project.stack = Some("bltnew".to_owned());
    project.spec.description = "Handed over".to_owned();
    let plan = check("self_demotion", &desired, &live, &PlanConfig::default());
    assert_eq!(
        plan.changes.last().map(|change| change.address.as_str()),
        Some("project/storefront/member/owner@example.com")
    );
}

#[test]
fn permission_refusal_as_project_member_lists_every_refused_change() {
    let live = live_from(&fixture(), Some(org_member("dev@example.com")));
    let mut desired = fixture();
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.spec.description = "Changed".to_owned();
    project.stack = None;
    project.members = Some(vec![
        member("owner@example.com", ProjectRole::Owner),
        member("dev@example.com", ProjectRole::Member),
        member("qa@example.com", ProjectRole::Member),
    ]);
    // Allowed for a member: audience update.
    project.audiences.insert(
        "gold-members".to_owned(),
        audience("Changed", "loyalty-tier", "gold"),
    );
    desired.projects.insert(
        "newproject".to_owned(),
        DesiredProject {
            name: "newproject".to_owned(),
            ..DesiredProject::default()
        },
    );
    let refusals = check_refused(
        "permission_refusal",
        &desired,
        &live,
        &PlanConfig::default(),
    );
    let refused: Vec<&str> = refusals
        .iter()
        .map(|diagnostic| diagnostic.message.split('`').nth(3).unwrap_or_default())
        .collect();
    assert_eq!(
        refused,
        vec![
            "project/newproject",
            "project/storefront",
            "project/storefront/member/qa@example.com",
            "project/storefront/stack_link",
        ]
    );
    assert_eq!(refusals[1].file(), Some("manifests/storefront.yaml"));
}

#[test]
fn pending_membership_grants_nothing() {
    let mut live = live_from(&fixture(), Some(org_member("dev@example.com")));
    if let Some(members) = &mut project_mut(&mut live, "storefront").members {
        for member in members.iter_mut() {
            member.status = MemberStatus::Pending;
        }
    }
    let mut desired = fixture();
    desired
        .projects
        .get_mut("storefront")
        .expect("fixture")
        .events
        .get_mut("add_to_cart")
        .expect("fixture")
        .description = "x".to_owned();
    let refusals = plan(&desired, &live, &PlanConfig::default()).expect_err("refused");
    assert_eq!(refusals.len(), 1);
    assert!(refusals[0].message.contains("not a member"));
}

#[test]
fn unknown_principal_skips_permission_checks() {
    let live = live_from(&fixture(), None);
    let mut desired = fixture();
    desired
        .projects
        .get_mut("storefront")
        .expect("fixture")
        .spec
        .description = "x".to_owned();
    let plan = plan_checked(&desired, &live, &PlanConfig::default()).expect("plans");
    assert_eq!(plan.summary.update, 1);
}

#[test]
fn members_on_an_endpoint_without_members_are_one_note_not_changes() {
    // Issue 13: on an endpoint without a members API, declared members are shown once as a note
    // with the UI steps and are not changes, so `--detailed-exitcode` can be 0.
    let desired = fixture();
    let mut live = live_from(&desired, None);
    project_mut(&mut live, "storefront").members = None;
    let plan = plan_checked(&desired, &live, &PlanConfig::default()).expect("plans");
    assert!(plan.changes.is_empty(), "{:#?}", plan.changes);
    assert!(plan.summary.is_empty());
    assert_eq!(plan.notes.len(), 1);
    let note = &plan.notes[0];
    assert_eq!(note.address, "project/storefront");
    assert!(note.message.contains("no members API"), "{}", note.message);
    assert_eq!(note.steps.len(), 2);
    assert!(
        note.steps
            .iter()
            .any(|step| step.contains("dev@example.com"))
    );
}

#[test]
fn creator_not_in_the_member_list_is_kept_until_an_invited_owner_accepted() {
    // An admin creates the project, invites the owner and would remove themself: the invited
    // owner is pending, and the API refuses to remove the last accepted owner, so the plan
    // refuses up front instead of failing half-way through apply.
    let admin = Principal {
        email: "admin@example.com".to_owned(),
        org_role: OrgRole::Admin,
    };
    let mut desired = fixture();
    desired
        .projects
        .get_mut("storefront")
        .expect("fixture")
        .prune = true;
    let live = LiveState {
        projects: BTreeMap::new(),
        principal: Some(admin),
        warnings: Vec::new(),
    };
    let refusals = check_refused(
        "creator_kept_until_accepted",
        &desired,
        &live,
        &PlanConfig::default(),
    );
    assert_eq!(refusals.len(), 1);
    assert!(
        refusals[0]
            .help
            .as_deref()
            .is_some_and(|help| help.contains("once they accept")),
        "{:?}",
        refusals[0].help
    );
}

#[test]
fn a_declared_member_list_is_the_whole_list() {
    // No `prune`, no `--allow-delete`: deleting a member's line removes the member, and a
    // removed member's pending invitation is revoked.
    let mut desired = fixture();
    let mut live = live_from(&desired, Some(owner()));
    let members = project_mut(&mut live, "storefront")
        .members
        .as_mut()
        .expect("members");
    members.push(wire::Member {
        email: "invited@example.com".to_owned(),
        role: wire::ProjectRole::Member,
        status: MemberStatus::Pending,
        invitation_message: None,
        updated_at: String::new(),
    });
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.members = Some(vec![member("owner@example.com", ProjectRole::Owner)]);
    let plan = check(
        "members_whole_list",
        &desired,
        &live,
        &PlanConfig::default(),
    );
    assert_eq!(
        addresses(&plan),
        [
            (Action::Delete, "project/storefront/member/dev@example.com"),
            (
                Action::Delete,
                "project/storefront/member/invited@example.com"
            ),
        ]
    );
    assert_eq!(
        plan.changes[1].note.as_deref(),
        Some("not in `members`: revokes the pending invitation")
    );
    // Without `members:`, members are not managed.
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.members = None;
    let plan = plan_checked(&desired, &live, &PlanConfig::default()).expect("plans");
    assert!(plan.changes.is_empty(), "{}", render_all(&plan));
    // The last-owner guard holds without `prune` too.
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.members = Some(vec![member("dev@example.com", ProjectRole::Member)]);
    let refusals = plan_checked(&desired, &live, &PlanConfig::default()).expect_err("refused");
    assert!(
        refusals
            .iter()
            .any(|refusal| refusal.code == pzctl::diagnostic::Code::LastOwner),
        "{}",
        render_refusals(&refusals)
    );
}

#[test]
fn last_owner_guard() {
    let mut desired = fixture();
    let live = live_from(&desired, Some(owner()));
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.prune = true;
    project.members = Some(vec![member("dev@example.com", ProjectRole::Member)]);
    check_refused("last_owner", &desired, &live, &PlanConfig::default());
}

#[test]
fn experience_status_transitions() {
    let cases = [
        (
            "draft_to_active",
            ExperienceStatus::Draft,
            ExperienceStatus::Active,
        ),
        (
            "active_to_paused",
            ExperienceStatus::Active,
            ExperienceStatus::Paused,
        ),
        (
            "paused_to_active",
            ExperienceStatus::Paused,
            ExperienceStatus::Active,
        ),
    ];
    for (name, from, to) in cases {
        let mut desired = fixture();
        let hero = desired
            .projects
            .get_mut("storefront")
            .expect("fixture")
            .experiences
            .get_mut("homepage-hero")
            .expect("fixture");
        hero.status = from;
        let live = live_from(&desired, Some(owner()));
        desired
            .projects
            .get_mut("storefront")
            .expect("fixture")
            .experiences
            .get_mut("homepage-hero")
            .expect("fixture")
            .status = to;
        let plan = check(
            &format!("experience_{name}"),
            &desired,
            &live,
            &PlanConfig::default(),
        );
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].fields[0].path, "status");
    }

    // Content change while active: a new draft, then activation.
    let mut desired = fixture();
    let live = live_from(&desired, Some(owner()));
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.audiences.insert(
        "silver-members".to_owned(),
        audience("Silver", "loyalty-tier", "silver"),
    );
    *project
        .experiences
        .get_mut("homepage-hero")
        .expect("fixture") = segmented(ExperienceStatus::Active, &["silver-members"]);
    let plan = check(
        "experience_content_while_active",
        &desired,
        &live,
        &PlanConfig::default(),
    );
    assert!(
        position(&plan, "project/storefront/audience/silver-members")
            < position(&plan, "project/storefront/experience/homepage-hero")
    );

    // Back to draft and a type change are refused.
    let mut desired = fixture();
    let live = live_from(&desired, Some(owner()));
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project
        .experiences
        .get_mut("homepage-hero")
        .expect("fixture")
        .status = ExperienceStatus::Draft;
    let mut retyped = ab_test(ExperienceStatus::Draft);
    retyped.kind = ExperienceType::Segmented;
    retyped.variants = segmented(ExperienceStatus::Draft, &[]).variants;
    project
        .experiences
        .insert("checkout-test".to_owned(), retyped);
    check_refused(
        "experience_refusals",
        &desired,
        &live,
        &PlanConfig::default(),
    );
}

#[test]
fn detaching_an_audience_comes_before_its_delete() {
    let mut desired = fixture();
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project
        .audiences
        .insert("silver".to_owned(), audience("Silver", "loyalty-tier", "s"));
    *project
        .experiences
        .get_mut("homepage-hero")
        .expect("fixture") = segmented(ExperienceStatus::Draft, &["silver", "gold-members"]);
    let live = live_from(&desired, Some(owner()));
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.prune = true;
    project.audiences.remove("silver");
    *project
        .experiences
        .get_mut("homepage-hero")
        .expect("fixture") = segmented(ExperienceStatus::Draft, &["gold-members"]);
    let plan = check(
        "detach_then_delete",
        &desired,
        &live,
        &PlanConfig::default(),
    );
    let update = position(&plan, "project/storefront/experience/homepage-hero");
    let delete = position(&plan, "project/storefront/audience/silver");
    assert!(update < delete);
    assert_eq!(
        plan.changes[delete].depends_on,
        vec!["project/storefront/experience/homepage-hero".to_owned()]
    );
}

#[test]
fn experience_order() {
    let mut desired = fixture();
    let live = live_from(&desired, Some(owner()));
    // Live order is by name: checkout-test, homepage-hero.
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.experience_order = Some(vec!["homepage-hero".to_owned()]);
    project.experiences.insert(
        "a-new-one".to_owned(),
        segmented(ExperienceStatus::Draft, &["gold-members"]),
    );
    let plan = check("experience_order", &desired, &live, &PlanConfig::default());
    let order = &plan.changes[position(&plan, "project/storefront/experience_order")];
    assert_eq!(
        order.after_json(),
        Some(serde_json::json!([
            "homepage-hero",
            "checkout-test",
            "a-new-one"
        ]))
    );
    assert!(
        order
            .depends_on
            .contains(&"project/storefront/experience/a-new-one".to_owned())
    );

    // A new project whose declared order is the name order still sets it: apply creates
    // experiences concurrently, so the server's creation order is not known.
    let mut desired = fixture();
    desired
        .projects
        .get_mut("storefront")
        .expect("fixture")
        .experience_order = Some(vec!["checkout-test".to_owned(), "homepage-hero".to_owned()]);
    let empty = LiveState {
        projects: BTreeMap::new(),
        principal: Some(owner()),
        warnings: Vec::new(),
    };
    let plan = plan_checked(&desired, &empty, &PlanConfig::default()).expect("plans");
    let order = &plan.changes[position(&plan, "project/storefront/experience_order")];
    assert_eq!(order.before_json(), Some(serde_json::json!([])));
    assert_eq!(
        order.after_json(),
        Some(serde_json::json!(["checkout-test", "homepage-hero"]))
    );

    // The declared order already holds: nothing to do.
    let mut desired = fixture();
    desired
        .projects
        .get_mut("storefront")
        .expect("fixture")
        .experience_order = Some(vec!["checkout-test".to_owned()]);
    let live = live_from(&desired, Some(owner()));
    let plan = plan_checked(&desired, &live, &PlanConfig::default()).expect("plans");
    assert!(plan.changes.is_empty(), "{}", render_all(&plan));
}

#[test]
fn markdown_splits_huge_plans_outside_fences() {
    let mut desired = DesiredState::default();
    for project_index in 0..3 {
        let name = format!("p{project_index}");
        let mut project = DesiredProject {
            name: name.clone(),
            ..DesiredProject::default()
        };
        for index in 0..1200 {
            project.events.insert(
                format!("event_{index:04}"),
                EventSpec {
                    key: format!("event_{index:04}"),
                    description: format!("Event number {index} with a `code` part and <html>"),
                },
            );
        }
        desired.projects.insert(name, project);
    }
    let live = LiveState {
        projects: BTreeMap::new(),
        principal: Some(owner()),
        warnings: Vec::new(),
    };
    let plan = plan(&desired, &live, &PlanConfig::default()).expect("plans");
    assert_eq!(plan.changes.len(), 3 * 1201);
    let parts = pzctl::render::markdown(&plan);
    assert!(parts.len() > 1);
    let total = parts.len();
    let mut details = 0;
    for (index, part) in parts.iter().enumerate() {
        assert!(part.chars().count() < pzctl::render::MARKDOWN_LIMIT);
        assert!(part.starts_with(&format!("**Part {} of {total}**", index + 1)));
        let fences = part.lines().filter(|line| line.starts_with("```")).count();
        assert_eq!(fences % 2, 0, "part {index} breaks a code fence");
        let opened = part.matches("<details>").count();
        assert_eq!(opened, part.matches("</details>").count());
        details += opened;
    }
    assert_eq!(details, plan.changes.len());
}

#[test]
fn markdown_truncates_one_change_larger_than_a_part() {
    let mut desired = fixture();
    desired
        .projects
        .get_mut("storefront")
        .expect("fixture")
        .spec
        .description = "line\n".repeat(40_000);
    let live = LiveState {
        projects: BTreeMap::new(),
        principal: Some(owner()),
        warnings: Vec::new(),
    };
    let plan = plan(&desired, &live, &PlanConfig::default()).expect("plans");
    for part in pzctl::render::markdown(&plan) {
        assert!(part.chars().count() < pzctl::render::MARKDOWN_LIMIT);
        assert_eq!(
            part.matches("<details>").count(),
            part.matches("</details>").count()
        );
    }
}

#[test]
fn text_colors_only_when_asked() {
    let live = LiveState {
        projects: BTreeMap::new(),
        principal: Some(owner()),
        warnings: Vec::new(),
    };
    let plan = plan(&fixture(), &live, &PlanConfig::default()).expect("plans");
    assert!(!pzctl::render::text(&plan, false).contains('\u{1b}'));
    let colored = pzctl::render::text(&plan, true);
    assert!(colored.contains("\u{1b}[32m+ project storefront (create)"));
}

// ---------------------------------------------------------------------------------------------
// Properties over a small universe.

/// A random desired organization from a small universe of names.
fn arbitrary_desired() -> impl Strategy<Value = DesiredState> {
    let attributes = proptest::collection::btree_set(0..3usize, 0..3);
    let events = proptest::collection::btree_set(0..3usize, 0..3);
    let audiences = proptest::collection::vec((0..3usize, 0..3usize), 0..3);
    let experiences = proptest::collection::vec((0..3usize, 0..3usize, 0..3usize, 0..3usize), 0..4);
    let members = proptest::option::of(proptest::collection::btree_map(
        0..3usize,
        any::<bool>(),
        0..4,
    ));
    let project = (
        attributes,
        events,
        audiences,
        experiences,
        any::<bool>(),
        any::<bool>(),
        members,
    );
    proptest::collection::vec(project, 1..3).prop_map(|projects| {
        let mut desired = DesiredState::default();
        for (index, (attributes, events, audiences, experiences, prune, ordered, members)) in
            projects.into_iter().enumerate()
        {
            let name = format!("p{index}");
            let mut project = DesiredProject {
                name: name.clone(),
                spec: ProjectSpec {
                    description: format!("project {index}"),
                },
                prune,
                ..DesiredProject::default()
            };
            for attribute in &attributes {
                project.attributes.insert(
                    format!("a{attribute}"),
                    AttributeSpec {
                        key: format!("a{attribute}"),
                        description: String::new(),
                    },
                );
            }
            for event in &events {
                project.events.insert(
                    format!("e{event}"),
                    EventSpec {
                        key: format!("e{event}"),
                        description: String::new(),
                    },
                );
            }
            for (audience_index, attribute) in audiences {
                let attribute_ref = if attributes.contains(&attribute) {
                    AttributeRef::Custom(format!("a{attribute}").into())
                } else {
                    AttributeRef::Preset("DEVICE_TYPE".to_owned())
                };
                project.audiences.insert(
                    format!("u{audience_index}"),
                    AudienceSpec {
                        description: String::new(),
                        rules: RuleGroup {
                            combination: Combination::All,
                            rules: vec![condition(attribute_ref, "HAS_ANY_VALUE", None)],
                        },
                    },
                );
            }
            let audience_names: Vec<String> = project.audiences.keys().cloned().collect();
            for (experience_index, audience, event, status) in experiences {
                let status = [
                    ExperienceStatus::Draft,
                    ExperienceStatus::Active,
                    ExperienceStatus::Paused,
                ][status];
                let mut spec = segmented(
                    status,
                    &audience_names
                        .get(audience)
                        .map(String::as_str)
                        .into_iter()
                        .collect::<Vec<_>>(),
                );
                if events.contains(&event) {
                    spec.metrics = vec![format!("e{event}").into()];
                }
                project
                    .experiences
                    .insert(format!("x{experience_index}"), spec);
            }
            project.members = members.map(|members| {
                members
                    .into_iter()
                    .map(|(who, is_owner)| {
                        member(
                            ["owner@example.com", "dev@example.com", "qa@example.com"][who],
                            if is_owner {
                                ProjectRole::Owner
                            } else {
                                ProjectRole::Member
                            },
                        )
                    })
                    .collect()
            });
            if ordered {
                let mut names: Vec<String> = project.experiences.keys().cloned().collect();
                names.reverse();
                project.experience_order = Some(names);
            }
            desired.projects.insert(name, project);
        }
        desired
    })
}

/// Rebuild a desired state from its parts inserted in a shuffled order.
fn shuffled(desired: &DesiredState, seed: u64) -> DesiredState {
    fn shuffle<K: Clone + Ord, V: Clone>(map: &BTreeMap<K, V>, seed: u64) -> BTreeMap<K, V> {
        let mut items: Vec<(K, V)> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let len = items.len();
        for index in 0..len {
            let other = ((seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(index as u64))
                % len as u64) as usize;
            items.swap(index, other);
        }
        items.into_iter().collect()
    }
    let mut out = DesiredState::default();
    for (name, project) in shuffle(&desired.projects, seed) {
        let mut project = project.clone();
        project.attributes = shuffle(&project.attributes, seed);
        project.events = shuffle(&project.events, seed);
        project.audiences = shuffle(&project.audiences, seed);
        project.experiences = shuffle(&project.experiences, seed);
        out.projects.insert(name, project);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn plans_are_deterministic_ordered_and_idempotent(
        desired in arbitrary_desired(),
        previous in arbitrary_desired(),
        seed in any::<u64>(),
        admin in any::<bool>(),
    ) {
        let principal = if admin { owner() } else { org_member("owner@example.com") };
        // Idempotence: live equal to desired plans nothing.
        let live = live_from(&desired, Some(principal.clone()));
        let empty = plan(&desired, &live, &PlanConfig::default()).expect("plans");
        prop_assert!(empty.changes.is_empty(), "{}", render_all(&empty));

        // From another organization: deterministic whatever the insertion order, and ordered.
        let live = live_from(&previous, Some(principal));
        let config = PlanConfig { max_deletions: 1000, ..PlanConfig::default() };
        let first = plan(&desired, &live, &config);
        let second = plan(&shuffled(&desired, seed), &live, &config);
        match (&first, &second) {
            (Ok(first), Ok(second)) => {
                prop_assert_eq!(pzctl::render::json(first), pzctl::render::json(second));
                assert_backwards(first);
                check_rules(first);
            }
            (Err(first), Err(second)) => prop_assert_eq!(first, second),
            _ => prop_assert!(false, "one plan failed and the other did not"),
        }
    }
}

/// The dependency and permission rules, checked on positions.
fn check_rules(plan: &Plan) {
    // The acting user's own demotion or removal runs after everything else in its project; a
    // promotion runs before every change that needs the owner role.
    for (index, change) in plan.changes.iter().enumerate() {
        if change.kind() != pzctl::model::Kind::Member || change.name != "owner@example.com" {
            continue;
        }
        let role = |value: &Option<serde_json::Value>| {
            value
                .as_ref()
                .and_then(|value| value.get("role"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let revoke = change.action == Action::Delete
            || (change.action == Action::Update
                && role(&change.after_json()).as_deref() == Some("MEMBER"));
        let grant = change.action == Action::Update
            && role(&change.after_json()).as_deref() == Some("OWNER");
        for (other_index, other) in plan.changes.iter().enumerate() {
            if other.project != change.project || other_index == index {
                continue;
            }
            if revoke && change.note.is_some() {
                assert!(
                    other_index < index,
                    "{} runs after the revoke",
                    other.address
                );
            }
            if grant && change.note.is_some() && other.requires == Requirement::ProjectOwner {
                assert!(
                    other_index > index,
                    "{} runs before the grant",
                    other.address
                );
            }
        }
    }
    let at: BTreeMap<&str, usize> = plan
        .changes
        .iter()
        .enumerate()
        .map(|(index, change)| (change.address.as_str(), index))
        .collect();
    for (index, change) in plan.changes.iter().enumerate() {
        let project_address = format!("project/{}", change.project);
        if change.address != project_address
            && let Some(&project_at) = at.get(project_address.as_str())
            && plan.changes[project_at].action == Action::Create
        {
            assert!(project_at < index, "{} before its project", change.address);
        }
        // Creates and updates come after the creates of what they use.
        if change.action != Action::Delete
            && let Some(after) = &change.after_json()
        {
            let text = after.to_string();
            for other in &plan.changes {
                if other.project == change.project
                    && other.action == Action::Create
                    && matches!(
                        other.kind(),
                        pzctl::model::Kind::Attribute
                            | pzctl::model::Kind::Event
                            | pzctl::model::Kind::Audience
                    )
                    && other.kind() < change.kind()
                    && change.kind() != pzctl::model::Kind::ExperienceOrder
                    && text.contains(&format!("\"{}\"", other.name))
                {
                    assert!(
                        at[other.address.as_str()] < index,
                        "{} uses {} created later",
                        change.address,
                        other.address
                    );
                }
            }
        }
        // Deletes come after the changes that detach the deleted object.
        if change.action == Action::Delete {
            for other in &plan.changes {
                if other.project == change.project
                    && other.action != Action::Create
                    && other.kind() > change.kind()
                    && other.kind() != pzctl::model::Kind::ExperienceOrder
                    && other.before_json().is_some_and(|before| {
                        before.to_string().contains(&format!("\"{}\"", change.name))
                    })
                {
                    assert!(
                        at[other.address.as_str()] < index,
                        "{} deleted before {} detaches it",
                        change.address,
                        other.address
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The command line, against a fresh embedded organization.

mod cli {
    use std::path::{Path, PathBuf};

    use crate::support::TestContext;

    fn quickstart() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
    }

    fn pzctl(context: &TestContext) -> assert_cmd::Command {
        let mut command = assert_cmd::Command::cargo_bin("pzctl").expect("the pzctl binary");
        command
            .current_dir(context.path())
            .env_remove("PZCTL_ENDPOINT")
            .env_remove("PZCTL_REGION")
            .env_remove("PZCTL_LOCAL_USER")
            .env("NO_COLOR", "1")
            .arg("--state-dir")
            .arg(context.path().join("state"));
        command
    }

    fn stdout(output: &std::process::Output) -> String {
        String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
    }

    #[test]
    fn plan_quickstart_in_three_formats() {
        let context = TestContext::new();
        for (format, name) in [
            ("text", "cli_quickstart_text"),
            ("json", "cli_quickstart_json"),
            ("markdown", "cli_quickstart_markdown"),
        ] {
            let output = pzctl(&context)
                .arg("plan")
                .arg(quickstart())
                .args(["--format", format])
                .output()
                .expect("runs");
            assert_eq!(
                output.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let mut settings = insta::Settings::clone_current();
            for (matcher, replacement) in context.filters() {
                settings.add_filter(&matcher, replacement);
            }
            settings.bind(|| insta::assert_snapshot!(name, stdout(&output)));
        }
    }

    #[test]
    fn detailed_exitcode_and_out_file() {
        let context = TestContext::new();
        let out = context.path().join("plan.json");
        let output = pzctl(&context)
            .arg("plan")
            .arg(quickstart())
            .args(["--detailed-exitcode", "--format", "json", "--out"])
            .arg(&out)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(2));
        let saved = std::fs::read_to_string(&out).expect("the plan file");
        assert_eq!(saved, stdout(&output));
        let plan: pzctl::plan::Plan = serde_json::from_str(&saved).expect("a plan");
        assert!(plan.summary.create > 0);
        assert!(!saved.to_lowercase().contains("token"));

        // A `--project` that names no project is an error with a did-you-mean, not "No
        // changes." (a typo would otherwise pass the drift check).
        let output = pzctl(&context)
            .arg("plan")
            .arg(quickstart())
            .args(["--detailed-exitcode", "--project", "elsewhere"])
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(stdout(&output), "");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("no project named `elsewhere`") && stderr.contains("`storefront`"),
            "{stderr}"
        );
        let output = pzctl(&context)
            .arg("plan")
            .arg(quickstart())
            .args(["--project", "storefrnt"])
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("did you mean `storefront`?"), "{stderr}");
        for command in [&["apply", "--auto-approve"][..], &["validate"]] {
            // `validate` takes no `--state-dir`.
            let mut base = if command[0] == "validate" {
                let mut bare = assert_cmd::Command::cargo_bin("pzctl").expect("the pzctl binary");
                bare.current_dir(context.path()).env("NO_COLOR", "1");
                bare
            } else {
                pzctl(&context)
            };
            let output = base
                .args(command)
                .arg(quickstart())
                .args(["--project", "storefrnt"])
                .output()
                .expect("runs");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{command:?}: {stderr}");
            assert!(
                stderr.contains("did you mean `storefront`?"),
                "{command:?}: {stderr}"
            );
        }
    }

    #[test]
    fn unmanaged_is_drift_makes_the_detailed_exit_code_2() {
        let context = TestContext::new();
        let output = pzctl(&context)
            .args(["apply", "--auto-approve"])
            .arg(quickstart())
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(0));
        // Plan only the project and its signals: the audiences and experiences are live, but
        // no selected manifest declares them.
        let only_project = context.path().join("narrow");
        std::fs::create_dir_all(&only_project).expect("mkdir");
        for file in ["project.yaml", "signals.yaml"] {
            let text = std::fs::read_to_string(quickstart().join(file)).expect("read");
            // The experience order names experiences these manifests leave out.
            let text: String = text
                .lines()
                .filter(|line| !line.contains("experienceOrder"))
                .map(|line| format!("{line}\n"))
                .collect();
            std::fs::write(only_project.join(file), text).expect("write");
        }
        let plan = |extra: &[&str]| {
            pzctl(&context)
                .arg("plan")
                .arg(&only_project)
                .args(extra)
                .output()
                .expect("runs")
        };
        let output = plan(&["--detailed-exitcode"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "no changes: no deletes without prune"
        );
        let text = stdout(&output);
        assert!(
            text.contains("Unmanaged: live objects no manifest declares")
                && text.contains("? project/storefront/experience/homepage-hero (uid "),
            "{text}"
        );
        let output = plan(&["--detailed-exitcode", "--unmanaged-is-drift"]);
        assert_eq!(output.status.code(), Some(2));
        // Only with `--detailed-exitcode`.
        let output = plan(&["--unmanaged-is-drift"]);
        assert_eq!(output.status.code(), Some(2), "a usage error from clap");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("--detailed-exitcode"),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let output = plan(&["--format", "json"]);
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        let unmanaged = json["unmanaged"].as_array().expect("an unmanaged list");
        assert!(
            unmanaged.iter().any(|object| object["address"]
                == "project/storefront/audience/gold-members"
                && object["kind"] == "audience"
                && object["name"] == "gold-members"),
            "{unmanaged:?}"
        );
    }

    #[test]
    fn emulator_permission_refusal_and_tokens_never_printed() {
        let emulator = crate::support::default_emulator();
        let context = TestContext::new();
        let out = context.path().join("plan.json");
        // An organization member may not create projects: refused, exit 1, nothing saved.
        let output = pzctl(&context)
            .env("CONTENTSTACK_AUTHTOKEN", "member-token")
            .args(["--endpoint", &emulator.url(), "plan"])
            .arg(quickstart())
            .arg("--out")
            .arg(&out)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(!stderr.contains("member-token"));
        assert!(!out.exists());
        // The whole refusal: which change needs which permission.
        let mut command = context.pzctl();
        command
            .env("CONTENTSTACK_AUTHTOKEN", "member-token")
            .args(["--endpoint", &emulator.url(), "plan"])
            .arg(quickstart());
        pzctl_snapshot!(context, "plan_refused_for_a_member", &mut command);

        // The organization owner may: exit 2 with --detailed-exitcode, plan saved, no token.
        let output = pzctl(&context)
            .env("CONTENTSTACK_AUTHTOKEN", "owner-token")
            .args(["--endpoint", &emulator.url(), "plan", "--detailed-exitcode"])
            .arg(quickstart())
            .arg("--out")
            .arg(&out)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        let saved = std::fs::read_to_string(&out).expect("the plan file");
        for text in [saved.as_str(), stdout(&output).as_str(), stderr.as_str()] {
            assert!(!text.contains("owner-token"));
        }
    }

    /// A manifest name that looks like a uid is still a name: reordering it is planned and
    /// applied, and the next plan is empty.
    #[test]
    fn an_experience_named_like_a_uid_can_be_reordered() {
        let context = TestContext::new();
        let manifests = context.path().join("manifests");
        std::fs::create_dir_all(&manifests).expect("mkdir");
        let write = |order: &str| {
            let experience = |name: &str| {
                format!(
                    "---\napiVersion: pzctl/v1\nkind: Experience\nmetadata: {{name: \"{name}\", project: shop}}\n\
                     spec:\n  type: ab_test\n  variants: [{{name: A, traffic: 50}}, {{name: B, traffic: 50}}]\n"
                )
            };
            let text = format!(
                "apiVersion: pzctl/v1\nkind: Project\nmetadata: {{name: shop}}\nspec:\n  experienceOrder: {order}\n{}{}",
                experience("uid:promo"),
                experience("hero"),
            );
            std::fs::write(manifests.join("shop.yaml"), text).expect("write");
        };
        let run = |args: &[&str]| {
            let output = pzctl(&context)
                .args(args)
                .arg(&manifests)
                .output()
                .expect("runs");
            (
                output.status.code(),
                stdout(&output),
                String::from_utf8_lossy(&output.stderr).to_string(),
            )
        };

        write("[hero, \"uid:promo\"]");
        let (code, _, stderr) = run(&["apply", "--auto-approve"]);
        assert_eq!(code, Some(0), "{stderr}");
        let (code, out, stderr) = run(&["plan", "--detailed-exitcode"]);
        assert_eq!(code, Some(0), "{out}{stderr}");

        write("[\"uid:promo\", hero]");
        let (code, out, stderr) = run(&["plan", "--detailed-exitcode", "--format", "json"]);
        assert_eq!(code, Some(2), "{out}{stderr}");
        let plan: serde_json::Value = serde_json::from_str(&out).expect("a plan");
        assert_eq!(plan["summary"]["update"], 1, "{plan}");
        let change = &plan["changes"][0];
        assert_eq!(change["kind"], "experience_order");
        assert_eq!(change["before"], serde_json::json!(["hero", "uid:promo"]));
        assert_eq!(change["after"], serde_json::json!(["uid:promo", "hero"]));

        let (code, _, stderr) = run(&["apply", "--auto-approve"]);
        assert_eq!(code, Some(0), "{stderr}");
        let (code, out, stderr) = run(&["plan", "--detailed-exitcode"]);
        assert_eq!(code, Some(0), "{out}{stderr}");
        assert_eq!(
            out,
            "No changes. The live organization matches the manifests.\n"
        );
    }

    #[test]
    fn invalid_manifests_exit_1_without_touching_the_organization() {
        let context = TestContext::new();
        let manifests = context.path().join("manifests");
        std::fs::create_dir_all(&manifests).expect("mkdir");
        std::fs::write(
            manifests.join("bad.yaml"),
            "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: shop}\nspec: {descriptio: x}\n",
        )
        .expect("write");
        let output = pzctl(&context)
            .arg("plan")
            .arg(&manifests)
            .arg("--detailed-exitcode")
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(1));
        assert!(output.stdout.is_empty());
        assert!(!context.path().join("state").exists());
    }
}

#[test]
fn fingerprint_names_exactly_the_changed_object() {
    let live = live_from(&fixture(), Some(owner()));
    let before = pzctl::plan::fingerprint(&live);
    assert_eq!(before, pzctl::plan::fingerprint(&live.clone()));
    let mut changed = live.clone();
    let experience = project_mut(&mut changed, "storefront")
        .experiences
        .iter_mut()
        .find(|experience| experience.experience.name == "homepage-hero")
        .expect("fixture");
    experience.versions[0].updated_at = "2026-02-02T00:00:00Z".to_owned();
    let after = pzctl::plan::fingerprint(&changed);
    assert_ne!(before.digest, after.digest);
    let differing: Vec<&String> = before
        .objects
        .iter()
        .filter(|(address, digest)| after.objects.get(*address) != Some(digest))
        .map(|(address, _)| address)
        .collect();
    assert_eq!(
        differing,
        vec!["project/storefront/experience/homepage-hero"]
    );
}

// ---------------------------------------------------------------------------------------------
// Renames in place (`metadata.previousNames`, `variants[].previousNames`).

/// Rewrite every reference to `old` (of `kind`) in the project's specs to `new`.
fn rename_references(project: &mut DesiredProject, kind: pzctl::model::Kind, old: &str, new: &str) {
    use pzctl::model::{Kind, Ref};
    fn rename_refs(refs: &mut [Ref], old: &str, new: &str) {
        for reference in refs {
            if reference.name() == Some(old) {
                *reference = new.into();
            }
        }
    }
    fn rename_rules(group: &mut RuleGroup, old: &str, new: &str) {
        for node in &mut group.rules {
            match node {
                RuleNode::Group(inner) => rename_rules(inner, old, new),
                RuleNode::Condition(condition) => {
                    if let AttributeRef::Custom(reference) = &mut condition.attribute
                        && reference.name() == Some(old)
                    {
                        *reference = new.into();
                    }
                }
            }
        }
    }
    match kind {
        Kind::Attribute => {
            for spec in project.audiences.values_mut() {
                rename_rules(&mut spec.rules, old, new);
            }
        }
        Kind::Audience => {
            for spec in project.experiences.values_mut() {
                for variant in &mut spec.variants {
                    if let VariantSpec::Segmented { audiences, .. } = variant {
                        rename_refs(audiences, old, new);
                    }
                }
                if let Some(targeting) = &mut spec.targeting {
                    rename_refs(&mut targeting.audiences, old, new);
                }
            }
        }
        Kind::Event => {
            for spec in project.experiences.values_mut() {
                rename_refs(&mut spec.metrics, old, new);
            }
        }
        _ => {}
    }
}

/// The fixture with one resource of `kind` renamed from `old` to `new` (references follow),
/// declaring `previousNames: [old]`.
fn renamed(kind: pzctl::model::Kind, old: &str, new: &str) -> DesiredState {
    use pzctl::model::Kind;
    let mut desired = fixture();
    let project = desired.projects.get_mut("storefront").expect("fixture");
    match kind {
        Kind::Attribute => {
            let spec = project.attributes.remove(old).expect("fixture attribute");
            project.attributes.insert(new.to_owned(), spec);
        }
        Kind::Event => {
            let mut spec = project.events.remove(old).expect("fixture event");
            spec.key = new.to_owned();
            project.events.insert(new.to_owned(), spec);
        }
        Kind::Audience => {
            let spec = project.audiences.remove(old).expect("fixture audience");
            project.audiences.insert(new.to_owned(), spec);
        }
        Kind::Experience => {
            let spec = project.experiences.remove(old).expect("fixture experience");
            project.experiences.insert(new.to_owned(), spec);
        }
        _ => unreachable!("resources only"),
    }
    rename_references(project, kind, old, new);
    let old_address = pzctl::model::address("storefront", kind, old);
    let new_address = pzctl::model::address("storefront", kind, new);
    if let Some(origin) = project.origins.remove(&old_address) {
        project.origins.insert(new_address.clone(), origin);
    }
    project
        .previous_names
        .insert(new_address, vec!["retired-name".to_owned(), old.to_owned()]);
    desired
}

#[test]
fn a_renamed_resource_of_every_kind_is_updated_in_place_and_its_referrers_do_not_change() {
    use pzctl::model::Kind;
    let live = live_from(&fixture(), Some(owner()));
    for (kind, old, new, snapshot) in [
        (
            Kind::Experience,
            "homepage-hero",
            "hero-banner",
            "rename_experience",
        ),
        (
            Kind::Audience,
            "gold-members",
            "gold-tier",
            "rename_audience",
        ),
        (Kind::Attribute, "loyalty-tier", "tier", "rename_attribute"),
        (Kind::Event, "add_to_cart", "cart_add", "rename_event"),
    ] {
        let desired = renamed(kind, old, new);
        let plan = check(snapshot, &desired, &live, &PlanConfig::default());
        // One update, at the new address, from the old name; nothing else (no referrer).
        assert_eq!(
            addresses(&plan),
            [(
                Action::Update,
                pzctl::model::address("storefront", kind, new).as_str()
            )],
            "{snapshot}"
        );
        assert_eq!(plan.changes[0].renamed_from.as_deref(), Some(old));
        assert!(
            pzctl::render::text(&plan, false)
                .contains(&format!("~ {} {new} (renamed from {old})", kind.as_str())),
            "{snapshot}"
        );
        // A saved plan keeps the rename, and compare sees it.
        let json = pzctl::render::json(&plan);
        assert!(
            json.contains(&format!("\"renamed_from\": \"{old}\"")),
            "{json}"
        );
        let mut other = plan.changes.clone();
        other[0].renamed_from = None;
        assert_eq!(
            pzctl::plan::compare(&plan.changes, &other)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [format!(
                "{}: differs in renamed_from",
                pzctl::model::address("storefront", kind, new)
            )]
        );
    }
    // An event's key is its name: the key change warns about SDK calls.
    let plan = plan(
        &renamed(Kind::Event, "add_to_cart", "cart_add"),
        &live,
        &PlanConfig::default(),
    )
    .expect("a plan");
    let note = plan.changes[0].note.as_deref().unwrap_or_default();
    assert!(
        note.contains("key changes from `add_to_cart` to `cart_add`"),
        "{note}"
    );
}

#[test]
fn an_attribute_key_change_is_an_update_with_a_warning() {
    let mut desired = fixture();
    let live = live_from(&desired, Some(owner()));
    let project = desired.projects.get_mut("storefront").expect("fixture");
    if let Some(attribute) = project.attributes.get_mut("loyalty-tier") {
        attribute.key = "tier".to_owned();
    }
    let plan = check(
        "attribute_key_change",
        &desired,
        &live,
        &PlanConfig::default(),
    );
    assert_eq!(
        addresses(&plan),
        [(Action::Update, "project/storefront/attribute/loyalty-tier")]
    );
    let note = plan.changes[0].note.as_deref().unwrap_or_default();
    assert!(
        note.contains("SDK calls that still send `loyalty_tier`"),
        "{note}"
    );
}

#[test]
fn a_renamed_project_keeps_its_uid_and_everything_in_it() {
    let mut desired = fixture();
    let live = live_from(&desired, Some(owner()));
    let mut project = desired.projects.remove("storefront").expect("fixture");
    project.name = "shop".to_owned();
    project.origins = project
        .origins
        .into_iter()
        .map(|(address, origin)| {
            (
                address.replacen("project/storefront", "project/shop", 1),
                origin,
            )
        })
        .collect();
    project
        .previous_names
        .insert("project/shop".to_owned(), vec!["storefront".to_owned()]);
    // Something else changes in the project too: it follows the rename.
    if let Some(event) = project.events.get_mut("add_to_cart") {
        event.description = "Put in the cart".to_owned();
    }
    desired.projects.insert("shop".to_owned(), project);
    let plan = check("rename_project", &desired, &live, &PlanConfig::default());
    assert_eq!(
        addresses(&plan),
        [
            (Action::Update, "project/shop"),
            (Action::Update, "project/shop/event/add_to_cart"),
        ]
    );
    assert_eq!(plan.changes[0].renamed_from.as_deref(), Some("storefront"));
    assert_eq!(plan.changes[1].depends_on, ["project/shop"]);
    assert!(plan.unmanaged.is_empty(), "{:?}", plan.unmanaged);
    // `--project` with the old name selects the renamed project.
    let config = PlanConfig {
        projects: vec!["storefront".to_owned()],
        ..PlanConfig::default()
    };
    let again = plan_checked(&desired, &live, &config).expect("a plan");
    assert_eq!(again.changes, plan.changes);
    // Deleting the project a manifest renames is a contradiction.
    let config = PlanConfig {
        delete_projects: vec!["storefront".to_owned()],
        ..PlanConfig::default()
    };
    check_refused("rename_project_and_delete_it", &desired, &live, &config);
}

#[test]
fn variants_keep_their_short_uids_under_previous_names_and_new_ones_are_noted() {
    let mut desired = fixture();
    let mut live = live_from(&desired, Some(owner()));
    // The live A/B test's variants have shortUids.
    let checkout = project_mut(&mut live, "storefront")
        .experiences
        .iter_mut()
        .find(|experience| experience.experience.name == "checkout-test")
        .expect("fixture");
    for (variant, short_uid) in checkout.versions[0].variants.iter_mut().zip(["3", "4"]) {
        if let wire::Variant::AbTest {
            short_uid: slot, ..
        } = variant
        {
            *slot = Some(short_uid.to_owned());
        }
    }
    let project = desired.projects.get_mut("storefront").expect("fixture");
    let spec = project
        .experiences
        .get_mut("checkout-test")
        .expect("fixture");
    // `Control` becomes `Baseline` (declared), `Bold` becomes `Loud` (not declared).
    spec.variants = vec![
        VariantSpec::AbTest {
            name: "Baseline".to_owned(),
            traffic: 50,
        },
        VariantSpec::AbTest {
            name: "Loud".to_owned(),
            traffic: 50,
        },
    ];
    project.variant_previous_names.insert(
        "checkout-test".to_owned(),
        BTreeMap::from([("Baseline".to_owned(), vec!["Control".to_owned()])]),
    );
    let plan = check("rename_variants", &desired, &live, &PlanConfig::default());
    let change = &plan.changes[position(&plan, "project/storefront/experience/checkout-test")];
    assert_eq!(
        change.renamed_variants,
        [pzctl::model::VariantRename {
            name: "Baseline".to_owned(),
            renamed_from: "Control".to_owned(),
        }]
    );
    let note = change.note.as_deref().unwrap_or_default();
    for part in [
        "variant `Control` (shortUid 3) is renamed `Baseline` and keeps its shortUid",
        "variant `Loud` gets a new shortUid",
        "live variant `Bold` (shortUid 4) is removed",
    ] {
        assert!(note.contains(part), "{note}");
    }
}

#[test]
fn a_rename_that_could_take_either_of_two_live_objects_is_refused() {
    use pzctl::model::Kind;
    // Both previous names of the audience are live.
    let mut desired = fixture();
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.audiences.insert(
        "silver".to_owned(),
        audience("Silver", "loyalty-tier", "silver"),
    );
    let live = live_from(&desired, Some(owner()));
    let mut desired = renamed(Kind::Audience, "gold-members", "premium");
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.previous_names.insert(
        "project/storefront/audience/premium".to_owned(),
        vec!["gold-members".to_owned(), "silver".to_owned()],
    );
    check_refused("rename_ambiguous", &desired, &live, &PlanConfig::default());

    // A manifest whose own name is live leaves the live previous name alone, with a note.
    let mut desired = fixture();
    desired
        .projects
        .get_mut("storefront")
        .expect("fixture")
        .audiences
        .insert(
            "silver".to_owned(),
            audience("Silver", "loyalty-tier", "silver"),
        );
    let project = desired.projects.get_mut("storefront").expect("fixture");
    project.audiences.remove("silver");
    project.previous_names.insert(
        "project/storefront/audience/gold-members".to_owned(),
        vec!["silver".to_owned()],
    );
    let plan = plan_checked(&desired, &live, &PlanConfig::default()).expect("a plan");
    assert!(plan.changes.is_empty(), "{:?}", addresses(&plan));
    assert!(
        plan.notes
            .iter()
            .any(|note| note.message.contains("both are live")),
        "{:?}",
        plan.notes
    );
    assert_eq!(
        plan.unmanaged
            .iter()
            .map(|object| object.address.as_str())
            .collect::<Vec<_>>(),
        ["project/storefront/audience/silver"]
    );
}

#[test]
fn after_a_rename_is_applied_the_plan_is_empty() {
    use pzctl::model::Kind;
    for (kind, old, new) in [
        (Kind::Experience, "homepage-hero", "hero-banner"),
        (Kind::Audience, "gold-members", "gold-tier"),
        (Kind::Attribute, "loyalty-tier", "tier"),
        (Kind::Event, "add_to_cart", "cart_add"),
    ] {
        let desired = renamed(kind, old, new);
        // What the rename leaves live: the fixture as if it had been made under the new names,
        // the previous names still declared.
        let mut applied = desired.clone();
        applied
            .projects
            .get_mut("storefront")
            .expect("fixture")
            .previous_names
            .clear();
        let live = live_from(&applied, Some(owner()));
        let plan = plan_checked(&desired, &live, &PlanConfig::default()).expect("a plan");
        assert!(plan.changes.is_empty(), "{kind:?}: {:?}", addresses(&plan));
    }
}

#[test]
fn renaming_a_project_needs_its_owner_and_renaming_its_contents_does_not() {
    use pzctl::model::Kind;
    let live = live_from(&fixture(), Some(org_member("dev@example.com")));
    // A project member may rename an audience.
    let plan = plan_checked(
        &renamed(Kind::Audience, "gold-members", "gold-tier"),
        &live,
        &PlanConfig::default(),
    )
    .expect("a plan");
    assert_eq!(
        addresses(&plan),
        [(Action::Update, "project/storefront/audience/gold-tier")]
    );
    // Not the project: the permission check reads the live project under its new name.
    let mut desired = fixture();
    let mut project = desired.projects.remove("storefront").expect("fixture");
    project.name = "shop".to_owned();
    project
        .previous_names
        .insert("project/shop".to_owned(), vec!["storefront".to_owned()]);
    desired.projects.insert("shop".to_owned(), project);
    check_refused(
        "rename_project_as_member",
        &desired,
        &live,
        &PlanConfig::default(),
    );
}
