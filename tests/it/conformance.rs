//! Integration tests: conformance.
//!
//! `client`: the HTTP client's wire behaviour against a scripted server (headers, bodies,
//! retries, pacing, errors, secrecy).

mod client {
    use std::time::{Duration, Instant};

    use pzctl::live::http::{Credentials, HttpBackend, Secret};
    use pzctl::live::{Api, Backend, BackendError, Method, Request};
    use pzctl::wire;
    use serde_json::json;

    use crate::support::{Reply, ScriptedServer, black_hole, fast_config, http_backend};

    const TOKEN: &str = "tok-VERY-SECRET-42";

    #[tokio::test]
    async fn sends_auth_scope_and_content_type_headers() {
        let server = ScriptedServer::start(vec![
            Reply::json(200, json!([])),
            Reply::json(201, json!({"_id": "a", "uid": "a", "key": "k", "description": ""})),
        ])
        .await;
        let mut config = fast_config(&server.url(), Some(TOKEN));
        config.organization_uid = Some("org-1".to_owned());
        let api = Api::new(HttpBackend::new(config).unwrap());

        api.list_events("p1").await.unwrap();
        let input = wire::EventInput {
            key: "k".to_owned(),
            description: String::new(),
        };
        api.create_event("p1", &input).await.unwrap();

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
        let started = Instant::now();
        backend.send(Request::get("/projects")).await.unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(950), "waited only {waited:?}");

        // A 429 means the POST was not processed, so it is sent again.
        let started = Instant::now();
        let value = backend
            .send(Request::new(Method::Post, "/projects").body(json!({"name": "x"})))
            .await
            .unwrap();
        assert_eq!(value, json!({"ok": true}));
        assert!(started.elapsed() >= Duration::from_millis(950));

        let stats = backend.stats();
        assert_eq!((stats.requests, stats.retries, stats.rate_limited), (4, 2, 2));
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
        let priority = api
            .put_priority("p1", &wire::Priority::default())
            .await
            .unwrap();
        assert!(priority.priority_order.is_empty());
        assert_eq!(backend.stats().retries, 2);

        let error = backend
            .send(Request::new(Method::Post, "/events").project("p1").body(json!({"key": "k"})))
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(500));
        assert_eq!(server.seen().len(), 4, "the POST was sent exactly once");
        let text = error.to_string();
        assert!(text.contains("POST /events") && text.contains("boom"), "{text}");
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
        assert_eq!(backend.stats().retries, 0);
    }

    #[tokio::test]
    async fn dropped_connections_retry_gets_and_surface_posts_as_transport() {
        let (url, connections) = black_hole().await;
        let mut config = fast_config(&url, Some(TOKEN));
        config.max_retries = 3;
        let backend = HttpBackend::new(config).unwrap();

        let error = backend.send(Request::get("/projects")).await.unwrap_err();
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
        assert!(after - before <= 1, "the POST reached the server {} times", after - before);

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
        assert!(elapsed >= Duration::from_millis(430), "took only {elapsed:?}");
        assert_eq!(backend.stats().requests, 10);
    }

    #[tokio::test]
    async fn no_token_in_any_error_or_debug_output() {
        let server = ScriptedServer::start(vec![
            Reply::json(401, json!({"error_message": "You're not allowed in here unless you're logged in."})),
            Reply::text(200, "not json"),
        ])
        .await;
        let config = fast_config(&server.url(), Some(TOKEN));
        let backend = HttpBackend::new(config.clone()).unwrap();
        let unauthorized = backend.send(Request::get("/projects")).await.unwrap_err();
        let undecodable = backend.send(Request::get("/events").project("p")).await.unwrap_err();
        assert!(matches!(undecodable, BackendError::Decode { .. }));
        let text = format!(
            "{unauthorized} {unauthorized:?} {undecodable} {undecodable:?} {config:?} {backend:?} {}",
            backend.describe()
        );
        assert!(!text.contains(TOKEN), "{text}");
        assert!(text.contains("GET /projects") && text.contains("GET /events"), "{text}");
    }
}
