//! The HTTP layer: poem-openapi operations, their DTOs, problem+json errors and middleware.

pub mod client_ip;
pub mod delivery;
pub mod dto;
pub mod middleware;
pub mod ops;
pub mod params;
pub mod payload;
pub mod problem;
pub mod products;
pub mod rate_limit;
pub mod webhooks;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

use crate::app::state::AppState;

/// Groups of operations in the docs.
#[derive(Tags)]
pub enum ApiTags {
    /// Products and categories.
    Catalogue,
    /// Delivery estimates from the logistics partner.
    Delivery,
    /// Signed events from partners.
    Webhooks,
    /// Health and metrics.
    Operations,
}

type Apis = (products::ProductsApi, delivery::DeliveryApi, webhooks::WebhooksApi, ops::OpsApi);

/// The OpenAPI service over every operation, described for SDK generators.
pub fn api_service(state: Arc<AppState>) -> OpenApiService<Apis, ()> {
    let apis = (
        products::ProductsApi { state: state.clone() },
        delivery::DeliveryApi { state: state.clone() },
        webhooks::WebhooksApi { state: state.clone() },
        ops::OpsApi { state },
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
pub fn routes(state: Arc<AppState>) -> impl Endpoint {
    // Install the metrics recorder before the first request records anything.
    let _ = ops::prometheus();
    let timeout = state.settings.request_timeout;
    let cors = cors(&state.settings.cors_origins);
    let limited = state.clone();
    let service = api_service(state);
    let docs = service.swagger_ui();
    let spec_json = service.spec_endpoint();
    let spec_yaml = service.spec_endpoint_yaml();
    Route::new()
        .nest("/docs", docs)
        .at("/openapi.json", spec_json)
        .at("/openapi.yaml", spec_yaml)
        .nest("/", service)
        .around(move |next, request| middleware::with_timeout(next, request, timeout))
        .around(middleware::limit_body)
        .around(move |next, request| rate_limit::limit(next, request, limited.clone()))
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
            "retry-after",
        ]);
    Some(if origins.iter().any(|o| o == "*") { cors } else { cors.allow_origins(origins.iter().map(String::as_str)) })
}
