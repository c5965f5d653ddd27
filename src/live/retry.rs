//! The one retry policy: every caller that sends a request (observe, the applier) repeats it
//! through a [`RetryPolicy`], and nothing underneath repeats it again. The HTTP client sends
//! each request exactly once per call; it paces, slows down on 429 and holds the next request
//! until `Retry-After` has passed (see `live::http`), so a refused request re-sent here waits
//! for the server's word without this module knowing about HTTP.
//!
//! Rules (`docs/http-client.md`, "Retries"):
//! - 429 (refused, not processed): repeated whatever the method, without counting as a
//!   failure, until the request has been refused without any other answer for `deadline`.
//! - 5xx, no answer (transport): a failure. An idempotent call (GET, PUT, DELETE) is repeated;
//!   a create is looked up first and repeated only if the lookup finds nothing. At most
//!   `max_attempts` failed attempts in all, lookups included.
//! - Anything else (2xx, other 4xx, a redirect): returned as it is.
//!
//! Each attempt runs numbered in `live::observer`, and each repetition and look-before-retry
//! is told to the current observer before its wait, so a caller can stream them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::live::BackendError;
use crate::live::observer::{self, Wait};

/// The default of [`RetryPolicy::max_attempts`]: a call that keeps failing is sent 6 times.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;

/// The default of [`RetryPolicy::deadline`].
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);

/// How a caller repeats requests. Cheap to clone; clones share the counters.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Failed attempts (5xx, no answer) after which a call gives up, first attempt included.
    pub max_attempts: u32,
    /// The delay after the first failure; it doubles per failure, with jitter (half to all).
    pub backoff_base: Duration,
    /// The longest delay between two attempts.
    pub backoff_cap: Duration,
    /// How long a request may be refused with 429 in a row, with no other answer, before it
    /// gives up.
    pub deadline: Duration,
    counters: Arc<AtomicU64>,
}

impl PartialEq for RetryPolicy {
    fn eq(&self, other: &Self) -> bool {
        (
            self.max_attempts,
            self.backoff_base,
            self.backoff_cap,
            self.deadline,
        ) == (
            other.max_attempts,
            other.backoff_base,
            other.backoff_cap,
            other.deadline,
        )
    }
}

impl Eq for RetryPolicy {}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(5),
            deadline: DEFAULT_DEADLINE,
            counters: Arc::default(),
        }
    }
}

/// What an answer means for the next attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// 429: the server did not process the request.
    Refused,
    /// 5xx or no answer: the request may or may not have taken effect.
    Failed,
    /// Anything else: final.
    Final,
}

fn verdict(error: &BackendError) -> Verdict {
    match error {
        BackendError::Transport { .. } => Verdict::Failed,
        _ => match error.status() {
            Some(429) => Verdict::Refused,
            Some(status) if status >= 500 => Verdict::Failed,
            _ => Verdict::Final,
        },
    }
}

/// The state of one call across its attempts.
#[doc(hidden)]
pub struct Attempts<'a> {
    policy: &'a RetryPolicy,
    /// Attempts sent so far, lookups included.
    sent: u32,
    failures: u32,
    refused_since: Option<Instant>,
}

impl Attempts<'_> {
    /// The number of the attempt about to be sent (1: the first).
    pub fn next_attempt(&mut self) -> u32 {
        self.sent += 1;
        self.sent
    }

    /// After `error`: wait and return `true` to send again (`next` tells what is sent: the
    /// request, or a lookup before a create is repeated), or `false` to give up.
    pub async fn again(&mut self, error: &BackendError, next: Wait) -> bool {
        let policy = self.policy;
        let wait = match verdict(error) {
            Verdict::Final => return false,
            Verdict::Refused => {
                let since = *self.refused_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= policy.deadline {
                    return false;
                }
                // The HTTP client holds the next request until `Retry-After`; this short
                // pause only keeps a backend without pacing from spinning.
                jitter(policy.backoff_base)
            }
            Verdict::Failed => {
                self.refused_since = None;
                self.failures += 1;
                if self.failures >= policy.max_attempts {
                    return false;
                }
                let exponent = (self.failures - 1).min(16);
                jitter(
                    policy
                        .backoff_base
                        .saturating_mul(1 << exponent)
                        .min(policy.backoff_cap),
                )
            }
        };
        policy.counters.fetch_add(1, Ordering::Relaxed);
        let (method, path) = error.request();
        observer::notify(next, Some(self.sent), error.status(), wait, method, path);
        tokio::time::sleep(wait).await;
        true
    }

    /// The server answered (a lookup found nothing): the run of refusals is over.
    pub fn answered(&mut self) {
        self.refused_since = None;
    }
}

/// Somewhere between half and all of `delay`.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(0.5 + rand::random::<f64>() / 2.0)
}

impl RetryPolicy {
    /// A policy with short delays, for tests.
    #[must_use]
    pub fn fast() -> Self {
        RetryPolicy {
            backoff_base: Duration::from_millis(2),
            backoff_cap: Duration::from_millis(20),
            ..RetryPolicy::default()
        }
    }

    /// These settings with at most `attempts` failed attempts per call.
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// These settings with another deadline for refusals.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The same settings with counters of its own.
    #[must_use]
    pub fn fresh(&self) -> Self {
        RetryPolicy {
            counters: Arc::default(),
            ..self.clone()
        }
    }

    /// Requests re-sent so far by this policy and its clones.
    #[must_use]
    pub fn retries(&self) -> u64 {
        self.counters.load(Ordering::Relaxed)
    }

    fn attempts(&self) -> Attempts<'_> {
        Attempts {
            policy: self,
            sent: 0,
            failures: 0,
            refused_since: None,
        }
    }

    /// The attempts of one call (used by [`retry_idempotent!`] and [`retry_create!`]).
    #[doc(hidden)]
    #[must_use]
    pub fn begin(&self) -> Attempts<'_> {
        self.attempts()
    }
}

/// Run an idempotent call (GET, PUT, DELETE) under `$policy`, repeating it after a 429, a 5xx
/// or a lost answer (see the module documentation). `$call` is an expression ending in
/// `.await`, evaluated once per attempt, each attempt numbered for `live::observer`. (A macro rather than a method taking an async closure:
/// futures holding async closures are not provably `Send` for spawned tasks.)
#[macro_export]
macro_rules! retry_idempotent {
    ($policy:expr, $call:expr) => {{
        let mut attempts = $policy.begin();
        loop {
            match $crate::live::observer::attempt(attempts.next_attempt(), async { $call }).await {
                Err(error)
                    if attempts
                        .again(&error, $crate::live::observer::Wait::Retry)
                        .await => {}
                other => break other,
            }
        }
    }};
}

/// Run a create (POST) under `$policy`, at most once in effect: after a 429 it is sent again
/// (it was not processed); after a 5xx or a lost answer, `$lookup` (giving
/// `Result<Option<T>, BackendError>`) looks for what it may have made and adopts it, and only if
/// it finds nothing is the POST sent again.
#[macro_export]
macro_rules! retry_create {
    ($policy:expr, post: $post:expr, lookup: $lookup:expr) => {{
        let mut attempts = $policy.begin();
        let mut look_first = false;
        loop {
            if look_first {
                match $crate::live::observer::attempt(attempts.next_attempt(), async { $lookup })
                    .await
                {
                    Ok(Some(found)) => break Ok(found),
                    // Nothing was made: post again.
                    Ok(None) => attempts.answered(),
                    Err(error) => {
                        if attempts
                            .again(&error, $crate::live::observer::Wait::Lookup)
                            .await
                        {
                            continue;
                        }
                        break Err(error);
                    }
                }
            }
            match $crate::live::observer::attempt(attempts.next_attempt(), async { $post }).await {
                Ok(created) => break Ok(created),
                Err(error) => {
                    let lost = $crate::live::retry::may_have_happened(&error);
                    let next = if lost {
                        $crate::live::observer::Wait::Lookup
                    } else {
                        $crate::live::observer::Wait::Retry
                    };
                    if !attempts.again(&error, next).await {
                        break Err(error);
                    }
                    look_first = lost;
                }
            }
        }
    }};
}

pub use crate::{retry_create, retry_idempotent};

/// Whether a failed request may have taken effect (a 5xx or no answer; not a 429).
#[must_use]
pub fn may_have_happened(error: &BackendError) -> bool {
    verdict(error) == Verdict::Failed
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::ApiError;

    async fn idempotent<T>(
        policy: &RetryPolicy,
        mut call: impl FnMut() -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        retry_idempotent!(policy, async { call() }.await)
    }

    fn status(status: u16) -> BackendError {
        BackendError::Api {
            method: "PUT",
            path: "/x".to_owned(),
            error: ApiError {
                status,
                body: serde_json::Value::Null,
            },
        }
    }

    #[tokio::test]
    async fn a_failing_call_is_sent_max_attempts_times() {
        let policy = RetryPolicy::fast();
        let mut sent = 0;
        let result: Result<(), _> = idempotent(&policy, || {
            sent += 1;
            Err(status(503))
        })
        .await;
        assert_eq!(result.unwrap_err().status(), Some(503));
        assert_eq!(sent, DEFAULT_MAX_ATTEMPTS);
        assert_eq!(policy.retries(), u64::from(DEFAULT_MAX_ATTEMPTS - 1));
    }

    #[tokio::test]
    async fn client_errors_are_final_and_429_does_not_count_as_a_failure() {
        let policy = RetryPolicy::fast();
        let mut sent = 0;
        let result: Result<(), _> = idempotent(&policy, || {
            sent += 1;
            Err(status(404))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(sent, 1);

        let mut sent = 0;
        let result = idempotent(&policy, || {
            sent += 1;
            if sent <= 10 {
                Err(status(429))
            } else {
                Ok(sent)
            }
        })
        .await;
        assert_eq!(result.unwrap(), 11);
    }

    #[tokio::test]
    async fn refusals_give_up_after_the_deadline() {
        let policy = RetryPolicy {
            deadline: Duration::from_millis(30),
            ..RetryPolicy::fast()
        };
        let started = Instant::now();
        let result: Result<(), _> = idempotent(&policy, || Err(status(429))).await;
        assert_eq!(result.unwrap_err().status(), Some(429));
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn a_failed_create_is_looked_up_before_it_is_repeated() {
        let policy = RetryPolicy::fast();
        let mut posts = 0;
        let mut looks = 0;
        let result: Result<&str, _> = retry_create!(&policy,
            post: async {
                posts += 1;
                Err(status(502))
            }
            .await,
            lookup: async {
                looks += 1;
                Ok(if looks == 2 { Some("found") } else { None })
            }
            .await
        );
        assert_eq!(result.unwrap(), "found");
        assert_eq!((posts, looks), (2, 2));

        // A create that keeps failing: at most `max_attempts` failed sends in all.
        let mut sent = 0;
        let result: Result<(), _> = retry_create!(&policy,
            post: async {
                sent += 1;
                Err(status(503))
            }
            .await,
            lookup: async {
                sent += 1;
                Err::<Option<()>, _>(status(503))
            }
            .await
        );
        assert!(result.is_err());
        assert_eq!(sent, DEFAULT_MAX_ATTEMPTS);
    }
}
