//! The shared byte cache in Redis: `GET`, `SET .. PX`, `DEL`, `PING` under `<prefix>cache:`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::batching::{Batcher, DEFAULT_WINDOW};
use super::{checkout, millis, timed, RedisPool};
use crate::ports::{Cache, CacheError};

/// [`Cache`] over Redis; clones share the pool and the batcher. `GET`, `SET` and `DEL` go through a
/// [`Batcher`]: under load, several of them per round trip (see [`super::batching`]).
#[derive(Clone)]
pub struct RedisCache {
    pool: RedisPool,
    batcher: Arc<Batcher>,
    prefix: String,
}

impl RedisCache {
    /// A cache whose keys are `<prefix>cache:<key>`, its commands batched with the default window.
    pub fn new(pool: RedisPool, prefix: &str) -> Self {
        Self::with_batch_window(pool, prefix, DEFAULT_WINDOW)
    }

    /// A cache whose commands issued within `window` of the last batch go together (zero: each on its own).
    pub fn with_batch_window(pool: RedisPool, prefix: &str, window: Duration) -> Self {
        Self { batcher: Arc::new(Batcher::new(pool.clone(), window)), pool, prefix: prefix.to_owned() }
    }

    fn key(&self, key: &str) -> String {
        super::key(&self.prefix, &["cache", key])
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(key));
        let value = self.batcher.run(cmd).await.map_err(CacheError::Unavailable)?;
        redis::from_redis_value(value).map_err(|e| CacheError::Unavailable(anyhow::Error::new(e)))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        // Built in place and sized for the page up front: `.to_owned()` on the builder's `&mut Cmd` would copy
        // the page once more, and a command grown from empty copied it again when the arguments after it
        // outgrew the buffer.
        let key = self.key(key);
        let mut cmd = redis::Cmd::with_capacity(5, "SETPX".len() + key.len() + value.len() + 20);
        cmd.arg("SET").arg(key).arg(value).arg("PX").arg(millis(ttl));
        self.batcher.run(cmd).await.map(drop).map_err(CacheError::Unavailable)
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(key));
        self.batcher.run(cmd).await.map(drop).map_err(CacheError::Unavailable)
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = checkout(&self.pool).await.map_err(CacheError::Unavailable)?;
        timed(&self.pool, redis::cmd("PING").query_async::<()>(&mut conn)).await.map_err(CacheError::Unavailable)
    }
}
