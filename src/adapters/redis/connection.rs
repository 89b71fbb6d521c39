//! Where the Redis adapters send their commands: one Redis server through a bb8 pool, or a Redis Cluster
//! through the redis crate's own cluster client. Adapters run commands, scripts and pipelines on a
//! [`RedisConn`] and never know which one it is.
//!
//! A single server's connections are multiplexed too, and shared: a checkout takes a handle to a pooled
//! connection and gives the connection back to the pool at once, so concurrent callers pipeline their commands
//! over the same few connections instead of one round trip per connection each. The pool (bb8) opens, checks
//! and replaces them. A checkout sends no `PING` while no connection has been lost (bb8-redis's manager sends one
//! on every checkout: two of a cache miss's four round trips). A connection is marked lost when a command on it
//! gets no answer: it failed as a lost connection does, or its caller stopped waiting (the command timeout); the
//! pool then drops it at its next checkout, and every other connection proves itself with a `PING` at its
//! next one: a crashed server broke them all, and the first command after it comes back finds a good one.
//!
//! The cluster connection is one multiplexed [`ClusterConnection`] per process, shared by every adapter (clones
//! are cheap handles to it, so it needs no pool). It keeps a connection to every node, routes each command by
//! its first key's slot, follows `MOVED` and `ASK`, refreshes the slot map after a failover or a slot move, and
//! retries a command that met a redirect or a dropped connection. It is opened on first use, not at start, so
//! the service starts while the cluster is down; a failed open is retried by the next call.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bb8_redis::RedisConnectionManager;
use redis::aio::MultiplexedConnection;
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
    Node(bb8::Pool<NodeManager>),
    Cluster(Arc<Cluster>),
}

/// bb8's manager of connections to one server: bb8-redis's, but a checkout sends a `PING` only after some
/// connection was lost since this one was last known good, and a connection seen lost is never handed out again.
pub(crate) struct NodeManager {
    inner: RedisConnectionManager,
    /// Connections seen lost so far, by any caller.
    losses: Arc<AtomicU64>,
}

impl NodeManager {
    pub(crate) fn new(inner: RedisConnectionManager) -> Self {
        Self { inner, losses: Arc::new(AtomicU64::new(0)) }
    }
}

impl bb8::ManageConnection for NodeManager {
    type Connection = NodeConnection;
    type Error = redis::RedisError;

    async fn connect(&self) -> Result<NodeConnection, redis::RedisError> {
        let good_since = self.losses.load(Ordering::Acquire);
        let inner = self.inner.connect().await?;
        let lost = Arc::new(Lost { connection: AtomicBool::new(false), losses: self.losses.clone() });
        Ok(NodeConnection { inner, lost, good_since })
    }

    /// At checkout: a connection seen lost is dropped (bb8 tries the next idle one or opens one); otherwise no
    /// round trip unless some connection was lost since this one last proved good, then a `PING`.
    async fn is_valid(&self, conn: &mut NodeConnection) -> Result<(), redis::RedisError> {
        if conn.lost.connection.load(Ordering::Acquire) {
            return Err(redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionAborted)));
        }
        let losses = self.losses.load(Ordering::Acquire);
        if conn.good_since != losses {
            self.inner.is_valid(&mut conn.inner).await?;
            conn.good_since = losses;
        }
        Ok(())
    }

    fn has_broken(&self, conn: &mut NodeConnection) -> bool {
        conn.lost.connection.load(Ordering::Acquire)
    }
}

/// A pooled connection to one server, and the count of losses when it was last known good.
pub(crate) struct NodeConnection {
    inner: MultiplexedConnection,
    lost: Arc<Lost>,
    good_since: u64,
}

/// Whether a connection was seen lost, and the pool's count of such connections.
struct Lost {
    connection: AtomicBool,
    losses: Arc<AtomicU64>,
}

impl Lost {
    fn mark(&self) {
        if !self.connection.swap(true, Ordering::AcqRel) {
            self.losses.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// A handle to a pooled connection, shared: the checkout returns the connection to the pool at once, so
/// concurrent callers send their commands over the same few connections, pipelined.
pub(crate) struct SharedNode {
    inner: MultiplexedConnection,
    lost: Arc<Lost>,
}

impl SharedNode {
    /// Runs `call` on the connection; unless Redis answers (an error reply counts), the connection is marked
    /// lost: it failed as a lost connection does, its reply did not parse, or its caller stopped waiting (the
    /// command timeout drops the future). A server that crashed took the pool's other connections with it, so
    /// each of them is checked before its next use.
    fn answered_by<'a, T: Send + 'a>(
        &'a mut self,
        call: impl FnOnce(&'a mut MultiplexedConnection) -> redis::RedisFuture<'a, T>,
    ) -> redis::RedisFuture<'a, T> {
        let unanswered = Unanswered(Some(self.lost.clone()));
        let reply = call(&mut self.inner);
        Box::pin(async move {
            let reply = reply.await;
            if replied(&reply) {
                unanswered.answered();
            }
            reply
        })
    }
}

/// Marks its connection lost when dropped, unless the command was answered first.
struct Unanswered(Option<Arc<Lost>>);

impl Unanswered {
    fn answered(mut self) {
        self.0 = None;
    }
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(lost) = self.0.take() {
            lost.mark();
        }
    }
}

/// Whether Redis answered: a value, or an error reply.
fn replied<T>(reply: &redis::RedisResult<T>) -> bool {
    match reply {
        Ok(_) => true,
        Err(e) => matches!(e.kind(), redis::ErrorKind::Server(_) | redis::ErrorKind::Extension),
    }
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
pub(crate) enum RedisConn {
    Node(SharedNode),
    Cluster(ClusterConnection),
}

impl Backend {
    /// A connection within [`CONNECTION_TIMEOUT`] (the guard covers a connect that ignores its own bound).
    pub(crate) async fn get(&self) -> anyhow::Result<RedisConn> {
        let bound = CONNECTION_TIMEOUT + Duration::from_millis(100);
        match self {
            Self::Node(pool) => match tokio::time::timeout(bound, pool.get()).await {
                Ok(Ok(pooled)) => {
                    Ok(RedisConn::Node(SharedNode { inner: pooled.inner.clone(), lost: pooled.lost.clone() }))
                }
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

impl redis::aio::ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Node(conn) => conn.answered_by(|inner| inner.req_packed_command(cmd)),
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
            Self::Node(conn) => conn.answered_by(move |inner| inner.req_packed_commands(pipeline, offset, count)),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Node(conn) => conn.inner.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}
