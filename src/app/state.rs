//! `AppState`: the use cases and ports one running service holds, built once by `AppBuilder` with one method
//! per port. Any mix of in-memory and real adapters works, which is how tests and testers assemble a service.

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::catalogue::CatalogueService;
use super::config::Config;
use super::delivery::{DeliveryEstimates, PartnerMetrics};
use super::rate_limit::ClientRateLimit;
use super::tokens::{AccessTokens, TokenPolicy};
use super::webhooks::WebhookIntake;
use crate::adapters::memory::cache::MemoryCache;
use crate::adapters::memory::event_ledger::MemoryEventLedger;
use crate::adapters::memory::partner_a::MemoryPartnerA;
use crate::adapters::memory::product_repository::MemoryProductRepository;
use crate::adapters::memory::rate_limiter::MemoryRateLimiter;
use crate::adapters::memory::token_provider::MemoryTokenProvider;
use crate::adapters::memory::token_store::MemoryTokenStore;
use crate::domain::retry::{BreakerPolicy, RetryPolicy};
use crate::domain::webhook::WebhookSecret;
use crate::domain::CursorCodec;
use crate::ports::{Cache, EventLedger, PartnerAClient, ProductRepository, RateLimiter, TokenProvider, TokenStore};

/// Settings the use cases need, apart from the adapters.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cursor_secret: Vec<u8>,
    pub cache_ttl: Duration,
    /// 0 disables the rate limit.
    pub rate_limit_per_minute: u32,
    pub trusted_proxies: Vec<IpNet>,
    pub webhook_secrets: Vec<WebhookSecret>,
    pub partner_retry: RetryPolicy,
    pub request_timeout: Duration,
    /// How long a client may take to send one request's headers (slow-client protection).
    pub header_read_timeout: Duration,
    pub cors_origins: Vec<String>,
}

impl Settings {
    /// The settings of a configured service. `cursor_secret` and `webhook_secrets` must already be resolved
    /// (a random or development value when unset: see `wiring`).
    pub fn from_config(config: &Config, cursor_secret: Vec<u8>, webhook_secrets: Vec<WebhookSecret>) -> Self {
        Self {
            cursor_secret,
            cache_ttl: config.cache_ttl,
            rate_limit_per_minute: config.rate_limit_per_minute,
            trusted_proxies: config.trusted_proxies.clone(),
            webhook_secrets,
            partner_retry: config.partner_retry(),
            request_timeout: config.request_timeout,
            header_read_timeout: config.header_read_timeout,
            cors_origins: config.cors_origins.clone(),
        }
    }

    /// Settings for tests: fixed secrets, the contract's cache TTL, short partner timeouts, and no rate limit
    /// (tests that walk many pages would hit it; the rate-limit tests turn it on).
    pub fn for_tests() -> Self {
        Self {
            cursor_secret: b"test-cursor-secret".to_vec(),
            cache_ttl: Duration::from_secs(60),
            rate_limit_per_minute: 0,
            trusted_proxies: Vec::new(),
            webhook_secrets: WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").into_iter().collect(),
            partner_retry: RetryPolicy::new(Duration::from_millis(300), Duration::from_millis(1500)),
            request_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            cors_origins: Vec::new(),
        }
    }
}

/// The ports a service runs on.
#[derive(Clone)]
pub struct Ports {
    pub products: Arc<dyn ProductRepository>,
    pub cache: Arc<dyn Cache>,
    pub token_store: Arc<dyn TokenStore>,
    pub token_provider: Arc<dyn TokenProvider>,
    pub partner_a: Arc<dyn PartnerAClient>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub event_ledger: Arc<dyn EventLedger>,
}

/// What each dependency runs on, for readiness and the start-up log.
#[derive(Debug, Clone, Default)]
pub struct Backends {
    /// `memory` or a redacted URL.
    pub catalogue: String,
    pub redis: Option<String>,
}

/// One running service.
pub struct AppState {
    pub settings: Settings,
    pub ports: Ports,
    pub backends: Backends,
    pub catalogue: CatalogueService,
    pub delivery: DeliveryEstimates,
    pub webhooks: WebhookIntake,
    /// The per-client rate limit of the HTTP API.
    pub rate_limit: ClientRateLimit,
}

/// Assembles an `AppState`: every port starts in memory; replace any of them.
pub struct AppBuilder {
    settings: Settings,
    ports: Ports,
    backends: Backends,
}

impl AppBuilder {
    /// Every port in memory, with an empty catalogue.
    pub fn in_memory(settings: Settings) -> Self {
        let ports = Ports {
            products: Arc::new(MemoryProductRepository::with_products([])),
            cache: Arc::new(MemoryCache::new()),
            token_store: Arc::new(MemoryTokenStore::new()),
            token_provider: Arc::new(MemoryTokenProvider::new(Duration::from_secs(3600))),
            partner_a: Arc::new(MemoryPartnerA::new()),
            rate_limiter: Arc::new(MemoryRateLimiter::new()),
            event_ledger: Arc::new(MemoryEventLedger::new()),
        };
        let backends = Backends { catalogue: "memory".into(), redis: None };
        Self { settings, ports, backends }
    }

    pub fn products(mut self, products: Arc<dyn ProductRepository>) -> Self {
        self.ports.products = products;
        self
    }

    pub fn cache(mut self, cache: Arc<dyn Cache>) -> Self {
        self.ports.cache = cache;
        self
    }

    pub fn token_store(mut self, token_store: Arc<dyn TokenStore>) -> Self {
        self.ports.token_store = token_store;
        self
    }

    pub fn token_provider(mut self, token_provider: Arc<dyn TokenProvider>) -> Self {
        self.ports.token_provider = token_provider;
        self
    }

    pub fn partner_a(mut self, partner_a: Arc<dyn PartnerAClient>) -> Self {
        self.ports.partner_a = partner_a;
        self
    }

    pub fn rate_limiter(mut self, rate_limiter: Arc<dyn RateLimiter>) -> Self {
        self.ports.rate_limiter = rate_limiter;
        self
    }

    pub fn event_ledger(mut self, event_ledger: Arc<dyn EventLedger>) -> Self {
        self.ports.event_ledger = event_ledger;
        self
    }

    /// Records what the dependencies run on, for readiness and logs.
    pub fn backends(mut self, backends: Backends) -> Self {
        self.backends = backends;
        self
    }

    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    pub fn build(self) -> Arc<AppState> {
        let Self { settings, ports, backends } = self;
        let catalogue = CatalogueService::new(
            ports.products.clone(),
            ports.cache.clone(),
            CursorCodec::new(&settings.cursor_secret),
            settings.cache_ttl,
        );
        let metrics = Arc::new(PartnerMetrics::default());
        let tokens = AccessTokens::new(
            ports.token_provider.clone(),
            ports.token_store.clone(),
            TokenPolicy::new(settings.partner_retry.attempt_timeout),
            metrics.clone(),
        );
        let delivery = DeliveryEstimates::new(
            ports.partner_a.clone(),
            tokens,
            settings.partner_retry,
            BreakerPolicy::default(),
            metrics,
        );
        let webhooks =
            WebhookIntake::new(settings.webhook_secrets.clone(), ports.event_ledger.clone(), ports.products.clone());
        let rate_limit = ClientRateLimit::new(ports.rate_limiter.clone(), settings.rate_limit_per_minute);
        Arc::new(AppState { settings, ports, backends, catalogue, delivery, webhooks, rate_limit })
    }
}
