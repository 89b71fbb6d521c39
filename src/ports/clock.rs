//! The time of day, as the use cases read it: the one source of "now" for expiries, freshness, cool-downs and
//! timestamps. Production reads the wall clock; a test holds a clock it can move, so nothing that depends on
//! time has to be waited for. Waiting itself (retry sleeps, timeouts, lock polling) is not reading the time of
//! day and stays on the async runtime.

use chrono::{DateTime, Utc};

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current time.
    ///
    /// Never fails. Successive readings of one clock MAY go backwards only when the clock is set back on purpose
    /// (a wall clock corrected by NTP, a test clock `set` to an earlier time); callers that measure a span with
    /// two readings treat a negative span as zero.
    fn now(&self) -> DateTime<Utc>;
}
