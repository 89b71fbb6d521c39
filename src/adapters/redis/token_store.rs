//! The fleet's shared partner access token and its fetch lock in Redis.
//!
//! The token lives at `<prefix>oauth:token` as JSON `{value, expires_at}` with a `PX` expiry at the token's own
//! expiry; the lock at `<prefix>oauth:lock` holds its owner. Removal of either is compare-and-delete in one
//! Lua script, so a process never removes a newer token or another owner's lock.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::{checkout, millis, timed, RedisPool};
use crate::domain::AccessToken;
use crate::ports::{TokenStore, TokenStoreError};

/// Deletes KEYS[1] when its JSON `value` is ARGV[1]; returns 1 when it did.
static INVALIDATE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local raw = redis.call('GET', KEYS[1])
        if not raw then return 0 end
        local ok, stored = pcall(cjson.decode, raw)
        if ok and type(stored) == 'table' and stored.value == ARGV[1] then
            redis.call('DEL', KEYS[1])
            return 1
        end
        return 0
        ",
    )
});

/// Deletes KEYS[1] when it holds exactly ARGV[1]; returns 1 when it did.
static UNLOCK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            redis.call('DEL', KEYS[1])
            return 1
        end
        return 0
        ",
    )
});

/// The stored form of a token.
#[derive(Serialize, Deserialize)]
struct Stored {
    value: String,
    expires_at: DateTime<Utc>,
}

/// [`TokenStore`] over Redis; clones share the pool.
#[derive(Clone)]
pub struct RedisTokenStore {
    pool: RedisPool,
    token_key: String,
    lock_key: String,
}

impl RedisTokenStore {
    /// A store whose keys are `<prefix>oauth:token` and `<prefix>oauth:lock`.
    pub fn new(pool: RedisPool, prefix: &str) -> Self {
        Self {
            pool,
            token_key: super::key(prefix, &["oauth", "token"]),
            lock_key: super::key(prefix, &["oauth", "lock"]),
        }
    }
}

#[async_trait]
impl TokenStore for RedisTokenStore {
    async fn get(&self) -> Result<Option<AccessToken>, TokenStoreError> {
        let mut conn = checkout(&self.pool).await.map_err(TokenStoreError::Unavailable)?;
        let raw: Option<Vec<u8>> = timed(&self.pool, redis::cmd("GET").arg(&self.token_key).query_async(&mut conn))
            .await
            .map_err(TokenStoreError::Unavailable)?;
        let Some(raw) = raw else { return Ok(None) };
        match serde_json::from_slice::<Stored>(&raw) {
            // Redis expires the key; the check covers the last millisecond and a skewed Redis clock.
            Ok(stored) if stored.expires_at > Utc::now() => {
                Ok(Some(AccessToken::new(stored.value.into(), stored.expires_at)))
            }
            Ok(_) => Ok(None),
            Err(e) => {
                // Unreadable means no usable shared token; the next `put` overwrites it.
                tracing::warn!(error = %e, key = %self.token_key, "ignoring an unreadable shared token");
                Ok(None)
            }
        }
    }

    async fn put(&self, token: &AccessToken) -> Result<(), TokenStoreError> {
        let mut conn = checkout(&self.pool).await.map_err(TokenStoreError::Unavailable)?;
        // PX from our clock, not PXAT: a Redis clock skewed from ours must not shorten or stretch the token.
        let left = (token.expires_at() - Utc::now()).to_std().ok().filter(|d| !d.is_zero());
        let Some(left) = left else {
            // Already expired: replacing the stored token with it leaves none.
            return timed(&self.pool, redis::cmd("DEL").arg(&self.token_key).query_async::<()>(&mut conn))
                .await
                .map_err(TokenStoreError::Unavailable);
        };
        let stored = Stored { value: token.secret().expose_secret().to_owned(), expires_at: token.expires_at() };
        let json = serde_json::to_vec(&stored).map_err(|e| TokenStoreError::Unavailable(e.into()))?;
        let cmd = redis::cmd("SET").arg(&self.token_key).arg(json).arg("PX").arg(millis(left)).to_owned();
        timed(&self.pool, cmd.query_async::<()>(&mut conn)).await.map_err(TokenStoreError::Unavailable)
    }

    async fn invalidate(&self, token: &AccessToken) -> Result<bool, TokenStoreError> {
        let mut conn = checkout(&self.pool).await.map_err(TokenStoreError::Unavailable)?;
        let mut call = INVALIDATE.key(&self.token_key);
        call.arg(token.secret().expose_secret());
        let removed: i64 =
            timed(&self.pool, call.invoke_async(&mut conn)).await.map_err(TokenStoreError::Unavailable)?;
        Ok(removed == 1)
    }

    async fn try_lock(&self, owner: &str, lease: std::time::Duration) -> Result<bool, TokenStoreError> {
        let mut conn = checkout(&self.pool).await.map_err(TokenStoreError::Unavailable)?;
        let cmd = redis::cmd("SET").arg(&self.lock_key).arg(owner).arg("NX").arg("PX").arg(millis(lease)).to_owned();
        let taken: Option<String> =
            timed(&self.pool, cmd.query_async(&mut conn)).await.map_err(TokenStoreError::Unavailable)?;
        Ok(taken.is_some())
    }

    async fn unlock(&self, owner: &str) -> Result<bool, TokenStoreError> {
        let mut conn = checkout(&self.pool).await.map_err(TokenStoreError::Unavailable)?;
        let mut call = UNLOCK.key(&self.lock_key);
        call.arg(owner);
        let removed: i64 =
            timed(&self.pool, call.invoke_async(&mut conn)).await.map_err(TokenStoreError::Unavailable)?;
        Ok(removed == 1)
    }
}
