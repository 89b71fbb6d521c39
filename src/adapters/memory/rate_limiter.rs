//! An in-process rate limiter with exactly the Redis limiter's semantics: a sliding log per key.
//!
//! It is the fallback when Redis is down and the limiter of the embedded default. Time is tokio's clock, so
//! tests may pause and advance it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::faults::Faults;
use crate::ports::{RateDecision, RateLimitError, RateLimiter};

/// Keys kept before the first sweep of idle logs.
const FIRST_SWEEP: usize = 1024;

/// [`RateLimiter`] in process memory.
#[derive(Debug, Default)]
pub struct MemoryRateLimiter {
    logs: Mutex<Logs>,
    faults: Faults,
}

#[derive(Debug, Default)]
struct Logs {
    by_key: HashMap<String, VecDeque<Instant>>,
    next_sweep: usize,
}

impl MemoryRateLimiter {
    /// An empty limiter with no faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The switches that make calls fail or slow down.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision, RateLimitError> {
        self.faults.check().await.map_err(RateLimitError::Unavailable)?;
        let now = Instant::now();
        let mut logs = self.logs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if logs.by_key.len() >= logs.next_sweep.max(FIRST_SWEEP) {
            // Drop the logs of idle keys, so memory follows the active clients, not every client ever seen.
            logs.by_key.retain(|_, log| log.back().is_some_and(|&last| last + window > now));
            logs.next_sweep = logs.by_key.len() * 2;
        }
        let log = logs.by_key.entry(key.to_owned()).or_default();
        while log.front().is_some_and(|&first| first + window <= now) {
            log.pop_front();
        }
        let admitted = log.len() < usize::try_from(limit).unwrap_or(usize::MAX);
        if admitted {
            log.push_back(now);
        }
        let in_window = u32::try_from(log.len()).unwrap_or(u32::MAX);
        let oldest_leaves = log.front().map(|&first| (first + window).saturating_duration_since(now));
        Ok(RateDecision::from_log(admitted, limit, in_window, window, oldest_leaves))
    }
}
