//! Catalogue reads on a read replica, with the primary as the fallback (DESIGN §7).
//!
//! [`ReplicaRouter`] is the `ProductRepository` of a service given `FARMLOKAL_MYSQL_READ_URL`: listings, one
//! product and categories are read from the replica while it answers and is at most
//! `FARMLOKAL_MYSQL_MAX_REPLICA_LAG_SECS` behind; otherwise from the primary, until it recovers. Writes (webhook
//! effects) always go to the primary.
//!
//! **How lag is measured: a heartbeat row.** Every instance writes, once a second, the primary's own clock
//! (`NOW(3)` evaluated on the primary) into `replication_heartbeat` on the primary; the row replicates like any
//! other. The checker then reads the row on the replica and the primary's clock again: the difference is how far
//! behind the replica's *applied* data is, measured on one clock, so clock skew between hosts does not enter.
//! The measurement includes up to one check interval (the replica holds the previous beat while the new one
//! travels), so it errs on the side of reading the primary. It needs only the privileges the service already has (`SELECT`, `UPDATE`, `CREATE` on its own schema) and
//! reads the same on MySQL 8 and MariaDB. `SHOW REPLICA STATUS` / `SHOW SLAVE STATUS` would need
//! `REPLICATION CLIENT` (MySQL) or `SLAVE MONITOR` (MariaDB 10.5+), is spelt differently on each, and its
//! `Seconds_Behind_Master` is NULL when the SQL thread stops and 0 while the I/O thread is stalled; behind a
//! proxy that balances several replicas it also describes whichever server the status query reached.
//!
//! **Read-your-writes.** After this instance applied a webhook to a product, `get` of that product reads the
//! primary for [`ReplicaRouter::read_your_writes_window`]: the lag bound plus one check interval and a second of
//! slack, by which time a replica that is still read has the change. Other instances see it within the lag bound.
//!
//! **Failure handling.** A replica read that fails as `Unavailable` is retried on the primary at once, so a
//! replica dying between two checks costs latency (a refused connection fails at once; a black-holed host costs
//! [`super::CONNECT_TIMEOUT`]) but no error. The checker logs one line each time reads move, and exports
//! `farmlokal_mysql_read_source{source="replica"|"primary"}` (1 for the one serving) and
//! `farmlokal_mysql_replica_lag_seconds`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::Pool;

use super::repository::MysqlProductRepository;
use crate::domain::summary::{Summary, SummaryQuery};
use crate::domain::webhook::InventoryEvent;
use crate::domain::{Category, ListQuery, Product, ProductId};
use crate::ports::product_repository::{ApplyOutcome, ProductRepository, RepositoryError};

/// How often the heartbeat is written and the replica's lag checked.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long one step of a check may take before its server counts as unreachable.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Products remembered as changed here; beyond it, every `get` reads the primary for one window instead.
const MAX_RECENT_WRITES: usize = 10_000;

const CREATE_HEARTBEAT: &str = "CREATE TABLE IF NOT EXISTS replication_heartbeat (\
     id TINYINT UNSIGNED NOT NULL PRIMARY KEY, beat_ms BIGINT NOT NULL) ENGINE=InnoDB";
const SEED_HEARTBEAT: &str = "INSERT IGNORE INTO replication_heartbeat (id, beat_ms) VALUES (1, 0)";
/// `ER_NO_SUCH_TABLE`.
const NO_SUCH_TABLE: u16 = 1146;
/// The primary's clock, in milliseconds since the epoch.
const PRIMARY_NOW: &str = "ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000)";

/// Where catalogue reads go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadSource {
    Replica,
    Primary,
}

/// Why the checker chose the primary.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Fresh {
        lag: Duration,
    },
    /// The primary cannot be asked for the time: the lag is unknown, and the replica is the only source left.
    PrimaryUnreachable,
    Unreachable(String),
    Lagging {
        lag: Duration,
    },
    NoHeartbeat,
}

/// Reads on a replica within the lag bound, on the primary otherwise. Cheap to clone: clones share the pools,
/// the state and the checker, which stops when the last clone is dropped.
#[derive(Clone)]
pub struct ReplicaRouter {
    inner: Arc<Inner>,
}

struct Inner {
    /// Reads and writes on the primary.
    primary: MysqlProductRepository,
    /// Reads on the replica (writes on the same primary pool).
    replica: MysqlProductRepository,
    on_replica: AtomicBool,
    max_lag: Duration,
    recent_writes: Mutex<RecentWrites>,
    checker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut checker) = self.checker.lock() {
            if let Some(task) = checker.take() {
                task.abort();
            }
        }
    }
}

/// Products this instance changed, and when.
#[derive(Default)]
struct RecentWrites {
    products: HashMap<u64, Instant>,
    /// Every `get` reads the primary until then (the map overflowed).
    all_until: Option<Instant>,
}

impl std::fmt::Debug for ReplicaRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaRouter").field("source", &self.source()).finish()
    }
}

impl ReplicaRouter {
    /// Pools for the primary (`write_url`) and the replica (`read_url`), each read pool of at most
    /// `read_connections`, and the checker, which writes the heartbeat and checks the replica every
    /// [`CHECK_EVERY`]. Reads start on the primary and move to the replica at the first check that finds it
    /// fresh. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// When a URL does not parse, or `read_connections` is 0.
    pub fn new(write_url: &str, read_url: &str, max_lag: Duration, read_connections: usize) -> anyhow::Result<Self> {
        let primary = MysqlProductRepository::with_read_connections(write_url, None, read_connections)?;
        let replica = primary.reading_from(read_url)?;
        let inner = Arc::new(Inner {
            primary,
            replica,
            on_replica: AtomicBool::new(false),
            max_lag,
            recent_writes: Mutex::default(),
            checker: Mutex::new(None),
        });
        export_source(ReadSource::Primary);
        let task = tokio::spawn(check_forever(Arc::downgrade(&inner)));
        if let Ok(mut checker) = inner.checker.lock() {
            *checker = Some(task);
        }
        Ok(Self { inner })
    }

    /// Where catalogue reads go now.
    pub fn source(&self) -> ReadSource {
        if self.inner.on_replica.load(Ordering::Acquire) {
            ReadSource::Replica
        } else {
            ReadSource::Primary
        }
    }

    /// How long `get` of a product this instance changed reads the primary.
    pub fn read_your_writes_window(&self) -> Duration {
        self.inner.max_lag + CHECK_EVERY + Duration::from_secs(1)
    }

    /// Usage of the primary's read and write pools and of the replica's pool, for the pool-usage gauges.
    pub fn pool_usage(&self) -> Vec<(&'static str, crate::adapters::PoolUsage)> {
        let mut usage = self.inner.primary.pool_usage().to_vec();
        if let Some((_, replica)) = self.inner.replica.pool_usage().into_iter().find(|(name, _)| *name == "mysql_read")
        {
            usage.push(("mysql_replica", replica));
        }
        usage
    }

    /// The repository to read `product` from (`None`: any product).
    fn reader(&self, product: Option<ProductId>) -> (&MysqlProductRepository, ReadSource) {
        if self.source() == ReadSource::Primary || product.is_some_and(|id| self.recently_written(id)) {
            (&self.inner.primary, ReadSource::Primary)
        } else {
            (&self.inner.replica, ReadSource::Replica)
        }
    }

    fn recently_written(&self, id: ProductId) -> bool {
        let now = Instant::now();
        let Ok(recent) = self.inner.recent_writes.lock() else { return true };
        recent.all_until.is_some_and(|until| now < until)
            || recent.products.get(&id.get()).is_some_and(|&until| now < until)
    }

    fn remember_write(&self, id: ProductId) {
        let now = Instant::now();
        let until = now + self.read_your_writes_window();
        let Ok(mut recent) = self.inner.recent_writes.lock() else { return };
        if recent.products.len() >= MAX_RECENT_WRITES {
            recent.products.retain(|_, expires| *expires > now);
            if recent.products.len() >= MAX_RECENT_WRITES {
                // More products changed within one window than are remembered: read every product from the
                // primary for a window instead of forgetting one.
                recent.products.clear();
                recent.all_until = Some(until);
            }
        }
        recent.products.insert(id.get(), until);
    }

    /// Reads with `read` on the chosen repository; a replica that fails as unavailable is replaced by the
    /// primary for this call.
    async fn read<'a, T, F, Fut>(&'a self, product: Option<ProductId>, read: F) -> Result<T, RepositoryError>
    where
        F: Fn(&'a MysqlProductRepository) -> Fut,
        Fut: std::future::Future<Output = Result<T, RepositoryError>>,
    {
        let (repository, source) = self.reader(product);
        match read(repository).await {
            Err(RepositoryError::Unavailable(error)) if source == ReadSource::Replica => {
                metrics::counter!("farmlokal_mysql_replica_fallbacks_total").increment(1);
                tracing::debug!(error = format!("{error:#}"), "replica read failed: read again on the primary");
                read(&self.inner.primary).await
            }
            other => other,
        }
    }
}

#[async_trait]
impl ProductRepository for ReplicaRouter {
    async fn list(&self, query: &ListQuery) -> Result<Vec<Product>, RepositoryError> {
        self.read(None, |repository| repository.list(query)).await
    }

    async fn summarize(&self, query: &SummaryQuery) -> Result<Summary, RepositoryError> {
        self.read(None, |repository| repository.summarize(query)).await
    }

    async fn get(&self, id: ProductId) -> Result<Product, RepositoryError> {
        self.read(Some(id), |repository| repository.get(id)).await
    }

    async fn categories(&self) -> Result<Vec<Category>, RepositoryError> {
        self.read(None, |repository| repository.categories()).await
    }

    async fn apply_event(&self, event: &InventoryEvent) -> Result<ApplyOutcome, RepositoryError> {
        let outcome = self.inner.primary.apply_event(event).await?;
        // A duplicate was applied by some instance, perhaps moments ago: this one acknowledges it too.
        self.remember_write(event.change.product_id());
        Ok(outcome)
    }

    /// The catalogue answers when the primary does, or, with the primary down, when the replica does (reads are
    /// then served from it).
    async fn ping(&self) -> Result<(), RepositoryError> {
        match self.inner.primary.ping().await {
            Ok(()) => Ok(()),
            Err(primary) => {
                let (replica, _) = self.inner.replica.pools();
                ping_pool(replica).await.map_err(|_| primary)
            }
        }
    }
}

async fn ping_pool(pool: &Pool) -> Result<(), RepositoryError> {
    let ping = async {
        let mut conn = pool.get_conn().await.map_err(super::repository_error)?;
        conn.ping().await.map_err(super::repository_error)
    };
    tokio::time::timeout(CHECK_TIMEOUT, ping).await.unwrap_or_else(|_| Err(super::timed_out("ping")))
}

fn export_source(source: ReadSource) {
    let replica = f64::from(u8::from(source == ReadSource::Replica));
    metrics::gauge!("farmlokal_mysql_read_source", "source" => "replica").set(replica);
    metrics::gauge!("farmlokal_mysql_read_source", "source" => "primary").set(1.0 - replica);
}

/// Writes the heartbeat and checks the replica every [`CHECK_EVERY`] until the router is dropped.
async fn check_forever(weak: std::sync::Weak<Inner>) {
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut table_ready = false;
    loop {
        every.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        let (_, primary) = inner.primary.pools();
        let (replica, _) = inner.replica.pools();
        let (primary, replica) = (primary.clone(), replica.clone());
        let max_lag = inner.max_lag;
        drop(inner);

        if !table_ready {
            table_ready = with_timeout(create_heartbeat(&primary)).await.is_ok();
        }
        let verdict = check(&primary, &replica).await;
        let Some(inner) = weak.upgrade() else { return };
        let use_replica = match &verdict {
            Verdict::Fresh { lag } => *lag <= max_lag,
            Verdict::PrimaryUnreachable => true,
            Verdict::Lagging { .. } | Verdict::Unreachable(_) | Verdict::NoHeartbeat => false,
        };
        let verdict = match verdict {
            Verdict::Fresh { lag } if lag > max_lag => Verdict::Lagging { lag },
            other => other,
        };
        if let Verdict::Fresh { lag } | Verdict::Lagging { lag } = &verdict {
            metrics::gauge!("farmlokal_mysql_replica_lag_seconds").set(lag.as_secs_f64());
        }
        let was_on_replica = inner.on_replica.swap(use_replica, Ordering::AcqRel);
        if was_on_replica != use_replica {
            export_source(if use_replica { ReadSource::Replica } else { ReadSource::Primary });
            log_move(use_replica, &verdict, max_lag);
        }
    }
}

fn log_move(use_replica: bool, verdict: &Verdict, max_lag: Duration) {
    let max_lag_secs = max_lag.as_secs_f64();
    match verdict {
        Verdict::Fresh { lag } if use_replica => {
            tracing::info!(lag_secs = lag.as_secs_f64(), max_lag_secs, "catalogue reads on the replica");
        }
        Verdict::PrimaryUnreachable => {
            tracing::warn!("catalogue reads on the replica: the primary does not answer, so its lag is unknown");
        }
        Verdict::Lagging { lag } => {
            tracing::warn!(
                lag_secs = lag.as_secs_f64(),
                max_lag_secs,
                "catalogue reads moved to the primary: the replica lags"
            );
        }
        Verdict::Unreachable(error) => {
            tracing::warn!(%error, "catalogue reads moved to the primary: the replica does not answer");
        }
        Verdict::NoHeartbeat => {
            tracing::warn!("catalogue reads on the primary: no heartbeat to measure the replica's lag by (replication_heartbeat cannot be written on the primary, or has not reached the replica)");
        }
        Verdict::Fresh { .. } => {}
    }
}

async fn with_timeout<T>(step: impl std::future::Future<Output = mysql_async::Result<T>>) -> Result<T, String> {
    match tokio::time::timeout(CHECK_TIMEOUT, step).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    }
}

async fn create_heartbeat(primary: &Pool) -> mysql_async::Result<()> {
    let mut conn = primary.get_conn().await?;
    conn.query_drop(CREATE_HEARTBEAT).await?;
    conn.query_drop(SEED_HEARTBEAT).await
}

/// One check: beat on the primary, read the beat on the replica, read the primary's clock.
async fn check(primary: &Pool, replica: &Pool) -> Verdict {
    let beat = async {
        let mut conn = primary.get_conn().await?;
        conn.query_drop(format!(
            "UPDATE replication_heartbeat SET beat_ms = GREATEST(beat_ms, {PRIMARY_NOW}) WHERE id = 1"
        ))
        .await
    };
    // The primary answers but refuses the beat (no heartbeat table: it could not be created, say for want of
    // the CREATE privilege): the lag cannot be measured, so the replica is not read. Only a primary that does not
    // answer at all leaves the replica as the one source.
    let primary_up = match tokio::time::timeout(CHECK_TIMEOUT, beat).await {
        Ok(Ok(())) => true,
        Ok(Err(mysql_async::Error::Server(_))) => return Verdict::NoHeartbeat,
        Ok(Err(_)) | Err(_) => false,
    };
    let replica_beat = async {
        let mut conn = replica.get_conn().await?;
        match conn.query_first::<i64, _>("SELECT beat_ms FROM replication_heartbeat WHERE id = 1").await {
            // The table has not reached the replica yet: replication is not set up, or far behind.
            Err(mysql_async::Error::Server(e)) if e.code == NO_SUCH_TABLE => Ok(None),
            other => other,
        }
    };
    let replica_beat = match with_timeout(replica_beat).await {
        Ok(Some(beat)) if beat > 0 => Some(beat),
        Ok(_) => None,
        Err(error) => return Verdict::Unreachable(error),
    };
    if !primary_up {
        return Verdict::PrimaryUnreachable;
    }
    let now = async {
        let mut conn = primary.get_conn().await?;
        conn.query_first::<i64, _>(format!("SELECT {PRIMARY_NOW}")).await
    };
    let Ok(Some(now)) = with_timeout(now).await else { return Verdict::PrimaryUnreachable };
    match replica_beat {
        Some(beat) => Verdict::Fresh { lag: Duration::from_millis(u64::try_from(now - beat).unwrap_or(0)) },
        None => Verdict::NoHeartbeat,
    }
}
