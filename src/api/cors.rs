//! CORS for the origins in `FARMLOKAL_CORS_ORIGINS`. A request from a listed origin gets the CORS headers (and
//! a preflight its answer); every other request, including one from an unlisted origin (browsers send `Origin`
//! on same-origin POSTs too), is answered exactly as without CORS: the browser, not the server, enforces the
//! policy. Every response says `Vary: Origin`, so a shared cache never gives one origin another's headers.

use std::sync::Arc;

use poem::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use poem::http::{HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};

/// Request headers a cross-origin caller may send.
const ALLOWED_HEADERS: [&str; 3] = ["if-none-match", "x-request-id", "content-type"];
/// Response headers a cross-origin caller may read.
const EXPOSED_HEADERS: &str = "etag, link, age, x-cache, x-request-id, ratelimit-limit, ratelimit-remaining, \
                               ratelimit-reset, ratelimit-policy, ratelimit, retry-after";

/// Which origins may call the API from a browser.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    any: bool,
    origins: Arc<[String]>,
}

impl CorsPolicy {
    /// `None` when no origin is configured (no CORS headers at all then); `*` allows every origin.
    pub fn new(origins: &[String]) -> Option<Self> {
        (!origins.is_empty()).then(|| Self { any: origins.iter().any(|o| o == "*"), origins: origins.into() })
    }

    fn allows(&self, origin: &str) -> bool {
        self.any || self.origins.iter().any(|o| o == origin)
    }
}

/// Applies `policy` to one request, when there is one: `.around(move |next, req| cors::apply(next, req,
/// policy.clone()))`.
pub async fn apply<E: Endpoint>(next: E, request: Request, policy: Option<CorsPolicy>) -> poem::Result<Response> {
    let Some(policy) = policy else {
        return Box::pin(next.call(request)).await.map(IntoResponse::into_response);
    };
    let origin = request.headers().get(ORIGIN).cloned().filter(|o| o.to_str().is_ok_and(|o| policy.allows(o)));
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = match (&origin, preflight) {
        (Some(_), true) => preflight_answer(&request),
        _ => match Box::pin(next.call(request)).await {
            Ok(response) => response.into_response(),
            Err(error) => super::problem::error_response(&error),
        },
    };
    let headers = response.headers_mut();
    headers.append(VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = origin {
        let allowed = if policy.any { HeaderValue::from_static("*") } else { origin };
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        if !preflight {
            headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
        }
    }
    Ok(response)
}

/// 204 with the methods and the requested headers that are allowed, cacheable by the browser for 10 minutes.
fn preflight_answer(request: &Request) -> Response {
    let requested = request.headers().get(ACCESS_CONTROL_REQUEST_HEADERS).and_then(|v| v.to_str().ok()).unwrap_or("");
    let allowed: Vec<&str> = requested
        .split(',')
        .map(str::trim)
        .filter(|h| ALLOWED_HEADERS.iter().any(|a| a.eq_ignore_ascii_case(h)))
        .collect();
    let mut response = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, POST")
        .header(ACCESS_CONTROL_MAX_AGE, "600")
        .header(VARY, "access-control-request-method, access-control-request-headers")
        .finish();
    if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
        if !allowed.is_empty() {
            response.headers_mut().insert(ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
    }
    response
}
