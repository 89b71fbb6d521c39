//! `GET /metrics` as a freshly started binary serves it. Gauges are process-wide, so only a process of its own
//! shows what the first scrape holds; tests in this shared binary cannot.

use crate::harness::servers;
use crate::harness::{Binary, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_scrape_of_a_fresh_process_has_the_redis_rate_limit_and_breaker_gauges() {
    let test = "the_first_scrape_of_a_fresh_process_has_the_redis_rate_limit_and_breaker_gauges";
    let Some(prefix) = servers::fresh_redis_prefix(test).await else { return };
    let app = TestApp::binary(Binary::in_memory(100).redis(&prefix)).await;

    let first = app.metrics().await;

    assert_eq!(first.status, 200, "{}", first.describe());
    let scrape = first.text();
    for line in [
        "farmlokal_redis_up 1",
        r#"farmlokal_rate_limit_backend{backend="shared"} 1"#,
        r#"farmlokal_rate_limit_backend{backend="local"} 0"#,
        r#"farmlokal_partner_breaker_state{state="closed"} 1"#,
    ] {
        assert!(scrape.lines().any(|l| l == line), "the first scrape lacks {line:?}:\n{scrape}");
    }
    let output = app.terminate().await;
    assert!(output.status.success(), "SIGTERM should exit 0, got {:?}", output.status);
    servers::delete_prefix(&prefix).await;
}

/// The hot path counts per thread and publishes before each scrape (`app::sharded`): a scrape shows every
/// answer already given, counted once, whichever step answered it (the operation, the hot lane).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_counts_every_listing_answered_before_it_exactly_once() {
    let app = TestApp::binary(Binary::in_memory(100)).await;
    let listing = "/products?category=vegetables&limit=5";

    let answers: Vec<String> = {
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(app.get(listing).await.header("x-cache").unwrap_or_default().to_owned());
        }
        answers
    };
    let first = app.metrics().await.text();
    let second = app.metrics().await.text();

    // A miss, a hit the operation answers (which makes the target hot), then two the hot lane answers.
    assert_eq!(answers, ["MISS", "HIT", "HIT", "HIT"]);
    let sample = |scrape: &str, series: &str| {
        scrape.lines().find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok()).unwrap_or(0.0) as u64
    };
    for scrape in [&first, &second] {
        assert_eq!(sample(scrape, r#"farmlokal_cache_requests_total{result="miss"}"#), 1, "{scrape}");
        assert_eq!(sample(scrape, r#"farmlokal_cache_requests_total{result="hit"}"#), 3, "{scrape}");
        assert_eq!(sample(scrape, "farmlokal_cache_local_hits_total"), 3, "{scrape}");
        assert_eq!(sample(scrape, "farmlokal_hot_listings_total"), 2, "{scrape}");
        let listed = r#"farmlokal_http_request_duration_seconds_count{operation="listProducts",status="200"}"#;
        assert_eq!(sample(scrape, listed), 4, "{scrape}");
    }
    let output = app.terminate().await;
    assert!(output.status.success(), "SIGTERM should exit 0, got {:?}", output.status);
}
