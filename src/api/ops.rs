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

/// What readiness concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ReadinessStatus {
    /// Every dependency answers (200).
    Ready,
    /// Catalogue reads are served but the shared state (Redis) is down; `degraded` names it (200).
    Degraded,
    /// The catalogue store cannot be reached (503).
    Unavailable,
    /// The instance received SIGTERM or Ctrl-C and is draining before it stops (503).
    ShuttingDown,
}

impl From<health::Verdict> for ReadinessStatus {
    fn from(verdict: health::Verdict) -> Self {
        match verdict {
            health::Verdict::Ready => Self::Ready,
            health::Verdict::Degraded => Self::Degraded,
            health::Verdict::Unavailable => Self::Unavailable,
            health::Verdict::ShuttingDown => Self::ShuttingDown,
        }
    }
}

/// Readiness of the service and of each dependency.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct Readiness {
    /// `ready`, `degraded` (Redis down, still serving), `unavailable` (the catalogue store is down) or
    /// `shutting_down`.
    pub status: ReadinessStatus,
    /// The catalogue store (MySQL).
    pub mysql: DependencyState,
    /// The shared cache, token store, rate limit and webhook ledger (Redis).
    pub redis: DependencyState,
    /// The dependencies that are down while the instance stays ready: `redis` when the shared state is down
    /// (listings are still served, the rate limit is per process). Empty otherwise.
    pub degraded: Vec<String>,
}

impl Example for Readiness {
    fn example() -> Self {
        Self {
            status: ReadinessStatus::Ready,
            mysql: DependencyState::Up,
            redis: DependencyState::Up,
            degraded: vec![],
        }
    }
}

/// Answers of `GET /health/ready`.
#[derive(ApiResponse)]
pub enum ReadinessResponse {
    /// The instance can answer catalogue reads: `ready`, or `degraded` with Redis down (named in `degraded`).
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// The catalogue store cannot be reached, or the instance is shutting down; the body says which. The
    /// service still serves what it can.
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

#[OpenApi]
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
    /// 200 while this instance can answer catalogue reads (MySQL where configured, else the in-memory
    /// catalogue), including with Redis down: then `status` is `degraded` and `degraded` names `redis`. 503
    /// when the catalogue store cannot be reached, or from the moment the instance receives SIGTERM (it keeps
    /// serving for `FARMLOKAL_SHUTDOWN_DRAIN_SECS`, so a load balancer has time to stop sending).
    #[oai(path = "/health/ready", method = "get", operation_id = "healthReady", tag = "ApiTags::Operations")]
    async fn ready(&self) -> ReadinessResponse {
        let readiness = self.services.health.readiness().await;
        let (mysql, redis) = (readiness.catalogue.into(), readiness.shared_state.into());
        let ready = readiness.is_ready();
        let degraded = match readiness.verdict() {
            health::Verdict::Degraded => vec!["redis".to_owned()],
            _ => Vec::new(),
        };
        let body = Readiness { status: readiness.verdict().into(), mysql, redis, degraded };
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
