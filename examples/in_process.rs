//! Build the whole service in-process from the library, with any mix of in-memory and real adapters, drive it
//! through `poem::test::TestClient`, and inject faults into the in-memory adapters.
//!
//! `cargo run --example in_process` (no servers needed). Set `FARMLOKAL_REDIS_URL` to put the cache on a real
//! Redis while everything else stays in memory.

use std::sync::Arc;
use std::time::Duration;

use farmlokal::adapters::memory::cache::MemoryCache;
use farmlokal::adapters::memory::product_repository::MemoryProductRepository;
use farmlokal::startup::{AppBuilder, Settings};
use poem::test::TestClient;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // 1. Adapters: the catalogue in memory with fault injection, the cache in memory or on Redis.
    let products = MemoryProductRepository::sample(1_000);
    let mut settings = Settings::for_tests();
    settings.policy.cache_ttl = Duration::from_secs(1);
    let mut builder = AppBuilder::in_memory(settings).products(Arc::new(products.clone()));
    match std::env::var("FARMLOKAL_REDIS_URL") {
        Ok(url) => {
            let pool = farmlokal::adapters::redis::pool(&url).await?;
            builder = builder.cache(Arc::new(farmlokal::adapters::redis::RedisCache::new(pool, "example:")));
            println!("cache: Redis at {url}");
        }
        Err(_) => {
            builder = builder.cache(Arc::new(MemoryCache::new()));
            println!("cache: in memory");
        }
    }

    // 2. The service, driven in-process (no port): the same routes, middleware and errors as production.
    let client = TestClient::new(builder.build().endpoint());
    let first = client.get("/products?category=dairy&sort=price&limit=3").send().await;
    first.assert_status_is_ok();
    println!("first page: X-Cache {:?}", first.0.headers().get("x-cache"));

    // 3. A fault: the store goes down after the page expired; the recent copy is served as STALE.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    products.faults().set_down(true);
    let stale = client.get("/products?category=dairy&sort=price&limit=3").send().await;
    stale.assert_status_is_ok();
    println!("store down: X-Cache {:?}", stale.0.headers().get("x-cache"));

    // 4. A page never cached cannot be served while the store is down: a 503 problem with Retry-After.
    let unavailable = client.get("/products?category=fruits").send().await;
    unavailable.assert_status(poem::http::StatusCode::SERVICE_UNAVAILABLE);
    println!("uncached while down: {}", unavailable.0.into_body().into_string().await?);
    products.faults().set_down(false);
    Ok(())
}
