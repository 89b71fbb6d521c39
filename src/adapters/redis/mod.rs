//! Redis adapters: the shared cache, token store, rate limiter and webhook ledger, over one bb8 pool to a single
//! Redis server or one multiplexed connection to a Redis Cluster (see [`connection`]); the adapters are the same
//! code for both.
//!
//! Every operation is bounded in time (a pool checkout timeout plus a command timeout), so a down or stalled
//! Redis costs a caller a few hundred milliseconds, never a hang. Every redis or bb8 error becomes the port's
//! `Unavailable` inside the adapter; nothing above this module sees a driver type. Every key written starts with
//! the configured prefix (`FARMLOKAL_REDIS_PREFIX`).
//!
//! Every script and every atomic pipeline touches keys of one slot only, so all of them run on a cluster: an
//! adapter that uses several keys in one call puts a hash tag (`{...}`, see [`hash_tag`]) in each of them.
//!
//! The pool carries a [`RedisHealth`] gate shared by every adapter built on it: once Redis fails to answer,
//! calls fail at once for a second instead of each paying the checkout timeout, then one probe goes through.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bb8_redis::RedisConnectionManager;

pub mod batching;
pub mod cache;
mod connection;
pub mod event_ledger;
pub mod health;
pub mod rate_limiter;
pub mod token_store;

pub use cache::RedisCache;
pub use event_ledger::RedisEventLedger;
pub use health::RedisHealth;
pub use rate_limiter::RedisRateLimiter;
pub use token_store::RedisTokenStore;

/// The connections every Redis adapter shares (a pool to one server, or the cluster connection), with the
/// health gate that makes calls fail fast while Redis is down. Clones share both.
#[derive(Clone)]
pub struct RedisPool {
    backend: connection::Backend,
    health: Arc<RedisHealth>,
}

impl RedisPool {
    /// The health gate of this pool.
    pub fn health(&self) -> &RedisHealth {
        &self.health
    }

    /// Whether this is a pool to one server (not a cluster).
    pub(crate) fn is_single_node(&self) -> bool {
        matches!(self.backend, connection::Backend::Node(_))
    }

    /// Connections open now, and how many of them are idle, for the pool-usage gauges; `None` on a cluster,
    /// whose one multiplexed connection is not a pool. A checkout gives its connection back at once (callers
    /// share them), so nearly every open connection shows as idle: `open` is the number to watch.
    pub fn usage(&self) -> Option<crate::adapters::PoolUsage> {
        match &self.backend {
            connection::Backend::Node(pool) => {
                let state = pool.state();
                Some(crate::adapters::PoolUsage {
                    open: state.connections as usize,
                    idle: state.idle_connections as usize,
                })
            }
            connection::Backend::Cluster(_) => None,
        }
    }
}

pub(crate) use connection::RedisConn;
pub use connection::{COMMAND_TIMEOUT, CONNECTION_TIMEOUT};

/// Connections kept open at most. Each is shared by every caller that checks it out (see [`connection`]); more
/// are opened only while checkouts overlap, as on a cold start under load.
const MAX_CONNECTIONS: u32 = 16;

/// Builds the pool for `url` without connecting: the service starts while Redis is down and reports it through
/// readiness; each checkout then fails within [`CONNECTION_TIMEOUT`].
///
/// # Errors
/// When `url` is not a Redis URL.
pub async fn pool(url: &str) -> anyhow::Result<RedisPool> {
    let manager = RedisConnectionManager::new(url).context("invalid Redis URL")?;
    let pool = bb8::Pool::builder()
        .max_size(MAX_CONNECTIONS)
        // The connection given back last is handed out next: callers pile onto one, pipelined, while it copes.
        .queue_strategy(bb8::QueueStrategy::Lifo)
        .connection_timeout(CONNECTION_TIMEOUT)
        .error_sink(Box::new(LogConnectErrors))
        .build_unchecked(connection::NodeManager::new(manager));
    Ok(RedisPool { backend: connection::Backend::Node(pool), health: Arc::new(RedisHealth::new()) })
}

/// Builds the client of the Redis Cluster reached through the seed nodes `seeds` (`redis://host:port` each; one
/// reachable seed is enough, the others are tried in turn), without connecting: as with [`pool`], the service
/// starts while the cluster is down, and the first call opens the connection.
///
/// # Errors
/// When `seeds` is empty or one of them is not a Redis URL.
pub fn cluster(seeds: &[String]) -> anyhow::Result<RedisPool> {
    let cluster = connection::Cluster::new(seeds)?;
    Ok(RedisPool { backend: connection::Backend::Cluster(Arc::new(cluster)), health: Arc::new(RedisHealth::new()) })
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

/// A connection, within [`CONNECTION_TIMEOUT`]; at once an error while the health gate says Redis is down
/// (unless this call is the probe).
pub(crate) async fn checkout(pool: &RedisPool) -> anyhow::Result<RedisConn> {
    pool.health.admit()?;
    let error = match pool.backend.get().await {
        Ok(conn) => return Ok(conn),
        Err(error) => error,
    };
    pool.health.failed(&error);
    Err(error)
}

/// Runs one command or script within [`COMMAND_TIMEOUT`], telling the health gate whether Redis answered.
pub(crate) async fn timed<T>(
    pool: &RedisPool,
    command: impl Future<Output = redis::RedisResult<T>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
        Ok(Ok(value)) => {
            pool.health.succeeded();
            Ok(value)
        }
        Ok(Err(e)) => {
            let unreachable = health::is_connection_error(&e);
            let error = anyhow::Error::new(e).context("Redis command failed");
            if unreachable {
                pool.health.failed(&error);
            } else {
                // Redis answered, with an error: it is up.
                pool.health.succeeded();
            }
            Err(error)
        }
        Err(_) => {
            let error = anyhow::anyhow!("Redis did not answer within {COMMAND_TIMEOUT:?}");
            pool.health.failed(&error);
            Err(error)
        }
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

/// `{raw}` as a Redis Cluster hash tag: keys that contain the same tag hash to the same slot, so one script or
/// atomic pipeline may use all of them. Braces and `%` in `raw` are percent-encoded, so an id such as `}x` (which
/// would otherwise end the tag early, or leave it empty so each key hashes whole) still gives one tag of its
/// own; other ids are kept as they are.
pub(crate) fn hash_tag(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 2);
    out.push('{');
    for c in raw.chars() {
        match c {
            '%' => out.push_str("%25"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
    out.push('}');
    out
}

/// Milliseconds for a `PX`/`PEXPIRE` argument: at least 1, since Redis refuses 0.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ports::{Cache, CacheError, RateLimitError, RateLimiter};

    #[tokio::test]
    async fn with_redis_unreachable_twenty_calls_across_adapters_fail_fast() {
        let pool = pool("redis://127.0.0.1:1").await.expect("building the pool does not connect");
        let (cache, limiter) = (RedisCache::new(pool.clone(), "t:"), RedisRateLimiter::new(pool.clone(), "t:"));
        let started = Instant::now();
        for i in 0..20 {
            if i % 2 == 0 {
                assert!(matches!(cache.get("k").await, Err(CacheError::Unavailable(_))));
            } else {
                let result = limiter.check("k", 1, Duration::from_secs(1)).await;
                assert!(matches!(result, Err(RateLimitError::Unavailable(_))));
            }
        }
        let elapsed = started.elapsed();
        // The first call pays the checkout timeout; the gate, shared by both adapters, answers the rest at once.
        assert!(elapsed < CONNECTION_TIMEOUT * 2, "20 calls took {elapsed:?}");
        assert!(!pool.health().is_up());
    }
}
