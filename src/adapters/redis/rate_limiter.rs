//! The fleet-wide rate limit in Redis: an exact sliding log per key, in one Lua script on a sorted set at
//! `<prefix>ratelimit:<key>`.
//!
//! The script reads Redis's own clock (`TIME`), so instances with skewed clocks share one budget, and does the
//! trim, count, admit and expiry atomically, so concurrent requests never over-admit. Members are the time plus
//! a random suffix: two requests in one microsecond both count. Refused requests are not recorded.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;

use super::{checkout, timed, RedisPool};
use crate::ports::{RateDecision, RateLimitError, RateLimiter};

/// KEYS[1] the log; ARGV[1] window in µs, ARGV[2] limit, ARGV[3] a unique suffix.
/// Returns {admitted 0|1, entries in the window counting this one, µs until the oldest entry leaves or -1}.
static CHECK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local window = tonumber(ARGV[1])
        local limit = tonumber(ARGV[2])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
        local count = redis.call('ZCARD', KEYS[1])
        local admitted = 0
        if count < limit then
            redis.call('ZADD', KEYS[1], now, t[1] .. '.' .. t[2] .. '-' .. ARGV[3])
            redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
            count = count + 1
            admitted = 1
        end
        local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
        local wait = -1
        if oldest[2] then wait = tonumber(oldest[2]) + window - now end
        return {admitted, count, wait}
        ",
    )
});

/// [`RateLimiter`] over Redis; clones share the pool.
#[derive(Clone)]
pub struct RedisRateLimiter {
    pool: RedisPool,
    prefix: String,
}

impl RedisRateLimiter {
    /// A limiter whose logs are `<prefix>ratelimit:<key>`.
    pub fn new(pool: RedisPool, prefix: &str) -> Self {
        Self { pool, prefix: prefix.to_owned() }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision, RateLimitError> {
        let window_micros = u64::try_from(window.as_micros()).unwrap_or(u64::MAX).max(1);
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let mut conn = checkout(&self.pool).await.map_err(RateLimitError::Unavailable)?;
        let mut call = CHECK.key(super::key(&self.prefix, &["ratelimit", key]));
        call.arg(window_micros).arg(limit).arg(suffix);
        let (admitted, count, wait): (i64, i64, i64) =
            timed(&self.pool, call.invoke_async(&mut conn)).await.map_err(RateLimitError::Unavailable)?;
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        // -1: nothing in the window (only with a zero limit).
        let oldest_leaves = u64::try_from(wait).ok().map(Duration::from_micros);
        Ok(RateDecision::from_log(admitted == 1, limit, count, window, oldest_leaves))
    }
}
