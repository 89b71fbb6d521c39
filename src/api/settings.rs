//! What `startup` hands the HTTP API besides the use cases: how it treats connections and requests, and the
//! exporter of the process's metrics.

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

/// How the HTTP API treats connections and requests.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// A request running longer is answered 504.
    pub request_timeout: Duration,
    /// How long a client may take to send one request's headers (slow-client protection).
    pub header_read_timeout: Duration,
    /// Origins allowed by CORS; empty sends no CORS headers, `*` allows any.
    pub cors_origins: Vec<String>,
}

/// Renders every metric of the process in the Prometheus text format.
pub type MetricsExporter = Arc<dyn Fn() -> String + Send + Sync>;
