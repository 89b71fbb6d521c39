//! The delivery-estimate use case (partner A): a live answer from partner A with retries inside a deadline and a
//! circuit breaker, else the last good answer for the pincode (stale), else `Unavailable` with a retry hint.
//!
//! Readings of the time of day (`as_of`, the age of last good answers, the breaker's open period) come from the
//! [`Clock`] port. The deadline and attempt timeouts are waits on the async runtime's clock: they bound how long
//! this request runs, whatever time of day a test clock shows.

mod breaker;
mod retry;
mod stale;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use self::breaker::{Breaker, Pass};
use self::retry::Verdict;
use self::stale::StaleAnswers;
use super::partner_metrics::{PartnerEvent, PartnerMetrics};
use super::tokens::AccessTokens;
use crate::domain::retry::{BreakerPolicy, RetryPolicy};
use crate::domain::{AccessToken, Pincode, Serviceability};
use crate::ports::{Clock, PartnerAClient, PartnerError, TokenError};

/// How long a last good answer may be served.
pub const LAST_GOOD_ANSWER_FOR: Duration = Duration::from_secs(24 * 3600);
/// How many pincodes keep a last good answer (India has about 19 000 pincodes).
pub const STALE_CAPACITY: usize = 50_000;
/// `Retry-After` when nothing better is known.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Where an estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimateSource {
    /// Partner A answered this request.
    Live,
    /// The last good answer, served because partner A is failing.
    Stale,
}

/// A delivery estimate for one pincode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    /// What the partner said.
    pub serviceability: Serviceability,
    /// Live or stale.
    pub source: EstimateSource,
    /// When the partner said it.
    pub as_of: DateTime<Utc>,
}

/// Why there is no estimate.
#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    /// Partner A failed (or the breaker is open) and no earlier answer for this pincode is known: the 503.
    #[error("partner A is unavailable and no earlier answer is known")]
    Unavailable {
        /// When to try again: whole seconds, at least one.
        retry_after: Duration,
        #[source]
        cause: anyhow::Error,
    },
}

impl EstimateError {
    /// `Retry-After` in whole seconds (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Self::Unavailable { retry_after, .. } => retry_after.as_secs().max(1),
        }
    }
}

/// One failed attempt: at the token step or at the partner.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error(transparent)]
    Token(TokenError),
    #[error(transparent)]
    Partner(PartnerError),
}

/// The use case. Cheap to share behind an `Arc`.
pub struct DeliveryEstimates {
    partner: Arc<dyn PartnerAClient>,
    tokens: AccessTokens,
    retry: RetryPolicy,
    breaker: Breaker,
    stale: StaleAnswers,
    metrics: Arc<PartnerMetrics>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DeliveryEstimates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryEstimates").field("retry", &self.retry).finish_non_exhaustive()
    }
}

impl DeliveryEstimates {
    /// Estimates from `partner` with tokens from `tokens`, counting into `metrics` (share the same `Arc` with
    /// [`AccessTokens::new`]), telling the time by `clock` (the one the tokens use).
    pub fn new(
        partner: Arc<dyn PartnerAClient>,
        tokens: AccessTokens,
        retry: RetryPolicy,
        breaker: BreakerPolicy,
        metrics: Arc<PartnerMetrics>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            partner,
            tokens,
            retry,
            breaker: Breaker::new(breaker, metrics.clone(), clock.clone()),
            stale: StaleAnswers::new(STALE_CAPACITY, LAST_GOOD_ANSWER_FOR),
            metrics,
            clock,
        }
    }

    /// The counters of partner A and its tokens.
    pub fn metrics(&self) -> &Arc<PartnerMetrics> {
        &self.metrics
    }

    /// A live estimate, or the last good one when partner A fails. Returns within the retry deadline (plus the
    /// time to answer from memory).
    ///
    /// # Errors
    /// `Unavailable` when partner A fails or the breaker is open and no answer younger than a day is known.
    pub async fn estimate(&self, pincode: &Pincode) -> Result<Estimate, EstimateError> {
        let pass = match self.breaker.admit() {
            Ok(pass) => pass,
            Err(wait) => return self.fallback(pincode, wait, anyhow::anyhow!("circuit breaker open")),
        };
        // A wait, not a time of day: the runtime's clock bounds the attempts.
        let deadline = Instant::now() + self.retry.deadline;
        let outcome = tokio::time::timeout_at(deadline, self.live(pincode, deadline, &pass))
            .await
            .unwrap_or(Err(AttemptError::Partner(PartnerError::Timeout)));
        match outcome {
            Ok(serviceability) => {
                pass.succeeded();
                let as_of = self.clock.now();
                self.stale.put(&serviceability, as_of);
                self.metrics.record(PartnerEvent::LiveAnswer);
                Ok(Estimate { serviceability, source: EstimateSource::Live, as_of })
            }
            Err(error) => {
                // A 4xx proves the partner is up: it does not count towards opening the breaker.
                if matches!(error, AttemptError::Partner(PartnerError::Rejected { .. })) {
                    pass.succeeded();
                } else {
                    pass.failed();
                }
                tracing::warn!(error = %error, pincode = %pincode, "delivery estimate from partner A failed");
                let hint = match &error {
                    AttemptError::Partner(PartnerError::RateLimited { retry_after: Some(d) })
                    | AttemptError::Token(TokenError::Unavailable { retry_after: Some(d), .. }) => *d,
                    _ => DEFAULT_RETRY_AFTER,
                };
                let wait = self.breaker.open_remaining().map_or(hint, |open| open.max(hint));
                self.fallback(pincode, wait, anyhow::Error::new(error))
            }
        }
    }

    /// The stale answer, or `Unavailable` with `wait` rounded up to whole seconds.
    fn fallback(&self, pincode: &Pincode, wait: Duration, cause: anyhow::Error) -> Result<Estimate, EstimateError> {
        if let Some((serviceability, as_of)) = self.stale.get(pincode, self.clock.now()) {
            self.metrics.record(PartnerEvent::StaleAnswer);
            return Ok(Estimate { serviceability, source: EstimateSource::Stale, as_of });
        }
        self.metrics.record(PartnerEvent::UnavailableAnswer);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Err(EstimateError::Unavailable { retry_after: Duration::from_secs(secs.max(1)), cause })
    }

    /// The retry loop; a probe makes a single attempt.
    async fn live(
        &self,
        pincode: &Pincode,
        deadline: Instant,
        pass: &Pass<'_>,
    ) -> Result<Serviceability, AttemptError> {
        let probe = pass.is_probe();
        let renewed_after_401 = AtomicBool::new(false);
        let renewed = &renewed_after_401;
        retry::retry(
            &self.retry,
            deadline,
            |error| if probe { Verdict::Permanent } else { classify(error) },
            |error, wait| {
                self.metrics.record(PartnerEvent::Retry);
                tracing::debug!(%error, ?wait, "retrying partner A");
            },
            || async move {
                let token = self.tokens.get().await.map_err(AttemptError::Token)?;
                match self.attempt(&token, pincode, deadline).await {
                    Err(PartnerError::Unauthorized) if !renewed.swap(true, std::sync::atomic::Ordering::SeqCst) => {
                        self.tokens.invalidate(&token).await;
                        self.metrics.record(PartnerEvent::Retry);
                        let token = self.tokens.get().await.map_err(AttemptError::Token)?;
                        self.attempt(&token, pincode, deadline).await.map_err(AttemptError::Partner)
                    }
                    other => other.map_err(AttemptError::Partner),
                }
            },
        )
        .await
    }

    /// One request, bounded by the attempt timeout and the deadline.
    async fn attempt(
        &self,
        token: &AccessToken,
        pincode: &Pincode,
        deadline: Instant,
    ) -> Result<Serviceability, PartnerError> {
        self.metrics.record(PartnerEvent::Attempt);
        let until = (Instant::now() + self.retry.attempt_timeout).min(deadline);
        tokio::time::timeout_at(until, self.partner.serviceability(token, pincode))
            .await
            .unwrap_or(Err(PartnerError::Timeout))
    }
}

/// Retry timeouts, connection errors, 5xx and 429 (after its `Retry-After`), and an unreachable token endpoint.
fn classify(error: &AttemptError) -> Verdict {
    match error {
        AttemptError::Partner(PartnerError::RateLimited { retry_after: Some(wait) })
        | AttemptError::Token(TokenError::Unavailable { retry_after: Some(wait), .. }) => Verdict::After(*wait),
        AttemptError::Partner(error) if error.is_transient() => Verdict::Transient,
        AttemptError::Token(TokenError::Unavailable { .. }) => Verdict::Transient,
        AttemptError::Partner(_) | AttemptError::Token(_) => Verdict::Permanent,
    }
}
