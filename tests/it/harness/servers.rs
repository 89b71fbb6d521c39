//! The MySQL and Redis servers tests share: where they are, a database and a key prefix of each test's own
//! (so tests run in parallel and never see each other's data), their cleanup, and a Redis that a test can cut.
//! Redis comes as one server or as the Redis Cluster `scripts/test.sh` starts ([`RedisTopology`]).
//! With no server a test skips loudly, or fails when `FARMLOKAL_TEST_REQUIRE_SERVERS=1`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use farmlokal::adapters::mysql as mysql_adapter;
use farmlokal::adapters::redis::{self as redis_adapters, RedisPool};
use tokio::sync::watch;

/// The MySQL server tests use: `FARMLOKAL_TEST_MYSQL_URL` (no database part), default the local one.
pub fn mysql_server_url() -> String {
    std::env::var("FARMLOKAL_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// The Redis server tests use: `FARMLOKAL_TEST_REDIS_URL`, default the local one.
pub fn redis_url() -> String {
    std::env::var("FARMLOKAL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned())
}

/// The seed nodes of the Redis Cluster tests use: `FARMLOKAL_TEST_REDIS_CLUSTER_NODES` (comma-separated
/// `redis://host:port`). No default: a cluster is six servers that only the test command starts.
pub fn redis_cluster_nodes() -> Option<Vec<String>> {
    let raw = std::env::var("FARMLOKAL_TEST_REDIS_CLUSTER_NODES").ok()?;
    let nodes: Vec<String> = raw.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect();
    (!nodes.is_empty()).then_some(nodes)
}

/// Which Redis a test runs on: the one server, or the Redis Cluster of three masters with a replica each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisTopology {
    Node,
    Cluster,
}

/// A connection pool on the test Redis of `topology` and a key prefix of this test's own, or `None` (after
/// `skip_or_fail`) when that Redis is unreachable or, for a cluster, not configured.
pub async fn fresh_redis(test: &str, topology: RedisTopology) -> Option<(RedisPool, String)> {
    match topology {
        RedisTopology::Node => {
            let prefix = fresh_redis_prefix(test).await?;
            Some((redis_adapters::pool(&redis_url()).await.expect("a valid Redis URL"), prefix))
        }
        RedisTopology::Cluster => {
            let Some(nodes) = redis_cluster_nodes() else {
                skip_or_fail(test, "Redis Cluster", &"FARMLOKAL_TEST_REDIS_CLUSTER_NODES is not set");
                return None;
            };
            if let Err(e) = cluster_connection(&nodes).await {
                skip_or_fail(test, "Redis Cluster", &e);
                return None;
            }
            let pool = redis_adapters::cluster(&nodes).expect("valid Redis Cluster seed nodes");
            Some((pool, format!("{}:", unique_name("t"))))
        }
    }
}

/// A raw connection to the cluster reached through `nodes`, after a `PING` of every master.
pub async fn cluster_connection(nodes: &[String]) -> anyhow::Result<redis::cluster_async::ClusterConnection> {
    let client = redis::cluster::ClusterClient::new(nodes.to_vec())?;
    let mut conn = client.get_async_connection().await?;
    let _: String = redis::cmd("PING").query_async(&mut conn).await?;
    Ok(conn)
}

fn servers_required() -> bool {
    std::env::var("FARMLOKAL_TEST_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

/// A name no other test in any process uses: process id, a counter, and randomness.
pub fn unique_name(kind: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let salt: u32 = rand::random();
    format!("fl_{kind}_{}_{n}_{salt:08x}", std::process::id())
}

/// Called when a server a test needs does not answer: with the servers required, the test fails; otherwise it
/// prints why it is skipped, so `cargo test` output says clearly what did not run.
pub fn skip_or_fail(test: &str, what: &str, error: &dyn std::fmt::Display) {
    assert!(
        !servers_required(),
        "{test}: {what} is required (FARMLOKAL_TEST_REQUIRE_SERVERS=1) but unreachable: {error}"
    );
    // Written to the stderr handle, not with `eprintln!`, which the test harness captures for passing tests:
    // a skip must be visible in a plain `cargo test` run.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED {test}: {what} unreachable ({error}); run scripts/test.sh to bring the servers"
    );
}

/// Creates a fresh database and returns its URL, or `None` (after `skip_or_fail`) when MySQL is unreachable.
pub async fn fresh_mysql_database(test: &str) -> Option<String> {
    use mysql_async::prelude::Queryable;
    let server = mysql_server_url();
    let name = unique_name("db");
    let result = async {
        let opts = mysql_async::Opts::from_url(&server)?;
        let mut conn = mysql_async::Conn::new(opts).await?;
        conn.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4")).await?;
        conn.disconnect().await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    match result {
        Ok(()) => Some(format!("{}/{name}", server.trim_end_matches('/'))),
        Err(e) => {
            skip_or_fail(test, "MySQL", &e);
            None
        }
    }
}

/// A fresh database, migrated and seeded with `count` sample products, or `None` when MySQL is down (skipped).
pub async fn seeded_mysql(test: &str, count: u64) -> Option<String> {
    let url = fresh_mysql_database(test).await?;
    mysql_adapter::seed(&url, count, false).await.expect("seeding the test database");
    Some(url)
}

/// Drops a database made by `fresh_mysql_database`; failures only print (cleanup must not fail a test).
pub async fn drop_mysql_database(url: &str) {
    use mysql_async::prelude::Queryable;
    let result = async {
        let opts = mysql_async::Opts::from_url(url)?;
        let name = opts.db_name().map(str::to_owned).unwrap_or_default();
        anyhow::ensure!(name.starts_with("fl_db_"), "refusing to drop {name:?}: not a test database");
        let mut conn =
            mysql_async::Conn::new(mysql_async::OptsBuilder::from_opts(opts).db_name(None::<String>)).await?;
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`")).await?;
        conn.disconnect().await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    if let Err(e) = result {
        eprintln!("could not drop test database {url}: {e}");
    }
}

/// How many connections the server holds to the database `url` names, by any client (the count's own
/// connection names none).
pub async fn connections_to(url: &str) -> u64 {
    use mysql_async::prelude::Queryable;
    let opts = mysql_async::Opts::from_url(url).expect("a valid MySQL URL");
    let database = opts.db_name().expect("a URL naming its database").to_owned();
    let mut admin = mysql_async::Conn::new(mysql_async::OptsBuilder::from_opts(opts).db_name(None::<String>))
        .await
        .expect("connect");
    let open: Option<u64> = admin
        .exec_first("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ?", (database,))
        .await
        .expect("count connections");
    admin.disconnect().await.expect("disconnect");
    open.unwrap_or_default()
}

/// A Redis key prefix of this test's own, or `None` (after `skip_or_fail`) when Redis is unreachable.
pub async fn fresh_redis_prefix(test: &str) -> Option<String> {
    let result = async {
        let client = redis::Client::open(redis_url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    match result {
        Ok(()) => Some(format!("{}:", unique_name("t"))),
        Err(e) => {
            skip_or_fail(test, "Redis", &e);
            None
        }
    }
}

/// Deletes every key under `prefix` (a test's own) with SCAN + DEL, never FLUSHALL: other tests share the server.
pub async fn delete_prefix(prefix: &str) {
    let client = redis::Client::open(redis_url()).expect("a valid Redis URL");
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

/// A TCP forwarder to Redis that the test can cut, to take Redis "down" for one service only.
pub struct CuttableRedis {
    /// The Redis URL to give the service: the forwarder's address, the test server's database.
    pub url: String,
    cut: watch::Sender<bool>,
    accepting: tokio::task::JoinHandle<()>,
}

impl CuttableRedis {
    pub async fn start() -> Self {
        let redis_url = url::Url::parse(&redis_url()).expect("Redis URL");
        let target = format!("{}:{}", redis_url.host_str().unwrap_or("127.0.0.1"), redis_url.port().unwrap_or(6379));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the forwarder");
        let url = format!("redis://{}{}", listener.local_addr().expect("address"), redis_url.path());
        let (cut, mut is_cut) = watch::channel(false);
        let accepting = tokio::spawn(async move {
            loop {
                let mut inbound = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok((s, _)) => s, Err(_) => continue },
                    _ = is_cut.changed() => return,
                };
                let (target, mut is_cut) = (target.clone(), is_cut.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = is_cut.changed() => {}
                    }
                });
            }
        });
        Self { url, cut, accepting }
    }

    /// Closes every connection and the listener: new connections are refused from now on.
    pub async fn cut(self) {
        let _ = self.cut.send(true);
        let _ = self.accepting.await;
    }
}

/// The throw-away MariaDB primary and its GTID replica that `scripts/test.sh` starts
/// (`FARMLOKAL_TEST_MYSQL_PRIMARY_URL`, `FARMLOKAL_TEST_MYSQL_REPLICA_URL`, no database part), or `None` (after
/// `skip_or_fail`) when they are not configured or do not answer.
pub async fn replication(test: &str) -> Option<(String, String)> {
    use mysql_async::prelude::Queryable;
    let urls = (std::env::var("FARMLOKAL_TEST_MYSQL_PRIMARY_URL"), std::env::var("FARMLOKAL_TEST_MYSQL_REPLICA_URL"));
    let (Ok(primary), Ok(replica)) = urls else {
        skip_or_fail(test, "a MySQL primary and replica", &"FARMLOKAL_TEST_MYSQL_PRIMARY_URL/_REPLICA_URL unset");
        return None;
    };
    for url in [&primary, &replica] {
        let answer = async {
            let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(url)?).await?;
            conn.query_drop("SELECT 1").await?;
            conn.disconnect().await?;
            Ok::<_, anyhow::Error>(())
        };
        if let Err(e) = answer.await {
            skip_or_fail(test, "a MySQL primary and replica", &e);
            return None;
        }
    }
    Some((primary.trim_end_matches('/').to_owned(), replica.trim_end_matches('/').to_owned()))
}

/// A TCP forwarder to `target` that a test can switch off and on: off, it has closed every connection and drops
/// each new one as soon as it is accepted (as a proxy in front of a dead server does); on, it forwards again.
pub struct TcpSwitch {
    pub addr: std::net::SocketAddr,
    open: Arc<AtomicBool>,
    forwarding: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl TcpSwitch {
    pub async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the forwarder");
        let addr = listener.local_addr().expect("address");
        let open = Arc::new(AtomicBool::new(true));
        let forwarding: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (is_open, connections) = (open.clone(), forwarding.clone());
        let accepting = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { continue };
                if !is_open.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let target = target.clone();
                let connection = tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                connections.lock().expect("not poisoned").push(connection);
            }
        });
        Self { addr, open, forwarding, accepting }
    }

    /// Refuses new connections and returns once every forwarded one is closed, until `restore`.
    pub async fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        let connections = std::mem::take(&mut *self.forwarding.lock().expect("not poisoned"));
        for connection in connections {
            connection.abort();
            let _ = connection.await;
        }
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for TcpSwitch {
    fn drop(&mut self) {
        self.accepting.abort();
        for connection in self.forwarding.lock().expect("not poisoned").drain(..) {
            connection.abort();
        }
    }
}
