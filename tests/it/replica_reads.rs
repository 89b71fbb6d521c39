//! Catalogue reads on a real MariaDB replica (DESIGN §7), started by `scripts/test.sh` (GTID replication from a
//! throw-away primary): reads go to the replica; when it lags beyond the bound (its SQL thread stopped) or cannot
//! be reached, they go to the primary with no error, and come back when it recovers; the instance that applied a
//! webhook shows the change at once. One test: stopping the replica's SQL thread is global to the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use farmlokal::adapters::mysql::replica::{ReadSource, ReplicaRouter};
use farmlokal::startup::{AppBuilder, Settings};
use mysql_async::prelude::Queryable;

use crate::harness::partners::Delivery;
use crate::harness::servers::{self, TcpSwitch};
use crate::harness::wait::poll_until;
use crate::harness::{Run, TestApp};

async fn exec(url: &str, sql: &str) {
    let mut conn =
        mysql_async::Conn::new(mysql_async::Opts::from_url(url).expect("a valid URL")).await.expect("connects");
    conn.query_drop(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.disconnect().await.expect("disconnects");
}

async fn count(url: &str, sql: &str) -> Option<u64> {
    let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(url).ok()?).await.ok()?;
    let n: Option<u64> = conn.query_first(sql).await.ok().flatten();
    let _ = conn.disconnect().await;
    n
}

/// Starts the replica's SQL thread again when dropped, even if the test panicked with it stopped.
struct SqlThreadRestart(String);

impl Drop for SqlThreadRestart {
    fn drop(&mut self) {
        let url = self.0.clone();
        let restarted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(exec(&url, "START SLAVE SQL_THREAD"));
        });
        let _ = restarted.join();
    }
}

async fn app_on(router: &ReplicaRouter) -> TestApp {
    let builder = AppBuilder::in_memory(Settings::for_tests()).products(Arc::new(router.clone()));
    TestApp::start(builder, Run::InProcess).await
}

async fn wait_for_source(router: &ReplicaRouter, source: ReadSource) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    poll_until(deadline, Duration::from_millis(100), || async { (router.source() == source).then_some(()) })
        .await
        .is_some()
}

/// Reads `GET /products/{id}` until `field` shows `want` (for at most 30 s), and gives every status seen on the way.
async fn until_product_shows(app: &TestApp, id: u64, field: &str, want: serde_json::Value) -> (bool, Vec<u16>) {
    let mut statuses = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let reply = app.get(&format!("/products/{id}")).await;
        statuses.push(reply.status.as_u16());
        if reply.status == 200 && reply.json()[field] == want {
            return (true, statuses);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (false, statuses)
}

/// Whether `/metrics` says `source` serves catalogue reads.
async fn serves(app: &TestApp, source: &str) -> bool {
    let scrape = app.metrics().await.text();
    let line = |s: &str, v: u8| format!("farmlokal_mysql_read_source{{source=\"{s}\"}} {v}");
    let other = if source == "primary" { "replica" } else { "primary" };
    scrape.lines().any(|l| l == line(source, 1)) && scrape.lines().any(|l| l == line(other, 0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_follow_the_replica_leave_it_while_it_lags_or_is_unreachable_and_come_back() {
    let test = "reads_follow_the_replica_leave_it_while_it_lags_or_is_unreachable_and_come_back";
    let Some((primary, replica)) = servers::replication(test).await else { return };
    let name = servers::unique_name("db");
    exec(&primary, &format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4")).await;
    let (primary_db, replica_db) = (format!("{primary}/{name}"), format!("{replica}/{name}"));
    farmlokal::adapters::mysql::seed(&primary_db, 30, false).await.expect("seeding the primary");
    let deadline = Instant::now() + Duration::from_secs(30);
    let replicated = poll_until(deadline, Duration::from_millis(100), || async {
        (count(&replica_db, "SELECT COUNT(*) FROM products").await == Some(30)).then_some(())
    })
    .await;
    assert!(replicated.is_some(), "the seeded catalogue did not reach the replica");

    let replica_host = url::Url::parse(&replica).expect("replica URL");
    let switch = TcpSwitch::start(format!(
        "{}:{}",
        replica_host.host_str().unwrap_or("127.0.0.1"),
        replica_host.port().unwrap_or(3306)
    ))
    .await;
    // prefer_socket=false: otherwise the driver, seeing a loopback server, reconnects through its Unix socket,
    // around the switch.
    let switched_db = format!("mysql://root@{}/{name}?prefer_socket=false", switch.addr);
    // Strict: moves to the primary two seconds behind (the lag measured includes up to one heartbeat interval, so a
    // 1 s bound would flap while the replica is healthy). Patient: stays on the replica for an hour of lag.
    let strict = ReplicaRouter::new(&primary_db, &switched_db, Duration::from_secs(2), 4).expect("valid URLs");
    let patient = ReplicaRouter::new(&primary_db, &replica_db, Duration::from_secs(3600), 4).expect("valid URLs");
    let (strict_app, patient_app) = (app_on(&strict).await, app_on(&patient).await);
    assert!(wait_for_source(&strict, ReadSource::Replica).await, "reads never moved to the replica");
    assert!(wait_for_source(&patient, ReadSource::Replica).await, "reads never moved to the replica");

    // Reads hit the replica: a name changed on the replica alone is what both instances show.
    exec(&replica_db, "UPDATE products SET name = 'Replica copy' WHERE id = 1").await;
    assert_eq!(strict_app.product(1).await["name"], "Replica copy");
    assert_eq!(patient_app.product(1).await["name"], "Replica copy");

    // The replica falls behind: its SQL thread stops, and the primary changes.
    let restart = SqlThreadRestart(replica.clone());
    exec(&replica, "STOP SLAVE SQL_THREAD").await;
    let stock_before = patient_app.stock(3).await;
    let replica_stock_of_2 = patient_app.stock(2).await;
    exec(&primary_db, "UPDATE products SET stock = 777 WHERE id = 2").await;
    let ack = patient_app.deliver(&Delivery::stock("msg_replica_read_your_writes", 3, -1)).await;
    ack.assert_ack("processed");

    // Read-your-writes: the instance that applied the webhook shows it at once, although it still reads the
    // stale replica for every other product.
    assert_eq!(patient_app.stock(3).await, stock_before.saturating_sub(1));
    assert_eq!(patient_app.stock(2).await, replica_stock_of_2, "the patient instance left the replica");
    // The strict instance moves to the primary, without an error on the way.
    let (moved, statuses) = until_product_shows(&strict_app, 2, "stock", 777.into()).await;
    assert!(moved, "reads never moved to the primary while the replica lagged");
    assert!(statuses.iter().all(|s| *s == 200), "statuses while moving: {statuses:?}");
    assert_eq!(strict.source(), ReadSource::Primary);
    // The metric says which serves (the gauge is the process's: the strict router moved last).
    assert!(serves(&strict_app, "primary").await, "{}", strict_app.metrics().await.text());

    // The replica catches up: reads come back to it.
    exec(&replica, "START SLAVE SQL_THREAD").await;
    drop(restart);
    let (back, statuses) = until_product_shows(&strict_app, 1, "name", "Replica copy".into()).await;
    assert!(back, "reads never came back to the replica after it caught up");
    assert!(statuses.iter().all(|s| *s == 200), "statuses while coming back: {statuses:?}");
    assert_eq!(strict_app.stock(2).await, 777, "the replica caught up");
    assert!(serves(&strict_app, "replica").await, "{}", strict_app.metrics().await.text());

    // The replica cannot be reached: the very next read is answered from the primary, and reads stay there.
    switch.cut().await;
    let at_once = strict_app.get("/products/1").await;
    assert_eq!(at_once.status, 200, "{}", at_once.describe());
    assert_ne!(at_once.json()["name"], "Replica copy", "read from the unreachable replica");
    assert!(wait_for_source(&strict, ReadSource::Primary).await, "the unreachable replica is still chosen");
    let listing = strict_app.list_products("limit=5").await;
    assert_eq!(listing.status, 200, "{}", listing.describe());
    // ... and come back when it answers again.
    switch.restore();
    let (back, statuses) = until_product_shows(&strict_app, 1, "name", "Replica copy".into()).await;
    assert!(back, "reads never came back to the replica after it answered again");
    assert!(statuses.iter().all(|s| *s == 200), "statuses while coming back: {statuses:?}");

    drop((strict_app, patient_app, strict, patient, switch));
    exec(&primary, &format!("DROP DATABASE IF EXISTS `{name}`")).await;
}
