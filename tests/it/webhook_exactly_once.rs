//! One `webhook-id` takes effect exactly once (DESIGN §2, §5): for concurrent duplicates, after the ledger is
//! flushed, across two service instances, and after a failure mid-processing; plus the effects themselves
//! (older prices lose, stock stays at or above zero, the listing cache catches up within its TTL).

use std::time::{Duration, Instant};

use chrono::{DurationRound, TimeDelta, Utc};
use poem::http::StatusCode;
use serde_json::Value;
use tokio::sync::Barrier;

use crate::harness::partners::{Delivery, PRODUCT};
use crate::harness::wait::poll_until;
use crate::harness::world::PRODUCTS;
use crate::harness::{in_both_worlds, Reply, Run, TestApp, World};

/// Counts the answers to concurrent deliveries of one message and checks each is an allowed one.
#[track_caller]
fn tally(world: &World, answers: &[(u16, String)]) -> (usize, usize, usize) {
    let (mut processed, mut duplicate, mut in_flight) = (0, 0, 0);
    for (status, body) in answers {
        let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        match (status, json["status"].as_str(), json["code"].as_str()) {
            (200, Some("processed"), _) => processed += 1,
            (200, Some("duplicate"), _) => duplicate += 1,
            (409, _, Some("in_flight")) => in_flight += 1,
            _ => panic!("{}: unexpected answer {status} {body}", world.name),
        }
    }
    (processed, duplicate, in_flight)
}

fn as_answer(reply: &Reply) -> (u16, String) {
    (reply.status.as_u16(), String::from_utf8_lossy(&reply.body).into_owned())
}

in_both_worlds!(fifty_concurrent_deliveries_of_one_event_change_the_stock_once);
async fn fifty_concurrent_deliveries_of_one_event_change_the_stock_once(world: &World, app: &TestApp) {
    const DELIVERIES: usize = 50;
    let before = app.stock(PRODUCT).await;
    let delivery = Delivery::stock("msg_concurrent", PRODUCT, 7);
    let barrier = std::sync::Arc::new(Barrier::new(DELIVERIES));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..DELIVERIES {
        let (app, delivery, barrier) = (app.clone(), delivery.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            as_answer(&app.deliver(&delivery).await)
        });
    }

    let answers = tasks.join_all().await;

    let (processed, duplicate, in_flight) = tally(world, &answers);
    assert_eq!(
        processed, 1,
        "{}: exactly one delivery processes ({duplicate} duplicate, {in_flight} in flight)",
        world.name
    );
    assert_eq!(app.stock(PRODUCT).await, before + 7, "{}: the stock changed once", world.name);
    app.deliver(&delivery).await.assert_ack("duplicate");
}

in_both_worlds!(a_redelivery_after_the_ledger_is_flushed_changes_nothing_and_is_a_duplicate);
async fn a_redelivery_after_the_ledger_is_flushed_changes_nothing_and_is_a_duplicate(world: &World, app: &TestApp) {
    let before = app.stock(PRODUCT).await;
    let delivery = Delivery::stock("msg_flushed", PRODUCT, 4);
    app.deliver(&delivery).await.assert_ack("processed");

    world.flush_ledger().await;
    let redelivered = app.deliver(&delivery).await;

    redelivered.assert_ack("duplicate");
    assert_eq!(app.stock(PRODUCT).await, before + 4, "{}: the stock changed once", world.name);
}

in_both_worlds!(two_instances_sharing_storage_apply_one_event_once);
async fn two_instances_sharing_storage_apply_one_event_once(world: &World, app: &TestApp) {
    const PER_INSTANCE: usize = 10;
    let before = app.stock(PRODUCT).await;
    let delivery = Delivery::stock("msg_two_instances", PRODUCT, 9);
    let instances = [world.another_instance(Run::OnPort).await, world.another_instance(Run::OnPort).await];
    let barrier = std::sync::Arc::new(Barrier::new(2 * PER_INSTANCE));
    let mut senders = tokio::task::JoinSet::new();
    for n in 0..2 * PER_INSTANCE {
        let (instance, delivery, barrier) = (instances[n % 2].clone(), delivery.clone(), barrier.clone());
        senders.spawn(async move {
            barrier.wait().await;
            as_answer(&instance.deliver(&delivery).await)
        });
    }

    let answers = senders.join_all().await;

    for instance in &instances {
        instance.shut_down().await.expect("the server task ends").expect("the server stops cleanly");
    }
    let (processed, duplicate, in_flight) = tally(world, &answers);
    assert_eq!(processed, 1, "{}: one instance processes ({duplicate} duplicate, {in_flight} in flight)", world.name);
    assert_eq!(app.stock(PRODUCT).await, before + 9, "{}: the stock changed once", world.name);
}

#[tokio::test]
async fn a_failure_while_applying_releases_the_claim_so_the_next_delivery_succeeds() {
    let world = World::memory(PRODUCTS);
    let app = world.app(Run::InProcess).await;
    let before = app.stock(PRODUCT).await;
    let delivery = Delivery::stock("msg_after_failure", PRODUCT, 6);
    world.memory_catalogue().faults().fail_next(1);

    let failed = app.deliver(&delivery).await;
    let unchanged = app.stock(PRODUCT).await;
    let retried = app.deliver(&delivery).await;
    let again = app.deliver(&delivery).await;

    let problem = failed.assert_problem(503, "service_unavailable");
    let retry_after = failed.header("retry-after").expect("a 503 carries Retry-After");
    assert!(retry_after.parse::<u64>().is_ok_and(|s| s > 0), "whole seconds: {retry_after}");
    assert!(!problem.to_string().contains("injected"), "no internals in {problem}");
    assert_eq!(unchanged, before, "nothing applied by the failed delivery");
    retried.assert_ack("processed");
    again.assert_ack("duplicate");
    assert_eq!(app.stock(PRODUCT).await, before + 6, "the stock changed once");
}

in_both_worlds!(an_older_price_update_is_recorded_but_does_not_overwrite_a_newer_one);
async fn an_older_price_update_is_recorded_but_does_not_overwrite_a_newer_one(world: &World, app: &TestApp) {
    let now = Utc::now().duration_trunc(TimeDelta::seconds(1)).expect("whole seconds");
    let (t1, t2) = (now - TimeDelta::minutes(2), now - TimeDelta::minutes(1));

    app.deliver(&Delivery::price("msg_price_newer", PRODUCT, 7_700, t2)).await.assert_ack("processed");
    let older = app.deliver(&Delivery::price("msg_price_older", PRODUCT, 1_100, t1)).await;
    let shown = app.product(PRODUCT).await;
    app.deliver(&Delivery::price("msg_price_newest", PRODUCT, 8_800, now)).await.assert_ack("processed");

    older.assert_ack("processed");
    assert_eq!(shown["price_paise"], 7_700, "{}: the newer price stays", world.name);
    assert_eq!(app.product(PRODUCT).await["price_paise"], 8_800, "{}: a newer one still wins", world.name);
}

in_both_worlds!(stock_never_goes_below_zero);
async fn stock_never_goes_below_zero(world: &World, app: &TestApp) {
    let before = app.stock(PRODUCT).await;
    let too_many = i64::try_from(before).expect("sample stock is small") + 10;

    app.deliver(&Delivery::stock("msg_drain", PRODUCT, -too_many)).await.assert_ack("processed");
    let drained = app.stock(PRODUCT).await;
    app.deliver(&Delivery::stock("msg_refill", PRODUCT, 5)).await.assert_ack("processed");

    assert_eq!(drained, 0, "{}: stock stops at zero", world.name);
    assert_eq!(app.stock(PRODUCT).await, 5, "{}: and counts up from there", world.name);
}

/// The stock of `PRODUCT` in a listing narrowed to its category and price, with the `X-Cache` answer.
async fn listed_stock(app: &TestApp, path: &str) -> (Option<u64>, String) {
    let reply = app.get(path).await;
    assert_eq!(reply.status, StatusCode::OK, "GET {path}");
    let stock = reply.json()["data"]
        .as_array()
        .and_then(|items| items.iter().find(|p| p["id"] == PRODUCT))
        .and_then(|p| p["stock"].as_u64());
    (stock, reply.header("x-cache").unwrap_or_default().to_owned())
}

in_both_worlds!(
    the_listing_shows_a_stock_change_within_the_cache_ttl,
    super::settings_with_cache_ttl(std::time::Duration::from_secs(1))
);
async fn the_listing_shows_a_stock_change_within_the_cache_ttl(world: &World, app: &TestApp) {
    let product = app.product(PRODUCT).await;
    let before = product["stock"].as_u64().expect("a stock");
    let (category, price) = (product["category"].as_str().expect("a category"), &product["price_paise"]);
    let path = format!("/products?category={category}&min_price={price}&max_price={price}&limit=100");
    let (listed, _) = listed_stock(app, &path).await;
    let (cached, x_cache) = listed_stock(app, &path).await;
    assert_eq!((listed, cached, x_cache.as_str()), (Some(before), Some(before), "HIT"), "{}: cached", world.name);

    app.deliver(&Delivery::stock("msg_listing", PRODUCT, 11)).await.assert_ack("processed");
    let delivered = Instant::now();
    let single = app.stock(PRODUCT).await;
    let seen = poll_until(delivered + Duration::from_millis(1_500), Duration::from_millis(50), || async {
        let (stock, _) = listed_stock(app, &path).await;
        (stock == Some(before + 11)).then(|| delivered.elapsed())
    })
    .await;

    assert_eq!(single, before + 11, "{}: GET /products/{{id}} shows the change at once", world.name);
    assert!(seen.is_some(), "{}: the listing still shows stock {before} 1.5 s after the change", world.name);
}

/// The test settings with another listing-cache TTL.
fn settings_with_cache_ttl(ttl: Duration) -> farmlokal::startup::Settings {
    let mut settings = farmlokal::startup::Settings::for_tests();
    settings.policy.cache_ttl = ttl;
    settings
}
