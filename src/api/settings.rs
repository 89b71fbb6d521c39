//! What `startup` hands the HTTP API besides the use cases: how it treats connections and requests, and the
//! exporter of the process's metrics.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::connection_limits::ConnectionLimits;

/// How the HTTP API treats connections and requests.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// A request running longer is answered 504.
    pub request_timeout: Duration,
    /// How long a client may take to send one request's headers (slow-client protection).
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait, after a response, for the first byte of its next request.
    pub idle_timeout: Duration,
    /// How many connections the listener holds open at most, per client address and in all.
    pub connection_limits: ConnectionLimits,
    /// Origins allowed by CORS; empty sends no CORS headers, `*` allows any.
    pub cors_origins: Vec<String>,
    /// The client address of a request that arrives with no peer socket at all: one built in process, as
    /// `poem::test::TestClient` sends them. With it, the rate limit, its headers and the trusted-proxy reading
    /// of `X-Forwarded-For` treat such a request as one from this peer; `None` leaves it unlimited. Requests on
    /// a real connection always come from their peer (and one over a Unix socket, which has no address, is not
    /// limited).
    pub in_process_client: Option<IpAddr>,
}

/// Renders every metric of the process in the Prometheus text format.
pub type MetricsExporter = Arc<dyn Fn() -> String + Send + Sync>;
