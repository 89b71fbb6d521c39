//! A [`Clock`] that moves only when told to: tests advance it past a TTL, a breaker's open period or a token's
//! lifetime instead of sleeping. Clones share one time, so the test keeps a clone and the service the other.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ports::Clock;

/// A manually driven [`Clock`]; cheap to clone, and every clone reads and moves the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn at(start: DateTime<Utc>) -> Self {
        Self { now: Arc::new(Mutex::new(start)) }
    }

    /// A clock standing at the current wall-clock time (and staying there until moved).
    pub fn starting_now() -> Self {
        Self::at(Utc::now())
    }

    /// Moves the time forward by `by` (saturating at the latest representable time).
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        *now = now.checked_add_signed(by).unwrap_or(DateTime::<Utc>::MAX_UTC);
    }

    /// Puts the time at `to`, forwards or backwards.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.lock() = to;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // The guarded value is one `Copy` timestamp: a panic cannot leave it half-written.
        self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::starting_now()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stands_still_until_advanced_or_set_and_clones_share_the_time() {
        let start = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let clock = ManualClock::at(start);
        let other = clock.clone();
        assert_eq!((clock.now(), clock.now()), (start, start));

        other.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));

        clock.set(start);
        assert_eq!(other.now(), start);
        clock.advance(Duration::MAX);
        assert_eq!(other.now(), DateTime::<Utc>::MAX_UTC);
    }
}
