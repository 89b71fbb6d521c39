//! What the partner A integration did, shared by the access-token manager and the delivery-estimate use case.
//!
//! Every event goes to the `metrics` facade (exported with the rest at `/metrics`) and is also counted on this
//! instance, so a caller holding one service (a test, a tester's harness) can read that service's own counts
//! while other services in the same process record into the same exported series.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Where the circuit breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the open period ends.
    Open,
    /// One probe is (or may be) in flight.
    HalfOpen,
}

impl BreakerState {
    const ALL: [BreakerState; 3] = [Self::Closed, Self::Open, Self::HalfOpen];

    /// `closed`, `open` or `half_open`, for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// One kind of partner event, with its exported counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerEvent {
    /// A token request sent to the authorization server (successful or not).
    TokenFetch,
    /// A token-store call that failed (Redis down): the process then keeps a token of its own.
    TokenStoreError,
    /// A request sent to partner A, first attempts and retries alike.
    Attempt,
    /// An attempt after the first within one estimate (backoff retries and the one retry after a 401).
    Retry,
    /// An estimate answered live by the partner.
    LiveAnswer,
    /// An estimate answered with the last good answer because the partner failed or the breaker was open.
    StaleAnswer,
    /// An estimate with neither a live nor a stale answer (the 503).
    UnavailableAnswer,
    /// The breaker opened.
    BreakerOpened,
}

impl PartnerEvent {
    const ALL: [PartnerEvent; 8] = [
        Self::TokenFetch,
        Self::TokenStoreError,
        Self::Attempt,
        Self::Retry,
        Self::LiveAnswer,
        Self::StaleAnswer,
        Self::UnavailableAnswer,
        Self::BreakerOpened,
    ];
    const COUNT: usize = Self::ALL.len();

    fn index(self) -> usize {
        self as usize
    }

    /// The exported counter of this event.
    pub fn metric(self) -> &'static str {
        match self {
            Self::TokenFetch => "farmlokal_partner_token_fetches_total",
            Self::TokenStoreError => "farmlokal_partner_token_store_errors_total",
            Self::Attempt => "farmlokal_partner_attempts_total",
            Self::Retry => "farmlokal_partner_retries_total",
            Self::LiveAnswer => "farmlokal_partner_live_answers_total",
            Self::StaleAnswer => "farmlokal_partner_stale_answers_total",
            Self::UnavailableAnswer => "farmlokal_partner_unavailable_answers_total",
            Self::BreakerOpened => "farmlokal_partner_breaker_opened_total",
        }
    }
}

/// The partner events of one service.
#[derive(Debug)]
pub struct PartnerMetrics {
    counts: [AtomicU64; PartnerEvent::COUNT],
    breaker_state: AtomicU8,
}

impl Default for PartnerMetrics {
    /// Nothing recorded yet. Every exported counter is registered at once, so a scrape shows it (at 0) before
    /// its first event.
    fn default() -> Self {
        for event in PartnerEvent::ALL {
            metrics::counter!(event.metric()).increment(0);
        }
        Self { counts: Default::default(), breaker_state: AtomicU8::new(0) }
    }
}

impl PartnerMetrics {
    /// Records one event.
    pub fn record(&self, event: PartnerEvent) {
        self.counts[event.index()].fetch_add(1, Ordering::Relaxed);
        metrics::counter!(event.metric()).increment(1);
    }

    /// How many times this service recorded `event`.
    pub fn count(&self, event: PartnerEvent) -> u64 {
        self.counts[event.index()].load(Ordering::Relaxed)
    }

    /// Where the breaker stands now.
    pub fn breaker_state(&self) -> BreakerState {
        match self.breaker_state.load(Ordering::Relaxed) {
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }

    /// Records where the breaker stands; exported as `farmlokal_partner_breaker_state{state}`, 1 for the
    /// current state and 0 for the others.
    pub fn set_breaker_state(&self, state: BreakerState) {
        let value = match state {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        };
        self.breaker_state.store(value, Ordering::Relaxed);
        for each in BreakerState::ALL {
            metrics::gauge!("farmlokal_partner_breaker_state", "state" => each.as_str()).set(if each == state {
                1.0
            } else {
                0.0
            });
        }
    }
}
