//! Retries and waits as they happen. The retry layer (`live::retry`) and the client's pacing
//! (`live::pace`, through `live::http`) tell the [`Observer`] of the running call what they do,
//! so a caller can stream it (`pzctl apply --format ndjson`) while the HTTP layer prints
//! nothing and knows nothing about plans or changes.
//!
//! The observer travels with the call, in a task-local [`Scope`]: a caller runs its work
//! [`within`] a scope (with the address of the change it belongs to, when there is one), the
//! retry layer numbers each attempt of a call ([`attempt`]), and [`notify`] reaches whatever
//! observer is current. Without a scope, nothing is reported and nothing is paid beyond a
//! task-local lookup.
//!
//! A notice holds the request's method and path, the status and the wait: never a header, a
//! body or a token.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What the retry layer or the pacing did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Wait {
    /// The request is sent again after `wait` (after a 429, a 5xx or a lost answer).
    Retry,
    /// A create's answer was lost or failed with a 5xx: after `wait`, the object is looked up
    /// by its identity before the create is sent again.
    Lookup,
    /// A 429 with `Retry-After`: every request of the backend is held for `wait`.
    RetryAfter,
    /// A 429 lowered the pace to `rate` requests per second: one request every `wait`.
    Slowdown { rate: f64 },
}

/// One retry or wait.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub what: Wait,
    /// The plan address of the change the request belongs to, when known.
    pub address: Option<String>,
    /// The attempt of the call that got `status` (1: the first send; lookups count).
    pub attempt: u32,
    /// The status that caused it; `None` when no answer arrived.
    pub status: Option<u16>,
    /// How long it waits (see [`Wait`]).
    pub wait: Duration,
    /// The request that got `status`.
    pub method: &'static str,
    pub path: String,
}

/// Told of every retry and wait of the calls run [`within`] its scope. Called from the task
/// that makes the call, as it happens.
pub trait Observer: Send + Sync {
    fn notice(&self, notice: &Notice);
}

/// The observer of the running work and the change it belongs to. Cheap to clone.
#[derive(Clone)]
pub struct Scope {
    observer: Arc<dyn Observer>,
    address: Option<Arc<str>>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Scope {
    /// A scope reporting to `observer`, for work that belongs to no change.
    #[must_use]
    pub fn new(observer: Arc<dyn Observer>) -> Self {
        Scope {
            observer,
            address: None,
        }
    }

    /// The same observer, for the work of the change at `address`.
    #[must_use]
    pub fn for_change(&self, address: &str) -> Self {
        Scope {
            observer: Arc::clone(&self.observer),
            address: Some(address.into()),
        }
    }
}

tokio::task_local! {
    static SCOPE: Scope;
    static ATTEMPT: u32;
}

/// The current scope, to carry into a spawned task (task-locals do not cross `spawn`).
#[must_use]
pub fn current() -> Option<Scope> {
    SCOPE.try_with(Scope::clone).ok()
}

/// Run `future` within `scope` (or as it is, without one).
pub async fn within<F: Future>(scope: Option<Scope>, future: F) -> F::Output {
    match scope {
        Some(scope) => SCOPE.scope(scope, future).await,
        None => future.await,
    }
}

/// Run one attempt of a call, numbered `number` (used by the retry macros).
#[doc(hidden)]
pub async fn attempt<F: Future>(number: u32, future: F) -> F::Output {
    ATTEMPT.scope(number, future).await
}

/// Tell the current observer, if any. `attempt`: the attempt's number, when the caller
/// knows it better than the scope of the running attempt.
pub(crate) fn notify(
    what: Wait,
    attempt: Option<u32>,
    status: Option<u16>,
    wait: Duration,
    method: &'static str,
    path: &str,
) {
    let _ = SCOPE.try_with(|scope| {
        scope.observer.notice(&Notice {
            what,
            address: scope.address.as_deref().map(str::to_owned),
            attempt: attempt.unwrap_or_else(|| ATTEMPT.try_with(|number| *number).unwrap_or(1)),
            status,
            wait,
            method,
            path: path.to_owned(),
        });
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Notice>>);

    impl Observer for Recorder {
        fn notice(&self, notice: &Notice) {
            self.0.lock().unwrap().push(notice.clone());
        }
    }

    #[tokio::test]
    async fn notices_reach_the_observer_of_their_scope_with_address_and_attempt() {
        let recorder = Arc::new(Recorder::default());
        let scope = Scope::new(recorder.clone());
        notify(Wait::Retry, None, Some(503), Duration::ZERO, "GET", "/x");
        within(Some(scope.clone()), async {
            notify(Wait::Retry, None, Some(503), Duration::ZERO, "GET", "/a");
            let change = scope.for_change("project/p");
            let carried = within(Some(change), async { current() }).await;
            tokio::spawn(within(carried, async {
                attempt(3, async {
                    notify(
                        Wait::RetryAfter,
                        None,
                        Some(429),
                        Duration::from_secs(1),
                        "PUT",
                        "/b",
                    );
                })
                .await;
            }))
            .await
            .unwrap();
        })
        .await;
        let notices = recorder.0.lock().unwrap();
        assert_eq!(notices.len(), 2, "nothing is reported outside a scope");
        assert_eq!(
            (notices[0].address.as_deref(), notices[0].attempt),
            (None, 1)
        );
        assert_eq!(
            (
                notices[1].address.as_deref(),
                notices[1].attempt,
                notices[1].what,
                notices[1].path.as_str()
            ),
            (Some("project/p"), 3, Wait::RetryAfter, "/b")
        );
    }
}
