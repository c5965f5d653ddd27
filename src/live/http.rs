//! The HTTP client for the hosted Personalize Management API and the emulator.
//!
//! Owns authentication headers, pacing under the organization's rate limit (one GCRA limiter
//! shared by every clone of a backend), and retries: idempotent calls (GET, PUT, DELETE) are
//! retried on 429, 5xx, timeouts and connection failures with jittered exponential backoff;
//! a POST is retried only on 429 (the server did not process it). See `docs/http-client.md`.
//!
//! Invariant: this is the only module that imports `reqwest`, and no token ever reaches an
//! error, a `Debug` print or a log line.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

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

/// Everything the client needs to know about its target.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Base URL without a trailing slash, e.g. `https://personalize-api.contentstack.com`.
    pub base_url: String,
    pub credentials: Credentials,
    /// Sent as the `organization_uid` header on every call when set.
    pub organization_uid: Option<String>,
    /// Pace of requests, shared by all clones of the backend (default 10). `f64::INFINITY`
    /// turns pacing off.
    pub requests_per_second: f64,
    /// How many times a retryable failure is retried (default 5).
    pub max_retries: u32,
    /// Timeout of one attempt (default 30 s).
    pub timeout: Duration,
    /// Whether the members extension exists (emulator: yes; hosted API: no).
    pub supports_members: bool,
    /// First backoff delay (default 200 ms); doubles per attempt, with jitter.
    pub backoff_base: Duration,
    /// Longest backoff delay (default 5 s).
    pub backoff_cap: Duration,
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
            max_retries: 5,
            timeout: Duration::from_secs(30),
            supports_members: false,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(5),
        }
    }
}

/// Counters of what a backend (and all its clones) sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Attempts sent, retries included.
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// 429 answers seen.
    pub rate_limited: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
}

struct Inner {
    client: reqwest::Client,
    base_url: String,
    /// `None` when pacing is off.
    limiter: Option<DefaultDirectRateLimiter>,
    max_retries: u32,
    backoff_base: Duration,
    backoff_cap: Duration,
    supports_members: bool,
    counters: Counters,
}

/// The [`Backend`] over HTTP. Cheap to clone; clones share the client, the rate limiter and
/// the counters.
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
        let base_url = config.base_url.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base_url).map_err(|error| {
            config_error(format!("endpoint `{base_url}` is not a URL: {error}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(config_error(format!(
                "endpoint `{base_url}` must start with http:// or https://"
            )));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(config_error(
                "the endpoint URL must not carry credentials; use CONTENTSTACK_AUTHTOKEN or \
                 CONTENTSTACK_OAUTH_TOKEN",
            ));
        }

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
        let limiter = if rate.is_finite() {
            let period = Duration::try_from_secs_f64(1.0 / rate).map_err(|_| {
                config_error(format!("{rate} requests per second is too slow to pace at"))
            })?;
            let quota =
                Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX));
            Some(RateLimiter::direct(quota))
        } else {
            None
        };

        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            .user_agent(concat!("pzctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| config_error(format!("cannot build the HTTP client: {error}")))?;

        Ok(HttpBackend {
            inner: Arc::new(Inner {
                client,
                base_url,
                limiter,
                max_retries: config.max_retries,
                backoff_base: config.backoff_base,
                backoff_cap: config.backoff_cap,
                supports_members: config.supports_members,
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
            retries: counters.retries.load(Ordering::Relaxed),
            rate_limited: counters.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// The base URL requests go to.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.min(16);
        let full = self
            .inner
            .backoff_base
            .saturating_mul(1u32 << exponent)
            .min(self.inner.backoff_cap);
        // Jitter: somewhere between half and all of the exponential delay.
        let factor: f64 = rand::rng().random_range(0.5..=1.0);
        full.mul_f64(factor)
    }

    async fn execute(&self, request: Request) -> Result<Value, BackendError> {
        let method = request.method;
        let idempotent = method.is_idempotent();
        let url = format!("{}{}", self.inner.base_url, request.path);
        let body = match (&request.body, method) {
            (Some(body), Method::Post | Method::Put) => Some(body.to_string()),
            _ => None,
        };
        let transport = |message: String| BackendError::Transport {
            method: method.as_str(),
            path: request.path.clone(),
            message,
        };

        let mut attempt: u32 = 0;
        loop {
            if let Some(limiter) = &self.inner.limiter {
                limiter.until_ready().await;
            }
            self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
            if attempt > 0 {
                self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            let can_retry = attempt < self.inner.max_retries;

            let mut builder = self.inner.client.request(reqwest_method(method), &url);
            if let Some(project) = &request.project {
                builder = builder.header("x-project-uid", project.as_str());
            }
            if let Some(body) = &body {
                builder = builder
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }

            let response = match builder.send().await {
                Ok(response) => response,
                Err(error) => {
                    let message = describe_error(&error);
                    if idempotent && can_retry {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(transport(message));
                }
            };

            let status = response.status().as_u16();
            let retry_after = retry_after(response.headers());
            let bytes = match response.bytes().await {
                Ok(bytes) => bytes,
                Err(error) => {
                    let message = describe_error(&error);
                    if idempotent && can_retry {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(transport(message));
                }
            };

            if status == 429 {
                self.inner
                    .counters
                    .rate_limited
                    .fetch_add(1, Ordering::Relaxed);
                // A 429 was not processed, so even a POST may be sent again.
                if can_retry {
                    let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                    continue;
                }
            } else if status >= 500 && idempotent && can_retry {
                tokio::time::sleep(self.backoff(attempt)).await;
                attempt += 1;
                continue;
            }

            if (200..300).contains(&status) {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Ok(Value::Null);
                }
                return serde_json::from_slice(&bytes).map_err(|error| BackendError::Decode {
                    method: method.as_str(),
                    path: request.path.clone(),
                    message: format!("the {status} answer is not JSON: {error}"),
                });
            }
            let body = serde_json::from_slice(&bytes).unwrap_or_else(
                |_| serde_json::json!({ "message": String::from_utf8_lossy(&bytes).trim() }),
            );
            return Err(BackendError::Api {
                method: method.as_str(),
                path: request.path.clone(),
                error: ApiError { status, body },
            });
        }
    }
}

fn reqwest_method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Delete => reqwest::Method::DELETE,
    }
}

/// `Retry-After` in seconds (integer or decimal); HTTP dates fall back to backoff.
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
        self.inner.supports_members
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
    fn backoff_grows_and_is_capped() {
        let mut config = HttpConfig::new("http://127.0.0.1:1", Credentials::None);
        config.backoff_base = Duration::from_millis(100);
        config.backoff_cap = Duration::from_millis(1000);
        let backend = HttpBackend::new(config).unwrap();
        let first = backend.backoff(0);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let late = backend.backoff(10);
        assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
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
