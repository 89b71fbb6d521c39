//! Rendered pages, kept so that a repeated listing costs one cache read and no store query or serialisation.
//!
//! The cache holds opaque bytes: the caller renders a page and the cache keeps it with a validator (a digest of
//! the bytes) and, for listings, the next page's cursor. Each entry knows when it stops being fresh and is kept
//! for [`SERVE_STALE_FOR`] after that, so when rendering fails (the store is down) a recently expired page is
//! served as [`CacheStatus::Stale`] instead of an error. Concurrent misses of one key in one process render
//! once (single flight).
//!
//! Two tiers: the shared `Cache` port (Redis in a fleet) and a small in-process tier in front of it that keeps a
//! page for at most [`LOCAL_FOR`] and never past its freshness, so a hot page costs no network round trip while
//! every entry still expires when the TTL says. The in-process tier is bounded by bytes, not entries.
//!
//! Freshness is judged by the [`Clock`] port, so a test that advances its clock past the TTL sees the page
//! expire. How long the shared tier physically keeps an entry is the `Cache` adapter's business (Redis by its
//! own clock); the in-process tier's [`LOCAL_FOR`] bound is real elapsed time, a limit on memory rather than on
//! freshness, and never keeps a page past the clock's freshness either.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::single_flight::SingleFlight;
use crate::ports::{Cache, Clock};

/// How long a page is kept after it stops being fresh, to be served as `Stale` when rendering fails.
pub const SERVE_STALE_FOR: Duration = Duration::from_secs(600);
/// How long a page stays in the in-process tier (and never past its freshness).
pub const LOCAL_FOR: Duration = Duration::from_secs(1);
/// Bytes of pages the in-process tier holds at most.
const LOCAL_BYTES: u64 = 32 * 1024 * 1024;

/// Where a served page came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// A fresh cached copy.
    Hit,
    /// Rendered for this request.
    Miss,
    /// An expired copy, served because rendering failed.
    Stale,
}

/// A page as the caller rendered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub body: Bytes,
    /// The cursor of the next page, for listings.
    pub next_cursor: Option<String>,
}

/// A page ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub body: Bytes,
    /// A strong validator of `body`: the first 128 bits of its SHA-256, hex, in double quotes.
    pub tag: String,
    pub next_cursor: Option<String>,
    pub status: CacheStatus,
}

/// The two-tier cache of rendered pages whose rendering fails with `E` (shared by every caller that waited on
/// one render, hence `Clone`).
pub struct ResponseCache<E> {
    shared: Arc<dyn Cache>,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    local: moka::sync::Cache<String, Entry>,
    flights: SingleFlight<String, Result<Entry, E>>,
}

impl<E: Clone + std::error::Error> ResponseCache<E> {
    /// Pages fresh for `ttl` as `clock` tells the time, in front of `shared`.
    pub fn new(shared: Arc<dyn Cache>, ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        let local = moka::sync::Cache::builder()
            .max_capacity(LOCAL_BYTES)
            .weigher(|key: &String, entry: &Entry| u32::try_from(key.len() + entry.body.len()).unwrap_or(u32::MAX))
            .time_to_live(LOCAL_FOR.min(ttl))
            .build();
        Self { shared, ttl, clock, local, flights: SingleFlight::new() }
    }

    /// The fresh page under `key`, or `render` it (once for concurrent callers in this process) and keep it.
    ///
    /// # Errors
    /// `render`'s error when it fails and no copy of the page, however old, is kept.
    pub async fn get_or_render<F, Fut>(&self, key: String, render: F) -> Result<Served, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Rendered, E>>,
    {
        let now = self.clock.now();
        if let Some(entry) = self.local.get(&key).filter(|entry| entry.is_fresh(now)) {
            metrics::counter!("farmlokal_cache_requests_total", "result" => "hit").increment(1);
            metrics::counter!("farmlokal_cache_local_hits_total").increment(1);
            return Ok(entry.served(CacheStatus::Hit));
        }
        let stale = match self.shared.get(&key).await {
            Ok(Some(bytes)) => match Entry::decode(&bytes) {
                Some(entry) if entry.is_fresh(now) => {
                    metrics::counter!("farmlokal_cache_requests_total", "result" => "hit").increment(1);
                    self.local.insert(key, entry.clone());
                    return Ok(entry.served(CacheStatus::Hit));
                }
                entry => entry,
            },
            Ok(None) => None,
            Err(error) => {
                // Per request at debug: the Redis adapters log the outage itself once, when it starts and ends.
                tracing::debug!(error = %error, "response cache unavailable; rendering directly");
                None
            }
        };
        let rendered = self
            .flights
            .run(key.clone(), || async {
                let rendered = render().await?;
                let entry = Entry::new(rendered, self.ttl, self.clock.now());
                if let Err(error) = self.shared.set(&key, &entry.encode(), self.ttl + SERVE_STALE_FOR).await {
                    tracing::debug!(error = %error, "response cache unavailable; page not cached");
                }
                self.local.insert(key.clone(), entry.clone());
                Ok(entry)
            })
            .await;
        match (rendered, stale) {
            (Ok(entry), _) => {
                metrics::counter!("farmlokal_cache_requests_total", "result" => "miss").increment(1);
                Ok(entry.served(CacheStatus::Miss))
            }
            (Err(error), Some(stale)) => {
                tracing::warn!(error = %ErrorChain(&error), "rendering a page failed; serving a stale copy");
                metrics::counter!("farmlokal_cache_requests_total", "result" => "stale").increment(1);
                Ok(stale.served(CacheStatus::Stale))
            }
            (Err(error), None) => Err(error),
        }
    }
}

impl<E> ResponseCache<E> {
    /// Drops every page of the in-process tier, so the next request reads the shared `Cache`: for a test that
    /// changed the catalogue and cleared that cache. A render in flight still keeps its page when it finishes.
    pub fn clear(&self) {
        self.local.invalidate_all();
    }
}

/// An error with its sources, for the log: `a: b: c`.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// A cached page: `fresh_until_ms \n tag \n next_cursor \n body`. Lines, not JSON, so decoding a hit does not
/// parse the body.
#[derive(Clone)]
struct Entry {
    fresh_until_ms: i64,
    tag: String,
    next_cursor: Option<String>,
    body: Bytes,
}

impl Entry {
    /// `rendered`, fresh for `ttl` from `now`.
    fn new(rendered: Rendered, ttl: Duration, now: DateTime<Utc>) -> Self {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let fresh_until_ms = now.timestamp_millis().saturating_add(ttl_ms);
        Self { fresh_until_ms, tag: tag_of(&rendered.body), next_cursor: rendered.next_cursor, body: rendered.body }
    }

    fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        self.fresh_until_ms > now.timestamp_millis()
    }

    fn encode(&self) -> Vec<u8> {
        let head = format!("{}\n{}\n{}\n", self.fresh_until_ms, self.tag, self.next_cursor.as_deref().unwrap_or(""));
        let mut out = Vec::with_capacity(head.len() + self.body.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// `None` for anything that is not an entry this code wrote; such an entry is treated as a miss.
    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut parts = bytes.splitn(4, |b| *b == b'\n');
        let fresh_until_ms = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
        let tag = std::str::from_utf8(parts.next()?).ok()?.to_owned();
        let next_cursor = std::str::from_utf8(parts.next()?).ok().filter(|c| !c.is_empty()).map(str::to_owned);
        let body = Bytes::copy_from_slice(parts.next()?);
        Some(Self { fresh_until_ms, tag, next_cursor, body })
    }

    fn served(self, status: CacheStatus) -> Served {
        Served { body: self.body, tag: self.tag, next_cursor: self.next_cursor, status }
    }
}

/// A strong validator: the first 128 bits of the body's SHA-256, quoted.
pub fn tag_of(body: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_and_garbage_is_a_miss() {
        let entry = Entry {
            fresh_until_ms: 17,
            tag: "\"e\"".into(),
            next_cursor: Some("c".into()),
            body: Bytes::from_static(b"{\"a\":\n1}"),
        };
        let decoded = Entry::decode(&entry.encode()).map(|e| e.served(CacheStatus::Hit));
        assert_eq!(
            decoded.as_ref().map(|d| (&d.body[..], d.tag.as_str(), d.next_cursor.as_deref())),
            Some((&b"{\"a\":\n1}"[..], "\"e\"", Some("c")))
        );
        assert!(Entry::decode(b"not an entry").is_none());
    }
}
