//! Turns configuration into adapters: MySQL or memory for the catalogue, one Redis server, a Redis Cluster or
//! memory for the shared state, real partner URLs or the built-in sandbox.
//! The clock stays the builder's default, the wall clock.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use secrecy::ExposeSecret;

use super::builder::{AppBuilder, Settings, DEV_WEBHOOK_SECRET};
use super::config::{redact_url, Config};
use super::telemetry;
use crate::adapters::http::partner_a::HttpPartnerA;
use crate::adapters::http::partner_agent;
use crate::adapters::http::token_provider::{ClientCredentials, HttpTokenProvider};
use crate::adapters::memory::product_repository::MemoryProductRepository;
use crate::adapters::mysql::migrations::migrate;
use crate::adapters::mysql::replica::ReplicaRouter;
use crate::adapters::mysql::repository::MysqlProductRepository;
use crate::adapters::redis::cache::RedisCache;
use crate::adapters::redis::event_ledger::RedisEventLedger;
use crate::adapters::redis::rate_limiter::RedisRateLimiter;
use crate::adapters::redis::token_store::RedisTokenStore;
use crate::adapters::sandbox::{self, SandboxConfig, SandboxHandle};
use crate::adapters::PoolUsage;
use crate::app::health::{Backend, Backends};
use crate::domain::webhook::WebhookSecret;

/// Adapters chosen from configuration, plus what must live as long as the service (the sandbox).
pub struct Wired {
    pub builder: AppBuilder,
    pub sandbox: Option<SandboxHandle>,
}

/// Builds every adapter the configuration asks for. Never fails because MySQL or Redis is down: the service
/// starts, serves what it can and reports the rest through readiness.
///
/// # Errors
/// Invalid configuration, or a sandbox that cannot bind.
pub async fn from_config(config: &Config) -> anyhow::Result<Wired> {
    config.validate()?;
    // Before any adapter exists: adapters export gauges (`farmlokal_redis_up`) as they are built.
    let _ = telemetry::metrics();
    let cursor_secret = match &config.cursor_secret {
        Some(secret) => secret.expose_secret().as_bytes().to_vec(),
        None => {
            tracing::warn!("FARMLOKAL_CURSOR_SECRET is not set: cursors are signed with a random per-process key and will not work across instances or restarts");
            rand::random::<[u8; 32]>().to_vec()
        }
    };
    let webhook_secrets = if config.webhook_secrets.is_empty() {
        tracing::warn!(
            secret = DEV_WEBHOOK_SECRET,
            "FARMLOKAL_WEBHOOK_SECRETS is not set: using the development webhook secret"
        );
        vec![WebhookSecret::parse(DEV_WEBHOOK_SECRET).context("development webhook secret")?]
    } else {
        config.webhook_secrets.clone()
    };
    let settings = Settings::from_config(config, cursor_secret, webhook_secrets);
    let mut builder = AppBuilder::in_memory(settings);
    let mut backends = Backends::default();

    match &config.mysql_url {
        Some(url) => {
            let url = url.expose_secret();
            backends.catalogue = Backend::Server;
            if let Err(error) = migrate(url).await {
                tracing::error!(error = format!("{error:#}"), "migrations did not run; MySQL is down or refused them");
            }
            let read_url = config.mysql_read_url.as_ref().map(|u| u.expose_secret()).filter(|read| *read != url);
            match read_url {
                Some(read_url) => {
                    let max_lag = config.mysql_max_replica_lag;
                    let router = ReplicaRouter::new(url, read_url, max_lag, config.mysql_read_connections)
                        .context("MySQL configuration")?;
                    let sampled = router.clone();
                    sample_pool_usage(move || sampled.pool_usage());
                    builder = builder.products(Arc::new(router));
                    tracing::info!(write = %redact_url(url), read = %redact_url(read_url), max_lag_secs = max_lag.as_secs(), "catalogue on MySQL, reads on the replica while it is within the lag bound");
                }
                None => {
                    let repository = Arc::new(
                        MysqlProductRepository::with_read_connections(url, None, config.mysql_read_connections)
                            .context("MySQL configuration")?,
                    );
                    let sampled = repository.clone();
                    sample_pool_usage(move || sampled.pool_usage().to_vec());
                    builder = builder.products(repository);
                    tracing::info!(url = %redact_url(url), "catalogue on MySQL");
                }
            }
        }
        None => {
            let count = config.sample_products;
            let repository = tokio::task::spawn_blocking(move || MemoryProductRepository::sample(count))
                .await
                .context("building the sample catalogue")?;
            tracing::info!(products = count, "catalogue in memory (generated sample)");
            builder = builder.products(Arc::new(repository));
        }
    }

    let redis = match (&config.redis_url, config.redis_cluster_nodes.as_slice()) {
        (Some(url), _) => {
            let url = url.expose_secret();
            let pool = crate::adapters::redis::pool(url).await.context("Redis configuration")?;
            let sampled = pool.clone();
            sample_pool_usage(move || sampled.usage().map(|usage| ("redis", usage)).into_iter().collect());
            Some((pool, redact_url(url)))
        }
        (None, []) => None,
        (None, seeds) => {
            let seeds: Vec<String> = seeds.iter().map(|s| s.expose_secret().trim().to_owned()).collect();
            let pool = crate::adapters::redis::cluster(&seeds).context("Redis Cluster configuration")?;
            let shown = seeds.iter().map(|s| redact_url(s)).collect::<Vec<_>>().join(",");
            Some((pool, format!("cluster {shown}")))
        }
    };
    match redis {
        Some((pool, shown)) => {
            backends.shared_state = Backend::Server;
            let prefix = config.redis_prefix.as_str();
            builder = builder
                .cache(Arc::new(RedisCache::with_batch_window(pool.clone(), prefix, config.redis_batch_window)))
                .token_store(Arc::new(RedisTokenStore::new(pool.clone(), prefix)))
                .rate_limiter(Arc::new(RedisRateLimiter::new(pool.clone(), prefix)))
                .event_ledger(Arc::new(RedisEventLedger::new(pool, prefix)));
            tracing::info!(redis = %shown, prefix, "cache, tokens, rate limit and webhook ledger on Redis");
        }
        None => tracing::info!("cache, tokens, rate limit and webhook ledger in memory (single instance only)"),
    }

    // No call needs longer than the deadline: the use case stops waiting then, so the blocking call stops too.
    let agent = partner_agent(config.partner_a_timeout.min(config.partner_a_deadline));
    let (token_url, partner_url, credentials, sandbox) = match (&config.oauth_token_url, &config.partner_a_url) {
        (Some(token_url), Some(partner_url)) => {
            let credentials = ClientCredentials {
                client_id: config.oauth_client_id.clone().unwrap_or_default(),
                client_secret: config.oauth_client_secret.clone().unwrap_or_else(|| String::new().into()),
                scope: config.oauth_scope.clone(),
            };
            (token_url.clone(), partner_url.clone(), credentials, None)
        }
        _ => {
            let sandbox_config = SandboxConfig::default();
            let credentials = ClientCredentials {
                client_id: sandbox_config.client_id.clone(),
                client_secret: sandbox_config.client_secret.clone(),
                scope: config.oauth_scope.clone(),
            };
            let handle = sandbox::start(sandbox_config, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            tracing::info!(address = %handle.addr(), "partner A and its OAuth2 server: built-in sandbox");
            (handle.token_url(), handle.partner_a_url(), credentials, Some(handle))
        }
    };
    tracing::info!(token_url = %token_url, partner_a = %partner_url, "partner A endpoints");
    builder = builder
        .token_provider(Arc::new(HttpTokenProvider::new(agent.clone(), token_url, credentials)))
        .partner_a(Arc::new(HttpPartnerA::new(agent, &partner_url)))
        .backends(backends);
    Ok(Wired { builder, sandbox })
}

/// Every few seconds, exports how the connection pools are used (`farmlokal_pool_connections{pool, state}`).
fn sample_pool_usage(read: impl Fn() -> Vec<(&'static str, PoolUsage)> + Send + 'static) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            for (pool, usage) in read() {
                let in_use = usage.open.saturating_sub(usage.idle);
                metrics::gauge!("farmlokal_pool_connections", "pool" => pool, "state" => "in_use").set(in_use as f64);
                metrics::gauge!("farmlokal_pool_connections", "pool" => pool, "state" => "idle").set(usage.idle as f64);
            }
        }
    });
}
