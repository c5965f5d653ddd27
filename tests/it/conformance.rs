//! Integration tests: conformance of the three faces of live state.
//!
//! - `client`: the HTTP client's wire behaviour against a scripted server (headers, bodies,
//!   retries, pacing, errors, secrecy).
//! - `suite`: scenarios written once against `Api<B: Backend>` (every endpoint, lifecycle rules,
//!   limits, `observe`, and the permission table), each recording a normalized transcript.
//! - `faces`: the in-process store (reference), the embedded organization in a temp dir, and
//!   the HTTP client against the emulator on 127.0.0.1:0. `cross_face` runs every scenario on
//!   all three and requires identical transcripts.
//! - `faults`: the HTTP client against the emulator's fault injection (5xx, 429 with
//!   `Retry-After`, dropped answers), pacing and request counts.
//! - `pacing`: `--rate-limit` / `PZCTL_RATE_LIMIT` parsed by the real CLI definition and wired
//!   through target selection into the client's pacing, against the emulator.

#![allow(clippy::unwrap_used)]

mod client {
    use std::time::{Duration, Instant};

    use pzctl::live::http::{Credentials, HttpBackend, Secret};
    use pzctl::live::retry::RetryPolicy;
    use pzctl::live::{Api, Backend, BackendError, Method, Request};
    use pzctl::wire;
    use serde_json::json;

    use crate::support::{Reply, ScriptedServer, black_hole, fast_config, http_backend};

    const TOKEN: &str = "tok-VERY-SECRET-42";

    #[tokio::test]
    async fn sends_auth_scope_and_content_type_headers() {
        let server = ScriptedServer::start(vec![
            Reply::json(200, json!([])),
            Reply::json(
                201,
                json!({"_id": "a", "uid": "a", "key": "k", "description": ""}),
            ),
        ])
        .await;
        let mut config = fast_config(&server.url(), Some(TOKEN));
        config.organization_uid = Some("org-1".to_owned());
        let api = Api::new(HttpBackend::new(config).unwrap());

        api.list::<wire::Event>("p1").await.unwrap();
        let input = wire::EventInput {
            key: "k".to_owned(),
            description: String::new(),
        };
        api.create::<wire::Event>("p1", &input).await.unwrap();

        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        let get = &seen[0];
        assert_eq!((get.method.as_str(), get.path.as_str()), ("GET", "/events"));
        assert_eq!(get.header("authtoken"), Some(TOKEN));
        assert_eq!(get.header("x-project-uid"), Some("p1"));
        assert_eq!(get.header("organization_uid"), Some("org-1"));
        assert_eq!(get.header("content-type"), None);
        assert!(get.body.is_empty(), "GET must not carry a body");

        let post = &seen[1];
        assert_eq!(post.method, "POST");
        assert_eq!(post.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
        assert_eq!(body, json!({"key": "k", "description": ""}));
    }

    #[tokio::test]
    async fn bearer_and_no_project_header_on_org_calls() {
        let server = ScriptedServer::start(vec![]).await;
        let mut config = fast_config(&server.url(), None);
        config.credentials = Credentials::Bearer(Secret::new(TOKEN));
        let api = Api::new(HttpBackend::new(config).unwrap());
        assert!(api.list_projects().await.unwrap().is_empty());
        let seen = server.seen();
        assert_eq!(
            seen[0].header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(seen[0].header("authtoken"), None);
        assert_eq!(seen[0].header("x-project-uid"), None);
    }

    #[tokio::test]
    async fn get_body_is_never_sent_even_if_requested() {
        let server = ScriptedServer::start(vec![]).await;
        let backend = http_backend(&server.url(), TOKEN);
        backend
            .send(Request::get("/attributes").body(json!({"stale": true})))
            .await
            .unwrap();
        assert!(server.seen()[0].body.is_empty());
    }

    #[tokio::test]
    async fn empty_answer_is_null() {
        let server = ScriptedServer::start(vec![Reply::text(204, "")]).await;
        let backend = http_backend(&server.url(), TOKEN);
        let value = backend
            .send(Request::new(Method::Delete, "/events/e1").project("p1"))
            .await
            .unwrap();
        assert_eq!(value, serde_json::Value::Null);
    }

    #[tokio::test]
    async fn retry_after_is_honored_for_get_and_post() {
        let server = ScriptedServer::start(vec![
            Reply::json(429, json!({"message": "slow down"})).header("retry-after", "1"),
            Reply::json(200, json!([])),
            Reply::json(429, json!({"message": "slow down"})).header("retry-after", "1"),
            Reply::json(201, json!({"ok": true})),
        ])
        .await;
        let backend = http_backend(&server.url(), TOKEN);
        // The client sends once and holds the next request until `Retry-After`; the caller's
        // retry policy sends it again.
        let policy = RetryPolicy::fast();
        let started = Instant::now();
        pzctl::retry_idempotent!(policy, backend.send(Request::get("/projects")).await).unwrap();
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(950),
            "waited only {waited:?}"
        );

        // A 429 means the POST was not processed, so it is sent again.
        let started = Instant::now();
        let value = pzctl::retry_create!(policy,
            post: backend
                .send(Request::new(Method::Post, "/projects").body(json!({"name": "x"})))
                .await,
            lookup: async { Ok::<_, BackendError>(None) }.await
        )
        .unwrap();
        assert_eq!(value, json!({"ok": true}));
        assert!(started.elapsed() >= Duration::from_millis(950));

        let stats = backend.stats();
        assert_eq!(
            (stats.requests, policy.retries(), stats.rate_limited),
            (4, 2, 2)
        );
        assert_eq!(server.seen().len(), 4, "no lookup: a 429 was not processed");
    }

    #[tokio::test]
    async fn server_errors_retry_idempotent_calls_only() {
        let server = ScriptedServer::start(vec![
            Reply::json(503, json!({"message": "busy"})),
            Reply::json(502, json!({"message": "busy"})),
            Reply::json(200, json!({"priorityOrder": []})),
            Reply::json(500, json!({"message": "boom"})),
        ])
        .await;
        let backend = http_backend(&server.url(), TOKEN);
        let api = Api::new(backend.clone());
        let policy = RetryPolicy::fast();
        let priority = pzctl::retry_idempotent!(
            policy,
            api.put_priority("p1", &wire::Priority::default()).await
        )
        .unwrap();
        assert!(priority.priority_order.is_empty());
        assert_eq!(policy.retries(), 2);

        let error = backend
            .send(
                Request::new(Method::Post, "/events")
                    .project("p1")
                    .body(json!({"key": "k"})),
            )
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(500));
        assert_eq!(server.seen().len(), 4, "the POST was sent exactly once");
        let text = error.to_string();
        assert!(
            text.contains("POST /events") && text.contains("boom"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn client_errors_are_not_retried_and_keep_the_body() {
        let server = ScriptedServer::start(vec![
            Reply::json(
                400,
                json!({"errors": {"name": ["personalize.PROJECTS.DUPLICATE_NAME"]}}),
            ),
            Reply::text(404, "Cannot GET /nowhere"),
        ])
        .await;
        let backend = http_backend(&server.url(), TOKEN);
        let error = backend
            .send(Request::new(Method::Put, "/projects/p1").body(json!({"name": "x"})))
            .await
            .unwrap_err();
        assert_eq!(
            error.api().unwrap().codes(),
            vec!["personalize.PROJECTS.DUPLICATE_NAME"]
        );
        let error = backend.send(Request::get("/nowhere")).await.unwrap_err();
        let api_error = error.api().unwrap();
        assert_eq!(api_error.status, 404);
        assert_eq!(api_error.body, json!({"message": "Cannot GET /nowhere"}));
        assert_eq!(server.seen().len(), 2);
        assert_eq!(backend.stats().requests, 2);
    }

    #[tokio::test]
    async fn dropped_connections_retry_gets_and_surface_posts_as_transport() {
        let (url, connections) = black_hole().await;
        let backend = HttpBackend::new(fast_config(&url, Some(TOKEN))).unwrap();
        let policy = RetryPolicy::fast().with_max_attempts(4);

        let error = pzctl::retry_idempotent!(policy, backend.send(Request::get("/projects")).await)
            .unwrap_err();
        assert!(matches!(error, BackendError::Transport { .. }), "{error:?}");
        assert_eq!(backend.stats().requests, 4, "one try and three retries");

        let before = connections.load(std::sync::atomic::Ordering::SeqCst);
        let error = backend
            .send(Request::new(Method::Post, "/projects").body(json!({"name": "x"})))
            .await
            .unwrap_err();
        assert!(matches!(error, BackendError::Transport { .. }), "{error:?}");
        assert_eq!(backend.stats().requests, 5, "a POST is sent once");
        let after = connections.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            after - before <= 1,
            "the POST reached the server {} times",
            after - before
        );

        let text = format!("{error} {error:?} {backend:?}");
        assert!(text.contains("POST /projects"), "{text}");
        assert!(!text.contains(TOKEN), "{text}");
    }

    #[tokio::test]
    async fn pacing_is_shared_by_clones() {
        let server = ScriptedServer::start(vec![]).await;
        let mut config = fast_config(&server.url(), Some(TOKEN));
        config.requests_per_second = 20.0;
        let backend = HttpBackend::new(config).unwrap();
        let clone = backend.clone();
        let started = Instant::now();
        let a = async {
            for _ in 0..5 {
                backend.send(Request::get("/projects")).await.unwrap();
            }
        };
        let b = async {
            for _ in 0..5 {
                clone.send(Request::get("/projects")).await.unwrap();
            }
        };
        tokio::join!(a, b);
        let elapsed = started.elapsed();
        // Ten calls at 20 per second: the first is free, nine wait 50 ms each.
        assert!(
            elapsed >= Duration::from_millis(430),
            "took only {elapsed:?}"
        );
        assert_eq!(backend.stats().requests, 10);
    }

    #[tokio::test]
    async fn hosted_targets_have_no_members_and_no_principal() {
        let server = ScriptedServer::start(vec![Reply::json(
            200,
            json!([
                {"_id": "bbbbbbbbbbbbbbbbbbbbbbbb", "uid": "bbbbbbbbbbbbbbbbbbbbbbbb", "name": "shop"},
                {"_id": "aaaaaaaaaaaaaaaaaaaaaaaa", "uid": "aaaaaaaaaaaaaaaaaaaaaaaa", "name": "shop"}
            ]),
        )])
        .await;
        let mut config = fast_config(&server.url(), Some(TOKEN));
        config.supports_members = false;
        let api = Api::new(HttpBackend::new(config).unwrap());
        let error = api.list_members("p1").await.unwrap_err();
        assert!(matches!(error, BackendError::Unsupported(_)), "{error:?}");
        assert_eq!(api.current_user().await.unwrap(), None);
        assert!(server.seen().is_empty(), "nothing was sent");

        // Two projects with one name: observe names both uids instead of picking one.
        let error = pzctl::live::observe(&api, None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("aaaaaaaaaaaaaaaaaaaaaaaa")
                && error.contains("bbbbbbbbbbbbbbbbbbbbbbbb"),
            "{error}"
        );
        assert!(error.contains("shop"), "{error}");
        assert_eq!(server.seen().len(), 1);
    }

    #[tokio::test]
    async fn no_token_in_any_error_or_debug_output() {
        let server = ScriptedServer::start(vec![
            Reply::json(
                401,
                json!({"error_message": "You're not allowed in here unless you're logged in."}),
            ),
            Reply::text(200, "not json"),
        ])
        .await;
        let config = fast_config(&server.url(), Some(TOKEN));
        let backend = HttpBackend::new(config.clone()).unwrap();
        let unauthorized = backend.send(Request::get("/projects")).await.unwrap_err();
        let undecodable = backend
            .send(Request::get("/events").project("p"))
            .await
            .unwrap_err();
        assert!(matches!(undecodable, BackendError::Decode { .. }));
        let text = format!(
            "{unauthorized} {unauthorized:?} {undecodable} {undecodable:?} {config:?} {backend:?} {}",
            backend.describe()
        );
        assert!(!text.contains(TOKEN), "{text}");
        assert!(
            text.contains("GET /projects") && text.contains("GET /events"),
            "{text}"
        );
    }
}

/// The cross-face suite: scenarios written once against `Api<B>`, run on every face, and the
/// normalized transcripts compared.
mod suite {
    use std::collections::BTreeMap;

    use pzctl::live::{Api, Backend, BackendError, Method, Request};
    use pzctl::wire::{self, Combination, ProjectRole, VersionStatus};
    use serde::Serialize;
    use serde_json::{Value, json};

    /// The actors of the default users file.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Who {
        /// owner@example.com, organization owner.
        Owner,
        /// admin@example.com, organization admin.
        Admin,
        /// member@example.com, organization member.
        Member,
        /// dev@example.com, organization member.
        Dev,
    }

    impl Who {
        pub const ALL: [Who; 4] = [Who::Owner, Who::Admin, Who::Member, Who::Dev];

        pub fn email(self) -> &'static str {
            match self {
                Who::Owner => "owner@example.com",
                Who::Admin => "admin@example.com",
                Who::Member => "member@example.com",
                Who::Dev => "dev@example.com",
            }
        }

        pub fn token(self) -> &'static str {
            match self {
                Who::Owner => "owner-token",
                Who::Admin => "admin-token",
                Who::Member => "member-token",
                Who::Dev => "dev-token",
            }
        }
    }

    /// One organization seen through one face, as any of its users.
    pub trait Face: Sync {
        type B: Backend;
        fn api(&self, who: Who) -> &Api<Self::B>;
    }

    /// What happened, step by step, with ids and timestamps normalized so two faces compare.
    #[derive(Debug, Default)]
    pub struct Transcript {
        pub steps: Vec<(String, Value)>,
        ids: BTreeMap<String, String>,
    }

    impl Transcript {
        /// Record a step's outcome and hand the result back.
        pub fn record<T: Serialize>(
            &mut self,
            step: &str,
            result: Result<T, BackendError>,
        ) -> Result<T, BackendError> {
            let outcome = match &result {
                Ok(value) => {
                    let value = serde_json::to_value(value).unwrap_or(Value::Null);
                    json!({ "ok": self.normalize(value) })
                }
                Err(error) => describe(error),
            };
            self.steps.push((step.to_owned(), outcome));
            result
        }

        /// Record and require success.
        pub fn ok<T: Serialize>(&mut self, step: &str, result: Result<T, BackendError>) -> T {
            match self.record(step, result) {
                Ok(value) => value,
                Err(error) => panic!("{step}: expected success, got {error}"),
            }
        }

        /// Record and require an API error with this status (and, if given, this code).
        pub fn fails<T: Serialize + std::fmt::Debug>(
            &mut self,
            step: &str,
            result: Result<T, BackendError>,
            status: u16,
            code: Option<&str>,
        ) {
            match self.record(step, result) {
                Ok(value) => panic!("{step}: expected {status}, got success {value:?}"),
                Err(error) => {
                    assert_eq!(error.status(), Some(status), "{step}: {error}");
                    if let Some(code) = code {
                        let codes = error.api().map(wire::ApiError::codes).unwrap_or_default();
                        assert!(
                            codes.iter().any(|c| c.ends_with(code)),
                            "{step}: expected code {code}, got {codes:?} ({error})"
                        );
                    }
                }
            }
        }

        fn normalize(&mut self, value: Value) -> Value {
            match value {
                Value::String(text) if wire::is_object_id(&text) => {
                    let next = format!("<id{}>", self.ids.len() + 1);
                    Value::String(self.ids.entry(text).or_insert(next).clone())
                }
                Value::Array(items) => {
                    Value::Array(items.into_iter().map(|v| self.normalize(v)).collect())
                }
                Value::Object(map) => Value::Object(
                    map.into_iter()
                        .map(|(key, value)| {
                            let value = if key.ends_with("At") && value.is_string() {
                                Value::String("<time>".to_owned())
                            } else if key == "organizationUid" {
                                // Each face has its own organization.
                                Value::String("<org>".to_owned())
                            } else if key == "_cms" {
                                cms_shape(&value)
                            } else {
                                self.normalize(value)
                            };
                            (key, value)
                        })
                        .collect(),
                ),
                other => other,
            }
        }
    }

    /// `_cms` uids are minted by the server; keep only which variant short uids have one.
    fn cms_shape(value: &Value) -> Value {
        let variants: Vec<String> = value
            .get("variants")
            .and_then(Value::as_object)
            .map(|map| map.keys().cloned().collect())
            .unwrap_or_default();
        json!({ "variantGroup": value.get("variantGroup").is_some(), "variants": variants })
    }

    fn describe(error: &BackendError) -> Value {
        match error {
            BackendError::Api { error, .. } => {
                json!({ "status": error.status, "codes": error.codes() })
            }
            BackendError::Transport { .. } => json!({ "error": "transport" }),
            BackendError::Unsupported(what) => json!({ "error": "unsupported", "what": what }),
            BackendError::Decode { message, .. } => {
                json!({ "error": "decode", "message": message })
            }
            BackendError::Local(message) => json!({ "error": "local", "message": message }),
        }
    }

    /// Compare two transcripts step by step; panic at the first difference with both sides.
    pub fn assert_same(scenario: &str, left: (&str, &Transcript), right: (&str, &Transcript)) {
        let (left_name, left) = left;
        let (right_name, right) = right;
        for (index, (a, b)) in left.steps.iter().zip(&right.steps).enumerate() {
            assert_eq!(a.0, b.0, "{scenario}: step {index} names differ");
            if a.1 != b.1 {
                panic!(
                    "{scenario}: step {index} `{}` differs\n{left_name}: {}\n{right_name}: {}",
                    a.0,
                    serde_json::to_string_pretty(&a.1).unwrap_or_default(),
                    serde_json::to_string_pretty(&b.1).unwrap_or_default()
                );
            }
        }
        assert_eq!(
            left.steps.len(),
            right.steps.len(),
            "{scenario}: {left_name} has {} steps, {right_name} {}",
            left.steps.len(),
            right.steps.len()
        );
        assert!(!left.steps.is_empty(), "{scenario}: no steps recorded");
    }

    // ---- inputs -------------------------------------------------------------------------

    pub fn project_input(name: &str, stack: Option<&str>) -> wire::ProjectInput {
        wire::ProjectInput {
            name: name.to_owned(),
            description: format!("{name} project"),
            connected_stack_api_key: stack.map(str::to_owned),
        }
    }

    pub fn attribute_input(key: &str) -> wire::AttributeInput {
        wire::AttributeInput {
            name: key.replace('_', "-"),
            key: key.to_owned(),
            description: format!("{key} attribute"),
        }
    }

    pub fn event_input(key: &str) -> wire::EventInput {
        wire::EventInput {
            key: key.to_owned(),
            description: format!("{key} event"),
        }
    }

    pub fn rule(attribute_uid: &str, value: &str) -> wire::RuleNode {
        wire::RuleNode::Rule(wire::Rule {
            attribute: wire::AttributeReference::Custom {
                reference: attribute_uid.to_owned(),
            },
            attribute_match_condition: "STRING_EQUALS".to_owned(),
            attribute_match_options: Some(wire::MatchOptions {
                kind: "StringMatchOptions".to_owned(),
                value: json!(value),
            }),
            invert_condition: false,
        })
    }

    pub fn audience_input(name: &str, attribute_uid: &str, rules: usize) -> wire::AudienceInput {
        let mut nodes: Vec<wire::RuleNode> = (0..rules)
            .map(|i| rule(attribute_uid, &format!("v{i}")))
            .collect();
        nodes.push(wire::RuleNode::Combination(wire::RuleCombination {
            combination_type: Combination::Or,
            rules: vec![wire::RuleNode::Rule(wire::Rule {
                attribute: wire::AttributeReference::Preset {
                    reference: "DEVICE_TYPE".to_owned(),
                },
                attribute_match_condition: "HAS_ANY_VALUE".to_owned(),
                attribute_match_options: None,
                invert_condition: true,
            })],
        }));
        wire::AudienceInput {
            name: name.to_owned(),
            description: format!("{name} audience"),
            definition: wire::AudienceDefinition {
                kind: "RuleCombination".to_owned(),
                root: wire::RuleCombination {
                    combination_type: Combination::And,
                    rules: nodes,
                },
            },
        }
    }

    pub fn experience_input(name: &str, kind: wire::ExperienceType) -> wire::ExperienceInput {
        wire::ExperienceInput {
            name: name.to_owned(),
            description: format!("{name} experience"),
            kind,
            tags: vec![
                "Env:Prod".to_owned(),
                "env:prod".to_owned(),
                "team_a".to_owned(),
            ],
        }
    }

    pub fn segmented(status: VersionStatus, names: &[&str], audience: &str) -> wire::VersionInput {
        wire::VersionInput {
            status,
            variants: names
                .iter()
                .map(|name| wire::Variant::Segmented {
                    name: (*name).to_owned(),
                    short_uid: None,
                    audiences: vec![audience.to_owned()],
                    lytics_audiences: Vec::new(),
                    audience_combination_type: Combination::Or,
                    extra: wire::Extra::new(),
                })
                .collect(),
            metrics: Vec::new(),
            targeting: None,
            extra: wire::Extra::new(),
        }
    }

    /// The version input that keeps a live version's content and changes its status.
    pub fn with_status(version: &wire::Version, status: VersionStatus) -> wire::VersionInput {
        wire::VersionInput {
            status,
            variants: version.variants.clone(),
            metrics: version.metrics.clone(),
            targeting: version.targeting.clone(),
            extra: wire::Extra::new(),
        }
    }

    fn statuses(versions: &[wire::Version]) -> Vec<VersionStatus> {
        let mut statuses: Vec<VersionStatus> = versions.iter().map(|v| v.status).collect();
        statuses.sort();
        statuses
    }

    // ---- scenarios ----------------------------------------------------------------------

    /// Projects CRUD, the stack filter, duplicate names, the per-org limit.
    pub async fn projects<F: Face>(face: &F) -> Transcript {
        let mut t = Transcript::default();
        let api = face.api(Who::Owner);
        let alpha = t.ok(
            "create alpha",
            api.create_project(&project_input("alpha", Some("blt0001")))
                .await,
        );
        assert_eq!(alpha.connected_stack_api_key.as_deref(), Some("blt0001"));
        t.fails(
            "create alpha again",
            api.create_project(&project_input("alpha", None)).await,
            400,
            Some("PROJECTS.DUPLICATE_NAME"),
        );
        let beta = t.ok(
            "create beta",
            api.create_project(&project_input("beta", None)).await,
        );
        let listed = t.ok("list", api.list_projects().await);
        assert_eq!(listed.len(), 2);
        let one = t.ok(
            "get one project",
            api.backend
                .send(Request::get(format!("/projects/{}", alpha.uid)))
                .await,
        );
        assert_eq!(one["name"], "alpha");
        let filtered: Vec<wire::Project> = serde_json::from_value(
            t.ok(
                "list by stack",
                api.backend
                    .send(Request::get("/projects?connectedStackApiKey=blt0001"))
                    .await,
            ),
        )
        .unwrap_or_default();
        assert_eq!(
            filtered.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["alpha"]
        );
        let mut input = project_input("alpha", None);
        input.description = "changed".to_owned();
        let updated = t.ok(
            "disconnect stack",
            api.update_project(&alpha.uid, &input).await,
        );
        assert_eq!(updated.connected_stack_api_key, None);
        assert_eq!(updated.description, "changed");
        t.ok(
            "connect another stack",
            api.update_project(&alpha.uid, &project_input("alpha", Some("blt0002")))
                .await,
        );
        t.fails(
            "rename onto beta",
            api.update_project(&alpha.uid, &project_input("beta", None))
                .await,
            400,
            Some("DUPLICATE_NAME"),
        );
        t.ok(
            "create gamma",
            api.create_project(&project_input("gamma", None)).await,
        );
        t.fails(
            "create a fourth project",
            api.create_project(&project_input("delta", None)).await,
            400,
            Some("PROJECT_COUNT_EXCEEDED"),
        );
        t.ok("delete beta", api.delete_project(&beta.uid).await);
        t.fails(
            "delete beta again",
            api.delete_project(&beta.uid).await,
            404,
            None,
        );
        let listed = t.ok("list after delete", api.list_projects().await);
        assert_eq!(listed.len(), 2);
        t
    }

    /// The members extension: invite, pending has no rights, accept, role change, remove.
    pub async fn members<F: Face>(face: &F) -> Transcript {
        let mut t = Transcript::default();
        let owner = face.api(Who::Owner);
        let dev = face.api(Who::Dev);
        let project = t.ok(
            "create",
            owner.create_project(&project_input("team", None)).await,
        );
        let members = t.ok("list members", owner.list_members(&project.uid).await);
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].email, Who::Owner.email());
        assert_eq!(members[0].role, ProjectRole::Owner);
        assert_eq!(members[0].status, wire::MemberStatus::Accepted);

        let invite = wire::MemberInput {
            email: "Dev@Example.com".to_owned(),
            role: ProjectRole::Member,
            invitation_message: Some("Welcome!".to_owned()),
        };
        let invited = t.ok(
            "invite dev",
            owner.invite_member(&project.uid, &invite).await,
        );
        assert_eq!(invited.status, wire::MemberStatus::Pending);
        assert_eq!(invited.email, Who::Dev.email());
        t.fails(
            "pending dev reads attributes",
            dev.list::<wire::Attribute>(&project.uid).await,
            403,
            None,
        );
        t.fails(
            "owner accepts dev's invitation",
            owner
                .backend
                .send(Request::new(
                    Method::Post,
                    format!(
                        "/projects/{}/users/{}/accept",
                        project.uid,
                        Who::Dev.email()
                    ),
                ))
                .await,
            403,
            None,
        );
        t.ok(
            "dev accepts",
            dev.backend
                .send(Request::new(
                    Method::Post,
                    format!(
                        "/projects/{}/users/{}/accept",
                        project.uid,
                        Who::Dev.email()
                    ),
                ))
                .await,
        );
        let attributes = t.ok(
            "dev reads attributes",
            dev.list::<wire::Attribute>(&project.uid).await,
        );
        assert_eq!(attributes.len(), wire::PRESET_ATTRIBUTES.len());
        t.fails(
            "dev (member) invites",
            dev.invite_member(
                &project.uid,
                &wire::MemberInput {
                    email: Who::Member.email().to_owned(),
                    role: ProjectRole::Member,
                    invitation_message: None,
                },
            )
            .await,
            403,
            None,
        );
        let promoted = t.ok(
            "promote dev",
            owner
                .update_member(&project.uid, Who::Dev.email(), ProjectRole::Owner)
                .await,
        );
        assert_eq!(promoted.role, ProjectRole::Owner);
        t.ok(
            "dev (owner) updates the project",
            dev.update_project(&project.uid, &project_input("team", Some("blt0009")))
                .await,
        );
        t.ok(
            "demote dev",
            owner
                .update_member(&project.uid, Who::Dev.email(), ProjectRole::Member)
                .await,
        );
        t.fails(
            "dev (member) updates the project",
            dev.update_project(&project.uid, &project_input("team", None))
                .await,
            403,
            None,
        );
        t.ok(
            "remove dev",
            owner.remove_member(&project.uid, Who::Dev.email()).await,
        );
        t.fails(
            "removed dev reads",
            dev.list::<wire::Event>(&project.uid).await,
            403,
            None,
        );
        t.record(
            "remove the last owner",
            owner.remove_member(&project.uid, Who::Owner.email()).await,
        )
        .expect_err("the last owner cannot be removed");
        let members = t.ok(
            "list members at the end",
            owner.list_members(&project.uid).await,
        );
        assert_eq!(members.len(), 1);
        t
    }

    /// Attributes: presets seeded and immutable, custom CRUD, duplicate keys.
    pub async fn attributes<F: Face>(face: &F) -> Transcript {
        let mut t = Transcript::default();
        let api = face.api(Who::Owner);
        let project = t.ok(
            "create project",
            api.create_project(&project_input("a", None)).await,
        );
        let p = project.uid.as_str();
        let listed = t.ok("list presets", api.list::<wire::Attribute>(p).await);
        assert_eq!(listed.len(), wire::PRESET_ATTRIBUTES.len());
        assert!(listed.iter().all(|a| a.kind == wire::AttributeType::Preset));
        let preset = listed[0].clone();

        let tier = t.ok(
            "create",
            api.create::<wire::Attribute>(p, &attribute_input("tier"))
                .await,
        );
        assert_eq!(tier.kind, wire::AttributeType::Custom);
        t.fails(
            "create duplicate key",
            api.create::<wire::Attribute>(p, &attribute_input("tier"))
                .await,
            400,
            Some("DUPLICATE_KEY"),
        );
        let mut input = attribute_input("tier");
        input.description = "changed".to_owned();
        let updated = t.ok(
            "update",
            api.update::<wire::Attribute>(p, &tier.uid, &input).await,
        );
        assert_eq!(updated.description, "changed");
        let preset_update = api
            .update::<wire::Attribute>(p, &preset.uid, &attribute_input("country"))
            .await;
        assert!(preset_update.is_err(), "a preset was updated");
        t.record("update a preset", preset_update).ok();
        let preset_delete = api.delete::<wire::Attribute>(p, &preset.uid).await;
        assert!(preset_delete.is_err(), "a preset was deleted");
        t.record("delete a preset", preset_delete).ok();
        t.fails(
            "update a missing attribute",
            api.update::<wire::Attribute>(p, "ffffffffffffffffffffffff", &input)
                .await,
            404,
            None,
        );
        t.ok("delete", api.delete::<wire::Attribute>(p, &tier.uid).await);
        let listed = t.ok("list at the end", api.list::<wire::Attribute>(p).await);
        assert_eq!(listed.len(), wire::PRESET_ATTRIBUTES.len());
        t.fails(
            "list without project header",
            api.backend.send(Request::get("/attributes")).await,
            400,
            None,
        );
        t
    }

    /// Events CRUD and duplicate keys.
    pub async fn events<F: Face>(face: &F) -> Transcript {
        let mut t = Transcript::default();
        let api = face.api(Who::Owner);
        let project = t.ok(
            "create project",
            api.create_project(&project_input("e", None)).await,
        );
        let p = project.uid.as_str();
        let cart = t.ok(
            "create",
            api.create::<wire::Event>(p, &event_input("add_to_cart"))
                .await,
        );
        t.ok(
            "create second",
            api.create::<wire::Event>(p, &event_input("purchase")).await,
        );
        t.fails(
            "create duplicate",
            api.create::<wire::Event>(p, &event_input("add_to_cart"))
                .await,
            400,
            Some("DUPLICATE_KEY"),
        );
        t.fails(
            "rename onto an existing key",
            api.update::<wire::Event>(p, &cart.uid, &event_input("purchase"))
                .await,
            400,
            Some("DUPLICATE_KEY"),
        );
        let updated = t.ok(
            "update",
            api.update::<wire::Event>(p, &cart.uid, &event_input("cart_add"))
                .await,
        );
        assert_eq!(updated.key, "cart_add");
        let listed = t.ok("list", api.list::<wire::Event>(p).await);
        assert_eq!(listed.len(), 2);
        t.ok("delete", api.delete::<wire::Event>(p, &cart.uid).await);
        t.fails(
            "delete again",
            api.delete::<wire::Event>(p, &cart.uid).await,
            404,
            None,
        );
        let listed = t.ok("list at the end", api.list::<wire::Event>(p).await);
        assert_eq!(listed.len(), 1);
        t
    }

    /// Audiences: nested rule trees round-trip, update, delete, rule limit.
    pub async fn audiences<F: Face>(face: &F) -> Transcript {
        let mut t = Transcript::default();
        let api = face.api(Who::Owner);
        let project = t.ok(
            "create project",
            api.create_project(&project_input("au", None)).await,
        );
        let p = project.uid.as_str();
        let tier = t.ok(
            "attribute",
            api.create::<wire::Attribute>(p, &attribute_input("tier"))
                .await,
        );
        let input = audience_input("gold", &tier.uid, 2);
        let gold = t.ok("create", api.create::<wire::Audience>(p, &input).await);
        assert_eq!(gold.definition.as_ref(), Some(&input.definition));
        let changed = audience_input("gold", &tier.uid, 3);
        let updated = t.ok(
            "update",
            api.update::<wire::Audience>(p, &gold.uid, &changed).await,
        );
        assert_eq!(updated.definition.as_ref(), Some(&changed.definition));
        t.fails(
            "51 rules",
            api.create::<wire::Audience>(
                p,
                &audience_input("huge", &tier.uid, wire::limits::RULES_PER_AUDIENCE),
            )
            .await,
            400,
            Some("RULE_COUNT_EXCEEDED"),
        );
        t.ok(
            "50 rules",
            api.create::<wire::Audience>(
                p,
                &audience_input("big", &tier.uid, wire::limits::RULES_PER_AUDIENCE - 1),
            )
            .await,
        );
        t.record(
            "unknown attribute",
            api.create::<wire::Audience>(p, &audience_input("bad", "ffffffffffffffffffffffff", 1))
                .await,
        )
        .ok();
        let listed = t.ok("list", api.list::<wire::Audience>(p).await);
        assert!(listed.len() >= 2);
        t.ok("delete", api.delete::<wire::Audience>(p, &gold.uid).await);
        t.fails(
            "delete again",
            api.delete::<wire::Audience>(p, &gold.uid).await,
            404,
            None,
        );
        t
    }

    /// Experiences and the version lifecycle.
    pub async fn versions<F: Face>(face: &F) -> Transcript {
        let mut t = Transcript::default();
        let api = face.api(Who::Owner);
        let project = t.ok(
            "create project",
            api.create_project(&project_input("x", None)).await,
        );
        let p = project.uid.as_str();
        let tier = t.ok(
            "attribute",
            api.create::<wire::Attribute>(p, &attribute_input("tier"))
                .await,
        );
        let gold = t.ok(
            "audience",
            api.create::<wire::Audience>(p, &audience_input("gold", &tier.uid, 1))
                .await,
        );
        let hero = t.ok(
            "create experience",
            api.create::<wire::Experience>(
                p,
                &experience_input("hero", wire::ExperienceType::Segmented),
            )
            .await,
        );
        assert_eq!(hero.tags, ["env:prod", "team_a"], "tags are normalized");
        assert!(!hero.latest_version.is_empty(), "creation makes a draft");
        let e = hero.uid.as_str();
        let versions = t.ok("versions after create", api.list_versions(p, e).await);
        assert_eq!(statuses(&versions), [VersionStatus::Draft]);
        let draft = versions[0].clone();
        assert_eq!(draft.uid, hero.latest_version);

        t.fails(
            "second draft",
            api.create_version(p, e, &segmented(VersionStatus::Draft, &["A"], &gold.uid))
                .await,
            400,
            Some("CANNOT_CREATE_VERSION_AS_DRAFT_ALREADY_EXISTS"),
        );
        let filled = t.ok(
            "fill the draft",
            api.update_version(
                p,
                e,
                &draft.uid,
                &segmented(VersionStatus::Draft, &["Gold", "Rest"], &gold.uid),
            )
            .await,
        );
        assert!(
            filled.variants.iter().all(|v| match v {
                wire::Variant::Segmented { short_uid, .. } => short_uid.is_some(),
                wire::Variant::AbTest { short_uid, .. } => short_uid.is_some(),
            }),
            "the server assigns short uids"
        );
        let active = t.ok(
            "activate",
            api.update_version(
                p,
                e,
                &draft.uid,
                &with_status(&filled, VersionStatus::Active),
            )
            .await,
        );
        assert_eq!(active.status, VersionStatus::Active);
        t.fails(
            "edit the active version",
            api.update_version(
                p,
                e,
                &draft.uid,
                &segmented(VersionStatus::Active, &["Other"], &gold.uid),
            )
            .await,
            400,
            Some("CANNOT_UPDATE_LOCKED_VERSION"),
        );
        t.ok(
            "pause",
            api.update_version(
                p,
                e,
                &draft.uid,
                &with_status(&active, VersionStatus::Paused),
            )
            .await,
        );
        t.fails(
            "paused back to draft",
            api.update_version(
                p,
                e,
                &draft.uid,
                &with_status(&active, VersionStatus::Draft),
            )
            .await,
            400,
            Some("CANNOT_MARK_VERSION_AS_DRAFT"),
        );
        t.ok(
            "resume",
            api.update_version(
                p,
                e,
                &draft.uid,
                &with_status(&active, VersionStatus::Active),
            )
            .await,
        );
        let next = t.ok(
            "new draft",
            api.create_version(
                p,
                e,
                &segmented(VersionStatus::Draft, &["Gold2"], &gold.uid),
            )
            .await,
        );
        let next_active = t.ok(
            "activate the new draft",
            api.update_version(p, e, &next.uid, &with_status(&next, VersionStatus::Active))
                .await,
        );
        assert_eq!(next_active.status, VersionStatus::Active);
        let versions = t.ok("versions at the end", api.list_versions(p, e).await);
        assert_eq!(
            statuses(&versions),
            [VersionStatus::Active, VersionStatus::Archived],
            "activation archives the previous active version"
        );
        t.fails(
            "get one version",
            api.backend
                .send(Request::get(format!("/experiences/{e}/versions/{}", next.uid)).project(p))
                .await,
            404,
            None,
        );
        t.fails(
            "delete the active version",
            api.delete_version(p, e, &next.uid).await,
            400,
            Some("CANNOT_DELETE_LOCKED_VERSION"),
        );
        let spare = t.ok(
            "another draft",
            api.create_version(
                p,
                e,
                &segmented(VersionStatus::Draft, &["Spare"], &gold.uid),
            )
            .await,
        );
        t.ok(
            "delete the draft",
            api.delete_version(p, e, &spare.uid).await,
        );
        let mut changed = experience_input("hero", wire::ExperienceType::Segmented);
        changed.description = "new words".to_owned();
        changed.tags = vec!["B".to_owned(), "a".to_owned()];
        let updated = t.ok(
            "update the experience",
            api.update::<wire::Experience>(p, e, &changed).await,
        );
        assert_eq!(updated.description, "new words");
        assert_eq!(updated.tags, ["b", "a"]);
        let fetched = t.ok("get experience", api.get_experience(p, e).await);
        assert_eq!(fetched.status, "ACTIVE");
        assert_eq!(fetched.latest_version, next.uid);

        // A/B test with metrics and targeting.
        let cart = t.ok(
            "event",
            api.create::<wire::Event>(p, &event_input("add_to_cart"))
                .await,
        );
        let ab = t.ok(
            "create ab test",
            api.create::<wire::Experience>(
                p,
                &experience_input("split", wire::ExperienceType::AbTest),
            )
            .await,
        );
        let ab_input = wire::VersionInput {
            status: VersionStatus::Draft,
            variants: ["Control", "Bold"]
                .iter()
                .map(|name| wire::Variant::AbTest {
                    name: (*name).to_owned(),
                    short_uid: None,
                    traffic_distribution: json!(50),
                    extra: wire::Extra::new(),
                })
                .collect(),
            metrics: vec![wire::Metric {
                kind: "Primary".to_owned(),
                event: cart.uid.clone(),
                name: "Add to cart".to_owned(),
                extra: wire::Extra::new(),
            }],
            targeting: Some(wire::Targeting {
                audience: Some(wire::TargetingAudience {
                    audiences: vec![gold.uid.clone()],
                    audience_combination_type: Combination::And,
                    extra: wire::Extra::new(),
                }),
                extra: wire::Extra::new(),
            }),
            extra: wire::Extra::new(),
        };
        let ab_version = t.ok(
            "fill the ab draft",
            api.update_version(p, &ab.uid, &ab.latest_version, &ab_input)
                .await,
        );
        assert_eq!(ab_version.metrics, ab_input.metrics);
        assert_eq!(ab_version.targeting, ab_input.targeting);
        let mut one = ab_input.clone();
        one.variants.truncate(1);
        t.record(
            "ab test with one variant",
            api.update_version(p, &ab.uid, &ab.latest_version, &one)
                .await,
        )
        .ok();
        t.fails(
            "delete the only version",
            api.delete_version(p, &ab.uid, &ab.latest_version).await,
            400,
            Some("CANNOT_DELETE_ONLY_DRAFT"),
        );
        t.ok(
            "delete the active experience",
            api.delete::<wire::Experience>(p, e).await,
        );
        let listed = t.ok("list experiences", api.list::<wire::Experience>(p).await);
        assert_eq!(listed.len(), 1);
        t
    }

    /// Priority: creation order by default, full reorder, partial list rejected.
    pub async fn priority<F: Face>(face: &F) -> Transcript {
        let mut t = Transcript::default();
        let api = face.api(Who::Owner);
        let project = t.ok(
            "create project",
            api.create_project(&project_input("pr", None)).await,
        );
        let p = project.uid.as_str();
        let mut uids = Vec::new();
        for name in ["one", "two", "three"] {
            let created = t.ok(
                name,
                api.create::<wire::Experience>(
                    p,
                    &experience_input(name, wire::ExperienceType::Segmented),
                )
                .await,
            );
            uids.push(created.uid);
        }
        let initial = t.ok("get", api.get_priority(p).await);
        assert_eq!(initial.priority_order, uids, "creation order");
        let mut reversed = uids.clone();
        reversed.reverse();
        let order = wire::Priority {
            priority_order: reversed.clone(),
        };
        let put = t.ok("reverse", api.put_priority(p, &order).await);
        assert_eq!(put.priority_order, reversed);
        t.fails(
            "partial order",
            api.put_priority(
                p,
                &wire::Priority {
                    priority_order: reversed[..2].to_vec(),
                },
            )
            .await,
            400,
            Some("MISSING_EXPERIENCES"),
        );
        let mut unknown = reversed.clone();
        unknown.push("ffffffffffffffffffffffff".to_owned());
        t.record(
            "order with an unknown experience",
            api.put_priority(
                p,
                &wire::Priority {
                    priority_order: unknown,
                },
            )
            .await,
        )
        .expect_err("an unknown experience is rejected");
        t.ok(
            "delete one",
            api.delete::<wire::Experience>(p, &uids[1]).await,
        );
        let after = t.ok("get after delete", api.get_priority(p).await);
        assert_eq!(after.priority_order, [uids[2].clone(), uids[0].clone()]);
        t
    }

    /// Documented limits: tags, variants, custom attributes.
    pub async fn limits<F: Face>(face: &F) -> Transcript {
        let mut t = Transcript::default();
        let api = face.api(Who::Owner);
        let project = t.ok(
            "create project",
            api.create_project(&project_input("lim", None)).await,
        );
        let p = project.uid.as_str();
        let mut input = experience_input("tags", wire::ExperienceType::Segmented);
        input.tags = (0..=wire::limits::TAGS_PER_EXPERIENCE)
            .map(|i| format!("t{i}"))
            .collect();
        t.fails(
            "11 tags",
            api.create::<wire::Experience>(p, &input).await,
            400,
            Some("TAG_COUNT_EXCEEDED"),
        );
        input.tags = vec!["x".repeat(wire::limits::TAG_LENGTH + 1)];
        t.fails(
            "33-char tag",
            api.create::<wire::Experience>(p, &input).await,
            400,
            Some("TAG_LENGTH_EXCEEDED"),
        );
        input.tags = vec!["bad tag!".to_owned()];
        t.record(
            "tag with bad characters",
            api.create::<wire::Experience>(p, &input).await,
        )
        .expect_err("tag characters are checked");

        let tier = t.ok(
            "attribute",
            api.create::<wire::Attribute>(p, &attribute_input("tier"))
                .await,
        );
        let gold = t.ok(
            "audience",
            api.create::<wire::Audience>(p, &audience_input("gold", &tier.uid, 1))
                .await,
        );
        let exp = t.ok(
            "experience",
            api.create::<wire::Experience>(
                p,
                &experience_input("many", wire::ExperienceType::Segmented),
            )
            .await,
        );
        let names: Vec<String> = (0..=wire::limits::VARIANTS_PER_EXPERIENCE)
            .map(|i| format!("v{i}"))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        t.record(
            "21 variants",
            api.update_version(
                p,
                &exp.uid,
                &exp.latest_version,
                &segmented(VersionStatus::Draft, &names, &gold.uid),
            )
            .await,
        )
        .expect_err("more than 20 variants are rejected");
        t.ok(
            "20 variants",
            api.update_version(
                p,
                &exp.uid,
                &exp.latest_version,
                &segmented(VersionStatus::Draft, &names[1..], &gold.uid),
            )
            .await,
        );

        for i in 1..wire::limits::ATTRIBUTES_PER_PROJECT {
            api.create::<wire::Attribute>(p, &attribute_input(&format!("a{i}")))
                .await
                .unwrap_or_else(|error| panic!("attribute {i}: {error}"));
        }
        t.fails(
            "101st custom attribute",
            api.create::<wire::Attribute>(p, &attribute_input("one_too_many"))
                .await,
            400,
            Some("ATTRIBUTE_COUNT_EXCEEDED"),
        );
        t
    }

    /// `observe` reads the same organization the same way on every face.
    pub async fn observe<F: Face>(face: &F) -> Transcript {
        let mut t = Transcript::default();
        let api = face.api(Who::Owner);
        for name in ["obs-a", "obs-b"] {
            let project = t.ok(name, api.create_project(&project_input(name, None)).await);
            let p = project.uid.as_str();
            let tier = t.ok(
                "attribute",
                api.create::<wire::Attribute>(p, &attribute_input("tier"))
                    .await,
            );
            t.ok(
                "event",
                api.create::<wire::Event>(p, &event_input("buy")).await,
            );
            let gold = t.ok(
                "audience",
                api.create::<wire::Audience>(p, &audience_input("gold", &tier.uid, 1))
                    .await,
            );
            for exp in ["e1", "e2"] {
                let created = t.ok(
                    exp,
                    api.create::<wire::Experience>(
                        p,
                        &experience_input(exp, wire::ExperienceType::Segmented),
                    )
                    .await,
                );
                t.ok(
                    "fill",
                    api.update_version(
                        p,
                        &created.uid,
                        &created.latest_version,
                        &segmented(VersionStatus::Active, &["Gold"], &gold.uid),
                    )
                    .await,
                );
            }
        }
        let state = pzctl::live::observe(api, None).await;
        let state = t.ok("observe", state.map(|state| summarize(&state)));
        assert_eq!(state["projects"].as_object().map(|m| m.len()), Some(2));
        assert_eq!(state["principal"]["email"], Who::Owner.email());
        assert_eq!(state["principal"]["role"], "owner");
        let only = ["obs-b".to_owned()];
        let state = pzctl::live::observe(api, Some(&only)).await;
        let state = t.ok("observe only obs-b", state.map(|state| summarize(&state)));
        assert_eq!(
            state["projects"]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["obs-b".to_owned()])
        );
        t
    }

    /// The three roles of the permission table and the user who holds each in the fixture.
    #[derive(Clone, Copy, Debug)]
    pub enum Role {
        OrgAdmin,
        ProjectOwner,
        ProjectMember,
    }

    impl Role {
        pub const ALL: [Role; 3] = [Role::OrgAdmin, Role::ProjectOwner, Role::ProjectMember];

        fn who(self) -> Who {
            match self {
                // admin@ is an organization admin with no project role.
                Role::OrgAdmin => Who::Admin,
                // member@ is an organization member, project OWNER in the fixture.
                Role::ProjectOwner => Who::Member,
                // dev@ is an organization member, project MEMBER in the fixture.
                Role::ProjectMember => Who::Dev,
            }
        }
    }

    /// Who may do it: `Manage` needs org owner/admin or project owner; `Use` any project role;
    /// `OrgAdmin` only org owner/admin.
    #[derive(Clone, Copy, Debug)]
    pub enum Needs {
        OrgAdmin,
        Manage,
        Use,
    }

    impl Needs {
        fn allows(self, role: Role) -> bool {
            match (self, role) {
                (_, Role::OrgAdmin) => true,
                (Needs::OrgAdmin, _) => false,
                (Needs::Manage, Role::ProjectOwner) => true,
                (Needs::Manage, Role::ProjectMember) => false,
                (Needs::Use, _) => true,
            }
        }
    }

    /// The permission table: every resource/action row and who it needs.
    pub const PERMISSIONS: &[(&str, Needs)] = &[
        ("project.create", Needs::OrgAdmin),
        ("project.update", Needs::Manage),
        ("project.delete", Needs::Manage),
        ("stack.connect", Needs::Manage),
        ("stack.disconnect", Needs::Manage),
        ("member.invite", Needs::Manage),
        ("member.update", Needs::Manage),
        ("member.remove", Needs::Manage),
        ("attribute.create", Needs::Use),
        ("attribute.update", Needs::Use),
        ("attribute.delete", Needs::Use),
        ("event.create", Needs::Use),
        ("event.update", Needs::Use),
        ("event.delete", Needs::Use),
        ("audience.create", Needs::Use),
        ("audience.update", Needs::Use),
        ("audience.delete", Needs::Use),
        ("experience.create", Needs::Use),
        ("experience.update", Needs::Use),
        ("experience.delete", Needs::Use),
        ("version.update", Needs::Use),
        ("priority.update", Needs::Use),
    ];

    struct Fixture {
        project: String,
        attribute: String,
        event: String,
        audience: String,
        experience: String,
        draft: String,
    }

    async fn accept<F: Face>(face: &F, project: &str, who: Who) -> Result<Value, BackendError> {
        face.api(who)
            .backend
            .send(Request::new(
                Method::Post,
                format!("/projects/{project}/users/{}/accept", who.email()),
            ))
            .await
    }

    /// A project with a stack, member@ as accepted OWNER, dev@ as accepted MEMBER, and one of
    /// each resource. Panics on any failure: the fixture is not under test.
    async fn fixture<F: Face>(face: &F) -> Fixture {
        let owner = face.api(Who::Owner);
        let project = owner
            .create_project(&project_input("perm", Some("blt_setup")))
            .await
            .expect("fixture project");
        let p = project.uid.as_str();
        for (who, role) in [
            (Who::Member, ProjectRole::Owner),
            (Who::Dev, ProjectRole::Member),
        ] {
            let input = wire::MemberInput {
                email: who.email().to_owned(),
                role,
                invitation_message: None,
            };
            owner
                .invite_member(p, &input)
                .await
                .expect("fixture invite");
            accept(face, p, who).await.expect("fixture accept");
        }
        let attribute = owner
            .create::<wire::Attribute>(p, &attribute_input("tier"))
            .await
            .expect("fixture attribute");
        let event = owner
            .create::<wire::Event>(p, &event_input("buy"))
            .await
            .expect("fixture event");
        let audience = owner
            .create::<wire::Audience>(p, &audience_input("gold", &attribute.uid, 1))
            .await
            .expect("fixture audience");
        let experience = owner
            .create::<wire::Experience>(
                p,
                &experience_input("hero", wire::ExperienceType::Segmented),
            )
            .await
            .expect("fixture experience");
        Fixture {
            project: project.uid,
            attribute: attribute.uid,
            event: event.uid,
            audience: audience.uid,
            draft: experience.latest_version,
            experience: experience.uid,
        }
    }

    async fn attempt<B: Backend>(
        api: &Api<B>,
        action: &str,
        f: &Fixture,
    ) -> Result<(), BackendError> {
        let p = f.project.as_str();
        fn unit<T>(result: Result<T, BackendError>) -> Result<(), BackendError> {
            result.map(|_| ())
        }
        match action {
            "project.create" => unit(api.create_project(&project_input("perm2", None)).await),
            "project.update" => unit(
                api.update_project(p, &project_input("perm-renamed", Some("blt_setup")))
                    .await,
            ),
            "project.delete" => api.delete_project(p).await,
            "stack.connect" => unit(
                api.update_project(p, &project_input("perm", Some("blt_other")))
                    .await,
            ),
            "stack.disconnect" => unit(api.update_project(p, &project_input("perm", None)).await),
            "member.invite" => unit(
                api.invite_member(
                    p,
                    &wire::MemberInput {
                        email: Who::Admin.email().to_owned(),
                        role: ProjectRole::Member,
                        invitation_message: None,
                    },
                )
                .await,
            ),
            "member.update" => unit(
                api.update_member(p, Who::Owner.email(), ProjectRole::Member)
                    .await,
            ),
            "member.remove" => api.remove_member(p, Who::Owner.email()).await,
            "attribute.create" => unit(
                api.create::<wire::Attribute>(p, &attribute_input("plan"))
                    .await,
            ),
            "attribute.update" => unit(
                api.update::<wire::Attribute>(p, &f.attribute, &attribute_input("tier2"))
                    .await,
            ),
            "attribute.delete" => {
                // The audience uses the attribute; delete an unused one instead.
                let spare = api
                    .create::<wire::Attribute>(p, &attribute_input("spare"))
                    .await?;
                api.delete::<wire::Attribute>(p, &spare.uid).await
            }
            "event.create" => unit(api.create::<wire::Event>(p, &event_input("sell")).await),
            "event.update" => unit(
                api.update::<wire::Event>(p, &f.event, &event_input("buy2"))
                    .await,
            ),
            "event.delete" => api.delete::<wire::Event>(p, &f.event).await,
            "audience.create" => unit(
                api.create::<wire::Audience>(p, &audience_input("silver", &f.attribute, 1))
                    .await,
            ),
            "audience.update" => unit(
                api.update::<wire::Audience>(
                    p,
                    &f.audience,
                    &audience_input("gold", &f.attribute, 2),
                )
                .await,
            ),
            "audience.delete" => api.delete::<wire::Audience>(p, &f.audience).await,
            "experience.create" => unit(
                api.create::<wire::Experience>(
                    p,
                    &experience_input("other", wire::ExperienceType::Segmented),
                )
                .await,
            ),
            "experience.update" => unit(
                api.update::<wire::Experience>(
                    p,
                    &f.experience,
                    &experience_input("hero2", wire::ExperienceType::Segmented),
                )
                .await,
            ),
            "experience.delete" => api.delete::<wire::Experience>(p, &f.experience).await,
            "version.update" => unit(
                api.update_version(
                    p,
                    &f.experience,
                    &f.draft,
                    &segmented(VersionStatus::Draft, &["Gold"], &f.audience),
                )
                .await,
            ),
            "priority.update" => unit(
                api.put_priority(
                    p,
                    &wire::Priority {
                        priority_order: vec![f.experience.clone()],
                    },
                )
                .await,
            ),
            other => Err(BackendError::Local(format!("no such action {other}"))),
        }
    }

    /// Delete every project (as the organization owner) so the next cell starts clean.
    async fn clean<F: Face>(face: &F) {
        let owner = face.api(Who::Owner);
        for project in owner.list_projects().await.expect("list for cleanup") {
            owner
                .delete_project(&project.uid)
                .await
                .expect("delete for cleanup");
        }
    }

    /// Every (action, role) cell of the permission table, each on a fresh fixture.
    pub async fn permissions<F: Face>(face: &F) -> Transcript {
        let mut t = Transcript::default();
        let mut wrong = Vec::new();
        for (action, needs) in PERMISSIONS {
            for role in Role::ALL {
                let f = fixture(face).await;
                let result = attempt(face.api(role.who()), action, &f).await;
                let expected = needs.allows(role);
                let step = format!("{action} as {role:?}");
                match (&result, expected) {
                    (Ok(()), true) => {}
                    (Err(error), false) if error.status() == Some(403) => {}
                    _ => wrong.push(format!(
                        "{step}: expected {}, got {}",
                        if expected { "allow" } else { "403" },
                        match &result {
                            Ok(()) => "success".to_owned(),
                            Err(error) => error.to_string(),
                        }
                    )),
                }
                t.record(&step, result).ok();
                clean(face).await;
            }
        }
        assert_eq!(t.steps.len(), PERMISSIONS.len() * 3);
        assert!(
            wrong.is_empty(),
            "permission table mismatches:\n{}",
            wrong.join("\n")
        );
        t
    }

    /// A comparable picture of a live state (`LiveState` is not serializable on purpose).
    pub fn summarize(state: &pzctl::model::LiveState) -> Value {
        let projects: serde_json::Map<String, Value> = state
            .projects
            .iter()
            .map(|(name, live)| {
                let experiences: Vec<Value> = live
                    .experiences
                    .iter()
                    .map(|e| {
                        json!({
                            "experience": e.experience,
                            "versions": e.versions,
                        })
                    })
                    .collect();
                (
                    name.clone(),
                    json!({
                        "project": live.project,
                        "members": live.members,
                        "attributes": live.attributes,
                        "events": live.events,
                        "audiences": live.audiences,
                        "experiences": experiences,
                        "priority": live.priority,
                    }),
                )
            })
            .collect();
        json!({
            "principal": state.principal.as_ref().map(|p| json!({"email": p.email, "role": p.org_role})),
            "projects": projects,
        })
    }
}

/// The faces the suite runs on.
mod faces {
    use std::sync::{Arc, Mutex};

    use pzctl::live::embedded::EmbeddedBackend;
    use pzctl::live::{Api, Backend, BackendError, Request};
    use pzctl::store::{Limits, Store};
    use pzctl::wire;
    use serde_json::Value;

    use pzctl::emulator::{EmulatorConfig, EmulatorHandle};
    use pzctl::live::http::HttpBackend;

    use super::suite::{Face, Who};
    use crate::support::{TestContext, emulator, http_backend};

    fn default_users() -> Vec<wire::User> {
        let role = |who: Who| match who {
            Who::Owner => wire::OrgRole::Owner,
            Who::Admin => wire::OrgRole::Admin,
            Who::Member | Who::Dev => wire::OrgRole::Member,
        };
        Who::ALL
            .iter()
            .map(|who| wire::User {
                email: who.email().to_owned(),
                organization_role: role(*who),
            })
            .collect()
    }

    /// The store in process, dispatching as a chosen user (no disk, no HTTP).
    pub struct StoreBackend {
        store: Arc<Mutex<Store>>,
        actor: &'static str,
    }

    impl Backend for StoreBackend {
        async fn send(&self, request: Request) -> Result<Value, BackendError> {
            let mut store = self
                .store
                .lock()
                .map_err(|_| BackendError::Local("store lock poisoned".to_owned()))?;
            store
                .dispatch(self.actor, &request)
                .map_err(|error| BackendError::Api {
                    method: request.method.as_str(),
                    path: request.path.clone(),
                    error,
                })
        }

        fn supports_members(&self) -> bool {
            true
        }

        fn supports_cma(&self) -> bool {
            true
        }

        fn describe(&self) -> String {
            format!("in-process store as {}", self.actor)
        }
    }

    pub struct StoreFace {
        apis: Vec<Api<StoreBackend>>,
    }

    impl StoreFace {
        pub fn new() -> Self {
            let store = Arc::new(Mutex::new(Store::new(
                "blt0rg",
                default_users(),
                Limits::default(),
            )));
            let apis = Who::ALL
                .iter()
                .map(|who| {
                    Api::new(StoreBackend {
                        store: Arc::clone(&store),
                        actor: who.email(),
                    })
                })
                .collect();
            StoreFace { apis }
        }
    }

    fn index(who: Who) -> usize {
        Who::ALL.iter().position(|w| *w == who).unwrap_or(0)
    }

    impl Face for StoreFace {
        type B = StoreBackend;
        fn api(&self, who: Who) -> &Api<StoreBackend> {
            &self.apis[index(who)]
        }
    }

    /// The embedded local organization in a temp dir, one backend per user. The organization
    /// is seeded with the default users file's roles (opening as an unknown user would add
    /// them as organization owners).
    pub struct EmbeddedFace {
        _context: TestContext,
        apis: Vec<Api<EmbeddedBackend>>,
    }

    impl EmbeddedFace {
        pub fn new() -> Self {
            let context = TestContext::new();
            let store = Store::new("local", default_users(), Limits::default());
            let state = serde_json::to_vec_pretty(&store.to_json()).unwrap();
            std::fs::write(context.path().join("state.json"), state).unwrap();
            let apis = Who::ALL
                .iter()
                .map(|who| Api::new(EmbeddedBackend::open_as(context.path(), who.email()).unwrap()))
                .collect();
            EmbeddedFace {
                _context: context,
                apis,
            }
        }
    }

    /// The emulator over HTTP on 127.0.0.1:0, one client per user token.
    pub struct HttpFace {
        /// Kept so the emulator runs as long as the face.
        _emulator: EmulatorHandle,
        apis: Vec<Api<HttpBackend>>,
    }

    impl HttpFace {
        pub fn new() -> Self {
            Self::with_config(EmulatorConfig::with_default_users())
        }

        pub fn with_config(config: EmulatorConfig) -> Self {
            let emulator = emulator(config);
            let apis = Who::ALL
                .iter()
                .map(|who| Api::new(http_backend(&emulator.url(), who.token())))
                .collect();
            HttpFace {
                _emulator: emulator,
                apis,
            }
        }
    }

    impl Face for HttpFace {
        type B = HttpBackend;
        fn api(&self, who: Who) -> &Api<HttpBackend> {
            &self.apis[index(who)]
        }
    }

    impl Face for EmbeddedFace {
        type B = EmbeddedBackend;
        fn api(&self, who: Who) -> &Api<EmbeddedBackend> {
            &self.apis[index(who)]
        }
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod cross_face {
            $(
                #[tokio::test]
                async fn $name() {
                    let started = std::time::Instant::now();
                    let store = super::suite::$name(&super::faces::StoreFace::new()).await;
                    let store_time = started.elapsed();
                    let started = std::time::Instant::now();
                    let embedded = super::suite::$name(&super::faces::EmbeddedFace::new()).await;
                    let embedded_time = started.elapsed();
                    let started = std::time::Instant::now();
                    let http = super::suite::$name(&super::faces::HttpFace::new()).await;
                    let http_time = started.elapsed();
                    eprintln!(
                        "{}: store {store_time:?}, embedded {embedded_time:?}, http {http_time:?}",
                        stringify!($name)
                    );
                    super::suite::assert_same(
                        stringify!($name),
                        ("store", &store),
                        ("embedded", &embedded),
                    );
                    super::suite::assert_same(
                        stringify!($name),
                        ("embedded", &embedded),
                        ("http", &http),
                    );
                }
            )*
        }
    };
}

conformance!(
    projects,
    members,
    attributes,
    events,
    audiences,
    versions,
    priority,
    limits,
    observe,
    permissions,
);

/// The HTTP client against the emulator: fault injection (rate limits, 5xx, dropped answers),
/// authentication, pacing and request counts.
mod faults {
    use std::time::{Duration, Instant};

    use pzctl::emulator::EmulatorConfig;
    use pzctl::live::http::HttpBackend;
    use pzctl::live::retry::RetryPolicy;
    use pzctl::live::{Api, Backend, BackendError, Method, Request};

    use super::suite::{Who, project_input};
    use crate::support::{emulator, fast_config};

    /// The HTTP client with a caller's retry layer around it, as observe and apply use it:
    /// GET, PUT and DELETE through the policy, a POST sent once.
    struct Retrying {
        http: HttpBackend,
        policy: RetryPolicy,
    }

    impl Backend for Retrying {
        async fn send(&self, request: Request) -> Result<serde_json::Value, BackendError> {
            if request.method == Method::Post {
                return self.http.send(request).await;
            }
            pzctl::retry_idempotent!(self.policy, self.http.send(request.clone()).await)
        }

        fn supports_members(&self) -> bool {
            self.http.supports_members()
        }

        fn supports_cma(&self) -> bool {
            self.http.supports_cma()
        }

        fn describe(&self) -> String {
            self.http.describe()
        }
    }

    impl Retrying {
        fn stats(&self) -> pzctl::live::http::ClientStats {
            self.http.stats()
        }
    }

    fn client(url: &str, max_retries: u32) -> Api<Retrying> {
        let config = fast_config(url, Some(Who::Owner.token()));
        Api::new(Retrying {
            http: HttpBackend::new(config).unwrap(),
            policy: RetryPolicy::fast().with_max_attempts(max_retries + 1),
        })
    }

    #[tokio::test]
    async fn gets_and_puts_survive_server_faults() {
        let mut config = EmulatorConfig::with_default_users();
        config.fault_rate = 0.3;
        config.seed = 7;
        let emulator = emulator(config);
        let api = client(&emulator.url(), 12);

        // A POST is not retried; the caller looks before it creates again. Injected 5xx come
        // before processing, so the look finds nothing and the create is repeated.
        let project = loop {
            match api.create_project(&project_input("faulty", None)).await {
                Ok(project) => break project,
                Err(error) => {
                    assert!(error.status().is_some_and(|s| s >= 500), "{error}");
                    let listed = api.list_projects().await.unwrap();
                    assert!(listed.iter().all(|p| p.name != "faulty"));
                }
            }
        };
        for round in 0..15 {
            let mut input = project_input("faulty", None);
            input.description = format!("round {round}");
            let updated = api.update_project(&project.uid, &input).await.unwrap();
            assert_eq!(updated.description, input.description);
            let listed = api.list_projects().await.unwrap();
            assert_eq!(listed.len(), 1);
        }
        let state = pzctl::live::observe(&api, None).await.unwrap();
        assert_eq!(state.projects.len(), 1);

        let client = api.backend.stats();
        let server = emulator.stats();
        assert!(server.server_errors > 0, "no fault was injected");
        assert!(api.backend.policy.retries() > 0, "nothing was retried");
        assert_eq!(
            client.requests, server.requests,
            "every attempt reached the emulator"
        );
    }

    #[tokio::test]
    async fn rate_limited_calls_wait_for_retry_after() {
        let mut config = EmulatorConfig::with_default_users();
        config.rate_limit = Some(5.0);
        let emulator = emulator(config);
        let api = client(&emulator.url(), 5);

        let started = Instant::now();
        for _ in 0..12 {
            api.list_projects().await.unwrap();
        }
        let elapsed = started.elapsed();
        let stats = api.backend.stats();
        assert!(stats.rate_limited >= 1, "the emulator never said 429");
        assert_eq!(stats.rate_limited, emulator.stats().rate_limited);
        // The emulator says `Retry-After: 1` (at least); each 429 costs a full second.
        let floor = Duration::from_millis(950) * u32::try_from(stats.rate_limited).unwrap();
        assert!(
            elapsed >= floor,
            "{} 429s but only {elapsed:?}",
            stats.rate_limited
        );
        eprintln!(
            "12 GETs at 5 rps: {elapsed:?}, {} x 429",
            stats.rate_limited
        );
    }

    #[tokio::test]
    async fn pacing_stays_under_the_rate_limit() {
        let mut config = EmulatorConfig::with_default_users();
        config.rate_limit = Some(20.0);
        let emulator = emulator(config);
        let mut client_config = fast_config(&emulator.url(), Some(Who::Owner.token()));
        client_config.requests_per_second = 20.0;
        let api = Api::new(HttpBackend::new(client_config).unwrap());
        let started = Instant::now();
        let reads = async {
            for _ in 0..15 {
                api.list_projects().await.unwrap();
            }
        };
        // Two concurrent streams share one limiter.
        tokio::join!(reads, async {
            for _ in 0..15 {
                api.current_user().await.unwrap();
            }
        });
        let elapsed = started.elapsed();
        assert_eq!(
            emulator.stats().rate_limited,
            0,
            "paced calls were rate limited"
        );
        assert!(
            elapsed >= Duration::from_millis(1400),
            "30 calls at 20 rps took {elapsed:?}"
        );
    }

    #[tokio::test]
    async fn dropped_post_is_a_transport_error_and_is_sent_once() {
        let mut config = EmulatorConfig::with_default_users();
        config.drop_rate = 1.0;
        let emulator = emulator(config);
        let api = client(&emulator.url(), 3);

        let error = api
            .create_project(&project_input("lost", None))
            .await
            .unwrap_err();
        assert!(matches!(error, BackendError::Transport { .. }), "{error:?}");
        assert!(error.to_string().contains("POST /projects"), "{error}");
        let stats = emulator.stats();
        assert_eq!(
            (stats.requests, stats.drops),
            (1, 1),
            "the POST was sent once"
        );
        // The answer was lost but the create happened: callers must look before repeating.
        let state = emulator.state().to_string();
        assert!(
            state.contains("\"lost\""),
            "the dropped create did not happen"
        );

        let error = api.list_projects().await.unwrap_err();
        assert!(matches!(error, BackendError::Transport { .. }), "{error:?}");
        assert_eq!(
            emulator.stats().requests,
            1 + 4,
            "a GET is tried 1 + 3 times"
        );
    }

    #[tokio::test]
    async fn unknown_or_missing_tokens_are_401_without_echoing_the_token() {
        let emulator = crate::support::default_emulator();
        for token in [Some("nope-SECRET-token"), None] {
            let api = Api::new(HttpBackend::new(fast_config(&emulator.url(), token)).unwrap());
            let error = api.list_projects().await.unwrap_err();
            assert_eq!(error.status(), Some(401), "{error}");
            let text = format!("{error} {error:?}");
            assert!(text.contains("not allowed in here"), "{text}");
            assert!(!text.contains("nope-SECRET-token"), "{text}");
        }
        assert_eq!(emulator.stats().requests, 2, "401 is not retried");
    }

    #[tokio::test]
    async fn observe_reads_list_endpoints_only_at_the_default_pace() {
        let emulator = crate::support::default_emulator();
        let setup = client(&emulator.url(), 0);
        for name in ["shop", "blog"] {
            let project = setup
                .create_project(&project_input(name, None))
                .await
                .unwrap();
            for exp in ["e1", "e2", "e3"] {
                setup
                    .create::<pzctl::wire::Experience>(
                        &project.uid,
                        &super::suite::experience_input(exp, pzctl::wire::ExperienceType::AbTest),
                    )
                    .await
                    .unwrap();
            }
        }
        let before = emulator.stats().requests;

        // Default pacing: 10 requests per second.
        let mut config = fast_config(&emulator.url(), Some(Who::Owner.token()));
        config.requests_per_second = 10.0;
        let api = Api::new(HttpBackend::new(config).unwrap());
        let started = Instant::now();
        let state = pzctl::live::observe(&api, None).await.unwrap();
        let elapsed = started.elapsed();

        // GET /user + GET /projects, six lists per project, one versions list per experience.
        let expected = 2 + 2 * 6 + 2 * 3;
        assert_eq!(api.backend.stats().requests, expected);
        assert_eq!(emulator.stats().requests - before, expected);
        assert_eq!(state.projects.len(), 2);
        assert!(state.projects.values().all(|p| p.experiences.len() == 3
            && p.experiences.iter().all(|e| e.versions.len() == 1)
            && p.members.as_ref().is_some_and(|m| m.len() == 1)
            && p.priority.len() == 3));
        // 20 calls at 10 per second: the first is free, 19 wait 100 ms each.
        assert!(elapsed >= Duration::from_millis(1850), "{elapsed:?}");
        eprintln!(
            "observe of 2 projects x 3 experiences at 10 rps: {expected} requests in {elapsed:?}"
        );
    }

    #[tokio::test]
    async fn gets_and_puts_survive_dropped_answers() {
        let mut config = EmulatorConfig::with_default_users();
        config.drop_rate = 0.4;
        config.seed = 3;
        let emulator = emulator(config);
        let api = client(&emulator.url(), 15);
        for _ in 0..10 {
            assert!(api.list_projects().await.unwrap().is_empty());
        }
        // A dropped create did happen: look before creating again, never duplicate.
        let project = loop {
            match api.create_project(&project_input("dropped", None)).await {
                Ok(project) => break project,
                Err(BackendError::Transport { .. }) => {
                    let listed = api.list_projects().await.unwrap();
                    if let Some(project) = listed.into_iter().find(|p| p.name == "dropped") {
                        break project;
                    }
                }
                Err(error) => panic!("unexpected {error}"),
            }
        };
        for round in 0..10 {
            let mut input = project_input("dropped", None);
            input.description = format!("round {round}");
            // A PUT whose answer was lost is simply sent again.
            api.update_project(&project.uid, &input).await.unwrap();
        }
        let listed = api.list_projects().await.unwrap();
        assert_eq!(listed.len(), 1, "no duplicate project");
        assert_eq!(listed[0].description, "round 9");
        assert!(emulator.stats().drops > 0, "nothing was dropped");
        assert!(api.backend.policy.retries() > 0);
    }
}

mod pacing {
    use std::time::{Duration, Instant};

    use clap::Parser;
    use pzctl::cli::{Cli, Target, select_with};
    use pzctl::live::{Backend, Request};

    use crate::support::default_emulator;

    /// The target the command line `pzctl ARGS… plan` selects, with the owner's token and
    /// `extra_env` as the only environment.
    fn target(args: &[&str], extra_env: &[(&str, &str)]) -> Target {
        let mut argv = vec!["pzctl"];
        argv.extend_from_slice(args);
        argv.push("plan");
        let cli = Cli::try_parse_from(argv).unwrap();
        let env = |name: &str| {
            if name == "CONTENTSTACK_AUTHTOKEN" {
                return Some("owner-token".to_owned());
            }
            extra_env
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        select_with(&cli.global, &env).unwrap()
    }

    /// Send `count` GETs one after the other; returns the elapsed time and the client's count.
    async fn gets(target: &Target, count: u64) -> (Duration, u64) {
        let Target::Http(backend) = target else {
            panic!("an --endpoint must select the HTTP client, got {target:?}");
        };
        let started = Instant::now();
        for _ in 0..count {
            target.send(Request::get("/projects")).await.unwrap();
        }
        (started.elapsed(), backend.stats().requests)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn default_pacing_is_ten_per_second() {
        let emulator = default_emulator();
        let url = emulator.url();
        let target = target(&["--endpoint", &url], &[]);
        let before = emulator.stats().requests;
        let (elapsed, sent) = gets(&target, 20).await;
        // 20 calls at 10 per second: the first is free, 19 wait 100 ms each (1.9 s).
        assert!(
            elapsed >= Duration::from_millis(1500),
            "took only {elapsed:?}"
        );
        assert_eq!(sent, 20);
        assert_eq!(emulator.stats().requests - before, 20);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rate_limit_flag_raises_the_pace() {
        let emulator = default_emulator();
        let url = emulator.url();
        let target = target(&["--endpoint", &url, "--rate-limit", "50"], &[]);
        let (elapsed, sent) = gets(&target, 50).await;
        // 49 waits of 20 ms (0.98 s) instead of 49 of 100 ms (4.9 s) at the default.
        assert!(
            elapsed >= Duration::from_millis(800),
            "not paced: {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_millis(3500),
            "paced too slowly: {elapsed:?}"
        );
        assert_eq!(sent, 50);
        assert_eq!(emulator.stats().rate_limited, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn zero_or_unlimited_turns_pacing_off_and_the_flag_beats_the_env() {
        let emulator = default_emulator();
        let url = emulator.url();
        // The environment says unlimited; the flag wins over it.
        let env = [("PZCTL_RATE_LIMIT", "unlimited")];
        let unpaced = target(&["--endpoint", &url], &env);
        let (elapsed, sent) = gets(&unpaced, 50).await;
        assert!(
            elapsed < Duration::from_millis(1000),
            "still paced: {elapsed:?}"
        );
        assert_eq!(sent, 50);
        let zero = target(&["--rate-limit", "0", "--endpoint", &url], &[]);
        let (elapsed, _) = gets(&zero, 50).await;
        assert!(
            elapsed < Duration::from_millis(1000),
            "still paced: {elapsed:?}"
        );
        let flagged = target(&["--endpoint", &url, "--rate-limit", "20"], &env);
        let (elapsed, _) = gets(&flagged, 11).await;
        // Ten waits of 50 ms.
        assert!(
            elapsed >= Duration::from_millis(400),
            "not paced: {elapsed:?}"
        );
    }

    #[test]
    fn invalid_rate_limits_are_refused_clearly() {
        for bad in ["-3", "fast", "NaN", "inf"] {
            let flag = format!("--rate-limit={bad}");
            let error = Cli::try_parse_from(["pzctl", flag.as_str(), "plan"])
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("--rate-limit") && error.contains("positive number"),
                "{bad}: {error}"
            );
        }
        let Err(error) = select_with(
            &Cli::try_parse_from(["pzctl", "--endpoint", "http://127.0.0.1:1", "plan"])
                .unwrap()
                .global,
            &|name: &str| match name {
                "CONTENTSTACK_AUTHTOKEN" => Some("owner-token".to_owned()),
                "PZCTL_RATE_LIMIT" => Some("-2".to_owned()),
                _ => None,
            },
        ) else {
            panic!("a negative PZCTL_RATE_LIMIT was accepted");
        };
        let message = error.to_string();
        assert!(
            message.contains("PZCTL_RATE_LIMIT") && message.contains("-2"),
            "{message}"
        );
    }

    #[test]
    fn emulator_keeps_its_own_rate_limit() {
        use pzctl::cli::Command;
        let cli = Cli::try_parse_from(["pzctl", "emulator"]).unwrap();
        let Command::Emulator(args) = cli.command else {
            panic!("not the emulator");
        };
        assert_eq!(
            args.rate_limit, None,
            "the client default leaked into the emulator"
        );
        let cli = Cli::try_parse_from(["pzctl", "emulator", "--rate-limit", "5"]).unwrap();
        let Command::Emulator(args) = cli.command else {
            panic!("not the emulator");
        };
        assert_eq!(args.rate_limit, Some(5.0));
    }
}
