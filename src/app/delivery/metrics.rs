//! Counters of the partner A integration, as plain atomics the `/metrics` exporter reads.

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
    /// `closed`, `open` or `half_open`, for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// Counters shared by the access-token manager and the delivery-estimate use case. Every field counts up from
/// zero, except the breaker state.
#[derive(Debug, Default)]
pub struct PartnerMetrics {
    /// Token requests sent to the authorization server (successful or not).
    pub token_fetches: AtomicU64,
    /// Token-store calls that failed (Redis down): the process then keeps a token of its own.
    pub token_store_errors: AtomicU64,
    /// Requests sent to partner A, first attempts and retries alike.
    pub partner_attempts: AtomicU64,
    /// Attempts after the first within one estimate (backoff retries and the one retry after a 401).
    pub retries: AtomicU64,
    /// Estimates answered live by the partner.
    pub live_answers: AtomicU64,
    /// Estimates answered with the last good answer because the partner failed or the breaker was open.
    pub stale_answers: AtomicU64,
    /// Estimates with neither a live nor a stale answer (the 503).
    pub unavailable_answers: AtomicU64,
    /// Times the breaker opened.
    pub breaker_opened: AtomicU64,
    breaker_state: AtomicU8,
}

impl PartnerMetrics {
    /// Where the breaker stands now.
    pub fn breaker_state(&self) -> BreakerState {
        match self.breaker_state.load(Ordering::Relaxed) {
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }

    pub(crate) fn set_breaker_state(&self, state: BreakerState) {
        let value = match state {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        };
        self.breaker_state.store(value, Ordering::Relaxed);
    }

    /// Reads a counter; a shorthand for `load(Relaxed)`.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
