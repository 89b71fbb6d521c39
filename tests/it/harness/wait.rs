//! Waiting in tests without guessing: a call that must give up within two seconds, and polling until a
//! condition holds (or a deadline passes), for what the service only promises "eventually".

use std::future::Future;
use std::time::{Duration, Instant};

/// Runs one call against an unreachable server: it must give up within two seconds, not hang.
pub async fn within_two_seconds<T>(call: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(2), call).await.expect("an unreachable server fails within 2 s")
}

/// Calls `probe` every `every` until it gives `Some`; `None` once `deadline` has passed (no probe starts after it).
pub async fn poll_until<T, F, Fut>(deadline: Instant, every: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    while Instant::now() < deadline {
        if let Some(value) = probe().await {
            return Some(value);
        }
        tokio::time::sleep(every).await;
    }
    None
}
