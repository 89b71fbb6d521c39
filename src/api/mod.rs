//! The HTTP API, an inbound adapter: poem-openapi operations that parse requests into domain values, call the
//! use cases in [`crate::app`] and render their answers (DTOs, problem+json, headers), plus the middleware and
//! the connection guard. It names no outbound adapter and installs no process-wide state; `crate::startup`
//! hands it the use cases, its settings and the metrics exporter.

pub mod client_ip;
pub mod connection_limits;
pub mod dto;
pub mod estimates;
pub mod middleware;
pub mod ops;
pub mod params;
pub mod payload;
pub mod problem;
pub mod products;
pub mod rate_limit;
pub mod settings;
pub mod slow_clients;
pub mod tags;
pub mod webhooks;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;

pub use self::settings::{HttpSettings, MetricsExporter};
pub use self::tags::ApiTags;
use crate::app::Services;

pub type Apis = (products::ProductsApi, estimates::EstimatesApi, webhooks::WebhooksApi, ops::OpsApi);

/// The OpenAPI service over every operation, described for SDK generators.
pub fn api_service(services: Arc<Services>, metrics: MetricsExporter) -> OpenApiService<Apis, ()> {
    let apis = (
        products::ProductsApi { services: services.clone() },
        estimates::EstimatesApi { services: services.clone() },
        webhooks::WebhooksApi { services: services.clone() },
        ops::OpsApi { services, metrics },
    );
    OpenApiService::new(apis, "FarmLokal API", env!("CARGO_PKG_VERSION"))
        .description(
            "Hyperlocal marketplace backend: a product catalogue with cursor pagination, filters and search, \
             delivery estimates, and partner webhooks. Every error is RFC 9457 problem+json with a stable `code`; \
             every response carries `X-Request-Id`.",
        )
        .server("/")
}

/// The complete HTTP application for one service.
pub fn routes(services: Arc<Services>, settings: &HttpSettings, metrics: MetricsExporter) -> impl Endpoint {
    let timeout = settings.request_timeout;
    let cors = cors(&settings.cors_origins);
    let limiter = rate_limit::Limiter::new(services.clone(), settings);
    let service = api_service(services, metrics);
    let docs = service.swagger_ui();
    let spec_json = service.spec_endpoint();
    let spec_yaml = service.spec_endpoint_yaml();
    Route::new()
        .nest("/docs", docs)
        .at("/openapi.json", spec_json)
        .at("/openapi.yaml", spec_yaml)
        .nest("/", service)
        .around(middleware::limit_body)
        // Outside `limit_body`: the request timeout includes reading a chunked body.
        .around(move |next, request| middleware::with_timeout(next, request, timeout))
        .around(move |next, request| rate_limit::limit(next, request, limiter.clone()))
        .with_if(cors.is_some(), cors.unwrap_or_default())
        .around(middleware::observe)
}

/// CORS for the configured origins; `None` when none are (no CORS headers are sent then).
fn cors(origins: &[String]) -> Option<poem::middleware::Cors> {
    if origins.is_empty() {
        return None;
    }
    let cors = poem::middleware::Cors::new()
        .allow_methods([poem::http::Method::GET, poem::http::Method::POST])
        .allow_headers(["if-none-match", "x-request-id", "content-type"])
        .expose_headers([
            "etag",
            "link",
            "x-cache",
            "x-request-id",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "ratelimit-policy",
            "ratelimit",
            "retry-after",
        ]);
    Some(if origins.iter().any(|o| o == "*") { cors } else { cors.allow_origins(origins.iter().map(String::as_str)) })
}
