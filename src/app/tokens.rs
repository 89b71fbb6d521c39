//! The access-token manager: one token fetch per token lifetime for the whole fleet.
//!
//! Inside a process, a tokio mutex makes fetching single flight: however many callers find no usable token,
//! one fetches and the others take its result. Across processes, the [`TokenStore`] shares the token and a
//! lock with an owner id (released by compare-and-delete), so one instance fetches while the others poll the
//! store for a bounded time, then fetch themselves if the holder died. With the store unreachable each process
//! fetches and keeps its own token, still once per lifetime. A token due for refresh (at a jittered point late in
//! its usable life, so short-lived tokens are not replaced early) keeps serving while one
//! background task replaces it. No token that expires within the safety margin is ever handed out.
//!
//! Expiry, refresh and the failure cool-down are judged by the [`Clock`] port, so a test clock advanced past a
//! token's lifetime makes the manager fetch again. Waiting for another instance's fetch (the lock wait and its
//! polling) is a real wait and runs on the async runtime's clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::partner_metrics::{PartnerEvent, PartnerMetrics};
use crate::domain::AccessToken;
use crate::ports::{Clock, TokenError, TokenProvider, TokenStore};

/// Timings of the token manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPolicy {
    /// A token expiring within this is never handed out: the longest one partner request may take.
    pub safety_margin: Duration,
    /// The refresh window's longest length: a token is refreshed at a point jittered over the first half of a
    /// window that ends where the token stops being usable (expiry less the safety margin) and lasts this long, or
    /// a quarter of the token's usable life when that is shorter. So each token serves at least three quarters
    /// of its usable life, and a fleet's instances do not refresh in lockstep.
    pub refresh_ahead: Duration,
    /// Lease of the fleet-wide fetch lock: longer than a token request can take.
    pub lock_lease: Duration,
    /// How long to wait for another instance's fetch before fetching ourselves.
    pub lock_wait: Duration,
    /// How often the store is polled while waiting.
    pub poll_interval: Duration,
    /// After a failed fetch, callers fail fast for this long instead of each fetching again.
    pub failure_cooldown: Duration,
}

impl TokenPolicy {
    /// Defaults for partner requests that time out after `attempt_timeout`.
    pub fn new(attempt_timeout: Duration) -> Self {
        Self {
            safety_margin: attempt_timeout,
            refresh_ahead: Duration::from_secs(60),
            lock_lease: Duration::from_secs(10),
            lock_wait: Duration::from_secs(2),
            poll_interval: Duration::from_millis(25),
            failure_cooldown: Duration::from_millis(500),
        }
    }
}

/// Hands out partner access tokens; cheap to clone (clones share everything).
#[derive(Clone)]
pub struct AccessTokens {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens").field("policy", &self.inner.policy).finish_non_exhaustive()
    }
}

struct Inner {
    provider: Arc<dyn TokenProvider>,
    store: Arc<dyn TokenStore>,
    policy: TokenPolicy,
    metrics: Arc<PartnerMetrics>,
    clock: Arc<dyn Clock>,
    local: Mutex<Local>,
    /// Held by whoever is obtaining a token for this process: the in-process single flight.
    gate: tokio::sync::Mutex<()>,
    refreshing: AtomicBool,
}

#[derive(Default)]
struct Local {
    held: Option<Held>,
    /// The last token partner A rejected: never taken from the store again.
    rejected: Option<AccessToken>,
    /// When the last fetch failed, and its error.
    failure: Option<(DateTime<Utc>, TokenError)>,
}

struct Held {
    token: AccessToken,
    refresh_at: DateTime<Utc>,
}

/// What the caller of `acquire` needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Any token usable for a request now.
    Usable,
    /// A token not yet due for refresh (the background refresh).
    Fresh,
}

/// The answer of the fleet's token store.
enum Shared {
    /// A token fit for the need.
    Found(AccessToken),
    /// No token, or one not fit for the need.
    Missing,
    /// The store failed (already recorded); each process then fetches its own.
    StoreDown,
}

impl AccessTokens {
    /// A manager fetching from `provider`, sharing through `store`, counting into `metrics`, judging expiry by
    /// `clock` (give the provider the same clock, or its tokens expire by another time).
    pub fn new(
        provider: Arc<dyn TokenProvider>,
        store: Arc<dyn TokenStore>,
        policy: TokenPolicy,
        metrics: Arc<PartnerMetrics>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let inner = Inner {
            provider,
            store,
            policy,
            metrics,
            clock,
            local: Mutex::new(Local::default()),
            gate: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
        };
        Self { inner: Arc::new(inner) }
    }

    /// A token usable for one partner request sent now.
    ///
    /// # Errors
    /// The provider's error when a token had to be fetched and could not be (repeated without a new fetch for
    /// `failure_cooldown`); `Malformed` when a new token would expire within the safety margin.
    pub async fn get(&self) -> Result<AccessToken, TokenError> {
        let now = self.inner.clock.now();
        let found = self.inner.local().held.as_ref().and_then(|held| {
            held.token
                .usable_at(now, self.inner.policy.safety_margin)
                .then(|| (held.token.clone(), now >= held.refresh_at))
        });
        match found {
            Some((token, due)) => {
                if due {
                    self.spawn_refresh();
                }
                Ok(token)
            }
            None => self.inner.acquire(Need::Usable).await,
        }
    }

    /// Forgets `token` after partner A rejected it, here and in the store, unless a newer token replaced it.
    pub async fn invalidate(&self, token: &AccessToken) {
        {
            let mut local = self.inner.local();
            if local.held.as_ref().is_some_and(|held| held.token.same_as(token)) {
                local.held = None;
            }
            local.rejected = Some(token.clone());
        }
        if let Err(error) = self.inner.store.invalidate(token).await {
            self.inner.store_failed(&error);
        }
    }

    fn spawn_refresh(&self) {
        if self.inner.refreshing.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            if let Err(error) = inner.acquire(Need::Fresh).await {
                tracing::warn!(%error, "background token refresh failed; the current token keeps serving");
            }
            inner.refreshing.store(false, Ordering::SeqCst);
        });
    }
}

/// When a token expiring at `expires_at`, kept at `now`, is due for a background refresh, for a `draw` in
/// [0, 1]: between `ahead` and `ahead / 2` before it stops being usable (`expires_at` less the safety margin),
/// `ahead` being `refresh_ahead` or a quarter of the usable life left, whichever is shorter.
///
/// Not earlier: a refresh floor of twice the safety margin made a 2 s token with an 800 ms margin due 0.4 s
/// after its fetch, five fetches per lifetime. A refresh that has not finished when the token stops being usable
/// only makes callers wait for it (they queue on the single flight); they are never handed the old token.
fn refresh_point(expires_at: DateTime<Utc>, now: DateTime<Utc>, policy: &TokenPolicy, draw: f64) -> DateTime<Utc> {
    let margin = chrono::Duration::from_std(policy.safety_margin).unwrap_or(chrono::Duration::MAX);
    let unusable_at = expires_at.checked_sub_signed(margin).unwrap_or(now);
    let usable = (unusable_at - now).to_std().unwrap_or_default();
    let ahead = policy.refresh_ahead.min(usable / 4);
    let lead = ahead.mul_f64(1.0 - draw.clamp(0.0, 1.0) / 2.0);
    let lead = chrono::Duration::from_std(lead).unwrap_or_default();
    unusable_at.checked_sub_signed(lead).unwrap_or(now)
}

impl Inner {
    fn local(&self) -> std::sync::MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn store_failed(&self, error: &dyn std::error::Error) {
        self.metrics.record(PartnerEvent::TokenStoreError);
        tracing::warn!(%error, "token store unreachable; this process uses a token of its own");
    }

    /// The local token if it meets `need`.
    fn local_meets(&self, need: Need, now: DateTime<Utc>) -> Option<AccessToken> {
        let local = self.local();
        let held = local.held.as_ref()?;
        let ok = match need {
            Need::Usable => held.token.usable_at(now, self.policy.safety_margin),
            Need::Fresh => now < held.refresh_at,
        };
        ok.then(|| held.token.clone())
    }

    /// Whether a token read from the store is worth taking for `need`.
    fn acceptable(&self, token: &AccessToken, need: Need) -> bool {
        let local = self.local();
        let rejected = local.rejected.as_ref().is_some_and(|r| r.same_as(token));
        let newer = match need {
            Need::Usable => true,
            Need::Fresh => local.held.as_ref().is_none_or(|held| token.expires_at() > held.token.expires_at()),
        };
        !rejected && newer && token.usable_at(self.clock.now(), self.policy.safety_margin)
    }

    fn keep(&self, token: &AccessToken) {
        let refresh_at = refresh_point(token.expires_at(), self.clock.now(), &self.policy, rand::random());
        let mut local = self.local();
        local.held = Some(Held { token: token.clone(), refresh_at });
        local.failure = None;
    }

    /// The single flight: one caller at a time obtains a token; the ones queued behind it find it ready.
    async fn acquire(&self, need: Need) -> Result<AccessToken, TokenError> {
        let _gate = self.gate.lock().await;
        if let Some(token) = self.local_meets(need, self.clock.now()) {
            return Ok(token);
        }
        if let Some(error) = self.recent_failure() {
            return Err(error);
        }
        match self.obtain(need).await {
            Ok(token) => {
                self.keep(&token);
                Ok(token)
            }
            Err(error) => {
                self.local().failure = Some((self.clock.now(), error.clone()));
                Err(error)
            }
        }
    }

    fn recent_failure(&self) -> Option<TokenError> {
        let local = self.local();
        let (at, error) = local.failure.as_ref()?;
        // A clock set back before the failure reads as no time elapsed: still cooling down.
        let elapsed = (self.clock.now() - *at).to_std().unwrap_or_default();
        (elapsed < self.policy.failure_cooldown).then(|| error.clone())
    }

    /// From the store, or fetched by us under the fleet lock, or fetched by us after waiting for the holder.
    async fn obtain(&self, need: Need) -> Result<AccessToken, TokenError> {
        match self.shared(need).await {
            Shared::Found(token) => return Ok(token),
            Shared::StoreDown => return self.fetch_and_share().await,
            Shared::Missing => {}
        }
        let owner = uuid::Uuid::new_v4().to_string();
        match self.store.try_lock(&owner, self.policy.lock_lease).await {
            Ok(true) => return self.fetch_under_lock(&owner, need).await,
            Ok(false) => {}
            Err(error) => {
                self.store_failed(&error);
                return self.fetch_and_share().await;
            }
        }
        // Waiting for the holder is a real wait (the holder works in real time), so the runtime's clock.
        let give_up = Instant::now() + self.policy.lock_wait;
        while Instant::now() < give_up {
            tokio::time::sleep(self.policy.poll_interval).await;
            match self.shared(need).await {
                Shared::Found(token) => return Ok(token),
                Shared::StoreDown => return self.fetch_and_share().await,
                Shared::Missing => {}
            }
        }
        tracing::warn!("no shared token after waiting for the fetch lock holder; fetching one ourselves");
        match self.store.try_lock(&owner, self.policy.lock_lease).await {
            Ok(true) => self.fetch_under_lock(&owner, need).await,
            _ => self.fetch_and_share().await,
        }
    }

    /// What the fleet's store holds for `need`; a store failure is recorded here.
    async fn shared(&self, need: Need) -> Shared {
        match self.store.get().await {
            Ok(Some(token)) if self.acceptable(&token, need) => Shared::Found(token),
            Ok(_) => Shared::Missing,
            Err(error) => {
                self.store_failed(&error);
                Shared::StoreDown
            }
        }
    }

    async fn fetch_under_lock(&self, owner: &str, need: Need) -> Result<AccessToken, TokenError> {
        // The previous holder may have shared its token between our look and our lock.
        let result = match self.store.get().await {
            Ok(Some(token)) if self.acceptable(&token, need) => Ok(token),
            _ => self.fetch_and_share().await,
        };
        if let Err(error) = self.store.unlock(owner).await {
            self.store_failed(&error);
        }
        result
    }

    async fn fetch_and_share(&self) -> Result<AccessToken, TokenError> {
        self.metrics.record(PartnerEvent::TokenFetch);
        let token = self.provider.fetch().await?;
        if !token.usable_at(self.clock.now(), self.policy.safety_margin * 2) {
            return Err(TokenError::malformed(anyhow!("new token expires within twice the safety margin")));
        }
        if let Err(error) = self.store.put(&token).await {
            self.store_failed(&error);
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::clock::ManualClock;
    use crate::adapters::memory::token_provider::MemoryTokenProvider;
    use crate::adapters::memory::token_store::MemoryTokenStore;

    const MARGIN: Duration = Duration::from_millis(800);

    fn ms(n: i64) -> chrono::Duration {
        chrono::Duration::milliseconds(n)
    }

    #[test]
    fn a_two_second_token_is_due_in_the_first_half_of_the_last_quarter_of_its_usable_life() {
        let now = Utc::now();
        let policy = TokenPolicy::new(MARGIN);
        let expires_at = now + ms(2000);

        // Usable for 1.2 s; the window is its last 0.3 s; refresh is due 0.3 s to 0.15 s before it ends.
        assert_eq!(refresh_point(expires_at, now, &policy, 0.0), now + ms(900));
        assert_eq!(refresh_point(expires_at, now, &policy, 1.0), now + ms(1050));
        assert_eq!(refresh_point(expires_at, now, &policy, 0.5), now + ms(975));
    }

    #[test]
    fn a_long_token_is_due_within_refresh_ahead_of_its_end_and_a_token_already_unusable_at_once() {
        let now = Utc::now();
        let policy = TokenPolicy::new(MARGIN);
        let hour = now + chrono::Duration::hours(1);
        let unusable_at = hour - ms(800);

        assert_eq!(refresh_point(hour, now, &policy, 0.0), unusable_at - chrono::Duration::seconds(60));
        assert_eq!(refresh_point(hour, now, &policy, 1.0), unusable_at - chrono::Duration::seconds(30));
        assert!(refresh_point(now + ms(500), now, &policy, 0.3) <= now);
    }

    #[tokio::test]
    async fn managers_holding_the_same_token_refresh_at_different_points_within_the_bounds() {
        let clock = ManualClock::starting_now();
        let provider = Arc::new(MemoryTokenProvider::with_clock(Duration::from_secs(2), Arc::new(clock.clone())));
        let store = Arc::new(MemoryTokenStore::new());
        let start = clock.now();

        let mut points = Vec::new();
        for _ in 0..20 {
            let tokens = AccessTokens::new(
                provider.clone(),
                store.clone(),
                TokenPolicy::new(MARGIN),
                Arc::new(PartnerMetrics::default()),
                Arc::new(clock.clone()),
            );
            tokens.get().await.expect("token");
            points.push(tokens.inner.local().held.as_ref().expect("held").refresh_at);
        }

        assert_eq!(provider.fetches(), 1, "all hold the one shared token");
        assert!(points.iter().all(|at| (start + ms(900)..=start + ms(1050)).contains(at)), "{points:?}");
        points.sort();
        points.dedup();
        assert!(points.len() > 10, "jittered, not in lockstep: {points:?}");
    }
}
