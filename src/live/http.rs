//! The HTTP client for the hosted Personalize Management API and the emulator.
//!
//! Owns authentication headers, adaptive pacing under the organization's rate limit (one
//! [`Pacer`] shared by every clone of a backend: it slows down on 429 and honours
//! `Retry-After`), and the safety of what it sends and returns: it follows no redirect (so
//! credentials and bodies never leave the endpoint) and removes the tokens from every server
//! text it puts in an error. It sends each request once per call: callers repeat requests
//! through [`crate::live::retry::RetryPolicy`]. What pacing does about a 429 (a slowdown, a
//! `Retry-After` hold) is told to the current `live::observer`, never printed. See
//! `docs/http-client.md`.
//!
//! Invariant: this is the only module that imports `reqwest`, and no token ever reaches an
//! error, a `Debug` print or a log line.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde_json::Value;

use crate::live::observer::{self, Wait};
use crate::live::pace::Pacer;
use crate::live::redact::Redactor;
use crate::live::{Backend, BackendError, Method, Request};
use crate::wire::ApiError;

/// The longest `Retry-After` the client will honor; longer waits are capped here.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// A credential. Printing it (`Debug` or `Display`) shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How requests authenticate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// A user authtoken, sent as the `authtoken` header.
    Authtoken(Secret),
    /// An OAuth access token, sent as `authorization: Bearer …`.
    Bearer(Secret),
    /// No credentials (the server will answer 401).
    None,
}

impl Credentials {
    /// The redactor that removes this credential from server text.
    #[must_use]
    pub fn redactor(&self) -> Redactor {
        match self {
            Credentials::Authtoken(token) | Credentials::Bearer(token) => {
                Redactor::new([token.expose()])
            }
            Credentials::None => Redactor::default(),
        }
    }
}

/// Everything the client needs to know about its target.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Base URL without a trailing slash, e.g. `https://personalize-api.contentstack.com`.
    pub base_url: String,
    pub credentials: Credentials,
    /// Sent as the `organization_uid` header on every call when set.
    pub organization_uid: Option<String>,
    /// The highest pace, shared by all clones of the backend (default 10); the client slows
    /// down below it after a 429. `f64::INFINITY` turns pacing off until the first 429.
    pub requests_per_second: f64,
    /// Timeout of one attempt (default 30 s).
    pub timeout: Duration,
    /// Whether to ask for the members extension at all (default true: observe learns from a
    /// 404 that the endpoint has none).
    pub supports_members: bool,
    /// Base URL of the Content Management API (requests under `/v3/`), without `/v3`, e.g.
    /// `https://api.contentstack.io` (see [`cma_region_url`]) or an emulator's CMA listener.
    /// `None`: content types cannot be read or linked on this target.
    pub cma_url: Option<String>,
}

impl HttpConfig {
    /// A configuration with the documented defaults.
    #[must_use]
    pub fn new(base_url: impl Into<String>, credentials: Credentials) -> Self {
        HttpConfig {
            base_url: base_url.into(),
            credentials,
            organization_uid: None,
            requests_per_second: 10.0,
            timeout: Duration::from_secs(30),
            supports_members: true,
            cma_url: None,
        }
    }
}

/// Counters of what a backend (and all its clones) sent, and the pace it settled on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ClientStats {
    /// Requests sent.
    pub requests: u64,
    /// 429 answers seen.
    pub rate_limited: u64,
    /// The pace at the end, in requests per second (`None`: unpaced).
    pub rate: Option<f64>,
    /// The lowest pace of the run (`None`: never paced).
    pub lowest_rate: Option<f64>,
}

/// What one run did over HTTP: the client's counters with the retries of the run's
/// [`crate::live::retry::RetryPolicy`]. Printed on stderr and added to the apply report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct HttpSummary {
    /// Requests sent, retries included.
    pub requests: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// Requests sent again (after a 429, a 5xx or a lost answer).
    pub retries: u64,
    /// The pace at the end, in requests per second (`null`: unpaced).
    pub rate: Option<f64>,
    /// The lowest pace of the run (`null`: never paced).
    pub lowest_rate: Option<f64>,
}

impl HttpSummary {
    /// The client's counters plus `retries`.
    #[must_use]
    pub fn new(stats: ClientStats, retries: u64) -> Self {
        HttpSummary {
            requests: stats.requests,
            rate_limited: stats.rate_limited,
            retries,
            rate: stats.rate,
            lowest_rate: stats.lowest_rate,
        }
    }

    /// One line for people, e.g. `HTTP: 42 requests, 3 rate limited (429), 3 retries, pace
    /// settled at 6.2 requests per second (lowest 5.0)`.
    #[must_use]
    pub fn line(&self) -> String {
        let pace = match (self.rate, self.lowest_rate) {
            (Some(rate), Some(lowest)) if lowest < rate => {
                format!("pace settled at {rate:.1} requests per second (lowest {lowest:.1})")
            }
            (Some(rate), _) => format!("pace {rate:.1} requests per second"),
            (None, _) => "unpaced".to_owned(),
        };
        format!(
            "HTTP: {} requests, {} rate limited (429), {} retries, {pace}",
            self.requests, self.rate_limited, self.retries
        )
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    rate_limited: AtomicU64,
}

struct Inner {
    client: reqwest::Client,
    base_url: String,
    pacer: Pacer,
    /// The Content Management API's base URL and its own pacer (the CMA's rate limit is the
    /// stack's, not the Personalize organization's).
    cma: Option<(String, Pacer)>,
    supports_members: bool,
    /// Learned from a 404 on a members route: the endpoint has no members API.
    no_members: AtomicBool,
    redactor: Redactor,
    counters: Counters,
}

/// The [`Backend`] over HTTP. Cheap to clone; clones share the client, the pacer and the
/// counters.
#[derive(Clone)]
pub struct HttpBackend {
    inner: Arc<Inner>,
}

impl fmt::Debug for HttpBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpBackend")
            .field("base_url", &self.inner.base_url)
            .field("supports_members", &self.inner.supports_members)
            .finish_non_exhaustive()
    }
}

/// The Management API base URL of a hosted region (`personalize-api.md` §1.1), by any of the
/// aliases the official tools accept (`na`, `us`, `aws-na`, `AWS_NA`, `eu`, `azure-na`, …).
#[must_use]
pub fn region_url(region: &str) -> Option<&'static str> {
    let key = region.trim().to_ascii_lowercase().replace('_', "-");
    let url = match key.as_str() {
        "na" | "us" | "aws-na" | "aws-us" => "https://personalize-api.contentstack.com",
        "eu" | "aws-eu" => "https://eu-personalize-api.contentstack.com",
        "au" | "aws-au" => "https://au-personalize-api.contentstack.com",
        "azure-na" | "azure-us" => "https://azure-na-personalize-api.contentstack.com",
        "azure-eu" => "https://azure-eu-personalize-api.contentstack.com",
        "gcp-na" | "gcp-us" => "https://gcp-na-personalize-api.contentstack.com",
        "gcp-eu" => "https://gcp-eu-personalize-api.contentstack.com",
        _ => return None,
    };
    Some(url)
}

/// The Content Management API base URL of a hosted region, by the same aliases as
/// [`region_url`]. North America's is the documented `https://api.contentstack.io`
/// (`personalize-api.md` §2.9); the others follow the rule the official CLI uses to derive a
/// Personalize host from a CMA host (`api` becomes `personalize-api`, §5.1) applied backwards
/// to the Personalize hosts of §1.1 (see `docs/http-client.md`).
#[must_use]
pub fn cma_region_url(region: &str) -> Option<&'static str> {
    let key = region.trim().to_ascii_lowercase().replace('_', "-");
    let url = match key.as_str() {
        "na" | "us" | "aws-na" | "aws-us" => "https://api.contentstack.io",
        "eu" | "aws-eu" => "https://eu-api.contentstack.com",
        "au" | "aws-au" => "https://au-api.contentstack.com",
        "azure-na" | "azure-us" => "https://azure-na-api.contentstack.com",
        "azure-eu" => "https://azure-eu-api.contentstack.com",
        "gcp-na" | "gcp-us" => "https://gcp-na-api.contentstack.com",
        "gcp-eu" => "https://gcp-eu-api.contentstack.com",
        _ => return None,
    };
    Some(url)
}

/// Check an endpoint URL: http(s), no user info. Returns it without a trailing slash.
fn checked_url(url: &str, what: &str) -> Result<String, BackendError> {
    let url = url.trim().trim_end_matches('/').to_owned();
    let parsed = reqwest::Url::parse(&url)
        .map_err(|error| config_error(format!("{what} `{url}` is not a URL: {error}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(config_error(format!(
            "{what} `{url}` must start with http:// or https://"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(config_error(format!(
            "the {what} URL must not carry credentials; use CONTENTSTACK_AUTHTOKEN or \
             CONTENTSTACK_OAUTH_TOKEN"
        )));
    }
    Ok(url)
}

/// The canonical region names, for messages.
pub const REGIONS: &[&str] = &["na", "eu", "au", "azure-na", "azure-eu", "gcp-na", "gcp-eu"];

fn config_error(message: impl Into<String>) -> BackendError {
    BackendError::Local(message.into())
}

fn sensitive(value: &str, what: &str) -> Result<HeaderValue, BackendError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        config_error(format!(
            "{what} contains characters not allowed in an HTTP header"
        ))
    })?;
    header.set_sensitive(true);
    Ok(header)
}

impl HttpBackend {
    /// Build the client. Fails on an invalid base URL (or one carrying user info), a credential
    /// that cannot be a header, or a non-positive rate (`f64::INFINITY` means no pacing).
    pub fn new(config: HttpConfig) -> Result<Self, BackendError> {
        let base_url = checked_url(&config.base_url, "endpoint")?;
        let cma_url = config
            .cma_url
            .as_deref()
            .map(|url| checked_url(url, "CMA endpoint"))
            .transpose()?;

        let mut headers = HeaderMap::new();
        match &config.credentials {
            Credentials::Authtoken(token) => {
                headers.insert("authtoken", sensitive(token.expose(), "the authtoken")?);
            }
            Credentials::Bearer(token) => {
                let value = format!("Bearer {}", token.expose());
                headers.insert(
                    reqwest::header::AUTHORIZATION,
                    sensitive(&value, "the OAuth token")?,
                );
            }
            Credentials::None => {}
        }
        if let Some(org) = &config.organization_uid {
            let value = HeaderValue::from_str(org).map_err(|_| {
                config_error("the organization uid contains characters not allowed in a header")
            })?;
            headers.insert(HeaderName::from_static("organization_uid"), value);
        }

        let rate = config.requests_per_second;
        if rate.is_nan() || rate <= 0.0 {
            return Err(config_error(format!(
                "requests per second must be positive (or infinite for no pacing), got {rate}"
            )));
        }
        if rate.is_finite() && Duration::try_from_secs_f64(1.0 / rate).is_err() {
            return Err(config_error(format!(
                "{rate} requests per second is too slow to pace at"
            )));
        }

        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            // Never follow a redirect: the credentials would go along (reqwest drops only the
            // standard auth headers, not `authtoken`), and a 307/308 would re-send the body.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("pzctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| config_error(format!("cannot build the HTTP client: {error}")))?;

        Ok(HttpBackend {
            inner: Arc::new(Inner {
                client,
                base_url,
                pacer: Pacer::new(rate),
                cma: cma_url.map(|url| (url, Pacer::new(rate))),
                supports_members: config.supports_members,
                no_members: AtomicBool::new(false),
                redactor: config.credentials.redactor(),
                counters: Counters::default(),
            }),
        })
    }

    /// What this backend (and its clones) sent so far.
    #[must_use]
    pub fn stats(&self) -> ClientStats {
        let counters = &self.inner.counters;
        ClientStats {
            requests: counters.requests.load(Ordering::Relaxed),
            rate_limited: counters.rate_limited.load(Ordering::Relaxed),
            rate: self.inner.pacer.rate(),
            lowest_rate: self.inner.pacer.lowest(),
        }
    }

    /// The base URL requests go to.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The redactor of this backend's credentials.
    #[must_use]
    pub fn redactor(&self) -> &Redactor {
        &self.inner.redactor
    }

    /// The Content Management API's base URL, if this backend has one.
    #[must_use]
    pub fn cma_url(&self) -> Option<&str> {
        self.inner.cma.as_ref().map(|(url, _)| url.as_str())
    }

    /// Send `request` once, after its turn in the pacer (the CMA's for `/v3/` paths).
    async fn execute(&self, request: Request) -> Result<Value, BackendError> {
        let method = request.method;
        let (base_url, pacer) = if request.is_cma() {
            match &self.inner.cma {
                Some((url, pacer)) => (url.as_str(), pacer),
                None => {
                    return Err(BackendError::Unsupported(
                        "the Content Management API (no CMA endpoint: give --cma-endpoint)"
                            .to_owned(),
                    ));
                }
            }
        } else {
            (self.inner.base_url.as_str(), &self.inner.pacer)
        };
        let url = format!("{base_url}{}", request.path);
        let redactor = &self.inner.redactor;
        let transport = |message: String| BackendError::Transport {
            method: method.as_str(),
            path: request.path.clone(),
            message: redactor.text(&message),
        };

        let mut builder = self.inner.client.request(reqwest_method(method), &url);
        if let Some(project) = &request.project {
            builder = builder.header("x-project-uid", project.as_str());
        }
        if let Some(stack) = &request.stack {
            builder = builder.header("api_key", stack.as_str());
        }
        if let (Some(body), Method::Post | Method::Put) = (&request.body, method) {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }

        let members_route = is_members_route(&request.path);
        let known_missing = || {
            (members_route && self.inner.no_members.load(Ordering::Relaxed)).then(|| {
                BackendError::Api {
                    method: method.as_str(),
                    path: request.path.clone(),
                    error: ApiError::not_found(&format!(
                        "Cannot {} {} (this endpoint has no members API)",
                        method.as_str(),
                        request.path
                    )),
                }
            })
        };
        if let Some(error) = known_missing() {
            return Err(error);
        }
        let sent = pacer.ready().await;
        // Learned while this request waited for its turn.
        if let Some(error) = known_missing() {
            return Err(error);
        }
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let response = builder
            .send()
            .await
            .map_err(|error| transport(describe_error(&error)))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| transport(describe_error(&error)))?;

        if members_route && status == 404 {
            self.inner.no_members.store(true, Ordering::Relaxed);
        }
        if status == 429 {
            self.inner
                .counters
                .rate_limited
                .fetch_add(1, Ordering::Relaxed);
            let refusal = pacer.refused(sent, retry_after(&headers));
            let tell = |what, wait| {
                observer::notify(
                    what,
                    None,
                    Some(status),
                    wait,
                    method.as_str(),
                    &request.path,
                );
            };
            if let Some((rate, interval)) = refusal.slowed_to {
                tell(Wait::Slowdown { rate }, interval);
            }
            if let Some(held) = refusal.held {
                tell(Wait::RetryAfter, held);
            }
        } else {
            pacer.answered();
        }

        if (200..300).contains(&status) {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes).map_err(|error| BackendError::Decode {
                method: method.as_str(),
                path: request.path.clone(),
                message: redactor.text(&format!("the {status} answer is not JSON: {error}")),
            });
        }
        let body = if (300..400).contains(&status) {
            let target = headers
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("(no location)");
            serde_json::json!({
                "message": format!(
                    "the endpoint redirected to {}; pzctl follows no redirects, so credentials \
                     never leave the endpoint: give the final URL as --endpoint",
                    redactor.text(target)
                )
            })
        } else {
            serde_json::from_slice(&bytes).map_or_else(
                |_| {
                    serde_json::json!({
                        "message": redactor.text(String::from_utf8_lossy(&bytes).trim())
                    })
                },
                |body| redactor.json(body),
            )
        };
        Err(BackendError::Api {
            method: method.as_str(),
            path: request.path.clone(),
            error: ApiError { status, body },
        })
    }
}

/// `/projects/{uid}/users…`, the members extension.
fn is_members_route(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    matches!(segments.as_slice(), ["projects", _, "users", ..])
}

fn reqwest_method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Delete => reqwest::Method::DELETE,
    }
}

/// `Retry-After` in seconds (integer or decimal); an HTTP date counts as absent.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = text.trim().parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(seconds).min(MAX_RETRY_AFTER))
}

/// A transport error in words, without the URL (the caller names method and path).
fn describe_error(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the response body was cut off"
    } else {
        "the connection failed"
    };
    let mut message = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

impl Backend for HttpBackend {
    async fn send(&self, request: Request) -> Result<Value, BackendError> {
        self.execute(request).await
    }

    fn supports_members(&self) -> bool {
        self.inner.supports_members && !self.inner.no_members.load(Ordering::Relaxed)
    }

    fn supports_cma(&self) -> bool {
        self.inner.cma.is_some()
    }

    fn describe(&self) -> String {
        format!("Personalize API at {}", self.inner.base_url)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_aliases_resolve() {
        assert_eq!(
            region_url("NA"),
            Some("https://personalize-api.contentstack.com")
        );
        assert_eq!(
            region_url("aws_eu"),
            Some("https://eu-personalize-api.contentstack.com")
        );
        assert_eq!(
            region_url("AZURE-NA"),
            Some("https://azure-na-personalize-api.contentstack.com")
        );
        for region in REGIONS {
            assert!(region_url(region).is_some(), "{region}");
        }
        assert_eq!(region_url("mars"), None);
        assert_eq!(cma_region_url("us"), Some("https://api.contentstack.io"));
        assert_eq!(
            cma_region_url("GCP_EU"),
            Some("https://gcp-eu-api.contentstack.com")
        );
        for region in REGIONS {
            let personalize = region_url(region).unwrap();
            let cma = cma_region_url(region).unwrap();
            if *region != "na" {
                // The official CLI's rule: the Personalize host is the CMA host with `api`
                // replaced by `personalize-api`.
                assert_eq!(cma.replace("-api.", "-personalize-api."), personalize);
            }
        }
        assert_eq!(cma_region_url("mars"), None);
    }

    #[test]
    fn secrets_never_print() {
        let token = "tok-SECRET-123";
        let mut config = HttpConfig::new(
            "http://127.0.0.1:1",
            Credentials::Bearer(Secret::new(token)),
        );
        config.organization_uid = Some("org1".to_owned());
        let backend = HttpBackend::new(config.clone());
        let text = format!("{config:?} {backend:?} {}", Secret::new(token));
        assert!(!text.contains(token), "{text}");
        assert!(text.contains("***"));
    }

    #[test]
    fn rejects_credentials_in_url_without_echoing_them() {
        let config = HttpConfig::new("http://user:pw-SECRET@example.com", Credentials::None);
        let error = HttpBackend::new(config)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let Err(message) = error else {
            panic!("accepted a URL with credentials");
        };
        assert!(!message.contains("pw-SECRET"), "{message}");
    }

    #[test]
    fn retry_after_parses_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
