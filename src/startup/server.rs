//! `Application`: a built service bound to its port, ready to run. Tests bind port 0 and read `port()`.
//!
//! Shutdown (DESIGN §7): on SIGTERM readiness turns 503 at once and the instance keeps serving every request for
//! the drain (`FARMLOKAL_SHUTDOWN_DRAIN_SECS`), the time a load balancer or Kubernetes' endpoints controller
//! needs to stop sending it traffic; then it stops accepting, gives in-flight requests the request timeout
//! (plus the grace of the 504 going out) to finish, and returns. Ctrl-C (SIGINT) skips the drain, and a second
//! signal during the drain cuts it short.

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

use crate::api::slow_clients::RESPONSE_GRACE;

/// The drain of a service built by hand (`from_builder`), as `FARMLOKAL_SHUTDOWN_DRAIN_SECS` defaults to.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);

/// A service bound to its listen address.
pub struct Application {
    acceptor: TcpAcceptor,
    addr: SocketAddr,
    state: Arc<AppState>,
    drain: Duration,
    _sandbox: Option<SandboxHandle>,
}

/// The signal that began a shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGTERM (Kubernetes, systemd, `docker stop`): drain first.
    Terminate,
    /// SIGINT (Ctrl-C): stop without the drain.
    Interrupt,
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
        app.drain = config.shutdown_drain;
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
        Ok(Self { acceptor, addr, state: builder.build(), drain: DEFAULT_DRAIN, _sandbox: None })
    }

    /// How long to keep serving with readiness 503 after SIGTERM before closing.
    #[must_use]
    pub fn with_drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
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

    /// Serves until SIGTERM or Ctrl-C and shuts down as the module says: readiness 503 at once; after SIGTERM,
    /// the drain; then no new connections, in-flight requests finish within the request timeout, and it returns.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        // Listening starts now, not after the first signal: a second one that follows the first at once is
        // noticed, and cuts the drain short, instead of being lost before its listener exists.
        let mut signals = StopSignals::listen();
        self.run_until_signalled(async move {
            let signal = signals.next().await;
            (signal, async move {
                signals.next().await;
            })
        })
        .await
    }

    /// Serves until `signal` completes, then closes as `run_until_stopped` does after Ctrl-C (no drain).
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        self.run_until_signalled(async move {
            signal.await;
            (StopSignal::Interrupt, std::future::pending::<()>())
        })
        .await
    }

    /// Serves until `signal` says which signal came (and gives a future that completes on a second one), drains
    /// after [`StopSignal::Terminate`], then closes.
    async fn run_until_signalled<S>(
        self,
        signal: impl Future<Output = (StopSignal, S)> + Send + 'static,
    ) -> anyhow::Result<()>
    where
        S: Future<Output = ()> + Send + 'static,
    {
        let Self { acceptor, addr, state, drain, _sandbox } = self;
        tracing::info!(address = %addr, docs = %format!("http://{addr}/docs"), "FarmLokal is listening");
        let http = &state.settings.http;
        let bounds =
            Bounds { header_read: http.header_read_timeout, request: http.request_timeout, idle: http.idle_timeout };
        connection_limits::warn_above_open_file_limit(http.connection_limits);
        let limited = LimitConnections::new(acceptor, http.connection_limits, http.trusted_proxies.clone());
        // In-flight requests get the request timeout, then the time for their 504 to go out.
        let grace = http.request_timeout + RESPONSE_GRACE;
        let draining = state.clone();
        let closing = async move {
            let (signal, second) = signal.await;
            draining.services.health.begin_shutdown();
            match signal {
                StopSignal::Terminate if !drain.is_zero() => {
                    tracing::info!(
                        drain_secs = drain.as_secs_f64(),
                        "SIGTERM received: readiness is 503, serving until the drain ends"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(drain) => tracing::info!("drain over: closing"),
                        () = second => tracing::info!("second signal: drain cut short, closing"),
                    }
                }
                StopSignal::Terminate => tracing::info!("SIGTERM received: no drain configured, closing"),
                StopSignal::Interrupt => tracing::info!("interrupted: closing without a drain"),
            }
            tracing::info!(grace_secs = grace.as_secs_f64(), "no new connections; waiting for requests in flight");
        };
        Server::new_with_acceptor(ProblemAnswers::new(StageDeadlines::new(limited, bounds)))
            .run_with_graceful_shutdown(state.endpoint(), closing, Some(grace))
            .await
            .context("HTTP server failed")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The signals that stop the service: Ctrl-C (SIGINT) and, on Unix, SIGTERM, each listened to from
/// [`StopSignals::listen`] on, so every one that arrives after it is seen by [`StopSignals::next`].
struct StopSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    /// Starts listening (inside the runtime). A signal that cannot be listened to is logged and never comes.
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let open = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(signal) => Some(signal),
                Err(error) => {
                    tracing::error!(%error, "cannot listen for {name}");
                    None
                }
            };
            Self {
                interrupt: open(SignalKind::interrupt(), "Ctrl-C"),
                terminate: open(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Completes on the next Ctrl-C or SIGTERM, saying which.
    async fn next(&mut self) -> StopSignal {
        #[cfg(unix)]
        {
            async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = recv(&mut self.interrupt) => StopSignal::Interrupt,
                () = recv(&mut self.terminate) => StopSignal::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::error!(%error, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
            StopSignal::Interrupt
        }
    }
}
