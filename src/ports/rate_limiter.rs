//! Admission decisions for the per-client rate limit.

use std::time::Duration;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// The shared store cannot be reached; callers fall back to a per-process limiter.
    #[error("rate limiter unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests still admitted in the window after this one.
    pub remaining: u32,
    /// Until the oldest admitted request leaves the window (what `RateLimit-Reset` shows).
    pub reset_after: Duration,
    /// When refused: how long until one request would be admitted.
    pub retry_after: Option<Duration>,
}

impl RateDecision {
    /// The decision a sliding-log limiter reports, from what its log holds after this request.
    ///
    /// `in_window` counts the admitted requests now in the window (this one included when admitted);
    /// `oldest_leaves` is how long until the oldest of them leaves it (`None` when the window is empty).
    pub fn from_log(
        allowed: bool,
        limit: u32,
        in_window: u32,
        window: Duration,
        oldest_leaves: Option<Duration>,
    ) -> Self {
        let reset_after = oldest_leaves.map_or(Duration::ZERO, |d| Duration::from_secs(whole_seconds_up(d).max(1)));
        // With nothing in the window a refusal can only come from a zero limit: nothing is admitted for a window.
        let retry_after = (!allowed).then(|| oldest_leaves.unwrap_or(window));
        Self { allowed, limit, remaining: limit.saturating_sub(in_window), reset_after, retry_after }
    }
}

fn whole_seconds_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Admits one request for `key` if fewer than `limit` were admitted in the last `window` (a sliding log:
    /// exact in every rolling window), recording it when admitted. Refused requests are not recorded.
    ///
    /// # Errors
    /// `Unavailable` when the shared store cannot be reached.
    async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision, RateLimitError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_rounds_up_to_whole_seconds_and_is_at_least_one() {
        let d = RateDecision::from_log(true, 10, 1, Duration::from_secs(60), Some(Duration::from_millis(59_001)));
        assert_eq!(d.reset_after, Duration::from_secs(60));
        assert_eq!(d.remaining, 9);
        let d = RateDecision::from_log(true, 10, 10, Duration::from_secs(60), Some(Duration::from_micros(1)));
        assert_eq!((d.reset_after, d.remaining, d.retry_after), (Duration::from_secs(1), 0, None));
    }

    #[test]
    fn a_refusal_waits_for_the_oldest_entry() {
        let d = RateDecision::from_log(false, 10, 10, Duration::from_secs(60), Some(Duration::from_millis(1500)));
        assert_eq!(d.retry_after, Some(Duration::from_millis(1500)));
        assert_eq!(d.remaining, 0);
    }
}
