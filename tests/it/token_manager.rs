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

    // Refresh is due 0.65 s to 0.425 s before expiry (jittered over the first half of the last quarter of the
    // usable life); the token stays usable until 0.2 s before.
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

/// Two fresh instances racing for their first token, `rounds` times, each round on a fresh pair of stores.
async fn first_race_fetches(
    rounds: usize,
    mut stores: impl AsyncFnMut() -> Option<[Arc<dyn TokenStore>; 2]>,
) -> Vec<u64> {
    let mut fetches = Vec::new();
    for _ in 0..rounds {
        let Some(stores) = stores().await else { return fetches };
        let provider = Arc::new(MemoryTokenProvider::new(Duration::from_secs(3600)));
        let instances = stores.map(|store| manager(provider.clone(), store));
        let values = race(&instances, 200).await;
        assert!(values.windows(2).all(|w| w[0] == w[1]), "every caller got the one token");
        fetches.push(provider.fetches());
    }
    fetches
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_fresh_instances_racing_on_one_memory_store_fetch_one_token_every_time() {
    let fetches = first_race_fetches(20, async || {
        let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
        Some([store.clone(), store])
    })
    .await;

    assert_eq!(fetches, vec![1; 20], "fetches per round");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_fresh_instances_racing_on_one_redis_store_fetch_one_token_every_time() {
    let test = "two_fresh_instances_racing_on_one_redis_store_fetch_one_token_every_time";
    let mut prefixes = Vec::new();
    let fetches = first_race_fetches(20, async || {
        let prefix = servers::fresh_redis_prefix(test).await?;
        prefixes.push(prefix.clone());
        let mut stores = Vec::new();
        for _ in 0..2 {
            let pool = farmlokal::adapters::redis::pool(&servers::redis_url()).await.expect("pool");
            stores.push(Arc::new(RedisTokenStore::new(pool, &prefix)) as Arc<dyn TokenStore>);
        }
        stores.try_into().ok()
    })
    .await;
    for prefix in &prefixes {
        servers::delete_prefix(prefix).await;
    }

    if !fetches.is_empty() {
        assert_eq!(fetches, vec![1; 20], "fetches per round");
    }
}
