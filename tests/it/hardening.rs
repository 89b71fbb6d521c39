//! Edge hardening seen from outside: slow clients are cut off, shutdown lets in-flight requests finish, and
//! no secret ever reaches the log, even at trace level.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use farmlokal::adapters::memory::product_repository::MemoryProductRepository;
use farmlokal::domain::webhook::WebhookSecret;
use farmlokal::startup::Application;
use farmlokal::startup::{AppBuilder, Settings};

async fn start(
    settings: Settings,
    products: MemoryProductRepository,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let mut builder = AppBuilder::in_memory(settings).products(Arc::new(products));
    builder.settings_mut().rate_limit_per_minute = 0;
    let app = Application::from_builder(builder, "127.0.0.1:0".parse().expect("address")).await.expect("binds");
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    (addr, stop, server)
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
    let mut settings = Settings::for_tests();
    settings.header_read_timeout = Duration::from_millis(800);
    let (addr, stop, server) = start(settings, MemoryProductRepository::sample(50)).await;
    let request = b"GET /health/live HTTP/1.1\r\nHost: farmlokal\r\nX-Padding: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let chunks: Vec<&[u8]> = request.chunks(1).collect();

    let (received, elapsed, closed) =
        tokio::task::spawn_blocking(move || raw_exchange(addr, &chunks, Duration::from_millis(100)))
            .await
            .expect("client");

    assert!(closed, "the connection stays open for a client that never finishes its headers");
    assert!(received.is_empty(), "a slow client got an answer: {}", String::from_utf8_lossy(&received));
    assert!(elapsed < Duration::from_secs(3), "cut off only after {elapsed:?}");
    let _ = stop.send(());
    server.await.expect("server task").expect("server stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_its_headers_promptly_is_served_and_kept_alive() {
    let mut settings = Settings::for_tests();
    settings.header_read_timeout = Duration::from_millis(800);
    let (addr, stop, server) = start(settings, MemoryProductRepository::sample(50)).await;
    let request: &'static [u8] = b"GET /health/live HTTP/1.1\r\nHost: farmlokal\r\n\r\n";

    let (received, _, closed) =
        tokio::task::spawn_blocking(move || raw_exchange(addr, &[request, request], Duration::from_millis(300)))
            .await
            .expect("client");

    let text = String::from_utf8_lossy(&received);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert!(!closed, "a prompt keep-alive client was disconnected");
    let _ = stop.send(());
    server.await.expect("server task").expect("server stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_in_flight_request_finish_and_refuses_new_connections() {
    let products = MemoryProductRepository::sample(50);
    products.faults().set_latency(Duration::from_millis(700));
    let (addr, stop, server) = start(Settings::for_tests(), products).await;
    let in_flight = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent.get(format!("http://{addr}/products/7")).call().expect("answered");
        (response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let _ = stop.send(());
    let (status, body) = in_flight.await.expect("client");

    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"id\":7"), "{body}");
    server.await.expect("server task").expect("server stops cleanly");
    assert!(TcpStream::connect(addr).is_err(), "still accepting after shutdown");
}

const CURSOR_SECRET: &str = "cursor-secret-that-must-not-leak";
const WEBHOOK_SECRET: &str = "whsec_bm90LWluLXRoZS1sb2dzLWV2ZXItMTIzNDU2";
const REDIS_PASSWORD: &str = "redis-password-that-must-not-leak";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<&[u8]>,
) -> (u16, String) {
    let result = match (method, body) {
        ("POST", Some(body)) => {
            let mut request = agent.post(url);
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            request.send(body)
        }
        _ => {
            let mut request = agent.get(url);
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            request.call()
        }
    };
    match result {
        Ok(mut response) => (response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default()),
        Err(error) => panic!("{method} {url}: {error}"),
    }
}

#[test]
fn trace_logs_of_every_route_contain_no_secret_and_sigterm_exits_cleanly() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_farmlokal"))
        .arg("serve")
        .env("FARMLOKAL_BIND", format!("127.0.0.1:{port}"))
        .env("FARMLOKAL_SAMPLE_PRODUCTS", "300")
        .env("FARMLOKAL_CURSOR_SECRET", CURSOR_SECRET)
        .env("FARMLOKAL_WEBHOOK_SECRETS", WEBHOOK_SECRET)
        // A Redis URL with a password (the local server has none, so Redis reads as down): the URL is logged
        // redacted, and the service keeps serving from memory.
        .env("FARMLOKAL_REDIS_URL", format!("redis://:{REDIS_PASSWORD}@127.0.0.1:1/0"))
        .env("RUST_LOG", "trace")
        .env_remove("FARMLOKAL_MYSQL_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let ready = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        agent.get(format!("{base}/health/live")).call().is_ok()
    });
    assert!(ready, "the service did not start");

    let (status, first) = call(&agent, "GET", &format!("{base}/products?limit=2&sort=price"), &[], None);
    assert_eq!(status, 200, "{first}");
    let cursor = serde_json::from_str::<serde_json::Value>(&first).expect("json")["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let routes = [
        format!("{base}/products?limit=2&sort=price&cursor={cursor}"),
        format!("{base}/products/1"),
        format!("{base}/categories"),
        format!("{base}/delivery/estimate?pincode=560001"),
        format!("{base}/health/ready"),
        format!("{base}/metrics"),
        format!("{base}/openapi.json"),
        format!("{base}/openapi.yaml"),
        format!("{base}/docs"),
    ];
    for url in &routes {
        let (status, body) = call(&agent, "GET", url, &[], None);
        assert!(status < 500 || url.ends_with("/health/ready"), "{url}: {status} {body}");
    }
    let secret = WebhookSecret::parse(WEBHOOK_SECRET).expect("secret");
    let body = br#"{"type":"product.stock_adjusted","data":{"product_id":1,"delta":-1}}"#;
    let timestamp = chrono::Utc::now().timestamp();
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("webhook-id", "msg_trace_test".to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", secret.sign("msg_trace_test", timestamp, body)),
    ];
    let (status, answer) = call(&agent, "POST", &format!("{base}/webhooks/partner-b"), &headers, Some(body));
    assert_eq!(status, 200, "{answer}");

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let output = child.wait_with_output().expect("the service exits");
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
    use poem::test::TestClient;

    let mut settings = Settings::for_tests();
    settings.cors_origins = vec!["https://shop.farmlokal.in".to_owned()];
    let with_cors = TestClient::new(AppBuilder::in_memory(settings).build().endpoint());
    let without = TestClient::new(AppBuilder::in_memory(Settings::for_tests()).build().endpoint());

    let preflight = with_cors
        .options("/products")
        .header("origin", "https://shop.farmlokal.in")
        .header("access-control-request-method", "GET")
        .send()
        .await;
    let allowed = preflight.0.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok());
    assert_eq!(allowed, Some("https://shop.farmlokal.in"));

    let simple = with_cors.get("/categories").header("origin", "https://shop.farmlokal.in").send().await;
    let exposed = simple.0.headers().get("access-control-expose-headers").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(exposed.to_ascii_lowercase().contains("etag"), "ETag must be readable by browsers: {exposed}");

    let stranger = with_cors.get("/categories").header("origin", "https://evil.example").send().await;
    assert!(stranger.0.headers().get("access-control-allow-origin").is_none(), "an unlisted origin got CORS");

    let off = without.get("/categories").header("origin", "https://shop.farmlokal.in").send().await;
    assert!(off.0.headers().get("access-control-allow-origin").is_none(), "CORS is on without configuration");
}
