//! The catalogue use cases: listing with a shared response cache, one product, and the category list.
//!
//! Listing pages are cached as the exact bytes of their HTTP body, so a cache hit costs one cache read and no
//! serialisation. Each entry carries the moment it stops being fresh; it is kept for a while after that, so
//! when the catalogue store fails a recently expired page is served as `STALE` rather than an error.
//! Concurrent misses of one key in one process cause one store query (single flight); with several processes
//! that is one query per process, not one per request.
//!
//! In front of the shared cache sits a small in-process tier: a page read from (or written to) the shared cache
//! is kept in memory for at most [`LOCAL_FOR`] and never past its own freshness, so a hot page costs no network
//! round trip at all while every entry still expires when the TTL says. It is bounded by bytes, not entries.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;

use super::http::dto;
use super::single_flight::SingleFlight;
use crate::domain::{cache_key, Category, CursorCodec, Product, ProductId, ProductQuery, QueryError, RawProductQuery};
use crate::ports::{Cache, ProductRepository, RepositoryError};

/// How long a page is kept after it stops being fresh, to be served as `STALE` when the store fails.
pub const STALE_FOR: Duration = Duration::from_secs(600);
/// How long a page stays in the in-process tier (and never past its freshness).
pub const LOCAL_FOR: Duration = Duration::from_secs(1);
/// Bytes of page bodies the in-process tier holds at most.
const LOCAL_BYTES: u64 = 32 * 1024 * 1024;

/// Where a response body came from (the `X-Cache` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    Stale,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "HIT",
            Self::Miss => "MISS",
            Self::Stale => "STALE",
        }
    }
}

/// A response body ready to send, with its validator and, for listings, the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedBody {
    pub body: Bytes,
    /// A strong entity tag, quoted.
    pub etag: String,
    pub next_cursor: Option<String>,
    pub cache: CacheStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("product not found")]
    NotFound,
    #[error("catalogue unavailable")]
    Unavailable(#[source] Arc<anyhow::Error>),
}

impl From<RepositoryError> for CatalogueError {
    fn from(error: RepositoryError) -> Self {
        match error {
            RepositoryError::NotFound => Self::NotFound,
            RepositoryError::Unavailable(e) | RepositoryError::Unknown(e) => Self::Unavailable(Arc::new(e)),
        }
    }
}

type Rendered = Result<CachedBody, Arc<anyhow::Error>>;

/// The catalogue as the API serves it.
pub struct CatalogueService {
    products: Arc<dyn ProductRepository>,
    cache: Arc<dyn Cache>,
    cursors: CursorCodec,
    ttl: Duration,
    flights: SingleFlight<String, Rendered>,
    local: moka::sync::Cache<String, Envelope>,
}

impl CatalogueService {
    pub fn new(
        products: Arc<dyn ProductRepository>,
        cache: Arc<dyn Cache>,
        cursors: CursorCodec,
        ttl: Duration,
    ) -> Self {
        let local = moka::sync::Cache::builder()
            .max_capacity(LOCAL_BYTES)
            .weigher(|key: &String, entry: &Envelope| u32::try_from(key.len() + entry.body.len()).unwrap_or(u32::MAX))
            .time_to_live(LOCAL_FOR.min(ttl))
            .build();
        Self { products, cache, cursors, ttl, flights: SingleFlight::new(), local }
    }

    /// One page of the catalogue for a raw query.
    ///
    /// # Errors
    /// `Query` for invalid parameters or cursors; `Unavailable` when the store fails and no recent copy exists.
    pub async fn list(&self, raw: &RawProductQuery) -> Result<CachedBody, CatalogueError> {
        let query = ProductQuery::parse(raw, &self.cursors)?;
        let key = cache_key::listing(&query, raw.cursor.as_deref());
        self.cached(key, || async {
            let mut products = self.products.list(&query.to_list_query()).await?;
            let has_more = products.len() > query.limit.get();
            products.truncate(query.limit.get());
            let next_cursor = match products.last() {
                Some(last) if has_more => Some(self.cursors.encode(&query.sort.position_of(last), &query.binding())),
                _ => None,
            };
            let body = dto::render_page(&products, next_cursor.as_deref());
            Ok((body, next_cursor))
        })
        .await
    }

    /// The category list, cached like a listing.
    ///
    /// # Errors
    /// `Unavailable` when the store fails and no recent copy exists.
    pub async fn categories(&self) -> Result<CachedBody, CatalogueError> {
        self.cached(cache_key::categories().to_owned(), || async {
            let categories: Vec<Category> = self.products.categories().await?;
            Ok((dto::render_categories(&categories), None))
        })
        .await
    }

    /// One product, always read from the store (it carries live stock).
    ///
    /// # Errors
    /// `NotFound` when absent, `Unavailable` when the store fails.
    pub async fn get(&self, id: ProductId) -> Result<Product, CatalogueError> {
        Ok(self.products.get(id).await?)
    }

    async fn cached<F, Fut>(&self, key: String, compute: F) -> Result<CachedBody, CatalogueError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(Vec<u8>, Option<String>), RepositoryError>>,
    {
        if let Some(entry) = self.local.get(&key).filter(|e| e.fresh_until_ms > Utc::now().timestamp_millis()) {
            metrics::counter!("farmlokal_cache_requests_total", "result" => "hit").increment(1);
            metrics::counter!("farmlokal_cache_local_hits_total").increment(1);
            return Ok(entry.into_body(CacheStatus::Hit));
        }
        let stale = match self.cache.get(&key).await {
            Ok(Some(bytes)) => match Envelope::decode(&bytes) {
                Some(entry) if entry.fresh_until_ms > Utc::now().timestamp_millis() => {
                    metrics::counter!("farmlokal_cache_requests_total", "result" => "hit").increment(1);
                    self.local.insert(key, entry.clone());
                    return Ok(entry.into_body(CacheStatus::Hit));
                }
                entry => entry,
            },
            Ok(None) => None,
            Err(error) => {
                // Per request at debug: the Redis adapters log the outage itself once, when it starts and ends.
                tracing::debug!(error = %error, "response cache unavailable; reading the catalogue store directly");
                None
            }
        };
        let rendered = self
            .flights
            .run(key.clone(), || async {
                let (body, next_cursor) = compute().await.map_err(|e| Arc::new(anyhow::Error::new(e)))?;
                let fresh_until_ms = Utc::now().timestamp_millis() + self.ttl.as_millis() as i64;
                let entry = Envelope { fresh_until_ms, etag: etag_of(&body), next_cursor, body: Bytes::from(body) };
                if let Err(error) = self.cache.set(&key, &entry.encode(), self.ttl + STALE_FOR).await {
                    tracing::debug!(error = %error, "response cache unavailable; page not cached");
                }
                self.local.insert(key.clone(), entry.clone());
                Ok(entry.into_body(CacheStatus::Miss))
            })
            .await;
        match (rendered, stale) {
            (Ok(body), _) => {
                metrics::counter!("farmlokal_cache_requests_total", "result" => "miss").increment(1);
                Ok(body)
            }
            (Err(error), Some(stale)) => {
                tracing::warn!(error = %error, "catalogue store failed; serving a stale page");
                metrics::counter!("farmlokal_cache_requests_total", "result" => "stale").increment(1);
                Ok(stale.into_body(CacheStatus::Stale))
            }
            (Err(error), None) => Err(match error.downcast_ref::<RepositoryError>() {
                Some(RepositoryError::NotFound) => CatalogueError::NotFound,
                _ => CatalogueError::Unavailable(error),
            }),
        }
    }
}

/// A strong entity tag: the first 128 bits of the body's SHA-256, quoted.
pub fn etag_of(body: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// A cached page: `fresh_until_ms \n etag \n next_cursor \n body`. Lines, not JSON, so decoding a hit does not
/// parse the body.
#[derive(Clone)]
struct Envelope {
    fresh_until_ms: i64,
    etag: String,
    next_cursor: Option<String>,
    body: Bytes,
}

impl Envelope {
    fn encode(&self) -> Vec<u8> {
        let head = format!("{}\n{}\n{}\n", self.fresh_until_ms, self.etag, self.next_cursor.as_deref().unwrap_or(""));
        let mut out = Vec::with_capacity(head.len() + self.body.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// `None` for anything that is not an envelope this code wrote; such an entry is treated as a miss.
    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut parts = bytes.splitn(4, |b| *b == b'\n');
        let fresh_until_ms = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
        let etag = std::str::from_utf8(parts.next()?).ok()?.to_owned();
        let next_cursor = std::str::from_utf8(parts.next()?).ok().filter(|c| !c.is_empty()).map(str::to_owned);
        let body = Bytes::copy_from_slice(parts.next()?);
        Some(Self { fresh_until_ms, etag, next_cursor, body })
    }

    fn into_body(self, cache: CacheStatus) -> CachedBody {
        CachedBody { body: self.body, etag: self.etag, next_cursor: self.next_cursor, cache }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_round_trips_and_garbage_is_a_miss() {
        let entry = Envelope {
            fresh_until_ms: 17,
            etag: "\"e\"".into(),
            next_cursor: Some("c".into()),
            body: Bytes::from_static(b"{\"a\":\n1}"),
        };
        let decoded = Envelope::decode(&entry.encode()).map(|e| e.into_body(CacheStatus::Hit));
        assert_eq!(
            decoded.as_ref().map(|d| (&d.body[..], d.etag.as_str(), d.next_cursor.as_deref())),
            Some((&b"{\"a\":\n1}"[..], "\"e\"", Some("c")))
        );
        assert!(Envelope::decode(b"not an envelope").is_none());
    }
}
