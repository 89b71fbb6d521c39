//! The per-IP rate limit over real HTTP: a running service on port 0, a blocking ureq client, and Redis for the
//! fleet-wide budget and the outage. The rolling-window behaviour is checked at the use-case level with a 2 s
//! window, since the service's window is a minute.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use farmlokal::adapters::memory::rate_limiter::MemoryRateLimiter;
use farmlokal::adapters::redis::{self as redis_adapters, RedisRateLimiter};
use farmlokal::app::rate_limit::ClientRateLimit;
use farmlokal::ports::RateLimiter;
use poem::http::Method;

use crate::harness::servers::{self, CuttableRedis};
use crate::harness::{Reply, Run, TestApp, World};

/// A limited route that is cheap on an empty in-memory catalogue.
const LIMITED: &str = "/categories";

/// An empty in-memory world whose instances allow `per_minute` requests a minute per client and trust
/// `trusted` proxies.
fn world(per_minute: u32, trusted: &[&str]) -> World {
    let trusted = trusted.iter().map(|c| c.parse().expect("test CIDR")).collect();
    World::memory(0).configure(|settings| {
        settings.policy.rate_limit_per_minute = per_minute;
        settings.http.trusted_proxies = trusted;
    })
}

/// A service on a port limiting to `per_minute`, behind `trusted` proxies.
async fn start(per_minute: u32, trusted: &[&str]) -> TestApp {
    world(per_minute, trusted).app(Run::OnPort).await
}

/// A service on a port limiting to 100 a minute through `limiter`.
async fn start_with(limiter: Arc<dyn RateLimiter>) -> TestApp {
    TestApp::start(world(100, &[]).builder().rate_limiter(limiter), Run::OnPort).await
}

/// `n` GETs of `path` with the same headers, one after another.
async fn get_n(app: &TestApp, path: &str, headers: &[(&str, &str)], n: usize) -> Vec<Reply> {
    let mut replies = Vec::with_capacity(n);
    for _ in 0..n {
        replies.push(app.get_with(path, headers).await);
    }
    replies
}

fn admitted(replies: &[Reply]) -> usize {
    replies.iter().filter(|r| r.status == 200).count()
}

async fn redis_limiter(prefix: &str, url: &str) -> Arc<dyn RateLimiter> {
    let pool = redis_adapters::pool(url).await.expect("a valid Redis URL");
    Arc::new(RedisRateLimiter::new(pool, prefix))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gets_100_requests_a_minute_and_the_101st_is_refused_with_the_wait() {
    let service = start(100, &[]).await;
    let replies = get_n(&service, LIMITED, &[], 101).await;

    for (n, reply) in replies[..100].iter().enumerate() {
        assert_eq!(reply.status, 200, "request {}", n + 1);
        assert_eq!(reply.number("ratelimit-limit"), 100);
        assert_eq!(reply.number("ratelimit-remaining"), 99 - n as u64, "remaining counts this request");
        assert!((1..=60).contains(&reply.number("ratelimit-reset")), "{reply:?}");
        assert!(reply.header("retry-after").is_none());
        assert_eq!(reply.header("ratelimit-policy"), Some("\"per-ip\";q=100;w=60"), "the draft's policy field");
        let current = format!("\"per-ip\";r={};t={}", 99 - n, reply.number("ratelimit-reset"));
        assert_eq!(reply.header("ratelimit"), Some(current.as_str()), "the same numbers as the older headers");
    }
    assert_eq!(replies[0].number("ratelimit-reset"), 60, "the first request leaves in a minute, rounded up");
    let refused = &replies[100];
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("content-type"), Some("application/problem+json"));
    let problem = refused.json();
    assert_eq!((problem["code"].as_str(), problem["status"].as_u64()), (Some("rate_limited"), Some(429)));
    assert_eq!((refused.number("ratelimit-limit"), refused.number("ratelimit-remaining")), (100, 0));
    let current = format!("\"per-ip\";r=0;t={}", refused.number("ratelimit-reset"));
    assert_eq!(refused.header("ratelimit"), Some(current.as_str()));
    assert_eq!(refused.header("ratelimit-policy"), Some("\"per-ip\";q=100;w=60"));
    let retry_after = refused.number("retry-after");
    assert!((1..=60).contains(&retry_after), "whole seconds until the first request leaves: {retry_after}");
    assert!(retry_after >= 59, "the first request was a moment ago: {retry_after}");
    assert!(refused.header("x-request-id").is_some(), "the limit sits inside the request-id middleware");
}

#[tokio::test]
async fn a_zero_limit_disables_the_limit_and_its_headers() {
    let service = start(0, &[]).await;
    let replies = get_n(&service, LIMITED, &[], 120).await;
    assert_eq!(admitted(&replies), 120);
    assert!(replies.iter().all(|r| !r.has_rate_limit_headers()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exempt_routes_are_never_limited_and_carry_no_rate_limit_headers() {
    let service = start(1, &[]).await;
    let spent = get_n(&service, LIMITED, &[], 2).await;
    assert_eq!((spent[0].status.as_u16(), spent[1].status.as_u16()), (200, 429), "the budget of one is spent");

    let mut replies = Vec::new();
    for _ in 0..3 {
        for path in ["/health/live", "/health/ready", "/metrics", "/openapi.json", "/openapi.yaml", "/docs"] {
            replies.push(service.get(path).await);
        }
        let webhook = service.request(Method::POST, "/webhooks/partner-b").header("content-type", "application/json");
        replies.push(webhook.body("{}").send().await);
    }
    for reply in replies {
        assert_ne!(reply.status, 429, "{reply:?}");
        assert!(!reply.has_rate_limit_headers(), "{reply:?}");
    }
    let unknown = get_n(&service, "/no-such-route", &[], 1).await;
    assert_eq!(unknown[0].status, 429, "any other path is limited, known or not");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_client_cannot_change_its_key_with_forwarding_headers() {
    let service = start(100, &[]).await;
    let mut replies = Vec::new();
    for i in 0..101 {
        let (forwarded_for, real_ip, forwarded) =
            (format!("10.0.0.{i}, 10.9.0.{i}"), format!("10.1.0.{i}"), format!("for=10.2.0.{i}"));
        let headers = [("x-forwarded-for", &*forwarded_for), ("x-real-ip", &*real_ip), ("forwarded", &*forwarded)];
        replies.push(service.get_with(LIMITED, &headers).await);
    }
    let remaining: Vec<u64> = replies[..100].iter().map(|r| r.number("ratelimit-remaining")).collect();
    assert_eq!(remaining, (0..100).rev().collect::<Vec<_>>(), "every spoofed request spent the one budget");
    assert_eq!(replies[100].status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_chain_is_read_right_to_left() {
    let service = start(100, &["127.0.0.1/32"]).await;
    let chain = get_n(&service, LIMITED, &[("x-forwarded-for", "1.1.1.1, 2.2.2.2")], 100).await;
    assert_eq!(admitted(&chain), 100);

    let same_client = get_n(&service, LIMITED, &[("x-forwarded-for", "9.9.9.9, 2.2.2.2")], 1).await;
    assert_eq!(same_client[0].status, 429, "2.2.2.2 is the client; what it wrote left of itself is ignored");
    let real_ip = get_n(&service, LIMITED, &[("x-forwarded-for", "2.2.2.2"), ("x-real-ip", "4.4.4.4")], 1).await;
    assert_eq!(real_ip[0].status, 429, "X-Real-IP is ignored even from a trusted proxy");

    let other = get_n(&service, LIMITED, &[("x-forwarded-for", "2.2.2.2, 3.3.3.3")], 1).await;
    assert_eq!(
        (other[0].status.as_u16(), other[0].number("ratelimit-remaining")),
        (200, 99),
        "3.3.3.3 has its own budget"
    );
    let proxy_itself = get_n(&service, LIMITED, &[], 1).await;
    assert_eq!(proxy_itself[0].number("ratelimit-remaining"), 99, "without the header the proxy is the client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_redis_share_one_budget() {
    let Some(prefix) = servers::fresh_redis_prefix("two_instances_on_one_redis_share_one_budget").await else {
        return;
    };
    let url = servers::redis_url();
    let a = start_with(redis_limiter(&prefix, &url).await).await;
    let b = start_with(redis_limiter(&prefix, &url).await).await;

    let from_a = get_n(&a, LIMITED, &[], 60).await;
    let from_b = get_n(&b, LIMITED, &[], 60).await;
    assert_eq!(admitted(&from_a), 60);
    assert_eq!(from_b[0].number("ratelimit-remaining"), 39, "B sees what A admitted");
    assert_eq!(admitted(&from_a) + admitted(&from_b), 100, "exactly one budget across both instances");
    assert!(from_b[40..].iter().all(|r| r.status == 429));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_gone_under_load_limiting_continues_per_process_without_5xx() {
    let test = "with_redis_gone_under_load_limiting_continues_per_process_without_5xx";
    let Some(prefix) = servers::fresh_redis_prefix(test).await else { return };
    let redis = CuttableRedis::start().await;
    let service = start_with(redis_limiter(&prefix, &redis.url).await).await;
    let before = get_n(&service, LIMITED, &[], 50).await;
    assert_eq!(admitted(&before), 50, "admitted through Redis");
    assert!(!service.state().services.rate_limit.is_on_fallback());

    redis.cut().await;
    let started = Instant::now();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move { get_n(&service, LIMITED, &[], 20).await })
        })
        .collect();
    let mut during = Vec::new();
    for client in clients {
        during.extend(client.await.expect("client"));
    }
    let elapsed = started.elapsed();
    assert!(service.state().services.rate_limit.is_on_fallback(), "the per-process limiter decided");

    assert!(
        during.iter().all(|r| r.status == 200 || r.status == 429),
        "no 5xx: {:?}",
        during.iter().find(|r| r.status.is_server_error())
    );
    assert!(during.iter().all(|r| r.header("ratelimit-limit") == Some("100")), "still limited, with headers");
    assert_eq!(admitted(&during), 50, "the per-process limiter knew of the 50 admitted before the outage");
    assert!(elapsed < Duration::from_secs(5), "the outage does not stall requests: {elapsed:?}");
    let after = get_n(&service, LIMITED, &[], 1).await;
    assert_eq!(after[0].status, 429, "the 101st+ within the minute is still refused");
}

/// Seconds since the epoch as a float, to place requests around a boundary of a 2 s fixed window.
fn epoch_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Sleeps until `offset` seconds into the next 2 s epoch-aligned window, returning that window's start.
async fn sleep_until_offset(offset: f64) -> f64 {
    let now = epoch_secs();
    let mut start = (now / 2.0).floor() * 2.0;
    if now > start + offset {
        start += 2.0;
    }
    tokio::time::sleep(Duration::from_secs_f64(start + offset - now)).await;
    start
}

#[tokio::test]
async fn over_redis_no_rolling_window_admits_more_than_the_limit_where_a_fixed_window_would_admit_twice() {
    let test = "over_redis_no_rolling_window_admits_more_than_the_limit_where_a_fixed_window_would_admit_twice";
    let Some(prefix) = servers::fresh_redis_prefix(test).await else { return };
    let window = Duration::from_secs(2);
    let limit = ClientRateLimit::with_window(
        redis_limiter(&prefix, &servers::redis_url()).await,
        Arc::new(MemoryRateLimiter::new()),
        100,
        window,
    );
    let client = "192.0.2.1".parse().expect("address");

    // 100 requests late in one epoch-aligned 2 s window, then 100 early in the next.
    let first_window = sleep_until_offset(1.5).await;
    let mut late = 0;
    for _ in 0..100 {
        late += usize::from(limit.check(client).await.allowed);
    }
    assert!(epoch_secs() < first_window + 2.0, "the first burst ended before the boundary");
    sleep_until_offset(0.1).await;
    let mut early = 0;
    for _ in 0..100 {
        early += usize::from(limit.check(client).await.allowed);
    }
    assert_eq!(late, 100);
    assert_eq!(early, 0, "a fixed window would have admitted these 100 too: 200 within 0.6 s");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(limit.check(client).await.allowed, "admitted once the first burst left the rolling window");
}
