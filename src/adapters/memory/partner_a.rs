//! An in-process partner A: the sandbox's deterministic answers, optional bearer-token checks against a
//! [`MemoryTokenProvider`], scripted failures, latency, and a log of calls for assertions.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::faults::Faults;
use super::token_provider::MemoryTokenProvider;
use crate::adapters::sandbox::answers::serviceability_for;
use crate::domain::{AccessToken, Pincode, Serviceability};
use crate::ports::{PartnerAClient, PartnerError};

/// [`PartnerAClient`] in process memory.
#[derive(Debug, Default)]
pub struct MemoryPartnerA {
    calls: AtomicU64,
    unauthorized: AtomicU64,
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

    /// Makes a coming call fail with `error` (queued after errors scripted before).
    pub fn script_error(&self, error: PartnerError) {
        self.script().push_back(error);
    }

    /// Latency, `fail_next` and down switches; their failures are 503 (`Unavailable`).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    fn script(&self) -> std::sync::MutexGuard<'_, VecDeque<PartnerError>> {
        self.script.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl PartnerAClient for MemoryPartnerA {
    async fn serviceability(&self, token: &AccessToken, pincode: &Pincode) -> Result<Serviceability, PartnerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
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
}
