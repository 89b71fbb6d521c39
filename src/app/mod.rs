//! The use cases. They know the domain and the ports and nothing else: no HTTP, no JSON, no adapter, no
//! process-wide state. [`Services`] is every use case of one running service, built from a set of [`Ports`]
//! and a [`Policy`]; the HTTP API (`crate::api`) calls it, and `crate::startup` builds it.

pub mod catalogue;
pub mod estimates;
pub mod front;
pub mod health;
pub mod partner_metrics;
pub mod rate_limit;
pub mod response_cache;
pub mod sharded;
pub mod single_flight;
pub mod summaries;
pub mod tokens;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use self::catalogue::{CatalogueError, CatalogueService};
use self::estimates::DeliveryEstimates;
use self::health::{Backends, Health};
use self::partner_metrics::PartnerMetrics;
use self::rate_limit::ClientRateLimit;
use self::response_cache::ResponseCache;
use self::tokens::{AccessTokens, TokenPolicy};
use self::webhooks::WebhookIntake;
use crate::domain::retry::{BreakerPolicy, RetryPolicy};
use crate::domain::webhook::WebhookSecret;
use crate::domain::CursorCodec;
use crate::ports::{
    Cache, Clock, EventLedger, PartnerAClient, ProductRepository, RateLimiter, TokenProvider, TokenStore,
};

/// The ports a service runs on, one adapter each.
#[derive(Clone)]
pub struct Ports {
    pub products: Arc<dyn ProductRepository>,
    pub cache: Arc<dyn Cache>,
    pub token_store: Arc<dyn TokenStore>,
    pub token_provider: Arc<dyn TokenProvider>,
    pub partner_a: Arc<dyn PartnerAClient>,
    /// The fleet-wide rate limiter.
    pub rate_limiter: Arc<dyn RateLimiter>,
    /// The per-process limiter that decides while `rate_limiter` is unavailable.
    pub fallback_rate_limiter: Arc<dyn RateLimiter>,
    pub event_ledger: Arc<dyn EventLedger>,
    /// The time of day every use case reads: cache freshness, the breaker's open period, last good answers and
    /// their `as_of`, token expiry and the fetch cool-down, the webhook timestamp window.
    pub clock: Arc<dyn Clock>,
}

/// The values the use cases decide by, apart from the adapters.
#[derive(Debug, Clone)]
pub struct Policy {
    pub cursor_secret: Vec<u8>,
    /// How long a cached listing or category page is fresh.
    pub cache_ttl: Duration,
    /// Requests per client per rolling minute; 0 disables the rate limit.
    pub rate_limit_per_minute: u32,
    pub webhook_secrets: Vec<WebhookSecret>,
    /// Attempt timeout, overall deadline and backoff of partner A calls (also the token manager's safety margin).
    pub partner_retry: RetryPolicy,
    /// When partner A's circuit breaker opens (failed estimates in a row) and how long it stays open.
    pub partner_breaker: BreakerPolicy,
}

/// Every use case of one running service.
pub struct Services {
    pub catalogue: CatalogueService,
    /// Rendered listing and category pages, shared by the fleet through the `Cache` port.
    pub pages: ResponseCache<CatalogueError>,
    pub estimates: DeliveryEstimates,
    pub webhooks: WebhookIntake,
    pub rate_limit: ClientRateLimit,
    pub health: Health,
}

impl Services {
    /// Builds every use case over `ports`. `backends` says which ports run on a server, for readiness.
    pub fn new(ports: &Ports, policy: &Policy, backends: Backends) -> Self {
        let catalogue = CatalogueService::new(ports.products.clone(), CursorCodec::new(&policy.cursor_secret))
            .with_summaries(summaries::Summaries::new(ports.products.clone(), ports.cache.clone(), policy.cache_ttl));
        let pages = ResponseCache::new(ports.cache.clone(), policy.cache_ttl, ports.clock.clone());
        let metrics = Arc::new(PartnerMetrics::default());
        let tokens = AccessTokens::new(
            ports.token_provider.clone(),
            ports.token_store.clone(),
            TokenPolicy::new(policy.partner_retry.attempt_timeout),
            metrics.clone(),
            ports.clock.clone(),
        );
        let estimates = DeliveryEstimates::new(
            ports.partner_a.clone(),
            tokens,
            policy.partner_retry,
            policy.partner_breaker,
            metrics,
            ports.clock.clone(),
        );
        let webhooks = WebhookIntake::new(
            policy.webhook_secrets.clone(),
            ports.event_ledger.clone(),
            ports.products.clone(),
            ports.clock.clone(),
        );
        let rate_limit = ClientRateLimit::new(
            ports.rate_limiter.clone(),
            ports.fallback_rate_limiter.clone(),
            policy.rate_limit_per_minute,
        );
        let health = Health::new(ports.products.clone(), ports.cache.clone(), backends);
        Self { catalogue, pages, estimates, webhooks, rate_limit, health }
    }
}
