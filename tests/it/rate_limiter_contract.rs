//! The `RateLimiter` contract, checked against the in-memory and the Redis adapter, on one Redis server and on a
//! Redis Cluster.
//!
//! Windows are one to two seconds, so the sliding behaviour is observed in real time without sleeping minutes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use farmlokal::adapters::memory::rate_limiter::MemoryRateLimiter;
use farmlokal::adapters::redis::{self as redis_adapters, RedisRateLimiter};
use farmlokal::ports::{RateLimitError, RateLimiter};
use tokio::sync::Barrier;

use crate::harness::servers::{self, RedisTopology};
use crate::harness::wait::within_two_seconds;

/// Slack for the distance between the adapter's clock and the test's.
/// Timing allowance for a busy CI machine: Redis answers on its own clock, the test measures on ours.
const SLACK: Duration = Duration::from_millis(50);

/// The 101st request in a window is refused with the true wait, and refusals are not recorded.
async fn a_full_window_refuses_until_its_oldest_request_leaves(limiter: &dyn RateLimiter) {
    // A window long enough that 100 checks finish inside it even on a loaded two-core machine.
    let (limit, window) = (100, Duration::from_secs(4));
    let before_first = Instant::now();
    let first = limiter.check("client", limit, window).await.expect("check");
    let after_first = Instant::now();
    assert!(first.allowed);
    assert_eq!((first.limit, first.remaining, first.retry_after), (100, 99, None));
    assert_eq!(first.reset_after, Duration::from_secs(4), "until the oldest leaves, in whole seconds rounded up");

    for n in 2..=limit {
        let d = limiter.check("client", limit, window).await.expect("check");
        assert!(d.allowed, "request {n} of {limit} is admitted");
        assert_eq!(d.remaining, limit - n, "remaining counts this request");
    }

    let before_refusal = Instant::now();
    let refused = limiter.check("client", limit, window).await.expect("check");
    let after_refusal = Instant::now();
    assert!(!refused.allowed, "the 101st request in the window is refused");
    assert_eq!(refused.remaining, 0);
    let wait = refused.retry_after.expect("a refusal says when to retry");
    // The oldest request was admitted between `before_first` and `after_first`; it leaves a window later.
    let earliest = (before_first + window).saturating_duration_since(after_refusal);
    let latest = (after_first + window).saturating_duration_since(before_refusal);
    assert!(wait + SLACK >= earliest && wait <= latest + SLACK, "retry_after {wait:?} not in {earliest:?}..{latest:?}");
    assert!(refused.reset_after >= Duration::from_secs(1));

    // Refusals are not recorded: once the admitted requests leave, the whole budget is back.
    for _ in 0..5 {
        assert!(!limiter.check("client", limit, window).await.expect("check").allowed);
    }
    let wait_now = (after_first + window).saturating_duration_since(Instant::now());
    tokio::time::sleep(wait_now + SLACK * 2).await;
    let later = limiter.check("client", limit, window).await.expect("check");
    assert!(later.allowed, "admitted once the oldest left");
    assert_eq!(later.remaining, limit - 1, "the refused requests took no budget");
}

/// Requests admitted late in one window still count early in the next: the log slides, it never resets.
async fn the_window_slides_instead_of_resetting(limiter: &dyn RateLimiter) {
    let (limit, window) = (3, Duration::from_millis(1500));
    let t0 = Instant::now();
    assert!(limiter.check("slide", limit, window).await.expect("check").allowed);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let t1 = Instant::now();
    assert!(limiter.check("slide", limit, window).await.expect("check").allowed);
    let last = limiter.check("slide", limit, window).await.expect("check");
    assert!(last.allowed);
    assert_eq!(last.remaining, 0);
    let refused = limiter.check("slide", limit, window).await.expect("check");
    assert!(!refused.allowed);
    let wait = refused.retry_after.expect("retry_after");
    assert!(wait <= (t0 + window).saturating_duration_since(t1) + SLACK, "waits only for the first: {wait:?}");

    // Past the first request's window: exactly one slot came back, the two late requests still count.
    tokio::time::sleep((t0 + window).saturating_duration_since(Instant::now()) + Duration::from_millis(50)).await;
    let admitted = limiter.check("slide", limit, window).await.expect("check");
    assert!(admitted.allowed, "the first request left the window");
    assert_eq!(admitted.remaining, 0, "the two late requests still count early in the next window");
    let refused = limiter.check("slide", limit, window).await.expect("check");
    assert!(!refused.allowed, "a fixed window would have reset here");
    let wait = refused.retry_after.expect("retry_after");
    assert!(wait <= (t1 + window).saturating_duration_since(Instant::now()) + SLACK, "{wait:?}");
    assert!(wait >= Duration::from_millis(200), "the late requests leave about 0.7 s later: {wait:?}");
}

/// Keys have budgets of their own.
async fn keys_do_not_share_a_budget(limiter: &dyn RateLimiter) {
    let window = Duration::from_secs(2);
    assert!(limiter.check("a", 1, window).await.expect("check").allowed);
    assert!(!limiter.check("a", 1, window).await.expect("check").allowed);
    let other = limiter.check("b", 1, window).await.expect("check");
    assert!(other.allowed && other.remaining == 0);
}

/// Concurrent requests never over-admit: `requests` checks race for a budget of `limit`.
async fn concurrent_checks_admit_exactly_the_limit(limiters: Vec<Arc<dyn RateLimiter>>, requests: usize, limit: u32) {
    let barrier = Arc::new(Barrier::new(requests));
    let tasks: Vec<_> = (0..requests)
        .map(|i| {
            let (limiter, barrier) = (limiters[i % limiters.len()].clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                limiter.check("race", limit, Duration::from_secs(30)).await.expect("check").allowed
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += u32::from(task.await.expect("task"));
    }
    assert_eq!(admitted, limit);
}

async fn redis_limiter(test: &str, topology: RedisTopology) -> Option<RedisRateLimiter> {
    let (pool, prefix) = servers::fresh_redis(test, topology).await?;
    Some(RedisRateLimiter::new(pool, &prefix))
}

#[tokio::test]
async fn the_memory_limiter_refuses_the_101st_request_until_the_oldest_leaves() {
    a_full_window_refuses_until_its_oldest_request_leaves(&MemoryRateLimiter::new()).await;
}

#[tokio::test]
async fn the_redis_limiter_refuses_the_101st_request_until_the_oldest_leaves() {
    let test = "the_redis_limiter_refuses_the_101st_request_until_the_oldest_leaves";
    let Some(limiter) = redis_limiter(test, RedisTopology::Node).await else { return };
    a_full_window_refuses_until_its_oldest_request_leaves(&limiter).await;
}

#[tokio::test]
async fn the_memory_limiter_window_slides_instead_of_resetting() {
    the_window_slides_instead_of_resetting(&MemoryRateLimiter::new()).await;
}

#[tokio::test]
async fn the_redis_limiter_window_slides_instead_of_resetting() {
    let Some(limiter) =
        redis_limiter("the_redis_limiter_window_slides_instead_of_resetting", RedisTopology::Node).await
    else {
        return;
    };
    the_window_slides_instead_of_resetting(&limiter).await;
}

#[tokio::test]
async fn the_memory_limiter_gives_each_key_its_own_budget() {
    keys_do_not_share_a_budget(&MemoryRateLimiter::new()).await;
}

#[tokio::test]
async fn the_redis_limiter_gives_each_key_its_own_budget() {
    let Some(limiter) = redis_limiter("the_redis_limiter_gives_each_key_its_own_budget", RedisTopology::Node).await
    else {
        return;
    };
    keys_do_not_share_a_budget(&limiter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_memory_limiter_admits_exactly_100_of_150_concurrent_requests() {
    concurrent_checks_admit_exactly_the_limit(vec![Arc::new(MemoryRateLimiter::new())], 150, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_redis_limiter_admits_exactly_100_of_150_concurrent_requests() {
    let test = "the_redis_limiter_admits_exactly_100_of_150_concurrent_requests";
    let Some(limiter) = redis_limiter(test, RedisTopology::Node).await else { return };
    concurrent_checks_admit_exactly_the_limit(vec![Arc::new(limiter)], 150, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_prefix_share_one_budget() {
    let Some(prefix) = servers::fresh_redis_prefix("two_instances_on_one_prefix_share_one_budget").await else {
        return;
    };
    let mut instances: Vec<Arc<dyn RateLimiter>> = Vec::new();
    for _ in 0..2 {
        let pool = redis_adapters::pool(&servers::redis_url()).await.expect("a valid Redis URL");
        instances.push(Arc::new(RedisRateLimiter::new(pool, &prefix)));
    }
    concurrent_checks_admit_exactly_the_limit(instances, 150, 100).await;
}

#[tokio::test]
async fn the_redis_limiter_on_a_cluster_refuses_the_101st_request_until_the_oldest_leaves() {
    let test = "the_redis_limiter_on_a_cluster_refuses_the_101st_request_until_the_oldest_leaves";
    let Some(limiter) = redis_limiter(test, RedisTopology::Cluster).await else { return };
    a_full_window_refuses_until_its_oldest_request_leaves(&limiter).await;
}

#[tokio::test]
async fn the_redis_limiter_on_a_cluster_window_slides_instead_of_resetting() {
    let test = "the_redis_limiter_on_a_cluster_window_slides_instead_of_resetting";
    let Some(limiter) = redis_limiter(test, RedisTopology::Cluster).await else { return };
    the_window_slides_instead_of_resetting(&limiter).await;
}

#[tokio::test]
async fn the_redis_limiter_on_a_cluster_gives_each_key_its_own_budget() {
    let test = "the_redis_limiter_on_a_cluster_gives_each_key_its_own_budget";
    let Some(limiter) = redis_limiter(test, RedisTopology::Cluster).await else { return };
    keys_do_not_share_a_budget(&limiter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_cluster_admit_exactly_100_of_150_concurrent_requests() {
    let test = "two_instances_on_one_cluster_admit_exactly_100_of_150_concurrent_requests";
    let Some((first, prefix)) = servers::fresh_redis(test, RedisTopology::Cluster).await else { return };
    let Some(nodes) = servers::redis_cluster_nodes() else { return };
    let second = redis_adapters::cluster(&nodes).expect("valid seed nodes");
    let instances: Vec<Arc<dyn RateLimiter>> =
        vec![Arc::new(RedisRateLimiter::new(first, &prefix)), Arc::new(RedisRateLimiter::new(second, &prefix))];
    concurrent_checks_admit_exactly_the_limit(instances, 150, 100).await;
}

#[tokio::test]
async fn the_memory_limiter_is_unavailable_while_faults_are_injected() {
    let limiter = MemoryRateLimiter::new();
    limiter.faults().set_down(true);
    let window = Duration::from_secs(1);
    assert!(matches!(limiter.check("k", 1, window).await, Err(RateLimitError::Unavailable(_))));
    limiter.faults().set_down(false);
    assert!(limiter.check("k", 1, window).await.expect("back up").allowed, "the failed call recorded nothing");
}

#[tokio::test]
async fn the_redis_limiter_is_unavailable_within_two_seconds_when_redis_is_unreachable() {
    let pool = redis_adapters::pool("redis://127.0.0.1:1").await.expect("building the pool does not connect");
    let limiter = RedisRateLimiter::new(pool, "farmlokal:");
    assert!(matches!(
        within_two_seconds(limiter.check("k", 1, Duration::from_secs(1))).await,
        Err(RateLimitError::Unavailable(_))
    ));
}
