//! Representations and HTTP caching against DESIGN §6, in process: content codings chosen by q-values, an
//! entity tag per representation and 304s, `Cache-Control` and `Age` per route, `HEAD` on every GET route, and
//! cached pages kept compressed (one encoding per coding, shared by every instance).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use farmlokal::adapters::memory::cache::MemoryCache;
use farmlokal::adapters::memory::clock::ManualClock;
use farmlokal::adapters::sample;
use farmlokal::app::response_cache::{CacheStatus, Demand, Rendered, ResponseCache, Variant};
use farmlokal::ports::Clock;
use poem::http::{Method, StatusCode};

use crate::harness::partners::Delivery;
use crate::harness::{spawn_app, Reply, Run, TestApp, World};

const LISTING: &str = "/products?sort=price&limit=20";

/// A memory world of `products` and its service in process, on a clock that stands still: freshness and
/// `Age` are the same for every request of the test.
async fn frozen_app(products: u64) -> (World, TestApp) {
    let world = World::memory(products);
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::starting_now());
    let app = TestApp::start(world.builder().clock(clock), Run::InProcess).await;
    (world, app)
}

fn accept(coding: &str) -> [(&'static str, &str); 1] {
    [("accept-encoding", coding)]
}

#[tokio::test]
async fn a_listing_comes_in_the_coding_the_client_ranks_highest_and_decodes_to_the_same_page() {
    let (_world, app) = spawn_app(500).await;
    let identity = app.get(LISTING).await;

    for (accept_encoding, coding) in [
        ("gzip, deflate, br, zstd", Some("br")),
        ("gzip;q=1.0, br;q=0.5", Some("gzip")),
        ("zstd, gzip", Some("zstd")),
        ("br;q=0, *;q=0.3", Some("zstd")),
        ("identity;q=1, gzip;q=0.5", None),
        ("deflate", None),
    ] {
        let reply = app.get_with(LISTING, &accept(accept_encoding)).await;

        assert_eq!(reply.status, StatusCode::OK, "{accept_encoding}: {}", reply.describe());
        assert_eq!(reply.header("content-encoding"), coding, "{accept_encoding}");
        assert!(reply.varies_on("accept-encoding"), "{accept_encoding}: {:?}", reply.headers);
        assert_eq!(reply.decoded(), identity.body, "{accept_encoding}");
        if coding.is_some() {
            assert!(reply.body.len() * 4 <= identity.body.len(), "{accept_encoding}: {} bytes", reply.body.len());
        }
    }
    assert!(identity.varies_on("accept-encoding"), "identity answers vary too: {:?}", identity.headers);
}

#[tokio::test]
async fn each_coding_has_its_own_etag_and_revalidates_to_a_304_with_the_same_headers() {
    let (_world, app) = frozen_app(500).await;
    let plain = app.get(LISTING).await;
    let brotli = app.get_with(LISTING, &accept("br")).await;
    let (plain_tag, br_tag) = (plain.header("etag").expect("an etag"), brotli.header("etag").expect("an etag"));
    assert_ne!(plain_tag, br_tag, "a cache must never answer one coding's tag with another coding's body");

    for candidates in [br_tag.to_owned(), format!("\"nope\", {br_tag}"), format!("W/{br_tag}"), "*".to_owned()] {
        let revalidated = app.get_with(LISTING, &[("accept-encoding", "br"), ("if-none-match", &candidates)]).await;

        assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED, "{candidates}: {}", revalidated.describe());
        assert!(revalidated.body.is_empty());
        assert_eq!(revalidated.header("etag"), Some(br_tag));
        assert_eq!(revalidated.header("cache-control"), brotli.header("cache-control"));
        assert!(revalidated.varies_on("accept-encoding"));
    }
    let other_coding = app.get_with(LISTING, &[("accept-encoding", "br"), ("if-none-match", plain_tag)]).await;
    assert_eq!(other_coding.status, StatusCode::OK, "the identity tag does not validate the br body");
    assert_eq!(other_coding.header("content-encoding"), Some("br"));
}

#[tokio::test]
async fn listing_freshness_counts_down_in_max_age_and_age_and_a_stale_copy_has_max_age_zero() {
    let clock = ManualClock::starting_now();
    let world = World::memory(50).configure(|s| s.policy.cache_ttl = Duration::from_secs(60));
    let port: Arc<dyn Clock> = Arc::new(clock.clone());
    let app = TestApp::start(world.builder().clock(port), Run::InProcess).await;

    let first = app.get(LISTING).await;
    clock.advance(Duration::from_secs(25));
    let later = app.get(LISTING).await;
    clock.advance(Duration::from_secs(40));
    world.memory_catalogue().faults().set_down(true);
    let stale = app.get(LISTING).await;
    world.memory_catalogue().faults().set_down(false);
    let categories = app.get("/categories").await;

    let policy = |max_age: u64| format!("public, max-age={max_age}, stale-while-revalidate=60, stale-if-error=600");
    assert_eq!((first.header("cache-control"), first.number("age")), (Some(&*policy(60)), 0));
    assert_eq!((later.header("x-cache"), later.header("cache-control")), (Some("HIT"), Some(&*policy(35))));
    assert_eq!(later.number("age"), 25);
    assert_eq!((stale.header("x-cache"), stale.header("cache-control")), (Some("STALE"), Some(&*policy(0))));
    assert_eq!(stale.number("age"), 65);
    assert_eq!(categories.header("cache-control"), Some(&*policy(60)), "{}", categories.describe());
    assert!(categories.header("etag").is_some());
}

#[tokio::test]
async fn a_product_must_be_revalidated_and_unchanged_it_is_a_304() {
    let (world, app) = spawn_app(50).await;
    let product = app.get("/products/7").await;
    let tag = product.header("etag").expect("a product has an etag").to_owned();

    let unchanged = app.get_with("/products/7", &[("if-none-match", &tag)]).await;
    let mut restocked = sample::products(50).find(|p| p.id.get() == 7).expect("product 7 exists");
    restocked.stock += 1;
    world.memory_catalogue().insert(restocked);
    let changed = app.get_with("/products/7", &[("if-none-match", &tag)]).await;

    assert_eq!(product.header("cache-control"), Some("no-cache"));
    assert_eq!((unchanged.status, unchanged.header("etag")), (StatusCode::NOT_MODIFIED, Some(&*tag)));
    assert_eq!(unchanged.header("cache-control"), Some("no-cache"));
    assert_eq!(changed.status, StatusCode::OK, "a changed stock is a new representation");
    assert_ne!(changed.header("etag"), Some(&*tag));
}

#[tokio::test]
async fn errors_rate_limits_webhooks_and_operations_are_never_stored_and_nothing_is_sniffed() {
    let world = World::memory(20).configure(|s| s.policy.rate_limit_per_minute = 2);
    let app = world.app(Run::InProcess).await;
    let mut replies = vec![
        app.get("/products?limit=0").await,
        app.get("/products/999999").await,
        app.get("/nowhere").await,
        app.request(Method::POST, "/webhooks/partner-b").body("{}").send().await,
        app.get("/health/live").await,
        app.get("/metrics").await,
    ];
    replies.push(app.get("/products").await);
    replies.push(app.get("/products").await);
    assert_eq!(replies.last().map(|r| r.status), Some(StatusCode::TOO_MANY_REQUESTS));

    for reply in &replies {
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{}", reply.describe());
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"), "{}", reply.describe());
    }
    let estimate = World::memory(0).app(Run::InProcess).await.estimate("560001").await;
    assert_eq!(estimate.header("cache-control"), Some("private, max-age=60"), "{}", estimate.describe());
}

#[tokio::test]
async fn head_answers_every_get_route_with_the_gets_headers_and_no_body() {
    let (_world, app) = frozen_app(50).await;
    for path in [
        LISTING,
        "/products/3",
        "/categories",
        "/delivery/estimate?pincode=560001",
        "/health/live",
        "/health/ready",
        "/metrics",
        "/docs",
        "/openapi.json",
        "/openapi.yaml",
    ] {
        // A cached page's miss answers in the quick encoding and its hits in the dense one: compare two hits.
        app.get_with(path, &accept("gzip")).await;
        let get = app.get_with(path, &accept("gzip")).await;
        let head = app.request(Method::HEAD, path).header("accept-encoding", "gzip").send().await;

        assert_eq!(head.status, get.status, "{path}");
        assert!(head.body.is_empty(), "{path}: HEAD has no body");
        if path == "/metrics" {
            // Its counters move between the two requests.
            assert!(head.number("content-length") > 0);
        } else {
            assert_eq!(head.number("content-length"), get.body.len() as u64, "{path}");
        }
        for name in ["content-type", "content-encoding", "etag", "cache-control", "vary"] {
            assert_eq!(head.header(name), get.header(name), "{path}: {name}");
        }
    }
}

#[tokio::test]
async fn the_docs_and_the_spec_are_sent_compressed_and_revalidate() {
    let (_world, app) = spawn_app(10).await;
    for path in ["/docs", "/openapi.json", "/openapi.yaml"] {
        let plain = app.get(path).await;
        let brotli = app.get_with(path, &accept("br, gzip")).await;
        let tag = brotli.header("etag").expect("an etag").to_owned();
        let again = app.get_with(path, &[("accept-encoding", "br, gzip"), ("if-none-match", &tag)]).await;

        assert_eq!(brotli.header("content-encoding"), Some("br"), "{path}");
        assert_eq!(brotli.decoded(), plain.body, "{path}");
        assert!(brotli.body.len() * 3 < plain.body.len(), "{path}: {} of {}", brotli.body.len(), plain.body.len());
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
    }
}

/// Counts the encodings a variant performs, so a test sees whether a hit compressed again.
static ENCODINGS: AtomicUsize = AtomicUsize::new(0);

fn counting_variant() -> Variant {
    Variant {
        name: "rev",
        encode: |body| {
            ENCODINGS.fetch_add(1, Ordering::SeqCst);
            Some(body.iter().rev().copied().collect())
        },
        quick: None,
    }
}

#[tokio::test]
async fn a_page_is_encoded_once_per_coding_and_every_instance_serves_that_encoding() {
    let shared = Arc::new(MemoryCache::new());
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::starting_now());
    let ttl = Duration::from_secs(60);
    let instances: Vec<ResponseCache<std::fmt::Error>> =
        (0..2).map(|_| ResponseCache::new(shared.clone(), ttl, clock.clone())).collect();
    let render = || async { Ok(Rendered { body: Bytes::from_static(b"the page"), next_cursor: None }) };

    // The first request renders the page as it is; the first one in the coding encodes it and keeps that.
    let mut served = Vec::new();
    for instance in instances.iter().chain(&instances) {
        served.push(instance.get_or_render("k".into(), None, Demand::Unknown, render).await);
        served.push(instance.get_or_render("k".into(), Some(counting_variant()), Demand::Unknown, render).await);
    }

    assert_eq!(ENCODINGS.load(Ordering::SeqCst), 1, "one encoding for two instances and four requests");
    for (index, page) in served.iter().enumerate() {
        let page = page.as_ref().expect("rendered");
        let expected: &[u8] = if index % 2 == 1 { b"egap eht" } else { b"the page" };
        assert_eq!(&page.body[..], expected, "request {index}");
        assert_eq!(page.coding, (index % 2 == 1).then_some("rev"), "request {index}");
    }
}

/// A page just rendered goes to the shared tier only; the request after it reads it there and keeps it in
/// process, and later ones are answered in process without the shared tier. A page the caller knows to be asked
/// for repeatedly is kept in process at once. When the shared tier cannot keep a page, the process keeps it, so
/// the store is spared during the outage.
#[tokio::test]
async fn a_page_is_kept_in_process_when_asked_for_again_or_repeatedly_or_when_the_shared_tier_cannot_keep_it() {
    let shared = Arc::new(MemoryCache::new());
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::starting_now());
    let cache: ResponseCache<std::fmt::Error> = ResponseCache::new(shared.clone(), Duration::from_secs(60), clock);
    let renders = AtomicUsize::new(0);
    let render = || async {
        renders.fetch_add(1, Ordering::SeqCst);
        Ok(Rendered { body: Bytes::from_static(b"the page"), next_cursor: None })
    };

    let first = cache.get_or_render("k".into(), None, Demand::Unknown, render).await.expect("rendered");
    assert_eq!(first.status, CacheStatus::Miss);
    assert!(cache.local_page("k", None).is_none(), "a page just rendered is not kept in process");
    assert_eq!(shared.len(), 1, "it is kept in the shared tier");

    let second = cache.get_or_render("k".into(), None, Demand::Unknown, render).await.expect("cached");
    assert_eq!(second.status, CacheStatus::Hit);
    assert!(cache.local_page("k", None).is_some(), "a page asked for again is kept in process");
    shared.clear();
    let third = cache.get_or_render("k".into(), None, Demand::Unknown, render).await.expect("cached");
    assert_eq!((third.status, &third.body[..]), (CacheStatus::Hit, &b"the page"[..]));
    assert_eq!(renders.load(Ordering::SeqCst), 1, "answered in process, without the shared tier");
    let hot = cache.get_or_render("hot".into(), None, Demand::Repeated, render).await.expect("rendered");
    assert_eq!(hot.status, CacheStatus::Miss);
    assert!(cache.local_page("hot", None).is_some(), "a page asked for repeatedly is kept in process at once");

    shared.faults().set_down(true);
    let outage = cache.get_or_render("down".into(), None, Demand::Unknown, render).await.expect("rendered");
    assert_eq!(outage.status, CacheStatus::Miss);
    assert!(cache.local_page("down", None).is_some(), "kept in process while the shared tier is down");
    let again = cache.get_or_render("down".into(), None, Demand::Unknown, render).await.expect("cached");
    assert_eq!((again.status, renders.load(Ordering::SeqCst)), (CacheStatus::Hit, 3));
}

/// Counts the quick and the dense encodings of a variant that has both.
static QUICK: AtomicUsize = AtomicUsize::new(0);
static DENSE: AtomicUsize = AtomicUsize::new(0);

fn two_speed_variant() -> Variant {
    Variant {
        name: "rev",
        encode: |body| {
            DENSE.fetch_add(1, Ordering::SeqCst);
            Some(body.iter().rev().copied().collect())
        },
        quick: Some(|body| {
            QUICK.fetch_add(1, Ordering::SeqCst);
            Some(body.iter().rev().chain(b"~").copied().collect())
        }),
    }
}

#[tokio::test]
async fn a_miss_answers_with_the_quick_encoding_and_the_first_hit_keeps_the_dense_one_for_every_instance() {
    let shared = Arc::new(MemoryCache::new());
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::starting_now());
    let instances: Vec<ResponseCache<std::fmt::Error>> =
        (0..2).map(|_| ResponseCache::new(shared.clone(), Duration::from_secs(60), clock.clone())).collect();
    let render = || async { Ok(Rendered { body: Bytes::from_static(b"the page"), next_cursor: None }) };

    let miss = instances[0]
        .get_or_render("k".into(), Some(two_speed_variant()), Demand::Unknown, render)
        .await
        .expect("rendered");
    let counts_after_miss = (QUICK.load(Ordering::SeqCst), DENSE.load(Ordering::SeqCst));
    let mut hits = Vec::new();
    for instance in instances.iter().chain(&instances) {
        hits.push(
            instance
                .get_or_render("k".into(), Some(two_speed_variant()), Demand::Unknown, render)
                .await
                .expect("cached"),
        );
    }

    assert_eq!((&miss.body[..], miss.quick), (&b"egap eht~"[..], true), "the miss sends the quick encoding");
    assert_eq!(counts_after_miss, (1, 0), "a miss pays for the quick encoding only");
    for hit in &hits {
        assert_eq!((&hit.body[..], hit.coding, hit.quick), (&b"egap eht"[..], Some("rev"), false));
    }
    assert_eq!(
        (QUICK.load(Ordering::SeqCst), DENSE.load(Ordering::SeqCst)),
        (1, 1),
        "the first hit encodes densely once and every instance serves that"
    );
}

#[tokio::test]
async fn a_compressed_miss_and_the_hits_after_it_decode_to_the_same_page_under_their_own_tags() {
    let (_world, app) = frozen_app(500).await;
    let path = "/products?sort=-price&limit=20";

    let miss = app.get_with(path, &accept("br")).await;
    let hit = app.get_with(path, &accept("br")).await;
    let fast_tag = miss.header("etag").expect("an etag").to_owned();
    let revalidated = app.get_with(path, &[("accept-encoding", "br"), ("if-none-match", &fast_tag)]).await;
    let plain = app.get(path).await;

    assert_eq!((miss.header("x-cache"), hit.header("x-cache")), (Some("MISS"), Some("HIT")));
    assert_eq!((miss.header("content-encoding"), hit.header("content-encoding")), (Some("br"), Some("br")));
    assert_eq!(miss.decoded(), plain.body);
    assert_eq!(hit.decoded(), plain.body);
    assert!(fast_tag.ends_with("-br-fast\""), "{fast_tag}");
    assert!(hit.header("etag").is_some_and(|tag| tag.ends_with("-br\"")), "{:?}", hit.header("etag"));
    assert!(hit.body.len() <= miss.body.len(), "the kept encoding is the denser one");
    assert!(miss.body.len() * 3 <= plain.body.len(), "{} of {} bytes", miss.body.len(), plain.body.len());
    assert_eq!(
        (revalidated.status, revalidated.header("etag")),
        (StatusCode::OK, hit.header("etag")),
        "the quick encoding's tag does not validate the dense body"
    );
}

/// The value of the counter `name` on `/metrics` (0 when absent).
fn counter(metrics: &str, name: &str) -> u64 {
    metrics.lines().find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok()).map_or(0, |value| value as u64)
}

/// The headers of a reply but its request id, in a fixed order: what two answers of one page must share.
fn page_headers(reply: &Reply) -> Vec<(String, Vec<u8>)> {
    let mut headers: Vec<_> = reply
        .headers
        .iter()
        .filter(|(n, _)| *n != "x-request-id")
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    headers.sort();
    headers
}

#[tokio::test]
async fn the_hot_lane_takes_a_target_on_its_first_hit_not_on_its_miss() {
    let (_world, app) = frozen_app(200).await;
    let target = "/products?category=fruits&sort=-price&limit=7";
    let remembers = |target| app.state().hot_listings().remembers(target);

    assert_eq!(app.get(target).await.header("x-cache"), Some("MISS"));
    assert!(!remembers(target), "a miss does not remember its target");
    assert_eq!(app.get(target).await.header("x-cache"), Some("HIT"));
    assert!(remembers(target), "a hit does");
    assert!(!remembers("/products?sort=-price&category=fruits&limit=7"), "only the target as sent");
}

#[tokio::test]
async fn the_hot_lane_follows_the_clock_and_a_page_rendered_again() {
    let world = World::memory(500);
    let clock = Arc::new(ManualClock::starting_now());
    let app = TestApp::start(world.builder().clock(clock.clone()), Run::InProcess).await;
    let remembered = "/products?category=vegetables&sort=price&limit=5";
    let reordered = "/products?limit=5&sort=price&category=vegetables";
    app.get(remembered).await; // a miss: the operation renders the page
    let first = app.get(remembered).await; // a hit: the operation answers and remembers the target
    let cheapest = first.ids()[0];

    clock.advance(Duration::from_secs(2));
    let later = app.get(remembered).await;
    let by_operation = app.get(reordered).await;
    assert_eq!(later.header("age"), Some("2"), "{}", later.describe());
    assert!(later.header("cache-control").is_some_and(|cc| cc.contains("max-age=58,")), "{}", later.describe());
    assert_eq!(page_headers(&later), page_headers(&by_operation));

    let changed = Delivery::price("msg_hot_lane_price", cheapest, 1, chrono::Utc::now());
    app.deliver(&changed).await.assert_ack("processed");
    clock.advance(Duration::from_secs(61)); // past the TTL: the next request renders the page again
    app.get(remembered).await;
    let lane_before = counter(&app.metrics().await.text(), "farmlokal_hot_listings_total");
    let again = app.get(remembered).await;
    let echoed = app.get_with(remembered, &[("x-request-id", "caller-id-7")]).await;
    let lane_after = counter(&app.metrics().await.text(), "farmlokal_hot_listings_total");
    // Another order again: `reordered` is remembered by now, and the lane would answer it.
    let by_operation = app.get("/products?sort=price&category=vegetables&limit=5").await;
    assert_eq!(lane_after, lane_before + 2, "the lane answered the page rendered again, twice");
    assert_eq!(echoed.header("x-request-id"), Some("caller-id-7"));
    let lane_before_head = counter(&app.metrics().await.text(), "farmlokal_hot_listings_total");
    let head = app.request(Method::HEAD, remembered).send().await;
    let lane_after_head = counter(&app.metrics().await.text(), "farmlokal_hot_listings_total");
    assert_eq!(lane_after_head, lane_before_head, "a HEAD goes the long way");
    assert_eq!((head.status, head.body.len()), (StatusCode::OK, 0));
    assert_eq!(head.header("content-length"), Some(again.body.len().to_string().as_str()));
    assert_eq!(head.header("etag"), again.header("etag"));
    let own_id = again.header("x-request-id").unwrap_or_default();
    assert!(uuid::Uuid::parse_str(own_id).is_ok(), "a new id of its own: {own_id:?}");
    assert_eq!(again.json()["data"][0]["price_paise"], 1, "{}", again.describe());
    assert_ne!(again.header("etag"), first.header("etag"));
    assert_eq!(again.body, by_operation.body);
    assert_eq!(page_headers(&again), page_headers(&by_operation));
}

#[tokio::test]
async fn the_hot_lane_answers_a_remembered_listing_exactly_as_the_operation_does() {
    let (_world, app) = frozen_app(500).await;
    let remembered = "/products?category=vegetables&sort=price&limit=5";
    // The same page under targets not remembered: one per coding, as the operation remembers each it answers.
    let reordered = [
        "/products?limit=5&sort=price&category=vegetables",
        "/products?sort=price&limit=5&category=vegetables",
        "/products?category=vegetables&limit=5&sort=price",
    ];
    let before = counter(&app.metrics().await.text(), "farmlokal_hot_listings_total");

    for (coding, reordered) in ["", "br", "gzip"].into_iter().zip(reordered) {
        let accept = [("accept-encoding", coding)];
        app.get_with(remembered, &accept).await; // the operation answers it (a miss, the first time)
        app.get_with(remembered, &accept).await; // a hit: remembered, and the dense encoding of this coding kept
        let by_operation = app.get_with(reordered, &accept).await;
        let by_lane = app.get_with(remembered, &accept).await;

        assert_eq!(by_lane.status, StatusCode::OK, "{coding}: {}", by_lane.describe());
        assert_eq!(by_lane.body, by_operation.body, "{coding}");
        let mut lane_headers: Vec<_> = by_lane.headers.iter().filter(|(n, _)| *n != "x-request-id").collect();
        let mut operation_headers: Vec<_> = by_operation.headers.iter().filter(|(n, _)| *n != "x-request-id").collect();
        lane_headers.sort_by_key(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()));
        operation_headers.sort_by_key(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()));
        assert_eq!(lane_headers, operation_headers, "{coding}");
        assert!(by_lane.header("link").is_some_and(|l| l.contains("category=vegetables")), "{coding}");
    }
    let after = counter(&app.metrics().await.text(), "farmlokal_hot_listings_total");
    assert!(after >= before + 3, "the lane answered the three last requests ({before} -> {after})");

    let revalidated = app
        .get_with(remembered, &[("if-none-match", app.get(remembered).await.header("etag").unwrap_or_default())])
        .await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED, "If-None-Match goes to the operation");
    let coded = app.request(Method::GET, remembered).header("content-encoding", "gzip").send().await;
    assert_eq!(coded.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "a coded request still meets the body limit");
}
