//! `AppBuilder`: assembles one service from a port-by-port choice of adapters, every port starting in memory.
//! Any mix of in-memory and real adapters works, which is how tests and testers build a service; `wiring`
//! uses it for the configured one. The clock starts as the wall clock; a test gives a `ManualClock` to move
//! time, and the policy values (cache TTL, partner retry and breaker) are set through `settings_mut`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use poem::Endpoint;
use poem_openapi::OpenApiService;

use super::config::Config;
use super::telemetry;
use crate::adapters::memory::cache::MemoryCache;
use crate::adapters::memory::event_ledger::MemoryEventLedger;
use crate::adapters::memory::partner_a::MemoryPartnerA;
use crate::adapters::memory::product_repository::MemoryProductRepository;
use crate::adapters::memory::rate_limiter::MemoryRateLimiter;
use crate::adapters::memory::token_provider::MemoryTokenProvider;
use crate::adapters::memory::token_store::MemoryTokenStore;
use crate::adapters::system_clock::SystemClock;
use crate::api::connection_limits::ConnectionLimits;
use crate::api::{self, HttpSettings, MetricsExporter};
use crate::app::health::Backends;
use crate::app::{Policy, Ports, Services};
use crate::domain::retry::{BreakerPolicy, RetryPolicy};
use crate::domain::webhook::WebhookSecret;
use crate::ports::{
    Cache, Clock, EventLedger, PartnerAClient, ProductRepository, RateLimiter, TokenProvider, TokenStore,
};

/// The development webhook secret used when none is configured. Printed at start; never for production.
pub const DEV_WEBHOOK_SECRET: &str = "whsec_ZmFybWxva2FsLWRldmVsb3BtZW50LXNlY3JldA==";

/// The client address of requests handed to the service in process (`poem::test::TestClient`), so they are
/// rate limited as a client on 127.0.0.1 would be.
pub const IN_PROCESS_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Every setting of one service apart from its adapters: what the use cases decide by, and how the HTTP API
/// treats connections and requests.
#[derive(Debug, Clone)]
pub struct Settings {
    pub policy: Policy,
    pub http: HttpSettings,
}

impl Default for Settings {
    /// The documented defaults of every `FARMLOKAL_*` setting (nothing is read from the environment), with a
    /// fixed development cursor secret and the development webhook secret: fine for one local process, never
    /// for production.
    fn default() -> Self {
        let policy = Policy {
            cursor_secret: b"farmlokal-development-cursor-secret".to_vec(),
            cache_ttl: Duration::from_secs(60),
            rate_limit_per_minute: 100,
            webhook_secrets: WebhookSecret::parse(DEV_WEBHOOK_SECRET).into_iter().collect(),
            partner_retry: RetryPolicy::new(Duration::from_millis(800), Duration::from_millis(3000)),
            partner_breaker: BreakerPolicy::default(),
        };
        let http = HttpSettings {
            trusted_proxies: Vec::new(),
            request_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            connection_limits: ConnectionLimits { per_client: 128, total: 8192 },
            cors_origins: Vec::new(),
            in_process_client: Some(IN_PROCESS_CLIENT),
        };
        Self { policy, http }
    }
}

impl Settings {
    /// The settings of a configured service. `cursor_secret` and `webhook_secrets` must already be resolved
    /// (a random or development value when unset: see `wiring`).
    pub fn from_config(config: &Config, cursor_secret: Vec<u8>, webhook_secrets: Vec<WebhookSecret>) -> Self {
        let policy = Policy {
            cursor_secret,
            cache_ttl: config.cache_ttl,
            rate_limit_per_minute: config.rate_limit_per_minute,
            webhook_secrets,
            partner_retry: config.partner_retry(),
            partner_breaker: BreakerPolicy::default(),
        };
        let http = HttpSettings {
            trusted_proxies: config.trusted_proxies.clone(),
            request_timeout: config.request_timeout,
            header_read_timeout: config.header_read_timeout,
            idle_timeout: config.idle_timeout,
            connection_limits: ConnectionLimits {
                per_client: config.max_connections_per_client,
                total: config.max_connections,
            },
            cors_origins: config.cors_origins.clone(),
            in_process_client: Some(IN_PROCESS_CLIENT),
        };
        Self { policy, http }
    }

    /// Settings for tests: fixed secrets, the contract's cache TTL, short partner timeouts, and no rate limit
    /// (tests that walk many pages would hit it; the rate-limit tests turn it on).
    pub fn for_tests() -> Self {
        let mut settings = Self::default();
        settings.policy.cursor_secret = b"test-cursor-secret".to_vec();
        settings.policy.rate_limit_per_minute = 0;
        settings.policy.webhook_secrets =
            WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").into_iter().collect();
        settings.policy.partner_retry = RetryPolicy::new(Duration::from_millis(300), Duration::from_millis(1500));
        settings
    }
}

/// One built service: its settings, its ports and its use cases.
pub struct AppState {
    pub settings: Settings,
    pub ports: Ports,
    pub services: Arc<Services>,
    metrics: MetricsExporter,
    /// The listing targets the hot lane answers, one table per service (every endpoint made from it shares it).
    hot: Arc<api::hot::HotListings>,
    /// The request histograms, one set per service like `hot`, published by `metrics` before every scrape.
    request_metrics: Arc<api::middleware::RequestMetrics>,
}

impl AppState {
    /// The complete HTTP application of this service.
    pub fn endpoint(&self) -> impl Endpoint {
        let (hot, request_metrics) = (self.hot.clone(), self.request_metrics.clone());
        api::routes(self.services.clone(), &self.settings.http, self.metrics.clone(), hot, request_metrics)
    }

    /// The OpenAPI service over every operation (the spec, the docs UI).
    pub fn api_service(&self) -> OpenApiService<api::Apis, ()> {
        api::api_service(self.services.clone(), self.metrics.clone(), self.hot.clone())
    }

    /// The hot lane's table of listing targets.
    pub fn hot_listings(&self) -> &api::hot::HotListings {
        &self.hot
    }
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
        Self::in_memory_at(settings, Arc::new(SystemClock))
    }

    /// Every port in memory, with an empty catalogue, on `clock`: the use cases and the in-memory adapters
    /// whose entries expire (the cache, the token provider's tokens) read the time of day from it, so a test
    /// that advances a `ManualClock` moves all of them together.
    pub fn in_memory_at(settings: Settings, clock: Arc<dyn Clock>) -> Self {
        let ports = Ports {
            products: Arc::new(MemoryProductRepository::with_products([])),
            cache: Arc::new(MemoryCache::with_clock(clock.clone())),
            token_store: Arc::new(MemoryTokenStore::new()),
            token_provider: Arc::new(MemoryTokenProvider::with_clock(Duration::from_secs(3600), clock.clone())),
            partner_a: Arc::new(MemoryPartnerA::new()),
            rate_limiter: Arc::new(MemoryRateLimiter::new()),
            fallback_rate_limiter: Arc::new(MemoryRateLimiter::new()),
            event_ledger: Arc::new(MemoryEventLedger::new()),
            clock,
        };
        Self { settings, ports, backends: Backends::default() }
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

    /// The clock every use case reads the time of day from (the wall clock unless replaced). The in-memory
    /// adapters the builder already holds keep their clock: to move everything with one test clock, start
    /// from [`AppBuilder::in_memory_at`], or give replaced adapters the same clock
    /// (`MemoryTokenProvider::with_clock`, `MemoryCache::with_clock`).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.ports.clock = clock;
        self
    }

    /// Records what the catalogue and the shared state run on: readiness checks only what runs on a server.
    pub fn backends(mut self, backends: Backends) -> Self {
        self.backends = backends;
        self
    }

    /// The settings to change before building: `policy.cache_ttl`, `policy.partner_retry`,
    /// `policy.partner_breaker` (threshold and open period), the rate limit, the HTTP timeouts.
    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    /// Builds the service. The metrics recorder is installed first, so what the use cases export while they
    /// are built is already recorded.
    pub fn build(self) -> Arc<AppState> {
        let exporter = telemetry::metrics();
        let Self { settings, ports, backends } = self;
        let services = Arc::new(Services::new(&ports, &settings.policy, backends));
        let hot = Arc::new(api::hot::HotListings::new(services.clone()));
        let request_metrics = Arc::new(api::middleware::RequestMetrics::default());
        let metrics = api::publishing(exporter, request_metrics.clone(), hot.clone(), services.clone());
        Arc::new(AppState { settings, ports, services, metrics, hot, request_metrics })
    }
}
