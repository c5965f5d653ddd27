//! Unit tests of the executor against a small in-memory fake of the API, with injectable
//! failures and lost answers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::live::{Api, Backend, BackendError, Method, Request};
use crate::model::{
    AttributeRef, AttributeSpec, AudienceSpec, Combination, Condition, EventSpec, ExperienceSpec,
    ExperienceStatus, ExperienceType, LiveExperience, LiveProject, MemberSpec, ProjectRole,
    ProjectSpec, RuleGroup, RuleNode, StackLinkSpec, VariantSpec,
};
use crate::plan::{Action, Change, LiveFingerprint, Plan, Requirement, Summary};
use crate::wire::{self, ApiError};

/// What the fake does to one request, chosen by (method, path prefix).
#[derive(Clone, Debug)]
enum Fault {
    /// Carry the request out, then lose the answer.
    DropAnswer,
    /// Lose the request before it is carried out.
    DropRequest,
    /// Answer with this status.
    Status(u16),
}

#[derive(Default)]
struct FakeState {
    next: u64,
    /// Collection key -> objects with a `uid`.
    collections: BTreeMap<String, Vec<Value>>,
    priority: BTreeMap<String, Vec<String>>,
    /// (method, path prefix, fault, how many more times).
    faults: Vec<(Method, String, Fault, usize)>,
    writes: Vec<String>,
}

struct Fake {
    members: bool,
    state: Mutex<FakeState>,
}

fn error(status: u16, code: &str) -> BackendError {
    BackendError::Api {
        method: "TEST",
        path: String::new(),
        error: ApiError {
            status,
            body: json!({"errors": {"fake": [code]}}),
        },
    }
}

impl Fake {
    fn new(members: bool) -> Arc<Api<Fake>> {
        Arc::new(Api::new(Fake {
            members,
            state: Mutex::new(FakeState::default()),
        }))
    }

    fn fault(&self, method: Method, prefix: &str, fault: Fault, times: usize) {
        let mut state = self.state.lock().unwrap();
        state.faults.push((method, prefix.to_owned(), fault, times));
    }

    fn objects(&self, key: &str) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        state.collections.get(key).cloned().unwrap_or_default()
    }

    fn writes(&self) -> Vec<String> {
        self.state.lock().unwrap().writes.clone()
    }

    fn handle(&self, request: &Request) -> Result<Value, BackendError> {
        let mut state = self.state.lock().unwrap();
        if request.method != Method::Get {
            state
                .writes
                .push(format!("{} {}", request.method.as_str(), request.path));
        }
        let project = request.project.clone().unwrap_or_default();
        let parts: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
        let body = request.body.clone().unwrap_or(Value::Null);
        let key = |collection: &str| format!("{project}/{collection}");
        match (request.method, parts.as_slice()) {
            (Method::Get, ["projects"]) => Ok(Value::from(
                state
                    .collections
                    .get("projects")
                    .cloned()
                    .unwrap_or_default(),
            )),
            (Method::Post, ["projects"]) => Ok(state.add("projects", body)),
            (Method::Put, ["projects", uid]) => state.put("projects", uid, body),
            (Method::Delete, ["projects", uid]) => state.delete("projects", uid),
            (Method::Get, ["projects", uid, "users"]) => Ok(state.list(&format!("{uid}/users"))),
            (Method::Post, ["projects", uid, "users"]) => {
                let mut member = body;
                member["status"] = json!("PENDING");
                Ok(state.add(&format!("{uid}/users"), member))
            }
            (Method::Put, ["projects", uid, "users", email]) => {
                let found = state.find_by(&format!("{uid}/users"), "email", email)?;
                state.put(&format!("{uid}/users"), &found, body)
            }
            (Method::Delete, ["projects", uid, "users", email]) => {
                let found = state.find_by(&format!("{uid}/users"), "email", email)?;
                state.delete(&format!("{uid}/users"), &found)
            }
            (Method::Get, ["experiences-priority"]) => Ok(json!({
                "priorityOrder": state.priority.get(&project).cloned().unwrap_or_default()
            })),
            (Method::Put, ["experiences-priority"]) => {
                let order: Vec<String> =
                    serde_json::from_value(body["priorityOrder"].clone()).unwrap();
                let mut all: Vec<String> = state
                    .list(&key("experiences"))
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["uid"].as_str().unwrap().to_owned())
                    .collect();
                all.sort();
                let mut given = order.clone();
                given.sort();
                if all != given {
                    return Err(error(400, "MISSING_EXPERIENCES"));
                }
                state.priority.insert(project.clone(), order.clone());
                Ok(json!({"priorityOrder": order}))
            }
            (Method::Get, ["experiences", experience, "versions"]) => {
                Ok(state.list(&key(&format!("versions/{experience}"))))
            }
            (Method::Post, ["experiences", experience, "versions"]) => {
                let versions = key(&format!("versions/{experience}"));
                if state
                    .list(&versions)
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v["status"] == "DRAFT")
                {
                    return Err(error(400, "CANNOT_CREATE_VERSION_AS_DRAFT_ALREADY_EXISTS"));
                }
                let body = state.short_uids(body);
                Ok(state.add(&versions, body))
            }
            (Method::Put, ["experiences", experience, "versions", version]) => {
                let versions = key(&format!("versions/{experience}"));
                let current = state.find_by(&versions, "uid", version)?;
                let stored = state
                    .list(&versions)
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|v| v["uid"] == current.as_str())
                    .cloned()
                    .unwrap();
                let locked = matches!(stored["status"].as_str(), Some("ACTIVE" | "PAUSED"));
                if locked && stored["variants"] != body["variants"] {
                    return Err(error(400, "CANNOT_UPDATE_LOCKED_VERSION"));
                }
                if body["status"] == "DRAFT" && locked {
                    return Err(error(400, "CANNOT_MARK_VERSION_AS_DRAFT"));
                }
                if body["status"] == "ACTIVE" {
                    for other in state.collections.entry(versions.clone()).or_default() {
                        if other["status"] == "ACTIVE" && other["uid"] != current.as_str() {
                            other["status"] = json!("ARCHIVED");
                        }
                    }
                }
                let body = state.short_uids(body);
                state.put(&versions, &current, body)
            }
            (Method::Post, ["experiences"]) => {
                let mut experience = state.add(&key("experiences"), body);
                let uid = experience["uid"].as_str().unwrap().to_owned();
                let draft = state.add(
                    &key(&format!("versions/{uid}")),
                    json!({"status": "DRAFT", "variants": []}),
                );
                experience["latestVersion"] = draft["uid"].clone();
                state.put(&key("experiences"), &uid, experience.clone())?;
                state.priority.entry(project.clone()).or_default().push(uid);
                Ok(experience)
            }
            (Method::Delete, ["experiences", uid]) => {
                state
                    .priority
                    .entry(project.clone())
                    .or_default()
                    .retain(|e| e != uid);
                state.delete(&key("experiences"), uid)
            }
            (Method::Get, [collection]) => Ok(state.list(&key(collection))),
            (Method::Post, [collection]) => {
                let mut object = body;
                if *collection == "attributes" {
                    object["__type"] = json!("CUSTOM");
                }
                Ok(state.add(&key(collection), object))
            }
            (Method::Put, [collection, uid]) => state.put(&key(collection), uid, body),
            (Method::Delete, [collection, uid]) => state.delete(&key(collection), uid),
            _ => Err(error(404, "NO_ROUTE")),
        }
    }
}

impl FakeState {
    fn list(&self, key: &str) -> Value {
        Value::from(self.collections.get(key).cloned().unwrap_or_default())
    }

    fn add(&mut self, key: &str, mut object: Value) -> Value {
        self.next += 1;
        let uid = format!("{:024x}", self.next);
        object["uid"] = json!(uid);
        object["_id"] = json!(uid);
        self.collections
            .entry(key.to_owned())
            .or_default()
            .push(object.clone());
        object
    }

    fn put(&mut self, key: &str, uid: &str, body: Value) -> Result<Value, BackendError> {
        let objects = self.collections.entry(key.to_owned()).or_default();
        let object = objects
            .iter_mut()
            .find(|object| object["uid"] == uid)
            .ok_or_else(|| error(404, "NOT_FOUND"))?;
        for (field, value) in body.as_object().cloned().unwrap_or_default() {
            object[field.as_str()] = value;
        }
        Ok(object.clone())
    }

    fn delete(&mut self, key: &str, uid: &str) -> Result<Value, BackendError> {
        let objects = self.collections.entry(key.to_owned()).or_default();
        let before = objects.len();
        objects.retain(|object| object["uid"] != uid);
        if objects.len() == before {
            return Err(error(404, "NOT_FOUND"));
        }
        Ok(Value::Null)
    }

    fn find_by(&self, key: &str, field: &str, wanted: &str) -> Result<String, BackendError> {
        self.collections
            .get(key)
            .and_then(|objects| objects.iter().find(|object| object[field] == wanted))
            .map(|object| object["uid"].as_str().unwrap_or_default().to_owned())
            .ok_or_else(|| error(404, "NOT_FOUND"))
    }

    fn short_uids(&mut self, mut body: Value) -> Value {
        if let Some(variants) = body["variants"].as_array_mut() {
            for variant in variants {
                if variant.get("shortUid").is_none() {
                    self.next += 1;
                    variant["shortUid"] = json!(self.next.to_string());
                }
            }
        }
        body
    }
}

impl Backend for Fake {
    async fn send(&self, request: Request) -> Result<Value, BackendError> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let fault = {
            let mut state = self.state.lock().unwrap();
            let found = state.faults.iter_mut().find(|(method, prefix, _, times)| {
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
            Some(Fault::Status(status)) => Err(error(status, "INJECTED")),
            Some(Fault::DropAnswer) => {
                let _ = self.handle(&request);
                Err(lost())
            }
            None => self.handle(&request),
        }
    }

    fn supports_members(&self) -> bool {
        self.members
    }

    fn describe(&self) -> String {
        "fake".to_owned()
    }
}

/// Read the fake into a `LiveState`, through the typed API.
async fn observe(api: &Api<Fake>) -> LiveState {
    let mut live = LiveState::default();
    for project in api.list_projects().await.unwrap() {
        let uid = project.uid.clone();
        let mut experiences = Vec::new();
        for experience in api.list::<wire::Experience>(&uid).await.unwrap() {
            let versions = api.list_versions(&uid, &experience.uid).await.unwrap();
            experiences.push(LiveExperience {
                experience,
                versions,
            });
        }
        live.projects.insert(
            project.name.clone(),
            LiveProject {
                members: Some(api.list_members(&uid).await.unwrap_or_default()),
                attributes: api.list::<wire::Attribute>(&uid).await.unwrap(),
                events: api.list::<wire::Event>(&uid).await.unwrap(),
                audiences: api.list::<wire::Audience>(&uid).await.unwrap(),
                experiences,
                priority: api.get_priority(&uid).await.unwrap().priority_order,
                project,
            },
        );
    }
    live
}

fn change(
    kind: Kind,
    action: Action,
    name: &str,
    after: Option<Value>,
    depends_on: &[&str],
) -> Change {
    Change {
        address: crate::model::address("shop", kind, name),
        kind,
        action,
        project: "shop".to_owned(),
        name: name.to_owned(),
        before: None,
        after,
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
        live_fingerprint: LiveFingerprint::default(),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Option<Value> {
    Some(serde_json::to_value(value).unwrap())
}

fn config(parallelism: usize) -> ApplyConfig {
    ApplyConfig {
        parallelism,
        create_lookup_retries: 3,
        retry_delay: Duration::from_millis(1),
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
            audiences: vec![audience.to_owned()],
            combination: Combination::Or,
        }],
        targeting: None,
        metrics: Vec::new(),
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
            combination: Combination::And,
            rules: vec![RuleNode::Condition(Condition {
                attribute: AttributeRef::Custom("tier".to_owned()),
                condition: "STRING_EQUALS".to_owned(),
                value: Some(json!("gold")),
                negate: false,
            })],
        },
    };
    plan_of(vec![
        change(
            Kind::Project,
            Action::Create,
            "shop",
            to_json(&ProjectSpec {
                description: "store".to_owned(),
            }),
            &[],
        ),
        change(
            Kind::StackLink,
            Action::Create,
            "shop",
            to_json(&StackLinkSpec {
                stack: Some("blt1".to_owned()),
            }),
            &[project],
        ),
        change(
            Kind::Attribute,
            Action::Create,
            "tier",
            to_json(&AttributeSpec {
                key: "tier".to_owned(),
                description: String::new(),
            }),
            &[project],
        ),
        change(
            Kind::Event,
            Action::Create,
            "buy",
            to_json(&EventSpec {
                key: "buy".to_owned(),
                description: String::new(),
            }),
            &[project],
        ),
        change(
            Kind::Audience,
            Action::Create,
            "gold",
            to_json(&audience_spec),
            &[project, attribute],
        ),
        change(
            Kind::Experience,
            Action::Create,
            "hero",
            to_json(&experience_spec(status, "gold")),
            &[project, audience],
        ),
        change(
            Kind::ExperienceOrder,
            Action::Update,
            "shop",
            Some(json!({"order": ["hero"]})),
            &[experience],
        ),
    ])
}

async fn run(plan: &Plan, api: &Arc<Api<Fake>>, parallelism: usize) -> ApplyReport {
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
    let api = Fake::new(true);
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
    let attribute_uid = &shop.attributes[0].uid;
    let rules = serde_json::to_value(&shop.audiences[0].definition).unwrap();
    assert_eq!(rules["rules"][0]["attribute"]["ref"], json!(attribute_uid));
    let versions = &shop.experiences[0].versions;
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].status, wire::VersionStatus::Active);
    let names = crate::convert::Names::from_live(shop);
    assert_eq!(
        crate::convert::experience_spec(&shop.experiences[0], &names),
        experience_spec(ExperienceStatus::Active, "gold")
    );
    assert_eq!(
        shop.priority,
        vec![shop.experiences[0].experience.uid.clone()]
    );
}

#[tokio::test]
async fn a_paused_experience_is_activated_then_paused() {
    let api = Fake::new(true);
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
    let api = Fake::new(true);
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
    let api = Fake::new(true);
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
    assert_eq!(api.backend.objects("projects").len(), 1);
    let uid = api.backend.objects("projects")[0]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    for collection in ["attributes", "events", "audiences", "experiences"] {
        assert_eq!(
            api.backend.objects(&format!("{uid}/{collection}")).len(),
            1,
            "{collection}"
        );
    }
    let experience = api.backend.objects(&format!("{uid}/experiences"))[0]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let versions = api.backend.objects(&format!("{uid}/versions/{experience}"));
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["status"], "ACTIVE");
}

#[tokio::test]
async fn a_create_that_never_arrived_is_repeated_once() {
    let api = Fake::new(true);
    api.backend
        .fault(Method::Post, "/events", Fault::DropRequest, 1);
    api.backend
        .fault(Method::Post, "/attributes", Fault::Status(503), 2);
    let report = run(&full_plan(ExperienceStatus::Draft), &api, 4).await;
    assert!(report.is_success(), "{report:#?}");
    let uid = api.backend.objects("projects")[0]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(api.backend.objects(&format!("{uid}/events")).len(), 1);
    assert_eq!(api.backend.objects(&format!("{uid}/attributes")).len(), 1);
}

#[tokio::test]
async fn members_become_manual_steps_without_a_members_api() {
    let api = Fake::new(false);
    let mut plan = full_plan(ExperienceStatus::Draft);
    plan.changes.push(change(
        Kind::Member,
        Action::Create,
        "dev@example.com",
        to_json(&MemberSpec {
            email: "dev@example.com".to_owned(),
            role: ProjectRole::Member,
        }),
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
    let api = Fake::new(true);
    let mut after = serde_json::to_value(MemberSpec {
        email: "dev@example.com".to_owned(),
        role: ProjectRole::Member,
    })
    .unwrap();
    after["invitation_message"] = json!("Welcome!");
    let mut plan = full_plan(ExperienceStatus::Draft);
    plan.changes.push(change(
        Kind::Member,
        Action::Create,
        "dev@example.com",
        Some(after),
        &["project/shop"],
    ));
    assert!(run(&plan, &api, 4).await.is_success());
    let uid = api.backend.objects("projects")[0]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let members = api.backend.objects(&format!("{uid}/users"));
    assert_eq!(members[0]["invitationMessage"], "Welcome!");

    let remove = plan_of(vec![change(
        Kind::Member,
        Action::Delete,
        "dev@example.com",
        None,
        &[],
    )]);
    assert!(run(&remove, &api, 4).await.is_success());
    assert!(api.backend.objects(&format!("{uid}/users")).is_empty());
    // Removing again finds nothing: that is done, not an error.
    assert!(run(&remove, &api, 4).await.is_success());
}

#[tokio::test]
async fn status_moves_keep_the_content_and_new_content_goes_to_a_new_draft() {
    let api = Fake::new(true);
    assert!(
        run(&full_plan(ExperienceStatus::Active), &api, 4)
            .await
            .is_success()
    );
    let mut pause = change(
        Kind::Experience,
        Action::Update,
        "hero",
        to_json(&experience_spec(ExperienceStatus::Paused, "gold")),
        &[],
    );
    pause.before = to_json(&experience_spec(ExperienceStatus::Active, "gold"));
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
    let mut update = change(
        Kind::Experience,
        Action::Update,
        "hero",
        to_json(&spec),
        &[],
    );
    update.before = to_json(&experience_spec(ExperienceStatus::Paused, "gold"));
    assert!(run(&plan_of(vec![update]), &api, 4).await.is_success());
    let live = observe(&api).await;
    let shop = &live.projects["shop"];
    let names = crate::convert::Names::from_live(shop);
    assert_eq!(
        crate::convert::experience_spec(&shop.experiences[0], &names),
        spec
    );
}

#[tokio::test]
async fn cancelled_before_start_skips_everything() {
    let api = Fake::new(true);
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
    let api = Fake::new(true);
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
    };
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
    let api = Fake::new(true);
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
            combination: Combination::And,
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
            Kind::Project,
            Action::Create,
            "shop",
            to_json(&ProjectSpec {
                description: String::new(),
            }),
            &[],
        ),
        change(
            Kind::Audience,
            Action::Create,
            "gold",
            to_json(&audience_spec),
            &["project/shop"],
        ),
        change(
            Kind::Experience,
            Action::Create,
            "x0",
            to_json(&experience_spec(ExperienceStatus::Active, "gold")),
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
            Kind::Experience,
            Action::Create,
            name,
            to_json(&spec),
            &["project/shop"],
        ));
    }
    plan_of(changes)
}

#[tokio::test]
async fn experiences_of_a_project_are_created_in_plan_order() {
    for parallelism in [1, 5] {
        let api = Fake::new(true);
        api.backend
            .fault(Method::Post, "/audiences", Fault::Status(503), 2);
        let report = run(&experiences_plan(), &api, parallelism).await;
        assert!(report.is_success(), "{report:#?}");
        let uid = api.backend.objects("projects")[0]["uid"]
            .as_str()
            .unwrap()
            .to_owned();
        let names: Vec<String> = api
            .backend
            .objects(&format!("{uid}/experiences"))
            .iter()
            .map(|experience| experience["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["x0", "x1", "x2"], "parallelism {parallelism}");
    }
}

#[tokio::test]
async fn a_failed_experience_create_holds_back_the_later_ones() {
    let api = Fake::new(true);
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
