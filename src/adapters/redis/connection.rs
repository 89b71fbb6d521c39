//! Where the Redis adapters send their commands: one Redis server through a bb8 pool, or a Redis Cluster
//! through the redis crate's own cluster client. Adapters run commands, scripts and pipelines on a
//! [`RedisConn`] and never know which one it is.
//!
//! The cluster connection is one multiplexed [`ClusterConnection`] per process, shared by every adapter (clones
//! are cheap handles to it, so it needs no pool). It keeps a connection to every node, routes each command by
//! its first key's slot, follows `MOVED` and `ASK`, refreshes the slot map after a failover or a slot move, and
//! retries a command that met a redirect or a dropped connection. It is opened on first use, not at start, so
//! the service starts while the cluster is down; a failed open is retried by the next call.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bb8_redis::RedisConnectionManager;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use tokio::sync::{Mutex, OnceCell};

/// The longest a pool checkout, or opening the cluster connection (a fresh connect included), may take.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_millis(500);
/// The longest one command or script may take once a connection is in hand.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// How often the cluster client retries one command (after `MOVED`, `ASK`, `TRYAGAIN` or a lost connection)
/// before giving up; every attempt is also inside [`COMMAND_TIMEOUT`].
const CLUSTER_RETRIES: u32 = 6;
/// The shortest and longest pause between two retries, in milliseconds. The crate's defaults (1.3 s to 11 min)
/// would outlast any caller; a failover is noticed and followed within a few of these pauses.
const CLUSTER_RETRY_WAIT_MS: (u64, u64) = (10, 100);

/// A single Redis server or a Redis Cluster.
#[derive(Clone)]
pub(crate) enum Backend {
    Node(bb8::Pool<RedisConnectionManager>),
    Cluster(Arc<Cluster>),
}

/// The cluster client and its one shared connection, opened on first use.
pub(crate) struct Cluster {
    client: ClusterClient,
    connection: OnceCell<ClusterConnection>,
    /// Held while a call opens the connection, so concurrent first calls open it once.
    opening: Mutex<()>,
}

impl Cluster {
    /// A client for the cluster reached through `seeds`, without connecting.
    ///
    /// # Errors
    /// No seed, or a seed that is not a Redis URL.
    pub(crate) fn new(seeds: &[String]) -> anyhow::Result<Self> {
        anyhow::ensure!(!seeds.is_empty(), "a Redis Cluster needs at least one seed node");
        let client = ClusterClientBuilder::new(seeds.iter().map(String::as_str))
            .connection_timeout(CONNECTION_TIMEOUT)
            .response_timeout(COMMAND_TIMEOUT)
            .retries(CLUSTER_RETRIES)
            .min_retry_wait(CLUSTER_RETRY_WAIT_MS.0)
            .max_retry_wait(CLUSTER_RETRY_WAIT_MS.1)
            .build()
            .context("invalid Redis Cluster seed nodes")?;
        Ok(Self { client, connection: OnceCell::new(), opening: Mutex::new(()) })
    }

    /// The shared connection, opening it first when no call has yet. Concurrent first calls open it once.
    async fn connection(&self) -> redis::RedisResult<ClusterConnection> {
        if let Some(open) = self.connection.get() {
            return Ok(open.clone());
        }
        let _opening = self.opening.lock().await;
        if let Some(open) = self.connection.get() {
            return Ok(open.clone());
        }
        let open = self.client.get_async_connection().await?;
        // Only this call sets it, under `opening`.
        let _ = self.connection.set(open.clone());
        Ok(open)
    }
}

/// A connection to run one command, script or pipeline on.
pub(crate) enum RedisConn<'a> {
    Node(bb8::PooledConnection<'a, RedisConnectionManager>),
    Cluster(ClusterConnection),
}

impl Backend {
    /// A connection within [`CONNECTION_TIMEOUT`] (the guard covers a connect that ignores its own bound).
    pub(crate) async fn get(&self) -> anyhow::Result<RedisConn<'_>> {
        let bound = CONNECTION_TIMEOUT + Duration::from_millis(100);
        match self {
            Self::Node(pool) => match tokio::time::timeout(bound, pool.get()).await {
                Ok(Ok(conn)) => Ok(RedisConn::Node(conn)),
                Ok(Err(e)) => Err(anyhow::Error::new(e).context("no Redis connection")),
                Err(_) => Err(anyhow::anyhow!("no Redis connection within {CONNECTION_TIMEOUT:?}")),
            },
            Self::Cluster(cluster) => match tokio::time::timeout(bound, cluster.connection()).await {
                Ok(Ok(conn)) => Ok(RedisConn::Cluster(conn)),
                Ok(Err(e)) => Err(anyhow::Error::new(e).context("no Redis Cluster connection")),
                Err(_) => Err(anyhow::anyhow!("no Redis Cluster connection within {CONNECTION_TIMEOUT:?}")),
            },
        }
    }
}

impl redis::aio::ConnectionLike for RedisConn<'_> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Node(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Node(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Node(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}
