//! The ureq adapters against the sandbox over real HTTP: token grants and refusals, partner statuses mapped to
//! the port's errors, timeouts with a slow partner.

use std::time::{Duration, Instant};

use farmlokal::adapters::http::{partner_agent, HttpPartnerA, HttpTokenProvider};
use farmlokal::adapters::sandbox::answers::serviceability_for;
use farmlokal::domain::{AccessToken, Pincode};
use farmlokal::ports::{PartnerAClient, PartnerError, TokenError, TokenProvider};
use secrecy::SecretString;

use crate::harness::partners::{credentials_of, http_adapters, start_sandbox};

const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(400);

fn pin() -> Pincode {
    Pincode::parse("560001").expect("valid pincode")
}

#[tokio::test]
async fn the_token_provider_gets_a_bearer_token_the_partner_accepts() {
    let sandbox = start_sandbox().await;
    let (provider, partner) = http_adapters(&sandbox, ATTEMPT_TIMEOUT);

    let token = provider.fetch().await.expect("token");
    let answer = partner.serviceability(&token, &pin()).await.expect("answer");

    assert!(token.expires_at() > chrono::Utc::now() + chrono::Duration::seconds(3500));
    assert_eq!(answer, serviceability_for(&pin()));
    assert_eq!((sandbox.tokens_issued(), sandbox.partner().requests()), (1, 1));
}

#[tokio::test]
async fn a_wrong_client_secret_is_rejected_as_invalid_client() {
    let sandbox = start_sandbox().await;
    let mut credentials = credentials_of(&sandbox);
    credentials.client_secret = SecretString::from("wrong".to_owned());
    let provider = HttpTokenProvider::new(partner_agent(ATTEMPT_TIMEOUT), sandbox.token_url(), credentials);

    let result = provider.fetch().await;

    assert!(matches!(result, Err(TokenError::Rejected { ref error }) if error == "invalid_client"), "{result:?}");
}

#[tokio::test]
async fn token_endpoint_429_and_503_are_unavailable_with_retry_after() {
    let sandbox = start_sandbox().await;
    let (provider, _) = http_adapters(&sandbox, ATTEMPT_TIMEOUT);
    sandbox.token_endpoint().set_rate_limit(0.0, Duration::from_secs(2));
    sandbox.token_endpoint().fail_next(1, 429);

    let limited = provider.fetch().await;
    sandbox.token_endpoint().fail_next(1, 503);
    let failed = provider.fetch().await;

    assert!(
        matches!(limited, Err(TokenError::Unavailable { retry_after: Some(d), .. }) if d == Duration::from_secs(2))
    );
    assert!(matches!(failed, Err(TokenError::Unavailable { retry_after: None, .. })), "{failed:?}");
}

#[tokio::test]
async fn an_unknown_or_revoked_token_is_unauthorized() {
    let sandbox = start_sandbox().await;
    let (provider, partner) = http_adapters(&sandbox, ATTEMPT_TIMEOUT);
    let forged =
        AccessToken::new(SecretString::from("forged".to_owned()), chrono::Utc::now() + chrono::Duration::hours(1));
    let token = provider.fetch().await.expect("token");
    sandbox.revoke_all_tokens();

    let forged_result = partner.serviceability(&forged, &pin()).await;
    let revoked_result = partner.serviceability(&token, &pin()).await;

    assert!(matches!(forged_result, Err(PartnerError::Unauthorized)));
    assert!(matches!(revoked_result, Err(PartnerError::Unauthorized)));
    assert_eq!(sandbox.partner_unauthorized(), 2);
}

#[tokio::test]
async fn partner_statuses_map_to_typed_errors() {
    let sandbox = start_sandbox().await;
    let (provider, partner) = http_adapters(&sandbox, ATTEMPT_TIMEOUT);
    let token = provider.fetch().await.expect("token");
    sandbox.partner().set_rate_limit(0.0, Duration::from_secs(3));

    let mut seen = Vec::new();
    for status in [429, 503, 500, 404, 400] {
        sandbox.partner().fail_next(1, status);
        seen.push(partner.serviceability(&token, &pin()).await);
    }

    assert!(matches!(seen[0], Err(PartnerError::RateLimited { retry_after: Some(d) }) if d == Duration::from_secs(3)));
    assert!(matches!(seen[1], Err(PartnerError::Unavailable { status: 503 })));
    assert!(matches!(seen[2], Err(PartnerError::Unavailable { status: 500 })));
    assert!(matches!(seen[3], Err(PartnerError::Rejected { status: 404 })));
    assert!(matches!(seen[4], Err(PartnerError::Rejected { status: 400 })));
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured_from_the_partner_and_the_token_endpoint() {
    let sandbox = start_sandbox().await;
    let (provider, partner) = http_adapters(&sandbox, ATTEMPT_TIMEOUT);
    let token = provider.fetch().await.expect("token");
    for endpoint in [sandbox.partner(), sandbox.token_endpoint()] {
        endpoint.set_rate_limit(0.0, Duration::from_secs(3));
        endpoint.set_retry_after_as_date(true);
        endpoint.fail_next(1, 429);
    }

    let limited = partner.serviceability(&token, &pin()).await;
    let token_limited = provider.fetch().await;

    // A date has whole seconds: 3 s from now reads as a little over 2 s and at most 3 s.
    let about_three = |d: Duration| d > Duration::from_secs(1) && d <= Duration::from_secs(3);
    assert!(
        matches!(limited, Err(PartnerError::RateLimited { retry_after: Some(d) }) if about_three(d)),
        "{limited:?}"
    );
    assert!(
        matches!(token_limited, Err(TokenError::Unavailable { retry_after: Some(d), .. }) if about_three(d)),
        "{token_limited:?}"
    );
}

#[tokio::test]
async fn a_slow_partner_times_out_within_the_attempt_timeout() {
    let sandbox = start_sandbox().await;
    let (provider, partner) = http_adapters(&sandbox, Duration::from_millis(300));
    let token = provider.fetch().await.expect("token");
    sandbox.partner().set_latency(Duration::from_secs(2));

    let started = Instant::now();
    let result = partner.serviceability(&token, &pin()).await;

    assert!(matches!(result, Err(PartnerError::Timeout)), "{result:?}");
    assert!(started.elapsed() < Duration::from_millis(900), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_slow_token_endpoint_is_unavailable() {
    let sandbox = start_sandbox().await;
    let (provider, _) = http_adapters(&sandbox, Duration::from_millis(300));
    sandbox.token_endpoint().set_latency(Duration::from_secs(2));

    let result = provider.fetch().await;

    assert!(matches!(result, Err(TokenError::Unavailable { .. })), "{result:?}");
}

#[tokio::test]
async fn an_unreachable_partner_is_a_connection_error() {
    let sandbox = start_sandbox().await;
    let (provider, _) = http_adapters(&sandbox, ATTEMPT_TIMEOUT);
    let token = provider.fetch().await.expect("token");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let url = url::Url::parse(&format!("http://{closed}/")).expect("url");
    let partner = HttpPartnerA::new(partner_agent(ATTEMPT_TIMEOUT), &url);

    let result = partner.serviceability(&token, &pin()).await;

    assert!(matches!(result, Err(PartnerError::Connection(_))), "{result:?}");
}
