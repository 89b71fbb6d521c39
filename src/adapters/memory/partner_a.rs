//! An in-process partner A: the sandbox's deterministic answers, optional bearer-token checks against a
//! [`MemoryTokenProvider`], scripted failures, latency, and a log of calls for assertions: which pincode and
//! which bearer token each call carried, and what it was answered.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use secrecy::ExposeSecret;

use super::faults::Faults;
use super::token_provider::MemoryTokenProvider;
use crate::adapters::sandbox::answers::serviceability_for;
use crate::domain::{AccessToken, Pincode, Serviceability};
use crate::ports::{PartnerAClient, PartnerError};

/// One call the fake received, as a test reads it back from [`MemoryPartnerA::calls_log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerACall {
    pub pincode: Pincode,
    /// The bearer token's value as sent. A fake keeps it in clear so a test can tell tokens apart.
    pub token: String,
    pub answer: PartnerAAnswer,
}

/// What the fake answered one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartnerAAnswer {
    Serviceability(Serviceability),
    /// The error, as its message (`PartnerError` holds causes that cannot be copied into a log).
    Failed(String),
}

/// [`PartnerAClient`] in process memory.
#[derive(Debug, Default)]
pub struct MemoryPartnerA {
    calls: AtomicU64,
    unauthorized: AtomicU64,
    log: Mutex<Vec<PartnerACall>>,
    script: Mutex<VecDeque<PartnerError>>,
    faults: Faults,
    issuer: Option<Arc<MemoryTokenProvider>>,
}

impl MemoryPartnerA {
    /// A partner that accepts any token.
    pub fn new() -> Self {
        Self::default()
    }

    /// A partner that answers 401 (`Unauthorized`) to tokens `issuer` did not issue or that have expired.
    pub fn checking_tokens_of(issuer: Arc<MemoryTokenProvider>) -> Self {
        Self { issuer: Some(issuer), ..Self::default() }
    }

    /// Calls so far, whatever their outcome.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Calls refused for an unknown or expired token.
    pub fn unauthorized(&self) -> u64 {
        self.unauthorized.load(Ordering::SeqCst)
    }

    /// Every answered call since the start or the last [`clear_log`](Self::clear_log), oldest first. A call
    /// cancelled before it answered (its caller timed out during the injected latency) is counted by
    /// [`calls`](Self::calls) but not logged.
    pub fn calls_log(&self) -> Vec<PartnerACall> {
        lock(&self.log).clone()
    }

    /// Forgets the logged calls; the counts of [`calls`](Self::calls) and [`unauthorized`](Self::unauthorized)
    /// go on.
    pub fn clear_log(&self) {
        lock(&self.log).clear();
    }

    /// Makes a coming call fail with `error` (queued after errors scripted before).
    pub fn script_error(&self, error: PartnerError) {
        self.script().push_back(error);
    }

    /// Latency, `fail_next` and down switches; their failures are 503 (`Unavailable`).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    fn script(&self) -> MutexGuard<'_, VecDeque<PartnerError>> {
        lock(&self.script)
    }

    async fn answer(&self, token: &AccessToken, pincode: &Pincode) -> Result<Serviceability, PartnerError> {
        self.faults.check().await.map_err(|_| PartnerError::Unavailable { status: 503 })?;
        if let Some(issuer) = &self.issuer {
            if !issuer.is_valid(token) {
                self.unauthorized.fetch_add(1, Ordering::SeqCst);
                return Err(PartnerError::Unauthorized);
            }
        }
        if let Some(error) = self.script().pop_front() {
            return Err(error);
        }
        Ok(serviceability_for(pincode))
    }
}

// Every change under these locks is one push, pop or clear, so a panic elsewhere cannot leave them half-updated.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl PartnerAClient for MemoryPartnerA {
    async fn serviceability(&self, token: &AccessToken, pincode: &Pincode) -> Result<Serviceability, PartnerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let result = self.answer(token, pincode).await;
        let answer = match &result {
            Ok(serviceability) => PartnerAAnswer::Serviceability(serviceability.clone()),
            Err(error) => PartnerAAnswer::Failed(error.to_string()),
        };
        let token = token.secret().expose_secret().to_owned();
        lock(&self.log).push(PartnerACall { pincode: pincode.clone(), token, answer });
        result
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ports::TokenProvider;

    #[tokio::test]
    async fn checks_tokens_and_plays_its_script() {
        let issuer = Arc::new(MemoryTokenProvider::new(Duration::from_secs(60)));
        let partner = MemoryPartnerA::checking_tokens_of(issuer.clone());
        let pin = Pincode::parse("560001").unwrap();
        let foreign = AccessToken::new("nope".to_owned().into(), chrono::Utc::now() + chrono::Duration::seconds(60));
        assert!(matches!(partner.serviceability(&foreign, &pin).await, Err(PartnerError::Unauthorized)));
        let token = issuer.fetch().await.unwrap();
        partner.script_error(PartnerError::Rejected { status: 404 });
        assert!(matches!(partner.serviceability(&token, &pin).await, Err(PartnerError::Rejected { status: 404 })));
        assert_eq!(partner.serviceability(&token, &pin).await.unwrap(), serviceability_for(&pin));
        assert_eq!((partner.calls(), partner.unauthorized()), (3, 1));
    }

    #[tokio::test]
    async fn logs_the_pincode_token_and_answer_of_each_call_until_cleared() {
        let partner = MemoryPartnerA::new();
        let (north, south) = (Pincode::parse("110001").unwrap(), Pincode::parse("560001").unwrap());
        let expires = chrono::Utc::now() + chrono::Duration::seconds(60);
        let token = |value: &str| AccessToken::new(value.to_owned().into(), expires);
        partner.serviceability(&token("first"), &north).await.unwrap();
        partner.script_error(PartnerError::Unavailable { status: 502 });
        assert!(partner.serviceability(&token("second"), &south).await.is_err());

        let log = partner.calls_log();
        let seen: Vec<(&str, &str)> = log.iter().map(|c| (c.pincode.as_str(), c.token.as_str())).collect();
        assert_eq!(seen, [("110001", "first"), ("560001", "second")]);
        assert_eq!(log[0].answer, PartnerAAnswer::Serviceability(serviceability_for(&north)));
        assert_eq!(log[1].answer, PartnerAAnswer::Failed("partner A failed with status 502".to_owned()));
        partner.clear_log();
        assert!(partner.calls_log().is_empty());
        assert_eq!(partner.calls(), 2, "clearing the log keeps the count");
    }
}
