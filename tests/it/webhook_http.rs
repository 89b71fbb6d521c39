//! `POST /webhooks/partner-b` over the real HTTP stack (DESIGN §2): Standard Webhooks signatures, secret
//! rotation, the answers for bodies of the wrong shape, size, product or type, and no rate limit. Behaviours
//! that touch storage run in memory and on MySQL + Redis (see `webhook_world`); exactly-once behaviours live in
//! `webhook_exactly_once`.

use chrono::Utc;
use farmlokal::startup::Application;
use poem::Body;
use serde_json::json;
use tokio::sync::oneshot;

use crate::webhook_world::{
    deliver_blocking, get_blocking, in_both_worlds, secret, test_settings, ureq_agent, Delivery, World, LIMIT,
    NEW_SECRET, NO_SUCH_PRODUCT, PRODUCT, SECRET,
};

// ---- signatures -------------------------------------------------------------------------------------------

in_both_worlds!(a_first_delivery_is_processed_and_a_redelivery_is_a_duplicate, crate::webhook_world::test_settings());
async fn a_first_delivery_is_processed_and_a_redelivery_is_a_duplicate(world: &mut World) {
    let before = world.http.stock(PRODUCT).await;
    let delivery = Delivery::stock("msg_first", PRODUCT, 5);

    let first = world.http.deliver(&delivery).await;
    let again = world.http.deliver(&delivery).await;

    first.assert_ack("processed");
    again.assert_ack("duplicate");
    assert_eq!(world.http.stock(PRODUCT).await, before + 5, "{}: the stock changed once", world.name);
}

in_both_worlds!(
    a_changed_body_timestamp_or_signature_is_refused_and_records_nothing,
    crate::webhook_world::test_settings()
);
async fn a_changed_body_timestamp_or_signature_is_refused_and_records_nothing(world: &mut World) {
    let before = world.http.stock(PRODUCT).await;
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
        world.http.deliver(delivery).await.assert_problem(401, "invalid_signature");
    }
    let unchanged = world.http.stock(PRODUCT).await;
    let genuine_reply = world.http.deliver(&genuine).await;

    assert_eq!(unchanged, before, "{}: a refused delivery changes nothing", world.name);
    genuine_reply.assert_ack("processed");
    assert_eq!(world.http.stock(PRODUCT).await, before + 3, "{}: only the genuine delivery applied", world.name);
}

#[tokio::test]
async fn a_timestamp_six_minutes_old_or_ahead_is_refused_and_one_within_five_minutes_accepted() {
    let world = World::memory(test_settings());
    let now = Utc::now().timestamp();
    let body = Delivery::stock("unused", PRODUCT, 1).body;
    let at = |id: &str, timestamp: i64| Delivery::signed_at(&secret(SECRET), id, timestamp, body.clone());

    let old = world.http.deliver(&at("msg_old", now - 360)).await;
    let ahead = world.http.deliver(&at("msg_ahead", now + 360)).await;
    let recent = world.http.deliver(&at("msg_recent", now - 240)).await;

    old.assert_problem(401, "invalid_signature");
    ahead.assert_problem(401, "invalid_signature");
    recent.assert_ack("processed");
}

#[tokio::test]
async fn a_delivery_missing_any_signature_header_is_refused() {
    let world = World::memory(test_settings());
    let before = world.http.stock(PRODUCT).await;
    let delivery = Delivery::stock("msg_headers", PRODUCT, 1);

    for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let headers: Vec<_> = delivery.headers().into_iter().filter(|(name, _)| *name != missing).collect();
        let reply = world.http.post(&headers, Body::from_vec(delivery.body.clone())).await;
        reply.assert_problem(401, "invalid_signature");
    }
    let bare = world.http.post(&[("content-type", "application/json".to_owned())], Body::from_vec(delivery.body)).await;

    bare.assert_problem(401, "invalid_signature");
    assert_eq!(world.http.stock(PRODUCT).await, before);
}

#[tokio::test]
async fn with_two_secrets_configured_a_message_signed_by_either_verifies() {
    let mut settings = test_settings();
    settings.webhook_secrets = vec![secret(SECRET), secret(NEW_SECRET)];
    let world = World::memory(settings);
    let now = Utc::now().timestamp();
    let body = |delta: i64| Delivery::stock("unused", PRODUCT, delta).body;
    let by_old = Delivery::signed_at(&secret(SECRET), "msg_old_secret", now, body(1));
    let by_new = Delivery::signed_at(&secret(NEW_SECRET), "msg_new_secret", now, body(2));
    let mut both = Delivery::signed_at(&secret(NEW_SECRET), "msg_both", now, body(3));
    both.signature = format!("v1,c29tZXRoaW5nIGVsc2U= {}", both.signature);
    let stranger = "whsec_dW5rbm93bi1zZW5kZXItc2VjcmV0LWtleQ==";
    let by_stranger = Delivery::signed_at(&secret(stranger), "msg_stranger", now, body(4));

    world.http.deliver(&by_old).await.assert_ack("processed");
    world.http.deliver(&by_new).await.assert_ack("processed");
    world.http.deliver(&both).await.assert_ack("processed");
    world.http.deliver(&by_stranger).await.assert_problem(401, "invalid_signature");
}

// ---- bodies -----------------------------------------------------------------------------------------------

in_both_worlds!(an_unknown_product_is_422_and_nothing_is_recorded, crate::webhook_world::test_settings());
async fn an_unknown_product_is_422_and_nothing_is_recorded(world: &mut World) {
    let delivery = Delivery::stock("msg_unknown_product", NO_SUCH_PRODUCT, 4);

    let first = world.http.deliver(&delivery).await;
    let retry = world.http.deliver(&delivery).await;

    first.assert_problem(422, "unknown_product");
    // Neither `duplicate` (nothing was recorded) nor 409 (the claim was released).
    retry.assert_problem(422, "unknown_product");
}

in_both_worlds!(an_unknown_event_type_is_acknowledged_as_ignored, crate::webhook_world::test_settings());
async fn an_unknown_event_type_is_acknowledged_as_ignored(world: &mut World) {
    let before = world.http.stock(PRODUCT).await;
    let body = json!({"type": "product.renamed", "data": {"product_id": PRODUCT, "name": "Tomatoes"}});
    let delivery = Delivery::signed("msg_renamed", body.to_string());

    world.http.deliver(&delivery).await.assert_ack("ignored");
    assert_eq!(world.http.stock(PRODUCT).await, before);
}

#[tokio::test]
async fn a_signed_body_that_is_not_a_valid_event_is_400_malformed_body() {
    let world = World::memory(test_settings());
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
        let reply = world.http.deliver(&Delivery::signed(&format!("msg_malformed_{n}"), body.as_str())).await;
        reply.assert_problem(400, "malformed_body");
    }
    // Verification comes before parsing: the same garbage unsigned is a 401.
    let mut unsigned = Delivery::signed("msg_unsigned", "{not json");
    unsigned.signature = "v1,AAAA".to_owned();
    world.http.deliver(&unsigned).await.assert_problem(401, "invalid_signature");
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
    let world = World::memory(test_settings());
    let before = world.http.stock(PRODUCT).await;
    let oversize = Delivery::signed("msg_oversize", padded_stock_body(LIMIT + 1));
    let mut with_length = oversize.headers();
    with_length.push(("content-length", oversize.body.len().to_string()));
    let stream = || Body::from_async_read(std::io::Cursor::new(oversize.body.clone()));

    let declared = world.http.post(&with_length, Body::from_vec(oversize.body.clone())).await;
    let chunked = world.http.post(&oversize.headers(), stream()).await;

    declared.assert_problem(413, "payload_too_large");
    chunked.assert_problem(413, "payload_too_large");
    assert_eq!(world.http.stock(PRODUCT).await, before);
}

#[tokio::test]
async fn a_body_of_exactly_64_kib_is_accepted() {
    let world = World::memory(test_settings());
    let fits = Delivery::signed("msg_fits", padded_stock_body(LIMIT));
    let mut with_length = fits.headers();
    with_length.push(("content-length", fits.body.len().to_string()));
    let chunked = Delivery::signed("msg_fits_chunked", padded_stock_body(LIMIT));

    world.http.post(&with_length, Body::from_vec(fits.body.clone())).await.assert_ack("processed");
    let stream = Body::from_async_read(std::io::Cursor::new(chunked.body.clone()));
    world.http.post(&chunked.headers(), stream).await.assert_ack("processed");
}

// ---- rate limit ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_is_not_rate_limited() {
    let world = World::memory(test_settings());
    let mut builder = world.another_instance().await;
    builder.settings_mut().rate_limit_per_minute = 1;
    let bind = "127.0.0.1:0".parse().expect("a valid address");
    let app = Application::from_builder(builder, bind).await.expect("binding port 0");
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));

    let (webhooks, first_get, second_get, webhook_after) = tokio::task::spawn_blocking(move || {
        let agent = ureq_agent();
        let deliver =
            |n: u32| deliver_blocking(&agent, &base, &Delivery::stock(&format!("msg_unlimited_{n}"), PRODUCT, 1));
        let webhooks: Vec<_> = (0..5).map(deliver).collect();
        let first_get = get_blocking(&agent, &base, "/products?limit=1");
        let second_get = get_blocking(&agent, &base, "/products?limit=1");
        (webhooks, first_get, second_get, deliver(5))
    })
    .await
    .expect("the client thread ends");
    let _ = stop.send(());
    server.await.expect("the server task ends").expect("the server stops cleanly");

    for answer in webhooks.iter().chain([&webhook_after]) {
        assert_eq!((answer.status, answer.rate_limited_headers), (200, false), "{answer:?}");
        assert!(answer.body.contains("processed"), "{answer:?}");
    }
    assert_eq!((first_get.status, first_get.rate_limited_headers), (200, true), "webhooks took no budget");
    assert_eq!(second_get.status, 429, "the limit of 1 a minute is on: {second_get:?}");
}
