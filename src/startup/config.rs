//! Configuration: `farmlokal serve` flags, each also read from its `FARMLOKAL_*` environment variable, parsed
//! and validated before anything binds. Nothing set gives the embedded default: in-memory catalogue, cache and
//! ledger, and the built-in partner sandbox.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;
use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

use crate::domain::retry::RetryPolicy;
use crate::domain::webhook::{InvalidSecret, WebhookSecret};

fn secret(raw: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(raw.to_owned()))
}

fn webhook_secret(raw: &str) -> Result<WebhookSecret, InvalidSecret> {
    WebhookSecret::parse(raw)
}

/// A duration flag that is not a whole number of its unit.
#[derive(Debug, thiserror::Error)]
#[error("{unit}: {source}")]
pub struct InvalidDuration {
    unit: &'static str,
    source: std::num::ParseIntError,
}

fn millis(raw: &str) -> Result<Duration, InvalidDuration> {
    raw.parse::<u64>().map(Duration::from_millis).map_err(|source| InvalidDuration { unit: "milliseconds", source })
}

fn batch_window(raw: &str) -> Result<Duration, String> {
    let longest = crate::adapters::redis::batching::LONGEST_WINDOW;
    match millis(raw) {
        Ok(window) if window <= longest => Ok(window),
        _ => Err(format!("{raw:?} is not a number of milliseconds from 0 to {}", longest.as_millis())),
    }
}

fn seconds(raw: &str) -> Result<Duration, InvalidDuration> {
    raw.parse::<u64>().map(Duration::from_secs).map_err(|source| InvalidDuration { unit: "seconds", source })
}

/// A pool size flag that is not a whole number from 1 to 1,024.
#[derive(Debug, thiserror::Error)]
#[error("{raw:?} is not a number of connections from 1 to 1024")]
pub struct InvalidConnections {
    raw: String,
}

fn connections(raw: &str) -> Result<usize, InvalidConnections> {
    match raw.parse::<usize>() {
        Ok(count @ 1..=1024) => Ok(count),
        _ => Err(InvalidConnections { raw: raw.to_owned() }),
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Everything `farmlokal serve` reads.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Listen address.
    #[arg(long, env = "FARMLOKAL_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// MySQL URL of the catalogue; unset keeps the catalogue in memory.
    #[arg(long, env = "FARMLOKAL_MYSQL_URL", value_parser = secret, hide_env_values = true)]
    pub mysql_url: Option<SecretString>,

    /// MySQL URL of a read replica for catalogue reads; defaults to the main URL.
    #[arg(long, env = "FARMLOKAL_MYSQL_READ_URL", value_parser = secret, hide_env_values = true)]
    pub mysql_read_url: Option<SecretString>,

    /// A read replica further behind the primary than this, in seconds, is not read until it catches up.
    #[arg(long = "mysql-max-replica-lag-secs", env = "FARMLOKAL_MYSQL_MAX_REPLICA_LAG_SECS", default_value = "5", value_parser = seconds)]
    pub mysql_max_replica_lag: Duration,

    /// Most connections each catalogue read pool opens (to the primary, and to the replica when there is one).
    #[arg(long, env = "FARMLOKAL_MYSQL_READ_CONNECTIONS", default_value_t = crate::adapters::mysql::READ_CONNECTIONS, value_parser = connections)]
    pub mysql_read_connections: usize,

    /// Redis URL for the cache, tokens, rate limit and webhook ledger; unset keeps them in memory.
    #[arg(long, env = "FARMLOKAL_REDIS_URL", value_parser = secret, hide_env_values = true)]
    pub redis_url: Option<SecretString>,

    /// Seed nodes of a Redis Cluster (`redis://host:port`, comma-separated), instead of `FARMLOKAL_REDIS_URL`.
    #[arg(long, env = "FARMLOKAL_REDIS_CLUSTER_NODES", value_delimiter = ',', value_parser = secret, hide_env_values = true)]
    pub redis_cluster_nodes: Vec<SecretString>,

    /// Prefix of every Redis key.
    #[arg(long, env = "FARMLOKAL_REDIS_PREFIX", default_value = "farmlokal:")]
    pub redis_prefix: String,

    /// After a batch of cache commands left for Redis, how long the next gathers the commands issued meanwhile
    /// (0 to 10; 0: every command goes on its own). A single server only.
    #[arg(long = "redis-batch-window-ms", env = "FARMLOKAL_REDIS_BATCH_WINDOW_MS", default_value = "1", value_parser = batch_window)]
    pub redis_batch_window: Duration,

    /// OAuth2 token endpoint of partner A; unset starts the built-in sandbox.
    #[arg(long, env = "FARMLOKAL_OAUTH_TOKEN_URL")]
    pub oauth_token_url: Option<Url>,

    /// OAuth2 client id (HTTP Basic user).
    #[arg(long, env = "FARMLOKAL_OAUTH_CLIENT_ID")]
    pub oauth_client_id: Option<String>,

    /// OAuth2 client secret (HTTP Basic password).
    #[arg(long, env = "FARMLOKAL_OAUTH_CLIENT_SECRET", value_parser = secret, hide_env_values = true)]
    pub oauth_client_secret: Option<SecretString>,

    /// OAuth2 scope to request.
    #[arg(long, env = "FARMLOKAL_OAUTH_SCOPE")]
    pub oauth_scope: Option<String>,

    /// Partner A base URL; unset starts the built-in sandbox.
    #[arg(long, env = "FARMLOKAL_PARTNER_A_URL")]
    pub partner_a_url: Option<Url>,

    /// Timeout of one partner A attempt, in milliseconds.
    #[arg(long, env = "FARMLOKAL_PARTNER_A_TIMEOUT_MS", default_value = "800", value_parser = millis)]
    pub partner_a_timeout: Duration,

    /// Deadline of all partner A attempts together, in milliseconds.
    #[arg(long, env = "FARMLOKAL_PARTNER_A_DEADLINE_MS", default_value = "3000", value_parser = millis)]
    pub partner_a_deadline: Duration,

    /// Comma-separated `whsec_...` secrets partner B signs with; unset uses a development secret printed at start.
    #[arg(long, env = "FARMLOKAL_WEBHOOK_SECRETS", value_delimiter = ',', value_parser = webhook_secret, hide_env_values = true)]
    pub webhook_secrets: Vec<WebhookSecret>,

    /// Secret that signs page cursors; share it across instances. Unset: random per process, with a warning.
    #[arg(long, env = "FARMLOKAL_CURSOR_SECRET", value_parser = secret, hide_env_values = true)]
    pub cursor_secret: Option<SecretString>,

    /// Requests per minute per client IP; 0 disables the limit.
    #[arg(long, env = "FARMLOKAL_RATE_LIMIT_PER_MINUTE", default_value = "100")]
    pub rate_limit_per_minute: u32,

    /// Comma-separated CIDRs of proxies whose `X-Forwarded-For` is trusted.
    #[arg(long, env = "FARMLOKAL_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,

    /// How long a listing page stays fresh in the cache, in seconds.
    #[arg(long = "cache-ttl-secs", env = "FARMLOKAL_CACHE_TTL_SECS", default_value = "60", value_parser = seconds)]
    pub cache_ttl: Duration,

    /// Size of the generated in-memory catalogue.
    #[arg(long, env = "FARMLOKAL_SAMPLE_PRODUCTS", default_value = "10000")]
    pub sample_products: u64,

    /// Longest time one request may take before it is answered 504, in milliseconds.
    #[arg(long, env = "FARMLOKAL_REQUEST_TIMEOUT_MS", default_value = "10000", value_parser = millis)]
    pub request_timeout: Duration,

    /// On SIGTERM, how long to keep serving with readiness 503 before closing, in seconds (SIGINT skips it).
    #[arg(long = "shutdown-drain-secs", env = "FARMLOKAL_SHUTDOWN_DRAIN_SECS", default_value = "5", value_parser = seconds)]
    pub shutdown_drain: Duration,

    /// Longest time a client may take to send one request's headers, in milliseconds.
    #[arg(long, env = "FARMLOKAL_HEADER_READ_TIMEOUT_MS", default_value = "10000", value_parser = millis)]
    pub header_read_timeout: Duration,

    /// How long a kept-alive connection may stay silent between requests before it is closed, in milliseconds.
    #[arg(long, env = "FARMLOKAL_IDLE_TIMEOUT_MS", default_value = "30000", value_parser = millis)]
    pub idle_timeout: Duration,

    /// Connections held open at most from one client address (an IPv6 /64; trusted proxies excepted); 0: no limit.
    #[arg(long, env = "FARMLOKAL_MAX_CONNECTIONS_PER_CLIENT", default_value = "128")]
    pub max_connections_per_client: usize,

    /// Connections held open at most in all; 0: no limit. Keep it below the process's open-file limit.
    #[arg(long, env = "FARMLOKAL_MAX_CONNECTIONS", default_value = "8192")]
    pub max_connections: usize,

    /// Comma-separated origins allowed by CORS (`*` for any); empty sends no CORS headers.
    #[arg(long, env = "FARMLOKAL_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Log format: `text` or `json`.
    #[arg(long, env = "FARMLOKAL_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl Config {
    /// The retry policy of partner A calls.
    pub fn partner_retry(&self) -> RetryPolicy {
        RetryPolicy::new(self.partner_a_timeout, self.partner_a_deadline)
    }

    /// Checks rules that span several settings.
    ///
    /// # Errors
    /// A message naming the setting that is wrong.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.partner_a_timeout.is_zero(), "FARMLOKAL_PARTNER_A_TIMEOUT_MS must be positive");
        // A deadline shorter than one attempt's timeout is allowed (DESIGN §4): it cuts that attempt short.
        anyhow::ensure!(!self.partner_a_deadline.is_zero(), "FARMLOKAL_PARTNER_A_DEADLINE_MS must be positive");
        anyhow::ensure!(!self.cache_ttl.is_zero(), "FARMLOKAL_CACHE_TTL_SECS must be positive");
        anyhow::ensure!(!self.mysql_max_replica_lag.is_zero(), "FARMLOKAL_MYSQL_MAX_REPLICA_LAG_SECS must be positive");
        anyhow::ensure!(
            self.mysql_read_url.is_none() || self.mysql_url.is_some(),
            "FARMLOKAL_MYSQL_READ_URL needs FARMLOKAL_MYSQL_URL (the primary) as well"
        );
        anyhow::ensure!(!self.redis_prefix.is_empty(), "FARMLOKAL_REDIS_PREFIX must not be empty");
        anyhow::ensure!(
            self.redis_url.is_none() || self.redis_cluster_nodes.is_empty(),
            "FARMLOKAL_REDIS_URL and FARMLOKAL_REDIS_CLUSTER_NODES are both set: set FARMLOKAL_REDIS_URL for one \
             Redis server or FARMLOKAL_REDIS_CLUSTER_NODES for a Redis Cluster, not both"
        );
        for node in &self.redis_cluster_nodes {
            let node = node.expose_secret();
            let parsed = Url::parse(node.trim()).ok().filter(|u| u.scheme() == "redis" && u.host_str().is_some());
            anyhow::ensure!(
                parsed.is_some(),
                "FARMLOKAL_REDIS_CLUSTER_NODES: {} is not a redis://host:port URL",
                redact_url(node)
            );
        }
        anyhow::ensure!(
            self.oauth_token_url.is_some() == self.partner_a_url.is_some(),
            "set FARMLOKAL_OAUTH_TOKEN_URL and FARMLOKAL_PARTNER_A_URL together (or neither, for the sandbox)"
        );
        if self.oauth_token_url.is_some() {
            anyhow::ensure!(
                self.oauth_client_id.is_some() && self.oauth_client_secret.is_some(),
                "FARMLOKAL_OAUTH_CLIENT_ID and FARMLOKAL_OAUTH_CLIENT_SECRET are required with a real token URL"
            );
        }
        Ok(())
    }
}

/// A URL with its password replaced, for logs.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        Err(_) => "<unparsable url>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        config: Config,
    }

    fn config(args: &[&str]) -> Config {
        let argv = std::iter::once("farmlokal").chain(args.iter().copied());
        Serve::try_parse_from(argv).expect("flags parse").config
    }

    #[test]
    fn a_deadline_shorter_than_one_attempt_is_valid() {
        let short = config(&["--partner-a-timeout", "800", "--partner-a-deadline", "600"]);

        assert!(short.validate().is_ok(), "{:?}", short.validate());
        assert_eq!(short.partner_retry().deadline, Duration::from_millis(600));
    }

    #[test]
    fn connection_bounds_default_to_10_s_of_headers_and_30_s_idle_and_are_settable() {
        let defaults = config(&[]);
        let short = config(&["--idle-timeout", "250"]);

        assert_eq!(defaults.header_read_timeout, Duration::from_secs(10));
        assert_eq!(defaults.idle_timeout, Duration::from_secs(30));
        assert_eq!(short.idle_timeout, Duration::from_millis(250));
    }

    #[test]
    fn a_redis_url_and_cluster_nodes_together_are_refused_naming_both() {
        let both =
            config(&["--redis-url", "redis://127.0.0.1:6379/0", "--redis-cluster-nodes", "redis://127.0.0.1:7000"]);

        let error = both.validate().expect_err("both set is a configuration error").to_string();
        assert!(error.contains("FARMLOKAL_REDIS_URL") && error.contains("FARMLOKAL_REDIS_CLUSTER_NODES"), "{error}");
    }

    #[test]
    fn cluster_seed_nodes_are_a_comma_separated_list_of_redis_urls() {
        let cluster = config(&["--redis-cluster-nodes", "redis://127.0.0.1:7000,redis://127.0.0.1:7001"]);
        let nodes: Vec<_> = cluster.redis_cluster_nodes.iter().map(|n| n.expose_secret().to_owned()).collect();

        assert!(cluster.validate().is_ok(), "{:?}", cluster.validate());
        assert_eq!(nodes, ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]);
        assert!(config(&[]).redis_cluster_nodes.is_empty(), "unset: no cluster");
    }

    #[test]
    fn a_cluster_seed_that_is_not_a_redis_url_is_refused_without_its_password() {
        let bad = config(&["--redis-cluster-nodes", "redis://127.0.0.1:7000,http://:hunter2@h:7001"]);

        let error = bad.validate().expect_err("an http URL is no seed").to_string();
        assert!(error.contains("FARMLOKAL_REDIS_CLUSTER_NODES"), "{error}");
        assert!(!error.contains("hunter2"), "the password stays out of the message: {error}");
        assert!(config(&["--redis-cluster-nodes", "127.0.0.1:7000"]).validate().is_err(), "a URL, not host:port");
    }

    #[test]
    fn connection_limits_default_to_128_per_client_and_8192_in_all_and_are_settable() {
        let defaults = config(&[]);
        let set = config(&["--max-connections-per-client", "4", "--max-connections", "0"]);

        assert_eq!((defaults.max_connections_per_client, defaults.max_connections), (128, 8192));
        assert_eq!((set.max_connections_per_client, set.max_connections), (4, 0));
    }

    #[test]
    fn the_drain_defaults_to_5_s_and_the_replica_lag_bound_to_5_s() {
        let defaults = config(&[]);
        let set = config(&["--shutdown-drain-secs", "0", "--mysql-max-replica-lag-secs", "2"]);

        assert_eq!(
            (defaults.shutdown_drain, defaults.mysql_max_replica_lag),
            (Duration::from_secs(5), Duration::from_secs(5))
        );
        assert_eq!((set.shutdown_drain, set.mysql_max_replica_lag), (Duration::ZERO, Duration::from_secs(2)));
        assert!(config(&["--mysql-max-replica-lag-secs", "0"]).validate().is_err());
        assert!(config(&["--mysql-read-url", "mysql://root@127.0.0.1/x"]).validate().is_err());
    }

    #[test]
    fn the_read_pool_defaults_to_32_connections_and_takes_1_to_1024() {
        let parse = |value: &str| Serve::try_parse_from(["farmlokal", &format!("--mysql-read-connections={value}")]);

        assert_eq!(config(&[]).mysql_read_connections, 32);
        assert_eq!(config(&["--mysql-read-connections", "8"]).mysql_read_connections, 8);
        assert_eq!(config(&["--mysql-read-connections", "1024"]).mysql_read_connections, 1024);
        for refused in ["0", "1025", "-1", "eight", ""] {
            let error = parse(refused).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(error.contains("not a number of connections from 1 to 1024"), "{refused:?}: {error}");
        }
    }

    #[test]
    fn the_redis_batch_window_defaults_to_1_ms_and_takes_0_to_10() {
        let parse = |value: &str| Serve::try_parse_from(["farmlokal", &format!("--redis-batch-window-ms={value}")]);

        assert_eq!(config(&[]).redis_batch_window, Duration::from_millis(1));
        assert_eq!(config(&["--redis-batch-window-ms", "0"]).redis_batch_window, Duration::ZERO);
        assert_eq!(config(&["--redis-batch-window-ms", "10"]).redis_batch_window, Duration::from_millis(10));
        for refused in ["11", "-1", "one", ""] {
            let error = parse(refused).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(error.contains("not a number of milliseconds from 0 to 10"), "{refused:?}: {error}");
        }
    }

    #[test]
    fn a_zero_attempt_timeout_or_deadline_is_refused() {
        assert!(config(&["--partner-a-timeout", "0"]).validate().is_err());
        assert!(config(&["--partner-a-deadline", "0"]).validate().is_err());
    }
}
