//! Adaptive pacing of the HTTP client: requests start one every `1 / rate` seconds (no burst),
//! the rate halves when the server answers 429 and grows back slowly while it does not
//! (additive increase, multiplicative decrease), and a 429's `Retry-After` holds every request
//! of the backend until it has passed. See `docs/http-client.md`, "Pacing".

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The lowest pace a run slows down to, in requests per second.
pub const MIN_RATE: f64 = 0.5;

/// The pace an unpaced client starts at after its first 429.
const FIRST_LIMITED_RATE: f64 = 5.0;

/// Requests per second gained per second of answers without a 429 (about `STEP` per `rate`
/// answers).
const STEP: f64 = 0.5;

struct State {
    /// Current pace; infinite when unpaced.
    rate: f64,
    /// The earliest start of the next request.
    next: Instant,
    /// No request starts before this (the latest `Retry-After`).
    paused_until: Instant,
    /// When the rate was last lowered: 429s to requests sent before it do not lower it again.
    lowered_at: Option<Instant>,
    /// The lowest rate of the run.
    lowest: f64,
}

/// What [`Pacer::refused`] did about a 429.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Refusal {
    /// The pace was lowered to this many requests per second (one request per interval).
    pub slowed_to: Option<(f64, Duration)>,
    /// Every request is held this long (the `Retry-After` given).
    pub held: Option<Duration>,
}

/// The pacer of one backend, shared by its clones.
pub struct Pacer {
    /// The configured pace, never exceeded (infinite: unpaced until a 429).
    ceiling: f64,
    state: Mutex<State>,
}

impl Pacer {
    /// `rate` requests per second (`f64::INFINITY`: no pacing until the server refuses).
    #[must_use]
    pub fn new(rate: f64) -> Self {
        let now = Instant::now();
        Pacer {
            ceiling: rate,
            state: Mutex::new(State {
                rate,
                next: now,
                paused_until: now,
                lowered_at: None,
                lowest: rate,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wait for this request's turn; returns when it was sent.
    pub async fn ready(&self) -> Instant {
        loop {
            let at = {
                let mut state = self.lock();
                let now = Instant::now();
                let at = now.max(state.next).max(state.paused_until);
                state.next = match interval(state.rate) {
                    Some(interval) => at + interval,
                    None => at,
                };
                at
            };
            tokio::time::sleep_until(at.into()).await;
            // A 429 that arrived while this request waited pauses it too.
            if self.lock().paused_until <= Instant::now() {
                return Instant::now();
            }
        }
    }

    /// The server answered (not with 429): speed up a little, up to the ceiling.
    pub fn answered(&self) {
        let mut state = self.lock();
        if state.rate.is_finite() && state.rate < self.ceiling {
            state.rate = (state.rate + STEP / state.rate).min(self.ceiling);
        }
    }

    /// The server refused a request sent at `sent` with 429: halve the pace (once per round
    /// of requests) and hold every request until `retry_after` (or one interval) has passed.
    pub fn refused(&self, sent: Instant, retry_after: Option<Duration>) -> Refusal {
        let mut state = self.lock();
        let now = Instant::now();
        let lower = state.lowered_at.is_none_or(|lowered| sent >= lowered);
        if lower {
            state.rate = if state.rate.is_finite() {
                (state.rate / 2.0).max(MIN_RATE)
            } else {
                FIRST_LIMITED_RATE
            };
            state.lowest = state.lowest.min(state.rate);
            state.lowered_at = Some(now);
        }
        let wait = retry_after
            .or_else(|| interval(state.rate))
            .unwrap_or_default();
        state.paused_until = state.paused_until.max(now + wait);
        state.next = state.next.max(state.paused_until);
        Refusal {
            slowed_to: if lower {
                interval(state.rate).map(|interval| (state.rate, interval))
            } else {
                None
            },
            held: retry_after,
        }
    }

    /// The current pace (`None`: unpaced).
    #[must_use]
    pub fn rate(&self) -> Option<f64> {
        let rate = self.lock().rate;
        rate.is_finite().then_some(rate)
    }

    /// The lowest pace of the run (`None`: never paced).
    #[must_use]
    pub fn lowest(&self) -> Option<f64> {
        let lowest = self.lock().lowest;
        lowest.is_finite().then_some(lowest)
    }
}

fn interval(rate: f64) -> Option<Duration> {
    if rate.is_finite() && rate > 0.0 {
        Duration::try_from_secs_f64(1.0 / rate).ok()
    } else {
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn paces_without_burst() {
        let pacer = Pacer::new(100.0);
        let started = Instant::now();
        for _ in 0..6 {
            pacer.ready().await;
        }
        // The first goes at once, five wait 10 ms each.
        assert!(started.elapsed() >= Duration::from_millis(48));
    }

    #[tokio::test]
    async fn a_429_halves_the_rate_once_per_round_and_pauses() {
        let pacer = Pacer::new(10.0);
        let sent = pacer.ready().await;
        pacer.refused(sent, Some(Duration::from_millis(40)));
        // A second 429 to a request sent before the first one was seen does not halve again.
        pacer.refused(sent, None);
        assert_eq!(pacer.rate(), Some(5.0));
        let started = Instant::now();
        pacer.ready().await;
        assert!(started.elapsed() >= Duration::from_millis(38));
        for _ in 0..100 {
            pacer.answered();
        }
        assert_eq!(
            pacer.rate(),
            Some(10.0),
            "grows back to the ceiling, not past it"
        );
        assert_eq!(pacer.lowest(), Some(5.0));
    }

    #[tokio::test]
    async fn an_unpaced_client_starts_pacing_after_a_429() {
        let pacer = Pacer::new(f64::INFINITY);
        assert_eq!(pacer.rate(), None);
        let sent = pacer.ready().await;
        pacer.refused(sent, Some(Duration::ZERO));
        assert_eq!(pacer.rate(), Some(FIRST_LIMITED_RATE));
        for _ in 0..1000 {
            pacer.answered();
        }
        assert!(pacer.rate().unwrap() > FIRST_LIMITED_RATE);
    }
}
