//! Test worlds: each test gets its own MySQL database and Redis key prefix, so tests run in parallel and never
//! see each other's data.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

/// The MySQL server tests use: `FARMLOKAL_TEST_MYSQL_URL` (no database part), default the local one.
pub fn mysql_server_url() -> String {
    std::env::var("FARMLOKAL_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// The Redis server tests use: `FARMLOKAL_TEST_REDIS_URL`, default the local one.
pub fn redis_url() -> String {
    std::env::var("FARMLOKAL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned())
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
