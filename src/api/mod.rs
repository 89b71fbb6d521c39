//! The HTTP API, an inbound adapter: poem-openapi operations that parse requests into domain values, call the
//! use cases in [`crate::app`] and render their answers (DTOs, problem+json, headers), plus the middleware and
//! the connection guard. It names no outbound adapter and installs no process-wide state; `crate::startup`
//! hands it the use cases, its settings and the metrics exporter.

pub mod client_ip;
pub mod connection_limits;
pub mod cors;
pub mod dto;
pub mod edge;
pub mod encoding;
pub mod estimates;
pub mod hot;
mod json;
pub mod middleware;
pub mod ops;
pub mod params;
pub mod parse_errors;
pub mod payload;
pub mod problem;
pub mod products;
pub mod rate_limit;
pub mod representation;
pub mod settings;
pub mod slow_clients;
pub mod spec;
pub mod tags;
pub mod webhooks;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;

use self::representation::StaticDocument;

pub use self::settings::{HttpSettings, MetricsExporter};
pub use self::tags::ApiTags;
use crate::app::Services;

pub type Apis = (products::ProductsApi, estimates::EstimatesApi, webhooks::WebhooksApi, ops::OpsApi);

/// The OpenAPI service over every operation, described for SDK generators.
pub fn api_service(
    services: Arc<Services>,
    metrics: MetricsExporter,
    hot: Arc<hot::HotListings>,
) -> OpenApiService<Apis, ()> {
    let apis = (
        products::ProductsApi { services: services.clone(), hot },
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

/// `metrics`, first moving into the exported metrics what the hot path counts per thread (the request
/// histograms, the hot lane's answers, the in-process tier's hits; `crate::app::sharded`), so every scrape is
/// exact.
pub fn publishing(
    metrics: MetricsExporter,
    request_metrics: Arc<middleware::RequestMetrics>,
    hot: Arc<hot::HotListings>,
    services: Arc<Services>,
) -> MetricsExporter {
    Arc::new(move || {
        request_metrics.publish();
        hot.publish_counts();
        services.pages.publish_counts();
        metrics()
    })
}

/// The complete HTTP application for one service: every route behind [`edge::Edge`], the routes inside the
/// request timeout and the body limit; `hot` is the service's table of hot listing targets and
/// `request_metrics` its request histograms (both shared by every endpoint made for the service).
///
/// The routes are awaited through a boxed future (`BoxEndpoint`), so the edge's future does not hold the
/// routes' futures inline, and a hot answer, which never calls the routes, does not move them.
pub fn routes(
    services: Arc<Services>,
    settings: &HttpSettings,
    metrics: MetricsExporter,
    hot: Arc<hot::HotListings>,
    request_metrics: Arc<middleware::RequestMetrics>,
) -> impl Endpoint {
    let timeout = settings.request_timeout;
    let cors = cors::CorsPolicy::new(&settings.cors_origins);
    let limiter = rate_limit::Limiter::new(services.clone(), settings);
    let service = api_service(services, metrics, hot.clone());
    let published = spec::Published::of(&service);
    let allow = Arc::new(representation::AllowTable::from_spec(&published.document, &DOCUMENTS));
    let docs = StaticDocument::new("text/html; charset=utf-8", published.docs_html);
    let spec_yaml = StaticDocument::new("application/yaml", published.yaml);
    let spec_json = StaticDocument::new("application/json", published.json);
    let routes = Route::new()
        .nest("/docs", docs)
        .at("/openapi.json", spec_json)
        .at("/openapi.yaml", spec_yaml)
        .nest("/", service)
        .around(middleware::limit_body)
        // Outside `limit_body`: the request timeout includes reading a chunked body.
        .around(move |next, request| middleware::with_timeout(next, request, timeout))
        .boxed();
    edge::Edge { routes, metrics: request_metrics, allow, cors, limiter, hot }
}

/// The documents served beside the API (GET only).
const DOCUMENTS: [&str; 3] = ["/docs", "/openapi.json", "/openapi.yaml"];
