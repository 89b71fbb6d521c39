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
