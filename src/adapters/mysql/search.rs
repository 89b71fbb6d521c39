//! Search pages over MySQL: walking the sort order for a common word, or picking pages from a word's match set
//! (see `matches`), with the rows always read fresh.

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use super::listing::{list_statement, narrow_range_statement, PRODUCT_COLUMNS};
use super::matches::{self, Entry, MatchSet};
use super::repository::{product_from_row, with_conn, MysqlProductRepository};
use super::repository_error;
use crate::domain::{ListQuery, Product, ProductFilter, SearchText, SortField};
use crate::ports::product_repository::RepositoryError;

/// A price range the sample estimates at no more products than this is read from the price index and its rows
/// sorted (a few milliseconds even when the estimate is several times too low), instead of walking the sort's
/// index: that walk reads `page / share of the range` entries, the whole index for a range holding nothing.
const NARROW_RANGE: f64 = 3_000.0;

/// A search first walks the sort order, at most this many rows per row wanted (bounded below and above), so a
/// page of a word in about 1% or more of the products is found without the FULLTEXT index. Walking 4,000 rows
/// costs about 20 ms on MariaDB here; a FULLTEXT lookup of a word in 1% of a million products costs more.
const SEARCH_SCAN_PER_ROW: usize = 100;
const SEARCH_SCAN_MIN: usize = 2_000;
const SEARCH_SCAN_MAX: usize = 6_000;
/// The first stretch of the walk, in rows per row wanted: enough for a word in one product in eight.
const SEARCH_FIRST_STRETCH_PER_ROW: usize = 8;

/// How many rows the next stretch of a search walk reads: what the matches seen so far say is needed to fill the
/// page, with half again to spare, or four times what was walked when nothing matched yet; never beyond the
/// budget. Reading the whole budget at once cost a common word 2,000 rows for a page found in the first 150.
fn next_stretch(walked: usize, hits: usize, wanted: usize, remaining: usize) -> usize {
    let needed = wanted.saturating_sub(hits);
    let estimate = if hits == 0 { walked.saturating_mul(4) } else { needed.saturating_mul(walked) * 3 / (2 * hits) };
    estimate.max(wanted).min(remaining)
}

/// Candidates read beyond what a page still needs from a match set, so a product that fails the filter when
/// read fresh (its price changed since the set was read) rarely costs a second read.
const MATCH_SPARE: usize = 4;

/// True when a fresh row still has the keys its match-set entry was read with.
fn agrees(entry: &Entry, product: &Product) -> bool {
    entry.price == product.price
        && entry.created_at == product.created_at.timestamp()
        && *entry.name == *product.name.as_bytes()
        && entry.in_stock == (product.stock > 0)
}

impl MysqlProductRepository {
    /// Runs one statement on the read pool and reads its rows as products: prepared when it has parameters,
    /// as text otherwise.
    pub(super) async fn products(
        &self,
        what: &str,
        sql: String,
        params: Option<Vec<Value>>,
    ) -> Result<Vec<Product>, RepositoryError> {
        with_conn(&self.read, what, |mut conn| async move {
            let rows: Vec<Row> = match params {
                Some(params) => conn.exec(sql, params).await,
                None => conn.query(sql).await,
            }
            .map_err(repository_error)?;
            rows.into_iter().map(|r| product_from_row(r).map_err(RepositoryError::Unknown)).collect()
        })
        .await
    }

    /// Runs one listing statement and puts its rows in the sort's order.
    pub(super) async fn select(&self, query: &ListQuery) -> Result<Vec<Product>, RepositoryError> {
        let statement =
            if self.narrow_range(query).await { narrow_range_statement(query) } else { list_statement(query) };
        // Sent as text, with the values written in, whenever all of them can be (`inline` refuses anything but
        // integers and plain slugs; a name cursor with other characters goes prepared): the (b) benchmark's
        // misses ran x1.14 this way against prepared executions, side by side (`bench/compare.sh`, README).
        let mut products = match super::listing::inline(&statement) {
            Ok(sql) => self.products("list", sql, None).await?,
            Err(_) => self.products("list", statement.sql, Some(statement.params)).await?,
        };
        products.sort_unstable_by(|a, b| query.sort.compare(a, b));
        Ok(products)
    }

    /// Whether `query` filters on a price range that the sample says holds at most [`NARROW_RANGE`] products
    /// and sorts by something else: then reading the range beats walking the sort's index (see
    /// `listing::narrow_range_statement`). Without a sample (the store failing) the walk is kept.
    async fn narrow_range(&self, query: &ListQuery) -> bool {
        let filter = &query.filter;
        let ranged = filter.min_price.is_some() || filter.max_price.is_some();
        if !ranged || filter.search.is_some() || query.sort.field == SortField::Price {
            return false;
        }
        self.sample().await.is_ok_and(|sample| sample.estimate(filter) <= NARROW_RANGE)
    }

    /// A page of a search found by walking the sort order within a budget and keeping the rows the domain's
    /// search rule accepts (the rule InnoDB's boolean mode applies, and the one the in-memory catalogue uses, so
    /// either path gives the same pages); `None` when the budget ran out first. The walk goes in stretches, each
    /// continuing after the last row of the one before (a keyset position, like a cursor) and sized by the
    /// matches seen so far, so a common word costs one short read.
    pub(super) async fn walk_search(
        &self,
        query: &ListQuery,
        search: &SearchText,
    ) -> Result<Option<Vec<Product>>, RepositoryError> {
        let budget = (query.fetch * SEARCH_SCAN_PER_ROW).clamp(SEARCH_SCAN_MIN, SEARCH_SCAN_MAX);
        let mut walk = ListQuery {
            filter: ProductFilter { search: None, ..query.filter.clone() },
            sort: query.sort,
            after: query.after.clone(),
            fetch: (query.fetch * SEARCH_FIRST_STRETCH_PER_ROW).min(budget),
        };
        let mut walked = 0;
        let mut hits: Vec<Product> = Vec::with_capacity(query.fetch);
        loop {
            let rows = self.select(&walk).await?;
            walked += rows.len();
            let exhausted = rows.len() < walk.fetch;
            walk.after = rows.last().map(|p| query.sort.position_of(p));
            hits.extend(rows.into_iter().filter(|p| search.matches(p)));
            if hits.len() >= query.fetch || exhausted {
                hits.truncate(query.fetch);
                return Ok(Some(hits));
            }
            if walked >= budget {
                return Ok(None);
            }
            walk.fetch = next_stretch(walked, hits.len(), query.fetch, budget - walked);
        }
    }

    /// The match set of a search, read through FULLTEXT when none is held.
    pub(super) async fn match_set(&self, key: &str) -> Result<Arc<MatchSet>, RepositoryError> {
        let max_matches = self.max_matches;
        let load = with_conn(&self.read, "search matches", |mut conn| {
            let key = key.to_owned();
            async move {
                metrics::counter!("farmlokal_search_match_set_loads_total").increment(1);
                matches::load(&mut conn, &key, max_matches).await.map_err(|e| {
                    match e.downcast::<mysql_async::Error>() {
                        Ok(driver) => repository_error(driver),
                        Err(other) => RepositoryError::Unknown(other),
                    }
                })
            }
        });
        self.matches.get_or_load(key, load).await.map_err(|shared| match &*shared {
            RepositoryError::NotFound => RepositoryError::NotFound,
            RepositoryError::Unavailable(_) => RepositoryError::Unavailable(anyhow::Error::new(shared)),
            RepositoryError::Unknown(_) => RepositoryError::Unknown(anyhow::Error::new(shared)),
        })
    }

    /// A page of a search from its match set: the entries chosen in memory, their rows read fresh by primary
    /// key and checked against the filter again, more read until the page is full or the set runs out. A set
    /// that disagrees with a fresh row is forgotten, so the next search of it reloads.
    pub(super) async fn page_of(
        &self,
        key: &str,
        set: &MatchSet,
        query: &ListQuery,
    ) -> Result<Vec<Product>, RepositoryError> {
        let mut page: Vec<Product> = Vec::with_capacity(query.fetch);
        let mut next = query.clone();
        let mut stale = false;
        loop {
            let wanted = query.fetch - page.len() + MATCH_SPARE;
            let entries = set.page(&next, wanted);
            let Some(last) = entries.last() else { break };
            next.after = Some(query.sort.position_of(*last));
            // The ids are integers read from our own table, written inline: a prepared statement per id list
            // would only churn the statement cache.
            let ids = entries.iter().map(|e| e.id.get().to_string()).collect::<Vec<_>>().join(",");
            let rows = self
                .products("search page", format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id IN ({ids})"), None)
                .await?;
            stale |= rows.len() != entries.len()
                || rows.iter().any(|p| entries.iter().find(|e| e.id == p.id).is_none_or(|e| !agrees(e, p)));
            page.extend(rows.into_iter().filter(|p| query.filter.matches(p)));
            if page.len() >= query.fetch || entries.len() < wanted {
                break;
            }
        }
        if stale {
            self.matches.forget(key).await;
        }
        page.sort_unstable_by(|a, b| query.sort.compare(a, b));
        page.truncate(query.fetch);
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::next_stretch;

    #[test]
    fn a_walk_stretch_follows_the_matches_seen_and_stays_within_the_budget() {
        // 3 of 168 rows matched and 18 more are wanted: 18 / (3/168) * 1.5 rows.
        assert_eq!(next_stretch(168, 3, 21, 5_000), 1_512);
        // Nothing matched yet: four times as far.
        assert_eq!(next_stretch(168, 0, 21, 5_000), 672);
        // Never past the budget, never shorter than the page.
        assert_eq!(next_stretch(168, 0, 21, 300), 300);
        assert_eq!(next_stretch(2_000, 20, 21, 5_000), 150);
        assert_eq!(next_stretch(5_990, 0, 21, 10), 10);
    }
}
