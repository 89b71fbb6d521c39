//! Short-lived tokens: each is fetched once and serves most of its usable life, refreshed ahead of its end at a
//! jittered point, and no caller ever gets a token that expires within the safety margin. Time is a
//! `ManualClock` shared by the manager and the provider, with tokio's clock paused for the waits.

use std::sync::Arc;
use std::time::Duration;

use farmlokal::adapters::memory::clock::ManualClock;
use farmlokal::adapters::memory::token_provider::MemoryTokenProvider;
use farmlokal::adapters::memory::token_store::MemoryTokenStore;
use farmlokal::app::partner_metrics::PartnerMetrics;
use farmlokal::app::tokens::{AccessTokens, TokenPolicy};
use farmlokal::ports::Clock;

const LIFETIME: Duration = Duration::from_secs(2);
/// The default partner attempt timeout, which is the safety margin.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(800);
const STEP: Duration = Duration::from_millis(10);

#[tokio::test(start_paused = true)]
async fn two_second_tokens_are_fetched_once_each_and_serve_most_of_their_usable_life() {
    let clock = ManualClock::starting_now();
    let provider = Arc::new(MemoryTokenProvider::with_clock(LIFETIME, Arc::new(clock.clone())));
    let policy = TokenPolicy::new(ATTEMPT_TIMEOUT);
    let metrics = Arc::new(PartnerMetrics::default());
    let tokens = AccessTokens::new(
        provider.clone(),
        Arc::new(MemoryTokenStore::new()),
        policy,
        metrics,
        Arc::new(clock.clone()),
    );
    let lifetimes = 5;
    let elapsed = LIFETIME * lifetimes;

    // A steady stream of requests, one every 10 ms for five lifetimes; the sleep lets a background refresh run.
    let mut served = 0;
    while served * STEP < elapsed {
        let token = tokens.get().await.expect("token");
        assert!(token.usable_at(clock.now(), policy.safety_margin), "handed out a token about to expire");
        assert!(provider.is_valid(&token), "handed out a token the partner would reject");
        clock.advance(STEP);
        tokio::time::sleep(STEP).await;
        served += 1;
    }

    // A token is usable for its lifetime less the safety margin (1.2 s here), so one fetch per full lifetime is
    // out of reach; each token must serve at least three quarters of that usable life before it is replaced.
    let usable = (LIFETIME - policy.safety_margin).as_secs_f64();
    let at_most = (elapsed.as_secs_f64() / (0.75 * usable)).ceil() as u64 + 1;
    assert!(
        provider.fetches() <= at_most,
        "{} fetches in {lifetimes} lifetimes; at most {at_most}",
        provider.fetches()
    );
}
