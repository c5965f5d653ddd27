//! The HTTP face: one fallback handler per listener (the Personalize Management API's and the
//! Content Management API's) turning any request into a [`wire::Request`] for
//! [`Store::dispatch`], plus authentication, header and body checks, faults and persistence.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method as HttpMethod, StatusCode, Uri, header};
use axum::response::Response;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::net::{Conn, KillableListener};
use super::{EmulatorConfig, initial_store};
use crate::store::{self, Store};
use crate::wire::{self, ApiError, Method, Request};

#[derive(Default)]
pub(super) struct Counters {
    pub requests: AtomicU64,
    pub cma_requests: AtomicU64,
    pub rate_limited: AtomicU64,
    pub server_errors: AtomicU64,
    pub drops: AtomicU64,
    pub writes: AtomicU64,
}

/// The organization's rate limit: `rate` requests per second, with bursts of up to `rate`
/// (at least one) after a quiet second.
struct Bucket {
    limiter: governor::DefaultDirectRateLimiter,
    clock: governor::clock::DefaultClock,
}

impl Bucket {
    fn new(rate: f64) -> Option<Self> {
        let period = Duration::from_secs_f64(1.0 / rate);
        let burst = std::num::NonZeroU32::new(rate.ceil().clamp(1.0, f64::from(u32::MAX)) as u32)?;
        let quota = governor::Quota::with_period(period)?.allow_burst(burst);
        Some(Bucket {
            limiter: governor::RateLimiter::direct(quota),
            clock: governor::clock::DefaultClock::default(),
        })
    }

    /// Take a request's token, or say how long until one is available.
    fn take(&self) -> Result<(), Duration> {
        use governor::clock::Clock as _;
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// Everything the handler shares.
pub(super) struct Shared {
    config: EmulatorConfig,
    pub(super) store: tokio::sync::Mutex<Store>,
    pub(super) counters: Counters,
    rng: std::sync::Mutex<StdRng>,
    bucket: Option<Bucket>,
    pub(super) recorded: std::sync::Mutex<Vec<super::RecordedRequest>>,
}

impl Shared {
    pub(super) fn new(config: EmulatorConfig) -> std::io::Result<Self> {
        let store = initial_store(&config)?;
        Ok(Shared {
            rng: std::sync::Mutex::new(StdRng::seed_from_u64(config.seed)),
            bucket: config
                .rate_limit
                .filter(|rate| *rate > 0.0 && rate.is_finite())
                .and_then(Bucket::new),
            store: tokio::sync::Mutex::new(store),
            counters: Counters::default(),
            recorded: std::sync::Mutex::new(Vec::new()),
            config,
        })
    }

    /// Draw from the fault RNG: whether an event of probability `p` happens.
    fn chance(&self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        match self.rng.lock() {
            Ok(mut rng) => rng.random::<f64>() < p,
            Err(_) => false,
        }
    }

    fn pick<T: Copy>(&self, items: &[T]) -> Option<T> {
        let mut rng = self.rng.lock().ok()?;
        let index = rng.random_range(0..items.len());
        items.get(index).copied()
    }

    fn email_for(&self, headers: &HeaderMap) -> Option<String> {
        let token = headers
            .get("authtoken")
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .or_else(|| {
                headers
                    .get(header::AUTHORIZATION)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.trim().strip_prefix("Bearer "))
                    .map(str::trim)
            })?;
        self.config
            .users
            .iter()
            .find(|user| user.token == token)
            .map(|user| user.email.clone())
    }
}

/// Serve the Personalize API on `listener` and the Content Management API on `cma` until
/// `shutdown` completes.
pub(super) async fn run(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    cma: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let personalize = axum::Router::new()
        .fallback(handle)
        .with_state((Arc::clone(&shared), Listener::Personalize));
    let content = axum::Router::new()
        .fallback(handle)
        .with_state((shared, Listener::Cma));
    let personalize = axum::serve(
        KillableListener { inner: listener },
        personalize.into_make_service_with_connect_info::<Conn>(),
    )
    .with_graceful_shutdown(until_stopped(stopped.clone()));
    let content = axum::serve(
        KillableListener { inner: cma },
        content.into_make_service_with_connect_info::<Conn>(),
    )
    .with_graceful_shutdown(until_stopped(stopped));
    tokio::try_join!(async { personalize.await }, async { content.await }).map(drop)
}

fn json_response(status: u16, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn error_response(error: &ApiError) -> Response {
    json_response(error.status, &error.body)
}

fn bad_request(message: &str) -> Response {
    json_response(
        400,
        &json!({"statusCode": 400, "message": message, "error": "Bad Request"}),
    )
}

/// The emulator's routes the hosted API does not have: `/user` and the members routes.
fn is_extension(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    matches!(segments.as_slice(), ["user"] | ["projects", _, "users", ..])
}

/// Which API a listener serves.
#[derive(Clone, Copy)]
enum Listener {
    /// The Personalize Management API (and the emulator's own routes).
    Personalize,
    /// The Content Management API: `/v3/…` routes only, CMA-style errors.
    Cma,
}

/// Both listeners: what the other API's listener should have been asked answers 404.
async fn handle(
    State((shared, listener)): State<(Arc<Shared>, Listener)>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cma = wire::is_cma_path(uri.path());
    match listener {
        Listener::Personalize if method == HttpMethod::GET && uri.path() == "/_emulator/stats" => {
            return json_response(200, &json!(shared.stats()));
        }
        Listener::Personalize if cma => {
            shared.counters.requests.fetch_add(1, Ordering::Relaxed);
            return error_response(&ApiError::not_found(&format!(
                "Cannot {method} {} (the emulator serves the Content Management API on its own listener)",
                uri.path()
            )));
        }
        Listener::Personalize => {}
        Listener::Cma => {
            shared.counters.cma_requests.fetch_add(1, Ordering::Relaxed);
            if !cma {
                shared.counters.requests.fetch_add(1, Ordering::Relaxed);
                let message = format!(
                    "The requested URL {} was not found on this server.",
                    uri.path()
                );
                return error_response(&ApiError::cma(404, 141, &message));
            }
        }
    }
    serve(shared, conn, method, uri, headers, body).await
}

async fn serve(
    shared: Arc<Shared>,
    conn: Conn,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    if shared.config.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(shared.config.latency_ms)).await;
    }
    if let Some(Err(wait)) = shared.bucket.as_ref().map(Bucket::take) {
        shared.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        let seconds = wait.as_secs_f64().ceil().max(1.0);
        let mut response = json_response(
            429,
            &json!({"statusCode": 429, "message": "Too Many Requests"}),
        );
        if let Ok(value) = HeaderValue::from_str(&format!("{seconds:.0}")) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    if shared.chance(shared.config.fault_rate) {
        shared
            .counters
            .server_errors
            .fetch_add(1, Ordering::Relaxed);
        let status = shared.pick(&[500_u16, 502, 503]).unwrap_or(500);
        let error = match status {
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        };
        return json_response(
            status,
            &json!({"statusCode": status, "message": "injected fault (pzctl emulator)", "error": error}),
        );
    }
    let Some(email) = shared.email_for(&headers) else {
        return error_response(&ApiError::unauthorized());
    };
    let method = match method {
        HttpMethod::GET => Method::Get,
        HttpMethod::POST => Method::Post,
        HttpMethod::PUT => Method::Put,
        HttpMethod::DELETE => Method::Delete,
        other => {
            return error_response(&ApiError::not_found(&format!(
                "Cannot {other} {}",
                uri.path()
            )));
        }
    };
    if !shared.config.extensions && is_extension(uri.path()) {
        return error_response(&ApiError::not_found(&format!(
            "Cannot {} {}",
            method.as_str(),
            uri.path()
        )));
    }
    let has_body = !body.iter().all(u8::is_ascii_whitespace);
    let json_body = if !has_body {
        None
    } else {
        match method {
            Method::Get => return bad_request("GET requests must not carry a body"),
            Method::Post | Method::Put => {
                let content_type = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("");
                let is_json = content_type
                    .split(';')
                    .next()
                    .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
                if !is_json {
                    return bad_request("Content-Type must be application/json");
                }
                match serde_json::from_slice::<Value>(&body) {
                    Ok(value) => Some(value),
                    Err(error) => {
                        return bad_request(&format!("Invalid JSON body: {error}"));
                    }
                }
            }
            Method::Delete => None,
        }
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.trim().to_owned())
    };
    let request = Request {
        method,
        path: path_and_query,
        project: header("x-project-uid"),
        organization: header("organization_uid").filter(|uid| !uid.is_empty()),
        body: json_body,
        stack: header("api_key").filter(|key| !key.is_empty()),
    };
    if shared.config.record_requests
        && let Ok(mut recorded) = shared.recorded.lock()
    {
        recorded.push(super::RecordedRequest {
            method: method.as_str(),
            path: request.path.clone(),
            body: request.body.clone(),
        });
    }
    if shared.config.quirks && method == Method::Get && super::quirks::missing_route(&request.path)
    {
        return error_response(&ApiError::not_found(&format!("Cannot GET {}", uri.path())));
    }
    let result = {
        let mut store = shared.store.lock().await;
        let result = store.dispatch(&email, &request);
        if result.is_ok() && store::is_write(&request) {
            shared.counters.writes.fetch_add(1, Ordering::Relaxed);
            if let Some(path) = shared.config.data.clone() {
                let problem = match serde_json::to_vec_pretty(&store.to_json()) {
                    Ok(bytes) => {
                        let saved = tokio::task::spawn_blocking(move || {
                            store::write_atomically(&path, &bytes)
                                .map_err(|error| format!("{}: {error}", path.display()))
                        })
                        .await;
                        match saved {
                            Ok(Ok(())) => None,
                            Ok(Err(error)) => Some(error),
                            Err(error) => Some(error.to_string()),
                        }
                    }
                    Err(error) => Some(error.to_string()),
                };
                if let Some(problem) = problem {
                    shared
                        .counters
                        .server_errors
                        .fetch_add(1, Ordering::Relaxed);
                    return json_response(
                        500,
                        &json!({"statusCode": 500, "message": format!("emulator could not save its state file: {problem}"), "error": "Internal Server Error"}),
                    );
                }
            }
        }
        result
    };
    if shared.chance(shared.config.drop_rate) {
        shared.counters.drops.fetch_add(1, Ordering::Relaxed);
        conn.kill();
    }
    match result {
        Ok(value) => {
            let value = if shared.config.quirks && method == Method::Get {
                super::quirks::rewrite(&request.path, value)
            } else {
                value
            };
            let status = store::success_status(&request);
            if status == 204 {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::NO_CONTENT;
                response
            } else {
                json_response(status, &value)
            }
        }
        Err(error) => error_response(&error),
    }
}
