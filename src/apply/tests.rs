//! Unit tests of the executor against the store in process (the API's own semantics), with
//! injectable failures and lost answers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::live::retry::RetryPolicy;
use crate::live::{Api, Backend, BackendError, Method, Request};
use crate::model::{
    AttributeRef, AttributeSpec, AudienceSpec, Combination, Condition, EventSpec, ExperienceSpec,
    ExperienceStatus, ExperienceType, MemberSpec, MemberTarget, ProjectRole, ProjectSpec,
    RuleGroup, RuleNode, Sides, Specs, StackLinkSpec, VariantSpec,
};
use crate::plan::{Action, Change, LiveFingerprint, Plan, Requirement, Summary};
use crate::store::{Limits, Store};
use crate::wire::{self, OrgRole};

const OWNER: &str = "owner@example.com";

/// What the backend does to one request, chosen by (method, path prefix).
#[derive(Clone, Debug)]
enum Fault {
    /// Carry the request out, then lose the answer.
    DropAnswer,
    /// Lose the request before it is carried out.
    DropRequest,
    /// Answer with this status.
    Status(u16),
}

/// The store in process, acting as the organization's owner, with faults and a log of writes.
struct Faulty {
    members: bool,
    store: Mutex<Store>,
    /// (method, path prefix, fault, how many more times).
    faults: Mutex<Vec<(Method, String, Fault, usize)>>,
    writes: Mutex<Vec<String>>,
}

impl Faulty {
    fn new(members: bool) -> Arc<Api<Faulty>> {
        let owner = wire::User {
            email: OWNER.to_owned(),
            organization_role: OrgRole::Owner,
        };
        Arc::new(Api::new(Faulty {
            members,
            store: Mutex::new(Store::new("org", vec![owner], Limits::default())),
            faults: Mutex::new(Vec::new()),
            writes: Mutex::new(Vec::new()),
        }))
    }

    fn fault(&self, method: Method, prefix: &str, fault: Fault, times: usize) {
        let mut faults = self.faults.lock().unwrap();
        faults.push((method, prefix.to_owned(), fault, times));
    }

    fn writes(&self) -> Vec<String> {
        self.writes.lock().unwrap().clone()
    }

    fn dispatch(&self, request: &Request) -> Result<Value, BackendError> {
        if request.method != Method::Get {
            let mut writes = self.writes.lock().unwrap();
            writes.push(format!("{} {}", request.method.as_str(), request.path));
        }
        let mut store = self.store.lock().unwrap();
        store
            .dispatch(OWNER, request)
            .map_err(|error| BackendError::Api {
                method: request.method.as_str(),
                path: request.path.clone(),
                error,
            })
    }
}

impl Backend for Faulty {
    async fn send(&self, request: Request) -> Result<Value, BackendError> {
        // Let other changes interleave, as they would over a network.
        tokio::time::sleep(Duration::from_millis(1)).await;
        let fault = {
            let mut faults = self.faults.lock().unwrap();
            let found = faults.iter_mut().find(|(method, prefix, _, times)| {
                *method == request.method && request.path.starts_with(prefix.as_str()) && *times > 0
            });
            found.map(|(_, _, fault, times)| {
                *times -= 1;
                fault.clone()
            })
        };
        let lost = || BackendError::Transport {
            method: request.method.as_str(),
            path: request.path.clone(),
            message: "connection reset".to_owned(),
        };
        match fault {
            Some(Fault::DropRequest) => Err(lost()),
            Some(Fault::Status(status)) => Err(BackendError::Api {
                method: request.method.as_str(),
                path: request.path.clone(),
                error: wire::ApiError {
                    status,
                    body: json!({"errors": {"injected": [status.to_string()]}}),
                },
            }),
            Some(Fault::DropAnswer) => {
                let _ = self.dispatch(&request);
                Err(lost())
            }
            None => self.dispatch(&request),
        }
    }

    fn supports_members(&self) -> bool {
        self.members
    }

    fn supports_cma(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "in-process store with faults".to_owned()
    }
}

/// Read the store into a `LiveState`, through the typed API.
async fn observe(api: &Api<Faulty>) -> LiveState {
    crate::live::observe(api, None).await.unwrap()
}

/// The one project of the organization.
async fn shop(api: &Api<Faulty>) -> crate::model::LiveProject {
    let live = observe(api).await;
    assert_eq!(live.projects.len(), 1, "{:?}", live.projects.keys());
    live.projects["shop"].clone()
}

fn change(action: Action, name: &str, specs: Specs, depends_on: &[&str]) -> Change {
    Change {
        address: crate::model::address("shop", specs.kind(), name),
        action,
        project: "shop".to_owned(),
        name: name.to_owned(),
        renamed_from: None,
        renamed_variants: Vec::new(),
        specs,
        fields: Vec::new(),
        requires: Requirement::ProjectMember,
        depends_on: depends_on.iter().map(|d| (*d).to_owned()).collect(),
        note: None,
    }
}

fn plan_of(changes: Vec<Change>) -> Plan {
    Plan {
        format_version: 1,
        summary: Summary::default(),
        changes,
        unmanaged: Vec::new(),
        live_fingerprint: LiveFingerprint::default(),
        notes: Vec::new(),
        warnings: Vec::new(),
        binding: None,
        digest: None,
    }
}

/// The sides of a create or an update to `after`.
fn to<Before, After>(after: After) -> Sides<Before, After> {
    Sides {
        before: None,
        after: Some(after),
    }
}

fn config(parallelism: usize) -> ApplyConfig {
    ApplyConfig {
        parallelism,
        retry: RetryPolicy::fast().with_max_attempts(4),
    }
}

fn experience_spec(status: ExperienceStatus, audience: &str) -> ExperienceSpec {
    ExperienceSpec {
        kind: ExperienceType::Segmented,
        description: "hero".to_owned(),
        tags: vec!["env:prod".to_owned()],
        status,
        variants: vec![VariantSpec::Segmented {
            name: "Gold".to_owned(),
            audiences: vec![audience.into()],
            combination: Combination::Any,
        }],
        targeting: None,
        metrics: Vec::new(),
        content_types: None,
    }
}

/// A whole project: project, stack, attribute, event, audience, experience, order.
fn full_plan(status: ExperienceStatus) -> Plan {
    let project = "project/shop";
    let attribute = "project/shop/attribute/tier";
    let audience = "project/shop/audience/gold";
    let experience = "project/shop/experience/hero";
    let audience_spec = AudienceSpec {
        description: "gold".to_owned(),
        rules: RuleGroup {
            combination: Combination::All,
            rules: vec![RuleNode::Condition(Condition {
                attribute: AttributeRef::Custom("tier".into()),
                condition: "STRING_EQUALS".to_owned(),
                value: Some(json!("gold")),
                negate: false,
            })],
        },
    };
    plan_of(vec![
        change(
            Action::Create,
            "shop",
            Specs::Project(to(ProjectSpec {
                description: "store".to_owned(),
            })),
            &[],
        ),
        change(
            Action::Create,
            "shop",
            Specs::StackLink(to(StackLinkSpec {
                stack: Some("blt1".to_owned()),
            })),
            &[project],
        ),
        change(
            Action::Create,
            "tier",
            Specs::Attribute(to(AttributeSpec {
                key: "tier".to_owned(),
                description: String::new(),
            })),
            &[project],
        ),
        change(
            Action::Create,
            "buy",
            Specs::Event(to(EventSpec {
                key: "buy".to_owned(),
                description: String::new(),
            })),
            &[project],
        ),
        change(
            Action::Create,
            "gold",
            Specs::Audience(to(audience_spec)),
            &[project, attribute],
        ),
        change(
            Action::Create,
            "hero",
            Specs::Experience(to(experience_spec(status, "gold"))),
            &[project, audience],
        ),
        change(
            Action::Update,
            "shop",
            Specs::ExperienceOrder(to(vec!["hero".to_owned()])),
            &[experience],
        ),
    ])
}

async fn run(plan: &Plan, api: &Arc<Api<Faulty>>, parallelism: usize) -> ApplyReport {
    let live = observe(api).await;
    apply(
        plan,
        Arc::clone(api),
        &live,
        &config(parallelism),
        CancelToken::new(),
        &mut NoReporter,
    )
    .await
}

#[tokio::test]
async fn creates_a_whole_project_in_dependency_order() {
    let api = Faulty::new(true);
    let report = run(&full_plan(ExperienceStatus::Active), &api, 4).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(report.applied, 7);

    let live = observe(&api).await;
    let shop = &live.projects["shop"];
    assert_eq!(
        shop.project.connected_stack_api_key.as_deref(),
        Some("blt1")
    );
    assert_eq!(shop.project.description, "store");
    let tier = shop
        .attributes
        .iter()
        .find(|attribute| attribute.name == "tier");
    let attribute_uid = &tier.expect("the custom attribute").uid;
    let rules = serde_json::to_value(&shop.audiences[0].definition).unwrap();
    assert_eq!(rules["rules"][0]["attribute"]["ref"], json!(attribute_uid));
    let versions = &shop.experiences[0].versions;
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].status, wire::VersionStatus::Active);
    let names = crate::convert::Names::from_live(shop);
    assert_eq!(
        crate::convert::experience_spec(&shop.experiences[0], &names).content_types,
        Some(Vec::new()),
        "a project with a stack: its content types are read"
    );
    assert_eq!(
        crate::convert::Resource::managed_as(
            crate::convert::experience_spec(&shop.experiences[0], &names),
            &experience_spec(ExperienceStatus::Active, "gold")
        ),
        experience_spec(ExperienceStatus::Active, "gold")
    );
    assert_eq!(
        shop.priority,
        vec![shop.experiences[0].experience.uid.clone()]
    );
}

#[tokio::test]
async fn a_paused_experience_is_activated_then_paused() {
    let api = Faulty::new(true);
    let report = run(&full_plan(ExperienceStatus::Paused), &api, 2).await;
    assert!(report.is_success(), "{report:#?}");
    let live = observe(&api).await;
    let versions = &live.projects["shop"].experiences[0].versions;
    assert_eq!(versions[0].status, wire::VersionStatus::Paused);
    let puts: Vec<String> = api
        .backend
        .writes()
        .into_iter()
        .filter(|w| w.contains("/versions/"))
        .collect();
    assert_eq!(puts.len(), 3, "{puts:?}");
}

#[tokio::test]
async fn a_failure_skips_its_dependents_and_everything_not_started() {
    let api = Faulty::new(true);
    api.backend
        .fault(Method::Post, "/attributes", Fault::Status(400), 1);
    let report = run(&full_plan(ExperienceStatus::Active), &api, 1).await;
    let outcome = |address: &str| {
        report
            .results
            .iter()
            .find(|r| r.address == address)
            .unwrap()
            .outcome
            .clone()
    };
    assert!(matches!(
        outcome("project/shop/attribute/tier"),
        Outcome::Failed { .. }
    ));
    assert_eq!(
        outcome("project/shop/audience/gold"),
        Outcome::Skipped {
            blocked_by: "project/shop/attribute/tier".to_owned()
        }
    );
    assert_eq!(
        outcome("project/shop/experience_order"),
        Outcome::Skipped {
            blocked_by: "project/shop/attribute/tier".to_owned()
        }
    );
    // With one at a time the event had not started: it is stopped, not blocked. Neither had
    // the stack link: after the project, the attribute heads the longest chain and goes first.
    for address in ["project/shop/event/buy", "project/shop/stack_link"] {
        assert_eq!(
            outcome(address),
            Outcome::Skipped {
                blocked_by: "stopped after failure of project/shop/attribute/tier".to_owned()
            },
            "{address}"
        );
    }
    assert_eq!((report.applied, report.failed, report.skipped), (1, 1, 5));
    assert!(!report.is_success());
}

#[tokio::test]
async fn a_lost_create_answer_is_looked_up_not_repeated() {
    let api = Faulty::new(true);
    for prefix in [
        "/projects",
        "/attributes",
        "/events",
        "/audiences",
        "/experiences",
    ] {
        api.backend
            .fault(Method::Post, prefix, Fault::DropAnswer, 1);
    }
    let report = run(&full_plan(ExperienceStatus::Active), &api, 4).await;
    assert!(report.is_success(), "{report:#?}");
    let shop = shop(&api).await;
    let custom = shop
        .attributes
        .iter()
        .filter(|attribute| attribute.kind == wire::AttributeType::Custom);
    assert_eq!(custom.count(), 1, "attributes");
    assert_eq!(shop.events.len(), 1, "events");
    assert_eq!(shop.audiences.len(), 1, "audiences");
    assert_eq!(shop.experiences.len(), 1, "experiences");
    let versions = &shop.experiences[0].versions;
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].status, wire::VersionStatus::Active);
}

#[tokio::test]
async fn a_create_that_never_arrived_is_repeated_once() {
    let api = Faulty::new(true);
    api.backend
        .fault(Method::Post, "/events", Fault::DropRequest, 1);
    api.backend
        .fault(Method::Post, "/attributes", Fault::Status(503), 2);
    let report = run(&full_plan(ExperienceStatus::Draft), &api, 4).await;
    assert!(report.is_success(), "{report:#?}");
    let shop = shop(&api).await;
    assert_eq!(shop.events.len(), 1);
    let custom = shop
        .attributes
        .iter()
        .filter(|attribute| attribute.kind == wire::AttributeType::Custom);
    assert_eq!(custom.count(), 1);
}

#[tokio::test]
async fn members_become_manual_steps_without_a_members_api() {
    let api = Faulty::new(false);
    let mut plan = full_plan(ExperienceStatus::Draft);
    plan.changes.push(change(
        Action::Create,
        "dev@example.com",
        Specs::Member(to(MemberTarget {
            member: invitation_member(),
            invitation_message: None,
        })),
        &["project/shop"],
    ));
    let report = run(&plan, &api, 4).await;
    assert_eq!(report.manual, 1);
    assert!(report.is_success());
    let Outcome::Manual { steps } = &report.results[7].outcome else {
        panic!("{report:#?}")
    };
    assert_eq!(
        steps,
        "In Personalize, open project shop → Settings → Users → + Invite User, enter dev@example.com, role Member"
    );
}

#[tokio::test]
async fn members_are_invited_with_the_message_and_removed() {
    let api = Faulty::new(true);
    let invitation = MemberTarget {
        member: invitation_member(),
        invitation_message: Some("Welcome!".to_owned()),
    };
    let mut plan = full_plan(ExperienceStatus::Draft);
    plan.changes.push(change(
        Action::Create,
        "dev@example.com",
        Specs::Member(to(invitation)),
        &["project/shop"],
    ));
    assert!(run(&plan, &api, 4).await.is_success());
    let dev = |project: &crate::model::LiveProject| {
        project
            .members
            .iter()
            .flatten()
            .find(|member| member.email == "dev@example.com")
            .cloned()
    };
    let invited = dev(&shop(&api).await).expect("dev@example.com is invited");
    assert_eq!(invited.invitation_message.as_deref(), Some("Welcome!"));
    assert_eq!(invited.status, wire::MemberStatus::Pending);

    let remove = plan_of(vec![change(
        Action::Delete,
        "dev@example.com",
        Specs::Member(Sides {
            before: Some(invitation_member()),
            after: None,
        }),
        &[],
    )]);
    assert!(run(&remove, &api, 4).await.is_success());
    assert_eq!(dev(&shop(&api).await), None);
    // Removing again finds nothing: that is done, not an error.
    assert!(run(&remove, &api, 4).await.is_success());
}

fn invitation_member() -> MemberSpec {
    MemberSpec {
        email: "dev@example.com".to_owned(),
        role: ProjectRole::Member,
    }
}

#[tokio::test]
async fn status_moves_keep_the_content_and_new_content_goes_to_a_new_draft() {
    let api = Faulty::new(true);
    assert!(
        run(&full_plan(ExperienceStatus::Active), &api, 4)
            .await
            .is_success()
    );
    let mut pause = change(
        Action::Update,
        "hero",
        Specs::Experience(to(experience_spec(ExperienceStatus::Paused, "gold"))),
        &[],
    );
    pause.specs = Specs::Experience(Sides {
        before: Some(experience_spec(ExperienceStatus::Active, "gold")),
        after: Some(experience_spec(ExperienceStatus::Paused, "gold")),
    });
    let writes_before = api.backend.writes().len();
    assert!(run(&plan_of(vec![pause]), &api, 4).await.is_success());
    let writes = api.backend.writes();
    assert_eq!(writes.len() - writes_before, 1, "{writes:?}");
    let live = observe(&api).await;
    assert_eq!(
        live.projects["shop"].experiences[0].versions[0].status,
        wire::VersionStatus::Paused
    );

    // New content while paused: a new draft, activated; the paused one is left alone.
    let mut spec = experience_spec(ExperienceStatus::Active, "gold");
    if let VariantSpec::Segmented { name, .. } = &mut spec.variants[0] {
        *name = "Platinum".to_owned();
    }
    let update = change(
        Action::Update,
        "hero",
        Specs::Experience(Sides {
            before: Some(experience_spec(ExperienceStatus::Paused, "gold")),
            after: Some(spec.clone()),
        }),
        &[],
    );
    assert!(run(&plan_of(vec![update]), &api, 4).await.is_success());
    let live = observe(&api).await;
    let shop = &live.projects["shop"];
    let names = crate::convert::Names::from_live(shop);
    assert_eq!(
        crate::convert::Resource::managed_as(
            crate::convert::experience_spec(&shop.experiences[0], &names),
            &spec
        ),
        spec
    );
}

#[tokio::test]
async fn cancelled_before_start_skips_everything() {
    let api = Faulty::new(true);
    let cancel = CancelToken::new();
    cancel.cancel();
    let report = apply(
        &full_plan(ExperienceStatus::Draft),
        Arc::clone(&api),
        &LiveState::default(),
        &config(4),
        cancel,
        &mut NoReporter,
    )
    .await;
    assert!(report.interrupted);
    assert_eq!(report.skipped, 7);
    assert!(api.backend.writes().is_empty());
}

#[tokio::test]
async fn the_reporter_sees_every_change_start_and_finish_once() {
    struct Recorder(Vec<String>);
    impl Reporter for Recorder {
        fn started(&mut self, change: &Change) {
            self.0.push(format!("start {}", change.address));
        }
        fn finished(&mut self, change: &Change, outcome: &Outcome) {
            self.0.push(format!(
                "end {} {}",
                change.address,
                matches!(outcome, Outcome::Applied)
            ));
        }
    }
    let api = Faulty::new(true);
    let mut recorder = Recorder(Vec::new());
    let plan = full_plan(ExperienceStatus::Draft);
    let report = apply(
        &plan,
        Arc::clone(&api),
        &LiveState::default(),
        &config(3),
        CancelToken::new(),
        &mut recorder,
    )
    .await;
    assert!(report.is_success());
    assert_eq!(recorder.0.len(), 14);
    // A change starts only after what it depends on has finished.
    for change in &plan.changes {
        let start = recorder
            .0
            .iter()
            .position(|e| *e == format!("start {}", change.address))
            .unwrap();
        for dependency in &change.depends_on {
            let end = recorder
                .0
                .iter()
                .position(|e| *e == format!("end {dependency} true"))
                .unwrap();
            assert!(
                end < start,
                "{} started before {dependency} ended",
                change.address
            );
        }
    }
}

#[test]
fn stale_objects_are_changed_appeared_or_gone_within_scope() {
    let before: BTreeMap<String, String> = [
        ("project/shop", "1"),
        ("project/shop/attribute/a", "2"),
        ("project/shop/attribute/b", "3"),
        ("project/other/event/e", "4"),
    ]
    .into_iter()
    .map(|(a, h)| (a.to_owned(), h.to_owned()))
    .collect();
    let mut now = before.clone();
    now.insert("project/shop/attribute/a".to_owned(), "changed".to_owned());
    now.remove("project/shop/attribute/b");
    now.insert("project/shop/event/new".to_owned(), "5".to_owned());
    now.insert("project/other/event/e".to_owned(), "changed".to_owned());
    let scope: BTreeSet<&str> = ["shop"].into_iter().collect();
    assert_eq!(
        differing_objects(&before, &now, &scope),
        vec![
            "project/shop/attribute/a",
            "project/shop/attribute/b",
            "project/shop/event/new"
        ]
    );
}

#[test]
fn the_report_serializes_with_tagged_outcomes() {
    let report = ApplyReport {
        format_version: 1,
        results: vec![ChangeResult {
            created: None,
            address: "project/shop".to_owned(),
            kind: Kind::Project,
            action: Action::Create,
            outcome: Outcome::Skipped {
                blocked_by: "x".to_owned(),
            },
        }],
        applied: 0,
        failed: 0,
        skipped: 1,
        manual: 0,
        interrupted: false,
        http: None,
    };
    assert!(serde_json::to_value(&report).unwrap().get("http").is_none());
    assert_eq!(
        serde_json::to_value(&report).unwrap()["results"][0],
        json!({"address": "project/shop", "kind": "project", "action": "create", "outcome": {"status": "skipped", "blocked_by": "x"}})
    );
}

#[tokio::test]
async fn cancelled_midway_finishes_in_flight_work_and_skips_the_rest() {
    struct CancelOnFirst(CancelToken, usize);
    impl Reporter for CancelOnFirst {
        fn finished(&mut self, _change: &Change, _outcome: &Outcome) {
            self.1 += 1;
            self.0.cancel();
        }
    }
    let api = Faulty::new(true);
    let cancel = CancelToken::new();
    let mut reporter = CancelOnFirst(cancel.clone(), 0);
    let plan = full_plan(ExperienceStatus::Draft);
    let report = apply(
        &plan,
        Arc::clone(&api),
        &LiveState::default(),
        &config(4),
        cancel,
        &mut reporter,
    )
    .await;
    assert!(report.interrupted);
    // Only the project had started when it finished and the run was cancelled.
    assert_eq!(reporter.1, 1);
    assert_eq!((report.applied, report.skipped), (1, 6));
    assert_eq!(
        report.results[1].outcome,
        Outcome::Skipped {
            blocked_by: "interrupted before it started".to_owned()
        }
    );
    assert!(!report.is_success());
}

/// A project, an audience and three experiences; only `x0` waits for the audience.
fn experiences_plan() -> Plan {
    let audience_spec = AudienceSpec {
        description: String::new(),
        rules: RuleGroup {
            combination: Combination::All,
            rules: vec![RuleNode::Condition(Condition {
                attribute: AttributeRef::Preset("DEVICE_TYPE".to_owned()),
                condition: "STRING_EQUALS".to_owned(),
                value: Some(json!("MOBILE")),
                negate: false,
            })],
        },
    };
    let mut changes = vec![
        change(
            Action::Create,
            "shop",
            Specs::Project(to(ProjectSpec {
                description: String::new(),
            })),
            &[],
        ),
        change(
            Action::Create,
            "gold",
            Specs::Audience(to(audience_spec)),
            &["project/shop"],
        ),
        change(
            Action::Create,
            "x0",
            Specs::Experience(to(experience_spec(ExperienceStatus::Active, "gold"))),
            &["project/shop", "project/shop/audience/gold"],
        ),
    ];
    for name in ["x1", "x2"] {
        let mut spec = experience_spec(ExperienceStatus::Draft, "gold");
        spec.variants = vec![
            VariantSpec::AbTest {
                name: "A".to_owned(),
                traffic: 50,
            },
            VariantSpec::AbTest {
                name: "B".to_owned(),
                traffic: 50,
            },
        ];
        spec.kind = ExperienceType::AbTest;
        changes.push(change(
            Action::Create,
            name,
            Specs::Experience(to(spec)),
            &["project/shop"],
        ));
    }
    plan_of(changes)
}

#[tokio::test]
async fn experiences_of_a_project_are_created_in_plan_order() {
    for parallelism in [1, 5] {
        let api = Faulty::new(true);
        api.backend
            .fault(Method::Post, "/audiences", Fault::Status(503), 2);
        let report = run(&experiences_plan(), &api, parallelism).await;
        assert!(report.is_success(), "{report:#?}");
        let names: Vec<String> = shop(&api)
            .await
            .experiences
            .iter()
            .map(|live| live.experience.name.clone())
            .collect();
        assert_eq!(names, ["x0", "x1", "x2"], "parallelism {parallelism}");
    }
}

#[tokio::test]
async fn a_failed_experience_create_holds_back_the_later_ones() {
    let api = Faulty::new(true);
    api.backend
        .fault(Method::Post, "/experiences", Fault::Status(400), 1);
    let report = run(&experiences_plan(), &api, 5).await;
    assert_eq!(report.failed, 1);
    for result in &report.results[3..] {
        assert_eq!(
            result.outcome,
            Outcome::Skipped {
                blocked_by: "project/shop/experience/x0".to_owned()
            }
        );
    }
}

#[test]
fn ready_changes_start_by_the_longest_chain_of_requests_behind_them() {
    let plan = full_plan(ExperienceStatus::Active);
    let graph = super::Graph::new(&plan.changes);
    let rank = |address: &str| {
        let index = plan
            .changes
            .iter()
            .position(|change| change.address == address)
            .unwrap();
        graph.rank[index]
    };
    // attribute (1) -> audience (1) -> active experience (POST, draft PUT, ACTIVE PUT: 3)
    // -> order (GET + PUT: 2); the project comes before all of it.
    assert_eq!(rank("project/shop/attribute/tier"), 7);
    assert_eq!(rank("project/shop"), 8);
    assert_eq!(rank("project/shop/experience_order"), 2);
    assert_eq!(rank("project/shop/stack_link"), 1);
    assert_eq!(rank("project/shop/event/buy"), 1);
}

/// Whether an experience update sends its own fields is decided by the request body: a tag
/// change is a PUT of the experience and nothing else; a status move is no such PUT.
#[tokio::test]
async fn an_experience_update_sends_what_its_request_body_changes() {
    let api = Faulty::new(true);
    let created = run(&full_plan(ExperienceStatus::Active), &api, 4).await;
    assert!(created.is_success(), "{created:#?}");
    let live = experience_spec(ExperienceStatus::Active, "gold");
    let mut retagged = live.clone();
    retagged.tags.push("team:web".to_owned());
    let update = change(
        Action::Update,
        "hero",
        Specs::Experience(Sides {
            before: Some(live),
            after: Some(retagged.clone()),
        }),
        &[],
    );
    let writes_before = api.backend.writes().len();
    assert!(run(&plan_of(vec![update]), &api, 4).await.is_success());
    let writes = api.backend.writes()[writes_before..].to_vec();
    let experience = &shop(&api).await.experiences[0];
    assert_eq!(
        writes,
        [format!("PUT /experiences/{}", experience.experience.uid)]
    );
    let names = crate::convert::Names::from_live(&shop(&api).await);
    assert_eq!(
        crate::convert::Resource::managed_as(
            crate::convert::experience_spec(experience, &names),
            &retagged
        ),
        retagged
    );
}
