//! `POST /webhooks/partner-b` over the real HTTP stack (DESIGN §2): Standard Webhooks signatures, secret
//! rotation, the answers for bodies of the wrong shape, size, product or type, and no rate limit. Behaviours
//! that touch storage run in memory and on MySQL + Redis (see `harness::world`); exactly-once behaviours live in
//! `webhook_exactly_once`.

use chrono::{Days, TimeDelta, Utc};
use farmlokal::startup::Settings;
use poem::Body;
use serde_json::json;

use crate::harness::partners::{secret, Delivery, NEW_SECRET, PRODUCT, SECRET};
use crate::harness::world::PRODUCTS;
use crate::harness::{in_both_worlds, Run, TestApp, World};

/// An id no product has.
const NO_SUCH_PRODUCT: u64 = 999_999;
/// The body limit (DESIGN §2).
const LIMIT: usize = 64 * 1024;

/// A memory world of `PRODUCTS` products with `settings`, and its service in process.
async fn in_memory(settings: Settings) -> (World, TestApp) {
    let world = World::memory(PRODUCTS).with_settings(settings);
    let app = world.app(Run::InProcess).await;
    (world, app)
}

// ---- signatures -------------------------------------------------------------------------------------------

in_both_worlds!(a_first_delivery_is_processed_and_a_redelivery_is_a_duplicate);
async fn a_first_delivery_is_processed_and_a_redelivery_is_a_duplicate(world: &World, app: &TestApp) {
    let before = app.stock(PRODUCT).await;
    let delivery = Delivery::stock("msg_first", PRODUCT, 5);

    let first = app.deliver(&delivery).await;
    let again = app.deliver(&delivery).await;

    first.assert_ack("processed");
    again.assert_ack("duplicate");
    assert_eq!(app.stock(PRODUCT).await, before + 5, "{}: the stock changed once", world.name);
}

in_both_worlds!(a_changed_body_timestamp_or_signature_is_refused_and_records_nothing);
async fn a_changed_body_timestamp_or_signature_is_refused_and_records_nothing(world: &World, app: &TestApp) {
    let before = app.stock(PRODUCT).await;
    let genuine = Delivery::stock("msg_tampered", PRODUCT, 3);
    let other_body = Delivery::stock("msg_tampered", PRODUCT, 300).body;
    let mut flipped = genuine.signature.clone().into_bytes();
    // A character in the middle: still valid base64 (the last one carries padding bits), but other bytes.
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let tampered = [
        Delivery { body: other_body, ..genuine.clone() },
        Delivery { timestamp: genuine.timestamp - 1, ..genuine.clone() },
        Delivery { signature: String::from_utf8(flipped).expect("base64 is ASCII"), ..genuine.clone() },
        Delivery {
            signature: secret(NEW_SECRET).sign(&genuine.id, genuine.timestamp, &genuine.body),
            ..genuine.clone()
        },
        Delivery { signature: genuine.signature.replacen("v1,", "v2,", 1), ..genuine.clone() },
    ];

    for delivery in &tampered {
        app.deliver(delivery).await.assert_problem(401, "invalid_signature");
    }
    let unchanged = app.stock(PRODUCT).await;
    let genuine_reply = app.deliver(&genuine).await;

    assert_eq!(unchanged, before, "{}: a refused delivery changes nothing", world.name);
    genuine_reply.assert_ack("processed");
    assert_eq!(app.stock(PRODUCT).await, before + 3, "{}: only the genuine delivery applied", world.name);
}

#[tokio::test]
async fn a_timestamp_six_minutes_old_or_ahead_is_refused_and_one_within_five_minutes_accepted() {
    let (_world, app) = in_memory(Settings::for_tests()).await;
    let now = Utc::now().timestamp();
    let body = Delivery::stock("unused", PRODUCT, 1).body;
    let at = |id: &str, timestamp: i64| Delivery::signed_at(&secret(SECRET), id, timestamp, body.clone());

    let old = app.deliver(&at("msg_old", now - 360)).await;
    let ahead = app.deliver(&at("msg_ahead", now + 360)).await;
    let recent = app.deliver(&at("msg_recent", now - 240)).await;

    old.assert_problem(401, "invalid_signature");
    ahead.assert_problem(401, "invalid_signature");
    recent.assert_ack("processed");
}

#[tokio::test]
async fn a_delivery_missing_any_signature_header_is_refused() {
    let (_world, app) = in_memory(Settings::for_tests()).await;
    let before = app.stock(PRODUCT).await;
    let delivery = Delivery::stock("msg_headers", PRODUCT, 1);

    for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let headers: Vec<_> = delivery.headers().into_iter().filter(|(name, _)| *name != missing).collect();
        let reply = app.post_webhook(&headers, Body::from_vec(delivery.body.clone())).await;
        reply.assert_problem(401, "invalid_signature");
    }
    let bare =
        app.post_webhook(&[("content-type", "application/json".to_owned())], Body::from_vec(delivery.body)).await;

    bare.assert_problem(401, "invalid_signature");
    assert_eq!(app.stock(PRODUCT).await, before);
}

#[tokio::test]
async fn with_two_secrets_configured_a_message_signed_by_either_verifies() {
    let mut settings = Settings::for_tests();
    settings.policy.webhook_secrets = vec![secret(SECRET), secret(NEW_SECRET)];
    let (_world, app) = in_memory(settings).await;
    let now = Utc::now().timestamp();
    let body = |delta: i64| Delivery::stock("unused", PRODUCT, delta).body;
    let by_old = Delivery::signed_at(&secret(SECRET), "msg_old_secret", now, body(1));
    let by_new = Delivery::signed_at(&secret(NEW_SECRET), "msg_new_secret", now, body(2));
    let mut both = Delivery::signed_at(&secret(NEW_SECRET), "msg_both", now, body(3));
    both.signature = format!("v1,c29tZXRoaW5nIGVsc2U= {}", both.signature);
    let stranger = "whsec_dW5rbm93bi1zZW5kZXItc2VjcmV0LWtleQ==";
    let by_stranger = Delivery::signed_at(&secret(stranger), "msg_stranger", now, body(4));

    app.deliver(&by_old).await.assert_ack("processed");
    app.deliver(&by_new).await.assert_ack("processed");
    app.deliver(&both).await.assert_ack("processed");
    app.deliver(&by_stranger).await.assert_problem(401, "invalid_signature");
}

// ---- bodies -----------------------------------------------------------------------------------------------

in_both_worlds!(an_unknown_product_is_422_and_nothing_is_recorded);
async fn an_unknown_product_is_422_and_nothing_is_recorded(_world: &World, app: &TestApp) {
    let delivery = Delivery::stock("msg_unknown_product", NO_SUCH_PRODUCT, 4);

    let first = app.deliver(&delivery).await;
    let retry = app.deliver(&delivery).await;

    first.assert_problem(422, "unknown_product");
    // Neither `duplicate` (nothing was recorded) nor 409 (the claim was released).
    retry.assert_problem(422, "unknown_product");
}

in_both_worlds!(an_unknown_event_type_is_acknowledged_as_ignored);
async fn an_unknown_event_type_is_acknowledged_as_ignored(_world: &World, app: &TestApp) {
    let before = app.stock(PRODUCT).await;
    let body = json!({"type": "product.renamed", "data": {"product_id": PRODUCT, "name": "Tomatoes"}});
    let delivery = Delivery::signed("msg_renamed", body.to_string());

    app.deliver(&delivery).await.assert_ack("ignored");
    assert_eq!(app.stock(PRODUCT).await, before);
}

#[tokio::test]
async fn a_signed_body_that_is_not_a_valid_event_is_400_malformed_body() {
    let (_world, app) = in_memory(Settings::for_tests()).await;
    let bodies = [
        "{not json".to_owned(),
        "[]".to_owned(),
        json!({"data": {"product_id": PRODUCT, "delta": 1}}).to_string(),
        json!({"type": "product.stock_adjusted", "data": {"product_id": PRODUCT}}).to_string(),
        json!({"type": "product.stock_adjusted", "data": {"product_id": PRODUCT, "delta": 0}}).to_string(),
        json!({"type": "product.stock_adjusted", "data": {"product_id": 0, "delta": 1}}).to_string(),
        json!({"type": "product.price_updated", "data": {"product_id": PRODUCT, "price_paise": 100}}).to_string(),
        json!({"type": "product.price_updated",
               "data": {"product_id": PRODUCT, "price_paise": -1, "effective_at": "2026-01-01T00:00:00Z"}})
        .to_string(),
    ];

    for (n, body) in bodies.iter().enumerate() {
        let reply = app.deliver(&Delivery::signed(&format!("msg_malformed_{n}"), body.as_str())).await;
        reply.assert_problem(400, "malformed_body");
    }
    // Verification comes before parsing: the same garbage unsigned is a 401.
    let mut unsigned = Delivery::signed("msg_unsigned", "{not json");
    unsigned.signature = "v1,AAAA".to_owned();
    app.deliver(&unsigned).await.assert_problem(401, "invalid_signature");
}

// A signed but absurd event is refused as malformed before its id is claimed: nothing changes, the id is not
// recorded, and the corrected event sent again under the same id is processed.

in_both_worlds!(a_delta_of_i64_min_is_400_changes_nothing_and_the_corrected_redelivery_applies);
async fn a_delta_of_i64_min_is_400_changes_nothing_and_the_corrected_redelivery_applies(world: &World, app: &TestApp) {
    let before = app.stock(PRODUCT).await;

    let absurd = app.deliver(&Delivery::stock("msg_i64_min", PRODUCT, i64::MIN)).await;
    let unchanged = app.stock(PRODUCT).await;
    let corrected = app.deliver(&Delivery::stock("msg_i64_min", PRODUCT, 2)).await;

    absurd.assert_problem(400, "malformed_body");
    assert_eq!(unchanged, before, "{}: the stock is not zeroed", world.name);
    corrected.assert_ack("processed");
    assert_eq!(app.stock(PRODUCT).await, before + 2, "{}", world.name);
}

in_both_worlds!(a_repeated_key_is_400_changes_nothing_and_the_corrected_redelivery_applies);
async fn a_repeated_key_is_400_changes_nothing_and_the_corrected_redelivery_applies(world: &World, app: &TestApp) {
    let before = app.stock(PRODUCT).await;
    let repeated =
        format!(r#"{{"type":"product.stock_adjusted","data":{{"product_id":{PRODUCT},"delta":4,"delta":-{before}}}}}"#);

    let ambiguous = app.deliver(&Delivery::signed("msg_repeated_key", repeated)).await;
    let unchanged = app.stock(PRODUCT).await;
    let corrected = app.deliver(&Delivery::stock("msg_repeated_key", PRODUCT, 4)).await;

    ambiguous.assert_problem(400, "malformed_body");
    assert_eq!(unchanged, before, "{}: neither value of the repeated key applied", world.name);
    corrected.assert_ack("processed");
    assert_eq!(app.stock(PRODUCT).await, before + 4, "{}", world.name);
}

in_both_worlds!(a_price_effective_far_ahead_is_400_and_does_not_freeze_the_price);
async fn a_price_effective_far_ahead_is_400_and_does_not_freeze_the_price(world: &World, app: &TestApp) {
    let before = app.product(PRODUCT).await["price_paise"].clone();
    let now = Utc::now();
    let year_9999 = "9999-12-31T23:59:59Z".parse().expect("a valid date");

    let far_ahead = app.deliver(&Delivery::price("msg_price_9999", PRODUCT, 1_234, year_9999)).await;
    let next_year = app.deliver(&Delivery::price("msg_price_next_year", PRODUCT, 1_234, now + Days::new(365))).await;
    let unchanged = app.product(PRODUCT).await["price_paise"].clone();
    let corrected = app.deliver(&Delivery::price("msg_price_9999", PRODUCT, 4_321, now)).await;
    let shown_after_correction = app.product(PRODUCT).await["price_paise"].clone();
    let later = app.deliver(&Delivery::price("msg_price_later", PRODUCT, 5_555, now + TimeDelta::seconds(1))).await;

    far_ahead.assert_problem(400, "malformed_body");
    next_year.assert_problem(400, "malformed_body");
    assert_eq!(unchanged, before, "{}: the price is unchanged", world.name);
    corrected.assert_ack("processed");
    assert_eq!(shown_after_correction, 4_321, "{}", world.name);
    later.assert_ack("processed");
    assert_eq!(app.product(PRODUCT).await["price_paise"], 5_555, "{}: later updates still apply", world.name);
}

/// A stock event padded with trailing whitespace (still valid JSON) to exactly `len` bytes.
fn padded_stock_body(len: usize) -> Vec<u8> {
    let mut body =
        json!({"type": "product.stock_adjusted", "data": {"product_id": PRODUCT, "delta": 1}}).to_string().into_bytes();
    body.resize(len, b' ');
    body
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_with_or_without_content_length() {
    let (_world, app) = in_memory(Settings::for_tests()).await;
    let before = app.stock(PRODUCT).await;
    let oversize = Delivery::signed("msg_oversize", padded_stock_body(LIMIT + 1));
    let mut with_length = oversize.headers();
    with_length.push(("content-length", oversize.body.len().to_string()));
    let stream = || Body::from_async_read(std::io::Cursor::new(oversize.body.clone()));

    let declared = app.post_webhook(&with_length, Body::from_vec(oversize.body.clone())).await;
    let chunked = app.post_webhook(&oversize.headers(), stream()).await;

    declared.assert_problem(413, "payload_too_large");
    chunked.assert_problem(413, "payload_too_large");
    assert_eq!(app.stock(PRODUCT).await, before);
}

#[tokio::test]
async fn a_body_of_exactly_64_kib_is_accepted() {
    let (_world, app) = in_memory(Settings::for_tests()).await;
    let fits = Delivery::signed("msg_fits", padded_stock_body(LIMIT));
    let mut with_length = fits.headers();
    with_length.push(("content-length", fits.body.len().to_string()));
    let chunked = Delivery::signed("msg_fits_chunked", padded_stock_body(LIMIT));

    app.post_webhook(&with_length, Body::from_vec(fits.body.clone())).await.assert_ack("processed");
    let stream = Body::from_async_read(std::io::Cursor::new(chunked.body.clone()));
    app.post_webhook(&chunked.headers(), stream).await.assert_ack("processed");
}

// ---- rate limit ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_is_not_rate_limited() {
    let world = World::memory(PRODUCTS).configure(|settings| settings.policy.rate_limit_per_minute = 1);
    let app = world.app(Run::OnPort).await;
    let deliver = |n: u32| Delivery::stock(&format!("msg_unlimited_{n}"), PRODUCT, 1);

    let mut webhooks = Vec::new();
    for n in 0..5 {
        webhooks.push(app.deliver(&deliver(n)).await);
    }
    let first_get = app.get("/products?limit=1").await;
    let second_get = app.get("/products?limit=1").await;
    let webhook_after = app.deliver(&deliver(5)).await;
    app.shut_down().await.expect("the server task ends").expect("the server stops cleanly");

    for reply in webhooks.iter().chain([&webhook_after]) {
        assert_eq!((reply.status.as_u16(), reply.header("ratelimit-limit").is_some()), (200, false), "{reply:?}");
        assert!(reply.text().contains("processed"), "{reply:?}");
    }
    let first_get_limited = first_get.header("ratelimit-limit").is_some();
    assert_eq!((first_get.status.as_u16(), first_get_limited), (200, true), "webhooks took no budget");
    assert_eq!(second_get.status, 429, "the limit of 1 a minute is on: {second_get:?}");
}
