//! What clients meet at the edges of the HTTP API (DESIGN §2 and §6): coded request bodies refused unread,
//! `Allow` on a 405, CORS that never turns a request away, readable parameter errors, and the 429's problem
//! type naming the policy it enforces.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use poem::http::{Method, StatusCode};

use crate::harness::partners::{Delivery, PRODUCT};
use crate::harness::{Run, World};

/// `len` zero bytes, gzipped: a few KiB that would expand to `len`.
fn gzip_bomb(len: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..len / zeros.len() {
        encoder.write_all(&zeros).expect("writes to memory");
    }
    encoder.finish().expect("writes to memory")
}

#[tokio::test]
async fn a_coded_request_body_is_refused_415_and_nothing_is_decompressed_or_recorded() {
    let world = World::memory(100);
    let app = world.app(Run::InProcess).await;
    let before = app.stock(PRODUCT).await;
    let event = Delivery::stock("msg_coded", PRODUCT, 5);
    let bomb = gzip_bomb(16 << 20);
    // Signed over the bytes as sent, as a partner that compresses its bodies would sign them.
    let coded = Delivery::signed("msg_coded", bomb.clone());

    let webhook = app
        .request(Method::POST, "/webhooks/partner-b")
        .headers(&coded.headers().iter().map(|(n, v)| (*n, v.as_str())).collect::<Vec<_>>())
        .header("content-encoding", "gzip")
        .body(bomb.clone())
        .send()
        .await;
    let bodiless_route =
        app.request(Method::GET, "/products").header("content-encoding", "gzip").body(bomb).send().await;
    let identity_is_fine = app.get_with("/products?limit=1", &[("content-encoding", "identity")]).await;

    webhook.assert_problem(415, "unsupported_media_type");
    bodiless_route.assert_problem(415, "unsupported_media_type");
    assert_eq!(identity_is_fine.status, StatusCode::OK, "{}", identity_is_fine.describe());
    assert_eq!(app.stock(PRODUCT).await, before, "nothing was applied");
    app.deliver(&event).await.assert_ack("processed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coded_body_is_refused_before_a_byte_of_it_arrives() {
    let app = World::memory(10).app(Run::OnPort).await;
    let addr = app.addr();

    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connects");
        stream.set_read_timeout(Some(Duration::from_secs(5))).expect("sets a timeout");
        // Announces 10 MiB and sends none of it: only a server that does not wait for the body can answer.
        let head = "POST /webhooks/partner-b HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                    content-encoding: gzip\r\ncontent-length: 10485760\r\n\r\n";
        stream.write_all(head.as_bytes()).expect("sends the head");
        let mut answer = [0u8; 12];
        stream.read_exact(&mut answer).map(|()| answer)
    })
    .await
    .expect("the exchange ran");

    assert_eq!(&answer.expect("an answer before the body"), b"HTTP/1.1 415");
}

#[tokio::test]
async fn a_wrong_method_gets_405_problem_json_with_allow() {
    let app = World::memory(10).app(Run::InProcess).await;

    let post_listing = app.request(Method::POST, "/products").send().await;
    let delete_product = app.request(Method::DELETE, "/products/3").send().await;
    let get_webhook = app.get("/webhooks/partner-b").await;

    post_listing.assert_problem(405, "method_not_allowed");
    assert_eq!(post_listing.header("allow"), Some("GET, HEAD"));
    assert_eq!(delete_product.header("allow"), Some("GET, HEAD"));
    get_webhook.assert_problem(405, "method_not_allowed");
    assert_eq!(get_webhook.header("allow"), Some("POST"));
}

#[tokio::test]
async fn cors_answers_unlisted_origins_normally_and_varies_on_origin() {
    let world = World::memory(10).configure(|s| s.http.cors_origins = vec!["https://shop.farmlokal.in".into()]);
    let app = world.app(Run::InProcess).await;

    let listed = app.get_with("/categories", &[("origin", "https://shop.farmlokal.in")]).await;
    let unlisted = app.get_with("/categories", &[("origin", "https://elsewhere.example")]).await;
    let same_origin_post = app
        .request(Method::POST, "/webhooks/partner-b")
        .header("origin", "https://elsewhere.example")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await;
    let missing = app.get_with("/nowhere", &[("origin", "https://shop.farmlokal.in")]).await;
    let preflight = app
        .request(Method::OPTIONS, "/products")
        .headers(&[
            ("origin", "https://shop.farmlokal.in"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "if-none-match, x-evil"),
        ])
        .send()
        .await;

    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.header("access-control-allow-origin"), Some("https://shop.farmlokal.in"));
    assert_eq!(unlisted.status, StatusCode::OK, "{}", unlisted.describe());
    assert_eq!(unlisted.header("access-control-allow-origin"), None);
    assert_eq!(unlisted.body, listed.body);
    same_origin_post.assert_problem(401, "invalid_signature");
    missing.assert_problem(404, "not_found");
    assert_eq!(missing.header("access-control-allow-origin"), Some("https://shop.farmlokal.in"));
    assert_eq!(preflight.status, StatusCode::NO_CONTENT, "{}", preflight.describe());
    assert_eq!(preflight.header("access-control-allow-headers"), Some("if-none-match"));
    for reply in [&listed, &unlisted, &missing] {
        assert!(reply.varies_on("origin"), "{:?}", reply.headers);
    }
}

#[tokio::test]
async fn parameter_errors_name_the_parameter_and_never_the_frameworks_types() {
    let app = World::memory(10).app(Run::InProcess).await;

    for (path, parameter) in [
        ("/products?limit=abc", "limit"),
        ("/products?limit=500", "limit"),
        ("/products?sort=upwards", "sort"),
        ("/products?min_price=-1", "min_price"),
        ("/products/abc", ""),
        ("/delivery/estimate", "pincode"),
    ] {
        let problem = app.get(path).await.assert_problem(400, "invalid_query");
        let detail = problem["detail"].as_str().expect("a detail");

        assert!(detail.contains(parameter), "{path}: {detail}");
        for framework in ["integer(", "uint32", "uint64", "param0", "optional_", "Type \""] {
            assert!(!detail.contains(framework), "{path}: {detail}");
        }
    }
}

#[tokio::test]
async fn a_429_is_the_quota_exceeded_problem_naming_the_policy_of_ratelimit_policy() {
    let world = World::memory(0).configure(|s| s.policy.rate_limit_per_minute = 1);
    let app = world.app(Run::InProcess).await;

    let allowed = app.get("/categories").await;
    let limited = app.get("/categories").await;

    let problem = limited.assert_problem(429, "rate_limited");
    assert_eq!(problem["type"], "https://iana.org/assignments/http-problem-types#quota-exceeded");
    assert_eq!(problem["violated-policies"], serde_json::json!(["per-ip"]));
    assert!(allowed.header("ratelimit-policy").is_some_and(|p| p.starts_with("\"per-ip\";")));
}

/// Sends `request` raw on a new connection and reads the answer until the server closes it.
fn raw_exchange(app: &crate::harness::TestApp, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(app.addr()).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("sets a timeout");
    // The server may answer and close before it has read everything: a failed write is part of the exchange.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_http_parser_refuses_get_a_problem_with_a_request_id() {
    let app = World::memory(10).app(Run::OnPort).await;
    let long_target = format!("GET /products?q={} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000));
    let many_fields: String = (0..150).map(|i| format!("x-field-{i}: {i}\r\n")).collect();
    let many_fields = format!("GET /products HTTP/1.1\r\nhost: x\r\n{many_fields}\r\n");

    for (request, status, code) in [
        (b"GARBAGE\r\n\r\n".to_vec(), 400, "malformed_request"),
        (long_target.into_bytes(), 414, "uri_too_long"),
        (many_fields.into_bytes(), 431, "headers_too_large"),
    ] {
        let answer = tokio::task::spawn_blocking({
            let app = app.clone();
            move || raw_exchange(&app, &request)
        })
        .await
        .expect("the exchange ran");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));

        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
        let head = head.to_ascii_lowercase();
        assert!(head.contains("content-type: application/problem+json"), "{head}");
        assert!(head.contains("x-request-id: "), "{head}");
        let problem: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!((problem["status"].as_u64(), problem["code"].as_str()), (Some(status), Some(code)), "{body}");
    }
}
