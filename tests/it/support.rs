//! Shared test helpers: a scratch directory per test with the `pzctl` binary and snapshot
//! filters (`TestContext`, `pzctl_snapshot!`), HTTP clients with test-friendly pacing, the
//! in-process store as a backend, and every kind of fault injection in one place (module
//! `faults`: a scripted HTTP server, a black hole, a faulty backend, a faulty emulator).

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use pzctl::live::http::{Credentials, HttpBackend, HttpConfig, Secret};

/// A temporary directory that lives as long as the test, the `pzctl` binary run in it, and the
/// filters that make its output stable in snapshots (after uv's `TestContext`).
pub struct TestContext {
    pub dir: tempfile::TempDir,
    filters: Vec<(String, String)>,
}

/// Variables pzctl reads from its environment; a test sets the ones it means.
const AMBIENT: &[&str] = &[
    "PZCTL_ENDPOINT",
    "PZCTL_CMA_ENDPOINT",
    "PZCTL_REGION",
    "PZCTL_STATE_DIR",
    "PZCTL_RATE_LIMIT",
    "PZCTL_LOCAL_USER",
    "CONTENTSTACK_AUTHTOKEN",
    "CONTENTSTACK_OAUTH_TOKEN",
    "CONTENTSTACK_ORGANIZATION_UID",
    "CLICOLOR_FORCE",
];

impl TestContext {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let mut filters = Vec::new();
        let mut places = vec![(dir.path().to_path_buf(), "[TEMP]")];
        if let Ok(real) = dir.path().canonicalize() {
            places.push((real, "[TEMP]"));
        }
        places.push((PathBuf::from(env!("CARGO_MANIFEST_DIR")), "[ROOT]"));
        for (path, name) in places {
            filters.push((regex_escape(&path.to_string_lossy()), name.to_owned()));
        }
        TestContext { dir, filters }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The `pzctl` binary, run in the temporary directory, without colour and without any of
    /// the variables pzctl reads from the environment.
    pub fn pzctl(&self) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pzctl"));
        command.current_dir(self.path()).env("NO_COLOR", "1");
        for name in AMBIENT {
            command.env_remove(name);
        }
        command
    }

    /// Also replace what `regex` matches with `replacement` in this context's snapshots.
    #[must_use]
    pub fn with_filter(mut self, regex: &str, replacement: &str) -> Self {
        self.filters
            .push((regex.to_owned(), replacement.to_owned()));
        self
    }

    /// The snapshot filters: this context's paths, then loopback ports and durations.
    pub fn filters(&self) -> Vec<(String, String)> {
        let mut filters = self.filters.clone();
        for (regex, replacement) in [
            (r"(127\.0\.0\.1|localhost):\d+", "$1:[PORT]"),
            (r"\b\d+(\.\d+)?(ns|µs|us|ms|s)\b", "[TIME]"),
            // A saved plan's pzctl version and its digest (over paths that differ per run).
            (
                r#""pzctl_version": "[^"]*""#,
                r#""pzctl_version": "[VERSION]""#,
            ),
            (
                r#""digest": "sha256:[0-9a-f]{64}""#,
                r#""digest": "sha256:[DIGEST]""#,
            ),
        ] {
            filters.push((regex.to_owned(), replacement.to_owned()));
        }
        filters
    }
}

/// A finished command's exit code, stdout and stderr, for assertion messages.
pub fn describe(output: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Escape the regex metacharacters of a literal.
pub fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Run a command; returns its exit code, stdout and stderr as one text for a snapshot, and
/// the raw output.
pub fn run_for_snapshot(command: &mut std::process::Command) -> (String, std::process::Output) {
    let output = command.output().expect("run the command");
    let code = output
        .status
        .code()
        .map_or_else(|| "none (killed by a signal)".to_owned(), |c| c.to_string());
    let snapshot = format!(
        "exit: {code}\n----- stdout -----\n{}----- stderr -----\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (snapshot, output)
}

/// Snapshot a command's exit code, stdout and stderr together, through a [`TestContext`]'s
/// filters (after uv's `uv_snapshot!`); evaluates to the `Output` for further checks.
/// `pzctl_snapshot!(context, "name", command)` names the snapshot;
/// `pzctl_snapshot!(context, command)` names it after the test.
macro_rules! pzctl_snapshot {
    ($context:expr, $name:expr, $command:expr) => {{
        let (snapshot, output) = $crate::support::run_for_snapshot($command);
        let mut settings = insta::Settings::clone_current();
        for (matcher, replacement) in $context.filters() {
            settings.add_filter(&matcher, replacement);
        }
        settings.bind(|| insta::assert_snapshot!($name, snapshot));
        output
    }};
    ($context:expr, $command:expr) => {{
        let (snapshot, output) = $crate::support::run_for_snapshot($command);
        let mut settings = insta::Settings::clone_current();
        for (matcher, replacement) in $context.filters() {
            settings.add_filter(&matcher, replacement);
        }
        settings.bind(|| insta::assert_snapshot!(snapshot));
        output
    }};
}

/// An HTTP config for tests: fast pacing.
pub fn fast_config(base_url: &str, token: Option<&str>) -> HttpConfig {
    let credentials = match token {
        Some(token) => Credentials::Authtoken(Secret::new(token)),
        None => Credentials::None,
    };
    let mut config = HttpConfig::new(base_url, credentials);
    config.requests_per_second = 2000.0;
    config.timeout = Duration::from_secs(10);
    config
}

/// An HTTP backend for tests (see [`fast_config`]).
pub fn http_backend(base_url: &str, token: &str) -> HttpBackend {
    HttpBackend::new(fast_config(base_url, Some(token))).expect("build the HTTP backend")
}

/// An HTTP backend for tests on an emulator's both listeners: its Personalize API and its
/// Content Management API.
pub fn emulator_backend(emulator: &pzctl::emulator::EmulatorHandle, token: &str) -> HttpBackend {
    let mut config = fast_config(&emulator.url(), Some(token));
    config.cma_url = Some(emulator.cma_url());
    HttpBackend::new(config).expect("build the HTTP backend")
}

/// An emulator on 127.0.0.1:0 (its own thread and runtime; stops when dropped).
pub fn emulator(config: pzctl::emulator::EmulatorConfig) -> pzctl::emulator::EmulatorHandle {
    let listen = "127.0.0.1:0".parse().expect("loopback address");
    pzctl::emulator::start(config, listen).expect("start the emulator")
}

/// An emulator with the default users (owner-token, admin-token, member-token, dev-token).
pub fn default_emulator() -> pzctl::emulator::EmulatorHandle {
    emulator(pzctl::emulator::EmulatorConfig::with_default_users())
}

/// Fault injection, all of it: a scripted HTTP server, a server that never answers, a backend
/// that fails around another, and an emulator with its own faults switched on.
pub mod faults {
    use std::collections::VecDeque;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri};
    use axum::response::{IntoResponse, Response};
    use pzctl::emulator::EmulatorConfig;
    use pzctl::live::{Backend, BackendError, Request};
    use pzctl::wire::ApiError;
    use rand::{Rng, SeedableRng};
    use serde_json::Value;

    /// One request as the scripted server saw it.
    #[derive(Clone, Debug)]
    pub struct Seen {
        pub method: String,
        pub path: String,
        pub headers: HeaderMap,
        pub body: Vec<u8>,
    }

    impl Seen {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|value| value.to_str().ok())
        }
    }

    /// A canned answer of the scripted server.
    #[derive(Clone, Debug)]
    pub struct Reply {
        pub status: u16,
        pub headers: Vec<(&'static str, String)>,
        pub body: String,
    }

    impl Reply {
        pub fn json(status: u16, body: serde_json::Value) -> Self {
            Reply {
                status,
                headers: vec![("content-type", "application/json".to_owned())],
                body: body.to_string(),
            }
        }

        pub fn text(status: u16, body: &str) -> Self {
            Reply {
                status,
                headers: Vec::new(),
                body: body.to_owned(),
            }
        }

        pub fn header(mut self, name: &'static str, value: &str) -> Self {
            self.headers.push((name, value.to_owned()));
            self
        }
    }

    #[derive(Default)]
    struct Script {
        seen: Vec<Seen>,
    }

    /// An HTTP server on 127.0.0.1:0 that answers from a script (then `200 []`) and records every
    /// request. Runs on the calling tokio runtime.
    pub struct ScriptedServer {
        pub addr: SocketAddr,
        script: Arc<Mutex<Script>>,
    }

    impl ScriptedServer {
        pub async fn start(replies: Vec<Reply>) -> Self {
            let script = Arc::new(Mutex::new(replies.into_iter().collect::<VecDeque<_>>()));
            Self::serve(move |_| script.lock().expect("script lock").pop_front()).await
        }

        /// Like [`ScriptedServer::start`], with each answer chosen by `respond` from the request
        /// (`None`: `200 []`).
        pub async fn serve(
            respond: impl Fn(&Seen) -> Option<Reply> + Send + Sync + 'static,
        ) -> Self {
            let script = Arc::new(Mutex::new(Script::default()));
            let shared = Arc::clone(&script);
            let respond = Arc::new(respond);
            let app = axum::Router::new().fallback(
                move |method: HttpMethod, uri: Uri, headers: HeaderMap, body: Bytes| {
                    let shared = Arc::clone(&shared);
                    let respond = Arc::clone(&respond);
                    async move {
                        let seen = Seen {
                            method: method.to_string(),
                            path: uri.to_string(),
                            headers,
                            body: body.to_vec(),
                        };
                        let reply = respond(&seen);
                        shared.lock().expect("script lock").seen.push(seen);
                        let reply =
                            reply.unwrap_or_else(|| Reply::json(200, serde_json::json!([])));
                        let mut response: Response = reply.body.into_response();
                        *response.status_mut() =
                            StatusCode::from_u16(reply.status).expect("valid status");
                        for (name, value) in reply.headers {
                            response
                                .headers_mut()
                                .insert(name, value.parse().expect("header value"));
                        }
                        response
                    }
                },
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("local addr");
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            ScriptedServer { addr, script }
        }

        pub fn url(&self) -> String {
            format!("http://{}", self.addr)
        }

        pub fn seen(&self) -> Vec<Seen> {
            self.script.lock().expect("script lock").seen.clone()
        }
    }

    /// A TCP server that accepts connections and closes them without answering: every request
    /// to it ends in a transport error. Returns the base URL and a counter of connections.
    pub async fn black_hole() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&count);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut buffer = [0u8; 4096];
                    // Read the request head, then hang up without a response.
                    let _ = socket.read(&mut buffer).await;
                    drop(socket);
                });
            }
        });
        (format!("http://{addr}"), count)
    }

    /// An emulator with the default users, configured (faults, latency, limits) by `configure`.
    pub fn emulator_with(
        configure: impl FnOnce(&mut EmulatorConfig),
    ) -> pzctl::emulator::EmulatorHandle {
        let mut config = EmulatorConfig::with_default_users();
        configure(&mut config);
        super::emulator(config)
    }

    /// A backend that injects faults around another: 5xx and 429 before the request is carried
    /// out, and answers lost after it was carried out. Deterministic per seed.
    pub struct Faulty<B> {
        inner: B,
        /// Faults are injected only while this is set (it starts unset).
        pub enabled: AtomicBool,
        rng: Mutex<rand::rngs::StdRng>,
        fault_rate: f64,
        rate_limited: f64,
        drop_rate: f64,
    }

    impl<B: Backend> Faulty<B> {
        /// 5xx at `fault_rate`, 429 at `rate_limited`, lost answers at `drop_rate`.
        pub fn new(
            inner: B,
            seed: u64,
            fault_rate: f64,
            rate_limited: f64,
            drop_rate: f64,
        ) -> Self {
            Faulty {
                inner,
                enabled: AtomicBool::new(false),
                rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
                fault_rate,
                rate_limited,
                drop_rate,
            }
        }
    }

    impl<B: Backend> Backend for Faulty<B> {
        async fn send(&self, request: Request) -> Result<Value, BackendError> {
            let roll: f64 = self.rng.lock().expect("rng").random();
            if !self.enabled.load(Ordering::SeqCst) {
                return self.inner.send(request).await;
            }
            let api_error = |status: u16| BackendError::Api {
                method: request.method.as_str(),
                path: request.path.clone(),
                error: ApiError {
                    status,
                    body: serde_json::json!({"message": "injected"}),
                },
            };
            if roll < self.fault_rate {
                return Err(api_error(503));
            }
            if roll < self.fault_rate + self.rate_limited {
                return Err(api_error(429));
            }
            let answer = self.inner.send(request.clone()).await;
            if roll > 1.0 - self.drop_rate {
                return Err(BackendError::Transport {
                    method: request.method.as_str(),
                    path: request.path.clone(),
                    message: "injected: response dropped".to_owned(),
                });
            }
            answer
        }

        fn supports_members(&self) -> bool {
            self.inner.supports_members()
        }

        fn supports_cma(&self) -> bool {
            self.inner.supports_cma()
        }

        fn describe(&self) -> String {
            format!("faulty {}", self.inner.describe())
        }
    }
}

#[allow(unused_imports)]
pub use faults::{Faulty, Reply, ScriptedServer, Seen, black_hole, emulator_with};

/// The store in process, acting as one user: no disk, no HTTP. The fastest face of the API,
/// for property tests that run hundreds of applies.
pub struct StoreBackend {
    pub store: std::sync::Arc<std::sync::Mutex<pzctl::store::Store>>,
    pub actor: &'static str,
    /// False acts like the hosted API: no members endpoint, no "who am I".
    pub members: bool,
}

impl pzctl::live::Backend for StoreBackend {
    async fn send(
        &self,
        request: pzctl::wire::Request,
    ) -> Result<serde_json::Value, pzctl::live::BackendError> {
        let mut store = self
            .store
            .lock()
            .map_err(|_| pzctl::live::BackendError::Local("store lock poisoned".to_owned()))?;
        store
            .dispatch(self.actor, &request)
            .map_err(|error| pzctl::live::BackendError::Api {
                method: request.method.as_str(),
                path: request.path.clone(),
                error,
            })
    }

    fn supports_members(&self) -> bool {
        self.members
    }

    fn supports_cma(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "in-process store".to_owned()
    }
}

/// What the harness of [`github_script_harness`] recorded, as (call, comment id) pairs: the
/// first two items of each call.
pub fn script_actions(calls: &[serde_json::Value]) -> Vec<(String, i64)> {
    calls
        .iter()
        .map(|call| {
            (
                call[0].as_str().unwrap_or_default().to_owned(),
                call[1].as_i64().unwrap_or_default(),
            )
        })
        .collect()
}

/// A Node.js program that runs `script` (the body of a workflow's `actions/github-script` step)
/// against a fake `github` client holding the comments `existing` (a JSON array of
/// `[id, userType, body]`), and prints the calls it made as JSON.
pub fn github_script_harness(existing: &serde_json::Value, script: &str) -> String {
    format!(
        r#"
const existing = {existing};
const calls = [];
const github = {{
  paginate: async () => existing.map(([id, type, body]) => ({{ id, user: {{ type }}, body }})),
  rest: {{ issues: {{
    listComments: null,
    updateComment: async (a) => calls.push(["update", a.comment_id, a.body]),
    createComment: async (a) => calls.push(["create", a.issue_number, a.body]),
    deleteComment: async (a) => calls.push(["delete", a.comment_id]),
  }} }},
}};
const context = {{
  repo: {{ owner: "o", repo: "r" }},
  payload: {{ pull_request: {{ number: 7, head: {{ sha: "0123456789abcdef" }} }} }},
  serverUrl: "https://github.com",
  runId: 42,
}};
(async function () {{
{script}
}})().then(() => process.stdout.write(JSON.stringify(calls)), (e) => {{ console.error(e); process.exit(1); }});
"#
    )
}
