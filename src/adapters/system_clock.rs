//! [`Clock`] over the wall clock of this machine: what every configured service runs on.

use chrono::{DateTime, Utc};

use crate::ports::Clock;

/// The wall clock (`chrono::Utc::now`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
