//! The OAuth2 authorization server that issues partner access tokens (client-credentials grant).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::AccessToken;

#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// The server refused our credentials or request (`invalid_client`, `unauthorized_client`,
    /// `invalid_scope`, ...): retrying cannot help until the configuration changes.
    #[error("token request refused: {error}")]
    Rejected { error: String },
    /// The server could not be reached, timed out, or failed (5xx, 429); a later attempt may succeed.
    #[error("token endpoint unavailable")]
    Unavailable {
        retry_after: Option<Duration>,
        #[source]
        source: Arc<anyhow::Error>,
    },
    /// The server answered 200 with a body that is not a bearer token.
    #[error("malformed token response")]
    Malformed(#[source] Arc<anyhow::Error>),
}

impl TokenError {
    /// `Unavailable` for `source`, to retry after `retry_after` when the server said so.
    pub fn unavailable(retry_after: Option<Duration>, source: anyhow::Error) -> Self {
        Self::Unavailable { retry_after, source: Arc::new(source) }
    }

    /// `Malformed` for `source`.
    pub fn malformed(source: anyhow::Error) -> Self {
        Self::Malformed(Arc::new(source))
    }
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TokenProvider: Send + Sync {
    /// Requests a new access token.
    ///
    /// # Errors
    /// `Rejected` for an RFC 6749 error answer (400/401), `Unavailable` for timeouts, connection errors, 429
    /// and 5xx, `Malformed` for a 200 that is not a bearer token with a positive `expires_in`.
    async fn fetch(&self) -> Result<AccessToken, TokenError>;
}
