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
use poem::{Request, Response};

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

    /// What the policy says of `request`: the origin it allows it from, if any, and whether it is a preflight.
    pub fn start(&self, request: &Request) -> CorsRequest {
        let origin = request.headers().get(ORIGIN).cloned().filter(|o| o.to_str().is_ok_and(|o| self.allows(o)));
        let preflight =
            request.method() == Method::OPTIONS && request.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        CorsRequest { any: self.any, origin, preflight }
    }
}

/// One request as the CORS policy sees it.
pub struct CorsRequest {
    any: bool,
    /// The request's `Origin`, when the policy allows it.
    origin: Option<HeaderValue>,
    preflight: bool,
}

impl CorsRequest {
    /// The answer to a preflight from an allowed origin, which nothing else sees; `None` for every other request.
    pub fn preflight(&self, request: &Request) -> Option<Response> {
        (self.origin.is_some() && self.preflight).then(|| preflight_answer(request))
    }

    /// Adds the CORS headers to the response (`Vary: Origin` on every one).
    pub fn finish(self, response: &mut Response) {
        let headers = response.headers_mut();
        headers.append(VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = self.origin {
            let allowed = if self.any { HeaderValue::from_static("*") } else { origin };
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
            if !self.preflight {
                headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
            }
        }
    }
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
