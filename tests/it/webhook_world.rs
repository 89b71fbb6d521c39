//! The harness of the webhook suites (`webhook_http`, `webhook_exactly_once`): signed deliveries, replies,
//! and a "world" per test, which is one service over either in-memory storage or MySQL (a fresh database with
//! 200 sample products) + Redis (a fresh key prefix). `in_both_worlds!` runs one behaviour in each.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use farmlokal::adapters::memory::cache::MemoryCache;
use farmlokal::adapters::memory::event_ledger::MemoryEventLedger;
use farmlokal::adapters::memory::product_repository::MemoryProductRepository;
use farmlokal::adapters::mysql::{self as mysql_adapter, MysqlProductRepository};
use farmlokal::adapters::redis::cache::RedisCache;
use farmlokal::adapters::redis::RedisEventLedger;
use farmlokal::domain::webhook::WebhookSecret;
use farmlokal::ports::{Cache, EventLedger, ProductRepository};
use farmlokal::startup::{AppBuilder, Settings};
use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderMap, StatusCode};
use poem::test::TestClient;
use poem::{Body, EndpointExt};
use serde_json::{json, Value};

use crate::support;

/// The secret of `Settings::for_tests` (the Standard Webhooks specification's example secret).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A second secret, for rotation.
pub const NEW_SECRET: &str = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24=";
/// Products in each world's catalogue.
pub const PRODUCTS: u64 = 200;
/// An id no product has.
pub const NO_SUCH_PRODUCT: u64 = 999_999;
/// The body limit (DESIGN §2).
pub const LIMIT: usize = 64 * 1024;

pub fn secret(raw: &str) -> WebhookSecret {
    WebhookSecret::parse(raw).expect("test secrets are valid")
}

/// One message as partner B would send it: id, timestamp, raw body and `webhook-signature`.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub timestamp: i64,
    pub body: Vec<u8>,
    pub signature: String,
}

impl Delivery {
    /// `body` signed now with the test secret.
    pub fn signed(id: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::signed_at(&secret(SECRET), id, Utc::now().timestamp(), body)
    }

    pub fn signed_at(secret: &WebhookSecret, id: &str, timestamp: i64, body: impl Into<Vec<u8>>) -> Self {
        let body = body.into();
        let signature = secret.sign(id, timestamp, &body);
        Self { id: id.to_owned(), timestamp, body, signature }
    }

    pub fn stock(id: &str, product_id: u64, delta: i64) -> Self {
        let body = json!({"type": "product.stock_adjusted", "data": {"product_id": product_id, "delta": delta}});
        Self::signed(id, body.to_string())
    }

    pub fn price(id: &str, product_id: u64, price_paise: u64, effective_at: DateTime<Utc>) -> Self {
        let data =
            json!({"product_id": product_id, "price_paise": price_paise, "effective_at": effective_at.to_rfc3339()});
        Self::signed(id, json!({"type": "product.price_updated", "data": data}).to_string())
    }

    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("content-type", "application/json".to_owned()),
            ("webhook-id", self.id.clone()),
            ("webhook-timestamp", self.timestamp.to_string()),
            ("webhook-signature", self.signature.clone()),
        ]
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn describe(&self) -> String {
        format!("{} {}", self.status, String::from_utf8_lossy(&self.body))
    }

    #[track_caller]
    pub fn assert_ack(&self, status: &str) {
        assert_eq!(self.status, StatusCode::OK, "expected 200 {status}, got {}", self.describe());
        assert_eq!(self.json(), json!({"status": status}), "got {}", self.describe());
    }

    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "expected {status} {code}, got {}", self.describe());
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("application/problem+json"), "content type {content_type}");
        let problem = self.json();
        assert_eq!(problem["code"], code, "got {}", self.describe());
        assert_eq!(problem["status"], status, "got {}", self.describe());
        assert!(problem["type"].is_string() && problem["title"].is_string(), "got {}", self.describe());
        problem
    }
}

/// The HTTP stack of one service, shareable between tasks.
#[derive(Clone)]
pub struct Http {
    endpoint: Arc<BoxEndpoint<'static>>,
}

impl Http {
    pub async fn post(&self, headers: &[(&str, String)], body: Body) -> Reply {
        let client = TestClient::new(self.endpoint.clone());
        let mut request = client.post("/webhooks/partner-b");
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        read(request.body(body).send().await).await
    }

    pub async fn deliver(&self, delivery: &Delivery) -> Reply {
        self.post(&delivery.headers(), Body::from_vec(delivery.body.clone())).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        read(TestClient::new(self.endpoint.clone()).get(path).send().await).await
    }

    /// The product as `GET /products/{id}` shows it.
    pub async fn product(&self, id: u64) -> Value {
        let reply = self.get(&format!("/products/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "GET /products/{id}: {}", reply.describe());
        reply.json()
    }

    pub async fn stock(&self, id: u64) -> u64 {
        self.product(id).await["stock"].as_u64().expect("a product has a stock")
    }
}

async fn read(response: poem::test::TestResponse) -> Reply {
    let response = response.0;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().into_vec().await.expect("the test client reads the whole body");
    Reply { status, headers, body }
}

/// MySQL database and Redis prefix of a real world.
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
    let pool = farmlokal::adapters::redis::pool(&support::redis_url()).await.expect("a valid Redis URL");
    let ledger = Arc::new(RedisEventLedger::new(pool.clone(), redis_prefix));
    (mysql, ledger, Arc::new(RedisCache::new(pool, redis_prefix)))
}

/// One test's service and storage: a 200-product catalogue, a ledger and a cache of its own.
pub struct World {
    pub name: &'static str,
    settings: Settings,
    products: Arc<dyn ProductRepository>,
    ledger: Arc<dyn EventLedger>,
    cache: Arc<dyn Cache>,
    memory: Option<MemoryProductRepository>,
    servers: Option<Servers>,
    pub http: Http,
}

impl World {
    pub fn memory(settings: Settings) -> Self {
        let memory = MemoryProductRepository::sample(PRODUCTS);
        let products: Arc<dyn ProductRepository> = Arc::new(memory.clone());
        let (ledger, cache): (Arc<dyn EventLedger>, Arc<dyn Cache>) =
            (Arc::new(MemoryEventLedger::new()), Arc::new(MemoryCache::new()));
        Self::assemble("memory", settings, products, ledger, cache, Some(memory), None)
    }

    /// MySQL (a fresh database with 200 sample products) and Redis (a fresh prefix), or `None` when either
    /// server is absent (the test is then skipped by `support`).
    pub async fn servers(test: &str, settings: Settings) -> Option<Self> {
        let mysql_url = support::fresh_mysql_database(test).await?;
        let Some(redis_prefix) = support::fresh_redis_prefix(test).await else {
            support::drop_mysql_database(&mysql_url).await;
            return None;
        };
        mysql_adapter::seed(&mysql_url, PRODUCTS, false).await.expect("seeding the test database");
        let (mysql, ledger, cache) = connect(&mysql_url, &redis_prefix).await;
        let servers = Servers { mysql_url, redis_prefix, mysql: mysql.clone() };
        Some(Self::assemble("mysql+redis", settings, Arc::new(mysql), ledger, cache, None, Some(servers)))
    }

    fn assemble(
        name: &'static str,
        settings: Settings,
        products: Arc<dyn ProductRepository>,
        ledger: Arc<dyn EventLedger>,
        cache: Arc<dyn Cache>,
        memory: Option<MemoryProductRepository>,
        servers: Option<Servers>,
    ) -> Self {
        let builder = AppBuilder::in_memory(settings.clone())
            .products(products.clone())
            .event_ledger(ledger.clone())
            .cache(cache.clone());
        let http = Http { endpoint: Arc::new(builder.build().endpoint().map_to_response().boxed()) };
        Self { name, settings, products, ledger, cache, memory, servers, http }
    }

    /// The in-memory catalogue, for fault injection; `None` in the real world.
    pub fn memory_catalogue(&self) -> Option<&MemoryProductRepository> {
        self.memory.as_ref()
    }

    /// A builder for another service instance on the same storage: in memory the same stores, with servers
    /// its own MySQL and Redis connections to the same database and prefix.
    pub async fn another_instance(&self) -> AppBuilder {
        let builder = AppBuilder::in_memory(self.settings.clone());
        let Some(servers) = &self.servers else {
            return builder.products(self.products.clone()).event_ledger(self.ledger.clone()).cache(self.cache.clone());
        };
        let (mysql, ledger, cache) = connect(&servers.mysql_url, &servers.redis_prefix).await;
        builder.products(Arc::new(mysql)).event_ledger(ledger).cache(cache)
    }

    /// Forgets every finished and claimed webhook id of the ledger: with Redis, deletes this test's keys
    /// (SCAN + DEL on its prefix, never FLUSHALL: other tests share the server); in memory, a new ledger.
    pub async fn flush_ledger(&mut self) {
        match &self.servers {
            Some(servers) => delete_prefix(&servers.redis_prefix).await,
            None => {
                self.ledger = Arc::new(MemoryEventLedger::new());
                let world = Self::assemble(
                    self.name,
                    self.settings.clone(),
                    self.products.clone(),
                    self.ledger.clone(),
                    self.cache.clone(),
                    None,
                    None,
                );
                self.http = world.http;
            }
        }
    }

    /// Drops the test database and Redis keys of a real world.
    pub async fn finish(self) {
        if let Some(servers) = self.servers {
            drop(self.http);
            drop(self.products);
            if let Err(e) = servers.mysql.disconnect().await {
                eprintln!("disconnecting from {}: {e}", servers.mysql_url);
            }
            delete_prefix(&servers.redis_prefix).await;
            support::drop_mysql_database(&servers.mysql_url).await;
        }
    }
}

/// A plain HTTP client that reports every status as an answer, not an error.
pub fn ureq_agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// An answer over a real socket: status, whether it carried `RateLimit-Limit`, and the body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub rate_limited_headers: bool,
    pub body: String,
}

impl Answer {
    fn read(mut response: ureq::http::Response<ureq::Body>) -> Self {
        let rate_limited_headers = response.headers().contains_key("ratelimit-limit");
        let body = response.body_mut().read_to_string().expect("a readable answer");
        Self { status: response.status().as_u16(), rate_limited_headers, body }
    }
}

/// Sends `delivery` to `base` (`http://host:port`) from a blocking thread.
pub fn deliver_blocking(agent: &ureq::Agent, base: &str, delivery: &Delivery) -> Answer {
    let mut request = agent.post(format!("{base}/webhooks/partner-b"));
    for (name, value) in delivery.headers() {
        request = request.header(name, &value);
    }
    Answer::read(request.send(&delivery.body[..]).expect("the service answers"))
}

/// `GET base + path` from a blocking thread.
pub fn get_blocking(agent: &ureq::Agent, base: &str, path: &str) -> Answer {
    Answer::read(agent.get(format!("{base}{path}")).call().expect("the service answers"))
}

/// Deletes every key under `prefix` (a test's own) with SCAN + DEL.
pub async fn delete_prefix(prefix: &str) {
    let client = redis::Client::open(support::redis_url()).expect("a valid Redis URL");
    let mut conn = client.get_multiplexed_async_connection().await.expect("Redis answers");
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await
            .expect("SCAN");
        if !keys.is_empty() {
            redis::cmd("DEL").arg(&keys).query_async::<()>(&mut conn).await.expect("DEL");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

/// Runs `async fn $behaviour(world: &mut World)` as two tests, `$behaviour::in_memory` and
/// `$behaviour::on_mysql_and_redis`, each in a fresh world built with `$settings`.
macro_rules! in_both_worlds {
    ($behaviour:ident, $settings:expr) => {
        mod $behaviour {
            use $crate::webhook_world::World;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn in_memory() {
                let mut world = World::memory($settings);
                super::$behaviour(&mut world).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_mysql_and_redis() {
                let test = concat!(module_path!(), "::on_mysql_and_redis");
                let Some(mut world) = World::servers(test, $settings).await else { return };
                super::$behaviour(&mut world).await;
                world.finish().await;
            }
        }
    };
}
pub(crate) use in_both_worlds;

pub fn test_settings() -> Settings {
    Settings::for_tests()
}

/// The product most tests change.
pub const PRODUCT: u64 = 42;

/// The test settings with another listing-cache TTL.
pub fn settings_with_cache_ttl(ttl: Duration) -> Settings {
    let mut settings = test_settings();
    settings.cache_ttl = ttl;
    settings
}
