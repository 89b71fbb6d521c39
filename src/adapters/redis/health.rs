//! The health gate every Redis adapter of one pool shares: after a connection-level failure, calls fail at
//! once for [`OPEN_FOR`] instead of each waiting out the pool's checkout timeout; then one call goes through as
//! a probe, and the first success opens the gate again.
//!
//! Only failures that say Redis cannot be reached count (no connection, an I/O error, a dropped connection, a
//! timeout); an error Redis answered with proves it is up. The transitions are logged once each (warn when
//! Redis goes down, info when it is back) and exported as `farmlokal_redis_up` (gauge, 1 or 0) and
//! `farmlokal_redis_unavailable_total` (counter of transitions to down, i.e. outages seen).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// How long calls fail fast after a connection-level failure before one probe is let through.
pub const OPEN_FOR: Duration = Duration::from_secs(1);

/// Whether Redis is believed reachable, shared by every adapter over one pool.
#[derive(Debug)]
pub struct RedisHealth {
    /// `None` while Redis is up; otherwise until when calls fail fast.
    down_until: Mutex<Option<Instant>>,
}

impl Default for RedisHealth {
    fn default() -> Self {
        Self::new()
    }
}

impl RedisHealth {
    /// A gate that assumes Redis is up until a call says otherwise.
    pub fn new() -> Self {
        metrics::gauge!("farmlokal_redis_up").set(1.0);
        Self { down_until: Mutex::new(None) }
    }

    /// Whether Redis is believed reachable.
    pub fn is_up(&self) -> bool {
        self.lock().is_none()
    }

    /// Lets a call through, or refuses it at once while Redis is down. When the fail-fast period is over, the
    /// first caller becomes the probe and the period restarts for the others, so one call at a time pays the
    /// checkout timeout while Redis stays down.
    ///
    /// # Errors
    /// While Redis is marked down and this call is not the probe.
    pub fn admit(&self) -> anyhow::Result<()> {
        let mut down_until = self.lock();
        let Some(until) = *down_until else { return Ok(()) };
        let now = Instant::now();
        if now < until {
            anyhow::bail!("Redis is marked down after a connection failure; next probe in {:?}", until - now);
        }
        *down_until = Some(now + OPEN_FOR);
        Ok(())
    }

    /// Records that Redis answered.
    pub fn succeeded(&self) {
        let mut down_until = self.lock();
        if down_until.take().is_some() {
            metrics::gauge!("farmlokal_redis_up").set(1.0);
            tracing::info!("Redis is reachable again");
        }
    }

    /// Records a connection-level failure: Redis did not answer.
    pub fn failed(&self, error: &anyhow::Error) {
        let mut down_until = self.lock();
        let was_up = down_until.is_none();
        *down_until = Some(Instant::now() + OPEN_FOR);
        if was_up {
            metrics::gauge!("farmlokal_redis_up").set(0.0);
            metrics::counter!("farmlokal_redis_unavailable_total").increment(1);
            tracing::warn!(error = format!("{error:#}"), fail_fast_for = ?OPEN_FOR, "Redis is unreachable; failing fast until a probe succeeds");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.down_until.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a Redis error means Redis could not be reached (as opposed to Redis answering with an error).
pub(crate) fn is_connection_error(error: &redis::RedisError) -> bool {
    error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal() || error.is_timeout()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outage() -> anyhow::Error {
        anyhow::anyhow!("connection refused")
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_fails_calls_fast_until_one_probe_is_let_through() {
        let health = RedisHealth::new();
        assert!(health.admit().is_ok() && health.is_up());
        health.failed(&outage());
        assert!(!health.is_up());
        assert!(health.admit().is_err(), "fails fast right after the failure");
        tokio::time::advance(OPEN_FOR - Duration::from_millis(1)).await;
        assert!(health.admit().is_err(), "still within the fail-fast period");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(health.admit().is_ok(), "the probe goes through");
        assert!(health.admit().is_err(), "only one probe per period");
        health.succeeded();
        assert!(health.is_up());
        assert!(health.admit().is_ok() && health.admit().is_ok(), "a successful probe opens the gate for everyone");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_restarts_the_fail_fast_period() {
        let health = RedisHealth::new();
        health.failed(&outage());
        tokio::time::advance(OPEN_FOR).await;
        assert!(health.admit().is_ok());
        tokio::time::advance(Duration::from_millis(400)).await;
        health.failed(&outage());
        tokio::time::advance(OPEN_FOR - Duration::from_millis(1)).await;
        assert!(health.admit().is_err(), "a full period after the failed probe");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(health.admit().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_never_reports_does_not_block_the_next_one() {
        let health = RedisHealth::new();
        health.failed(&outage());
        tokio::time::advance(OPEN_FOR).await;
        assert!(health.admit().is_ok(), "this probe is cancelled and reports nothing");
        tokio::time::advance(OPEN_FOR).await;
        assert!(health.admit().is_ok(), "another probe a period later");
    }
}
