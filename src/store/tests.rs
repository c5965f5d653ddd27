//! Store unit tests: every route, the version lifecycle, limits, permissions and error bodies.

use serde_json::{Value, json};

use super::{Limits, Store, is_write, success_status};
use crate::wire::{ApiError, Method, OrgRole, Request, User};

const OWNER: &str = "owner@example.com";
const ADMIN: &str = "admin@example.com";
const MEMBER: &str = "member@example.com";
const DEV: &str = "dev@example.com";

fn users() -> Vec<User> {
    [
        (OWNER, OrgRole::Owner),
        (ADMIN, OrgRole::Admin),
        (MEMBER, OrgRole::Member),
        (DEV, OrgRole::Member),
    ]
    .into_iter()
    .map(|(email, role)| User {
        email: email.to_owned(),
        organization_role: role,
    })
    .collect()
}

struct T {
    store: Store,
}

impl T {
    fn new() -> Self {
        T {
            store: Store::new("org1", users(), Limits::default()),
        }
    }

    fn with_limits(limits: Limits) -> Self {
        T {
            store: Store::new("org1", users(), limits),
        }
    }

    fn call(&mut self, actor: &str, request: Request) -> Result<Value, ApiError> {
        self.store.dispatch(actor, &request)
    }

    fn ok(&mut self, actor: &str, request: Request) -> Value {
        let what = format!("{} {}", request.method.as_str(), request.path);
        match self.call(actor, request) {
            Ok(value) => value,
            Err(error) => panic!("{what} failed: {error} {}", error.body),
        }
    }

    fn err(&mut self, actor: &str, request: Request) -> ApiError {
        let what = format!("{} {}", request.method.as_str(), request.path);
        match self.call(actor, request) {
            Ok(value) => panic!("{what} unexpectedly succeeded: {value}"),
            Err(error) => error,
        }
    }

    // The organization owner's requests inside project `p`, which must succeed (`get`, `post`,
    // `put`, `delete`) or fail (`*_err`).

    fn get(&mut self, p: &str, path: &str) -> Value {
        self.ok(OWNER, Request::get(path).project(p))
    }

    fn post(&mut self, p: &str, path: &str, body: Value) -> Value {
        self.ok(OWNER, req::post(path, body).project(p))
    }

    fn put(&mut self, p: &str, path: &str, body: Value) -> Value {
        self.ok(OWNER, req::put(path, body).project(p))
    }

    fn delete(&mut self, p: &str, path: &str) -> Value {
        self.ok(OWNER, req::delete(path).project(p))
    }

    fn post_err(&mut self, p: &str, path: &str, body: Value) -> ApiError {
        self.err(OWNER, req::post(path, body).project(p))
    }

    fn put_err(&mut self, p: &str, path: &str, body: Value) -> ApiError {
        self.err(OWNER, req::put(path, body).project(p))
    }

    fn delete_err(&mut self, p: &str, path: &str) -> ApiError {
        self.err(OWNER, req::delete(path).project(p))
    }

    fn project(&mut self, name: &str) -> String {
        let created = self.ok(OWNER, req::post("/projects", json!({"name": name})));
        uid(&created)
    }

    fn attribute(&mut self, p: &str, key: &str) -> String {
        uid(&self.post(p, "/attributes", json!({"name": key, "key": key})))
    }

    fn audience(&mut self, p: &str, attribute: &str) -> String {
        let body = json!({"name": "gold", "definition": definition(attribute, 1)});
        uid(&self.post(p, "/audiences", body))
    }

    fn experience(&mut self, p: &str, kind: &str) -> Value {
        self.post(p, "/experiences", json!({"name": "hero", "__type": kind}))
    }

    fn versions(&mut self, p: &str, e: &str) -> Vec<Value> {
        match self.get(p, &format!("/experiences/{e}/versions")) {
            Value::Array(items) => items,
            other => panic!("not an array: {other}"),
        }
    }
}

/// Requests with a body or another method than GET (`Request::get` makes those); a project
/// header is added with `.project(p)`.
mod req {
    use serde_json::Value;

    use crate::wire::{Method, Request};

    pub fn post(path: impl Into<String>, body: Value) -> Request {
        Request::new(Method::Post, path).body(body)
    }

    pub fn put(path: impl Into<String>, body: Value) -> Request {
        Request::new(Method::Put, path).body(body)
    }

    pub fn delete(path: impl Into<String>) -> Request {
        Request::new(Method::Delete, path)
    }
}

fn uid(value: &Value) -> String {
    value["uid"].as_str().unwrap_or_default().to_owned()
}

fn definition(attribute: &str, rules: usize) -> Value {
    let rule = json!({
        "__type": "Rule",
        "attribute": {"__type": "CustomAttributeReference", "ref": attribute},
        "attributeMatchCondition": "STRING_EQUALS",
        "attributeMatchOptions": {"__type": "StringMatchOptions", "value": "gold"},
        "invertCondition": false
    });
    json!({"combinationType": "AND", "rules": vec![rule; rules]})
}

fn segmented(audience: &str) -> Value {
    json!({"__type": "SegmentedVariant", "name": "Gold", "audiences": [audience], "audienceCombinationType": "OR"})
}

fn ab(name: &str, share: u32) -> Value {
    json!({"__type": "ABTestVariant", "name": name, "trafficDistribution": share})
}

#[track_caller]
fn assert_code(error: &ApiError, code: &str) {
    let codes = error.codes();
    assert!(codes.iter().any(|c| c == code), "{code} not in {codes:?}");
}

#[test]
fn project_crud_and_shapes() {
    let mut t = T::new();
    let created = t.ok(
        OWNER,
        req::post(
            "/projects",
            json!({"name": "p1", "description": "d", "connectedStackApiKey": "blt1", "extra": 1}),
        ),
    );
    let p = uid(&created);
    assert!(crate::wire::is_object_id(&p));
    assert_eq!(created["_id"], created["uid"]);
    assert_eq!(created["organizationUid"], "org1");
    assert_eq!(created["connectedStackApiKey"], "blt1");
    assert_eq!(created["createdAt"], "2025-01-01T00:00:01.000Z");
    assert!(created.get("extra").is_none());
    let list = t.ok(OWNER, Request::get("/projects"));
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let by_stack = t.ok(OWNER, Request::get("/projects?connectedStackApiKey=blt1"));
    assert_eq!(by_stack.as_array().map(Vec::len), Some(1));
    let other_stack = t.ok(OWNER, Request::get("/projects?connectedStackApiKey=blt2"));
    assert_eq!(other_stack, json!([]));
    let one = t.ok(OWNER, Request::get(format!("/projects/{p}")));
    assert_eq!(one["name"], "p1");
    let updated = t.ok(
        OWNER,
        req::put(
            format!("/projects/{p}"),
            json!({"name": "p1b", "description": "", "connectedStackApiKey": null}),
        ),
    );
    assert_eq!(updated["connectedStackApiKey"], Value::Null);
    assert_ne!(updated["updatedAt"], created["updatedAt"]);
    let error = t.err(OWNER, req::post("/projects", json!({"name": "p1b"})));
    assert_eq!(error.status, 400);
    assert_code(&error, "personalize.PROJECTS.DUPLICATE_NAME");
    let error = t.err(OWNER, req::post("/projects", json!({"description": "x"})));
    assert_eq!(
        error.body,
        json!({"errors": {"name": ["name should not be empty"]}})
    );
    assert_eq!(
        t.ok(OWNER, req::delete(format!("/projects/{p}"))),
        Value::Null
    );
    let error = t.err(OWNER, Request::get(format!("/projects/{p}")));
    assert_eq!(error.status, 404);
}

#[test]
fn project_limit_and_presets() {
    let mut t = T::with_limits(Limits {
        projects_per_org: 1,
        ..Limits::default()
    });
    let p = t.project("p1");
    let error = t.err(OWNER, req::post("/projects", json!({"name": "p2"})));
    assert_code(&error, "personalize.PROJECTS.PROJECT_COUNT_EXCEEDED");
    let attributes = t.get(&p, "/attributes");
    let items = attributes.as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), crate::wire::PRESET_ATTRIBUTES.len());
    assert!(items.iter().all(|a| a["__type"] == "PRESET"));
    let preset = uid(&items[0]);
    let error = t.put_err(
        &p,
        &format!("/attributes/{preset}"),
        json!({"name": "x", "key": "x"}),
    );
    assert_eq!(error.status, 400);
    assert_code(&error, "personalize.ATTRIBUTES.PRESET_ATTRIBUTE_IMMUTABLE");
    let error = t.delete_err(&p, &format!("/attributes/{preset}"));
    assert_code(&error, "personalize.ATTRIBUTES.PRESET_ATTRIBUTE_IMMUTABLE");
}

#[test]
fn attributes_and_events_routes() {
    let mut t = T::new();
    let p = t.project("p1");
    let a = t.attribute(&p, "tier");
    let error = t.post_err(&p, "/attributes", json!({"name": "Tier2", "key": "tier"}));
    assert_code(&error, "personalize.ATTRIBUTES.DUPLICATE_KEY");
    let updated = t.put(
        &p,
        &format!("/attributes/{a}"),
        json!({"name": "Tier", "key": "tier", "description": "d"}),
    );
    assert_eq!(updated["description"], "d");
    assert_eq!(updated["__type"], "CUSTOM");
    assert_eq!(updated["project"], p.as_str());
    assert_eq!(t.delete(&p, &format!("/attributes/{a}")), Value::Null);
    let error = t.delete_err(&p, &format!("/attributes/{a}"));
    assert_eq!(error.status, 404);

    let event = t.post(&p, "/events", json!({"key": "add_to_cart"}));
    let e = uid(&event);
    assert_eq!(event["description"], "");
    let error = t.post_err(&p, "/events", json!({"key": "add_to_cart"}));
    assert_code(&error, "personalize.EVENTS.DUPLICATE_KEY");
    let updated = t.put(
        &p,
        &format!("/events/{e}"),
        json!({"key": "add_to_cart", "description": "Added"}),
    );
    assert_eq!(updated["description"], "Added");
    let list = t.get(&p, "/events");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    t.delete(&p, &format!("/events/{e}"));
    assert_eq!(t.get(&p, "/events"), json!([]));
}

#[test]
fn project_header_required_and_unknown_project() {
    let mut t = T::new();
    t.project("p1");
    let error = t.err(OWNER, Request::get("/attributes"));
    assert_eq!(error.status, 400);
    assert_eq!(
        error.body,
        json!({"errors": {"x-project-uid": ["x-project-uid header is required"]}})
    );
    let error = t.err(
        OWNER,
        Request::get("/attributes").project("6650f0c2ffffffffffffffff"),
    );
    assert_eq!(error.status, 404);
    let error = t.err(OWNER, Request::get("/nothing"));
    assert_eq!(
        error.body,
        json!({"statusCode": 404, "message": "Cannot GET /nothing", "error": "Not Found"})
    );
    let error = t.err("stranger@example.com", Request::get("/projects"));
    assert_eq!(error.status, 401);
}

#[test]
fn audiences_validate_references_and_limits() {
    let mut t = T::with_limits(Limits {
        rules_per_audience: 2,
        ..Limits::default()
    });
    let p = t.project("p1");
    let a = t.attribute(&p, "tier");
    let created = t.post(
        &p,
        "/audiences",
        json!({"name": "gold", "definition": definition(&a, 2)}),
    );
    // Stored exactly as sent, with the root type defaulted.
    let mut expected = definition(&a, 2);
    expected["__type"] = json!("RuleCombination");
    assert_eq!(created["definition"], expected);
    let error = t.post_err(
        &p,
        "/audiences",
        json!({"name": "many", "definition": definition(&a, 3)}),
    );
    assert_code(&error, "personalize.AUDIENCES.RULE_COUNT_EXCEEDED");
    let error = t.post_err(
        &p,
        "/audiences",
        json!({"name": "bad", "definition": definition("6650f0c2aaaaaaaaaaaaaaaa", 1)}),
    );
    assert_code(&error, "personalize.AUDIENCES.ATTRIBUTE_NOT_FOUND");
    assert!(error.message().contains("6650f0c2aaaaaaaaaaaaaaaa"));
    let no_options = json!({"combinationType": "OR", "rules": [{
        "__type": "Rule",
        "attribute": {"__type": "PresetAttributeReference", "ref": "DEVICE_TYPE"},
        "attributeMatchCondition": "STRING_EQUALS"
    }]});
    let error = t.post_err(
        &p,
        "/audiences",
        json!({"name": "bad", "definition": no_options}),
    );
    assert!(error.message().contains("valid matchOptions is required"));
    let aud = uid(&created);
    let updated = t.put(
        &p,
        &format!("/audiences/{aud}"),
        json!({"name": "gold2", "definition": definition(&a, 1)}),
    );
    assert_eq!(updated["name"], "gold2");
    t.delete(&p, &format!("/audiences/{aud}"));
    assert_eq!(t.get(&p, "/audiences"), json!([]));
}

#[test]
fn experience_create_makes_draft_and_priority() {
    let mut t = T::new();
    let p = t.project("p1");
    let first = t.experience(&p, "SEGMENTED");
    let second = t.post(&p, "/experiences", json!({"name": "b", "__type": "AB_TEST", "tags": ["Env:Prod", "env:prod", "x"], "shortUid": "99", "_cms": {}}));
    assert_eq!(first["shortUid"], "1");
    assert_eq!(second["shortUid"], "2");
    assert_eq!(second["tags"], json!(["env:prod", "x"]));
    assert_eq!(first["status"], "DRAFT");
    let e1 = uid(&first);
    let e2 = uid(&second);
    let versions = t.versions(&p, &e1);
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["status"], "DRAFT");
    assert_eq!(versions[0]["uid"], first["latestVersion"]);
    let priority = t.get(&p, "/experiences-priority");
    assert_eq!(priority, json!({"priorityOrder": [e1, e2]}));
    let error = t.put_err(&p, "/experiences-priority", json!({"priorityOrder": [e2]}));
    assert_code(&error, "MISSING_EXPERIENCES");
    let put = t.put(
        &p,
        "/experiences-priority",
        json!({"priorityOrder": [e2, e1]}),
    );
    assert_eq!(put, json!({"priorityOrder": [e2, e1]}));
    t.delete(&p, &format!("/experiences/{e2}"));
    let priority = t.get(&p, "/experiences-priority");
    assert_eq!(priority, json!({"priorityOrder": [e1]}));
    // Short uids are never reused.
    let third = t.experience(&p, "SEGMENTED");
    assert_eq!(third["shortUid"], "3");
    let one = t.get(&p, &format!("/experiences/{e1}"));
    assert_eq!(one["name"], "hero");
    let updated = t.put(
        &p,
        &format!("/experiences/{e1}"),
        json!({"name": "hero2", "__type": "SEGMENTED", "tags": ["a"]}),
    );
    assert_eq!(updated["tags"], json!(["a"]));
    let error = t.put_err(
        &p,
        &format!("/experiences/{e1}"),
        json!({"name": "hero2", "__type": "AB_TEST"}),
    );
    assert_eq!(error.status, 400);
    let error = t.post_err(
        &p,
        "/experiences",
        json!({"name": "t", "__type": "SEGMENTED", "tags": ["bad tag"]}),
    );
    assert_code(&error, "personalize.EXPERIENCES.INVALID_TAG");
    let many: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    let error = t.post_err(
        &p,
        "/experiences",
        json!({"name": "t", "__type": "SEGMENTED", "tags": many}),
    );
    assert_code(&error, "personalize.EXPERIENCES.TAG_COUNT_EXCEEDED");
}

#[test]
fn version_lifecycle() {
    let mut t = T::new();
    let p = t.project("p1");
    let a = t.attribute(&p, "tier");
    let aud = t.audience(&p, &a);
    let exp = t.experience(&p, "SEGMENTED");
    let e = uid(&exp);
    let draft = exp["latestVersion"].as_str().unwrap_or_default().to_owned();
    let path = format!("/experiences/{e}/versions/{draft}");
    // PUT requires status and variants.
    let error = t.put_err(&p, &path, json!({"variants": []}));
    assert_eq!(
        error.body,
        json!({"errors": {"status": ["INVALID_STATUS", "STATUS_REQUIRED"]}})
    );
    let error = t.put_err(&p, &path, json!({"status": "DRAFT"}));
    assert_code(&error, "VARIANTS_NOT_ARRAY");
    // Edit the draft, then activate it.
    let edited = t.put(
        &p,
        &path,
        json!({"status": "DRAFT", "variants": [segmented(&aud)]}),
    );
    assert_eq!(edited["variants"][0]["shortUid"], "0");
    let exp_now = t.get(&p, &format!("/experiences/{e}"));
    assert!(
        exp_now["_cms"]["variantGroup"]
            .as_str()
            .is_some_and(|g| g.starts_with("cs"))
    );
    assert!(exp_now["_cms"]["variants"]["0"].is_string());
    assert_eq!(exp_now["referredAudiences"], json!([aud]));
    // Only one draft.
    let error = t.post_err(
        &p,
        &format!("/experiences/{e}/versions"),
        json!({"status": "DRAFT", "variants": [segmented(&aud)]}),
    );
    assert_code(
        &error,
        "personalize.EXPERIENCES.VERSIONS.CANNOT_CREATE_VERSION_AS_DRAFT_ALREADY_EXISTS",
    );
    let active = t.put(
        &p,
        &path,
        json!({"status": "ACTIVE", "variants": [segmented(&aud)]}),
    );
    assert_eq!(active["status"], "ACTIVE");
    // The active version's content is locked.
    let mut changed = segmented(&aud);
    changed["name"] = json!("Other");
    let error = t.put_err(
        &p,
        &path,
        json!({"status": "ACTIVE", "variants": [changed]}),
    );
    assert_code(
        &error,
        "personalize.EXPERIENCES.VERSIONS.CANNOT_UPDATE_LOCKED_VERSION",
    );
    // A status-only move to PAUSED works, even without short uids.
    let paused = t.put(
        &p,
        &path,
        json!({"status": "PAUSED", "variants": [segmented(&aud)]}),
    );
    assert_eq!(paused["status"], "PAUSED");
    assert_eq!(paused["variants"][0]["shortUid"], "0");
    let exp_now = t.get(&p, &format!("/experiences/{e}"));
    assert_eq!(exp_now["status"], "PAUSED");
    let error = t.put_err(
        &p,
        &path,
        json!({"status": "DRAFT", "variants": [segmented(&aud)]}),
    );
    assert_code(
        &error,
        "personalize.EXPERIENCES.VERSIONS.CANNOT_MARK_VERSION_AS_DRAFT",
    );
    // Resume.
    let resumed = t.put(
        &p,
        &path,
        json!({"status": "ACTIVE", "variants": [segmented(&aud)]}),
    );
    assert_eq!(resumed["status"], "ACTIVE");
    // A new draft, activated, archives the previous version.
    let second = t.post(
        &p,
        &format!("/experiences/{e}/versions"),
        json!({"status": "DRAFT", "variants": [segmented(&aud), segmented(&aud)]}),
    );
    assert_eq!(second["variants"][0]["shortUid"], "1");
    assert_eq!(second["variants"][1]["shortUid"], "2");
    let second_uid = uid(&second);
    let exp_now = t.get(&p, &format!("/experiences/{e}"));
    assert_eq!(exp_now["latestVersion"], second_uid.as_str());
    assert_eq!(exp_now["status"], "ACTIVE");
    t.put(
        &p,
        &format!("/experiences/{e}/versions/{second_uid}"),
        json!({"status": "ACTIVE", "variants": [segmented(&aud)]}),
    );
    let versions = t.versions(&p, &e);
    assert_eq!(versions[0]["uid"], second_uid.as_str());
    assert_eq!(versions[0]["status"], "ACTIVE");
    assert_eq!(versions[1]["status"], "ARCHIVED");
    // A variant sent again without its short uid keeps it.
    assert_eq!(versions[0]["variants"][0]["shortUid"], "1");
    // Short uids are never reused.
    let third = t.post(
        &p,
        &format!("/experiences/{e}/versions"),
        json!({"status": "DRAFT", "variants": [segmented(&aud)]}),
    );
    assert_eq!(third["variants"][0]["shortUid"], "3");
    t.delete(&p, &format!("/experiences/{e}/versions/{}", uid(&third)));
    // Archived versions are locked.
    let error = t.put_err(
        &p,
        &path,
        json!({"status": "ACTIVE", "variants": [segmented(&aud)]}),
    );
    assert_code(
        &error,
        "personalize.EXPERIENCES.VERSIONS.CANNOT_UPDATE_LOCKED_VERSION",
    );
    // GET one version does not exist.
    let error = t.err(OWNER, Request::get(&path).project(&p));
    assert_eq!(error.body["message"], format!("Cannot GET {path}"));
    // Delete the archived version; the only version cannot go.
    t.delete(&p, &path);
    let error = t.delete_err(&p, &format!("/experiences/{e}/versions/{second_uid}"));
    assert_code(&error, "CANNOT_DELETE_ONLY_DRAFT");
}

#[test]
fn version_content_rules() {
    let mut t = T::with_limits(Limits {
        variants_per_experience: 3,
        ..Limits::default()
    });
    let p = t.project("p1");
    let a = t.attribute(&p, "tier");
    let aud = t.audience(&p, &a);
    let exp = t.experience(&p, "AB_TEST");
    let e = uid(&exp);
    let draft = exp["latestVersion"].as_str().unwrap_or_default().to_owned();
    let path = format!("/experiences/{e}/versions/{draft}");
    let two = json!([ab("A", 50), ab("B", 50)]);
    let four = json!([ab("A", 25), ab("B", 25), ab("C", 25), ab("D", 25)]);
    let unknown = "6650f0c2aaaaaaaaaaaaaaaa";
    let metrics = json!([{"__type": "Primary", "event": unknown, "name": "x"}]);
    let targeting = json!({"audience": {"audiences": [unknown], "audienceCombinationType": "AND"}});
    let own_short_uid =
        json!({"__type": "ABTestVariant", "name": "A", "shortUid": "7", "trafficDistribution": 50});
    for (body, code) in [
        (json!({"variants": [ab("A", 100)]}), "AB_TEST_MIN_VARIANTS"),
        (
            json!({"variants": [ab("A", 50), ab("B", 40)]}),
            "INVALID_TRAFFIC_DISTRIBUTION",
        ),
        (
            json!({"variants": [segmented(&aud)]}),
            "INVALID_VARIANT_TYPE",
        ),
        (json!({"variants": four}), "VARIANT_COUNT_EXCEEDED"),
        (
            json!({"variants": two, "metrics": metrics}),
            "EVENT_NOT_FOUND",
        ),
        (
            json!({"variants": two, "targeting": targeting}),
            "AUDIENCE_NOT_FOUND",
        ),
        (
            json!({"variants": [own_short_uid, ab("B", 50)]}),
            "INVALID_VARIANT_SHORT_UID",
        ),
    ] {
        let mut body = body;
        body["status"] = json!("DRAFT");
        let error = t.put_err(&p, &path, body);
        assert_code(&error, &format!("personalize.EXPERIENCES.VERSIONS.{code}"));
    }
    let event = t.post(&p, "/events", json!({"key": "buy"}));
    let ok = t.put(&p, &path, json!({"status": "ACTIVE", "variants": [ab("A", 50), {"__type": "ABTestVariant", "name": "B", "trafficDistribution": "50"}],
            "metrics": [{"__type": "Primary", "event": uid(&event), "name": "Buy"}],
            "targeting": {"audience": {"audiences": [aud], "audienceCombinationType": "AND"}}}));
    assert_eq!(ok["status"], "ACTIVE");
    // A numeric string and a number are the same traffic for the lock check.
    let paused = t.put(
        &p,
        &path,
        json!({"status": "PAUSED", "variants": [ab("A", 50), ab("B", 50)],
            "metrics": [{"__type": "Primary", "event": uid(&event), "name": "Buy"}],
            "targeting": {"audience": {"audiences": [aud], "audienceCombinationType": "AND"}}}),
    );
    assert_eq!(paused["status"], "PAUSED");
    // A status-only move may leave metrics and targeting out; they are kept.
    let resumed = t.put(
        &p,
        &path,
        json!({"status": "ACTIVE", "variants": [ab("A", 50), ab("B", 50)]}),
    );
    assert_eq!(resumed["metrics"][0]["name"], "Buy");
    assert!(resumed["targeting"].is_object());
    // Changing the split while running is a content change.
    let error = t.put_err(
        &p,
        &path,
        json!({"status": "PAUSED", "variants": [ab("A", 50), ab("B", 50)], "metrics": []}),
    );
    assert_code(
        &error,
        "personalize.EXPERIENCES.VERSIONS.CANNOT_UPDATE_LOCKED_VERSION",
    );
    // Changing the split while paused is a content change.
    let error = t.put_err(
        &p,
        &path,
        json!({"status": "PAUSED", "variants": [ab("A", 60), ab("B", 40)],
            "metrics": [{"__type": "Primary", "event": uid(&event), "name": "Buy"}],
            "targeting": {"audience": {"audiences": [aud], "audienceCombinationType": "AND"}}}),
    );
    assert_code(
        &error,
        "personalize.EXPERIENCES.VERSIONS.CANNOT_UPDATE_LOCKED_VERSION",
    );
}

#[test]
fn failed_requests_change_nothing() {
    let mut t = T::new();
    let p = t.project("p1");
    let before = t.store.to_json();
    let _ = t.call(OWNER, req::post("/projects", json!({"name": "p1"})));
    let _ = t.call(
        OWNER,
        req::post("/attributes", json!({"name": "x"})).project(&p),
    );
    let _ = t.call(
        OWNER,
        req::put("/experiences-priority", json!({"priorityOrder": ["nope"]})).project(&p),
    );
    let _ = t.call(
        MEMBER,
        req::post("/events", json!({"key": "k"})).project(&p),
    );
    assert_eq!(t.store.to_json(), before);
}

#[test]
fn state_round_trips() {
    let mut t = T::new();
    let p = t.project("p1");
    t.attribute(&p, "tier");
    t.experience(&p, "SEGMENTED");
    let json = t.store.to_json();
    let text = json.to_string();
    let parsed: Value = serde_json::from_str(&text).unwrap_or_default();
    let restored = Store::from_json(parsed).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(restored, t.store);
    // Counters continue where they were.
    let mut t2 = T { store: restored };
    let next = t2.experience(&p, "SEGMENTED");
    assert_eq!(next["shortUid"], "2");
    assert!(Store::from_json(json!({"nope": 1})).is_err());
}

#[test]
fn permission_table() {
    // (org role actor, project role) -> (read/write content, manage project)
    let mut t = T::new();
    let p = t.project("p1");
    let (project, users) = (format!("/projects/{p}"), format!("/projects/{p}/users"));
    let content = |t: &mut T, actor: &str| {
        t.call(
            actor,
            req::post("/events", json!({"key": format!("k-{}", t.store.clock)})).project(&p),
        )
    };
    let manage = |t: &mut T, actor: &str| t.call(actor, req::put(&project, json!({"name": "p1"})));
    // Org owner/admin: everything, without a project role.
    for actor in [OWNER, ADMIN] {
        assert!(content(&mut t, actor).is_ok(), "{actor}");
        assert!(manage(&mut t, actor).is_ok(), "{actor}");
        assert!(
            t.call(actor, Request::get("/attributes").project(&p))
                .is_ok()
        );
    }
    // Org member without a project role: 403 for everything; project not listed.
    assert_eq!(
        content(&mut t, MEMBER).expect_err("the call should fail"),
        ApiError::forbidden()
    );
    assert_eq!(
        manage(&mut t, MEMBER).expect_err("the call should fail"),
        ApiError::forbidden()
    );
    assert_eq!(
        t.call(MEMBER, Request::get("/attributes").project(&p))
            .expect_err("the call should fail")
            .status,
        403
    );
    assert_eq!(t.ok(MEMBER, Request::get("/projects")), json!([]));
    let error = t.err(MEMBER, req::post("/projects", json!({"name": "mine"})));
    assert_eq!(error, ApiError::forbidden());
    // Pending member: still nothing.
    t.ok(
        OWNER,
        req::post(
            &users,
            json!({"email": MEMBER, "role": "MEMBER", "invitationMessage": "hi"}),
        ),
    );
    assert_eq!(
        content(&mut t, MEMBER)
            .expect_err("the call should fail")
            .status,
        403
    );
    // Someone else cannot accept for them.
    let error = t.err(
        DEV,
        Request::new(Method::Post, format!("{users}/{MEMBER}/accept")),
    );
    assert_eq!(error.status, 403);
    let accepted = t.ok(
        MEMBER,
        Request::new(Method::Post, format!("{users}/member%40example.com/accept")),
    );
    assert_eq!(accepted["status"], "ACCEPTED");
    // Accepted project member: content yes, manage no.
    assert!(content(&mut t, MEMBER).is_ok());
    assert_eq!(
        manage(&mut t, MEMBER)
            .expect_err("the call should fail")
            .status,
        403
    );
    let error = t.err(
        MEMBER,
        req::post(&users, json!({"email": DEV, "role": "MEMBER"})),
    );
    assert_eq!(error.status, 403);
    let error = t.err(MEMBER, req::delete(&project));
    assert_eq!(error.status, 403);
    assert_eq!(
        t.ok(MEMBER, Request::get("/projects"))
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // Accepted project owner (org member): manage yes.
    t.ok(
        OWNER,
        req::put(format!("{users}/{MEMBER}"), json!({"role": "OWNER"})),
    );
    assert!(manage(&mut t, MEMBER).is_ok());
    let invited = t.ok(
        MEMBER,
        req::post(&users, json!({"email": "DEV@example.com", "role": "OWNER"})),
    );
    assert_eq!(invited["email"], DEV);
    assert_eq!(invited["status"], "PENDING");
    // A pending owner has no powers.
    assert_eq!(
        manage(&mut t, DEV)
            .expect_err("the call should fail")
            .status,
        403
    );
    let members = t.ok(MEMBER, Request::get(&users));
    assert_eq!(members.as_array().map(Vec::len), Some(3));
    // Revoke the pending invitation.
    assert_eq!(
        t.ok(MEMBER, req::delete(format!("{users}/{DEV}"))),
        Value::Null
    );
    // The creator (OWNER) and MEMBER are accepted owners; removing one is fine, the last is not.
    t.ok(ADMIN, req::delete(format!("{users}/{OWNER}")));
    let error = t.err(ADMIN, req::delete(format!("{users}/{MEMBER}")));
    assert_code(&error, "personalize.PROJECTS.LAST_OWNER");
    let error = t.err(
        ADMIN,
        req::put(format!("{users}/{MEMBER}"), json!({"role": "MEMBER"})),
    );
    assert_code(&error, "personalize.PROJECTS.LAST_OWNER");
    let error = t.err(
        ADMIN,
        req::post(&users, json!({"email": MEMBER, "role": "MEMBER"})),
    );
    assert_code(&error, "personalize.PROJECTS.MEMBER_ALREADY_EXISTS");
    // Org owner/admin may delete; the project creator is the owner.
    let mine = t.ok(ADMIN, req::post("/projects", json!({"name": "admins"})));
    let members = t.ok(
        ADMIN,
        Request::get(format!("/projects/{}/users", uid(&mine))),
    );
    assert_eq!(
        members,
        json!([{"email": ADMIN, "role": "OWNER", "status": "ACCEPTED", "updatedAt": mine["createdAt"]}])
    );
    assert_eq!(
        t.ok(ADMIN, req::delete(format!("/projects/{}", uid(&mine)))),
        Value::Null
    );
}

#[test]
fn current_user_and_helpers() {
    let mut t = T::new();
    let me = t.ok(ADMIN, Request::get("/user"));
    assert_eq!(me, json!({"email": ADMIN, "organizationRole": "admin"}));
    assert!(!is_write(&Request::get("/projects")));
    assert!(is_write(&Request::new(Method::Delete, "/events/x")));
    assert_eq!(
        success_status(&Request::new(Method::Post, "/projects")),
        201
    );
    assert_eq!(
        success_status(&Request::new(Method::Post, "/projects/x/users/a@b/accept")),
        200
    );
    assert_eq!(
        success_status(&Request::new(Method::Delete, "/projects/x")),
        204
    );
    assert_eq!(
        success_status(&Request::new(Method::Put, "/projects/x")),
        200
    );
    assert!(!t.store.ensure_user(User {
        email: "OWNER@example.com".into(),
        organization_role: OrgRole::Member
    }));
    assert!(t.store.ensure_user(User {
        email: "new@example.com".into(),
        organization_role: OrgRole::Member
    }));
}

#[test]
fn timestamps_are_deterministic_and_move() {
    let run = || {
        let mut t = T::new();
        let p = t.project("p1");
        let a = t.attribute(&p, "tier");
        let first = t.put(
            &p,
            &format!("/attributes/{a}"),
            json!({"name": "t", "key": "tier"}),
        );
        let second = t.put(
            &p,
            &format!("/attributes/{a}"),
            json!({"name": "t", "key": "tier"}),
        );
        assert_ne!(first["updatedAt"], second["updatedAt"]);
        t.store.to_json()
    };
    assert_eq!(run(), run());
}

/// The whole table: 3 organization roles x 5 project standings, three kinds of action.
#[test]
fn permission_matrix() {
    #[derive(Clone, Copy, Debug)]
    enum Standing {
        None,
        PendingMember,
        Member,
        PendingOwner,
        Owner,
    }
    let standings = [
        Standing::None,
        Standing::PendingMember,
        Standing::Member,
        Standing::PendingOwner,
        Standing::Owner,
    ];
    // Actors: ADMIN is an org admin, MEMBER an org member; the org owner created the project.
    for actor in [OWNER, ADMIN, MEMBER] {
        for standing in standings {
            let mut t = T::new();
            let p = t.project("p1");
            if actor != OWNER {
                let role = match standing {
                    Standing::Owner | Standing::PendingOwner => Some("OWNER"),
                    Standing::Member | Standing::PendingMember => Some("MEMBER"),
                    Standing::None => None,
                };
                if let Some(role) = role {
                    t.ok(
                        OWNER,
                        req::post(
                            format!("/projects/{p}/users"),
                            json!({"email": actor, "role": role}),
                        ),
                    );
                    if matches!(standing, Standing::Owner | Standing::Member) {
                        t.ok(
                            actor,
                            Request::new(
                                Method::Post,
                                format!("/projects/{p}/users/{actor}/accept"),
                            ),
                        );
                    }
                }
            }
            let org_admin = actor != MEMBER;
            let accepted = matches!(standing, Standing::Owner | Standing::Member);
            let expect_read = org_admin || accepted;
            let expect_manage = org_admin || matches!(standing, Standing::Owner);
            let read = t.call(actor, Request::get("/experiences").project(&p));
            let write = t.call(actor, req::post("/events", json!({"key": "k"})).project(&p));
            let priority = t.call(actor, Request::get("/experiences-priority").project(&p));
            let members = t.call(actor, Request::get(format!("/projects/{p}/users")));
            let manage = t.call(
                actor,
                req::put(
                    format!("/projects/{p}"),
                    json!({"name": "p1", "connectedStackApiKey": "blt9"}),
                ),
            );
            let invite = t.call(
                actor,
                req::post(
                    format!("/projects/{p}/users"),
                    json!({"email": "x@example.com", "role": "MEMBER"}),
                ),
            );
            let delete = t.call(actor, req::delete(format!("/projects/{p}")));
            let case = format!("{actor} {standing:?}");
            for (what, result, expected) in [
                ("read", &read, expect_read),
                ("write", &write, expect_read),
                ("priority", &priority, expect_read),
                ("members", &members, expect_read),
                ("manage", &manage, expect_manage),
                ("invite", &invite, expect_manage),
                ("delete", &delete, expect_manage),
            ] {
                match result {
                    Ok(_) => assert!(expected, "{case}: {what} should be forbidden"),
                    Err(error) => {
                        assert!(!expected, "{case}: {what} failed: {error}");
                        assert_eq!(*error, ApiError::forbidden(), "{case}: {what}");
                    }
                }
            }
        }
    }
}

#[test]
fn versions_accept_empty_targeting_and_keep_unmodeled_fields() {
    let mut t = T::new();
    let p = t.project("shop");
    let experience = t.experience(&p, "AB_TEST");
    let e = uid(&experience);
    let draft = experience["latestVersion"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let body = json!({
        "status": "DRAFT",
        "variantSplit": "CUSTOM",
        "reviewNote": {"by": "ui"},
        "createdAt": "never kept",
        "variants": [
            {"__type": "ABTestVariant", "name": "A", "trafficDistribution": 50, "color": "red"},
            {"__type": "ABTestVariant", "name": "B", "trafficDistribution": 50}
        ],
        "targeting": {}
    });
    t.put(&p, &format!("/experiences/{e}/versions/{draft}"), body);
    let versions = t.versions(&p, &e);
    assert_eq!(versions[0]["targeting"], json!({}));
    assert_eq!(versions[0]["variantSplit"], "CUSTOM");
    assert_eq!(versions[0]["reviewNote"], json!({"by": "ui"}));
    assert_ne!(versions[0]["createdAt"], "never kept");
    assert_eq!(versions[0]["variants"][0]["color"], "red");
    assert!(versions[0].get("extra").is_none(), "{}", versions[0]);
}

#[test]
fn a_project_records_the_organization_it_was_created_in() {
    let mut t = T::new();
    let request = Request {
        method: Method::Post,
        path: "/projects".to_owned(),
        project: None,
        organization: Some("blt_other_org".to_owned()),
        body: Some(json!({"name": "shop", "connectedStackApiKey": "blt1"})),
        stack: None,
    };
    let created = t
        .store
        .dispatch(OWNER, &request)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created["organizationUid"], "blt_other_org");
    assert_eq!(created["connectedStackApiKey"], "blt1");
    let p = t.project("plain");
    let listed = t.ok(OWNER, Request::get("/projects"));
    let plain = listed
        .as_array()
        .and_then(|projects| projects.iter().find(|project| project["uid"] == p.as_str()))
        .cloned()
        .unwrap_or_default();
    assert_eq!(plain["organizationUid"], "org1");
}

#[test]
fn a_state_from_a_newer_pzctl_or_with_unknown_fields_is_refused() {
    let mut state = Store::new("org", Vec::new(), Limits::default()).to_json();
    assert_eq!(state["formatVersion"], json!(super::STATE_FORMAT_VERSION));
    assert!(Store::from_json(state.clone()).is_ok());
    state["formatVersion"] = json!(99);
    let error = Store::from_json(state.clone()).expect_err("newer");
    assert!(
        error.contains("format version 99") && error.contains("up to version 1"),
        "{error}"
    );
    state["formatVersion"] = json!(1);
    state["future"] = json!({"kept": true});
    let error = Store::from_json(state.clone()).expect_err("unknown");
    assert!(error.contains("`future`"), "{error}");
    // A state from before versions is read as version 1.
    if let Some(map) = state.as_object_mut() {
        map.shift_remove("future");
        map.shift_remove("formatVersion");
    }
    assert!(Store::from_json(state).is_ok());
}
