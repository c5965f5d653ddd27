//! Shared test helpers: a scratch directory per test, HTTP clients with test-friendly pacing,
//! and a scripted HTTP server that records what the client sent.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use pzctl::live::http::{Credentials, HttpBackend, HttpConfig, Secret};

/// A temporary directory that lives as long as the test.
pub struct TestContext {
    pub dir: tempfile::TempDir,
}

impl TestContext {
    pub fn new() -> Self {
        TestContext {
            dir: tempfile::tempdir().expect("create a temp dir"),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
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

/// An emulator on 127.0.0.1:0 (its own thread and runtime; stops when dropped).
pub fn emulator(config: pzctl::emulator::EmulatorConfig) -> pzctl::emulator::EmulatorHandle {
    let listen = "127.0.0.1:0".parse().expect("loopback address");
    pzctl::emulator::start(config, listen).expect("start the emulator")
}

/// An emulator with the default users (owner-token, admin-token, member-token, dev-token).
pub fn default_emulator() -> pzctl::emulator::EmulatorHandle {
    emulator(pzctl::emulator::EmulatorConfig::with_default_users())
}

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
    pub async fn serve(respond: impl Fn(&Seen) -> Option<Reply> + Send + Sync + 'static) -> Self {
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
                    let reply = reply.unwrap_or_else(|| Reply::json(200, serde_json::json!([])));
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

    fn describe(&self) -> String {
        "in-process store".to_owned()
    }
}
