//! The retry loop of partner calls: exponential backoff with full jitter inside an overall deadline.
//!
//! This is the only module that names the `backoff` crate (unmaintained, RUSTSEC-2025-0012, kept because the
//! product owner chose it): swapping it for `backon` changes this file only. `backoff`'s own
//! `ExponentialBackoff` jitters around the interval (`randomization_factor`); full jitter draws the wait
//! uniformly in `[0, ceiling]`, with the ceiling doubling up to `max_interval`, so [`FullJitter`] does that.
//!
//! The deadline and the waits are on the async runtime's clock, not the `Clock` port: they are waits that bound
//! a request, not readings of the time of day.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::retry::RetryPolicy;

/// How the caller judges one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Another attempt cannot help.
    Permanent,
    /// Try again after a jittered backoff.
    Transient,
    /// Try again after exactly this long (the server's `Retry-After`).
    After(Duration),
}

/// Full-jitter exponential backoff that stops when the next attempt could not start before `deadline`.
#[derive(Debug)]
struct FullJitter {
    initial: Duration,
    max: Duration,
    ceiling: Duration,
    deadline: Instant,
}

impl FullJitter {
    fn new(policy: &RetryPolicy, deadline: Instant) -> Self {
        Self { initial: policy.initial_interval, max: policy.max_interval, ceiling: policy.initial_interval, deadline }
    }
}

impl backoff::backoff::Backoff for FullJitter {
    fn reset(&mut self) {
        self.ceiling = self.initial;
    }

    fn next_backoff(&mut self) -> Option<Duration> {
        let ceiling = u64::try_from(self.ceiling.as_micros()).unwrap_or(u64::MAX);
        let wait = Duration::from_micros(rand::random_range(0..=ceiling));
        self.ceiling = (self.ceiling * 2).min(self.max);
        (Instant::now() + wait < self.deadline).then_some(wait)
    }
}

/// Runs `op` until it succeeds, `classify` calls its error permanent, or no further attempt fits before
/// `deadline` (a `Retry-After` that ends past the deadline counts as permanent). `on_retry` hears each error
/// that will be retried, with the wait before the retry. The caller bounds the whole loop with a timeout too.
pub(super) async fn retry<T, E, Op, Fut>(
    policy: &RetryPolicy,
    deadline: Instant,
    classify: impl Fn(&E) -> Verdict,
    mut on_retry: impl FnMut(&E, Duration),
    mut op: Op,
) -> Result<T, E>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let classify = &classify;
    let operation = move || {
        let attempt = op();
        async move {
            attempt.await.map_err(|error| match classify(&error) {
                Verdict::Permanent => backoff::Error::permanent(error),
                Verdict::Transient => backoff::Error::transient(error),
                Verdict::After(wait) if Instant::now() + wait < deadline => backoff::Error::retry_after(error, wait),
                Verdict::After(_) => backoff::Error::permanent(error),
            })
        }
    };
    let notify = |error: E, wait: Duration| on_retry(&error, wait);
    backoff::future::retry_notify(FullJitter::new(policy, deadline), operation, notify).await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use backoff::backoff::Backoff as _;

    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::new(Duration::from_millis(100), Duration::from_secs(10))
    }

    #[tokio::test(start_paused = true)]
    async fn waits_are_uniform_below_a_doubling_capped_ceiling() {
        let mut jitter = FullJitter::new(&policy(), Instant::now() + Duration::from_secs(3600));
        for ceiling_ms in [100, 200, 400, 800, 1000, 1000] {
            let wait = jitter.next_backoff().unwrap();
            assert!(wait <= Duration::from_millis(ceiling_ms), "{wait:?} > {ceiling_ms}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_until_success() {
        let calls = AtomicU32::new(0);
        let result = retry(
            &policy(),
            Instant::now() + Duration::from_secs(10),
            |_: &&str| Verdict::Transient,
            |_, _| {},
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err("flaky")
                } else {
                    Ok(7)
                }
            },
        )
        .await;
        assert_eq!((result, calls.load(Ordering::SeqCst)), (Ok(7), 3));
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_permanent_errors_and_at_retry_after_past_the_deadline() {
        let calls = AtomicU32::new(0);
        let deadline = Instant::now() + Duration::from_secs(1);
        let policy = policy();
        let permanent = retry(
            &policy,
            deadline,
            |_: &&str| Verdict::Permanent,
            |_, _| {},
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>("no")
            },
        );
        assert_eq!(permanent.await, Err("no"));
        let late = retry(
            &policy,
            deadline,
            |_: &&str| Verdict::After(Duration::from_secs(5)),
            |_, _| {},
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>("later")
            },
        );
        assert_eq!(late.await, Err("later"));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
