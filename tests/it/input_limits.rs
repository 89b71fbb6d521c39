//! The limits on a request's head seen from outside over a real socket, as docs/SECURITY.md lists them: a
//! request line longer than 64 KiB is refused 414, a header block of more than 100 fields or beyond the
//! server's read buffer (about 408 KiB) 431, and the connection is closed after either; neither reaches a route.
//! A body over 64 KiB is 413 on every route, even one that reads no body.

use std::net::SocketAddr;
use std::time::Duration;

use poem::http::Method;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::harness::{Run, TestApp, World};

async fn start() -> (World, TestApp) {
    let world = World::memory(10).configure(|settings| settings.policy.rate_limit_per_minute = 0);
    let app = world.app(Run::OnPort).await;
    (world, app)
}

/// Sends `head` and reads until the server closes the connection (or 10 s pass); returns what it answered.
async fn send_head(addr: SocketAddr, head: Vec<u8>) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    // The server may answer and close before it has read everything: a failed write is expected then.
    let _ = stream.write_all(&head).await;
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received)).await;
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_line_over_64_kib_is_refused_414_and_one_under_it_is_answered() {
    let (_world, app) = start().await;
    let long = "a".repeat(70 * 1024);
    let short = "a".repeat(60 * 1024);

    let refused = send_head(app.addr(), format!("GET /products?x={long} HTTP/1.1\r\nHost: f\r\n\r\n").into()).await;
    let answered = send_head(
        app.addr(),
        format!("GET /products?x={short} HTTP/1.1\r\nHost: f\r\nConnection: close\r\n\r\n").into(),
    )
    .await;

    assert!(refused.starts_with("HTTP/1.1 414 "), "{}", &refused[..refused.len().min(300)]);
    assert!(answered.starts_with("HTTP/1.1 200 "), "{}", &answered[..answered.len().min(300)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_block_of_over_100_fields_or_over_the_read_buffer_is_refused_431() {
    let (_world, app) = start().await;
    let many: String = (0..101).map(|i| format!("X-Field-{i}: v\r\n")).collect();
    let big: String = (0..60).map(|i| format!("X-Big-{i}: {}\r\n", "b".repeat(8 * 1024))).collect();

    let too_many = send_head(app.addr(), format!("GET /health/live HTTP/1.1\r\nHost: f\r\n{many}\r\n").into()).await;
    let too_big = send_head(app.addr(), format!("GET /health/live HTTP/1.1\r\nHost: f\r\n{big}\r\n").into()).await;

    assert!(too_many.starts_with("HTTP/1.1 431 "), "{too_many}");
    assert!(too_big.starts_with("HTTP/1.1 431 "), "{too_big}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_64_kib_is_refused_413_on_a_route_that_takes_no_body() {
    let (_world, app) = start().await;
    let body = vec![b'x'; 64 * 1024 + 1];

    let reply =
        app.request(Method::POST, "/products").header("content-type", "application/json").body(body).send().await;

    assert_eq!(reply.status, 413, "{}", reply.describe());
    reply.assert_problem(413, "payload_too_large");
}
