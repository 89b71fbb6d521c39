//! The `TokenStore` contract, checked against the in-memory and the Redis adapter, on one Redis server and on a
//! Redis Cluster.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use farmlokal::adapters::memory::token_store::MemoryTokenStore;
use farmlokal::adapters::redis::{self as redis_adapters, RedisTokenStore};
use farmlokal::domain::AccessToken;
use farmlokal::ports::{TokenStore, TokenStoreError};
use secrecy::ExposeSecret;
use tokio::sync::Barrier;

use crate::harness::servers::{self, RedisTopology};
use crate::harness::wait::within_two_seconds;

fn token(value: &str, lifetime: chrono::Duration) -> AccessToken {
    AccessToken::new(value.to_owned().into(), Utc::now() + lifetime)
}

fn value(token: &AccessToken) -> String {
    token.secret().expose_secret().to_owned()
}

/// Everything the `TokenStore` port promises about the shared token.
async fn token_contract(store: &dyn TokenStore) {
    // None when there is none.
    assert!(store.get().await.expect("get").is_none());

    // A put token is shared, with its expiry; a second put replaces it.
    let first = token("first", chrono::Duration::minutes(10));
    store.put(&first).await.expect("put");
    let got = store.get().await.expect("get").expect("the token just put");
    assert_eq!((value(&got), got.expires_at()), (value(&first), first.expires_at()));
    let newer = token("newer", chrono::Duration::minutes(10));
    store.put(&newer).await.expect("put newer");
    assert_eq!(store.get().await.expect("get").map(|t| value(&t)).as_deref(), Some("newer"));

    // Compare-and-delete: a stale token never removes a newer one.
    assert!(!store.invalidate(&first).await.expect("invalidate stale"), "a stale token removes nothing");
    assert_eq!(store.get().await.expect("get").map(|t| value(&t)).as_deref(), Some("newer"));
    assert!(store.invalidate(&newer).await.expect("invalidate current"), "the current token is removed");
    assert!(store.get().await.expect("get").is_none());
    assert!(!store.invalidate(&newer).await.expect("invalidate again"), "nothing left to remove");

    // An expired token is None, whether it expired in the store or was already expired when put.
    store.put(&token("stale", chrono::Duration::seconds(-1))).await.expect("put expired");
    assert!(store.get().await.expect("get").is_none());
    store.put(&token("brief", chrono::Duration::milliseconds(300))).await.expect("put brief");
    assert!(store.get().await.expect("get").is_some());
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(store.get().await.expect("get").is_none(), "a token past its expiry is None");
}

/// Everything the `TokenStore` port promises about the fetch lock.
async fn lock_contract(store: &dyn TokenStore) {
    let lease = Duration::from_secs(30);
    assert!(store.try_lock("a", lease).await.expect("lock"), "a free lock is taken");
    assert!(!store.try_lock("b", lease).await.expect("lock"), "a held lock is not taken");
    assert!(!store.try_lock("a", lease).await.expect("lock"), "not even by its holder");

    // Compare-and-delete: only the holder releases it.
    assert!(!store.unlock("b").await.expect("unlock"), "another owner cannot release it");
    assert!(!store.try_lock("c", lease).await.expect("lock"), "so it is still held");
    assert!(store.unlock("a").await.expect("unlock"), "its owner releases it");
    assert!(!store.unlock("a").await.expect("unlock"), "releasing twice does nothing");

    // A lease ends by itself, and the old owner can then never release the new owner's lock.
    assert!(store.try_lock("b", Duration::from_millis(250)).await.expect("lock"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(store.try_lock("c", lease).await.expect("lock"), "an expired lease frees the lock");
    assert!(!store.unlock("b").await.expect("unlock"), "the expired owner releases nothing");
    assert!(store.unlock("c").await.expect("unlock"), "the new owner still holds it");
}

/// Concurrent processes race for the fetch lock: exactly one wins.
async fn exactly_one_of_many_takes_the_lock(store: Arc<dyn TokenStore>) {
    let contenders = 30;
    let barrier = Arc::new(Barrier::new(contenders));
    let tasks: Vec<_> = (0..contenders)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.try_lock(&format!("owner-{i}"), Duration::from_secs(30)).await.expect("try_lock")
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.expect("task"));
    }
    assert_eq!(winners, 1);
}

async fn redis_store(test: &str, topology: RedisTopology) -> Option<RedisTokenStore> {
    let (pool, prefix) = servers::fresh_redis(test, topology).await?;
    Some(RedisTokenStore::new(pool, &prefix))
}

#[tokio::test]
async fn the_memory_token_store_honours_the_token_contract() {
    token_contract(&MemoryTokenStore::new()).await;
}

#[tokio::test]
async fn the_redis_token_store_honours_the_token_contract() {
    let Some(store) = redis_store("the_redis_token_store_honours_the_token_contract", RedisTopology::Node).await else {
        return;
    };
    token_contract(&store).await;
}

#[tokio::test]
async fn the_memory_token_store_honours_the_lock_contract() {
    lock_contract(&MemoryTokenStore::new()).await;
}

#[tokio::test]
async fn the_redis_token_store_honours_the_lock_contract() {
    let Some(store) = redis_store("the_redis_token_store_honours_the_lock_contract", RedisTopology::Node).await else {
        return;
    };
    lock_contract(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_thirty_concurrent_processes_takes_the_memory_lock() {
    exactly_one_of_many_takes_the_lock(Arc::new(MemoryTokenStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_thirty_concurrent_processes_takes_the_redis_lock() {
    let Some(store) =
        redis_store("exactly_one_of_thirty_concurrent_processes_takes_the_redis_lock", RedisTopology::Node).await
    else {
        return;
    };
    exactly_one_of_many_takes_the_lock(Arc::new(store)).await;
}

#[tokio::test]
async fn the_redis_token_store_on_a_cluster_honours_the_token_contract() {
    let test = "the_redis_token_store_on_a_cluster_honours_the_token_contract";
    let Some(store) = redis_store(test, RedisTopology::Cluster).await else { return };
    token_contract(&store).await;
}

#[tokio::test]
async fn the_redis_token_store_on_a_cluster_honours_the_lock_contract() {
    let test = "the_redis_token_store_on_a_cluster_honours_the_lock_contract";
    let Some(store) = redis_store(test, RedisTopology::Cluster).await else { return };
    lock_contract(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_thirty_concurrent_processes_takes_the_redis_lock_on_a_cluster() {
    let test = "exactly_one_of_thirty_concurrent_processes_takes_the_redis_lock_on_a_cluster";
    let Some(store) = redis_store(test, RedisTopology::Cluster).await else { return };
    exactly_one_of_many_takes_the_lock(Arc::new(store)).await;
}

#[tokio::test]
async fn the_memory_token_store_is_unavailable_while_faults_are_injected() {
    let store = MemoryTokenStore::new();
    store.faults().fail_next(2);
    assert!(matches!(store.get().await, Err(TokenStoreError::Unavailable(_))));
    assert!(matches!(store.try_lock("a", Duration::from_secs(1)).await, Err(TokenStoreError::Unavailable(_))));
    assert!(store.try_lock("a", Duration::from_secs(1)).await.expect("the faults were used up"));
}

#[tokio::test]
async fn the_redis_token_store_is_unavailable_within_two_seconds_when_redis_is_unreachable() {
    let pool = redis_adapters::pool("redis://127.0.0.1:1").await.expect("building the pool does not connect");
    let store = RedisTokenStore::new(pool, "farmlokal:");
    let t = token("t", chrono::Duration::minutes(1));

    assert!(matches!(within_two_seconds(store.get()).await, Err(TokenStoreError::Unavailable(_))));
    assert!(matches!(within_two_seconds(store.put(&t)).await, Err(TokenStoreError::Unavailable(_))));
    assert!(matches!(within_two_seconds(store.invalidate(&t)).await, Err(TokenStoreError::Unavailable(_))));
    assert!(matches!(
        within_two_seconds(store.try_lock("a", Duration::from_secs(1))).await,
        Err(TokenStoreError::Unavailable(_))
    ));
    assert!(matches!(within_two_seconds(store.unlock("a")).await, Err(TokenStoreError::Unavailable(_))));
}
