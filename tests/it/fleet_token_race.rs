//! The fleet's first token race end to end: two fresh instances wired as production wires them on one Redis
//! (cache, token store, rate limiter and webhook ledger on a pool per instance), partner A and its OAuth2 server
//! the sandbox over HTTP, and 200 delivery estimates released together by a barrier. The partner must issue
//! exactly one token, every round.

use std::sync::Arc;

use farmlokal::adapters::redis::{RedisCache, RedisEventLedger, RedisRateLimiter, RedisTokenStore};
use farmlokal::adapters::sandbox::SandboxHandle;
use farmlokal::startup::Settings;
use tokio::sync::Barrier;

use crate::harness::partners::{http_adapters, start_sandbox};
use crate::harness::{servers, Run, TestApp, World};

const ROUNDS: usize = 10;
const ESTIMATES: usize = 200;

/// A fresh instance on `prefix` of the test Redis, with a pool of its own, its partner the sandbox.
async fn instance(sandbox: &SandboxHandle, prefix: &str) -> TestApp {
    let mut settings = Settings::for_tests();
    // Limited, as in production, so every request also runs the rate-limit script on the instance's pool;
    // high enough that no estimate is refused.
    settings.policy.rate_limit_per_minute = 100_000;
    let (provider, partner) = http_adapters(sandbox, settings.policy.partner_retry.attempt_timeout);
    let pool = farmlokal::adapters::redis::pool(&servers::redis_url()).await.expect("a valid Redis URL");
    let builder = World::memory(0)
        .with_settings(settings)
        .builder()
        .cache(Arc::new(RedisCache::new(pool.clone(), prefix)))
        .token_store(Arc::new(RedisTokenStore::new(pool.clone(), prefix)))
        .rate_limiter(Arc::new(RedisRateLimiter::new(pool.clone(), prefix)))
        .event_ledger(Arc::new(RedisEventLedger::new(pool, prefix)))
        .token_provider(provider)
        .partner_a(partner);
    TestApp::start(builder, Run::InProcess).await
}

/// `ESTIMATES` estimates released together, alternating between the two instances, for distinct pincodes.
async fn first_estimates(instances: [TestApp; 2]) {
    let barrier = Arc::new(Barrier::new(ESTIMATES));
    let tasks: Vec<_> = (0..ESTIMATES)
        .map(|i| {
            let app = instances[i % 2].clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                app.estimate(&format!("{}", 560_001 + i)).await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("the estimate task ends");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_first_estimates_across_two_fresh_instances_on_one_redis_fetch_one_token() {
    let test = "two_hundred_first_estimates_across_two_fresh_instances_on_one_redis_fetch_one_token";
    let mut issued = Vec::new();
    for _ in 0..ROUNDS {
        let Some(prefix) = servers::fresh_redis_prefix(test).await else { return };
        let sandbox = start_sandbox().await;
        let instances = [instance(&sandbox, &prefix).await, instance(&sandbox, &prefix).await];

        first_estimates(instances).await;

        issued.push(sandbox.tokens_issued());
        sandbox.stop().await;
        servers::delete_prefix(&prefix).await;
    }

    assert_eq!(issued, vec![1; ROUNDS], "tokens the partner issued, per round");
}
