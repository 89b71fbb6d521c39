//! The hot lane of `GET /products`: a listing page the in-process cache holds fresh is answered here, after
//! the steps of the edge a listing needs (request id and metrics, CORS, rate limit: [`super::edge`]) but
//! without the OpenAPI layer's routing, parameter parsing and response building.
//!
//! It knows only the request targets the operation itself answered from the cache: after a listing is a hit,
//! the handler remembers its exact target (path and query, as sent) with the page's cache key and the `Link`
//! prefix (a miss does not, so distinct listings that are each asked once never enter the table). The
//! same target always parses to the same key (parameters and a cursor signed with this process's key are
//! checked the same way every time), so a remembered target needs no parsing. Anything else goes the long way:
//! an unknown target, a `HEAD`, a request with `If-None-Match` (the 304 logic is the operation's) or with a body
//! (the body limit's), a page that is not in the in-process tier or lacks the dense encoding the request's
//! coding wants. It sits outside the request timeout and the body limit: an answer from memory needs neither.
//!
//! The headers of an answer are made once per target, page and coding (`Made`), with the representation
//! step's among them, so the edge skips that step for a hot answer; only `Age`, `Cache-Control` and the request
//! id change per answer. A test holds every header and byte equal to what the operation and the representation
//! step give for the same page.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use poem::http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LINK, TRANSFER_ENCODING,
};
use poem::http::{HeaderMap, HeaderName, HeaderValue, Method};
use poem::{Request, Response};

use super::encoding::Coding;
use super::middleware::REQUEST_ID;
use super::payload::JSON_CONTENT_TYPE;
use super::representation::{self, SharedAnswer};
use crate::app::front::{self, Front, FrontOwner};
use crate::app::response_cache::{LocalPage, PageId};
use crate::app::sharded::ShardedCounter;
use crate::app::Services;

/// Targets remembered at most, and for how long unused.
const TARGETS: u64 = 20_000;
const UNUSED_FOR: Duration = Duration::from_secs(120);
/// How long a thread answers from the targets it keeps in front of the table ([`TARGETS_IN_FRONT`]) before
/// asking the table again (which also tells the table they are in use). A target's key never changes, so an
/// entry kept here is right however old; the bound keeps the table's idle clock honest.
const FRONT_FOR: Duration = Duration::from_secs(1);

thread_local! {
    /// This thread's entries of the target tables of this process's services.
    static TARGETS_IN_FRONT: std::cell::RefCell<Front<Arc<Target>>> =
        const { std::cell::RefCell::new(Front::new()) };
}

/// What a remembered target needs to be answered.
struct Target {
    key: String,
    link_prefix: String,
    /// The headers last made for this target, by coding (identity first, then [`Coding`]'s order).
    made: [ArcSwapOption<Made>; 4],
}

/// The headers of a hot answer, made once per page and coding instead of once per request: all of them, as
/// the representation step would leave them (a hot answer skips it), with `Age`, `Cache-Control` and
/// `X-Request-Id` replaced per answer: a clone of a map has no spare room, and replacing a value needs none.
struct Made {
    page: PageId,
    headers: HeaderMap,
}

/// `Age` and `Cache-Control` for whole seconds 0..=`CLOCK_VALUES`; larger values (a TTL above ten minutes) are
/// formatted per answer.
const CLOCK_VALUES: u64 = 600;

/// The listing targets this process has answered, and the use cases that hold their pages.
pub struct HotListings {
    /// Hashed with foldhash, seeded per process: about 40 instructions a lookup where SipHash took 290
    /// (callgrind, the hot listing's target).
    targets: moka::sync::Cache<String, Arc<Target>, foldhash::quality::RandomState>,
    services: Arc<Services>,
    /// `Age` values by whole seconds.
    ages: Vec<HeaderValue>,
    /// `Cache-Control` values by the whole seconds of freshness left (`max-age`).
    cache_controls: Vec<HeaderValue>,
    /// `farmlokal_hot_listings_total`: listings answered by this lane (per thread until published).
    answered: ShardedCounter,
    /// The owner of the threads' [`TARGETS_IN_FRONT`] entries of `targets` (never told of a change: a kept
    /// target stays right).
    front: FrontOwner,
}

impl HotListings {
    pub fn new(services: Arc<Services>) -> Self {
        let targets = moka::sync::Cache::builder()
            .max_capacity(TARGETS)
            .time_to_idle(UNUSED_FOR)
            .build_with_hasher(foldhash::quality::RandomState::default());
        let answered = ShardedCounter::new(metrics::counter!("farmlokal_hot_listings_total"));
        let ttl = services.pages.ttl();
        let seconds = 0..=CLOCK_VALUES.min(ttl.as_secs());
        let ages = seconds.clone().map(HeaderValue::from).collect();
        // Digits and ASCII only, so every value is valid; were one not, the table stays empty and each answer
        // formats its own.
        let cache_controls = seconds.map(|s| cache_control(Duration::from_secs(s), ttl)).collect::<Option<_>>();
        let cache_controls = cache_controls.unwrap_or_default();
        Self { targets, services, ages, cache_controls, answered, front: FrontOwner::default() }
    }

    /// Called by the operation after it answered `target` with a cached page under `key`.
    pub(super) fn remember(&self, target: &str, key: String, link_prefix: impl FnOnce() -> String) {
        if !self.targets.contains_key(target) {
            let made = Default::default();
            self.targets.insert(target.to_owned(), Arc::new(Target { key, link_prefix: link_prefix(), made }));
        }
    }

    /// Moves this lane's answers, counted per thread, into the exported counter: before every scrape.
    pub fn publish_counts(&self) {
        self.answered.publish();
    }

    /// Whether `target` (path and query, as sent) is remembered: the lane answers it while its page is fresh in
    /// the in-process tier.
    pub fn remembers(&self, target: &str) -> bool {
        self.targets.contains_key(target)
    }

    /// The answer to a remembered listing target whose page is fresh in the in-process tier, as the operation
    /// and the representation step would give it (a test compares the two), for a `GET` (not a `HEAD`) that
    /// accepts `coding` (as the representation step negotiated it).
    pub(super) fn answer(&self, request: &Request, coding: Option<Coding>) -> Option<Response> {
        if request.method() != Method::GET || request.uri().path() != "/products" {
            return None;
        }
        // A 304 is the operation's to decide; a request with a body (or a coded one) is the body limit's.
        let passed_on = |name: &HeaderName| {
            [IF_NONE_MATCH, CONTENT_LENGTH, TRANSFER_ENCODING, CONTENT_ENCODING].iter().any(|h| h == name)
        };
        if request.headers().keys().any(passed_on) {
            return None;
        }
        let target_text = request.uri().path_and_query()?.as_str();
        let target = front::get_or_look_up(&TARGETS_IN_FRONT, &self.front, target_text, FRONT_FOR, || {
            self.targets.get(target_text)
        })?;
        let page = self.services.pages.local_page(&target.key, coding.map(representation::variant))?;
        let slot = &target.made[slot(coding)];
        // A guard, not a clone of the `Arc`: the common case touches no count another core also writes.
        let kept = slot.load();
        let remade;
        let made = match kept.as_deref() {
            Some(made) if page.is(&made.page) => made,
            _ => {
                remade = Arc::new(self.make(&page, &target.link_prefix)?);
                slot.store(Some(remade.clone()));
                &remade
            }
        };
        let mut response = Response::builder().body(page.body());
        let headers = response.headers_mut();
        *headers = made.headers.clone();
        // Both are in the made map already, so these replace values in place (a clone has no spare room).
        let (age, fresh_for) = (page.age().as_secs(), page.fresh_for());
        headers.insert(AGE, self.ages.get(age as usize).cloned().unwrap_or_else(|| HeaderValue::from(age)));
        let cached = self.cache_controls.get(fresh_for.as_secs() as usize).cloned();
        headers.insert(CACHE_CONTROL, cached.or_else(|| cache_control(fresh_for, self.services.pages.ttl()))?);
        self.answered.increment(1);
        Some(response)
    }

    /// The headers of every hot answer of `page` for a target with `link_prefix`, `Age` and `Cache-Control` as
    /// when it was rendered.
    fn make(&self, page: &LocalPage, link_prefix: &str) -> Option<Made> {
        let served = page.served();
        let tag = representation::page_tag(&served);
        let mut headers = HeaderMap::with_capacity(16);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
        headers.insert(AGE, HeaderValue::from_static("0"));
        headers.insert(CACHE_CONTROL, cache_control(served.fresh_for, self.services.pages.ttl())?);
        representation::add_fixed_headers(&mut headers);
        // Replaced by the request's own id (`middleware::Observed::finish`), in place.
        headers.insert(REQUEST_ID, HeaderValue::from_static("-"));
        // `local_page` serves only fresh copies.
        headers.insert(X_CACHE, HeaderValue::from_static("HIT"));
        headers.insert(ETAG, HeaderValue::from_str(&tag).ok()?);
        if let Some(cursor) = served.next_cursor.as_deref() {
            headers.insert(LINK, HeaderValue::from_str(&next_link(link_prefix, cursor)).ok()?);
        }
        if let Some(coding) = served.coding {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        Some(Made { page: page.id(), headers })
    }
}

/// The index of `coding` in [`Target::made`].
fn slot(coding: Option<Coding>) -> usize {
    match coding {
        None => 0,
        Some(Coding::Brotli) => 1,
        Some(Coding::Zstd) => 2,
        Some(Coding::Gzip) => 3,
    }
}

/// The `Cache-Control` of a listing fresh for `fresh_for` more, as [`SharedAnswer::of`] makes it.
fn cache_control(fresh_for: Duration, ttl: Duration) -> Option<HeaderValue> {
    HeaderValue::from_str(&SharedAnswer::cache_control(fresh_for, ttl)).ok()
}

const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
const AGE: HeaderName = HeaderName::from_static("age");
/// The operation id the metrics label a listing with, as poem-openapi sets it on the operation's answers.
pub const LIST_PRODUCTS: &str = "listProducts";

/// The `Link` header of the next page: the parameters' prefix (`products::ListParams::link_prefix`) and the cursor.
pub fn next_link(prefix: &str, cursor: &str) -> String {
    format!("{prefix}{cursor}>; rel=\"next\"")
}
