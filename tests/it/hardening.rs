//! Edge hardening seen from outside: slow clients are cut off, shutdown lets in-flight requests finish, and
//! no secret ever reaches the log, even at trace level.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use farmlokal::startup::Settings;
use poem::http::Method;

use crate::harness::partners::{secret, Delivery};
use crate::harness::{Binary, Run, TestApp, World};

/// A service on a port over `products` sample products, with no rate limit and `settings` changed by `change`.
async fn start(products: u64, change: impl FnOnce(&mut Settings)) -> (World, TestApp) {
    let world = World::memory(products).configure(|settings| {
        change(settings);
        settings.policy.rate_limit_per_minute = 0;
    });
    let app = world.app(Run::OnPort).await;
    (world, app)
}

/// Sends raw bytes and reads until the server closes the connection or `limit` passes.
fn raw_exchange(addr: SocketAddr, chunks: &[&[u8]], pause: Duration) -> (Vec<u8>, Duration, bool) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream.set_read_timeout(Some(Duration::from_millis(50))).expect("read timeout");
    let mut received = Vec::new();
    let mut closed = false;
    let mut buf = [0u8; 4096];
    for chunk in chunks {
        if stream.write_all(chunk).is_err() {
            closed = true;
            break;
        }
        let until = Instant::now() + pause;
        while Instant::now() < until {
            match stream.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            break;
        }
    }
    (received, started.elapsed(), closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_one_header_byte_at_a_time_is_cut_off() {
    let (_world, app) = start(50, |settings| settings.http.header_read_timeout = Duration::from_millis(800)).await;
    let addr = app.addr();
    let request = b"GET /health/live HTTP/1.1\r\nHost: farmlokal\r\nX-Padding: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let chunks: Vec<&[u8]> = request.chunks(1).collect();

    let (received, elapsed, closed) =
        tokio::task::spawn_blocking(move || raw_exchange(addr, &chunks, Duration::from_millis(100)))
            .await
            .expect("client");

    assert!(closed, "the connection stays open for a client that never finishes its headers");
    assert!(received.is_empty(), "a slow client got an answer: {}", String::from_utf8_lossy(&received));
    assert!(elapsed < Duration::from_secs(3), "cut off only after {elapsed:?}");
    app.shut_down().await.expect("server task").expect("server stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_its_headers_promptly_is_served_and_kept_alive() {
    let (_world, app) = start(50, |settings| settings.http.header_read_timeout = Duration::from_millis(800)).await;
    let addr = app.addr();
    let request: &'static [u8] = b"GET /health/live HTTP/1.1\r\nHost: farmlokal\r\n\r\n";

    let (received, _, closed) =
        tokio::task::spawn_blocking(move || raw_exchange(addr, &[request, request], Duration::from_millis(300)))
            .await
            .expect("client");

    let text = String::from_utf8_lossy(&received);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert!(!closed, "a prompt keep-alive client was disconnected");
    app.shut_down().await.expect("server task").expect("server stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_in_flight_request_finish_and_refuses_new_connections() {
    let (world, app) = start(50, |_| {}).await;
    world.memory_catalogue().faults().set_latency(Duration::from_millis(700));
    let addr = app.addr();
    let client = app.clone();
    let in_flight = tokio::spawn(async move { client.get("/products/7").await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let server = app.shut_down();
    let reply = in_flight.await.expect("client");

    assert_eq!(reply.status, 200, "{}", reply.describe());
    assert!(reply.text().contains("\"id\":7"), "{}", reply.describe());
    server.await.expect("server task").expect("server stops cleanly");
    assert!(TcpStream::connect(addr).is_err(), "still accepting after shutdown");
}

const CURSOR_SECRET: &str = "cursor-secret-that-must-not-leak";
const WEBHOOK_SECRET: &str = "whsec_bm90LWluLXRoZS1sb2dzLWV2ZXItMTIzNDU2";
const REDIS_PASSWORD: &str = "redis-password-that-must-not-leak";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_of_every_route_contain_no_secret_and_sigterm_exits_cleanly() {
    let binary = Binary::in_memory(300)
        .env("FARMLOKAL_CURSOR_SECRET", CURSOR_SECRET)
        .env("FARMLOKAL_WEBHOOK_SECRETS", WEBHOOK_SECRET)
        // A Redis URL with a password (the local server has none, so Redis reads as down): the URL is logged
        // redacted, and the service keeps serving from memory.
        .env("FARMLOKAL_REDIS_URL", format!("redis://:{REDIS_PASSWORD}@127.0.0.1:1/0"))
        .env("RUST_LOG", "trace")
        .capture_output();
    let app = TestApp::binary(binary).await;

    let first = app.list_products("limit=2&sort=price").await;
    assert_eq!(first.status, 200, "{}", first.describe());
    let cursor = first.json()["next_cursor"].as_str().expect("cursor").to_owned();
    let routes = [
        format!("/products?limit=2&sort=price&cursor={cursor}"),
        "/products/1".to_owned(),
        "/categories".to_owned(),
        "/delivery/estimate?pincode=560001".to_owned(),
        "/health/ready".to_owned(),
        "/metrics".to_owned(),
        "/openapi.json".to_owned(),
        "/openapi.yaml".to_owned(),
        "/docs".to_owned(),
    ];
    for path in &routes {
        let reply = app.get(path).await;
        assert!(!reply.status.is_server_error() || path == "/health/ready", "{path}: {}", reply.describe());
    }
    let body = br#"{"type":"product.stock_adjusted","data":{"product_id":1,"delta":-1}}"#;
    let delivery = Delivery::signed_at(&secret(WEBHOOK_SECRET), "msg_trace_test", chrono::Utc::now().timestamp(), body);
    let answer = app.deliver(&delivery).await;
    assert_eq!(answer.status, 200, "{}", answer.describe());

    let output = app.terminate().await;
    assert!(output.status.success(), "SIGTERM should exit 0, got {:?}", output.status);

    let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "the log is not at trace level");
    let key_base64 = WEBHOOK_SECRET.trim_start_matches("whsec_");
    let sandbox_secret = farmlokal::adapters::sandbox::DEFAULT_CLIENT_SECRET;
    for secret in [CURSOR_SECRET, WEBHOOK_SECRET, key_base64, REDIS_PASSWORD, sandbox_secret, "Bearer ", "Basic "] {
        assert!(!log.contains(secret), "the log contains {secret:?}");
    }
}

#[tokio::test]
async fn cors_answers_configured_origins_only_and_is_off_by_default() {
    let configured = World::memory(0).configure(|s| s.http.cors_origins = vec!["https://shop.farmlokal.in".to_owned()]);
    let with_cors = configured.app(Run::InProcess).await;
    let (_world, without) = crate::harness::spawn_app(0).await;
    let shop = [("origin", "https://shop.farmlokal.in")];

    let preflight = with_cors
        .request(Method::OPTIONS, "/products")
        .header("origin", "https://shop.farmlokal.in")
        .header("access-control-request-method", "GET")
        .send()
        .await;
    assert_eq!(preflight.header("access-control-allow-origin"), Some("https://shop.farmlokal.in"));

    let simple = with_cors.get_with("/categories", &shop).await;
    let exposed = simple.header("access-control-expose-headers").unwrap_or("");
    assert!(exposed.to_ascii_lowercase().contains("etag"), "ETag must be readable by browsers: {exposed}");

    let stranger = with_cors.get_with("/categories", &[("origin", "https://evil.example")]).await;
    assert!(stranger.header("access-control-allow-origin").is_none(), "an unlisted origin got CORS");

    let off = without.get_with("/categories", &shop).await;
    assert!(off.header("access-control-allow-origin").is_none(), "CORS is on without configuration");
}
