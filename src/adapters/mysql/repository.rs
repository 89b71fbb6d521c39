//! `ProductRepository` over MySQL / MariaDB with two pools: catalogue reads go to `read` (a replica when
//! configured), writes and webhook effects to `write`.

use std::future::Future;
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mysql_async::prelude::{FromValue, Queryable};
use mysql_async::{IsolationLevel, Pool, Row, TxOpts, Value};

use super::listing::{boolean_query, count_statement, filter_conditions, list_statement, Statement, PRODUCT_COLUMNS};
use super::matches::{self, Entry, MatchSet, MatchSets};
use super::{
    build_pool, is_duplicate_key, repository_error, timed_out, CALL_TIMEOUT, CONNECT_TIMEOUT, STATEMENT_TIMEOUT,
};

use crate::domain::summary::{self, Limits, Plan, Sample, Summary, SummaryQuery};
use crate::domain::webhook::{InventoryChange, InventoryEvent};
use crate::domain::{Category, CategorySlug, ListQuery, Money, Product, ProductFilter, ProductId, SearchText};
use crate::ports::product_repository::{ApplyOutcome, ProductRepository, RepositoryError};

/// Largest number of connections each pool opens.
const READ_POOL_MAX: usize = 32;
const WRITE_POOL_MAX: usize = 16;

/// A sample for totals and facets and when it was read.
type HeldSample = (std::time::Instant, Arc<Sample>);

/// The catalogue in MySQL. Cloning shares the pools and the search match sets.
#[derive(Clone)]
pub struct MysqlProductRepository {
    read: Pool,
    write: Pool,
    matches: MatchSets,
    /// Whether a search walks the sort order before reading its match set (always, but for tests of each path).
    search_walk: bool,
    /// The most matches a search's set holds ([`matches::MAX_MATCHES`], but for tests of broader searches).
    max_matches: usize,
    /// The bounds of totals and facets (the contract's, but for tests of estimates on a small catalogue).
    limits: Limits,
    /// The sample totals and facets are estimated from, with when it was read; one reader at a time.
    sample: Arc<tokio::sync::Mutex<Option<HeldSample>>>,
}

impl std::fmt::Debug for MysqlProductRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MysqlProductRepository")
    }
}

impl MysqlProductRepository {
    /// Usage of the read and write pools, for the pool-usage gauges.
    pub fn pool_usage(&self) -> [(&'static str, crate::adapters::PoolUsage); 2] {
        let usage = |pool: &Pool| {
            let metrics = pool.metrics();
            let open = metrics.connection_count.load(std::sync::atomic::Ordering::Relaxed);
            let idle = metrics.connections_in_pool.load(std::sync::atomic::Ordering::Relaxed);
            crate::adapters::PoolUsage { open, idle }
        };
        [("mysql_read", usage(&self.read)), ("mysql_write", usage(&self.write))]
    }

    /// Pools for `write_url` and `read_url` (default: the write URL). Nothing connects until first used, so the
    /// service starts while MySQL is down and reports it through `ping`.
    ///
    /// # Errors
    /// When a URL does not parse.
    pub fn new(write_url: &str, read_url: Option<&str>) -> anyhow::Result<Self> {
        let write = build_pool(write_url, WRITE_POOL_MAX, None).context("FARMLOKAL_MYSQL_URL")?;
        let read = build_pool(read_url.unwrap_or(write_url), READ_POOL_MAX, Some(STATEMENT_TIMEOUT))
            .context("FARMLOKAL_MYSQL_READ_URL")?;
        Ok(Self {
            read,
            write,
            matches: MatchSets::default(),
            search_walk: true,
            max_matches: matches::MAX_MATCHES,
            limits: Limits::CONTRACT,
            sample: Arc::default(),
        })
    }

    /// The same catalogue (write pool, search match sets) with its reads on `read_url`: the replica side of
    /// [`super::replica::ReplicaRouter`], which keeps `self` for reads on the primary.
    ///
    /// # Errors
    /// When the URL does not parse.
    pub fn reading_from(&self, read_url: &str) -> anyhow::Result<Self> {
        let read = build_pool(read_url, READ_POOL_MAX, Some(STATEMENT_TIMEOUT)).context("FARMLOKAL_MYSQL_READ_URL")?;
        Ok(Self { read, ..self.clone() })
    }

    /// The pool reads go to and the pool writes go to (the primary).
    pub(crate) fn pools(&self) -> (&Pool, &Pool) {
        (&self.read, &self.write)
    }

    /// Answers every search from its match set, never by walking the sort order: for tests that hold both ways
    /// of answering a search to the same contract.
    #[doc(hidden)]
    #[must_use]
    pub fn without_search_walk(self) -> Self {
        Self { search_walk: false, ..self }
    }

    /// Holds at most `max_matches` matches per search, so a test can make searches too broad for a set.
    #[doc(hidden)]
    #[must_use]
    pub fn with_match_limit(self, max_matches: usize) -> Self {
        Self { max_matches, ..self }
    }

    /// Counts exactly only up to `limits.exact` and samples `limits.sample_ids` ids, so a test can exercise
    /// estimates on a small catalogue.
    #[doc(hidden)]
    #[must_use]
    pub fn with_summary_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }

    /// Closes both pools, waiting for connections in use to come back.
    ///
    /// # Errors
    /// When a connection cannot be closed cleanly.
    pub async fn disconnect(self) -> anyhow::Result<()> {
        self.read.disconnect().await?;
        self.write.disconnect().await?;
        Ok(())
    }
}

/// Runs one repository call against a pool: a bounded wait for a connection, a bounded whole call, and
/// driver errors translated.
async fn with_conn<T, F, Fut>(pool: &Pool, what: &str, f: F) -> Result<T, RepositoryError>
where
    F: FnOnce(mysql_async::Conn) -> Fut,
    Fut: Future<Output = Result<T, RepositoryError>>,
{
    let call = async {
        let conn = match tokio::time::timeout(CONNECT_TIMEOUT, pool.get_conn()).await {
            Ok(conn) => conn.map_err(repository_error)?,
            Err(_) => {
                return Err(RepositoryError::Unavailable(anyhow!("no MySQL connection within {CONNECT_TIMEOUT:?}")))
            }
        };
        f(conn).await
    };
    tokio::time::timeout(CALL_TIMEOUT, call).await.unwrap_or_else(|_| Err(timed_out(what)))
}

fn column<T: FromValue>(row: &mut Row, index: usize, name: &str) -> anyhow::Result<T> {
    match row.take_opt::<T, usize>(index) {
        Some(Ok(value)) => Ok(value),
        Some(Err(e)) => Err(anyhow!("column {name} holds an unexpected value: {e}")),
        None => Err(anyhow!("column {name} is missing")),
    }
}

fn timestamp(seconds: i64, name: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0).ok_or_else(|| anyhow!("{name} {seconds} is out of range"))
}

/// Reads a row of [`PRODUCT_COLUMNS`] into a validated product.
///
/// # Errors
/// When a column is missing or breaks a domain rule (the database holds something the API cannot show).
pub fn product_from_row(mut row: Row) -> anyhow::Result<Product> {
    let id: u64 = column(&mut row, 0, "id")?;
    let category: String = column(&mut row, 3, "category")?;
    let price: u64 = column(&mut row, 4, "price_paise")?;
    Ok(Product {
        id: ProductId::new(id)?,
        name: column(&mut row, 1, "name")?,
        description: column(&mut row, 2, "description")?,
        category: CategorySlug::parse(&category).with_context(|| format!("product {id}: category {category:?}"))?,
        price: Money::from_paise(price).with_context(|| format!("product {id}: price"))?,
        unit: column(&mut row, 5, "unit")?,
        stock: column(&mut row, 6, "stock")?,
        producer_id: column(&mut row, 7, "producer_id")?,
        created_at: timestamp(column(&mut row, 8, "created_at")?, "created_at")?,
        updated_at: timestamp(column(&mut row, 9, "updated_at")?, "updated_at")?,
        price_effective_at: timestamp(column(&mut row, 10, "price_effective_at")?, "price_effective_at")?,
    })
}

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

/// The text a search's match set is filed under: its boolean-mode query with the terms in one order, since
/// every term is required whatever its place.
fn match_key(search: &SearchText) -> String {
    let mut terms = search.alternatives().to_vec();
    terms.sort_unstable();
    terms.dedup();
    boolean_query(&terms)
}

/// True when a fresh row still has the keys its match-set entry was read with.
fn agrees(entry: &Entry, product: &Product) -> bool {
    entry.price == product.price
        && entry.created_at == product.created_at.timestamp()
        && *entry.name == *product.name.as_bytes()
        && entry.in_stock == (product.stock > 0)
}

/// How long a sample for totals and facets is used before it is read again.
const SAMPLE_FOR: std::time::Duration = std::time::Duration::from_secs(60);

impl MysqlProductRepository {
    /// Runs one statement on the read pool and reads its rows as products: prepared when it has parameters,
    /// as text otherwise.
    async fn products(
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
    async fn select(&self, query: &ListQuery) -> Result<Vec<Product>, RepositoryError> {
        let statement = list_statement(query);
        let mut products = self.products("list", statement.sql, Some(statement.params)).await?;
        products.sort_unstable_by(|a, b| query.sort.compare(a, b));
        Ok(products)
    }

    /// A page of a search found by walking the sort order within a budget and keeping the rows the domain's
    /// search rule accepts (the rule InnoDB's boolean mode applies, and the one the in-memory catalogue uses, so
    /// either path gives the same pages); `None` when the budget ran out first. The walk goes in stretches, each
    /// continuing after the last row of the one before (a keyset position, like a cursor) and sized by the
    /// matches seen so far, so a common word costs one short read.
    async fn walk_search(
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
    async fn match_set(&self, key: &str) -> Result<Arc<MatchSet>, RepositoryError> {
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
    async fn page_of(&self, key: &str, set: &MatchSet, query: &ListQuery) -> Result<Vec<Product>, RepositoryError> {
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

impl MysqlProductRepository {
    /// The sample of the catalogue (see `domain::summary`), read again when older than [`SAMPLE_FOR`]: the
    /// products in the sample's id windows (primary key ranges) and the categories (a loose scan of the
    /// category index).
    async fn sample(&self) -> Result<Arc<Sample>, RepositoryError> {
        let mut held = self.sample.lock().await;
        if let Some((at, sample)) = held.as_ref() {
            if at.elapsed() < SAMPLE_FOR {
                return Ok(Arc::clone(sample));
            }
        }
        let sample_ids = self.limits.sample_ids;
        let sample = with_conn(&self.read, "summary sample", |mut conn| async move {
            let bounds: Option<(Option<u64>, Option<u64>)> =
                conn.query_first("SELECT MIN(id), MAX(id) FROM products").await.map_err(repository_error)?;
            let (min, max) = match bounds {
                Some((Some(min), Some(max))) => (min, max),
                _ => return Ok(Sample { products: Vec::new(), scale: 1.0, categories: Vec::new() }),
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
            Ok(Sample { products, scale, categories })
        })
        .await?;
        let sample = Arc::new(sample);
        *held = Some((std::time::Instant::now(), Arc::clone(&sample)));
        Ok(sample)
    }
}

#[async_trait]
impl ProductRepository for MysqlProductRepository {
    async fn summarize(&self, query: &SummaryQuery) -> Result<Summary, RepositoryError> {
        let sample = self.sample().await?;
        let plan = Plan::new(query, &sample, self.limits);
        let cap = plan.cap();
        // A search's counts come from its match set (every match with its filter keys), read once like its
        // pages; one too broad for a set is counted through FULLTEXT, capped like the rest.
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
        let mut statements: Vec<(usize, Statement)> = Vec::new();
        for (i, slot) in plan.slots.iter().enumerate().filter(|(_, s)| s.needs_count) {
            match (&set, &slot.filter.search) {
                (Some(set), Some(_)) => counts[i] = Some(set.count(&slot.filter, cap)),
                (None, Some(search)) => {
                    let (mut conditions, mut params) = filter_conditions(&slot.filter);
                    conditions.push("MATCH(search_words) AGAINST (? IN BOOLEAN MODE)".to_owned());
                    params.push(Value::from(boolean_query(search.alternatives())));
                    let sql = format!(
                        "SELECT COUNT(*) FROM (SELECT 1 FROM products WHERE {} LIMIT {cap}) AS c",
                        conditions.join(" AND ")
                    );
                    statements.push((i, Statement { sql, params }));
                }
                (_, None) => statements.push((i, count_statement(&slot.filter, cap))),
            }
        }
        if !statements.is_empty() {
            let counted = with_conn(&self.read, "summary counts", |mut conn| async move {
                let mut out = Vec::with_capacity(statements.len());
                for (i, statement) in statements {
                    let n: Option<u64> =
                        conn.exec_first(statement.sql, statement.params).await.map_err(repository_error)?;
                    out.push((i, n.unwrap_or(0)));
                }
                Ok(out)
            })
            .await?;
            for (i, n) in counted {
                counts[i] = Some(n);
            }
        }
        Ok(plan.finish(&counts))
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Product>, RepositoryError> {
        let Some(search) = &query.filter.search else {
            return self.select(query).await;
        };
        // Search. A search whose matches were read recently is answered from them. Otherwise walk the sort order
        // first: InnoDB's FULLTEXT lookup costs time in proportion to the number of matches, while a page of a
        // *common* word is found in a few hundred rows. A word the walk cannot place (rare, or clustered away
        // from where the walk started) has all its matches read once (see `matches`).
        let key = match_key(search);
        let set = match self.matches.get(&key).await {
            Some(set) => set,
            None => {
                if self.search_walk {
                    if let Some(page) = self.walk_search(query, search).await? {
                        return Ok(page);
                    }
                }
                self.match_set(&key).await?
            }
        };
        if set.is_too_broad() {
            // Too many matches to hold: FULLTEXT with the filters, the sort and the LIMIT, every time.
            return self.select(query).await;
        }
        self.page_of(&key, &set, query).await
    }

    async fn get(&self, id: ProductId) -> Result<Product, RepositoryError> {
        with_conn(&self.read, "get", |mut conn| async move {
            let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?");
            let row: Option<Row> = conn.exec_first(sql, (id.get(),)).await.map_err(repository_error)?;
            product_from_row(row.ok_or(RepositoryError::NotFound)?).map_err(RepositoryError::Unknown)
        })
        .await
    }

    async fn categories(&self) -> Result<Vec<Category>, RepositoryError> {
        // Counted from products (the index on category makes it an index-only scan); a category row is only
        // needed for the display name, and a slug without one shows itself.
        let sql = "SELECT p.category, COALESCE(MAX(c.name), p.category), COUNT(*) FROM products p \
                   LEFT JOIN categories c ON c.slug = p.category GROUP BY p.category ORDER BY p.category";
        with_conn(&self.read, "categories", |mut conn| async move {
            let rows: Vec<(String, String, u64)> = conn.query(sql).await.map_err(repository_error)?;
            rows.into_iter()
                .map(|(slug, name, product_count)| {
                    let slug = CategorySlug::parse(&slug).with_context(|| format!("category {slug:?}"))?;
                    Ok(Category { slug, name, product_count })
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(RepositoryError::Unknown)
        })
        .await
    }

    async fn apply_event(&self, event: &InventoryEvent) -> Result<ApplyOutcome, RepositoryError> {
        let event = event.clone();
        let (outcome, keys_written) =
            with_conn(&self.write, "apply_event", |mut conn| async move { apply(&mut conn, &event).await }).await?;
        if keys_written {
            // Match sets hold prices and whether a product is in stock: this instance drops its own at once.
            self.matches.clear();
        }
        Ok(outcome)
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        with_conn(&self.read, "ping", |mut conn| async move { conn.ping().await.map_err(repository_error) }).await?;
        with_conn(&self.write, "ping", |mut conn| async move { conn.ping().await.map_err(repository_error) }).await
    }
}

/// One transaction: record the event id (a duplicate means it was applied before), lock the product, change
/// it, commit. Any early return drops the transaction, which rolls it back, so nothing is half-applied. Also
/// says whether a price was written.
async fn apply(conn: &mut mysql_async::Conn, event: &InventoryEvent) -> Result<(ApplyOutcome, bool), RepositoryError> {
    let mut options = TxOpts::default();
    options.with_isolation_level(IsolationLevel::ReadCommitted);
    let mut tx = conn.start_transaction(options).await.map_err(repository_error)?;
    let product_id = event.change.product_id().get();
    let event_type = match event.change {
        InventoryChange::StockAdjusted { .. } => "product.stock_adjusted",
        InventoryChange::PriceUpdated { .. } => "product.price_updated",
    };
    let recorded = tx
        .exec_drop(
            "INSERT INTO processed_events (event_id, product_id, event_type, processed_at) \
             VALUES (?, ?, ?, UNIX_TIMESTAMP())",
            (event.id.as_str(), product_id, event_type),
        )
        .await;
    match recorded {
        Err(e) if is_duplicate_key(&e) => {
            tx.rollback().await.map_err(repository_error)?;
            return Ok((ApplyOutcome::AlreadyApplied, false));
        }
        other => other.map_err(repository_error)?,
    }
    let current: Option<(u32, i64)> = tx
        .exec_first("SELECT stock, price_effective_at FROM products WHERE id = ? FOR UPDATE", (product_id,))
        .await
        .map_err(repository_error)?;
    let Some((stock, price_effective_at)) = current else {
        tx.rollback().await.map_err(repository_error)?;
        return Err(RepositoryError::NotFound);
    };
    let keys_written = match &event.change {
        InventoryChange::StockAdjusted { delta, .. } => {
            let before = stock;
            let stock = i64::from(stock).saturating_add(*delta).clamp(0, i64::from(u32::MAX));
            tx.exec_drop(
                "UPDATE products SET stock = ?, updated_at = UNIX_TIMESTAMP() WHERE id = ?",
                (stock, product_id),
            )
            .await
            .map_err(repository_error)?;
            (before == 0) != (stock == 0)
        }
        InventoryChange::PriceUpdated { price, effective_at, .. } => {
            let newer = effective_at.timestamp() >= price_effective_at;
            if newer {
                tx.exec_drop(
                    "UPDATE products SET price_paise = ?, price_effective_at = ?, updated_at = UNIX_TIMESTAMP() \
                     WHERE id = ?",
                    (price.paise(), effective_at.timestamp(), product_id),
                )
                .await
                .map_err(repository_error)?;
            }
            newer
        }
    };
    tx.commit().await.map_err(repository_error)?;
    Ok((ApplyOutcome::Applied, keys_written))
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
