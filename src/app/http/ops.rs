//! Operations endpoints: liveness, readiness and Prometheus metrics. Not rate limited.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::ApiTags;
use crate::app::delivery::{BreakerState, PartnerMetrics};
use crate::app::state::AppState;

/// How long a readiness check waits for one dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The state of one dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DependencyState {
    /// Reachable.
    Up,
    /// Configured but not reachable.
    Down,
    /// Not configured: the in-memory adapter is in use.
    Memory,
}

/// Readiness of the service and of each dependency.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct Readiness {
    /// `ready` when every configured dependency is up, else `unavailable`.
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
    /// Every configured dependency answers.
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

/// The process-wide Prometheus recorder. The `metrics` facade is global by design, so every service in one
/// process shares it; it is installed on first use.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .and_then(|builder| builder.install_recorder())
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .as_ref()
}

/// Liveness, readiness and metrics.
pub struct OpsApi {
    pub state: Arc<AppState>,
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
    /// 200 when MySQL and Redis (where configured) answer; 503 naming what is down otherwise.
    #[oai(path = "/health/ready", method = "get", operation_id = "healthReady", tag = "ApiTags::Operations")]
    async fn ready(&self) -> ReadinessResponse {
        let ports = &self.state.ports;
        let backends = &self.state.backends;
        let (mysql, redis) = tokio::join!(
            async {
                if backends.catalogue == "memory" {
                    return DependencyState::Memory;
                }
                match tokio::time::timeout(CHECK_TIMEOUT, ports.products.ping()).await {
                    Ok(Ok(())) => DependencyState::Up,
                    _ => DependencyState::Down,
                }
            },
            async {
                if backends.redis.is_none() {
                    return DependencyState::Memory;
                }
                match tokio::time::timeout(CHECK_TIMEOUT, ports.cache.ping()).await {
                    Ok(Ok(())) => DependencyState::Up,
                    _ => DependencyState::Down,
                }
            }
        );
        let ready = mysql != DependencyState::Down && redis != DependencyState::Down;
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
        let mut text = prometheus().map(PrometheusHandle::render).unwrap_or_default();
        text.push_str(&render_partner_metrics(self.state.delivery.metrics()));
        MetricsResponse::Ok(PlainText(text))
    }
}

/// Partner A's counters (kept per service instance by the delivery use case) in Prometheus text.
fn render_partner_metrics(metrics: &PartnerMetrics) -> String {
    use std::fmt::Write as _;
    let counters = [
        (
            "farmlokal_partner_token_fetches_total",
            "OAuth2 tokens fetched from the authorization server",
            &metrics.token_fetches,
        ),
        ("farmlokal_partner_token_store_errors_total", "Token store (Redis) failures", &metrics.token_store_errors),
        ("farmlokal_partner_attempts_total", "Requests sent to partner A", &metrics.partner_attempts),
        ("farmlokal_partner_retries_total", "Retries of partner A requests", &metrics.retries),
        ("farmlokal_partner_live_answers_total", "Estimates answered live", &metrics.live_answers),
        (
            "farmlokal_partner_stale_answers_total",
            "Estimates answered from the last good answer",
            &metrics.stale_answers,
        ),
        ("farmlokal_partner_unavailable_answers_total", "Estimates answered 503", &metrics.unavailable_answers),
        ("farmlokal_partner_breaker_opened_total", "Times the circuit breaker opened", &metrics.breaker_opened),
    ];
    let mut out = String::new();
    for (name, help, counter) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", PartnerMetrics::get(counter));
    }
    let current = metrics.breaker_state();
    let _ = writeln!(out, "# HELP farmlokal_partner_breaker_state Circuit breaker state of partner A (1 = current)");
    let _ = writeln!(out, "# TYPE farmlokal_partner_breaker_state gauge");
    for state in [BreakerState::Closed, BreakerState::Open, BreakerState::HalfOpen] {
        let _ = writeln!(
            out,
            "farmlokal_partner_breaker_state{{state=\"{}\"}} {}",
            state.as_str(),
            u8::from(state == current)
        );
    }
    out
}
