//! The access-token manager: single flight in a process, one fetch for a fleet sharing a store, refresh ahead
//! of expiry, exact invalidation, and a token of its own per process when the store is down.

use std::sync::Arc;
use std::time::Duration;

use farmlokal::adapters::memory::clock::ManualClock;
use farmlokal::adapters::memory::token_provider::MemoryTokenProvider;
use farmlokal::adapters::memory::token_store::MemoryTokenStore;
use farmlokal::adapters::redis::token_store::RedisTokenStore;
use farmlokal::adapters::system_clock::SystemClock;
use farmlokal::app::partner_metrics::PartnerMetrics;
use farmlokal::app::tokens::{AccessTokens, TokenPolicy};
use farmlokal::domain::AccessToken;
use farmlokal::ports::token_provider::MockTokenProvider;
use farmlokal::ports::{Clock, TokenProvider, TokenStore};
use secrecy::ExposeSecret;
use tokio::sync::Barrier;

use crate::harness::servers;

fn policy() -> TokenPolicy {
    TokenPolicy { lock_wait: Duration::from_millis(300), ..TokenPolicy::new(Duration::from_millis(200)) }
}

fn manager(provider: Arc<dyn TokenProvider>, store: Arc<dyn TokenStore>) -> AccessTokens {
    manager_on(provider, store, Arc::new(SystemClock))
}

fn manager_on(provider: Arc<dyn TokenProvider>, store: Arc<dyn TokenStore>, clock: Arc<dyn Clock>) -> AccessTokens {
    AccessTokens::new(provider, store, policy(), Arc::new(PartnerMetrics::default()), clock)
}

fn slow_provider(lifetime: Duration) -> Arc<MemoryTokenProvider> {
    let provider = Arc::new(MemoryTokenProvider::new(lifetime));
    provider.faults().set_latency(Duration::from_millis(100));
    provider
}

fn value(token: &AccessToken) -> String {
    token.secret().expose_secret().to_owned()
}

/// `callers` tasks released together by a barrier, spread round-robin over `managers`; returns every value.
async fn race(managers: &[AccessTokens], callers: usize) -> Vec<String> {
    let barrier = Arc::new(Barrier::new(callers));
    let tasks: Vec<_> = (0..callers)
        .map(|i| {
            let tokens = managers[i % managers.len()].clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                tokens.get().await.map(|t| value(&t))
            })
        })
        .collect();
    let mut values = Vec::new();
    for task in tasks {
        values.push(task.await.expect("task").expect("token"));
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_callers_with_an_empty_cache_cause_one_fetch() {
    let mut provider = MockTokenProvider::new();
    provider.expect_fetch().times(1).returning(|| {
        std::thread::sleep(Duration::from_millis(50));
        Ok(AccessToken::new("only".to_owned().into(), chrono::Utc::now() + chrono::Duration::hours(1)))
    });
    let tokens = manager(Arc::new(provider), Arc::new(MemoryTokenStore::new()));

    let values = race(&[tokens], 200).await;

    assert!(values.iter().all(|v| v == "only"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sharing_a_store_fetch_one_token() {
    let provider = slow_provider(Duration::from_secs(3600));
    let store = Arc::new(MemoryTokenStore::new());
    let instances = [manager(provider.clone(), store.clone()), manager(provider.clone(), store)];

    let values = race(&instances, 100).await;

    assert_eq!(provider.fetches(), 1);
    assert!(values.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sharing_redis_fetch_one_token() {
    let Some(prefix) = servers::fresh_redis_prefix("two_instances_sharing_redis_fetch_one_token").await else {
        return;
    };
    let provider = slow_provider(Duration::from_secs(3600));
    let mut instances = Vec::new();
    for _ in 0..2 {
        let pool = farmlokal::adapters::redis::pool(&servers::redis_url()).await.expect("pool");
        instances.push(manager(provider.clone(), Arc::new(RedisTokenStore::new(pool, &prefix))));
    }

    let values = race(&instances, 100).await;

    assert_eq!(provider.fetches(), 1);
    assert!(values.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn with_the_store_down_each_instance_fetches_once_and_reuses_its_token() {
    let provider = slow_provider(Duration::from_secs(3600));
    let store = Arc::new(MemoryTokenStore::new());
    store.faults().set_down(true);
    let instances = [manager(provider.clone(), store.clone()), manager(provider.clone(), store)];

    race(&instances, 50).await;
    race(&instances, 50).await;

    assert_eq!(provider.fetches(), 2);
}

#[tokio::test]
async fn invalidate_removes_exactly_that_token_and_never_a_newer_one() {
    let provider = Arc::new(MemoryTokenProvider::new(Duration::from_secs(3600)));
    let store = Arc::new(MemoryTokenStore::new());
    let tokens = manager(provider.clone(), store.clone());
    let first = tokens.get().await.expect("first");

    tokens.invalidate(&first).await;
    let second = tokens.get().await.expect("second");
    tokens.invalidate(&first).await;
    let still_second = tokens.get().await.expect("still second");

    assert!(!first.same_as(&second));
    assert!(still_second.same_as(&second));
    assert!(store.get().await.expect("store").is_some_and(|t| t.same_as(&second)));
    assert_eq!(provider.fetches(), 2);
}

#[tokio::test]
async fn a_token_due_for_refresh_keeps_serving_while_one_background_fetch_replaces_it() {
    let clock = ManualClock::starting_now();
    let provider = Arc::new(MemoryTokenProvider::with_clock(Duration::from_secs(2), Arc::new(clock.clone())));
    let tokens = manager_on(provider.clone(), Arc::new(MemoryTokenStore::new()), Arc::new(clock.clone()));
    let first = tokens.get().await.expect("first");

    // Refresh is due 0.5 s before expiry (a quarter of the lifetime); the token stays usable until 0.2 s before.
    clock.advance(Duration::from_millis(1600));
    let during = race(std::slice::from_ref(&tokens), 20).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = tokens.get().await.expect("after");

    assert!(during.iter().all(|v| *v == value(&first)), "the current token keeps serving");
    assert!(!after.same_as(&first));
    assert_eq!(provider.fetches(), 2);
}

#[tokio::test]
async fn a_lock_holder_that_died_is_waited_for_then_replaced() {
    let provider = Arc::new(MemoryTokenProvider::new(Duration::from_secs(3600)));
    let store = Arc::new(MemoryTokenStore::new());
    assert!(store.try_lock("a-crashed-instance", Duration::from_secs(30)).await.expect("lock"));
    let tokens = manager(provider.clone(), store);

    let started = std::time::Instant::now();
    let token = tokens.get().await;

    assert!(token.is_ok());
    assert!(started.elapsed() >= Duration::from_millis(300), "waited for the holder first");
    assert_eq!(provider.fetches(), 1);
}

#[tokio::test]
async fn a_shared_token_expiring_within_the_safety_margin_is_never_handed_out() {
    let provider = Arc::new(MemoryTokenProvider::new(Duration::from_secs(3600)));
    let store = Arc::new(MemoryTokenStore::new());
    let nearly_expired =
        AccessToken::new("nearly".to_owned().into(), chrono::Utc::now() + chrono::Duration::milliseconds(100));
    store.put(&nearly_expired).await.expect("put");
    let tokens = manager(provider.clone(), store);

    let token = tokens.get().await.expect("token");

    assert!(!token.same_as(&nearly_expired));
    assert_eq!(provider.fetches(), 1);
}
