//! `GET /delivery/estimate` through the whole HTTP stack, with the real ureq adapters against the sandbox.

use std::time::{Duration, Instant};

use farmlokal::startup::{AppBuilder, Settings};
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::Value;

use crate::partner_a_http::{http_adapters, start_sandbox};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimates_are_live_then_stale_when_the_partner_fails_and_503_with_retry_after_when_nothing_is_known() {
    let sandbox = start_sandbox().await;
    let settings = Settings::for_tests();
    let deadline = settings.partner_retry.deadline;
    let (provider, partner) = http_adapters(&sandbox, settings.partner_retry.attempt_timeout);
    let client =
        TestClient::new(AppBuilder::in_memory(settings).token_provider(provider).partner_a(partner).build().endpoint());

    let live = client.get("/delivery/estimate?pincode=560001").send().await;
    live.assert_status_is_ok();
    let live: Value = live.0.into_body().into_json().await.expect("json");
    assert_eq!(live["source"], "live");
    assert_eq!(live["pincode"], "560001");
    assert!(live["eta_minutes"].is_u64() && live["fee_paise"].is_u64() && live["serviceable"].is_boolean(), "{live}");
    let as_of = live["as_of"].as_str().expect("as_of is a string");
    assert!(as_of.ends_with('Z') && !as_of.contains('.'), "as_of is RFC 3339 in whole seconds, like products: {as_of}");

    sandbox.partner().set_error_rate(1.0);
    let started = Instant::now();
    let stale = client.get("/delivery/estimate?pincode=560001").send().await;
    stale.assert_status_is_ok();
    let stale: Value = stale.0.into_body().into_json().await.expect("json");
    assert_eq!(stale["source"], "stale");
    assert_eq!(stale["eta_minutes"], live["eta_minutes"]);
    assert_eq!(stale["as_of"], live["as_of"], "a stale answer keeps the time the partner gave it");

    let unknown = client.get("/delivery/estimate?pincode=110001").send().await;
    unknown.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    unknown.assert_content_type("application/problem+json");
    let retry_after: u64 = unknown
        .0
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("whole-second Retry-After");
    assert!(retry_after >= 1);
    let problem: Value = unknown.0.into_body().into_json().await.expect("json");
    assert_eq!(problem["code"], "partner_unavailable");
    assert_eq!(problem["status"], 503);
    assert!(started.elapsed() < deadline * 2 + Duration::from_secs(1), "answers came within the deadline");
}

#[tokio::test]
async fn a_malformed_pincode_is_a_400_problem_and_reaches_no_partner() {
    let sandbox = start_sandbox().await;
    let settings = Settings::for_tests();
    let (provider, partner) = http_adapters(&sandbox, settings.partner_retry.attempt_timeout);
    let client =
        TestClient::new(AppBuilder::in_memory(settings).token_provider(provider).partner_a(partner).build().endpoint());

    for bad in ["", "56000", "5600011", "060001", "56000a", "%20560001"] {
        let response = client.get(format!("/delivery/estimate?pincode={bad}")).send().await;
        response.assert_status(StatusCode::BAD_REQUEST);
        response.assert_content_type("application/problem+json");
        let problem: Value = response.0.into_body().into_json().await.expect("json");
        assert_eq!(problem["code"], "invalid_query", "{bad}");
    }
    let missing = client.get("/delivery/estimate").send().await;
    missing.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(sandbox.tokens_issued(), 0, "no token was fetched for bad input");
}
