//! What a tester checks of FarmLokal, in process and without sleeping: rate limits, time-based expiry, breaker
//! recovery, faults with readiness, and partner calls by content.

use std::sync::Arc;
use std::time::Duration;

use farmlokal::adapters::memory::clock::ManualClock;
use farmlokal::adapters::memory::partner_a::MemoryPartnerA;
use farmlokal::adapters::memory::product_repository::MemoryProductRepository;
use farmlokal::adapters::memory::token_provider::MemoryTokenProvider;
use farmlokal::domain::retry::{BreakerPolicy, RetryPolicy};
use farmlokal::startup::{AppBuilder, Settings};
use poem::http::StatusCode;
use poem::test::TestClient;

fn catalogue() -> Arc<MemoryProductRepository> {
    Arc::new(MemoryProductRepository::sample(200))
}

#[tokio::test]
async fn the_fourth_request_in_a_minute_is_refused_with_the_rate_limit_headers() {
    let mut settings = Settings::default();
    settings.policy.rate_limit_per_minute = 3;
    let client = TestClient::new(AppBuilder::in_memory(settings).products(catalogue()).build().endpoint());

    for remaining in ["2", "1", "0"] {
        let answer = client.get("/products?limit=1").send().await;
        answer.assert_status_is_ok();
        answer.assert_header("ratelimit-limit", "3");
        answer.assert_header("ratelimit-remaining", remaining);
    }
    let refused = client.get("/products?limit=1").send().await;
    refused.assert_status(StatusCode::TOO_MANY_REQUESTS);
    refused.assert_content_type("application/problem+json");
    refused.assert_header_exist("retry-after");
}

#[tokio::test]
async fn a_listing_is_cached_for_its_ttl_and_read_again_after_it() {
    let clock = ManualClock::starting_now();
    let mut settings = Settings::for_tests();
    settings.policy.cache_ttl = Duration::from_secs(30);
    let app = AppBuilder::in_memory_at(settings, Arc::new(clock.clone())).products(catalogue()).build();
    let client = TestClient::new(app.endpoint());

    client.get("/products?sort=price").send().await.assert_header("x-cache", "MISS");
    clock.advance(Duration::from_secs(29));
    client.get("/products?sort=price").send().await.assert_header("x-cache", "HIT");
    clock.advance(Duration::from_secs(2));
    client.get("/products?sort=price").send().await.assert_header("x-cache", "MISS");
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_spares_the_partner_until_its_open_period_ends_then_recovers() {
    let clock = ManualClock::starting_now();
    let mut settings = Settings::for_tests();
    settings.policy.partner_breaker = BreakerPolicy { failure_threshold: 3, open_for: Duration::from_secs(20) };
    settings.policy.partner_retry = RetryPolicy::new(Duration::from_millis(50), Duration::from_millis(50));
    let partner = Arc::new(MemoryPartnerA::new());
    let app = AppBuilder::in_memory_at(settings, Arc::new(clock.clone())).partner_a(partner.clone()).build();
    let client = TestClient::new(app.endpoint());

    partner.faults().set_down(true);
    for _ in 0..3 {
        client.get("/delivery/estimate?pincode=400001").send().await.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    }
    let calls_when_open = partner.calls();
    partner.faults().set_down(false);
    clock.advance(Duration::from_secs(19));
    client.get("/delivery/estimate?pincode=400001").send().await.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(partner.calls(), calls_when_open, "no call while open");

    clock.advance(Duration::from_secs(1));
    let recovered = client.get("/delivery/estimate?pincode=400001").send().await;
    recovered.assert_status_is_ok();
    recovered.json().await.value().object().get("source").assert_string("live");
}

#[tokio::test]
async fn readiness_names_a_store_that_is_down_and_recovers_with_it() {
    let products = catalogue();
    let client =
        TestClient::new(AppBuilder::in_memory(Settings::for_tests()).products(products.clone()).build().endpoint());

    client.get("/health/ready").send().await.assert_status_is_ok();
    products.faults().set_down(true);
    let down = client.get("/health/ready").send().await;
    down.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    down.json().await.value().object().get("mysql").assert_string("down");
    products.faults().set_down(false);
    client.get("/health/ready").send().await.assert_status_is_ok();
}

#[tokio::test]
async fn the_partner_receives_the_pincode_asked_and_the_token_the_provider_issued() {
    let provider = Arc::new(MemoryTokenProvider::new(Duration::from_secs(3600)));
    let partner = Arc::new(MemoryPartnerA::checking_tokens_of(provider.clone()));
    let app = AppBuilder::in_memory(Settings::for_tests())
        .token_provider(provider.clone())
        .partner_a(partner.clone())
        .build();
    let client = TestClient::new(app.endpoint());

    client.get("/delivery/estimate?pincode=110001").send().await.assert_status_is_ok();

    let log = partner.calls_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].pincode.as_str(), "110001");
    assert_eq!(Some(log[0].token.clone()), provider.newest_value());
}
