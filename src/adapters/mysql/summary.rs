//! Totals and facets (`ProductRepository::summarize`) over MySQL.
//!
//! Without `q`, every count is exact: `product_tally` keeps the number of products per (category, in stock,
//! price), written in the same transaction as each webhook change that moves a product between those groups
//! (`repository::apply`) and rebuilt by the seeder and migration 3. Prices sit on a few hundred steps, so the
//! table holds about a thousand rows at a million products. They are read whole at most once per [`TALLY_FOR`](super::repository::TALLY_FOR)
//! (and again after any write of this instance that moved a product), and a summary is one pass over them in
//! memory (`summary::category_tallies`): no statement per summary, no index walk of `products` at all. Another
//! instance's change shows in the counts within [`TALLY_FOR`](super::repository::TALLY_FOR).
//!
//! A search's counts depend on its words, which no kept count knows: they follow the sample and the capped counts
//! the rule of `domain::summary` asks for.
//!
//! - The sample (the products in the id windows, and the categories) is read at most once per [`SAMPLE_FOR`].
//!   When it is due, one caller reads it again while the others keep using the one held, so a summary never
//!   waits for the read unless no sample was ever held.
//! - The counts a summary needs go to MySQL as at most two statements, each one row of scalar subqueries
//!   (`SELECT (SELECT COUNT(*) FROM (SELECT 1 .. LIMIT cap) AS c), (..), ..`), run at the same time on two
//!   connections: one round trip each instead of one per count, and the summary waits for the slower half
//!   rather than the sum. The values are written inline (integers and validated slugs, see
//!   [`super::listing::inline`]): a prepared statement per shape of summary would only churn the statement cache.
//! - A count made for one summary is reused for `repository::COUNT_FOR` by any summary that needs the same count (keyed
//!   by its SQL): the price buckets of every filter of one category are the same counts whatever the filter's
//!   price range, and pages of a category are the commonest listing. This instance forgets them on a write
//!   that changes a price or crosses zero stock, like its match sets.
//! - A search's counts come from its match set (every match with its filter keys), read once like its pages;
//!   one too broad for a set is counted through FULLTEXT, capped like the rest.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use super::listing::{boolean_query, count_statement, filter_conditions, inline, PRODUCT_COLUMNS};
use super::matches::match_key;
use super::repository::{product_from_row, with_conn, MysqlProductRepository};
use super::repository_error;
use crate::domain::summary::{self, Plan, Sample, Summary, SummaryQuery, TallyGroup};
use crate::domain::{CategorySlug, Money};
use crate::ports::product_repository::RepositoryError;

/// How long a sample for totals and facets is used before it is read again.
const SAMPLE_FOR: Duration = Duration::from_secs(60);

impl MysqlProductRepository {
    /// The sample of the catalogue (see `domain::summary`): the one held while it is younger than
    /// [`SAMPLE_FOR`]; when older, the one held while another caller reads it again.
    pub(super) async fn sample(&self) -> Result<Arc<Sample>, RepositoryError> {
        let held = &self.sample;
        let guard = match held.current() {
            Some((at, sample)) if at.elapsed() < SAMPLE_FOR => return Ok(sample),
            Some((_, sample)) => match held.reading.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(sample),
            },
            None => held.reading.lock().await,
        };
        // Another caller may have read it while this one waited.
        if let Some((at, sample)) = held.current() {
            if at.elapsed() < SAMPLE_FOR {
                return Ok(sample);
            }
        }
        let sample = Arc::new(self.read_sample().await?);
        held.set(Arc::clone(&sample));
        drop(guard);
        Ok(sample)
    }

    /// Reads the sample: the products in the sample's id windows (primary key ranges) and the categories (a
    /// loose scan of the category index).
    async fn read_sample(&self) -> Result<Sample, RepositoryError> {
        let sample_ids = self.limits.sample_ids;
        with_conn(&self.read, "summary sample", |mut conn| async move {
            let bounds: Option<(Option<u64>, Option<u64>)> =
                conn.query_first("SELECT MIN(id), MAX(id) FROM products").await.map_err(repository_error)?;
            let (min, max) = match bounds {
                Some((Some(min), Some(max))) => (min, max),
                _ => return Ok(Sample::new(Vec::new(), 1.0, Vec::new())),
            };
            let (windows, scale) = summary::sample_windows(min, max, sample_ids);
            let ranges = windows.iter().map(|(a, b)| format!("id BETWEEN {a} AND {b}")).collect::<Vec<_>>();
            let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE {}", ranges.join(" OR "));
            let rows: Vec<Row> = conn.query(sql).await.map_err(repository_error)?;
            let products = rows
                .into_iter()
                .map(|r| product_from_row(r).map_err(RepositoryError::Unknown))
                .collect::<Result<Vec<_>, _>>()?;
            let slugs: Vec<String> = conn
                .query("SELECT DISTINCT category FROM products ORDER BY category")
                .await
                .map_err(repository_error)?;
            let categories = slugs
                .iter()
                .map(|s| CategorySlug::parse(s).with_context(|| format!("category {s:?}")))
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(RepositoryError::Unknown)?;
            Ok(Sample::new(products, scale, categories))
        })
        .await
    }

    /// The summary of `query` (see the module notes).
    pub(super) async fn summary(&self, query: &SummaryQuery) -> Result<Summary, RepositoryError> {
        if query.filter.search.is_none() {
            let groups = self.tally().await?;
            let tally = summary::category_tallies(&groups, &query.filter);
            return Ok(summary::from_tally(query, &tally, self.limits));
        }
        let sample = self.sample().await?;
        let plan = Plan::new(query, &sample, self.limits);
        let cap = plan.cap();
        let set = match &query.filter.search {
            Some(search) if plan.slots.iter().any(|s| s.needs_count) => {
                let key = match_key(search);
                let set = match self.matches.get(&key).await {
                    Some(set) => set,
                    None => self.match_set(&key).await?,
                };
                Some(set).filter(|s| !s.is_too_broad())
            }
            _ => None,
        };
        let mut counts: Vec<Option<u64>> = vec![None; plan.slots.len()];
        // (slot, one scalar subquery counting it)
        let mut subqueries: Vec<(usize, String)> = Vec::new();
        for (i, slot) in plan.slots.iter().enumerate().filter(|(_, s)| s.needs_count) {
            let statement = match (&set, &slot.filter.search) {
                (Some(set), Some(_)) => {
                    counts[i] = Some(set.count(&slot.filter, cap));
                    continue;
                }
                (None, Some(search)) => {
                    let (mut conditions, mut params) = filter_conditions(&slot.filter);
                    conditions.push("MATCH(search_words) AGAINST (? IN BOOLEAN MODE)".to_owned());
                    params.push(Value::from(boolean_query(search.alternatives())));
                    let sql = format!(
                        "SELECT COUNT(*) FROM (SELECT 1 FROM products WHERE {} LIMIT {cap}) AS c",
                        conditions.join(" AND ")
                    );
                    super::listing::Statement { sql, params }
                }
                (_, None) => count_statement(&slot.filter, cap),
            };
            let sql = inline(&statement).map_err(RepositoryError::Unknown)?;
            match self.sample.counts.get(&sql) {
                Some(n) => counts[i] = Some(n),
                None => subqueries.push((i, sql)),
            }
        }
        // Two halves, each one statement on its own connection, at the same time.
        let second = subqueries.split_off(subqueries.len().div_ceil(2));
        let (a, b) = tokio::try_join!(self.count_all(subqueries), self.count_all(second))?;
        for (i, n, sql) in a.into_iter().chain(b) {
            self.sample.counts.insert(sql, n);
            counts[i] = Some(n);
        }
        Ok(plan.finish(&counts))
    }

    /// The kept counts (`product_tally`), as read at most [`TALLY_FOR`](super::repository::TALLY_FOR) ago and not since a write of this
    /// instance moved a product between them; when due, one caller reads them again while the others wait.
    async fn tally(&self) -> Result<Arc<Vec<TallyGroup>>, RepositoryError> {
        let held = &self.tally;
        if let Some(groups) = held.fresh() {
            return Ok(groups);
        }
        let _reading = held.reading.lock().await;
        if let Some(groups) = held.fresh() {
            return Ok(groups);
        }
        let generation = held.generation();
        let rows: Vec<(String, bool, u64, i64)> = with_conn(&self.read, "summary tally", |mut conn| async move {
            conn.query(TALLY_STATEMENT).await.map_err(repository_error)
        })
        .await?;
        let groups = rows
            .into_iter()
            .map(|(slug, in_stock, paise, n)| {
                let category = CategorySlug::parse(&slug).with_context(|| format!("category {slug:?}"))?;
                let price = Money::from_paise(paise).with_context(|| format!("price {paise}"))?;
                // A count below zero (a tally behind its rows) counts as none.
                Ok((category, price, in_stock, u64::try_from(n).unwrap_or(0)))
            })
            .collect::<anyhow::Result<Vec<TallyGroup>>>()
            .map_err(RepositoryError::Unknown)?;
        let groups = Arc::new(groups);
        held.set(generation, Arc::clone(&groups));
        Ok(groups)
    }

    /// Runs the counts as one statement of scalar subqueries; nothing when there are none. Each count comes back
    /// with its slot and its subquery.
    async fn count_all(&self, subqueries: Vec<(usize, String)>) -> Result<Vec<(usize, u64, String)>, RepositoryError> {
        if subqueries.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT {}", subqueries.iter().map(|(_, s)| format!("({s})")).collect::<Vec<_>>().join(", "));
        let row: Option<Row> = with_conn(&self.read, "summary counts", |mut conn| async move {
            conn.query_first(sql).await.map_err(repository_error)
        })
        .await?;
        let mut row = row.ok_or_else(|| RepositoryError::Unknown(anyhow::anyhow!("a count statement gave no row")))?;
        subqueries
            .into_iter()
            .enumerate()
            .map(|(column, (i, sql))| match row.take_opt::<Option<u64>, usize>(column) {
                Some(Ok(n)) => Ok((i, n.unwrap_or(0), sql)),
                _ => Err(RepositoryError::Unknown(anyhow::anyhow!("count {column} is missing or not a number"))),
            })
            .collect()
    }
}

/// Every kept count, in category order (the order `summary::category_tallies` reads them in).
const TALLY_STATEMENT: &str =
    "SELECT category, in_stock <> 0, price_paise, products FROM product_tally ORDER BY category, in_stock, price_paise";
