//! Cross-cutting HTTP behaviour: request ids and tracing spans, request metrics, and problem+json for the
//! errors poem raises itself ([`Observed`], one step of [`super::edge`]); the request timeout and the body
//! limit, which wrap the routes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

use poem::http::{HeaderName, HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::OperationId;

use super::problem;
use crate::app::sharded::ShardedHistogram;

/// The request id header, taken from the caller when sent, otherwise generated.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Accepts a caller's request id only when it is short and printable, so logs cannot be forged with it.
fn caller_request_id(request: &Request) -> Option<HeaderValue> {
    let value = request.headers().get(REQUEST_ID)?;
    let bytes = value.as_bytes();
    let valid = !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(u8::is_ascii_graphic);
    valid.then(|| value.clone())
}

/// The request duration histograms by operation and status, looked up once per pair instead of building
/// labels and searching the recorder's registry on every request. The map is read through an arc-swap guard
/// (no lock word every worker writes) and replaced whole when a pair is first seen; samples are held per thread
/// until [`Self::publish`] (`crate::app::sharded`).
#[derive(Default)]
pub struct RequestMetrics {
    histograms: ArcSwap<HashMap<(&'static str, StatusCode), Arc<ShardedHistogram>, foldhash::fast::RandomState>>,
}

impl RequestMetrics {
    fn record(&self, operation: &'static str, status: StatusCode, seconds: f64) {
        if let Some(histogram) = self.histograms.load().get(&(operation, status)) {
            histogram.record(seconds);
            return;
        }
        let histogram = Arc::new(ShardedHistogram::new(metrics::histogram!(
            "farmlokal_http_request_duration_seconds", "operation" => operation, "status" => status.as_str().to_owned()
        )));
        histogram.record(seconds);
        self.histograms.rcu(|map| {
            let mut map = HashMap::clone(map);
            // A pair two requests saw first at once keeps one handle; the other's sample was published by its
            // own drop at the end of this call.
            map.entry((operation, status)).or_insert_with(|| histogram.clone());
            map
        });
    }

    /// Moves the samples held per thread into the exported histograms: before every scrape.
    pub fn publish(&self) {
        for histogram in self.histograms.load().values() {
            histogram.publish();
        }
    }
}

/// A fresh request id: a random (version 4) UUID from the thread's generator (no system call per request).
fn new_request_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut buffer = uuid::Uuid::encode_buffer();
    let text = id.hyphenated().encode_lower(&mut buffer).as_bytes();
    // Lowercase hex digits and hyphens: always a valid header value.
    HeaderValue::from_bytes(text).unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-0000-0000-000000000000"))
}

/// A request under observation: its id (the caller's, or a new one), its span and when it started.
pub struct Observed {
    request_id: HeaderValue,
    span: tracing::Span,
    started: Instant,
}

impl Observed {
    /// Starts observing `request`: its id and its span.
    pub fn start(request: &Request) -> Self {
        let request_id = caller_request_id(request).unwrap_or_else(new_request_id);
        let id = request_id.to_str().unwrap_or_default();
        let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
        Self { request_id, span, started: Instant::now() }
    }

    /// The request's span, for the work done on it.
    pub fn span(&self) -> tracing::Span {
        self.span.clone()
    }

    /// The answer to send: problem+json for an error nothing below answered (logged in the span), with the
    /// request id; its duration goes to the histogram by status and operation: `operation` when the caller
    /// knows it, else the one poem-openapi put on the response.
    pub fn finish(
        self,
        result: poem::Result<Response>,
        operation: Option<&'static str>,
        metrics: &RequestMetrics,
    ) -> Response {
        let mut response = result.unwrap_or_else(|error| self.span.in_scope(|| problem::error_response(&error)));
        let status = response.status();
        let operation = operation.or_else(|| response.data::<OperationId>().map(|id| id.0)).unwrap_or("unmatched");
        let elapsed = self.started.elapsed();
        metrics.record(operation, status, elapsed.as_secs_f64());
        self.span.in_scope(|| {
            tracing::debug!(status = status.as_u16(), elapsed_ms = elapsed.as_millis() as u64, "request done")
        });
        response.headers_mut().insert(REQUEST_ID, self.request_id);
        response
    }
}

/// The largest request body any route accepts (the webhook's 64 KiB; no other route takes a body).
pub const MAX_BODY_BYTES: usize = crate::domain::webhook::MAX_BODY_BYTES;

/// Refuses a coded body with 415 ([`is_coded`]) and a body over [`MAX_BODY_BYTES`] with 413, before any handler
/// reads them: by `Content-Length` when sent, otherwise by reading at most one byte more than the limit.
pub async fn limit_body<E: Endpoint>(next: E, mut request: Request) -> poem::Result<Response> {
    if is_coded(&request) {
        let detail = "request bodies must not have a Content-Encoding (only identity is accepted)";
        return Ok(problem::Problem::new(problem::ProblemCode::UnsupportedMediaType, detail).into_poem_response());
    }
    let too_large =
        || problem::Problem::new(problem::ProblemCode::PayloadTooLarge, "the request body is larger than 64 KiB");
    let declared = request
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Ok(too_large().into_poem_response());
    }
    if declared.is_none() {
        // Chunked or of unknown length: read it here, stopping one byte past the limit.
        let body = request.take_body();
        if !body.is_empty() {
            match Box::pin(body.into_bytes_limit(MAX_BODY_BYTES)).await {
                Ok(bytes) => request.set_body(bytes),
                Err(poem::error::ReadBodyError::PayloadTooLarge) => return Ok(too_large().into_poem_response()),
                Err(error) => return Err(error.into()),
            }
        }
    }
    Box::pin(next.call(request)).await.map(IntoResponse::into_response)
}

/// Stops a request that runs longer than `timeout` with a 504 problem; its work is dropped.
pub async fn with_timeout<E: Endpoint>(
    next: E,
    request: Request,
    timeout: std::time::Duration,
) -> poem::Result<Response> {
    match tokio::time::timeout(timeout, Box::pin(next.call(request))).await {
        Ok(result) => result.map(IntoResponse::into_response),
        Err(_) => {
            tracing::warn!(timeout_ms = timeout.as_millis() as u64, "request timed out");
            Ok(problem::Problem::new(problem::ProblemCode::Timeout, "the request took too long and was stopped")
                .into_poem_response())
        }
    }
}

/// Whether the request's body has a `Content-Encoding` other than `identity`. Such a body is refused unread:
/// bodies are never decompressed (a small coded body can expand without bound), and the webhook signature covers
/// the bytes as sent.
fn is_coded(request: &Request) -> bool {
    request.headers().get_all(poem::http::header::CONTENT_ENCODING).iter().any(|value| {
        let codings = value.to_str().map(|v| v.split(',').map(str::trim).filter(|c| !c.is_empty()));
        codings.map_or(true, |mut codings| codings.any(|coding| !coding.eq_ignore_ascii_case("identity")))
    })
}
