//! The pool of connections to one Redis server, on a server of the test's own: a checkout costs no round trip
//! of its own (no `PING`), concurrent callers share a few connections and their cache commands go several per
//! read, an error reply fails its own command only, a server that crashed and came back is used again within
//! seconds, and a connection whose command timed out is replaced.

use std::sync::Arc;
use std::time::{Duration, Instant};

use farmlokal::adapters::redis::{self as redis_adapters, RedisCache};
use farmlokal::ports::Cache;

use crate::harness::cluster::{node_cmd, PrivateRedis};

/// The number after `prefix` on a line of `INFO <section>` (up to a comma), 0 when no line starts with it (a
/// command that never ran has no `cmdstat_` line).
async fn info(port: u16, section: &str, prefix: &str) -> u64 {
    let info: String = node_cmd(port, redis::cmd("INFO").arg(section)).await.expect("INFO");
    info.lines()
        .find_map(|line| line.strip_prefix(prefix))
        .and_then(|rest| rest.trim().split(',').next())
        .map_or(0, |n| n.parse().unwrap_or_else(|_| panic!("{prefix} is not followed by a number: {n}")))
}

/// Calls of `command` the server counted.
async fn calls(port: u16, command: &str) -> u64 {
    info(port, "commandstats", &format!("cmdstat_{command}:calls=")).await
}

/// Connections ever opened to the server, the asking one included.
async fn connections_opened(port: u16) -> u64 {
    info(port, "stats", "total_connections_received:").await
}

/// 16 reads at once, so the pool holds several connections; how many of them failed.
async fn burst(cache: &Arc<RedisCache>) -> usize {
    let reads: Vec<_> = (0..16)
        .map(|i| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get(&format!("k{i}")).await.is_err() })
        })
        .collect();
    let mut failed = 0;
    for read in reads {
        failed += usize::from(read.await.expect("the read task"));
    }
    failed
}

async fn start(test: &str) -> Option<(PrivateRedis, Arc<RedisCache>)> {
    start_with_window(test, redis_adapters::batching::DEFAULT_WINDOW).await
}

async fn start_with_window(test: &str, window: Duration) -> Option<(PrivateRedis, Arc<RedisCache>)> {
    let server = PrivateRedis::start(test).await?;
    let pool = redis_adapters::pool(&format!("redis://127.0.0.1:{}", server.port())).await.expect("a Redis URL");
    Some((server, Arc::new(RedisCache::with_batch_window(pool, "nodefaults:", window))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_read_is_one_round_trip_with_no_ping_on_checkout() {
    let Some((server, cache)) = start("a_cache_read_is_one_round_trip_with_no_ping_on_checkout").await else {
        return;
    };
    let pings_before = calls(server.port(), "ping").await;
    cache.set("k", b"v", Duration::from_secs(60)).await.expect("set");
    for _ in 0..50 {
        assert_eq!(cache.get("k").await.expect("get").as_deref(), Some(&b"v"[..]));
    }
    for _ in 0..4 {
        assert_eq!(burst(&cache).await, 0, "no read fails on a healthy server");
    }

    assert_eq!(calls(server.port(), "get").await, 50 + 4 * 16);
    assert_eq!(calls(server.port(), "ping").await, pings_before, "a checkout sent PING");
}

/// Connections open now: the pool's and the one asking.
async fn connected_clients(port: u16) -> u64 {
    info(port, "clients", "connected_clients:").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_share_a_few_connections() {
    let Some((server, cache)) = start("concurrent_commands_share_a_few_connections").await else { return };
    cache.get("k").await.expect("a first read opens one connection");
    for _ in 0..8 {
        assert_eq!(burst(&cache).await, 0);
    }

    // 16 reads at a time held 16 connections while each read had one to itself (up to the pool's 16).
    let pooled = connected_clients(server.port()).await - 1;
    assert!((1..=4).contains(&pooled), "{pooled} connections for 16 concurrent reads");
}

/// Reads the server processed so far (one per read of a client's socket), the asking `INFO` included.
async fn reads_processed(port: u16) -> u64 {
    info(port, "stats", "total_reads_processed:").await
}

/// 200 callers started 50 µs apart (not at once: the connection pipelines commands issued at once by itself),
/// each writing its own key and reading it back: the reads Redis processed for their 400 commands.
async fn reads_for_commands_a_fraction_of_a_millisecond_apart(server: &PrivateRedis, cache: Arc<RedisCache>) -> u64 {
    cache.get("k").await.expect("a first read opens the connection");
    let reads_before = reads_processed(server.port()).await;
    let runtime = tokio::runtime::Handle::current();
    let starter = std::thread::spawn(move || {
        (0..200)
            .map(|i| {
                std::thread::sleep(Duration::from_micros(50));
                let cache = cache.clone();
                runtime.spawn(async move {
                    let (key, value) = (format!("k{i}"), format!("v{i}"));
                    cache.set(&key, value.as_bytes(), Duration::from_secs(60)).await.expect("set");
                    let read = cache.get(&key).await.expect("get");
                    assert_eq!(read.as_deref(), Some(value.as_bytes()), "caller {i} read another's reply");
                })
            })
            .collect::<Vec<_>>()
    });
    for caller in starter.join().expect("the starting thread") {
        caller.await.expect("a caller panicked");
    }
    assert_eq!(calls(server.port(), "set").await, 200);
    // The `INFO` that reads the count is one read more.
    reads_processed(server.port()).await - reads_before - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_commands_issued_a_fraction_of_a_millisecond_apart_reach_redis_several_per_read() {
    let test = "cache_commands_issued_a_fraction_of_a_millisecond_apart_reach_redis_several_per_read";
    let Some((server, cache)) = start(test).await else { return };
    let reads = reads_for_commands_a_fraction_of_a_millisecond_apart(&server, cache).await;
    assert!(reads <= 400 / 2, "{reads} reads for 400 commands issued 50 µs apart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_batch_window_of_zero_each_cache_command_goes_on_its_own() {
    let test = "with_a_batch_window_of_zero_each_cache_command_goes_on_its_own";
    let Some((server, cache)) = start_with_window(test, Duration::ZERO).await else { return };
    let reads = reads_for_commands_a_fraction_of_a_millisecond_apart(&server, cache).await;
    assert!(reads >= 400 * 3 / 4, "{reads} reads for 400 commands issued 50 µs apart: batched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_reply_fails_its_own_cache_command_and_not_the_others_sent_with_it() {
    let test = "an_error_reply_fails_its_own_cache_command_and_not_the_others_sent_with_it";
    let Some((server, cache)) = start(test).await else { return };
    // A list where the cache expects a string: `GET` answers WRONGTYPE.
    let _: u64 =
        node_cmd(server.port(), redis::cmd("RPUSH").arg("nodefaults:cache:list").arg("x")).await.expect("RPUSH");
    cache.set("good", b"v", Duration::from_secs(60)).await.expect("set");

    for _ in 0..20 {
        // Issued together right after a command went, they wait out its window and go in one batch, unless that
        // command's round trip outlasted the window; either way each gets its own reply.
        let (bad, good, set) =
            tokio::join!(cache.get("list"), cache.get("good"), cache.set("other", b"w", Duration::from_secs(60)));
        assert!(bad.is_err(), "a WRONGTYPE reply is an error");
        assert_eq!(good.expect("the read sent with it").as_deref(), Some(&b"v"[..]));
        set.expect("the write sent with it");
    }
    assert_eq!(cache.get("other").await.expect("get").as_deref(), Some(&b"w"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_server_is_used_again_within_seconds_of_coming_back() {
    let test = "a_crashed_server_is_used_again_within_seconds_of_coming_back";
    let Some((mut server, cache)) = start(test).await else { return };
    assert_eq!(burst(&cache).await, 0);

    server.kill();
    assert!(cache.get("k").await.is_err(), "the server is down");
    server.restart().await;

    // The health gate lets one probe through a second after a failure; each connection the crash broke fails
    // the one command that finds out and is not put back.
    let back = Instant::now();
    let mut answered_in_a_row = 0;
    while answered_in_a_row < 100 {
        assert!(back.elapsed() < Duration::from_secs(10), "Redis not used again 10 s after it came back");
        if burst(&cache).await == 0 {
            answered_in_a_row += 16;
        } else {
            answered_in_a_row = 0;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    cache.set("k", b"after", Duration::from_secs(60)).await.expect("set after the restart");
    assert_eq!(cache.get("k").await.expect("get").as_deref(), Some(&b"after"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_command_timed_out_is_not_used_again() {
    let test = "a_connection_whose_command_timed_out_is_not_used_again";
    let Some((server, cache)) = start(test).await else { return };
    cache.get("k").await.expect("a first read opens the pool's one connection");
    let opened = connections_opened(server.port()).await;

    server.signal("-STOP");
    assert!(cache.get("k").await.is_err(), "a stopped server answers nothing: the read times out");
    server.signal("-CONT");
    let back = Instant::now();
    while cache.get("k").await.is_err() {
        assert!(back.elapsed() < Duration::from_secs(10), "Redis not used again 10 s after it continued");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // One more for the `INFO` that counted `opened`; the rest the pool opened in place of the connection whose
    // read timed out (the server answers it again, but it may as well be half-open).
    let reopened = connections_opened(server.port()).await - opened - 1;
    assert!(reopened >= 1, "the timed-out connection was used again");
}
