//! Fault injection shared by the in-memory adapters: make the next calls fail, take the adapter down, or slow
//! every call, so unhappy paths are tested without mocks.
//!
//! Each adapter holds a `Faults` (cheap to clone: clones share one state), calls [`Faults::check`] at the start
//! of every operation (or [`Faults::check_up`] for a readiness ping) and maps its error to the port's
//! `Unavailable`.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Switches that make an in-memory adapter behave like an unreachable or slow server.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    fail_next: AtomicU32,
    down: AtomicBool,
    latency_micros: AtomicU64,
}

impl Faults {
    /// No faults: every call succeeds at once.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `n` calls fail (replacing any count still pending).
    pub fn fail_next(&self, n: u32) {
        self.inner.fail_next.store(n, Ordering::SeqCst);
    }

    /// While `down`, every call fails.
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
    }

    /// Delays every call by `d` before it runs (zero removes the delay).
    pub fn set_latency(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.inner.latency_micros.store(micros, Ordering::SeqCst);
    }

    /// Applies the latency, then says whether this call must fail.
    ///
    /// # Errors
    /// An error when the adapter is down or a `fail_next` count is pending (which this call consumes).
    pub async fn check(&self) -> Result<(), anyhow::Error> {
        self.check_up().await?;
        let consumed =
            self.inner.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if consumed {
            anyhow::bail!("injected fault: failing this call");
        }
        Ok(())
    }

    /// Applies the latency, then says whether the adapter is down: for pings, which leave a pending
    /// `fail_next` to the operations a test meant it for (readiness probes must not use it up).
    ///
    /// # Errors
    /// An error when the adapter is down.
    pub async fn check_up(&self) -> Result<(), anyhow::Error> {
        let micros = self.inner.latency_micros.load(Ordering::SeqCst);
        if micros > 0 {
            tokio::time::sleep(Duration::from_micros(micros)).await;
        }
        if self.inner.down.load(Ordering::SeqCst) {
            anyhow::bail!("injected fault: adapter is down");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fail_next_fails_exactly_that_many_calls() {
        let faults = Faults::new();
        faults.fail_next(2);
        assert!(faults.check().await.is_err());
        assert!(faults.clone().check().await.is_err());
        assert!(faults.check().await.is_ok());
    }

    #[tokio::test]
    async fn a_down_adapter_fails_until_it_is_back_up() {
        let faults = Faults::new();
        faults.set_down(true);
        assert!(faults.check().await.is_err());
        faults.set_down(false);
        assert!(faults.check().await.is_ok());
    }

    #[tokio::test]
    async fn a_ping_sees_the_adapter_down_but_leaves_fail_next_to_the_operations() {
        let faults = Faults::new();
        faults.fail_next(1);
        assert!(faults.check_up().await.is_ok());
        assert!(faults.check().await.is_err(), "the pending failure is still there");
        faults.set_down(true);
        assert!(faults.check_up().await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn latency_delays_each_call() {
        let faults = Faults::new();
        faults.set_latency(Duration::from_millis(300));
        let start = tokio::time::Instant::now();
        faults.check().await.expect("no failure injected");
        assert!(start.elapsed() >= Duration::from_millis(300));
    }
}
