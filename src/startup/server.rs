//! `Application`: a built service bound to its port, ready to run. Tests bind port 0 and read `port()`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use poem::listener::TcpAcceptor;
use poem::Server;

use super::builder::{AppBuilder, AppState};
use super::config::Config;
use super::wiring;
use crate::adapters::sandbox::SandboxHandle;
use crate::api::connection_limits::{self, LimitConnections};
use crate::api::parse_errors::ProblemAnswers;
use crate::api::slow_clients::{Bounds, StageDeadlines};

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A service bound to its listen address.
pub struct Application {
    acceptor: TcpAcceptor,
    addr: SocketAddr,
    state: Arc<AppState>,
    _sandbox: Option<SandboxHandle>,
}

impl Application {
    /// Wires the adapters the configuration names and binds the listen address.
    ///
    /// # Errors
    /// Invalid configuration or an address that cannot be bound. A MySQL or Redis that is down is not an
    /// error: the service starts and readiness reports it.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let wired = wiring::from_config(config).await?;
        let mut app = Self::from_builder(wired.builder, config.bind).await?;
        app._sandbox = wired.sandbox;
        Ok(app)
    }

    /// Binds a service assembled by hand (any mix of in-memory and real adapters).
    ///
    /// # Errors
    /// An address that cannot be bound.
    pub async fn from_builder(builder: AppBuilder, bind: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("binding {bind}"))?;
        let addr = listener.local_addr()?;
        let acceptor = TcpAcceptor::from_tokio(listener)?;
        Ok(Self { acceptor, addr, state: builder.build(), _sandbox: None })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM, then stops accepting, lets in-flight requests finish (within
    /// [`SHUTDOWN_GRACE`]) and returns.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then shuts down gracefully as `run_until_stopped` does.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Self { acceptor, addr, state, _sandbox } = self;
        tracing::info!(address = %addr, docs = %format!("http://{addr}/docs"), "FarmLokal is listening");
        let http = &state.settings.http;
        let bounds =
            Bounds { header_read: http.header_read_timeout, request: http.request_timeout, idle: http.idle_timeout };
        connection_limits::warn_above_open_file_limit(http.connection_limits);
        let limited = LimitConnections::new(acceptor, http.connection_limits, http.trusted_proxies.clone());
        Server::new_with_acceptor(ProblemAnswers::new(StageDeadlines::new(limited, bounds)))
            .run_with_graceful_shutdown(state.endpoint(), signal, Some(SHUTDOWN_GRACE))
            .await
            .context("HTTP server failed")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received: shutting down"),
        () = terminate => tracing::info!("SIGTERM received: shutting down"),
    }
}
