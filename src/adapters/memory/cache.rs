//! An in-process byte cache with expiry, for tests and the embedded default.
//!
//! Time is tokio's clock, so tests may pause and advance it. Expired entries are invisible at once and
//! swept out as the map grows. Tests may empty it (`clear`) and count what it holds (`len`).

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

    /// Forgets every entry, as `FLUSHDB` would. Pages a service keeps in process in front of this cache are
    /// dropped by `ResponseCache::clear` (`AppState::services.pages`).
    pub fn clear(&self) {
        let mut entries = self.entries();
        entries.by_key.clear();
        entries.next_sweep = 0;
    }

    /// Entries held that have not expired.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.entries().by_key.values().filter(|(_, expires)| *expires > now).count()
    }

    /// Whether no unexpired entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn len_counts_live_entries_and_clear_forgets_them_all() {
        let cache = MemoryCache::new();
        cache.set("short", b"1", Duration::from_secs(1)).await.unwrap();
        cache.set("long", b"2", Duration::from_secs(60)).await.unwrap();
        assert_eq!(cache.len(), 2);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(cache.len(), 1, "an expired entry is not counted");

        cache.clear();
        assert!(cache.is_empty());
        assert_eq!(cache.get("long").await.unwrap(), None);
    }
}
