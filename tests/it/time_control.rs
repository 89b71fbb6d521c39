//! Time under the test's control: a `ManualClock` given to `AppBuilder::clock` (and to the in-memory adapters
//! whose expiry should follow it) moves the cache TTL, the breaker's open period, token lifetimes and the webhook
//! timestamp window, so these behaviours are checked without sleeping. Each test also checks that it ran in well under a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use farmlokal::adapters::memory::clock::ManualClock;
use farmlokal::adapters::memory::partner_a::MemoryPartnerA;
use farmlokal::adapters::memory::token_provider::MemoryTokenProvider;
use farmlokal::domain::retry::{BreakerPolicy, RetryPolicy};
use farmlokal::ports::Clock;
use poem::http::StatusCode;
use serde_json::json;

use crate::harness::partners::{secret, Delivery, PRODUCT, SECRET};
use crate::harness::{Reply, Run, TestApp, World};

/// Real time a test may take: none of them waits for the time it moves.
const REAL_TIME: Duration = Duration::from_millis(900);

const LISTING: &str = "sort=price&limit=4";

/// A clock for the test to move and the same clock as the service's port.
fn manual_clock() -> (ManualClock, Arc<dyn Clock>) {
    let clock = ManualClock::starting_now();
    let port: Arc<dyn Clock> = Arc::new(clock.clone());
    (clock, port)
}

#[track_caller]
fn assert_live(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.describe());
    assert_eq!(reply.json()["source"], "live", "{}", reply.describe());
}

#[tokio::test]
async fn a_cached_listing_is_a_hit_before_its_ttl_a_miss_after_it_and_stale_after_it_while_the_store_is_down() {
    let (clock, port) = manual_clock();
    let world = World::memory(50).configure(|s| s.policy.cache_ttl = Duration::from_secs(60));
    let app = TestApp::start(world.builder().clock(port), Run::InProcess).await;
    let started = Instant::now();

    let first = app.list_products(LISTING).await;
    clock.advance(Duration::from_secs(59));
    let before_ttl = app.list_products(LISTING).await;
    clock.advance(Duration::from_secs(2));
    let after_ttl = app.list_products(LISTING).await;
    clock.advance(Duration::from_secs(61));
    world.memory_catalogue().faults().set_down(true);
    let store_down = app.list_products(LISTING).await;
    world.memory_catalogue().faults().set_down(false);

    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(before_ttl.header("x-cache"), Some("HIT"));
    assert_eq!(after_ttl.header("x-cache"), Some("MISS"));
    assert_eq!((store_down.status, store_down.header("x-cache")), (StatusCode::OK, Some("STALE")));
    assert_eq!(store_down.body, after_ttl.body);
    assert!(started.elapsed() < REAL_TIME, "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_open_breaker_calls_no_partner_until_the_clock_passes_open_for_then_one_probe_closes_it() {
    let (clock, port) = manual_clock();
    let partner = Arc::new(MemoryPartnerA::new());
    let world = World::memory(0).configure(|s| {
        s.policy.partner_breaker = BreakerPolicy { failure_threshold: 2, open_for: Duration::from_secs(30) };
        // Failing estimates retry within this deadline (a real wait): short, so the test takes little real time.
        s.policy.partner_retry = RetryPolicy {
            initial_interval: Duration::from_millis(1),
            max_interval: Duration::from_millis(5),
            ..RetryPolicy::new(Duration::from_millis(50), Duration::from_millis(50))
        };
    });
    let provider = Arc::new(MemoryTokenProvider::with_clock(Duration::from_secs(3600), port.clone()));
    let builder = world.builder().clock(port).token_provider(provider).partner_a(partner.clone());
    let app = TestApp::start(builder, Run::InProcess).await;
    let started = Instant::now();

    partner.faults().set_down(true);
    let failed = [app.estimate("110001").await, app.estimate("110002").await];
    let calls_when_opened = partner.calls();
    let refused = app.estimate("110003").await;
    partner.faults().set_down(false);
    clock.advance(Duration::from_secs(29));
    let still_open = app.estimate("110004").await;
    let calls_while_open = partner.calls() - calls_when_opened;
    clock.advance(Duration::from_secs(1));
    let probe = app.estimate("110005").await;
    let calls_of_the_probe = partner.calls() - calls_when_opened;
    let closed = app.estimate("110006").await;

    for reply in &failed {
        reply.assert_problem(503, "partner_unavailable");
    }
    refused.assert_problem(503, "partner_unavailable");
    assert_eq!(refused.number("retry-after"), 30, "the breaker stays open for open_for");
    still_open.assert_problem(503, "partner_unavailable");
    assert_eq!(still_open.number("retry-after"), 1, "Retry-After follows the clock");
    assert_eq!(calls_while_open, 0, "no partner call while the breaker is open");
    assert_live(&probe);
    assert_eq!(calls_of_the_probe, 1, "exactly one probe");
    assert_live(&closed);
    assert_eq!(partner.calls(), calls_when_opened + 2, "closed again: the next estimate calls the partner");
    assert!(started.elapsed() < REAL_TIME, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_token_is_reused_before_its_lifetime_ends_and_fetched_again_after_the_clock_passes_it() {
    let (clock, port) = manual_clock();
    let provider = Arc::new(MemoryTokenProvider::with_clock(Duration::from_secs(600), port.clone()));
    let world = World::memory(0);
    let app = TestApp::start(world.builder().clock(port).token_provider(provider.clone()), Run::InProcess).await;
    let started = Instant::now();

    let first = app.estimate("560001").await;
    let fetches_first = provider.fetches();
    // Before the refresh that is due a minute ahead of expiry.
    clock.advance(Duration::from_secs(8 * 60));
    let before_expiry = app.estimate("560002").await;
    let fetches_before_expiry = provider.fetches();
    clock.advance(Duration::from_secs(3 * 60));
    let after_expiry = app.estimate("560003").await;

    for reply in [&first, &before_expiry, &after_expiry] {
        assert_live(reply);
    }
    assert_eq!((fetches_first, fetches_before_expiry), (1, 1), "the token is reused before it expires");
    assert_eq!(provider.fetches(), 2, "a new token once the clock passed the lifetime");
    assert!(started.elapsed() < REAL_TIME, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_webhook_timestamp_is_judged_by_the_service_clock() {
    let (clock, port) = manual_clock();
    let world = World::memory(100);
    let app = TestApp::start(world.builder().clock(port), Run::InProcess).await;
    let body = json!({"type": "product.stock_adjusted", "data": {"product_id": PRODUCT, "delta": -1}}).to_string();
    let signed_at_start = Delivery::signed_at(&secret(SECRET), "msg_clock_1", clock.now().timestamp(), body.clone());

    clock.advance(Duration::from_secs(6 * 60));
    let six_minutes_late = app.deliver(&signed_at_start).await;
    let signed_now = Delivery::signed_at(&secret(SECRET), "msg_clock_2", clock.now().timestamp(), body);
    let on_time = app.deliver(&signed_now).await;

    six_minutes_late.assert_problem(401, "invalid_signature");
    on_time.assert_ack("processed");
}
