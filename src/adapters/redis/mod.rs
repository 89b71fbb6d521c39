//! Redis adapters: the shared cache, token store, rate limiter and webhook ledger, over one bb8 pool.
//!
//! Every operation is bounded in time (a pool checkout timeout plus a command timeout), so a down or stalled
//! Redis costs a caller a few hundred milliseconds, never a hang. Every redis or bb8 error becomes the port's
//! `Unavailable` inside the adapter; nothing above this module sees a driver type. Every key written starts with
//! the configured prefix (`FARMLOKAL_REDIS_PREFIX`).

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use bb8_redis::RedisConnectionManager;

pub mod cache;
pub mod event_ledger;
pub mod rate_limiter;
pub mod token_store;

pub use cache::RedisCache;
pub use event_ledger::RedisEventLedger;
pub use rate_limiter::RedisRateLimiter;
pub use token_store::RedisTokenStore;

/// The pool every Redis adapter shares.
pub type RedisPool = bb8::Pool<RedisConnectionManager>;

/// A connection checked out of the pool.
pub(crate) type RedisConn<'a> = bb8::PooledConnection<'a, RedisConnectionManager>;

/// The longest a pool checkout (including a fresh connect) may take.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_millis(500);
/// The longest one command or script may take once a connection is in hand.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// Connections kept open at most.
const MAX_CONNECTIONS: u32 = 16;

/// Builds the pool for `url` without connecting: the service starts while Redis is down and reports it through
/// readiness; each checkout then fails within [`CONNECTION_TIMEOUT`].
///
/// # Errors
/// When `url` is not a Redis URL.
pub async fn pool(url: &str) -> anyhow::Result<RedisPool> {
    let manager = RedisConnectionManager::new(url).context("invalid Redis URL")?;
    Ok(bb8::Pool::builder()
        .max_size(MAX_CONNECTIONS)
        .connection_timeout(CONNECTION_TIMEOUT)
        .error_sink(Box::new(LogConnectErrors))
        .build_unchecked(manager))
}

/// Logs why connecting failed: a checkout that times out only says "timed out"; the cause arrives here.
#[derive(Debug, Clone, Copy)]
struct LogConnectErrors;

impl bb8::ErrorSink<redis::RedisError> for LogConnectErrors {
    fn sink(&self, error: redis::RedisError) {
        // Debug level: with Redis down this fires on every attempt; readiness and the callers report the outage.
        tracing::debug!(%error, "Redis connection attempt failed");
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<redis::RedisError>> {
        Box::new(*self)
    }
}

/// A pooled connection, within [`CONNECTION_TIMEOUT`].
pub(crate) async fn checkout(pool: &RedisPool) -> anyhow::Result<RedisConn<'_>> {
    // bb8 bounds the wait itself; the outer timeout is a guard should a connect ignore it.
    match tokio::time::timeout(CONNECTION_TIMEOUT + Duration::from_millis(100), pool.get()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(anyhow::Error::new(e).context("no Redis connection")),
        Err(_) => Err(anyhow::anyhow!("no Redis connection within {CONNECTION_TIMEOUT:?}")),
    }
}

/// Runs one command or script within [`COMMAND_TIMEOUT`].
pub(crate) async fn timed<T>(command: impl Future<Output = redis::RedisResult<T>>) -> anyhow::Result<T> {
    match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
        Ok(result) => result.context("Redis command failed"),
        Err(_) => Err(anyhow::anyhow!("Redis did not answer within {COMMAND_TIMEOUT:?}")),
    }
}

/// `prefix` followed by `parts` joined with `:`, so every key of an adapter lives under the prefix.
pub(crate) fn key(prefix: &str, parts: &[&str]) -> String {
    let mut out = String::with_capacity(prefix.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    out.push_str(prefix);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(part);
    }
    out
}

/// Milliseconds for a `PX`/`PEXPIRE` argument: at least 1, since Redis refuses 0.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}
