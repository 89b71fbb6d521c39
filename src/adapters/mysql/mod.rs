//! The MySQL / MariaDB catalogue: the `ProductRepository` adapter, its versioned migrations, the listing SQL
//! and the bulk seeder.
//!
//! Everything here runs unchanged on MySQL 8.4 and MariaDB 10.11. Driver errors are translated at this seam:
//! nothing above it sees a `mysql_async` type.

pub mod listing;
pub mod matches;
pub mod migrations;
pub mod replica;
pub mod repository;
pub mod search;
pub mod seed;
pub mod summary;

use std::time::Duration;

use anyhow::Context as _;
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};

use crate::ports::product_repository::RepositoryError;

pub use migrations::migrate;
pub use replica::ReplicaRouter;
pub use repository::{MysqlProductRepository, READ_CONNECTIONS};
pub use seed::{seed, SeedReport};

/// How long getting a connection may take before the store counts as unavailable. A refused connection
/// fails at once; this bounds a black-holed host or an exhausted pool.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The server-side limit on one catalogue query (read pool only). The client gives up a little later, so the
/// server's own error normally arrives first and the connection stays usable.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(3);

/// The client-side limit on one whole repository call (connection, query, conversion).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(4);

/// Which server a connection talks to; they spell the statement timeout differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// MariaDB: `max_statement_time`, in seconds (fractional).
    MariaDb,
    /// MySQL: `max_execution_time`, in milliseconds, applied to read-only SELECTs.
    MySql,
}

impl Flavor {
    /// Recognises the server from `SELECT VERSION()` (MariaDB says so in its version string).
    pub fn from_version(version: &str) -> Self {
        if version.to_ascii_lowercase().contains("mariadb") {
            Self::MariaDb
        } else {
            Self::MySql
        }
    }

    /// The statement that bounds every later statement of this session.
    pub fn statement_timeout_sql(self, timeout: Duration) -> String {
        match self {
            Self::MariaDb => format!("SET SESSION max_statement_time = {:.3}", timeout.as_secs_f64()),
            Self::MySql => format!("SET SESSION max_execution_time = {}", timeout.as_millis()),
        }
    }
}

/// Asks a connection which server it talks to.
///
/// # Errors
/// The driver's error when the query fails.
pub async fn detect_flavor(conn: &mut mysql_async::Conn) -> mysql_async::Result<Flavor> {
    let version: Option<String> = conn.query_first("SELECT VERSION()").await?;
    Ok(Flavor::from_version(version.as_deref().unwrap_or_default()))
}

/// Prepared statements kept per connection. Most listings go as text with their values written in
/// (`listing::inline`); what is prepared (a listing whose values cannot be written in, a search's match set, a
/// product by id, the webhook's writes) has fewer shapes than this, so a varied mix never re-prepares.
/// Server-side this is at most 128 per connection of the read and write pools (48 per instance by default, see
/// `FARMLOKAL_MYSQL_READ_CONNECTIONS`); `max_prepared_stmt_count` (16,382 by default) bounds the fleet, see
/// docs/SCALING.md.
const STATEMENT_CACHE: usize = 128;

/// Builds a pool that does not connect until first used (the service starts while MySQL is down).
///
/// Connections are not reset when returned: a reset empties the prepared-statement cache, and this adapter
/// never leaves session state behind except the statement timeout, which is meant to stay. With
/// `statement_timeout`, every new connection detects its server once and sets the matching session variable.
///
/// # Errors
/// When the URL does not parse.
pub fn build_pool(url: &str, max: usize, statement_timeout: Option<Duration>) -> anyhow::Result<Pool> {
    let opts = Opts::from_url(url).with_context(|| "FARMLOKAL_MYSQL_URL is not a valid mysql:// URL".to_owned())?;
    let constraints = PoolConstraints::new(1.min(max), max).context("pool size must be at least 1")?;
    let pool_opts = PoolOpts::default()
        .with_constraints(constraints)
        .with_reset_connection(false)
        .with_inactive_connection_ttl(Duration::from_secs(60))
        .with_ttl_check_interval(Duration::from_secs(30));
    let mut builder =
        OptsBuilder::from_opts(opts).pool_opts(pool_opts).stmt_cache_size(STATEMENT_CACHE).tcp_nodelay(true);
    if let Some(timeout) = statement_timeout {
        builder = builder.after_connect(move |conn| {
            Box::pin(async move {
                let flavor = detect_flavor(conn).await?;
                conn.query_drop(flavor.statement_timeout_sql(timeout)).await
            })
        });
    }
    Ok(Pool::new(builder))
}

/// Server error codes that mean "cannot answer now" rather than "this request is wrong".
const UNAVAILABLE_CODES: [u16; 12] = [
    1040, // too many connections
    1045, // access denied (misconfigured credentials: the store cannot be used)
    1049, // unknown database (not migrated yet)
    1053, // server shutdown in progress
    1152, // aborted connection
    1205, // lock wait timeout
    1213, // deadlock: the caller may retry
    1290, // read-only server (failover in progress)
    1927, // MariaDB: connection was killed
    1969, // MariaDB: max_statement_time exceeded
    3024, // MySQL: max_execution_time exceeded
    4031, // MySQL: disconnected by the server for inactivity
];

/// MySQL's `ER_DUP_ENTRY`.
pub const DUPLICATE_KEY: u16 = 1062;

/// True when the error is a duplicate key.
pub fn is_duplicate_key(error: &mysql_async::Error) -> bool {
    matches!(error, mysql_async::Error::Server(e) if e.code == DUPLICATE_KEY)
}

/// Translates a driver error at the seam: connection trouble and timeouts become `Unavailable`, everything
/// else `Unknown` with its cause kept.
pub fn repository_error(error: mysql_async::Error) -> RepositoryError {
    use mysql_async::{DriverError, Error};
    let unavailable = match &error {
        Error::Io(_) => true,
        Error::Driver(d) => {
            matches!(d, DriverError::ConnectionClosed | DriverError::PoolDisconnected | DriverError::PacketOutOfOrder)
        }
        Error::Server(e) => UNAVAILABLE_CODES.contains(&e.code),
        Error::Other(_) | Error::Url(_) => false,
    };
    if unavailable {
        RepositoryError::Unavailable(anyhow::Error::new(error))
    } else {
        RepositoryError::Unknown(anyhow::Error::new(error).context("MySQL catalogue query failed"))
    }
}

/// The error of a call that ran out of time.
pub fn timed_out(what: &str) -> RepositoryError {
    RepositoryError::Unavailable(anyhow::anyhow!("MySQL did not answer {what} within {CALL_TIMEOUT:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_flavor_comes_from_the_version_string() {
        assert_eq!(Flavor::from_version("10.11.19-MariaDB-0+deb12u1"), Flavor::MariaDb);
        assert_eq!(Flavor::from_version("8.4.3"), Flavor::MySql);
        let timeout = Duration::from_millis(2_500);
        assert_eq!(Flavor::MariaDb.statement_timeout_sql(timeout), "SET SESSION max_statement_time = 2.500");
        assert_eq!(Flavor::MySql.statement_timeout_sql(timeout), "SET SESSION max_execution_time = 2500");
    }
}
