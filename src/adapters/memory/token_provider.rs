//! An in-process OAuth2 authorization server: issues tokens with a configurable lifetime, counts fetches,
//! remembers what it issued (so [`super::partner_a::MemoryPartnerA`] can reject unknown or expired tokens),
//! and fails on script. Expiry is by a [`Clock`]: the wall clock, or the test's clock given to
//! [`MemoryTokenProvider::with_clock`], so a token manager on that clock sees the tokens expire when it does.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use super::faults::Faults;
use crate::adapters::system_clock::SystemClock;
use crate::domain::AccessToken;
use crate::ports::{Clock, TokenError, TokenProvider};

/// [`TokenProvider`] in process memory.
pub struct MemoryTokenProvider {
    fetches: AtomicU64,
    state: Mutex<State>,
    faults: Faults,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MemoryTokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTokenProvider")
            .field("fetches", &self.fetches)
            .field("state", &self.state)
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct State {
    lifetime: Duration,
    /// Errors returned by the next fetches, first in first out, before `faults` are looked at.
    script: VecDeque<TokenError>,
    /// Values issued and still unexpired, newest last.
    issued: Vec<AccessToken>,
}

impl MemoryTokenProvider {
    /// A provider issuing tokens that live `lifetime` by the wall clock.
    pub fn new(lifetime: Duration) -> Self {
        Self::with_clock(lifetime, Arc::new(SystemClock))
    }

    /// A provider issuing tokens that live `lifetime` from `clock`'s now, and that expire by `clock`.
    pub fn with_clock(lifetime: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            fetches: AtomicU64::new(0),
            state: Mutex::new(State { lifetime, script: VecDeque::new(), issued: Vec::new() }),
            faults: Faults::new(),
            clock,
        }
    }

    /// Fetches so far, successful or not.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_lifetime(&self, lifetime: Duration) {
        self.state().lifetime = lifetime;
    }

    /// Makes a coming fetch fail with `error` (queued after errors scripted before).
    pub fn script_error(&self, error: TokenError) {
        self.state().script.push_back(error);
    }

    /// Latency, `fail_next` and down switches; their failures are `Unavailable`.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Whether `token` was issued here and has not expired or been revoked.
    pub fn is_valid(&self, token: &AccessToken) -> bool {
        let now = self.clock.now();
        self.state().issued.iter().any(|t| t.same_as(token) && t.expires_at() > now)
    }

    /// Forgets every issued token, as a server-side revocation does.
    pub fn revoke_all(&self) {
        self.state().issued.clear();
    }

    /// The value of the newest token issued, for assertions in tests.
    pub fn newest_value(&self) -> Option<String> {
        self.state().issued.last().map(|t| t.secret().expose_secret().to_owned())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl TokenProvider for MemoryTokenProvider {
    async fn fetch(&self) -> Result<AccessToken, TokenError> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        self.faults.check().await.map_err(|source| TokenError::unavailable(None, source))?;
        let mut state = self.state();
        if let Some(error) = state.script.pop_front() {
            return Err(error);
        }
        let lifetime = chrono::Duration::from_std(state.lifetime)
            .map_err(|e| TokenError::malformed(anyhow::Error::new(e).context("lifetime out of range")))?;
        let salt: u64 = rand::random();
        let now = self.clock.now();
        let token = AccessToken::new(SecretString::from(format!("mem-{n}-{salt:016x}")), now + lifetime);
        state.issued.retain(|t| t.expires_at() > now);
        state.issued.push(token.clone());
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn issues_distinct_valid_tokens_and_counts_fetches() {
        let provider = MemoryTokenProvider::new(Duration::from_secs(60));
        let a = provider.fetch().await.unwrap();
        let b = provider.fetch().await.unwrap();
        assert!(!a.same_as(&b));
        assert!(provider.is_valid(&a) && provider.is_valid(&b));
        assert_eq!(provider.fetches(), 2);
        provider.revoke_all();
        assert!(!provider.is_valid(&a));
    }

    #[tokio::test]
    async fn scripted_errors_come_first_then_tokens_again() {
        let provider = MemoryTokenProvider::new(Duration::from_secs(60));
        provider.script_error(TokenError::Rejected { error: "invalid_client".into() });
        assert!(matches!(provider.fetch().await, Err(TokenError::Rejected { .. })));
        provider.faults().fail_next(1);
        assert!(matches!(provider.fetch().await, Err(TokenError::Unavailable { .. })));
        assert!(provider.fetch().await.is_ok());
    }

    #[tokio::test]
    async fn tokens_expire_by_the_given_clock() {
        let clock = crate::adapters::memory::clock::ManualClock::starting_now();
        let provider = MemoryTokenProvider::with_clock(Duration::from_secs(60), Arc::new(clock.clone()));
        let token = provider.fetch().await.unwrap();
        assert_eq!(token.expires_at(), clock.now() + chrono::Duration::seconds(60));
        clock.advance(Duration::from_secs(59));
        assert!(provider.is_valid(&token));
        clock.advance(Duration::from_secs(1));
        assert!(!provider.is_valid(&token));
    }
}
