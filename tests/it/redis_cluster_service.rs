//! The service as a process on a Redis Cluster (`FARMLOKAL_REDIS_CLUSTER_NODES`): it is ready, caches listings
//! and limits clients through the cluster; and it refuses to start when a Redis URL is set as well.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::servers::{self, RedisTopology};
use crate::harness::{Binary, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_on_a_redis_cluster_is_ready_caches_listings_and_limits_each_client_at_100() {
    let test = "the_service_on_a_redis_cluster_is_ready_caches_listings_and_limits_each_client_at_100";
    let Some((_, prefix)) = servers::fresh_redis(test, RedisTopology::Cluster).await else { return };
    let Some(seeds) = servers::redis_cluster_nodes() else { return };
    let app = TestApp::binary(Binary::in_memory(100).redis_cluster(&seeds, &prefix)).await;

    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, 200, "{}", ready.describe());
    assert_eq!(ready.json()["redis"], "up", "{}", ready.describe());

    let first = app.list_products("category=vegetables&limit=5").await;
    let second = app.list_products("category=vegetables&limit=5").await;
    assert_eq!((first.header("x-cache"), second.header("x-cache")), (Some("MISS"), Some("HIT")));

    // Two listings so far; 98 more are admitted, the next is refused by the log on the cluster.
    for n in 3..=100 {
        let reply = app.get("/categories").await;
        assert_eq!(reply.status, 200, "request {n}: {}", reply.describe());
    }
    let refused = app.get("/categories").await;
    assert_eq!(refused.status, 429, "{}", refused.describe());
    let scrape = app.metrics().await.text();
    assert!(scrape.lines().any(|l| l == r#"farmlokal_rate_limit_backend{backend="shared"} 1"#), "{scrape}");

    let output = app.terminate().await;
    assert!(output.status.success(), "SIGTERM should exit 0, got {:?}", output.status);
}

#[test]
fn a_redis_url_and_cluster_nodes_together_stop_the_service_at_start_naming_both() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_farmlokal"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("FARMLOKAL_")) {
        command.env_remove(name);
    }
    command
        .arg("serve")
        .env("FARMLOKAL_BIND", "127.0.0.1:0")
        .env("FARMLOKAL_REDIS_URL", "redis://127.0.0.1:6379/0")
        .env("FARMLOKAL_REDIS_CLUSTER_NODES", "redis://127.0.0.1:7000,redis://127.0.0.1:7001")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the binary runs");

    // A service that started would serve until stopped: give it ten seconds to exit, then stop it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("the child's status").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let exited = child.try_wait().expect("the child's status").is_some();
    if !exited {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("its output");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(exited && !output.status.success(), "the service must not start: {stderr}");
    assert!(stderr.contains("FARMLOKAL_REDIS_URL") && stderr.contains("FARMLOKAL_REDIS_CLUSTER_NODES"), "{stderr}");
}
