//! The per-client rate limit: N requests per rolling minute per client IP, on the fleet-wide limiter, with a
//! per-process fallback while that limiter is unavailable.
//!
//! Keys are `ip:<addr>` for IPv4 (IPv4-mapped IPv6 addresses count as IPv4) and `ip:<prefix>/64` for IPv6: one
//! subscriber usually holds a whole /64 and can rotate through its addresses at will, so a per-address key would
//! give each IPv6 client an unlimited budget.
//!
//! Every request admitted by the shared limiter is also recorded in the per-process log, so when Redis goes down
//! mid-minute the fallback already knows what this instance admitted and does not hand out a fresh budget; and
//! the per-process log must admit it too, so when Redis comes back having lost its log (restarted without
//! persistence) no instance admits more than the limit in a window: a fleet of N stays within N x the limit. The
//! switch to the fallback and back is logged once each; `farmlokal_rate_limit_backend{backend}` says which one
//! decides (1 for the active one), and `farmlokal_rate_limit_fallback_total` counts the decisions the fallback
//! made.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ipnet::Ipv6Net;

pub use crate::ports::RateDecision;
use crate::ports::{RateLimitError, RateLimiter};

/// The window of the contract: requests per minute.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The length of the IPv6 prefix that counts as one client.
pub const IPV6_CLIENT_PREFIX: u8 = 64;

/// The rate limit of one service: the shared limiter, the per-process fallback and the budget.
pub struct ClientRateLimit {
    shared: Arc<dyn RateLimiter>,
    local: Arc<dyn RateLimiter>,
    limit: u32,
    window: Duration,
    on_local: AtomicBool,
}

impl ClientRateLimit {
    /// `per_minute` requests per client in any rolling minute on `shared`, decided by `local` (a per-process
    /// limiter) while `shared` is unavailable; 0 disables the limit.
    pub fn new(shared: Arc<dyn RateLimiter>, local: Arc<dyn RateLimiter>, per_minute: u32) -> Self {
        Self::with_window(shared, local, per_minute, WINDOW)
    }

    /// `limit` requests per client in any rolling `window` (tests use short windows); a zero limit disables it.
    pub fn with_window(
        shared: Arc<dyn RateLimiter>,
        local: Arc<dyn RateLimiter>,
        limit: u32,
        window: Duration,
    ) -> Self {
        set_backend_gauge(false);
        Self { shared, local, limit, window, on_local: AtomicBool::new(false) }
    }

    /// Requests admitted per client in any rolling window.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The rolling window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whether requests are limited at all.
    pub fn is_enabled(&self) -> bool {
        self.limit > 0
    }

    /// Whether the per-process fallback is deciding, because the shared limiter was unavailable last time.
    pub fn is_on_fallback(&self) -> bool {
        self.on_local.load(Ordering::Relaxed)
    }

    /// Admits or refuses one request from `ip`. Never fails: while the shared limiter is unavailable, the
    /// per-process one decides. When disabled, every request is admitted (with a zero limit in the decision).
    pub async fn check(&self, ip: IpAddr) -> RateDecision {
        if !self.is_enabled() {
            return RateDecision {
                allowed: true,
                limit: 0,
                remaining: 0,
                reset_after: Duration::ZERO,
                retry_after: None,
            };
        }
        let key = client_key(ip);
        match self.shared.check(&key, self.limit, self.window).await {
            Ok(shared) => {
                if self.on_local.swap(false, Ordering::Relaxed) {
                    set_backend_gauge(false);
                    tracing::info!("rate limit back on the shared limiter");
                }
                if !shared.allowed {
                    return shared;
                }
                // Recorded in this instance's log too, so the fallback starts from what this instance admitted.
                // Its answer counts as well: the shared log can lose entries (a Redis restarted without
                // persistence, a failover), and this instance's own log is what keeps it at `limit` per window
                // across such a loss, so a fleet of N admits at most N x limit per client whatever Redis does.
                match self.local.check(&key, self.limit, self.window).await {
                    Ok(local) if !local.allowed => local,
                    Ok(local) => RateDecision { remaining: shared.remaining.min(local.remaining), ..shared },
                    Err(_) => shared,
                }
            }
            Err(RateLimitError::Unavailable(cause)) => {
                if !self.on_local.swap(true, Ordering::Relaxed) {
                    set_backend_gauge(true);
                    tracing::warn!(
                        error = format!("{cause:#}"),
                        "shared rate limiter unavailable: limiting per process until it answers again"
                    );
                }
                metrics::counter!("farmlokal_rate_limit_fallback_total").increment(1);
                self.local_check(&key).await
            }
        }
    }

    async fn local_check(&self, key: &str) -> RateDecision {
        match self.local.check(key, self.limit, self.window).await {
            Ok(decision) => decision,
            Err(RateLimitError::Unavailable(cause)) => {
                // Should the per-process limiter fail too, admit the request rather than fail it: the limit
                // protects the service, it must not take it down.
                tracing::error!(error = format!("{cause:#}"), "per-process rate limiter failed; admitting");
                RateDecision::from_log(true, self.limit, 0, self.window, None)
            }
        }
    }
}

/// The limiter key of a client: `ip:<IPv4>` or `ip:<IPv6 /64 network>`.
pub fn client_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match Ipv6Net::new(v6, IPV6_CLIENT_PREFIX) {
            Ok(net) => format!("ip:{}", net.trunc()),
            // Unreachable with a constant prefix of 64; the full address is still a valid, stricter key.
            Err(_) => format!("ip:{v6}"),
        },
    }
}

fn set_backend_gauge(local: bool) {
    metrics::gauge!("farmlokal_rate_limit_backend", "backend" => "local").set(if local { 1.0 } else { 0.0 });
    metrics::gauge!("farmlokal_rate_limit_backend", "backend" => "shared").set(if local { 0.0 } else { 1.0 });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::rate_limiter::MemoryRateLimiter;

    fn per_process() -> Arc<dyn RateLimiter> {
        Arc::new(MemoryRateLimiter::new())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn ipv4_keys_on_the_address_and_mapped_ipv6_counts_as_ipv4() {
        assert_eq!(client_key(ip("203.0.113.7")), "ip:203.0.113.7");
        assert_eq!(client_key(ip("::ffff:203.0.113.7")), "ip:203.0.113.7");
    }

    #[test]
    fn ipv6_keys_on_the_64_bit_prefix_in_canonical_form() {
        let a = client_key(ip("2001:DB8:0:1:aaaa::1"));
        assert_eq!(a, "ip:2001:db8:0:1::/64");
        assert_eq!(client_key(ip("2001:db8:0:1:ffff:ffff:ffff:ffff")), a, "the same /64 shares a budget");
        assert_ne!(client_key(ip("2001:db8:0:2::1")), a, "the next /64 does not");
    }

    #[tokio::test]
    async fn a_zero_limit_admits_everything() {
        let limit = ClientRateLimit::new(per_process(), per_process(), 0);
        assert!(!limit.is_enabled());
        for _ in 0..10 {
            assert!(limit.check(ip("192.0.2.1")).await.allowed);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_rolling_window_admits_more_than_the_limit_across_a_window_boundary() {
        let window = Duration::from_secs(2);
        let limit = ClientRateLimit::with_window(per_process(), per_process(), 100, window);
        let start = tokio::time::Instant::now();
        let mut admitted_at = Vec::new();
        // 100 requests late in one fixed window [0, 2 s), 100 early in the next [2 s, 4 s), then 100 more later.
        for at in [Duration::from_millis(1500), Duration::from_millis(2100), Duration::from_millis(3600)] {
            tokio::time::advance((start + at).saturating_duration_since(tokio::time::Instant::now())).await;
            for _ in 0..100 {
                if limit.check(ip("192.0.2.1")).await.allowed {
                    admitted_at.push(at);
                }
            }
        }
        let fixed_window_would_admit = 200; // 100 in [0, 2 s) plus 100 in [2 s, 4 s), 0.6 s apart
        let in_first_burst_span = admitted_at.iter().filter(|&&t| t < Duration::from_millis(3500)).count();
        assert_eq!(in_first_burst_span, 100, "a fixed window would admit {fixed_window_would_admit}");
        assert_eq!(admitted_at.len(), 200, "the budget comes back once the first burst leaves the window");
        for &from in &admitted_at {
            let span = admitted_at.iter().filter(|&&t| t >= from && t < from + window).count();
            assert!(span <= 100, "{span} admitted in the window starting at {from:?}");
        }
    }

    #[tokio::test]
    async fn an_unavailable_shared_limiter_falls_back_and_comes_back() {
        let shared = Arc::new(MemoryRateLimiter::new());
        let limit = ClientRateLimit::new(shared.clone(), per_process(), 3);
        let client = ip("192.0.2.1");
        assert!(limit.check(client).await.allowed);
        shared.faults().set_down(true);
        let first_local = limit.check(client).await;
        assert!(limit.is_on_fallback());
        assert_eq!((first_local.allowed, first_local.remaining), (true, 1), "the fallback knew of the first request");
        assert!(limit.check(client).await.allowed);
        assert!(!limit.check(client).await.allowed, "the fallback still limits");
        shared.faults().set_down(false);
        let back = limit.check(client).await;
        assert!(!limit.is_on_fallback(), "the shared limiter decides again");
        assert!(!back.allowed, "this instance already admitted 3 in the window, whatever the shared log holds");
    }

    /// A shared limiter whose log can be lost, as a Redis restarted without persistence loses it.
    #[derive(Default)]
    struct Forgetful(std::sync::Mutex<Arc<MemoryRateLimiter>>);

    impl Forgetful {
        fn inner(&self) -> Arc<MemoryRateLimiter> {
            self.0.lock().map(|inner| inner.clone()).unwrap_or_else(|e| e.into_inner().clone())
        }
        fn lose_everything(&self) {
            *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(MemoryRateLimiter::new());
        }
    }

    #[async_trait::async_trait]
    impl RateLimiter for Forgetful {
        async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision, RateLimitError> {
            self.inner().check(key, limit, window).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn two_instances_admit_at_most_twice_the_limit_when_redis_comes_back_empty_after_a_fallback() {
        let shared = Arc::new(Forgetful::default());
        let instances = [
            ClientRateLimit::new(shared.clone(), per_process(), 10),
            ClientRateLimit::new(shared.clone(), per_process(), 10),
        ];
        let client = ip("192.0.2.1");
        let mut admitted = 0;
        // A client at twice the limit, round robin over both instances, within one minute: first on Redis...
        for n in 0..20 {
            admitted += usize::from(instances[n % 2].check(client).await.allowed);
        }
        assert_eq!(admitted, 10, "the shared limit");
        // ...then Redis is killed: each instance limits on its own log...
        shared.inner().faults().set_down(true);
        for n in 0..20 {
            admitted += usize::from(instances[n % 2].check(client).await.allowed);
        }
        assert_eq!(admitted, 20, "the fallback: each instance up to the limit, with what it admitted before");
        // ...and Redis comes back with an empty log, still within the same minute.
        shared.lose_everything();
        tokio::time::advance(Duration::from_secs(10)).await;
        for n in 0..20 {
            admitted += usize::from(instances[n % 2].check(client).await.allowed);
        }
        assert_eq!(admitted, 20, "no instance admits past the limit in its own window: at most 2 x 10 in all");
        // Once the minute has passed, the shared limit alone decides again.
        tokio::time::advance(WINDOW).await;
        let mut next_minute = 0;
        for n in 0..20 {
            next_minute += usize::from(instances[n % 2].check(client).await.allowed);
        }
        assert_eq!(next_minute, 10);
    }
}
