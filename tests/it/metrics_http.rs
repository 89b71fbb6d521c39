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
