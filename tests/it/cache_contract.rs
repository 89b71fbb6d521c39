//! The `Cache` contract, checked against the in-memory and the Redis adapter, on one Redis server and on a Redis
//! Cluster.

use std::time::Duration;

use farmlokal::adapters::memory::cache::MemoryCache;
use farmlokal::adapters::redis::{self as redis_adapters, RedisCache};
use farmlokal::ports::{Cache, CacheError};

use crate::harness::servers::{self, RedisTopology};
use crate::harness::wait::within_two_seconds;

/// Everything the `Cache` port promises, in the order its doc comments say it.
async fn cache_contract(cache: &dyn Cache) {
    let ttl = Duration::from_secs(30);

    // A miss is Ok(None), never an error.
    assert_eq!(cache.get("absent").await.expect("a miss is not an error"), None);

    // What is set is returned, and a second set replaces it.
    cache.set("k", b"first", ttl).await.expect("set");
    assert_eq!(cache.get("k").await.expect("get").as_deref(), Some(&b"first"[..]));
    cache.set("k", b"second", ttl).await.expect("set again");
    assert_eq!(cache.get("k").await.expect("get").as_deref(), Some(&b"second"[..]));

    // Arbitrary bytes survive the round trip, including the empty value.
    let binary = [0_u8, 255, 10, 13, 0, 128];
    cache.set("binary", &binary, ttl).await.expect("set bytes");
    assert_eq!(cache.get("binary").await.expect("get").as_deref(), Some(&binary[..]));
    cache.set("empty", b"", ttl).await.expect("set empty");
    assert_eq!(cache.get("empty").await.expect("get").as_deref(), Some(&b""[..]));

    // Keys are independent.
    assert_eq!(cache.get("k2").await.expect("get"), None);

    // Delete removes; deleting an absent key succeeds.
    cache.delete("k").await.expect("delete");
    assert_eq!(cache.get("k").await.expect("get after delete"), None);
    cache.delete("k").await.expect("deleting an absent key succeeds");

    // An entry past its ttl is a miss.
    cache.set("short", b"v", Duration::from_millis(200)).await.expect("set short");
    assert!(cache.get("short").await.expect("get").is_some());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(cache.get("short").await.expect("an expired entry is a miss"), None);

    // A cache that answers pings.
    cache.ping().await.expect("ping");
}

async fn redis_cache(test: &str, topology: RedisTopology) -> Option<(RedisCache, String)> {
    let (pool, prefix) = servers::fresh_redis(test, topology).await?;
    Some((RedisCache::new(pool, &prefix), prefix))
}

#[tokio::test]
async fn the_memory_cache_honours_the_cache_contract() {
    cache_contract(&MemoryCache::new()).await;
}

#[tokio::test]
async fn the_redis_cache_honours_the_cache_contract() {
    let Some((cache, _)) = redis_cache("the_redis_cache_honours_the_cache_contract", RedisTopology::Node).await else {
        return;
    };
    cache_contract(&cache).await;
}

#[tokio::test]
async fn the_redis_cache_on_a_cluster_honours_the_cache_contract() {
    let test = "the_redis_cache_on_a_cluster_honours_the_cache_contract";
    let Some((cache, _)) = redis_cache(test, RedisTopology::Cluster).await else { return };
    cache_contract(&cache).await;
}

#[tokio::test]
async fn the_redis_cache_keeps_every_key_under_its_prefix_and_prefixes_do_not_mix() {
    let test = "the_redis_cache_keeps_every_key_under_its_prefix_and_prefixes_do_not_mix";
    let Some((cache, prefix)) = redis_cache(test, RedisTopology::Node).await else { return };
    let Some((other, _)) = redis_cache(test, RedisTopology::Node).await else { return };
    cache.set("shared-name", b"mine", Duration::from_secs(30)).await.expect("set");

    assert_eq!(other.get("shared-name").await.expect("get"), None);
    let client = redis::Client::open(servers::redis_url()).expect("test Redis URL");
    let mut conn = client.get_multiplexed_async_connection().await.expect("raw connection");
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.expect("KEYS");
    assert_eq!(keys.len(), 1, "one key written, under the prefix: {keys:?}");
}

#[tokio::test]
async fn the_redis_cache_on_a_cluster_keeps_every_key_under_its_prefix_on_every_master() {
    let test = "the_redis_cache_on_a_cluster_keeps_every_key_under_its_prefix_on_every_master";
    let Some((cache, prefix)) = redis_cache(test, RedisTopology::Cluster).await else { return };
    let Some((other, _)) = redis_cache(test, RedisTopology::Cluster).await else { return };
    let Some(nodes) = servers::redis_cluster_nodes() else { return };
    // Twenty names spread over the slots of all three masters.
    for n in 0..20 {
        cache.set(&format!("name-{n}"), b"mine", Duration::from_secs(30)).await.expect("set");
    }

    assert_eq!(other.get("name-0").await.expect("get"), None);
    let mut conn = servers::cluster_connection(&nodes).await.expect("raw cluster connection");
    // KEYS is sent to every master and the answers joined.
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.expect("KEYS");
    assert_eq!(keys.len(), 20, "twenty keys written, all under the prefix: {keys:?}");
}

#[tokio::test]
async fn the_memory_cache_is_unavailable_while_faults_are_injected() {
    let cache = MemoryCache::new();
    cache.faults().fail_next(1);
    assert!(matches!(cache.get("k").await, Err(CacheError::Unavailable(_))));
    assert_eq!(cache.get("k").await.expect("the fault was used up"), None);

    cache.faults().set_down(true);
    assert!(matches!(cache.set("k", b"v", Duration::from_secs(1)).await, Err(CacheError::Unavailable(_))));
    assert!(matches!(cache.ping().await, Err(CacheError::Unavailable(_))));
    cache.faults().set_down(false);
    cache.ping().await.expect("back up");
}

#[tokio::test]
async fn the_redis_cache_is_unavailable_within_two_seconds_when_redis_is_unreachable() {
    let pool = redis_adapters::pool("redis://127.0.0.1:1").await.expect("building the pool does not connect");
    let cache = RedisCache::new(pool, "farmlokal:");

    assert!(matches!(within_two_seconds(cache.get("k")).await, Err(CacheError::Unavailable(_))));
    assert!(matches!(
        within_two_seconds(cache.set("k", b"v", Duration::from_secs(1))).await,
        Err(CacheError::Unavailable(_))
    ));
    assert!(matches!(within_two_seconds(cache.delete("k")).await, Err(CacheError::Unavailable(_))));
    assert!(matches!(within_two_seconds(cache.ping()).await, Err(CacheError::Unavailable(_))));
}
