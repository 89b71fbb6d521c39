//! `Delayed`: any port implementation behind an async delay, for timing tests over mockall mocks.
//!
//! A mock's closures are synchronous, so a `std::thread::sleep` in one blocks a runtime thread: requests meant
//! to overlap queue behind it instead, and a single-flight or timeout test can pass for the wrong reason.
//! `Delayed::new(mock, d)` waits `d` with `tokio::time::sleep` before each call reaches the mock: the thread is
//! free meanwhile, and under tokio's paused clock the wait takes no real time. (The in-memory adapters have the
//! same delay built in: `faults().set_latency(d)`.)

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::summary::{Summary, SummaryQuery};
use crate::domain::webhook::{InventoryEvent, WebhookId};
use crate::domain::{AccessToken, Category, ListQuery, Pincode, Product, ProductId, Serviceability};
use crate::ports::{
    ApplyOutcome, Cache, CacheError, Claim, EventLedger, LedgerError, PartnerAClient, PartnerError, ProductRepository,
    RateDecision, RateLimitError, RateLimiter, RepositoryError, TokenError, TokenProvider, TokenStore, TokenStoreError,
};

/// A port implementation whose every call starts with an async wait; it implements each port `P` implements.
#[derive(Debug, Clone)]
pub struct Delayed<P> {
    inner: P,
    delay: Duration,
}

impl<P> Delayed<P> {
    /// `inner`, each of its calls delayed by `delay`.
    pub fn new(inner: P, delay: Duration) -> Self {
        Self { inner, delay }
    }

    /// The wrapped implementation (a mock, to check its expectations).
    pub fn inner(&self) -> &P {
        &self.inner
    }

    async fn wait(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

#[async_trait]
impl<P: ProductRepository> ProductRepository for Delayed<P> {
    async fn list(&self, query: &ListQuery) -> Result<Vec<Product>, RepositoryError> {
        self.wait().await;
        self.inner.list(query).await
    }

    async fn summarize(&self, query: &SummaryQuery) -> Result<Summary, RepositoryError> {
        self.wait().await;
        self.inner.summarize(query).await
    }

    async fn get(&self, id: ProductId) -> Result<Product, RepositoryError> {
        self.wait().await;
        self.inner.get(id).await
    }

    async fn categories(&self) -> Result<Vec<Category>, RepositoryError> {
        self.wait().await;
        self.inner.categories().await
    }

    async fn apply_event(&self, event: &InventoryEvent) -> Result<ApplyOutcome, RepositoryError> {
        self.wait().await;
        self.inner.apply_event(event).await
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.wait().await;
        self.inner.ping().await
    }
}

#[async_trait]
impl<P: PartnerAClient> PartnerAClient for Delayed<P> {
    async fn serviceability(&self, token: &AccessToken, pincode: &Pincode) -> Result<Serviceability, PartnerError> {
        self.wait().await;
        self.inner.serviceability(token, pincode).await
    }
}

#[async_trait]
impl<P: TokenProvider> TokenProvider for Delayed<P> {
    async fn fetch(&self) -> Result<AccessToken, TokenError> {
        self.wait().await;
        self.inner.fetch().await
    }
}

#[async_trait]
impl<P: Cache> Cache for Delayed<P> {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.wait().await;
        self.inner.get(key).await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.wait().await;
        self.inner.set(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.wait().await;
        self.inner.delete(key).await
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.wait().await;
        self.inner.ping().await
    }
}

#[async_trait]
impl<P: TokenStore> TokenStore for Delayed<P> {
    async fn get(&self) -> Result<Option<AccessToken>, TokenStoreError> {
        self.wait().await;
        self.inner.get().await
    }

    async fn put(&self, token: &AccessToken) -> Result<(), TokenStoreError> {
        self.wait().await;
        self.inner.put(token).await
    }

    async fn invalidate(&self, token: &AccessToken) -> Result<bool, TokenStoreError> {
        self.wait().await;
        self.inner.invalidate(token).await
    }

    async fn try_lock(&self, owner: &str, lease: Duration) -> Result<bool, TokenStoreError> {
        self.wait().await;
        self.inner.try_lock(owner, lease).await
    }

    async fn unlock(&self, owner: &str) -> Result<bool, TokenStoreError> {
        self.wait().await;
        self.inner.unlock(owner).await
    }
}

#[async_trait]
impl<P: RateLimiter> RateLimiter for Delayed<P> {
    async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision, RateLimitError> {
        self.wait().await;
        self.inner.check(key, limit, window).await
    }
}

#[async_trait]
impl<P: EventLedger> EventLedger for Delayed<P> {
    async fn claim(&self, id: &WebhookId, lease: Duration) -> Result<Claim, LedgerError> {
        self.wait().await;
        self.inner.claim(id, lease).await
    }

    async fn complete(&self, id: &WebhookId, keep: Duration) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.complete(id, keep).await
    }

    async fn release(&self, id: &WebhookId) -> Result<(), LedgerError> {
        self.wait().await;
        self.inner.release(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::token_provider::MockTokenProvider;

    #[tokio::test(start_paused = true)]
    async fn each_call_waits_the_delay_then_reaches_the_inner_implementation() {
        let mut mock = MockTokenProvider::new();
        let expires = chrono::Utc::now() + chrono::Duration::seconds(60);
        mock.expect_fetch().times(1).returning(move || Ok(AccessToken::new("t".to_owned().into(), expires)));
        let delayed = Delayed::new(mock, Duration::from_secs(5));

        let started = tokio::time::Instant::now();
        let token = delayed.fetch().await.expect("the mock's token");
        assert_eq!(started.elapsed(), Duration::from_secs(5), "a paused clock jumps the wait exactly");
        assert_eq!(token.expires_at(), expires);
    }
}
