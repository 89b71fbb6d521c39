//! Process-wide observability: the log subscriber and the Prometheus recorder behind the `metrics` facade.
//! Both are global by design, so they are installed here, once, before any service is built: a gauge a
//! service sets while it is built is then present, with its value, at the first scrape.

use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use super::config::LogFormat;
use crate::api::MetricsExporter;

/// Histogram buckets of every `*_seconds` metric.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Installs the process's Prometheus recorder on first call; later calls return the same exporter. Every
/// service of the process shares it.
pub fn metrics() -> MetricsExporter {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    let handle = HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .and_then(|builder| builder.install_recorder())
            .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
            .ok()
    });
    Arc::new(move || handle.as_ref().map(PrometheusHandle::render).unwrap_or_default())
}

/// Installs the log subscriber: `RUST_LOG` (default `info`), as text or JSON lines.
pub fn init_logging(format: LogFormat) {
    // ureq logs request and response wire data, Authorization headers included, at DEBUG and TRACE: it stays
    // at INFO whatever RUST_LOG asks, so client secrets and tokens never reach the log.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive("ureq=info".parse().unwrap_or_default())
        .add_directive("ureq_proto=info".parse().unwrap_or_default());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
