//! Run-time switches and counters of one simulated endpoint: latency, a 5xx rate, a 429 rate with its
//! `Retry-After` (seconds or an HTTP date), and a number of next requests to fail with a given status.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use poem::http::StatusCode;
use poem::Response;

/// Knobs of one endpoint (the token endpoint or partner A). All setters take effect for the next request.
#[derive(Debug, Default)]
pub struct EndpointKnobs {
    requests: AtomicU64,
    latency_ms: AtomicU64,
    error_permille: AtomicU32,
    throttle_permille: AtomicU32,
    retry_after_secs: AtomicU64,
    retry_after_as_date: AtomicBool,
    fail_next: Mutex<(u32, u16)>,
}

fn permille(rate: f64) -> u32 {
    (rate.clamp(0.0, 1.0) * 1000.0).round() as u32
}

impl EndpointKnobs {
    /// Requests received so far, whatever was answered.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Delays every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms.store(u64::try_from(latency.as_millis()).unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// Answers this fraction (0.0 to 1.0) of requests with a 503.
    pub fn set_error_rate(&self, rate: f64) {
        self.error_permille.store(permille(rate), Ordering::SeqCst);
    }

    /// Answers this fraction (0.0 to 1.0) of requests with a 429 carrying `Retry-After: retry_after` (whole
    /// seconds).
    pub fn set_rate_limit(&self, rate: f64, retry_after: Duration) {
        self.retry_after_secs.store(retry_after.as_secs(), Ordering::SeqCst);
        self.throttle_permille.store(permille(rate), Ordering::SeqCst);
    }

    /// Sends `Retry-After` as an HTTP date (IMF-fixdate, that many seconds from now) instead of seconds.
    pub fn set_retry_after_as_date(&self, as_date: bool) {
        self.retry_after_as_date.store(as_date, Ordering::SeqCst);
    }

    /// Answers the next `n` requests with `status` (a 429 also carries the configured `Retry-After`).
    pub fn fail_next(&self, n: u32, status: u16) {
        *self.fail_next.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = (n, status);
    }

    /// Counts the request and applies the latency.
    pub(super) async fn arrive(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let latency = self.latency_ms.load(Ordering::SeqCst);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
    }

    /// The injected failure for this request, if any.
    pub(super) fn injected_failure(&self) -> Option<Response> {
        let scripted = {
            let mut next = self.fail_next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            (next.0 > 0).then(|| {
                next.0 -= 1;
                next.1
            })
        };
        let roll = || rand::random_range(0..1000u32);
        let status = scripted
            .or_else(|| (roll() < self.throttle_permille.load(Ordering::SeqCst)).then_some(429))
            .or_else(|| (roll() < self.error_permille.load(Ordering::SeqCst)).then_some(503))?;
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut response =
            Response::builder().status(status).content_type("application/json").body(r#"{"error":"injected_failure"}"#);
        if status == StatusCode::TOO_MANY_REQUESTS {
            let secs = self.retry_after_secs.load(Ordering::SeqCst);
            let value = if self.retry_after_as_date.load(Ordering::SeqCst) {
                let at = chrono::Utc::now() + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX));
                at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
            } else {
                secs.to_string()
            };
            if let Ok(value) = value.parse() {
                response.headers_mut().insert(poem::http::header::RETRY_AFTER, value);
            }
        }
        Some(response)
    }
}
