//! Readiness and shutdown as a load balancer sees them (DESIGN §7), on the real binary with real signals:
//! SIGTERM turns readiness 503 at once and the instance keeps serving through the drain; after the drain it
//! refuses new connections but finishes the request in flight, and exits 0; SIGINT skips the drain. With the
//! shared state down the instance stays ready and says Redis is degraded.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::partners::{Delivery, SECRET};
use crate::harness::wait::poll_until;
use crate::harness::{Binary, Run, TestApp, World};

const DRAIN: &str = "FARMLOKAL_SHUTDOWN_DRAIN_SECS";

fn log_of(output: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Polls `/health/ready` until it answers 503, and gives that answer.
async fn readiness_once_unready(app: &TestApp) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    let unready = poll_until(deadline, Duration::from_millis(20), || async {
        let reply = app.get("/health/ready").await;
        (reply.status == 503).then(|| reply.json())
    })
    .await;
    unready.expect("readiness turned 503 after the signal")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_readiness_turns_503_and_every_request_is_still_served_during_the_drain() {
    // A drain far longer than the test: the requests below are certainly inside it.
    let app = TestApp::binary(Binary::in_memory(50).env(DRAIN, "600").capture_output()).await;
    let before = app.get("/health/ready").await;

    app.signal("TERM");
    let draining = readiness_once_unready(&app).await;
    let page = app.list_products("limit=2").await;
    let product = app.get("/products/1").await;
    app.signal("TERM"); // a second signal cuts the drain short
    let output = app.wait_for_exit().await;

    assert_eq!(before.status, 200, "{}", before.describe());
    assert_eq!(draining["status"], "shutting_down", "{draining}");
    assert_eq!(page.status, 200, "a listing during the drain: {}", page.describe());
    assert_eq!(page.ids().len(), 2);
    assert_eq!(product.status, 200, "a product during the drain: {}", product.describe());
    assert!(output.status.success(), "SIGTERM should exit 0, got {:?}", output.status);
    let log = log_of(&output);
    assert!(log.contains("serving until the drain ends") && log.contains("drain cut short"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_drain_new_connections_are_refused_but_the_request_in_flight_completes_and_the_exit_is_0() {
    let app = TestApp::binary(
        Binary::in_memory(50).env(DRAIN, "1").env("FARMLOKAL_WEBHOOK_SECRETS", SECRET).capture_output(),
    )
    .await;
    let delivery = Delivery::stock("msg_in_flight_at_shutdown", 1, -1);
    let (first_half, second_half) = delivery.body.split_at(delivery.body.len() / 2);
    let mut head = format!("POST /webhooks/partner-b HTTP/1.1\r\nhost: {}\r\n", app.addr());
    for (name, value) in delivery.headers() {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", delivery.body.len()));

    // A webhook whose body is only half sent when the signal arrives: a request in flight.
    let mut in_flight = TcpStream::connect(app.addr()).await.expect("connects");
    in_flight.write_all(head.as_bytes()).await.expect("headers sent");
    in_flight.write_all(first_half).await.expect("half the body sent");
    app.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(30);
    let closed = poll_until(deadline, Duration::from_millis(50), || async {
        TcpStream::connect(app.addr()).await.is_err().then_some(())
    })
    .await;
    in_flight.write_all(second_half).await.expect("the rest of the body sent");
    let mut answer = String::new();
    let read = tokio::time::timeout(Duration::from_secs(30), in_flight.read_to_string(&mut answer)).await;
    let output = app.wait_for_exit().await;

    assert!(closed.is_some(), "new connections were still accepted after the drain");
    assert!(read.is_ok(), "the request in flight got no complete answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#"{"status":"processed"}"#), "{answer}");
    assert!(output.status.success(), "SIGTERM should exit 0, got {:?}", output.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_skips_the_drain_and_exits_0() {
    let app = TestApp::binary(Binary::in_memory(10).env(DRAIN, "120").capture_output()).await;

    app.signal("INT");
    // With the 120 s drain applied this would not return for two minutes.
    let output = tokio::time::timeout(Duration::from_secs(60), app.wait_for_exit()).await;

    let output = output.expect("SIGINT skipped the drain");
    assert!(output.status.success(), "SIGINT should exit 0, got {:?}", output.status);
    let log = log_of(&output);
    assert!(log.contains("closing without a drain") && !log.contains("serving until the drain ends"), "{log}");
}

#[tokio::test]
async fn with_the_shared_state_down_readiness_stays_200_and_names_redis_as_degraded() {
    let world = World::memory(10);
    let app = world.app(Run::InProcess).await;

    world.memory_cache().faults().set_down(true);
    let redis_down = app.get("/health/ready").await;
    let listing = app.list_products("limit=1").await;
    world.memory_cache().faults().set_down(false);
    let back = app.get("/health/ready").await;

    assert_eq!(redis_down.status, 200, "{}", redis_down.describe());
    assert_eq!(
        redis_down.json(),
        json!({"status": "degraded", "mysql": "memory", "redis": "down", "degraded": ["redis"]})
    );
    assert_eq!(listing.status, 200, "listings are served with the cache down: {}", listing.describe());
    assert_eq!(back.json(), json!({"status": "ready", "mysql": "memory", "redis": "memory", "degraded": []}));
}
