//! An in-process token store and fetch lock, for a single instance and for tests.
//!
//! Token expiry follows the token's own `expires_at` (wall clock); the lock lease follows tokio's clock, so tests
//! may pause and advance it.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::time::Instant;

use super::faults::Faults;
use crate::domain::AccessToken;
use crate::ports::{TokenStore, TokenStoreError};

/// [`TokenStore`] in process memory.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    state: Mutex<State>,
    faults: Faults,
}

#[derive(Debug, Default)]
struct State {
    token: Option<AccessToken>,
    /// The lock owner and when its lease ends.
    lock: Option<(String, Instant)>,
}

impl MemoryTokenStore {
    /// An empty store with no faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The switches that make calls fail or slow down.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn get(&self) -> Result<Option<AccessToken>, TokenStoreError> {
        self.faults.check().await.map_err(TokenStoreError::Unavailable)?;
        let now = Utc::now();
        Ok(self.state().token.clone().filter(|token| token.expires_at() > now))
    }

    async fn put(&self, token: &AccessToken) -> Result<(), TokenStoreError> {
        self.faults.check().await.map_err(TokenStoreError::Unavailable)?;
        self.state().token = Some(token.clone());
        Ok(())
    }

    async fn invalidate(&self, token: &AccessToken) -> Result<bool, TokenStoreError> {
        self.faults.check().await.map_err(TokenStoreError::Unavailable)?;
        let mut state = self.state();
        let same = state.token.as_ref().is_some_and(|stored| stored.same_as(token));
        if same {
            state.token = None;
        }
        Ok(same)
    }

    async fn try_lock(&self, owner: &str, lease: Duration) -> Result<bool, TokenStoreError> {
        self.faults.check().await.map_err(TokenStoreError::Unavailable)?;
        let now = Instant::now();
        let mut state = self.state();
        if state.lock.as_ref().is_some_and(|(_, until)| *until > now) {
            return Ok(false);
        }
        state.lock = Some((owner.to_owned(), now + lease));
        Ok(true)
    }

    async fn unlock(&self, owner: &str) -> Result<bool, TokenStoreError> {
        self.faults.check().await.map_err(TokenStoreError::Unavailable)?;
        let now = Instant::now();
        let mut state = self.state();
        let held = state.lock.as_ref().is_some_and(|(holder, until)| holder == owner && *until > now);
        if held {
            state.lock = None;
        }
        Ok(held)
    }
}
