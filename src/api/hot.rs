//! The hot lane of `GET /products`: a listing page the in-process cache holds fresh is answered here, inside
//! the middleware a listing needs (request id and metrics, representation, CORS, rate limit) but without
//! the OpenAPI layer's routing, parameter parsing and response building, which cost as much as the rest of a
//! cached answer together (`bench/run.sh` row (a) against a bare handler: README).
//!
//! It knows only the request targets the operation itself answered: after a listing succeeds, the handler
//! remembers its exact target (path and query, as sent) with the page's cache key and the `Link` prefix. The
//! same target always parses to the same key (parameters and a cursor signed with this process's key are
//! checked the same way every time), so a remembered target needs no parsing. Anything else goes the long way:
//! an unknown target, a request with `If-None-Match` (the 304 logic is the operation's) or with a body (the
//! body limit's), a page that is not in the in-process tier or lacks the dense encoding the request's coding
//! wants. It sits outside the request timeout and the body limit: an answer from memory needs neither.

use std::sync::Arc;
use std::time::Duration;

use poem::http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LINK, TRANSFER_ENCODING,
};
use poem::http::{HeaderName, HeaderValue, Method};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::OperationId;

use super::payload::JSON_CONTENT_TYPE;
use super::representation::{self, SharedAnswer};
use crate::app::Services;

/// Targets remembered at most, and for how long unused.
const TARGETS: u64 = 20_000;
const UNUSED_FOR: Duration = Duration::from_secs(120);

/// What a remembered target needs to be answered.
struct Target {
    key: String,
    link_prefix: String,
}

/// The listing targets this process has answered, and the use cases that hold their pages.
pub struct HotListings {
    targets: moka::sync::Cache<String, Arc<Target>>,
    services: Arc<Services>,
    /// `farmlokal_hot_listings_total`: listings answered by this lane.
    answered: metrics::Counter,
}

impl HotListings {
    pub fn new(services: Arc<Services>) -> Self {
        let targets = moka::sync::Cache::builder().max_capacity(TARGETS).time_to_idle(UNUSED_FOR).build();
        let answered = metrics::counter!("farmlokal_hot_listings_total");
        Self { targets, services, answered }
    }

    /// Called by the operation after it answered `target` with the page under `key`.
    pub(super) fn remember(&self, target: &str, key: String, link_prefix: String) {
        if !self.targets.contains_key(target) {
            self.targets.insert(target.to_owned(), Arc::new(Target { key, link_prefix }));
        }
    }

    /// The answer to a remembered listing target whose page is fresh in the in-process tier, as the operation
    /// would give it (a test compares the two).
    fn answer(&self, request: &Request) -> Option<Response> {
        if request.method() != Method::GET || request.uri().path() != "/products" {
            return None;
        }
        let headers = request.headers();
        // A 304 is the operation's to decide; a request with a body (or a coded one) is the body limit's.
        if [IF_NONE_MATCH, CONTENT_LENGTH, TRANSFER_ENCODING, CONTENT_ENCODING].iter().any(|h| headers.contains_key(h))
        {
            return None;
        }
        let target = self.targets.get(request.uri().path_and_query()?.as_str())?;
        let coding = representation::accepted(request);
        let pages = &self.services.pages;
        let page = pages.local_hit(&target.key, coding.map(representation::variant))?;
        let SharedAnswer { tag, age, cache_control, .. } = SharedAnswer::of(&page, pages.ttl(), None);
        let mut response = Response::builder().header(CONTENT_TYPE, JSON_CONTENT_TYPE).body(page.body.clone());
        let headers = response.headers_mut();
        // `local_hit` serves only fresh copies.
        headers.insert(X_CACHE, HeaderValue::from_static("HIT"));
        headers.insert(ETAG, HeaderValue::from_str(&tag).ok()?);
        if let Some(cursor) = page.next_cursor.as_deref() {
            headers.insert(LINK, HeaderValue::from_str(&next_link(&target.link_prefix, cursor)).ok()?);
        }
        if let Some(coding) = page.coding {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        headers.insert(AGE, HeaderValue::from(age));
        headers.insert(CACHE_CONTROL, HeaderValue::from_str(&cache_control).ok()?);
        response.set_data(OperationId(LIST_PRODUCTS));
        self.answered.increment(1);
        Some(response)
    }
}

const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
const AGE: HeaderName = HeaderName::from_static("age");
/// The operation id the metrics label a listing with, as poem-openapi sets it on the operation's answers.
const LIST_PRODUCTS: &str = "listProducts";

/// The `Link` header of the next page: the parameters' prefix (`products::ListParams::link_prefix`) and the cursor.
pub fn next_link(prefix: &str, cursor: &str) -> String {
    format!("{prefix}{cursor}>; rel=\"next\"")
}

/// Answers a remembered listing from the in-process tier, or passes the request on.
pub async fn serve<E: Endpoint>(next: E, request: Request, hot: Arc<HotListings>) -> poem::Result<Response> {
    if let Some(response) = hot.answer(&request) {
        return Ok(response);
    }
    Box::pin(next.call(request)).await.map(IntoResponse::into_response)
}
