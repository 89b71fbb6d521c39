//! An in-process byte cache with expiry, for tests and the embedded default.
//!
//! Time is tokio's clock, so tests may pause and advance it. Expired entries are invisible at once and
//! swept out as the map grows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::faults::Faults;
use crate::ports::{Cache, CacheError};

/// Entries kept before the first sweep of expired ones.
const FIRST_SWEEP: usize = 1024;

/// [`Cache`] in process memory.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<Entries>,
    faults: Faults,
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<String, (Vec<u8>, Instant)>,
    next_sweep: usize,
}

impl MemoryCache {
    /// An empty cache with no faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The switches that make calls fail or slow down.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock cannot leave a map half-updated: every change is one insert or remove.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.faults.check().await.map_err(CacheError::Unavailable)?;
        let now = Instant::now();
        let entries = self.entries();
        Ok(entries.by_key.get(key).filter(|(_, expires)| *expires > now).map(|(value, _)| value.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.faults.check().await.map_err(CacheError::Unavailable)?;
        let now = Instant::now();
        let mut entries = self.entries();
        if entries.by_key.len() >= entries.next_sweep.max(FIRST_SWEEP) {
            entries.by_key.retain(|_, (_, expires)| *expires > now);
            entries.next_sweep = entries.by_key.len() * 2;
        }
        entries.by_key.insert(key.to_owned(), (value.to_vec(), now + ttl));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.faults.check().await.map_err(CacheError::Unavailable)?;
        self.entries().by_key.remove(key);
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.faults.check_up().await.map_err(CacheError::Unavailable)
    }
}
