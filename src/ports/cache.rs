//! A shared byte cache with expiry, in front of the catalogue.

use std::time::Duration;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache cannot be reached; callers go to the source instead.
    #[error("cache unavailable")]
    Unavailable(#[source] anyhow::Error),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Cache: Send + Sync {
    /// The bytes stored under `key`, or `None` when absent or expired.
    ///
    /// # Errors
    /// `Unavailable` when the cache cannot be reached; a miss is `Ok(None)`, never an error.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;

    /// Stores `value` under `key` for `ttl`, replacing what was there.
    ///
    /// # Errors
    /// `Unavailable` when the cache cannot be reached.
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError>;

    /// Removes `key`; removing an absent key succeeds.
    ///
    /// # Errors
    /// `Unavailable` when the cache cannot be reached.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;

    /// Checks that the cache answers, for readiness.
    ///
    /// # Errors
    /// `Unavailable` when it does not.
    async fn ping(&self) -> Result<(), CacheError>;
}
