//! `POST /webhooks/partner-b` end to end with a correctly signed delivery of any body: the service answers
//! 200 (processed, duplicate or ignored), 400, 413 or 422 with a problem+json error, never a server error, and
//! the same delivery sent again is never applied twice (`duplicate`).
#![no_main]

use arbitrary::Arbitrary;
use farmlokal::domain::webhook::WebhookSecret;
use farmlokal_fuzz::{assert_not_a_server_error, send, WEBHOOK_SECRET};
use libfuzzer_sys::fuzz_target;
use poem::http::{Method, StatusCode};
use poem::Request;

#[derive(Debug, Arbitrary)]
struct Input {
    id: u64,
    body: Vec<u8>,
}

fn deliver(id: &str, body: &[u8]) -> farmlokal_fuzz::Answer {
    let secret = WebhookSecret::parse(WEBHOOK_SECRET).expect("the test secret");
    let timestamp = chrono::Utc::now().timestamp();
    let request = Request::builder()
        .method(Method::POST)
        .uri_str("/webhooks/partner-b")
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", secret.sign(id, timestamp, body))
        .body(body.to_vec());
    send(request)
}

fuzz_target!(|input: Input| {
    // Ids of one run never repeat by chance: a process-wide counter beside the fuzzer's number.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = format!("msg_{}_{}", input.id, NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));

    let first = deliver(&id, &input.body);
    assert_not_a_server_error(&first, "a signed delivery");
    match first.status {
        StatusCode::OK => {
            let status = first.json()["status"].as_str().map(str::to_owned);
            assert!(matches!(status.as_deref(), Some("processed" | "ignored")), "{status:?}");
            let again = deliver(&id, &input.body);
            assert_eq!(again.status, StatusCode::OK);
            assert_eq!(again.json()["status"], "duplicate", "a redelivery was not recognised");
        }
        StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNPROCESSABLE_ENTITY => {
            let code = first.problem_code();
            assert!(matches!(code.as_str(), "malformed_body" | "payload_too_large" | "unknown_product"), "{code}");
        }
        other => panic!("a signed delivery was answered {other}: {}", String::from_utf8_lossy(&first.body)),
    }
});
