//! The shared byte cache in Redis: `GET`, `SET .. PX`, `DEL`, `PING` under `<prefix>cache:`.

use std::time::Duration;

use async_trait::async_trait;

use super::{checkout, millis, timed, RedisPool};
use crate::ports::{Cache, CacheError};

/// [`Cache`] over Redis; clones share the pool.
#[derive(Clone)]
pub struct RedisCache {
    pool: RedisPool,
    prefix: String,
}

impl RedisCache {
    /// A cache whose keys are `<prefix>cache:<key>`.
    pub fn new(pool: RedisPool, prefix: &str) -> Self {
        Self { pool, prefix: prefix.to_owned() }
    }

    fn key(&self, key: &str) -> String {
        super::key(&self.prefix, &["cache", key])
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let mut conn = checkout(&self.pool).await.map_err(CacheError::Unavailable)?;
        timed(&self.pool, redis::cmd("GET").arg(self.key(key)).query_async(&mut conn))
            .await
            .map_err(CacheError::Unavailable)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let mut conn = checkout(&self.pool).await.map_err(CacheError::Unavailable)?;
        // Built in place and sized for the page up front: `.to_owned()` on the builder's `&mut Cmd` would copy
        // the page once more, and a command grown from empty copied it again when the arguments after it
        // outgrew the buffer.
        let key = self.key(key);
        let mut cmd = redis::Cmd::with_capacity(5, "SETPX".len() + key.len() + value.len() + 20);
        cmd.arg("SET").arg(key).arg(value).arg("PX").arg(millis(ttl));
        timed(&self.pool, cmd.query_async::<()>(&mut conn)).await.map_err(CacheError::Unavailable)
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let mut conn = checkout(&self.pool).await.map_err(CacheError::Unavailable)?;
        timed(&self.pool, redis::cmd("DEL").arg(self.key(key)).query_async::<()>(&mut conn))
            .await
            .map_err(CacheError::Unavailable)
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = checkout(&self.pool).await.map_err(CacheError::Unavailable)?;
        timed(&self.pool, redis::cmd("PING").query_async::<()>(&mut conn)).await.map_err(CacheError::Unavailable)
    }
}
