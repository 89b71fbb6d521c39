//! Edge hardening seen from outside: slow clients are cut off, shutdown lets in-flight requests finish, and
//! no secret ever reaches the log, even at trace level.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use farmlokal::startup::Settings;
use poem::http::Method;

use farmlokal::api::slow_clients::RESPONSE_GRACE;

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

/// What a raw client saw: the bytes it received, and how long after connecting the server closed the
/// connection (`None`: still open when the client gave up).
struct Seen {
    received: String,
    closed_after: Option<Duration>,
}

/// Connects, sends `first` at once, then the bytes of `trickle` one every `every`, while reading until the
/// server closes the connection or `limit` passes.
async fn converse(addr: SocketAddr, first: &[u8], trickle: &[u8], every: Duration, limit: Duration) -> Seen {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let started = tokio::time::Instant::now();
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(first).await.expect("sends");
    let trickle = trickle.to_vec();
    let trickler = tokio::spawn(async move {
        for byte in trickle {
            tokio::time::sleep(every).await;
            if writer.write_all(&[byte]).await.is_err() {
                break;
            }
        }
        // Handed back so the write half stays open (no FIN) until the client is done.
        writer
    });
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let closed_after = loop {
        match tokio::time::timeout_at(started + limit, reader.read(&mut buf)).await {
            Err(_) => break None,
            Ok(Ok(0) | Err(_)) => break Some(started.elapsed()),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    };
    trickler.abort();
    Seen { received: String::from_utf8_lossy(&received).into_owned(), closed_after }
}

const BOUND: Duration = Duration::from_millis(400);
/// Scheduling slack on top of a bound (the suite runs in parallel on small machines).
const SLACK: Duration = Duration::from_millis(1000);
const GET_LIVE: &[u8] = b"GET /health/live HTTP/1.1\r\nHost: farmlokal\r\n\r\n";

/// A service whose connection bounds (idle, headers, whole request) are all [`BOUND`].
async fn start_bounded() -> (World, TestApp) {
    start(50, |settings| {
        settings.http.header_read_timeout = BOUND;
        settings.http.idle_timeout = BOUND;
        settings.http.request_timeout = BOUND;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connections_left_idle_after_a_response_are_closed_within_the_idle_bound() {
    let (_world, app) = start_bounded().await;
    let addr = app.addr();

    let clients: Vec<_> =
        (0..5).map(|_| tokio::spawn(converse(addr, GET_LIVE, b"", Duration::ZERO, Duration::from_secs(3)))).collect();

    for client in clients {
        let client = client.await.expect("client");
        assert_eq!(client.received.matches("HTTP/1.1 200 OK").count(), 1, "{}", client.received);
        let closed = client.closed_after.expect("an idle keep-alive connection is never closed");
        assert!(closed <= BOUND + SLACK, "closed only after {closed:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_request_whose_headers_trickle_is_cut_off_within_the_header_bound() {
    let (_world, app) = start_bounded().await;

    let seen = converse(app.addr(), GET_LIVE, GET_LIVE, Duration::from_millis(150), Duration::from_secs(4)).await;

    assert_eq!(seen.received.matches("HTTP/1.1 200 OK").count(), 1, "{}", seen.received);
    let closed = seen.closed_after.expect("a client trickling its second request's headers is never cut off");
    assert!(closed <= Duration::from_millis(150) + BOUND + SLACK, "cut off only after {closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_request_whose_header_lines_trickle_after_a_prompt_request_line_is_cut_off() {
    let (_world, app) = start_bounded().await;
    let headers = b"Host: farmlokal\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";

    let seen = converse(
        app.addr(),
        b"GET /health/live HTTP/1.1\r\n",
        headers,
        Duration::from_millis(150),
        Duration::from_secs(4),
    )
    .await;

    assert!(seen.received.is_empty(), "a slow client got an answer: {}", seen.received);
    let closed = seen.closed_after.expect("a client trickling its header lines is never cut off");
    assert!(closed <= BOUND + SLACK, "cut off only after {closed:?}");
}

/// A 100-byte body, sent one byte every 200 ms (20 s in all), after prompt headers.
async fn trickle_a_body(app: &TestApp, head: &str) -> Seen {
    let body = [b'{'; 100];
    converse(app.addr(), head.as_bytes(), &body, Duration::from_millis(200), Duration::from_secs(5)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_body_is_cut_off_within_the_request_bound_whether_or_not_the_route_reads_it() {
    let (_world, app) = start_bounded().await;
    let heads = [
        "POST /webhooks/partner-b HTTP/1.1\r\nHost: farmlokal\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        "POST /webhooks/partner-b HTTP/1.1\r\nHost: farmlokal\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n",
        "POST /products HTTP/1.1\r\nHost: farmlokal\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        "POST /products HTTP/1.1\r\nHost: farmlokal\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n",
    ];

    let mut held = Vec::new();
    for head in heads {
        let seen = trickle_a_body(&app, head).await;

        let request = head.split("\r\n\r\n").next().unwrap_or_default().replace("\r\n", " | ");
        // The whole request is bounded: the headers, then the request bound with its 504 grace.
        if seen.closed_after.is_none_or(|closed| closed > BOUND * 2 + RESPONSE_GRACE + SLACK) {
            held.push(format!("{request}: closed after {:?}, got {:?}", seen.closed_after, seen.received));
        }
    }

    assert!(held.is_empty(), "a trickling body held these connections:\n{}", held.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_then_silence_holds_its_connection_no_longer_than_the_bounds_add_up_to() {
    let (world, app) = start_bounded().await;
    world.memory_catalogue().faults().set_latency(Duration::from_secs(5));

    let seen = converse(
        app.addr(),
        b"GET /products/7 HTTP/1.1\r\nHost: farmlokal\r\n\r\n",
        b"",
        Duration::ZERO,
        Duration::from_secs(4),
    )
    .await;

    assert!(seen.received.starts_with("HTTP/1.1 504"), "{}", seen.received);
    let closed = seen.closed_after.expect("a connection is held after its request timed out");
    // The request bound, then the idle bound.
    assert!(closed <= BOUND * 2 + SLACK, "closed only after {closed:?}");
}
