//! The circuit breaker of partner A: opens after `failure_threshold` failed estimates in a row, refuses calls
//! for `open_for`, then lets exactly one probe through at a time until one succeeds.
//!
//! The open period is measured with the [`Clock`] port: advancing a test clock past `open_for` lets the probe
//! through.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::app::partner_metrics::{BreakerState, PartnerEvent, PartnerMetrics};
use crate::domain::retry::BreakerPolicy;
use crate::ports::Clock;

/// How long callers are told to wait while a probe is in flight.
const PROBE_IN_FLIGHT_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: DateTime<Utc> },
    HalfOpen,
}

/// A circuit breaker; its state is mirrored into [`PartnerMetrics`].
pub(super) struct Breaker {
    policy: BreakerPolicy,
    state: Mutex<State>,
    metrics: Arc<PartnerMetrics>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker").field("policy", &self.policy).field("state", &self.state).finish_non_exhaustive()
    }
}

/// Permission to call the partner once (one estimate). Report how it went with [`Pass::succeeded`] or
/// [`Pass::failed`]; a probe dropped unreported (the request was cancelled) lets the next caller probe.
#[derive(Debug)]
pub(super) struct Pass<'a> {
    breaker: &'a Breaker,
    probe: bool,
    reported: bool,
}

impl Breaker {
    pub(super) fn new(policy: BreakerPolicy, metrics: Arc<PartnerMetrics>, clock: Arc<dyn Clock>) -> Self {
        metrics.set_breaker_state(BreakerState::Closed);
        Self { policy, state: Mutex::new(State::Closed { failures: 0 }), metrics, clock }
    }

    /// When an open period starting now ends.
    fn open_until(&self) -> DateTime<Utc> {
        let open_for = chrono::Duration::from_std(self.policy.open_for).unwrap_or(chrono::Duration::MAX);
        self.clock.now().checked_add_signed(open_for).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, state: &mut State, new: State) {
        *state = new;
        self.metrics.set_breaker_state(match new {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen => BreakerState::HalfOpen,
        });
    }

    /// A pass to call the partner, or how long until one may be given.
    pub(super) fn admit(&self) -> Result<Pass<'_>, Duration> {
        let mut state = self.state();
        match *state {
            State::Closed { .. } => Ok(Pass { breaker: self, probe: false, reported: false }),
            State::Open { until } => {
                let now = self.clock.now();
                if now < until {
                    return Err(until_then(now, until));
                }
                self.set(&mut state, State::HalfOpen);
                Ok(Pass { breaker: self, probe: true, reported: false })
            }
            State::HalfOpen => Err(PROBE_IN_FLIGHT_WAIT),
        }
    }

    /// How long the breaker stays open, if it is open now.
    pub(super) fn open_remaining(&self) -> Option<Duration> {
        match *self.state() {
            State::Open { until } => Some(until_then(self.clock.now(), until)),
            State::HalfOpen => Some(PROBE_IN_FLIGHT_WAIT),
            State::Closed { .. } => None,
        }
    }

    fn open(&self, state: &mut State, until: DateTime<Utc>) {
        self.set(state, State::Open { until });
        self.metrics.record(PartnerEvent::BreakerOpened);
    }
}

impl Pass<'_> {
    /// Whether this pass is the half-open probe (the caller makes a single attempt).
    pub(super) fn is_probe(&self) -> bool {
        self.probe
    }

    /// The partner answered: the breaker closes.
    pub(super) fn succeeded(mut self) {
        self.reported = true;
        let mut state = self.breaker.state();
        self.breaker.set(&mut state, State::Closed { failures: 0 });
    }

    /// The estimate failed: one more failure in a row, or back to open after a failed probe.
    pub(super) fn failed(mut self) {
        self.reported = true;
        let breaker = self.breaker;
        let mut state = breaker.state();
        let until = breaker.open_until();
        match *state {
            _ if self.probe => breaker.open(&mut state, until),
            State::Closed { failures } if failures + 1 >= breaker.policy.failure_threshold => {
                breaker.open(&mut state, until);
            }
            State::Closed { failures } => breaker.set(&mut state, State::Closed { failures: failures + 1 }),
            // Opened meanwhile by other estimates: nothing to add.
            State::Open { .. } | State::HalfOpen => {}
        }
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            let mut state = self.breaker.state();
            if matches!(*state, State::HalfOpen) {
                let now = self.breaker.clock.now();
                self.breaker.set(&mut state, State::Open { until: now });
            }
        }
    }
}

/// The time from `now` to `until`, zero when `until` has passed.
fn until_then(now: DateTime<Utc>, until: DateTime<Utc>) -> Duration {
    (until - now).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::clock::ManualClock;

    fn breaker(clock: &ManualClock) -> Breaker {
        let policy = BreakerPolicy { failure_threshold: 3, open_for: Duration::from_secs(10) };
        Breaker::new(policy, Arc::new(PartnerMetrics::default()), Arc::new(clock.clone()))
    }

    #[test]
    fn opens_after_the_threshold_and_probes_once_after_open_for() {
        let clock = ManualClock::starting_now();
        let breaker = breaker(&clock);
        for _ in 0..3 {
            breaker.admit().unwrap().failed();
        }
        assert_eq!(breaker.admit().unwrap_err(), Duration::from_secs(10));
        assert_eq!(breaker.metrics.breaker_state(), BreakerState::Open);
        clock.advance(Duration::from_secs(10));
        let probe = breaker.admit().unwrap();
        assert!(probe.is_probe());
        assert!(breaker.admit().is_err(), "only one probe at a time");
        probe.failed();
        assert!(breaker.admit().is_err(), "a failed probe opens again");
        clock.advance(Duration::from_secs(10));
        breaker.admit().unwrap().succeeded();
        assert_eq!(breaker.metrics.breaker_state(), BreakerState::Closed);
        assert!(!breaker.admit().unwrap().is_probe());
    }

    #[test]
    fn a_success_resets_the_count_and_a_dropped_probe_frees_the_slot() {
        let clock = ManualClock::starting_now();
        let breaker = breaker(&clock);
        breaker.admit().unwrap().failed();
        breaker.admit().unwrap().failed();
        breaker.admit().unwrap().succeeded();
        breaker.admit().unwrap().failed();
        assert!(breaker.admit().is_ok(), "two failures after a success do not open");
        for _ in 0..2 {
            breaker.admit().unwrap().failed();
        }
        clock.advance(Duration::from_secs(10));
        drop(breaker.admit().unwrap());
        assert!(breaker.admit().unwrap().is_probe());
    }
}
