//! The in-process service as a tester's tool: in-process requests are rate limited as a client on 127.0.0.1,
//! readiness sees in-memory adapters a test took down, the partner A fake logs what it received, the memory
//! catalogue and caches change and clear under a running service, and `Delayed` gives mockall mocks an async
//! latency that makes single-flight tests honest.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Days;
use farmlokal::adapters::memory::latency::Delayed;
use farmlokal::adapters::memory::partner_a::{MemoryPartnerA, PartnerAAnswer};
use farmlokal::adapters::memory::token_provider::MemoryTokenProvider;
use farmlokal::domain::{Product, ProductId};
use farmlokal::ports::product_repository::MockProductRepository;
use farmlokal::ports::ProductRepository;
use serde_json::json;
use tokio::sync::Barrier;

use crate::harness::{Reply, Run, TestApp, World};

/// A limited route that is cheap on an empty catalogue.
const LIMITED: &str = "/categories";

/// An empty memory world allowing `per_minute` requests a minute per client, trusting `trusted` proxies.
fn limited_world(per_minute: u32, trusted: &[&str]) -> World {
    let trusted = trusted.iter().map(|c| c.parse().expect("test CIDR")).collect();
    World::memory(0).configure(|settings| {
        settings.policy.rate_limit_per_minute = per_minute;
        settings.http.trusted_proxies = trusted;
    })
}

async fn get_n(app: &TestApp, headers: &[(&str, &str)], n: usize) -> Vec<Reply> {
    let mut replies = Vec::with_capacity(n);
    for _ in 0..n {
        replies.push(app.get_with(LIMITED, headers).await);
    }
    replies
}

fn statuses(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.status.as_u16()).collect()
}

// ---- the client address of in-process requests ----------------------------------------------------------

#[tokio::test]
async fn in_process_requests_are_limited_like_a_client_on_localhost() {
    let app = limited_world(3, &[]).app(Run::InProcess).await;

    let replies = get_n(&app, &[], 4).await;

    assert_eq!(statuses(&replies), [200, 200, 200, 429]);
    let remaining: Vec<u64> = replies.iter().map(|r| r.number("ratelimit-remaining")).collect();
    assert_eq!(remaining, [2, 1, 0, 0]);
    let refused = &replies[3];
    refused.assert_problem(429, "rate_limited");
    assert_eq!(refused.number("ratelimit-limit"), 3);
    assert!((1..=60).contains(&refused.number("ratelimit-reset")), "{refused:?}");
    assert!((1..=60).contains(&refused.number("retry-after")), "{refused:?}");
}

#[tokio::test]
async fn with_the_in_process_address_trusted_x_forwarded_for_names_clients_with_budgets_of_their_own() {
    let app = limited_world(2, &["127.0.0.1/32"]).app(Run::InProcess).await;

    let first = get_n(&app, &[("x-forwarded-for", "203.0.113.1")], 3).await;
    let second = get_n(&app, &[("x-forwarded-for", "203.0.113.2")], 2).await;
    let proxy_itself = get_n(&app, &[], 1).await;

    assert_eq!(statuses(&first), [200, 200, 429]);
    assert_eq!(statuses(&second), [200, 200], "another client has its own budget");
    assert_eq!(second[0].number("ratelimit-remaining"), 1);
    assert_eq!(proxy_itself[0].number("ratelimit-remaining"), 1, "without the header the proxy is the client");
}

#[tokio::test]
async fn without_an_in_process_address_in_process_requests_are_not_limited() {
    let world = limited_world(1, &[]).configure(|settings| settings.http.in_process_client = None);
    let app = world.app(Run::InProcess).await;

    let replies = get_n(&app, &[], 3).await;

    assert_eq!(statuses(&replies), [200, 200, 200]);
    assert!(replies.iter().all(|r| !r.has_rate_limit_headers()));
}

// ---- readiness ------------------------------------------------------------------------------------------

#[tokio::test]
async fn readiness_names_an_in_memory_adapter_taken_down_and_recovers_with_it() {
    let world = World::memory(10);
    let app = world.app(Run::InProcess).await;
    let ready = |mysql: &str, redis: &str, status: &str| {
        let degraded: &[&str] = if status == "degraded" { &["redis"] } else { &[] };
        json!({"status": status, "mysql": mysql, "redis": redis, "degraded": degraded})
    };

    let up = app.get("/health/ready").await;
    world.memory_catalogue().faults().set_down(true);
    let store_down = app.get("/health/ready").await;
    world.memory_catalogue().faults().set_down(false);
    world.memory_cache().faults().set_down(true);
    let cache_down = app.get("/health/ready").await;
    world.memory_cache().faults().set_down(false);
    world.memory_cache().faults().fail_next(1);
    let back = app.get("/health/ready").await;

    assert_eq!((up.status.as_u16(), up.json()), (200, ready("memory", "memory", "ready")));
    assert_eq!((store_down.status.as_u16(), store_down.json()), (503, ready("down", "memory", "unavailable")));
    assert_eq!((cache_down.status.as_u16(), cache_down.json()), (200, ready("memory", "down", "degraded")));
    assert_eq!((back.status.as_u16(), back.json()), (200, ready("memory", "memory", "ready")));
    let cache = world.memory_cache();
    assert!(farmlokal::ports::Cache::get(cache, "k").await.is_err(), "the probe left fail_next to the operation");
}

// ---- the partner A fake's log ---------------------------------------------------------------------------

#[tokio::test]
async fn the_partner_a_fake_logs_the_pincode_token_and_answer_of_every_call() {
    let issuer = Arc::new(MemoryTokenProvider::new(Duration::from_secs(3600)));
    let partner = Arc::new(MemoryPartnerA::checking_tokens_of(issuer.clone()));
    let builder = World::memory(0).builder().token_provider(issuer.clone()).partner_a(partner.clone());
    let app = TestApp::start(builder, Run::InProcess).await;

    let north = app.estimate("110001").await;
    let first_token = issuer.newest_value().expect("a token was issued");
    issuer.revoke_all();
    let south = app.estimate("560001").await;
    let second_token = issuer.newest_value().expect("a new token was issued");

    assert_eq!((north.status.as_u16(), south.status.as_u16()), (200, 200), "{}", south.describe());
    let log = partner.calls_log();
    let seen: Vec<(&str, &str, bool)> = log
        .iter()
        .map(|c| (c.pincode.as_str(), c.token.as_str(), matches!(c.answer, PartnerAAnswer::Serviceability(_))))
        .collect();
    let expected = [
        ("110001", first_token.as_str(), true),
        ("560001", first_token.as_str(), false),
        ("560001", second_token.as_str(), true),
    ];
    assert_eq!(seen, expected, "the revoked token was refused once, then the new one sent");
    assert_eq!(log[1].answer, PartnerAAnswer::Failed("partner A rejected the access token".to_owned()));
    assert_eq!((partner.calls(), partner.unauthorized()), (3, 1));
    partner.clear_log();
    assert!(partner.calls_log().is_empty());
}

// ---- catalogue and cache changes ------------------------------------------------------------------------

#[tokio::test]
async fn a_listing_shows_a_product_inserted_or_removed_once_the_caches_are_cleared() {
    let world = World::memory(20);
    let app = world.app(Run::InProcess).await;
    let newest = "/products?sort=-created_at&limit=3";
    let clear_caches = || {
        world.memory_cache().clear();
        app.state().services.pages.clear();
    };
    let before = app.list_products("sort=-created_at&limit=3").await;
    let mut fresh: Product = world.sample[0].clone();
    fresh.id = ProductId::new(1_000).expect("a positive id");
    fresh.name = "Tester's Tomatoes".to_owned();
    fresh.created_at = world.sample.iter().map(|p| p.created_at).max().expect("a sample") + Days::days(1);

    assert_eq!(world.memory_catalogue().insert(fresh.clone()), None, "a new id");
    let cached = app.get(newest).await;
    clear_caches();
    let inserted = app.get(newest).await;
    let removed = world.memory_catalogue().remove(fresh.id);
    clear_caches();
    let after = app.get(newest).await;

    assert_eq!((cached.header("x-cache"), cached.ids()), (Some("HIT"), before.ids()), "the page was cached");
    assert_eq!(inserted.header("x-cache"), Some("MISS"));
    assert_eq!(inserted.ids()[0], 1_000, "{}", inserted.describe());
    assert_eq!(inserted.ids()[1..], before.ids()[..2]);
    assert_eq!(removed.map(|p| p.name), Some(fresh.name));
    assert_eq!(after.ids(), before.ids());
    assert_eq!(app.get("/products/1000").await.status, 404);
    assert_eq!(world.memory_cache().len(), 1, "the last listing is cached again");
}

/// The hot lane answers a listing from entries each thread keeps in front of the in-process tier
/// (`app::front`): clearing the caches reaches them at once, so the next request renders again.
#[tokio::test]
async fn clearing_the_caches_reaches_the_hot_lane_at_once() {
    let world = World::memory(20);
    let app = world.app(Run::InProcess).await;
    let target = "/products?sort=-created_at&limit=3";
    let miss = app.get(target).await;
    let hit = app.get(target).await;
    assert!(app.state().hot_listings().remembers(target), "a hit makes the target hot");
    let hot = app.get(target).await;
    world.memory_cache().clear();
    app.state().services.pages.clear();
    let after = app.get(target).await;

    let answers = [&miss, &hit, &hot, &after].map(|reply| reply.header("x-cache").unwrap_or_default().to_owned());
    assert_eq!(answers, ["MISS", "HIT", "HIT", "MISS"]);
    assert_eq!(after.body, miss.body);
}

// ---- async latency for mocks ----------------------------------------------------------------------------

/// A repository mock whose `list` counts its calls and answers an empty page, after blocking its thread for
/// `block_for` when set.
fn counting_mock(block_for: Option<Duration>) -> (MockProductRepository, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut mock = MockProductRepository::new();
    let counted = calls.clone();
    mock.expect_list().returning(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        if let Some(d) = block_for {
            std::thread::sleep(d);
        }
        Ok(Vec::new())
    });
    (mock, calls)
}

/// `n` concurrent first requests for one listing page, released together.
async fn concurrent_first_listings(products: Arc<dyn ProductRepository>, n: usize) -> Vec<Reply> {
    let app = World::memory(0).serving(products).app(Run::InProcess).await;
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (app, barrier) = (app.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                app.list_products("category=dairy&limit=5").await
            })
        })
        .collect();
    let mut replies = Vec::with_capacity(n);
    for task in tasks {
        replies.push(task.await.expect("the request task finished"));
    }
    replies
}

fn x_cache(replies: &[Reply]) -> Vec<&str> {
    replies.iter().map(|r| r.header("x-cache").unwrap_or("none")).collect()
}

#[tokio::test(start_paused = true)]
async fn concurrent_first_listings_of_a_page_behind_a_slow_mock_share_one_store_query() {
    let (mock, calls) = counting_mock(None);
    let slow = Arc::new(Delayed::new(mock, Duration::from_secs(1)));

    let replies = concurrent_first_listings(slow, 20).await;

    // The paused clock advances only once every task waits: all 20 requests missed the cache while the one
    // query was in flight, and shared it.
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(x_cache(&replies), ["MISS"; 20], "every request arrived before the page existed");
    assert!(replies.iter().all(|r| r.status == 200 && r.body == replies[0].body));
}

/// Why the test above delays with `Delayed` rather than a sleep in the mock: a `std::thread::sleep` inside the
/// closure blocks the runtime's thread, so the other requests cannot even start until the first one has
/// finished and cached its page. They are then cache hits, and "one store query" holds whether or not single
/// flight works (it holds with single flight removed). What tells the two apart is that the requests here never
/// overlapped: all but the first are `HIT`s, where the honest test sees 20 `MISS`es sharing one query.
#[tokio::test]
async fn a_blocking_sleep_in_a_mock_serialises_the_requests_and_proves_nothing_about_single_flight() {
    let (mock, calls) = counting_mock(Some(Duration::from_millis(50)));

    let replies = concurrent_first_listings(Arc::new(mock), 20).await;

    assert_eq!(calls.load(Ordering::SeqCst), 1, "the count the obvious test checks");
    let hits = x_cache(&replies).iter().filter(|s| **s == "HIT").count();
    assert!(hits > 0, "requests queued behind the blocked thread and read the cached page: {:?}", x_cache(&replies));
}
