//! An in-process byte cache with expiry, for tests and the embedded default.
//!
//! Entries expire by a [`Clock`]: the wall clock, or the test's clock given to [`MemoryCache::with_clock`], so
//! the copies a response cache keeps past their freshness disappear when the same clock says (as Redis drops
//! them by its own). Expired entries are invisible at once and swept out as the map grows. Tests may empty it
//! (`clear`) and count what it holds (`len`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::faults::Faults;
use crate::adapters::system_clock::SystemClock;
use crate::ports::{Cache, CacheError, Clock};

/// Entries kept before the first sweep of expired ones.
const FIRST_SWEEP: usize = 1024;

/// [`Cache`] in process memory.
pub struct MemoryCache {
    entries: Mutex<Entries>,
    faults: Faults,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.entries)
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<String, (Vec<u8>, DateTime<Utc>)>,
    next_sweep: usize,
}

impl MemoryCache {
    /// An empty cache with no faults, expiring entries by the wall clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty cache with no faults, expiring entries by `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self { entries: Mutex::default(), faults: Faults::new(), clock }
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
        let now = self.clock.now();
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
        let now = self.clock.now();
        let entries = self.entries();
        Ok(entries.by_key.get(key).filter(|(_, expires)| *expires > now).map(|(value, _)| value.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.faults.check().await.map_err(CacheError::Unavailable)?;
        let now = self.clock.now();
        let expires = chrono::Duration::from_std(ttl)
            .ok()
            .and_then(|ttl| now.checked_add_signed(ttl))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut entries = self.entries();
        if entries.by_key.len() >= entries.next_sweep.max(FIRST_SWEEP) {
            entries.by_key.retain(|_, (_, expires)| *expires > now);
            entries.next_sweep = entries.by_key.len() * 2;
        }
        entries.by_key.insert(key.to_owned(), (value.to_vec(), expires));
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
    use crate::adapters::memory::clock::ManualClock;

    #[tokio::test]
    async fn len_counts_live_entries_and_clear_forgets_them_all() {
        let clock = ManualClock::starting_now();
        let cache = MemoryCache::with_clock(Arc::new(clock.clone()));
        cache.set("short", b"1", Duration::from_secs(1)).await.unwrap();
        cache.set("long", b"2", Duration::from_secs(60)).await.unwrap();
        assert_eq!(cache.len(), 2);
        clock.advance(Duration::from_secs(2));
        assert_eq!(cache.len(), 1, "an expired entry is not counted");

        cache.clear();
        assert!(cache.is_empty());
        assert_eq!(cache.get("long").await.unwrap(), None);
    }
}
