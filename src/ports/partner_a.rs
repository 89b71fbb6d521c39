//! The logistics partner's serviceability API (API A).

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{AccessToken, Pincode, Serviceability};

#[derive(Debug, thiserror::Error)]
pub enum PartnerError {
    #[error("partner A timed out")]
    Timeout,
    #[error("could not connect to partner A")]
    Connection(#[source] anyhow::Error),
    #[error("partner A failed with status {status}")]
    Unavailable { status: u16 },
    #[error("partner A is rate limiting us")]
    RateLimited { retry_after: Option<Duration> },
    /// The token was unknown or expired: get a new one and try once more.
    #[error("partner A rejected the access token")]
    Unauthorized,
    /// A 4xx other than 401 and 429: our request is wrong; retrying cannot help.
    #[error("partner A refused the request with status {status}")]
    Rejected { status: u16 },
    #[error("malformed answer from partner A")]
    Malformed(#[source] anyhow::Error),
}

impl PartnerError {
    /// Whether another attempt may succeed: timeouts, connection errors, 5xx and 429.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Timeout | Self::Connection(_) | Self::Unavailable { .. } | Self::RateLimited { .. })
    }
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PartnerAClient: Send + Sync {
    /// Asks whether, how fast and at what fee the partner delivers to `pincode`. One attempt, no retries.
    ///
    /// # Errors
    /// `Timeout` past the attempt timeout, `Connection` when unreachable, `Unavailable` for 5xx,
    /// `RateLimited` for 429 (with its `Retry-After`), `Unauthorized` for 401, `Rejected` for other 4xx,
    /// `Malformed` for a 200 whose body is not a serviceability answer for this pincode.
    async fn serviceability(&self, token: &AccessToken, pincode: &Pincode) -> Result<Serviceability, PartnerError>;
}
