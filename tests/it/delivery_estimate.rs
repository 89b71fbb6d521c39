//! The delivery-estimate use case over the real HTTP adapters and the sandbox (and over the in-memory partner
//! where only the breaker matters): single token fetch under load, 401 renewal, retries, stale answers, the
//! breaker, and no retries for 4xx.

use std::sync::Arc;
use std::time::{Duration, Instant};

use farmlokal::adapters::memory::clock::ManualClock;
use farmlokal::adapters::memory::partner_a::MemoryPartnerA;
use farmlokal::adapters::memory::token_provider::MemoryTokenProvider;
use farmlokal::adapters::memory::token_store::MemoryTokenStore;
use farmlokal::adapters::sandbox::SandboxHandle;
use farmlokal::adapters::system_clock::SystemClock;
use farmlokal::app::estimates::{DeliveryEstimates, EstimateError, EstimateSource};
use farmlokal::app::partner_metrics::{BreakerState, PartnerEvent, PartnerMetrics};
use farmlokal::app::tokens::{AccessTokens, TokenPolicy};
use farmlokal::domain::retry::{BreakerPolicy, RetryPolicy};
use farmlokal::domain::Pincode;
use farmlokal::ports::{Clock, PartnerAClient, TokenProvider};
use tokio::sync::Barrier;

use crate::harness::partners::{http_adapters, start_sandbox};

const DEADLINE: Duration = Duration::from_millis(800);
/// Scheduling slack on top of the deadline for "answers within the deadline".
const SLACK: Duration = Duration::from_millis(250);

fn retry_policy(attempt_timeout: Duration, deadline: Duration) -> RetryPolicy {
    RetryPolicy {
        initial_interval: Duration::from_millis(20),
        max_interval: Duration::from_millis(100),
        ..RetryPolicy::new(attempt_timeout, deadline)
    }
}

fn estimates(
    partner: Arc<dyn PartnerAClient>,
    tokens: AccessTokens,
    metrics: Arc<PartnerMetrics>,
    retry: RetryPolicy,
    breaker: BreakerPolicy,
    clock: Arc<dyn Clock>,
) -> Arc<DeliveryEstimates> {
    Arc::new(DeliveryEstimates::new(partner, tokens, retry, breaker, metrics, clock))
}

/// A token manager on `clock` with its own in-memory store.
fn tokens(
    provider: Arc<dyn TokenProvider>,
    policy: TokenPolicy,
    metrics: &Arc<PartnerMetrics>,
    clock: &Arc<dyn Clock>,
) -> AccessTokens {
    AccessTokens::new(provider, Arc::new(MemoryTokenStore::new()), policy, metrics.clone(), clock.clone())
}

/// The use case over the sandbox through the HTTP adapters.
fn over_sandbox(sandbox: &SandboxHandle) -> Arc<DeliveryEstimates> {
    let attempt = Duration::from_millis(300);
    let (provider, partner) = http_adapters(sandbox, attempt);
    let metrics = Arc::new(PartnerMetrics::default());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let tokens = tokens(provider, TokenPolicy::new(attempt), &metrics, &clock);
    let breaker = BreakerPolicy { failure_threshold: 10, open_for: Duration::from_secs(30) };
    estimates(partner, tokens, metrics, retry_policy(attempt, DEADLINE), breaker, clock)
}

fn pin(n: u32) -> Pincode {
    Pincode::parse(&(110_001 + n).to_string()).expect("valid pincode")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_estimates_with_an_empty_token_cache_make_one_token_request() {
    let sandbox = start_sandbox().await;
    let estimates = over_sandbox(&sandbox);
    let barrier = Arc::new(Barrier::new(200));

    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let (estimates, barrier) = (estimates.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                estimates.estimate(&pin(n)).await
            })
        })
        .collect();
    for task in tasks {
        let estimate = task.await.expect("task").expect("estimate");
        assert_eq!(estimate.source, EstimateSource::Live);
    }

    assert_eq!(sandbox.token_endpoint().requests(), 1);
    assert_eq!(estimates.metrics().count(PartnerEvent::TokenFetch), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_partner_request_carries_an_expired_token_while_tokens_expire_every_two_seconds() {
    let sandbox = start_sandbox().await;
    sandbox.set_token_lifetime(Duration::from_secs(2));
    let estimates = over_sandbox(&sandbox);
    let until = Instant::now() + Duration::from_millis(5500);

    let workers: Vec<_> = (0..8)
        .map(|w| {
            let estimates = estimates.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < until {
                    let estimate = estimates.estimate(&pin(w * 1000 + n % 50)).await.expect("estimate");
                    assert_eq!(estimate.source, EstimateSource::Live);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await.expect("worker");
    }

    assert!(total > 100, "under load: {total} estimates");
    assert_eq!(sandbox.partner_unauthorized(), 0);
    let issued = sandbox.tokens_issued();
    assert!((3..=6).contains(&issued), "about one token per lifetime, got {issued}");
}

#[tokio::test]
async fn a_401_leads_to_one_new_token_and_a_200() {
    let sandbox = start_sandbox().await;
    let estimates = over_sandbox(&sandbox);
    estimates.estimate(&pin(1)).await.expect("warm up");
    sandbox.revoke_all_tokens();

    let estimate = estimates.estimate(&pin(2)).await.expect("estimate");

    assert_eq!(estimate.source, EstimateSource::Live);
    assert_eq!(sandbox.tokens_issued(), 2);
    assert_eq!((sandbox.partner_unauthorized(), sandbox.partner().requests()), (1, 3));
}

#[tokio::test]
async fn a_partner_that_fails_twice_then_answers_gives_three_attempts_and_a_live_answer() {
    let sandbox = start_sandbox().await;
    let estimates = over_sandbox(&sandbox);
    sandbox.partner().fail_next(2, 503);

    let estimate = estimates.estimate(&pin(1)).await.expect("estimate");

    assert_eq!(estimate.source, EstimateSource::Live);
    assert_eq!(sandbox.partner().requests(), 3);
    let metrics = estimates.metrics();
    assert_eq!((metrics.count(PartnerEvent::Attempt), metrics.count(PartnerEvent::Retry)), (3, 2));
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let sandbox = start_sandbox().await;
    let attempt = Duration::from_millis(300);
    let (provider, partner) = http_adapters(&sandbox, attempt);
    let metrics = Arc::new(PartnerMetrics::default());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let tokens = tokens(provider, TokenPolicy::new(attempt), &metrics, &clock);
    let estimates = estimates(
        partner,
        tokens,
        metrics,
        retry_policy(attempt, Duration::from_millis(1800)),
        BreakerPolicy::default(),
        clock,
    );
    sandbox.partner().set_rate_limit(0.0, Duration::from_secs(1));
    sandbox.partner().fail_next(1, 429);

    let started = Instant::now();
    let estimate = estimates.estimate(&pin(1)).await.expect("estimate");

    assert_eq!(estimate.source, EstimateSource::Live);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(sandbox.partner().requests(), 2);
}

#[tokio::test]
async fn a_partner_that_is_down_gives_the_stale_answer_within_the_deadline() {
    let sandbox = start_sandbox().await;
    let estimates = over_sandbox(&sandbox);
    let live = estimates.estimate(&pin(1)).await.expect("live");
    sandbox.partner().set_error_rate(1.0);

    let started = Instant::now();
    let stale = estimates.estimate(&pin(1)).await.expect("stale");

    assert!(started.elapsed() < DEADLINE + SLACK, "{:?}", started.elapsed());
    assert_eq!(stale.source, EstimateSource::Stale);
    assert_eq!((stale.serviceability, stale.as_of), (live.serviceability, live.as_of));
    assert!(sandbox.partner().requests() > 2, "retried within the deadline");
}

#[tokio::test]
async fn a_slow_partner_with_no_stale_answer_is_unavailable_within_the_deadline() {
    let sandbox = start_sandbox().await;
    let estimates = over_sandbox(&sandbox);
    sandbox.partner().set_latency(Duration::from_secs(5));

    let started = Instant::now();
    let result = estimates.estimate(&pin(1)).await;

    assert!(started.elapsed() < DEADLINE + SLACK, "{:?}", started.elapsed());
    let Err(error @ EstimateError::Unavailable { .. }) = result else { panic!("expected Unavailable: {result:?}") };
    assert!(error.retry_after_secs() >= 1);
}

#[tokio::test]
async fn a_deadline_shorter_than_the_attempt_timeout_cuts_the_attempt_short() {
    let sandbox = start_sandbox().await;
    let (attempt, deadline) = (Duration::from_millis(800), Duration::from_millis(600));
    let (provider, partner) = http_adapters(&sandbox, attempt);
    let metrics = Arc::new(PartnerMetrics::default());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let tokens = tokens(provider, TokenPolicy::new(attempt), &metrics, &clock);
    let estimates =
        estimates(partner, tokens, metrics, retry_policy(attempt, deadline), BreakerPolicy::default(), clock);
    estimates.estimate(&pin(1)).await.expect("a live answer fetches the token first");
    sandbox.partner().set_latency(Duration::from_secs(5));

    let started = Instant::now();
    let result = estimates.estimate(&pin(2)).await;

    let took = started.elapsed();
    assert!(took >= deadline && took < deadline + SLACK, "answered after {took:?}, not at the 600 ms deadline");
    assert!(matches!(result, Err(EstimateError::Unavailable { .. })), "{result:?}");
}

#[tokio::test]
async fn a_400_or_404_from_the_partner_is_not_retried() {
    let sandbox = start_sandbox().await;
    let estimates = over_sandbox(&sandbox);

    for (n, status) in [(1, 404), (2, 400)] {
        sandbox.partner().fail_next(1, status);
        let result = estimates.estimate(&pin(n)).await;
        assert!(matches!(result, Err(EstimateError::Unavailable { .. })), "{status}: {result:?}");
    }

    assert_eq!(sandbox.partner().requests(), 2);
    assert_eq!(estimates.metrics().count(PartnerEvent::Retry), 0);
}

#[tokio::test]
async fn an_open_breaker_sends_nothing_until_its_probe() {
    let clock = ManualClock::starting_now();
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let issuer = Arc::new(MemoryTokenProvider::with_clock(Duration::from_secs(3600), shared.clone()));
    let partner = Arc::new(MemoryPartnerA::checking_tokens_of(issuer.clone()));
    let metrics = Arc::new(PartnerMetrics::default());
    let tokens = tokens(issuer, TokenPolicy::new(Duration::from_millis(50)), &metrics, &shared);
    let breaker = BreakerPolicy { failure_threshold: 3, open_for: Duration::from_millis(300) };
    let retry = retry_policy(Duration::from_millis(50), Duration::from_millis(150));
    let estimates = estimates(partner.clone(), tokens, metrics.clone(), retry, breaker, shared);
    partner.faults().set_down(true);

    for n in 0..3 {
        assert!(estimates.estimate(&pin(n)).await.is_err());
    }
    let calls_when_opened = partner.calls();
    let mut refused = Vec::new();
    for n in 0..20 {
        refused.push(estimates.estimate(&pin(n)).await);
    }
    let calls_while_open = partner.calls() - calls_when_opened;
    partner.faults().set_down(false);
    clock.advance(Duration::from_millis(300));
    let probe = estimates.estimate(&pin(1)).await.expect("probe");

    assert_eq!(calls_while_open, 0);
    assert!(refused.iter().all(|r| matches!(r, Err(e) if e.retry_after_secs() >= 1)));
    assert_eq!(probe.source, EstimateSource::Live);
    assert_eq!(partner.calls(), calls_when_opened + 1);
    assert_eq!(metrics.breaker_state(), BreakerState::Closed);
    assert_eq!(metrics.count(PartnerEvent::BreakerOpened), 1);
}
