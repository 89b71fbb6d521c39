//! `GET /delivery/estimate` through the whole HTTP stack, with the real ureq adapters against the sandbox.

use std::time::{Duration, Instant};

use farmlokal::adapters::sandbox::SandboxHandle;
use farmlokal::startup::Settings;
use poem::http::StatusCode;

use crate::harness::partners::{http_adapters, start_sandbox};
use crate::harness::{Binary, Run, TestApp, World};

/// The service in process (empty catalogue, test settings), its partner A the sandbox over HTTP.
async fn app_over(sandbox: &SandboxHandle) -> (TestApp, Duration) {
    let retry = Settings::for_tests().policy.partner_retry;
    let (provider, partner) = http_adapters(sandbox, retry.attempt_timeout);
    let builder = World::memory(0).builder().token_provider(provider).partner_a(partner);
    (TestApp::start(builder, Run::InProcess).await, retry.deadline)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimates_are_live_then_stale_when_the_partner_fails_and_503_with_retry_after_when_nothing_is_known() {
    let sandbox = start_sandbox().await;
    let (app, deadline) = app_over(&sandbox).await;

    let live = app.estimate("560001").await;
    assert_eq!(live.status, StatusCode::OK, "{}", live.describe());
    let live = live.json();
    assert_eq!(live["source"], "live");
    assert_eq!(live["pincode"], "560001");
    assert!(live["eta_minutes"].is_u64() && live["fee_paise"].is_u64() && live["serviceable"].is_boolean(), "{live}");
    let as_of = live["as_of"].as_str().expect("as_of is a string");
    assert!(as_of.ends_with('Z') && !as_of.contains('.'), "as_of is RFC 3339 in whole seconds, like products: {as_of}");

    sandbox.partner().set_error_rate(1.0);
    let started = Instant::now();
    let stale = app.estimate("560001").await;
    assert_eq!(stale.status, StatusCode::OK, "{}", stale.describe());
    let stale = stale.json();
    assert_eq!(stale["source"], "stale");
    assert_eq!(stale["eta_minutes"], live["eta_minutes"]);
    assert_eq!(stale["as_of"], live["as_of"], "a stale answer keeps the time the partner gave it");

    let unknown = app.estimate("110001").await;
    assert_eq!(unknown.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(unknown.header("content-type"), Some("application/problem+json"));
    assert!(unknown.number("retry-after") >= 1, "whole-second Retry-After");
    let problem = unknown.json();
    assert_eq!(problem["code"], "partner_unavailable");
    assert_eq!(problem["status"], 503);
    assert!(started.elapsed() < deadline * 2 + Duration::from_secs(1), "answers came within the deadline");
}

#[tokio::test]
async fn a_malformed_pincode_is_a_400_problem_and_reaches_no_partner() {
    let sandbox = start_sandbox().await;
    let (app, _) = app_over(&sandbox).await;

    for bad in ["", "56000", "5600011", "060001", "56000a", "%20560001"] {
        let reply = app.estimate(bad).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.header("content-type"), Some("application/problem+json"));
        assert_eq!(reply.json()["code"], "invalid_query", "{bad}");
    }
    let missing = app.get("/delivery/estimate").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(sandbox.tokens_issued(), 0, "no token was fetched for bad input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_starts_with_a_deadline_shorter_than_one_attempt_and_answers_live() {
    let binary = Binary::in_memory(10)
        .env("FARMLOKAL_PARTNER_A_TIMEOUT_MS", "800")
        .env("FARMLOKAL_PARTNER_A_DEADLINE_MS", "600");
    let app = TestApp::binary(binary).await;

    let live = app.estimate("560001").await;

    assert_eq!(live.status, StatusCode::OK, "{}", live.describe());
    assert_eq!(live.json()["source"], "live");
}
