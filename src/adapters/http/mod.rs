//! Outbound HTTP adapters over ureq 3: the OAuth2 token provider and partner A's client.
//!
//! ureq is blocking, so every call runs inside `tokio::task::spawn_blocking`. One [`ureq::Agent`], built by
//! [`partner_agent`], is shared by both adapters: it never turns a status into an error (so 4xx/5xx bodies and
//! `Retry-After` stay readable), bounds every call with explicit timeouts and follows no redirects. Response
//! bodies are capped at [`RESPONSE_LIMIT`]. Note for log configuration: ureq logs wire data unredacted at
//! `TRACE`, so keep `ureq=info` or higher in any filter.

pub mod partner_a;
pub mod token_provider;

use std::time::Duration;

pub use partner_a::HttpPartnerA;
pub use token_provider::{ClientCredentials, HttpTokenProvider};

/// The largest partner or token response body read: partner answers are a few hundred bytes.
pub const RESPONSE_LIMIT: u64 = 64 * 1024;

/// The longest `Retry-After` honoured; anything longer is treated as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Builds the one agent both adapters share. `attempt_timeout` bounds a whole call (connect, send, headers and
/// body); connecting alone gets at most half of it.
pub fn partner_agent(attempt_timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(attempt_timeout))
        .timeout_connect(Some(attempt_timeout / 2))
        .max_redirects(0)
        .user_agent(concat!("farmlokal/", env!("CARGO_PKG_VERSION")))
        .build();
    ureq::Agent::new_with_config(config)
}

/// How a call failed below HTTP.
#[derive(Debug)]
pub(crate) enum Transport {
    /// A ureq timeout fired (connect, global or a read).
    Timeout,
    /// The body was larger than [`RESPONSE_LIMIT`] or not the expected JSON.
    BadBody(anyhow::Error),
    /// Anything else: refused, reset, DNS, TLS.
    Connection(anyhow::Error),
}

impl From<ureq::Error> for Transport {
    fn from(error: ureq::Error) -> Self {
        match error {
            ureq::Error::Timeout(_) => Self::Timeout,
            ureq::Error::Io(io)
                if matches!(io.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) =>
            {
                Self::Timeout
            }
            e @ (ureq::Error::BodyExceedsLimit(_) | ureq::Error::Json(_)) => Self::BadBody(e.into()),
            other => Self::Connection(other.into()),
        }
    }
}

/// `Retry-After` as whole seconds (the form partners use), capped at [`MAX_RETRY_AFTER`]. HTTP dates and
/// garbage give `None`.
pub(crate) fn retry_after(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    let raw = headers.get(ureq::http::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: u64 = raw.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Runs a blocking ureq call off the async runtime. A panicking or cancelled task becomes a connection failure.
pub(crate) async fn blocking<T, F>(call: F) -> Result<T, Transport>
where
    F: FnOnce() -> Result<T, Transport> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(call).await {
        Ok(result) => result,
        Err(join) => Err(Transport::Connection(anyhow::Error::new(join).context("blocking HTTP task failed"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_whole_seconds_and_caps_them() {
        let mut headers = ureq::http::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", ureq::http::HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert("retry-after", ureq::http::HeaderValue::from_static("99999"));
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert("retry-after", ureq::http::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), None);
    }
}
