//! The rate-limit middleware: every route except operations, docs, the spec and the signed webhook is limited
//! per client IP ([`crate::app::rate_limit`]).
//!
//! Every limited response, admitted or refused, carries `RateLimit-Limit`, `RateLimit-Remaining` (after this
//! request) and `RateLimit-Reset` (whole seconds until the oldest counted request leaves the window); a refusal
//! is a 429 `rate_limited` problem with `Retry-After`, the true wait rounded up to whole seconds. The same
//! numbers also go out as the structured fields of draft-ietf-httpapi-ratelimit-headers:
//! `RateLimit-Policy: "per-ip";q=<limit>;w=<window seconds>` and `RateLimit: "per-ip";r=<remaining>;t=<reset>`.
//! It runs inside the request's observation ([`super::edge`]), so refusals still get a request id and are
//! measured.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use poem::http::header::RETRY_AFTER;
use poem::http::{HeaderMap, HeaderName, HeaderValue, Method};
use poem::{Request, Response};

use super::client_ip;
use super::problem::Problem;
use super::settings::HttpSettings;
use crate::app::rate_limit::RateDecision;
use crate::app::Services;

/// `RateLimit-Limit`: the budget per window.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`: requests still admitted in the window after this one.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`: seconds until the oldest counted request leaves the window.
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// `RateLimit-Policy` (structured field): the quota `q` per window `w` seconds of the `per-ip` policy.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit` (structured field): remaining `r` and seconds to reset `t` under the `per-ip` policy.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// The name of the one policy, as the structured fields carry it.
const POLICY_NAME: &str = "per-ip";

/// Whether a request is exempt: health, metrics, docs, the spec and the signed webhook (which has its own
/// protection: a signature, and partners that retry).
pub fn is_exempt(method: &Method, path: &str) -> bool {
    path.starts_with("/health/")
        || path == "/metrics"
        || path == "/docs"
        || path.starts_with("/docs/")
        || path == "/openapi.json"
        || path == "/openapi.yaml"
        || (method == Method::POST && path == "/webhooks/partner-b")
}

/// What the middleware needs: the service's rate limit, which proxies to believe, and the peer of requests
/// built in process.
#[derive(Clone)]
pub struct Limiter {
    services: Arc<Services>,
    trusted_proxies: Arc<[IpNet]>,
    in_process_client: Option<IpAddr>,
    /// The `RateLimit-Policy` value, the same on every response.
    policy: HeaderValue,
}

impl Limiter {
    pub fn new(services: Arc<Services>, settings: &HttpSettings) -> Self {
        let trusted_proxies = settings.trusted_proxies.clone().into();
        let rate_limit = &services.rate_limit;
        let policy = format!("\"{POLICY_NAME}\";q={};w={}", rate_limit.limit(), rate_limit.window().as_secs());
        // Digits, letters, quotes and punctuation only: always a valid header value.
        let policy = HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("\"per-ip\""));
        Self { services, trusted_proxies, in_process_client: settings.in_process_client, policy }
    }

    /// Admits or refuses `request`. `Ok(None)`: not limited (the limit is off, the route exempt, or no IP
    /// peer to key on); `Ok(Some(decision))`: admitted, [`Limiter::finish`] puts the decision's headers on its
    /// answer; `Err`: the 429 problem to answer with instead, headers included.
    pub async fn admit(&self, request: &Request) -> Result<Option<RateDecision>, Response> {
        let rate_limit = &self.services.rate_limit;
        if !rate_limit.is_enabled() || is_exempt(request.method(), request.uri().path()) {
            return Ok(None);
        }
        // No IP peer (a Unix socket, or an in-process request with no address configured): nothing to key on,
        // and not traffic from the network.
        let Some(client) = client_ip::of_request(request, &self.trusted_proxies, self.in_process_client) else {
            return Ok(None);
        };
        let decision = rate_limit.check(client).await;
        if decision.allowed {
            return Ok(Some(decision));
        }
        metrics::counter!("farmlokal_rate_limited_total").increment(1);
        let wait = whole_seconds_up(decision.retry_after.unwrap_or(decision.reset_after)).max(1);
        tracing::debug!(%client, wait, "rate limited");
        let detail = format!("more than {} requests in a minute from this client; retry in {wait} s", decision.limit);
        let mut response = Problem::quota_exceeded(POLICY_NAME, detail).into_poem_response();
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(wait));
        set_headers(response.headers_mut(), &decision, &self.policy);
        Err(response)
    }

    /// Puts an admitted request's rate-limit headers on its answer.
    pub fn finish(&self, decision: &RateDecision, response: &mut Response) {
        set_headers(response.headers_mut(), decision, &self.policy);
    }
}

fn set_headers(headers: &mut HeaderMap, decision: &RateDecision, policy: &HeaderValue) {
    let reset = whole_seconds_up(decision.reset_after);
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(decision.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(RATELIMIT_RESET, HeaderValue::from(reset));
    headers.insert(RATELIMIT_POLICY, policy.clone());
    let current = format!("\"{POLICY_NAME}\";r={};t={reset}", decision.remaining);
    if let Ok(value) = HeaderValue::from_str(&current) {
        headers.insert(RATELIMIT, value);
    }
}

fn whole_seconds_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_docs_spec_and_the_signed_webhook_are_exempt() {
        for path in ["/health/live", "/health/ready", "/metrics", "/docs", "/docs/index.js", "/openapi.json"] {
            assert!(is_exempt(&Method::GET, path), "{path}");
        }
        assert!(is_exempt(&Method::GET, "/openapi.yaml"));
        assert!(is_exempt(&Method::POST, "/webhooks/partner-b"));
    }

    #[test]
    fn everything_else_is_limited() {
        for path in ["/products", "/products/1", "/categories", "/delivery/estimate", "/health", "/docsx", "/"] {
            assert!(!is_exempt(&Method::GET, path), "{path}");
        }
        assert!(!is_exempt(&Method::GET, "/webhooks/partner-b"), "only the signed POST is exempt");
        assert!(!is_exempt(&Method::GET, "/metrics/x"));
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(whole_seconds_up(Duration::from_millis(1001)), 2);
        assert_eq!(whole_seconds_up(Duration::from_secs(60)), 60);
        assert_eq!(whole_seconds_up(Duration::ZERO), 0);
    }
}
