//! Operations endpoints: liveness, readiness and Prometheus metrics. Not rate limited.

use std::sync::Arc;

use poem_openapi::payload::{Json, PlainText};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::settings::MetricsExporter;
use super::tags::ApiTags;
use crate::app::health;
use crate::app::Services;

/// The state of one dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DependencyState {
    /// Reachable.
    Up,
    /// Not reachable: the configured server, or the in-memory adapter taken down by a test's fault switches.
    Down,
    /// Not configured: the in-memory adapter is in use, and answers.
    Memory,
}

impl From<health::DependencyState> for DependencyState {
    fn from(state: health::DependencyState) -> Self {
        match state {
            health::DependencyState::Up => Self::Up,
            health::DependencyState::Down => Self::Down,
            health::DependencyState::InProcess => Self::Memory,
        }
    }
}

/// Readiness of the service and of each dependency.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct Readiness {
    /// `ready` when no dependency is down, else `unavailable`.
    pub status: String,
    /// The catalogue store (MySQL).
    pub mysql: DependencyState,
    /// The shared cache, token store, rate limit and webhook ledger (Redis).
    pub redis: DependencyState,
}

impl Example for Readiness {
    fn example() -> Self {
        Self { status: "ready".into(), mysql: DependencyState::Up, redis: DependencyState::Up }
    }
}

/// Answers of `GET /health/ready`.
#[derive(ApiResponse)]
pub enum ReadinessResponse {
    /// Every dependency answers.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// A dependency is down; the body says which. The service still serves what it can.
    #[oai(status = 503)]
    Unavailable(Json<Readiness>),
}

/// Answer of `GET /health/live`.
#[derive(ApiResponse)]
pub enum LiveResponse {
    /// The process is up: `ok`.
    #[oai(status = 200)]
    Ok(PlainText<&'static str>),
}

/// Answer of `GET /metrics`.
#[derive(ApiResponse)]
pub enum MetricsResponse {
    /// Prometheus text exposition format 0.0.4.
    #[oai(status = 200, content_type = "text/plain; version=0.0.4; charset=utf-8")]
    Ok(PlainText<String>),
}

/// Liveness, readiness and metrics.
pub struct OpsApi {
    pub services: Arc<Services>,
    pub metrics: MetricsExporter,
}

#[OpenApi(
    response_header(
        name = "X-Request-Id",
        ty = "String",
        description = "The request's id (the caller's when valid, else generated); our logs carry it."
    ),
    response_header(
        name = "Cache-Control",
        ty = "String",
        description = "How long the answer may be kept: listings and categories are `public` with `max-age` up to the cache TTL; a product is `no-cache`; an estimate is `private`; errors and webhook answers are `no-store`."
    ),
    response_header(
        name = "Vary",
        ty = "String",
        description = "`accept-encoding` (and `origin` when CORS is on): the request headers the answer depends on."
    ),
    response_header(name = "X-Content-Type-Options", ty = "String", description = "Always `nosniff`.")
)]
impl OpsApi {
    /// Liveness
    ///
    /// 200 while the process runs.
    #[oai(path = "/health/live", method = "get", operation_id = "healthLive", tag = "ApiTags::Operations")]
    async fn live(&self) -> LiveResponse {
        LiveResponse::Ok(PlainText("ok"))
    }

    /// Readiness
    ///
    /// 200 when the catalogue store and the shared state answer (MySQL and Redis where configured, else the
    /// in-memory adapters); 503 naming what is down otherwise.
    #[oai(path = "/health/ready", method = "get", operation_id = "healthReady", tag = "ApiTags::Operations")]
    async fn ready(&self) -> ReadinessResponse {
        let readiness = self.services.health.readiness().await;
        let (mysql, redis) = (readiness.catalogue.into(), readiness.shared_state.into());
        let ready = readiness.is_ready();
        let body = Readiness { status: if ready { "ready" } else { "unavailable" }.into(), mysql, redis };
        if ready {
            ReadinessResponse::Ready(Json(body))
        } else {
            ReadinessResponse::Unavailable(Json(body))
        }
    }

    /// Metrics
    ///
    /// Prometheus text exposition: request counts and latency by route and status, cache results, rate
    /// limiting, partner calls, webhook outcomes.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics", tag = "ApiTags::Operations")]
    async fn metrics(&self) -> MetricsResponse {
        MetricsResponse::Ok(PlainText((self.metrics)()))
    }
}
