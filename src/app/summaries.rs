//! Totals and facets shared by every page of one filter.
//!
//! A summary depends on the filters (and on what `include` asks), not on the sort, the page size or the
//! cursor, so the pages of one listing can share it: it is kept through the `Cache` port for the page's TTL,
//! under the canonical filter and `include` only, and concurrent misses of one filter in this process count
//! once (single flight). A page's totals may be up to one TTL older than its products (a summary kept near the
//! end of its TTL goes into a freshly rendered page). When the cache is down or holds something unreadable, the
//! summary is counted as if it were absent.

use std::sync::Arc;
use std::time::Duration;

use super::single_flight::SingleFlight;
use crate::domain::summary::{Count, PriceBucket, Summary, SummaryQuery};
use crate::domain::{CategorySlug, Sort};
use crate::ports::{Cache, ProductRepository, RepositoryError};

/// Bump when the stored shape changes, so old entries are never read by new code.
const VERSION: &str = "v1";

/// Summaries through a shared cache.
pub struct Summaries {
    products: Arc<dyn ProductRepository>,
    cache: Arc<dyn Cache>,
    ttl: Duration,
    flights: SingleFlight<String, Result<Summary, Arc<RepositoryError>>>,
}

/// The key of a summary: the filters in canonical form (with a fixed sort, which a summary does not read) and
/// what `include` asks for.
pub fn key(query: &SummaryQuery) -> String {
    format!("summary:{VERSION}:{}&include={}", query.filter.canonical(Sort::DEFAULT), query.include.canonical())
}

impl Summaries {
    /// Summaries of `products`, kept in `cache` for `ttl`.
    pub fn new(products: Arc<dyn ProductRepository>, cache: Arc<dyn Cache>, ttl: Duration) -> Self {
        Self { products, cache, ttl, flights: SingleFlight::new() }
    }

    /// The summary of `query`: the cached one, or counted once for every concurrent caller and kept.
    ///
    /// # Errors
    /// The store's error when it fails (shared by every caller that waited on one count).
    pub async fn get(&self, query: &SummaryQuery) -> Result<Summary, Arc<RepositoryError>> {
        let key = key(query);
        match self.cache.get(&key).await {
            Ok(Some(bytes)) => {
                if let Some(summary) = decode(&bytes) {
                    metrics::counter!("farmlokal_summary_requests_total", "result" => "hit").increment(1);
                    return Ok(summary);
                }
            }
            Ok(None) => {}
            Err(error) => tracing::debug!(error = %error, "summary cache unavailable; counting directly"),
        }
        self.flights
            .run(key.clone(), || async {
                metrics::counter!("farmlokal_summary_requests_total", "result" => "miss").increment(1);
                let summary = self.products.summarize(query).await.map_err(Arc::new)?;
                if let Err(error) = self.cache.set(&key, &encode(&summary), self.ttl).await {
                    tracing::debug!(error = %error, "summary cache unavailable; not kept");
                }
                Ok(summary)
            })
            .await
    }
}

/// A summary as stored: one line per count, `<kind> <fields..> <value> <0|1 exact>` (`t` the total, `c <slug>`
/// a category, `p <min> <max or ->` a price bucket). Plain text: the use cases stay free of serialisation crates.
fn encode(summary: &Summary) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut out = String::new();
    let exact = |c: &Count| u8::from(c.exact);
    if let Some(c) = &summary.total {
        let _ = writeln!(out, "t {} {}", c.value, exact(c));
    }
    for (slug, c) in &summary.categories {
        let _ = writeln!(out, "c {slug} {} {}", c.value, exact(c));
    }
    for (b, c) in &summary.prices {
        let max = b.max.map_or_else(|| "-".to_owned(), |m| m.to_string());
        let _ = writeln!(out, "p {} {max} {} {}", b.min, c.value, exact(c));
    }
    out.into_bytes()
}

/// The stored summary, or `None` when the bytes are not one (another version, or damaged).
fn decode(bytes: &[u8]) -> Option<Summary> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut summary = Summary::default();
    let count = |value: &str, exact: &str| -> Option<Count> {
        let exact = match exact {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        Some(Count { value: value.parse().ok()?, exact })
    };
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["t", value, exact] => summary.total = Some(count(value, exact)?),
            ["c", slug, value, exact] => {
                summary.categories.push((CategorySlug::parse(slug).ok()?, count(value, exact)?));
            }
            ["p", min, max, value, exact] => {
                let max = if *max == "-" { None } else { Some(max.parse().ok()?) };
                summary.prices.push((PriceBucket { min: min.parse().ok()?, max }, count(value, exact)?));
            }
            _ => return None,
        }
    }
    Some(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::cache::MemoryCache;
    use crate::adapters::memory::product_repository::MemoryProductRepository;
    use crate::domain::summary::Include;
    use crate::domain::{Money, ProductFilter};

    fn query(min_price: u64, include: Include) -> SummaryQuery {
        let filter = ProductFilter { min_price: Money::from_paise(min_price).ok(), ..ProductFilter::default() };
        SummaryQuery { filter, include }
    }

    #[test]
    fn a_stored_summary_reads_back_as_it_was() {
        let summary = Summary {
            total: Some(Count { value: 12_345, exact: false }),
            categories: vec![(
                CategorySlug::parse("dairy").unwrap_or_else(|_| unreachable!()),
                Count { value: 7, exact: true },
            )],
            prices: vec![(PriceBucket { min: 40_000, max: None }, Count { value: 0, exact: true })],
        };
        assert_eq!(decode(&encode(&summary)), Some(summary));
        assert_eq!(decode(b"t 12 maybe"), None);
    }

    #[test]
    fn the_key_holds_the_filter_and_include_but_not_the_sort() {
        let all = Include { total: true, facets: true };
        assert_ne!(key(&query(100, all)), key(&query(200, all)));
        assert_ne!(key(&query(100, all)), key(&query(100, Include { total: true, facets: false })));
    }

    #[tokio::test]
    async fn a_summary_is_counted_once_while_cached() {
        let repo = MemoryProductRepository::sample(500);
        let cache = Arc::new(MemoryCache::default());
        let summaries = Summaries::new(Arc::new(repo.clone()), cache, Duration::from_secs(60));
        let q = query(100, Include { total: true, facets: true });
        let first = summaries.get(&q).await.expect("counted");
        repo.faults().fail_next(1);
        assert_eq!(summaries.get(&q).await.expect("cached, the store is not asked"), first);
    }
}
