//! Retry and circuit-breaker policy values for partner calls. The loop that applies them lives in the app.

use std::time::Duration;

/// Exponential backoff with full jitter, bounded by an overall deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Timeout of one attempt.
    pub attempt_timeout: Duration,
    /// All attempts and waits together.
    pub deadline: Duration,
    /// The first backoff ceiling; each retry doubles it up to `max_interval`. The wait is uniform in [0, ceiling].
    pub initial_interval: Duration,
    pub max_interval: Duration,
}

impl RetryPolicy {
    pub fn new(attempt_timeout: Duration, deadline: Duration) -> Self {
        Self {
            attempt_timeout,
            deadline,
            initial_interval: Duration::from_millis(100),
            max_interval: Duration::from_secs(1),
        }
    }
}

/// When to stop calling a failing partner and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Failed estimates in a row that open the breaker (the contract allows at most 10).
    pub failure_threshold: u32,
    /// How long the breaker stays open before one probe is let through (the contract allows at most 30 s).
    pub open_for: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self { failure_threshold: 5, open_for: Duration::from_secs(15) }
    }
}
