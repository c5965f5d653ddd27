//! The emulator: a real axum HTTP server around the [`Store`], speaking the Personalize
//! Management API on loopback, with token authentication, optional persistence and fault
//! injection (latency, 429 with `Retry-After`, 5xx before processing, dropped responses after
//! committing). A second listener serves the Content Management API's `/v3/variant_groups`
//! routes for the projects' connected stacks.
//!
//! Boundary: depends only on `store` and `wire` (never on the planner, apply, manifests or
//! rendering); a tidy test checks the imports. Invariant: deterministic apart from timing — ids
//! come from the store's counters and faults from a seeded RNG.

mod net;
pub mod quirks;
mod server;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use crate::store::{Limits, Store};
use crate::wire;

use server::Shared;

/// One user of the emulated organization. `Debug` never prints the token.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub email: String,
    pub role: wire::OrgRole,
    pub token: String,
    /// What the user may do on the Content Management API, per stack API key (`read` or
    /// `write`; a stack not listed is refused with 403). Absent: write access to every stack.
    #[serde(default)]
    pub stacks: Option<std::collections::BTreeMap<String, wire::StackAccess>>,
}

impl UserEntry {
    /// The user as the API shows it (without the token).
    #[must_use]
    pub fn user(&self) -> wire::User {
        wire::User {
            email: self.email.clone(),
            organization_role: self.role,
        }
    }
}

impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEntry")
            .field("email", &self.email)
            .field("role", &self.role)
            .field("token", &"<redacted>")
            .field("stacks", &self.stacks)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: Vec<UserEntry>,
}

/// The users of `examples/emulator-users.yaml`, built in.
const DEFAULT_USERS: &str = include_str!("../../examples/emulator-users.yaml");

/// How the emulator runs.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    pub users: Vec<UserEntry>,
    /// State file, rewritten atomically after each write; `None` keeps state in memory.
    pub data: Option<PathBuf>,
    /// Sleep this long before answering each request.
    pub latency_ms: u64,
    /// Requests per second allowed for the organization (token bucket); above it, 429.
    pub rate_limit: Option<f64>,
    /// Probability of a 5xx answered before the request is processed.
    pub fault_rate: f64,
    /// Probability that the answer is never sent after the request was carried out.
    pub drop_rate: f64,
    /// Seed of the fault RNG.
    pub seed: u64,
    pub limits: Limits,
    /// Serve the emulator's extensions `GET /user` and `/projects/{uid}/users…` (default). When
    /// false they answer 404, as on the hosted API, which has neither.
    pub extensions: bool,
    /// Serve the answer variants of the hosted service ([`quirks`]).
    pub quirks: bool,
    /// Keep every request received (see [`EmulatorHandle::requests`]); for tests.
    pub record_requests: bool,
    /// Where the Content Management API listens; `None`: the Personalize address's host on a
    /// free port.
    pub cma_listen: Option<SocketAddr>,
}

/// A request the emulator received (when [`EmulatorConfig::record_requests`] is set). Headers
/// are not kept, so no token is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordedRequest {
    pub method: &'static str,
    pub path: String,
    pub body: Option<serde_json::Value>,
}

impl EmulatorConfig {
    /// The example users, no persistence, no faults, default limits.
    #[must_use]
    pub fn with_default_users() -> Self {
        let users = parse_users(DEFAULT_USERS, Path::new("examples/emulator-users.yaml"))
            .unwrap_or_default();
        EmulatorConfig {
            users,
            data: None,
            latency_ms: 0,
            rate_limit: None,
            fault_rate: 0.0,
            drop_rate: 0.0,
            seed: 0,
            limits: Limits::default(),
            extensions: true,
            quirks: false,
            record_requests: false,
            cma_listen: None,
        }
    }

    /// Read a users file (`users: [{email, role, token}]`).
    pub fn load_users(path: &Path) -> Result<Vec<UserEntry>, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("{}: cannot read users file: {error}", path.display()))?;
        parse_users(&text, path)
    }
}

fn parse_users(text: &str, path: &Path) -> Result<Vec<UserEntry>, String> {
    let file: UsersFile = serde_saphyr::from_str(text)
        .map_err(|error| format!("{}: invalid users file: {error}", path.display()))?;
    let mut emails = std::collections::BTreeSet::new();
    let mut tokens = std::collections::BTreeSet::new();
    let mut users = Vec::new();
    for (index, mut user) in file.users.into_iter().enumerate() {
        user.email = user.email.trim().to_lowercase();
        if !user.email.contains('@') {
            return Err(format!(
                "{}: users[{index}].email {:?} is not an email address",
                path.display(),
                user.email
            ));
        }
        if user.token.trim().is_empty() {
            return Err(format!("{}: users[{index}].token is empty", path.display()));
        }
        if !emails.insert(user.email.clone()) {
            return Err(format!(
                "{}: users[{index}].email {} appears twice",
                path.display(),
                user.email
            ));
        }
        if !tokens.insert(user.token.clone()) {
            // Never print the token itself.
            return Err(format!(
                "{}: users[{index}].token is the same as another user's",
                path.display()
            ));
        }
        users.push(user);
    }
    if users.is_empty() {
        return Err(format!("{}: users is empty", path.display()));
    }
    Ok(users)
}

/// Counters of what the emulator did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmulatorStats {
    /// Requests received on both listeners (the stats endpoint excluded).
    pub requests: u64,
    /// Of these, requests received on the Content Management API's listener.
    pub cma_requests: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// 5xx answers (injected faults and failed saves).
    pub server_errors: u64,
    /// Answers dropped after the request was carried out.
    pub drops: u64,
    /// Successful writes.
    pub writes: u64,
}

/// A bound emulator, ready to run (lets the CLI print the address before serving).
pub struct Server {
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    cma: tokio::net::TcpListener,
}

/// The Content Management API's address: as configured, else the host of `listen` on a free
/// port.
fn cma_address(config: &EmulatorConfig, listen: SocketAddr) -> SocketAddr {
    config
        .cma_listen
        .unwrap_or_else(|| SocketAddr::new(listen.ip(), 0))
}

impl Server {
    /// Load the state and bind both addresses.
    pub async fn bind(config: EmulatorConfig, listen: SocketAddr) -> std::io::Result<Server> {
        let cma_listen = cma_address(&config, listen);
        let shared = Arc::new(Shared::new(config)?);
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let cma = tokio::net::TcpListener::bind(cma_listen).await?;
        Ok(Server {
            shared,
            listener,
            cma,
        })
    }

    /// The bound address of the Personalize Management API.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The bound address of the Content Management API.
    pub fn cma_addr(&self) -> std::io::Result<SocketAddr> {
        self.cma.local_addr()
    }

    /// Serve until `shutdown` completes.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        server::run(self.shared, self.listener, self.cma, shutdown).await
    }
}

/// Serve until Ctrl-C (for the CLI).
pub async fn serve(config: EmulatorConfig, listen: SocketAddr) -> std::io::Result<()> {
    let server = Server::bind(config, listen).await?;
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// A running emulator on its own thread and runtime. Shuts down on drop.
pub struct EmulatorHandle {
    addr: SocketAddr,
    cma_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Start on its own thread + runtime, bound to `listen` (use `127.0.0.1:0` in tests).
pub fn start(config: EmulatorConfig, listen: SocketAddr) -> std::io::Result<EmulatorHandle> {
    let cma_listen = cma_address(&config, listen);
    let shared = Arc::new(Shared::new(config)?);
    let std_listener = std::net::TcpListener::bind(listen)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let std_cma = std::net::TcpListener::bind(cma_listen)?;
    std_cma.set_nonblocking(true)?;
    let cma_addr = std_cma.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("pzctl-emulator")
        .enable_all()
        .build()?;
    let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
    let thread_shared = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("pzctl-emulator".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                    return;
                };
                let Ok(cma) = tokio::net::TcpListener::from_std(std_cma) else {
                    return;
                };
                let _ = server::run(thread_shared, listener, cma, async move {
                    let _ = receiver.await;
                })
                .await;
            });
        })?;
    Ok(EmulatorHandle {
        addr,
        cma_addr,
        shared,
        shutdown: Some(sender),
        thread: Some(thread),
    })
}

impl EmulatorHandle {
    /// The base URL, e.g. `http://127.0.0.1:40123`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Content Management API's base URL (its own listener), e.g.
    /// `http://127.0.0.1:40124`.
    #[must_use]
    pub fn cma_url(&self) -> String {
        format!("http://{}", self.cma_addr)
    }

    /// What the emulator has done so far.
    #[must_use]
    pub fn stats(&self) -> EmulatorStats {
        self.shared.stats()
    }

    /// The requests received so far, oldest first (empty unless
    /// [`EmulatorConfig::record_requests`]).
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .recorded
            .lock()
            .map(|recorded| recorded.clone())
            .unwrap_or_default()
    }

    /// The whole store state as JSON (waits for the request in flight).
    #[must_use]
    pub fn state(&self) -> serde_json::Value {
        loop {
            if let Ok(store) = self.shared.store.try_lock() {
                return store.to_json();
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(sender) = self.shutdown.take() {
            let _ = sender.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn stats(&self) -> EmulatorStats {
        EmulatorStats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            cma_requests: self.counters.cma_requests.load(Ordering::Relaxed),
            rate_limited: self.counters.rate_limited.load(Ordering::Relaxed),
            server_errors: self.counters.server_errors.load(Ordering::Relaxed),
            drops: self.counters.drops.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }
}

/// The store an emulator starts from: the data file if it exists, else a new organization.
fn initial_store(config: &EmulatorConfig) -> std::io::Result<Store> {
    let users: Vec<wire::User> = config.users.iter().map(UserEntry::user).collect();
    let stack_access = config
        .users
        .iter()
        .filter_map(|user| Some((user.email.clone(), user.stacks.clone()?)))
        .collect();
    let parent = config.data.as_deref().and_then(Path::parent);
    if let Some(parent) = parent.filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut store = match &config.data {
        Some(path) if path.exists() => {
            let text = std::fs::read(path)?;
            let value: serde_json::Value = serde_json::from_slice(&text).map_err(|error| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: invalid emulator state: {error}", path.display()),
                )
            })?;
            Store::from_json(value).map_err(|error| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {error}", path.display()),
                )
            })?
        }
        _ => Store::new("blt0e1a2b3c4d5e6f70", Vec::new(), config.limits.clone()),
    };
    store.set_users(users);
    store.set_stack_access(stack_access);
    store.set_limits(config.limits.clone());
    Ok(store)
}
