//! A test's world: the storage its service instances share, and nothing else any test sees. In memory (a
//! sample catalogue, a cache and a webhook ledger, with their fault switches) or on the servers (a MySQL
//! database seeded with the same sample and a Redis key prefix, both the test's own). Instances start from it
//! with `app` and `another_instance`; `in_both_worlds!` runs one behaviour in each kind of world.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use farmlokal::adapters::memory::cache::MemoryCache;
use farmlokal::adapters::memory::event_ledger::MemoryEventLedger;
use farmlokal::adapters::memory::product_repository::MemoryProductRepository;
use farmlokal::adapters::mysql::MysqlProductRepository;
use farmlokal::adapters::redis::cache::RedisCache;
use farmlokal::adapters::redis::RedisEventLedger;
use farmlokal::adapters::sample;
use farmlokal::domain::webhook::WebhookId;
use farmlokal::domain::Product;
use farmlokal::ports::{Cache, Claim, EventLedger, LedgerError, ProductRepository};
use farmlokal::startup::{AppBuilder, Settings};

use super::app::{Run, TestApp};
use super::servers;

/// Products in each world `in_both_worlds!` builds.
pub const PRODUCTS: u64 = 200;

pub struct World {
    /// `memory` or `mysql+redis`, for assertion messages.
    pub name: &'static str,
    /// The sample catalogue the world started with, as the oracle of what the service must show.
    pub sample: Vec<Product>,
    settings: Settings,
    products: Arc<dyn ProductRepository>,
    ledger: Arc<dyn EventLedger>,
    cache: Arc<dyn Cache>,
    memory: Option<Memory>,
    servers: Option<Servers>,
}

/// The in-memory adapters of a memory world, kept for their fault switches and for flushing.
struct Memory {
    catalogue: MemoryProductRepository,
    cache: Arc<MemoryCache>,
    ledger: Arc<FlushableLedger>,
}

/// The MySQL database and Redis prefix of a world on the servers.
struct Servers {
    mysql_url: String,
    redis_prefix: String,
    mysql: MysqlProductRepository,
}

/// New connections to a test's database and Redis prefix: its catalogue, ledger and cache.
async fn connect(
    mysql_url: &str,
    redis_prefix: &str,
) -> (MysqlProductRepository, Arc<dyn EventLedger>, Arc<dyn Cache>) {
    let mysql = MysqlProductRepository::new(mysql_url, None).expect("a valid MySQL URL");
    let pool = farmlokal::adapters::redis::pool(&servers::redis_url()).await.expect("a valid Redis URL");
    let ledger = Arc::new(RedisEventLedger::new(pool.clone(), redis_prefix));
    (mysql, ledger, Arc::new(RedisCache::new(pool, redis_prefix)))
}

impl World {
    /// `products` sample products, a cache and a ledger, all in memory, and the test settings.
    pub fn memory(products: u64) -> Self {
        let catalogue = MemoryProductRepository::sample(products);
        let cache = Arc::new(MemoryCache::new());
        let ledger = Arc::new(FlushableLedger::default());
        Self {
            name: "memory",
            sample: sample::products(products).collect(),
            settings: Settings::for_tests(),
            products: Arc::new(catalogue.clone()),
            ledger: ledger.clone(),
            cache: cache.clone(),
            memory: Some(Memory { catalogue, cache, ledger }),
            servers: None,
        }
    }

    /// A fresh MySQL database seeded with `products` sample products and a fresh Redis prefix, or `None` when
    /// either server is absent (the test is then skipped, or fails if the servers are required).
    pub async fn servers(test: &str, products: u64) -> Option<Self> {
        let mysql_url = servers::seeded_mysql(test, products).await?;
        let Some(redis_prefix) = servers::fresh_redis_prefix(test).await else {
            servers::drop_mysql_database(&mysql_url).await;
            return None;
        };
        let (mysql, ledger, cache) = connect(&mysql_url, &redis_prefix).await;
        Some(Self {
            name: "mysql+redis",
            sample: sample::products(products).collect(),
            settings: Settings::for_tests(),
            products: Arc::new(mysql.clone()),
            ledger,
            cache,
            memory: None,
            servers: Some(Servers { mysql_url, redis_prefix, mysql }),
        })
    }

    /// The settings every instance of this world is built with.
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Changes the settings every instance of this world is built with.
    pub fn configure(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(&mut self.settings);
        self
    }

    /// Instances read `products` (a wrapper around the catalogue, say) instead of the world's catalogue.
    pub fn serving(mut self, products: Arc<dyn ProductRepository>) -> Self {
        self.products = products;
        self
    }

    /// The in-memory catalogue, for fault injection; a memory world only.
    pub fn memory_catalogue(&self) -> &MemoryProductRepository {
        &self.memory.as_ref().expect("a memory world").catalogue
    }

    /// The in-memory cache, for fault injection; a memory world only.
    pub fn memory_cache(&self) -> &MemoryCache {
        &self.memory.as_ref().expect("a memory world").cache
    }

    /// A builder for an instance on this world's storage, through the world's own connections; replace any
    /// other port before starting it with `TestApp::start`.
    pub fn builder(&self) -> AppBuilder {
        AppBuilder::in_memory(self.settings.clone())
            .products(self.products.clone())
            .event_ledger(self.ledger.clone())
            .cache(self.cache.clone())
    }

    /// The service on this world, run as `run` says.
    pub async fn app(&self, run: Run) -> TestApp {
        TestApp::start(self.builder(), run).await
    }

    /// One more instance on the same storage: in memory the same stores, on the servers its own MySQL and
    /// Redis connections to the same database and prefix. Other ports (rate limiter, tokens) are its own.
    pub async fn another_instance(&self, run: Run) -> TestApp {
        let Some(servers) = &self.servers else { return self.app(run).await };
        let (mysql, ledger, cache) = connect(&servers.mysql_url, &servers.redis_prefix).await;
        let builder = AppBuilder::in_memory(self.settings.clone()).products(Arc::new(mysql)).event_ledger(ledger);
        TestApp::start(builder.cache(cache), run).await
    }

    /// Forgets every finished and claimed webhook id of the ledger: with Redis, deletes this test's keys; in
    /// memory, the instances switch to an empty ledger.
    pub async fn flush_ledger(&self) {
        match (&self.servers, &self.memory) {
            (Some(servers), _) => servers::delete_prefix(&servers.redis_prefix).await,
            (None, Some(memory)) => memory.ledger.flush(),
            (None, None) => unreachable!("a world is in memory or on the servers"),
        }
    }

    /// Drops the test database and Redis keys of a world on the servers (after its instances are dropped).
    pub async fn finish(self) {
        let Some(servers) = self.servers else { return };
        drop(self.products);
        if let Err(e) = servers.mysql.disconnect().await {
            eprintln!("disconnecting from {}: {e}", servers.mysql_url);
        }
        servers::delete_prefix(&servers.redis_prefix).await;
        servers::drop_mysql_database(&servers.mysql_url).await;
    }
}

/// An in-memory ledger that can be swapped for an empty one under running instances, as flushing Redis would.
#[derive(Default)]
struct FlushableLedger(RwLock<Arc<MemoryEventLedger>>);

impl FlushableLedger {
    fn current(&self) -> Arc<MemoryEventLedger> {
        self.0.read().expect("not poisoned").clone()
    }

    fn flush(&self) {
        *self.0.write().expect("not poisoned") = Arc::new(MemoryEventLedger::new());
    }
}

#[async_trait]
impl EventLedger for FlushableLedger {
    async fn claim(&self, id: &WebhookId, lease: Duration) -> Result<Claim, LedgerError> {
        self.current().claim(id, lease).await
    }

    async fn complete(&self, id: &WebhookId, keep: Duration) -> Result<(), LedgerError> {
        self.current().complete(id, keep).await
    }

    async fn release(&self, id: &WebhookId) -> Result<(), LedgerError> {
        self.current().release(id).await
    }
}

/// Runs `async fn $behaviour(world: &World, app: &TestApp)` as two tests, `$behaviour::in_memory` and
/// `$behaviour::on_mysql_and_redis`, each in a fresh world of `PRODUCTS` products with `$settings` (default
/// the test settings) and its service in process.
macro_rules! in_both_worlds {
    ($behaviour:ident) => {
        $crate::harness::in_both_worlds!($behaviour, farmlokal::startup::Settings::for_tests());
    };
    ($behaviour:ident, $settings:expr) => {
        mod $behaviour {
            use $crate::harness::world::PRODUCTS;
            use $crate::harness::{Run, World};

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn in_memory() {
                let world = World::memory(PRODUCTS).with_settings($settings);
                let app = world.app(Run::InProcess).await;
                super::$behaviour(&world, &app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_mysql_and_redis() {
                let test = concat!(module_path!(), "::on_mysql_and_redis");
                let Some(world) = World::servers(test, PRODUCTS).await else { return };
                let world = world.with_settings($settings);
                let app = world.app(Run::InProcess).await;
                super::$behaviour(&world, &app).await;
                drop(app);
                world.finish().await;
            }
        }
    };
}
pub(crate) use in_both_worlds;
