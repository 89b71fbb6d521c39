//! The catalogue's response cache seen over HTTP (DESIGN §2): `X-Cache` MISS/HIT/STALE, canonical keys that
//! ignore unknown parameters, `ETag`/`If-None-Match`, a failing store or cache, and single flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use farmlokal::adapters::memory::product_repository::MemoryProductRepository;
use farmlokal::domain::summary::{Summary, SummaryQuery};
use farmlokal::domain::webhook::InventoryEvent;
use farmlokal::domain::{Category, ListQuery, Product, ProductId};
use farmlokal::ports::{ApplyOutcome, ProductRepository, RepositoryError};
use poem::http::StatusCode;
use tokio::sync::Barrier;

use crate::harness::{spawn_app, Reply, Run, World};

/// Products in the sample catalogue.
const N: u64 = 2_000;

/// Words of the cause of an injected failure: none may reach a client.
const INTERNALS: [&str; 5] = ["injected", "fault", "adapter", "storage", "down"];

#[track_caller]
fn assert_unavailable_without_internals(reply: &Reply) {
    let problem = reply.assert_problem(503, "service_unavailable");
    let retry_after = reply.header("retry-after").expect("a 503 carries Retry-After");
    assert!(retry_after.parse::<u64>().is_ok_and(|s| s > 0), "whole seconds: {retry_after}");
    let text = String::from_utf8_lossy(&reply.body).to_lowercase();
    assert!(INTERNALS.iter().all(|word| !text.contains(word)), "internals leaked: {problem}");
}

#[tokio::test]
async fn the_first_request_for_a_url_is_a_miss_and_the_next_a_hit_with_the_same_body_and_etag() {
    let (_world, app) = spawn_app(N).await;

    let first = app.get("/products?sort=name&limit=10").await;
    let second = app.get("/products?sort=name&limit=10").await;

    assert_eq!((first.header("x-cache"), second.header("x-cache")), (Some("MISS"), Some("HIT")));
    assert_eq!(first.body, second.body);
    assert!(first.header("etag").is_some_and(|tag| tag.starts_with('"') && tag.ends_with('"')));
    assert_eq!(first.header("etag"), second.header("etag"));
    assert_eq!(first.header("link"), second.header("link"));
}

#[tokio::test]
async fn unknown_parameters_are_ignored_and_share_the_cache_entry_of_the_same_query() {
    let (_world, app) = spawn_app(N).await;

    let plain = app.get("/products?category=dairy&limit=5").await;
    let with_unknown = app.get("/products?category=dairy&limit=5&utm_source=mail&foo=bar").await;

    assert_eq!(with_unknown.status, StatusCode::OK);
    assert_eq!(with_unknown.header("x-cache"), Some("HIT"));
    assert_eq!(with_unknown.body, plain.body);
}

#[tokio::test]
async fn equal_queries_spelled_differently_share_the_cache_entry() {
    let (_world, app) = spawn_app(N).await;

    app.get("/products?q=organic+tomato&limit=20&sort=-created_at").await;
    let respelled = app.get("/products?limit=20&q=Organic%20%20TOMATO").await;

    assert_eq!(respelled.header("x-cache"), Some("HIT"));
}

#[tokio::test]
async fn a_matching_if_none_match_gives_304_and_another_tag_gives_200() {
    let (_world, app) = spawn_app(N).await;
    let page = app.get("/products?sort=price&limit=3").await;
    let etag = page.header("etag").expect("a listing carries an ETag").to_owned();

    let matching = app.get_with("/products?sort=price&limit=3", &[("If-None-Match", &etag)]).await;
    let other = app.get_with("/products?sort=price&limit=3", &[("If-None-Match", "\"other\"")]).await;

    assert_eq!(matching.status, StatusCode::NOT_MODIFIED);
    assert!(matching.body.is_empty());
    assert_eq!(matching.header("etag"), Some(etag.as_str()));
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.body, page.body);
}

#[tokio::test]
async fn pages_of_different_queries_have_different_etags() {
    let (_world, app) = spawn_app(N).await;

    let a = app.get("/products?sort=price&limit=3").await;
    let b = app.get("/products?sort=-price&limit=3").await;

    assert_ne!(a.header("etag"), b.header("etag"));
}

#[tokio::test]
async fn an_expired_page_is_served_stale_while_the_store_is_down_and_fresh_again_once_it_is_back() {
    let world = World::memory(N).configure(|settings| settings.policy.cache_ttl = Duration::from_secs(1));
    let app = world.app(Run::InProcess).await;
    let fresh = app.get("/products?category=eggs&limit=4").await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    world.memory_catalogue().faults().set_down(true);
    let stale = app.get("/products?category=eggs&limit=4").await;
    world.memory_catalogue().faults().set_down(false);
    let refreshed = app.get("/products?category=eggs&limit=4").await;

    assert_eq!(fresh.header("x-cache"), Some("MISS"));
    assert_eq!((stale.status, stale.header("x-cache")), (StatusCode::OK, Some("STALE")));
    assert_eq!(stale.body, fresh.body);
    assert_eq!(refreshed.header("x-cache"), Some("MISS"));
}

#[tokio::test]
async fn with_no_cached_copy_a_down_store_gives_503_with_retry_after_and_no_internals() {
    let (world, app) = spawn_app(N).await;
    world.memory_catalogue().faults().set_down(true);

    let listing = app.get("/products?category=honey").await;
    let product = app.get("/products/1").await;
    let categories = app.get("/categories").await;

    for reply in [&listing, &product, &categories] {
        assert_unavailable_without_internals(reply);
        assert!(reply.header("x-request-id").is_some());
    }
}

#[tokio::test]
async fn a_down_cache_still_serves_every_catalogue_route_from_the_store() {
    let (world, app) = spawn_app(N).await;
    world.memory_cache().faults().set_down(true);

    let first = app.get("/products?sort=name&limit=5").await;
    let second = app.get("/products?sort=name&limit=5").await;
    let categories = app.get("/categories").await;
    let product = app.get("/products/7").await;

    assert_eq!((first.status, first.header("x-cache")), (StatusCode::OK, Some("MISS")));
    // The in-process tier still holds the page for up to a second, sparing the store during a cache outage.
    assert_eq!((second.status, second.header("x-cache")), (StatusCode::OK, Some("HIT")));
    assert_eq!(second.body, first.body);
    assert_eq!((categories.status, product.status), (StatusCode::OK, StatusCode::OK));
}

/// The memory catalogue, slowed down, counting `list` calls.
struct CountingRepository {
    inner: MemoryProductRepository,
    lists: AtomicUsize,
}

#[async_trait]
impl ProductRepository for CountingRepository {
    async fn list(&self, query: &ListQuery) -> Result<Vec<Product>, RepositoryError> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list(query).await
    }
    async fn summarize(&self, query: &SummaryQuery) -> Result<Summary, RepositoryError> {
        self.inner.summarize(query).await
    }
    async fn get(&self, id: ProductId) -> Result<Product, RepositoryError> {
        self.inner.get(id).await
    }
    async fn categories(&self) -> Result<Vec<Category>, RepositoryError> {
        self.inner.categories().await
    }
    async fn apply_event(&self, event: &InventoryEvent) -> Result<ApplyOutcome, RepositoryError> {
        self.inner.apply_event(event).await
    }
    async fn ping(&self) -> Result<(), RepositoryError> {
        self.inner.ping().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_requests_for_one_uncached_page_cause_one_store_query() {
    let inner = MemoryProductRepository::sample(N);
    inner.faults().set_latency(Duration::from_millis(200));
    let counting = Arc::new(CountingRepository { inner, lists: AtomicUsize::new(0) });
    let app = World::memory(N).serving(counting.clone()).app(Run::InProcess).await;
    let barrier = Arc::new(Barrier::new(50));

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (app, barrier) = (app.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                app.get("/products?category=spices&sort=-price&limit=9").await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("the request task finished"));
    }

    assert_eq!(counting.lists.load(Ordering::SeqCst), 1);
    assert!(replies.iter().all(|r| r.status == StatusCode::OK && r.body == replies[0].body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_while_the_store_is_down_share_one_failure_and_each_get_a_clean_503() {
    let inner = MemoryProductRepository::sample(N);
    inner.faults().set_latency(Duration::from_millis(200));
    inner.faults().set_down(true);
    let counting = Arc::new(CountingRepository { inner, lists: AtomicUsize::new(0) });
    let app = World::memory(N).serving(counting.clone()).app(Run::InProcess).await;
    let barrier = Arc::new(Barrier::new(20));

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, barrier) = (app.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                app.get("/products?category=oils").await
            })
        })
        .collect();
    for task in tasks {
        assert_unavailable_without_internals(&task.await.expect("the request task finished"));
    }

    assert_eq!(counting.lists.load(Ordering::SeqCst), 1);
}
