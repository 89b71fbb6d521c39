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

    // A miss (kept in Redis only), a hit the operation answers from Redis (which keeps the page in process and
    // makes the target hot), then two the hot lane answers from the in-process tier.
    assert_eq!(answers, ["MISS", "HIT", "HIT", "HIT"]);
    let sample = |scrape: &str, series: &str| {
        scrape.lines().find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok()).unwrap_or(0.0) as u64
    };
    for scrape in [&first, &second] {
        assert_eq!(sample(scrape, r#"farmlokal_cache_requests_total{result="miss"}"#), 1, "{scrape}");
        assert_eq!(sample(scrape, r#"farmlokal_cache_requests_total{result="hit"}"#), 3, "{scrape}");
        assert_eq!(sample(scrape, "farmlokal_cache_local_hits_total"), 2, "{scrape}");
        assert_eq!(sample(scrape, "farmlokal_hot_listings_total"), 2, "{scrape}");
        let listed = r#"farmlokal_http_request_duration_seconds_count{operation="listProducts",status="200"}"#;
        assert_eq!(sample(scrape, listed), 4, "{scrape}");
    }
    let output = app.terminate().await;
    assert!(output.status.success(), "SIGTERM should exit 0, got {:?}", output.status);
}

/// `FARMLOKAL_MYSQL_READ_CONNECTIONS` reaches the read pool: sixteen listing misses at once through a binary
/// configured for two read connections all get their pages, the database sees at most those two and the write
/// pool's one (readiness pings both), and the pool gauge reports at most two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_read_pool_bounds_the_connections_a_burst_of_misses_opens() {
    const CALLS: usize = 16;
    let test = "the_configured_read_pool_bounds_the_connections_a_burst_of_misses_opens";
    let Some(url) = servers::seeded_mysql(test, 100).await else { return };
    let binary =
        Binary::in_memory(100).env("FARMLOKAL_MYSQL_URL", url.as_str()).env("FARMLOKAL_MYSQL_READ_CONNECTIONS", "2");
    let app = TestApp::binary(binary).await;

    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(CALLS));
    let mut calls = tokio::task::JoinSet::new();
    for limit in 1..=CALLS {
        let (app, barrier) = (app.clone(), barrier.clone());
        calls.spawn(async move {
            barrier.wait().await;
            (limit, app.list_products(&format!("limit={limit}&sort=price")).await)
        });
    }
    for (limit, reply) in calls.join_all().await {
        assert_eq!(reply.status, 200, "{}", reply.describe());
        assert_eq!(reply.header("x-cache"), Some("MISS"), "limit={limit}: every listing is a miss");
        assert_eq!(reply.json()["data"].as_array().map(Vec::len), Some(limit), "limit={limit}");
    }

    let open = servers::connections_to(&url).await;
    assert!((1..=3).contains(&open), "the server saw {open} connections to the test database");
    // The pools are sampled every 5 s: the scrape after the next sample.
    tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;
    let scrape = app.metrics().await.text();
    let read: f64 = ["in_use", "idle"]
        .iter()
        .map(|state| format!(r#"farmlokal_pool_connections{{pool="mysql_read",state="{state}"}} "#))
        .filter_map(|prefix| scrape.lines().find_map(|line| line.strip_prefix(prefix.as_str())?.parse::<f64>().ok()))
        .sum();
    assert!((1.0..=2.0).contains(&read), "the read pool holds {read} connections:\n{scrape}");

    let output = app.terminate().await;
    assert!(output.status.success(), "SIGTERM should exit 0, got {:?}", output.status);
    servers::drop_mysql_database(&url).await;
}
