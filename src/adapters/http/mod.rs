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

use chrono::{DateTime, NaiveDateTime, Utc};
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

/// `Retry-After` as whole seconds or an HTTP date, as of now; see [`retry_after_at`].
pub(crate) fn retry_after(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    retry_after_at(headers, Utc::now())
}

/// `Retry-After` as a wait from `now`, capped at [`MAX_RETRY_AFTER`]: whole seconds, or an HTTP date (RFC 9110
/// §5.6.7: IMF-fixdate and the two obsolete forms recipients must accept). A date already past means no wait;
/// anything else gives `None`.
pub(crate) fn retry_after_at(headers: &ureq::http::HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let raw = headers.get(ureq::http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        // Digits too many for a u64 are still a (very long) number of seconds.
        raw.parse().map_or(MAX_RETRY_AFTER, Duration::from_secs)
    } else {
        // A negative difference (a date in the past) does not convert: no wait.
        (http_date(raw)? - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// An HTTP date: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) or
/// asctime (`Sun Nov  6 08:49:37 1994`), always UTC.
fn http_date(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(date) = DateTime::parse_from_rfc2822(raw) {
        return Some(date.to_utc());
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
        .map(|naive| naive.and_utc())
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

    fn header(value: &'static str) -> ureq::http::HeaderMap {
        let mut headers = ureq::http::HeaderMap::new();
        headers.insert("retry-after", ureq::http::HeaderValue::from_static(value));
        headers
    }

    /// 2015-10-21T07:28:00Z, the date of the RFC 9110 example.
    fn example_now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z").expect("valid date").to_utc()
    }

    #[test]
    fn retry_after_reads_whole_seconds_and_caps_them() {
        let now = example_now();
        assert_eq!(retry_after_at(&ureq::http::HeaderMap::new(), now), None);
        assert_eq!(retry_after_at(&header("7"), now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after_at(&header(" 0 "), now), Some(Duration::ZERO));
        assert_eq!(retry_after_at(&header("99999"), now), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after_at(&header("99999999999999999999999"), now), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn retry_after_reads_an_http_date_relative_to_now() {
        let now = example_now();
        assert_eq!(retry_after_at(&header("Wed, 21 Oct 2015 07:28:30 GMT"), now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after_at(&header("Wed, 21 Oct 2015 07:28:00 GMT"), now), Some(Duration::ZERO));
        assert_eq!(retry_after_at(&header("Thu, 22 Oct 2015 07:28:00 GMT"), now), Some(MAX_RETRY_AFTER));
        // The two obsolete forms every HTTP recipient must still accept (RFC 9110 §5.6.7).
        assert_eq!(retry_after_at(&header("Wednesday, 21-Oct-15 07:28:05 GMT"), now), Some(Duration::from_secs(5)));
        assert_eq!(retry_after_at(&header("Wed Oct 21 07:28:09 2015"), now), Some(Duration::from_secs(9)));
    }

    #[test]
    fn retry_after_in_the_past_means_now() {
        let now = example_now();
        assert_eq!(retry_after_at(&header("Tue, 20 Oct 2015 07:28:00 GMT"), now), Some(Duration::ZERO));
        assert_eq!(retry_after_at(&header("Sun, 06 Nov 1994 08:49:37 GMT"), now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_garbage_gives_none() {
        let now = example_now();
        for garbage in ["soon", "-1", "1.5", "", "Wed, 32 Oct 2015 07:28:00 GMT", "21 Oct 2015", "0x10"] {
            assert_eq!(retry_after_at(&header(garbage), now), None, "{garbage:?}");
        }
    }
}
