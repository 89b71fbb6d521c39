//! Where the fleet shares its partner access token, and the lock that lets one process fetch a new one.

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::AccessToken;

#[derive(Debug, thiserror::Error)]
pub enum TokenStoreError {
    /// The store cannot be reached; each process then keeps its own token.
    #[error("token store unavailable")]
    Unavailable(#[source] anyhow::Error),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The shared token, or `None` when there is none or it has expired.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached.
    async fn get(&self) -> Result<Option<AccessToken>, TokenStoreError>;

    /// Shares `token` until it expires, replacing the one stored.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached.
    async fn put(&self, token: &AccessToken) -> Result<(), TokenStoreError>;

    /// Removes the shared token only if it is still `token` (compare-and-delete), so a stale rejection never
    /// removes a newer token. Returns whether it removed it.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached.
    async fn invalidate(&self, token: &AccessToken) -> Result<bool, TokenStoreError>;

    /// Takes the fetch lock for `owner` for at most `lease`, if nobody holds it. Returns whether it was taken.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached.
    async fn try_lock(&self, owner: &str, lease: Duration) -> Result<bool, TokenStoreError>;

    /// Releases the fetch lock only if `owner` still holds it (compare-and-delete). Returns whether it did.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached.
    async fn unlock(&self, owner: &str) -> Result<bool, TokenStoreError>;
}
