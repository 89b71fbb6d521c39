//! `ProductRepository` over MySQL / MariaDB with two pools: catalogue reads go to `read` (a replica when
//! configured), writes and webhook effects to `write`.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mysql_async::prelude::{FromValue, Queryable};
use mysql_async::{IsolationLevel, Pool, Row, TxOpts};

use super::listing::PRODUCT_COLUMNS;
use super::matches::{self, MatchSets};
use super::{
    build_pool, is_duplicate_key, repository_error, timed_out, CALL_TIMEOUT, CONNECT_TIMEOUT, STATEMENT_TIMEOUT,
};

use super::matches::match_key;
use crate::domain::summary::{Limits, Sample, Summary, SummaryQuery, TallyGroup};
use crate::domain::webhook::{InventoryChange, InventoryEvent};
use crate::domain::{Category, CategorySlug, ListQuery, Money, Product, ProductId};
use crate::ports::product_repository::{ApplyOutcome, ProductRepository, RepositoryError};

/// Largest number of connections the read pool opens unless configured (`FARMLOKAL_MYSQL_READ_CONNECTIONS`).
pub const READ_CONNECTIONS: usize = 32;
/// Largest number of connections the write pool opens.
const WRITE_POOL_MAX: usize = 16;

/// How long a capped count is reused by the summaries of other filters that need the same count (the price
/// buckets of every filter of one category are the same counts, whatever its price range).
pub(super) const COUNT_FOR: Duration = Duration::from_secs(1);
/// The most counts held.
const COUNTS_HELD: u64 = 100_000;

/// The sample a repository estimates from, with when it was read (one reader at a time), and the capped counts
/// made in the last [`COUNT_FOR`].
pub struct HeldSample {
    pub(super) current: RwLock<Option<(Instant, Arc<Sample>)>>,
    pub(super) reading: tokio::sync::Mutex<()>,
    pub(super) counts: moka::sync::Cache<String, u64>,
}

impl Default for HeldSample {
    fn default() -> Self {
        Self {
            current: RwLock::default(),
            reading: tokio::sync::Mutex::default(),
            counts: moka::sync::Cache::builder().max_capacity(COUNTS_HELD).time_to_live(COUNT_FOR).build(),
        }
    }
}

impl HeldSample {
    pub(super) fn current(&self) -> Option<(Instant, Arc<Sample>)> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Forgets every count held: a write changed a price or whether a product is in stock.
    pub fn forget_counts(&self) {
        self.counts.invalidate_all();
    }

    pub(super) fn set(&self, sample: Arc<Sample>) {
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), sample));
    }
}

/// How long the kept counts (`product_tally`) read for totals and facets are used before they are read again,
/// unless a write of this instance moves a product between them first.
pub(super) const TALLY_FOR: Duration = Duration::from_secs(1);

/// Kept counts, when they were read, and the generation of writes they were read in.
type TallyRead = (Instant, u64, Arc<Vec<TallyGroup>>);

/// The kept counts as last read, filed under the generation of writes they were read in: a write of this
/// instance advances the generation, which makes them stale at once, and a read that began before it is not
/// kept.
#[derive(Default)]
pub struct HeldTally {
    current: RwLock<Option<TallyRead>>,
    generation: std::sync::atomic::AtomicU64,
    pub(super) reading: tokio::sync::Mutex<()>,
}

impl HeldTally {
    /// The counts held, when read less than [`TALLY_FOR`] ago in the current generation.
    pub(super) fn fresh(&self) -> Option<Arc<Vec<TallyGroup>>> {
        let current = self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*current {
            Some((at, generation, groups)) if at.elapsed() < TALLY_FOR && *generation == self.generation() => {
                Some(Arc::clone(groups))
            }
            _ => None,
        }
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Keeps `groups`, read in `generation`, unless a write has advanced it since.
    pub(super) fn set(&self, generation: u64, groups: Arc<Vec<TallyGroup>>) {
        if generation == self.generation() {
            *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((Instant::now(), generation, groups));
        }
    }

    /// A write of this instance moved a product between counts.
    pub fn forget(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// The catalogue in MySQL. Cloning shares the pools and the search match sets.
#[derive(Clone)]
pub struct MysqlProductRepository {
    pub(super) read: Pool,
    /// The most connections `read` opens; a replica's pool ([`Self::reading_from`]) gets as many.
    read_connections: usize,
    write: Pool,
    pub(super) matches: MatchSets,
    /// Whether a search walks the sort order before reading its match set (always, but for tests of each path).
    pub(super) search_walk: bool,
    /// The most matches a search's set holds ([`matches::MAX_MATCHES`], but for tests of broader searches).
    pub(super) max_matches: usize,
    /// The bounds of totals and facets (the contract's, but for tests of estimates on a small catalogue).
    pub(super) limits: Limits,
    /// The sample totals and facets are estimated from (see `summary`).
    pub(super) sample: Arc<HeldSample>,
    /// The kept counts totals and facets of a listing without `q` are summed from (see `summary`).
    pub(super) tally: Arc<HeldTally>,
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

    /// Pools for `write_url` and `read_url` (default: the write URL), the read pool of [`READ_CONNECTIONS`].
    /// Nothing connects until first used, so the service starts while MySQL is down and reports it through
    /// `ping`.
    ///
    /// # Errors
    /// When a URL does not parse.
    pub fn new(write_url: &str, read_url: Option<&str>) -> anyhow::Result<Self> {
        Self::with_read_connections(write_url, read_url, READ_CONNECTIONS)
    }

    /// [`Self::new`] with a read pool of at most `read_connections`.
    ///
    /// # Errors
    /// When a URL does not parse, or `read_connections` is 0.
    pub fn with_read_connections(
        write_url: &str,
        read_url: Option<&str>,
        read_connections: usize,
    ) -> anyhow::Result<Self> {
        let write = build_pool(write_url, WRITE_POOL_MAX, None).context("FARMLOKAL_MYSQL_URL")?;
        let read = build_pool(read_url.unwrap_or(write_url), read_connections, Some(STATEMENT_TIMEOUT))
            .context("FARMLOKAL_MYSQL_READ_URL")?;
        Ok(Self {
            read,
            read_connections,
            write,
            matches: MatchSets::default(),
            search_walk: true,
            max_matches: matches::MAX_MATCHES,
            limits: Limits::CONTRACT,
            sample: Arc::default(),
            tally: Arc::default(),
        })
    }

    /// The same catalogue (write pool, search match sets) with its reads on `read_url`: the replica side of
    /// [`super::replica::ReplicaRouter`], which keeps `self` for reads on the primary.
    ///
    /// # Errors
    /// When the URL does not parse.
    pub fn reading_from(&self, read_url: &str) -> anyhow::Result<Self> {
        let read =
            build_pool(read_url, self.read_connections, Some(STATEMENT_TIMEOUT)).context("FARMLOKAL_MYSQL_READ_URL")?;
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
pub(super) async fn with_conn<T, F, Fut>(pool: &Pool, what: &str, f: F) -> Result<T, RepositoryError>
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

#[async_trait]
impl ProductRepository for MysqlProductRepository {
    async fn summarize(&self, query: &SummaryQuery) -> Result<Summary, RepositoryError> {
        self.summary(query).await
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
            self.sample.forget_counts();
            self.tally.forget();
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
    let current: Option<(u32, i64, String, u64)> = tx
        .exec_first(
            "SELECT stock, price_effective_at, category, price_paise FROM products WHERE id = ? FOR UPDATE",
            (product_id,),
        )
        .await
        .map_err(repository_error)?;
    let Some((stock, price_effective_at, category, price_paise)) = current else {
        tx.rollback().await.map_err(repository_error)?;
        return Err(RepositoryError::NotFound);
    };
    let before = (stock > 0, price_paise);
    let after = match &event.change {
        InventoryChange::StockAdjusted { delta, .. } => {
            let stock = i64::from(stock).saturating_add(*delta).clamp(0, i64::from(u32::MAX));
            tx.exec_drop(
                "UPDATE products SET stock = ?, updated_at = UNIX_TIMESTAMP() WHERE id = ?",
                (stock, product_id),
            )
            .await
            .map_err(repository_error)?;
            (stock > 0, price_paise)
        }
        InventoryChange::PriceUpdated { price, effective_at, .. } => {
            if effective_at.timestamp() >= price_effective_at {
                tx.exec_drop(
                    "UPDATE products SET price_paise = ?, price_effective_at = ?, updated_at = UNIX_TIMESTAMP() \
                     WHERE id = ?",
                    (price.paise(), effective_at.timestamp(), product_id),
                )
                .await
                .map_err(repository_error)?;
                (stock > 0, price.paise())
            } else {
                before
            }
        }
    };
    let keys_written = before != after;
    if keys_written {
        move_in_tally(&mut tx, &category, before, after).await?;
    }
    tx.commit().await.map_err(repository_error)?;
    Ok((ApplyOutcome::Applied, keys_written))
}

/// Moves one product from its old (in stock, price) group of `product_tally` to its new one, in the caller's
/// transaction, so the kept counts commit with the change. The two rows are locked in key order, so two
/// changes moving products between the same groups in opposite directions cannot deadlock on them.
async fn move_in_tally(
    tx: &mut mysql_async::Transaction<'_>,
    category: &str,
    from: (bool, u64),
    to: (bool, u64),
) -> Result<(), RepositoryError> {
    const TAKE: &str = "UPDATE product_tally SET products = products - 1 \
                        WHERE category = ? AND in_stock = ? AND price_paise = ?";
    const ADD: &str = "INSERT INTO product_tally (category, in_stock, price_paise, products) VALUES (?, ?, ?, 1) \
                       ON DUPLICATE KEY UPDATE products = products + 1";
    let mut steps = [(from, TAKE), (to, ADD)];
    steps.sort_by_key(|((in_stock, price), _)| (*in_stock, *price));
    for ((in_stock, price), sql) in steps {
        tx.exec_drop(sql, (category, in_stock, price)).await.map_err(repository_error)?;
    }
    Ok(())
}
