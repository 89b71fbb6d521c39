//! The `EventLedger` contract, checked against the in-memory and the Redis adapter, on one Redis server and on a
//! Redis Cluster.

use std::sync::Arc;
use std::time::Duration;

use farmlokal::adapters::memory::event_ledger::MemoryEventLedger;
use farmlokal::adapters::redis::{self as redis_adapters, RedisEventLedger};
use farmlokal::domain::webhook::WebhookId;
use farmlokal::ports::{Claim, EventLedger, LedgerError};
use tokio::sync::Barrier;

use crate::harness::servers::{self, RedisTopology};
use crate::harness::wait::within_two_seconds;

fn id(raw: &str) -> WebhookId {
    WebhookId::parse(raw).expect("a valid test webhook id")
}

/// Everything the `EventLedger` port promises: claim, complete and release transitions, and expiry.
async fn event_ledger_contract(ledger: &dyn EventLedger) {
    let (lease, keep) = (Duration::from_secs(30), Duration::from_secs(60));
    let msg = id("msg_1");

    // A first claim is acquired; while it is held others see InFlight.
    assert_eq!(ledger.claim(&msg, lease).await.expect("claim"), Claim::Acquired);
    assert_eq!(ledger.claim(&msg, lease).await.expect("claim"), Claim::InFlight);
    assert_eq!(ledger.claim(&id("msg_other"), lease).await.expect("claim"), Claim::Acquired, "ids are independent");

    // Release drops the claim so a retry can process it.
    ledger.release(&msg).await.expect("release");
    assert_eq!(ledger.claim(&msg, lease).await.expect("claim"), Claim::Acquired);

    // Complete marks it done and drops the claim; release then leaves the done marker untouched.
    ledger.complete(&msg, keep).await.expect("complete");
    assert_eq!(ledger.claim(&msg, lease).await.expect("claim"), Claim::Done);
    ledger.release(&msg).await.expect("release after complete");
    assert_eq!(ledger.claim(&msg, lease).await.expect("claim"), Claim::Done);
    ledger.release(&id("msg_never_seen")).await.expect("releasing an unclaimed id succeeds");

    // A claim ends with its lease, so a crashed holder never blocks the id for good.
    let crashed = id("msg_crashed");
    assert_eq!(ledger.claim(&crashed, Duration::from_millis(250)).await.expect("claim"), Claim::Acquired);
    assert_eq!(ledger.claim(&crashed, lease).await.expect("claim"), Claim::InFlight);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(ledger.claim(&crashed, lease).await.expect("claim"), Claim::Acquired, "claimable after the lease");

    // The done marker lasts `keep`, then the id is claimable again (the durable record is elsewhere).
    let brief = id("msg_brief");
    assert_eq!(ledger.claim(&brief, lease).await.expect("claim"), Claim::Acquired);
    ledger.complete(&brief, Duration::from_millis(250)).await.expect("complete");
    assert_eq!(ledger.claim(&brief, lease).await.expect("claim"), Claim::Done);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(ledger.claim(&brief, lease).await.expect("claim"), Claim::Acquired);
}

/// Concurrent deliveries of one webhook id: exactly one is acquired, the others are in flight.
async fn concurrent_claims_acquire_once(ledger: Arc<dyn EventLedger>) {
    let deliveries = 50;
    let barrier = Arc::new(Barrier::new(deliveries));
    let tasks: Vec<_> = (0..deliveries)
        .map(|_| {
            let (ledger, barrier) = (ledger.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                ledger.claim(&id("msg_race"), Duration::from_secs(30)).await.expect("claim")
            })
        })
        .collect();
    let mut claims = Vec::new();
    for task in tasks {
        claims.push(task.await.expect("task"));
    }
    assert_eq!(claims.iter().filter(|c| **c == Claim::Acquired).count(), 1);
    assert_eq!(claims.iter().filter(|c| **c == Claim::InFlight).count(), deliveries - 1);
}

async fn redis_ledger(test: &str, topology: RedisTopology) -> Option<RedisEventLedger> {
    let (pool, prefix) = servers::fresh_redis(test, topology).await?;
    Some(RedisEventLedger::new(pool, &prefix))
}

#[tokio::test]
async fn the_memory_ledger_honours_the_event_ledger_contract() {
    event_ledger_contract(&MemoryEventLedger::new()).await;
}

#[tokio::test]
async fn the_redis_ledger_honours_the_event_ledger_contract() {
    let Some(ledger) = redis_ledger("the_redis_ledger_honours_the_event_ledger_contract", RedisTopology::Node).await
    else {
        return;
    };
    event_ledger_contract(&ledger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_deliveries_of_one_id_acquire_the_memory_ledger_once() {
    concurrent_claims_acquire_once(Arc::new(MemoryEventLedger::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_deliveries_of_one_id_acquire_the_redis_ledger_once() {
    let test = "fifty_concurrent_deliveries_of_one_id_acquire_the_redis_ledger_once";
    let Some(ledger) = redis_ledger(test, RedisTopology::Node).await else { return };
    concurrent_claims_acquire_once(Arc::new(ledger)).await;
}

#[tokio::test]
async fn the_redis_ledger_on_a_cluster_honours_the_event_ledger_contract() {
    let test = "the_redis_ledger_on_a_cluster_honours_the_event_ledger_contract";
    let Some(ledger) = redis_ledger(test, RedisTopology::Cluster).await else { return };
    event_ledger_contract(&ledger).await;
}

#[tokio::test]
async fn ids_with_braces_keep_their_claim_and_done_marker_in_one_cluster_slot() {
    let test = "ids_with_braces_keep_their_claim_and_done_marker_in_one_cluster_slot";
    let Some(ledger) = redis_ledger(test, RedisTopology::Cluster).await else { return };
    for raw in ["}x", "a{b}c", "{}", "x}{y"] {
        let msg = id(raw);
        assert_eq!(ledger.claim(&msg, Duration::from_secs(30)).await.expect("claim"), Claim::Acquired, "{raw}");
        ledger.complete(&msg, Duration::from_secs(60)).await.expect("complete");
        assert_eq!(ledger.claim(&msg, Duration::from_secs(30)).await.expect("claim"), Claim::Done, "{raw}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_deliveries_of_one_id_acquire_the_redis_ledger_on_a_cluster_once() {
    let test = "fifty_concurrent_deliveries_of_one_id_acquire_the_redis_ledger_on_a_cluster_once";
    let Some(ledger) = redis_ledger(test, RedisTopology::Cluster).await else { return };
    concurrent_claims_acquire_once(Arc::new(ledger)).await;
}

#[tokio::test]
async fn the_memory_ledger_is_unavailable_while_faults_are_injected() {
    let ledger = MemoryEventLedger::new();
    ledger.faults().fail_next(1);
    let msg = id("msg_1");
    assert!(matches!(ledger.claim(&msg, Duration::from_secs(1)).await, Err(LedgerError::Unavailable(_))));
    assert_eq!(ledger.claim(&msg, Duration::from_secs(1)).await.expect("claim"), Claim::Acquired);
}

#[tokio::test]
async fn the_redis_ledger_is_unavailable_within_two_seconds_when_redis_is_unreachable() {
    let pool = redis_adapters::pool("redis://127.0.0.1:1").await.expect("building the pool does not connect");
    let ledger = RedisEventLedger::new(pool, "farmlokal:");
    let msg = id("msg_1");
    assert!(matches!(
        within_two_seconds(ledger.claim(&msg, Duration::from_secs(1))).await,
        Err(LedgerError::Unavailable(_))
    ));
    assert!(matches!(
        within_two_seconds(ledger.complete(&msg, Duration::from_secs(1))).await,
        Err(LedgerError::Unavailable(_))
    ));
    assert!(matches!(within_two_seconds(ledger.release(&msg)).await, Err(LedgerError::Unavailable(_))));
}
