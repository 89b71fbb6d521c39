//! A simulated OAuth2 authorization server and partner A (DESIGN §4), served over real HTTP with poem.
//!
//! The embedded default and `farmlokal sandbox` point the HTTP adapters at it; tests start one on port 0 and
//! turn its knobs (token lifetime, latency, 5xx and 429 rates, scripted failures) while reading its counters.

pub mod answers;
pub mod knobs;
mod routes;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use poem::listener::TcpAcceptor;
use poem::{get, post, EndpointExt as _, Route, Server};
use secrecy::SecretString;
use tokio::sync::oneshot;

pub use knobs::EndpointKnobs;

/// The sandbox's client id when none is configured; the service's defaults use the same values.
pub const DEFAULT_CLIENT_ID: &str = "farmlokal-sandbox";
/// The sandbox's client secret when none is configured. Not a secret: the sandbox is a local simulation.
pub const DEFAULT_CLIENT_SECRET: &str = "sandbox-secret-not-for-production";

/// How the sandbox starts; every knob can be changed at run time through [`SandboxHandle`].
#[derive(Clone)]
pub struct SandboxConfig {
    /// Credentials the token endpoint accepts (HTTP Basic).
    pub client_id: String,
    /// See `client_id`.
    pub client_secret: SecretString,
    /// Lifetime of issued tokens (whole seconds in `expires_in`; at least one second).
    pub token_lifetime: Duration,
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("client_id", &self.client_id)
            .field("token_lifetime", &self.token_lifetime)
            .finish_non_exhaustive()
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: SecretString::from(DEFAULT_CLIENT_SECRET.to_owned()),
            token_lifetime: Duration::from_secs(3600),
        }
    }
}

/// A running sandbox. Dropping it stops the server; [`SandboxHandle::stop`] also waits for it.
#[derive(Debug)]
pub struct SandboxHandle {
    addr: SocketAddr,
    state: Arc<routes::State>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Starts the sandbox on `bind` (port 0 picks a free port).
///
/// # Errors
/// When `bind` cannot be bound.
pub async fn start(config: SandboxConfig, bind: SocketAddr) -> anyhow::Result<SandboxHandle> {
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("binding sandbox to {bind}"))?;
    let addr = listener.local_addr()?;
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    let state = Arc::new(routes::State {
        client_id: config.client_id,
        client_secret: config.client_secret,
        token_lifetime_ms: AtomicU64::new(u64::try_from(config.token_lifetime.as_millis()).unwrap_or(u64::MAX)),
        tokens: Mutex::new(HashMap::new()),
        token_endpoint: EndpointKnobs::default(),
        partner: EndpointKnobs::default(),
        tokens_issued: AtomicU64::new(0),
        partner_unauthorized: AtomicU64::new(0),
    });
    let app = Route::new()
        .at("/oauth/token", post(routes::token))
        .at("/v1/serviceability", get(routes::serviceability))
        .data(state.clone());
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = Server::new_with_acceptor(acceptor);
    let task = tokio::spawn(async move {
        let signal = async {
            let _ = stopped.await;
        };
        if let Err(error) = server.run_with_graceful_shutdown(app, signal, Some(Duration::from_secs(1))).await {
            tracing::error!(%error, "sandbox server failed");
        }
    });
    Ok(SandboxHandle { addr, state, shutdown: Some(shutdown), task: Some(task) })
}

/// `farmlokal sandbox`: runs the sandbox on `bind` until Ctrl-C.
///
/// # Errors
/// When `bind` cannot be bound or Ctrl-C cannot be listened for.
pub async fn run_until_ctrl_c(config: SandboxConfig, bind: SocketAddr) -> anyhow::Result<()> {
    let client_id = config.client_id.clone();
    let handle = start(config, bind).await?;
    tracing::info!(
        token_url = %handle.token_url(),
        partner_a_url = %handle.partner_a_url(),
        %client_id,
        "sandbox running; Ctrl-C stops it"
    );
    println!("FARMLOKAL_OAUTH_TOKEN_URL={}", handle.token_url());
    println!("FARMLOKAL_PARTNER_A_URL={}", handle.partner_a_url());
    println!("FARMLOKAL_OAUTH_CLIENT_ID={client_id}");
    tokio::signal::ctrl_c().await.context("listening for Ctrl-C")?;
    handle.stop().await;
    Ok(())
}

impl SandboxHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `FARMLOKAL_OAUTH_TOKEN_URL` for this sandbox.
    pub fn token_url(&self) -> url::Url {
        self.url("/oauth/token")
    }

    /// `FARMLOKAL_PARTNER_A_URL` for this sandbox.
    pub fn partner_a_url(&self) -> url::Url {
        self.url("/")
    }

    fn url(&self, path: &str) -> url::Url {
        // An IP address and port always form a valid http URL.
        url::Url::parse(&format!("http://{}{path}", self.addr)).unwrap_or_else(|_| unreachable!("socket address URL"))
    }

    /// The client id the token endpoint accepts.
    pub fn client_id(&self) -> &str {
        &self.state.client_id
    }

    /// The client secret the token endpoint accepts.
    pub fn client_secret(&self) -> SecretString {
        self.state.client_secret.clone()
    }

    /// Knobs and request count of the token endpoint.
    pub fn token_endpoint(&self) -> &EndpointKnobs {
        &self.state.token_endpoint
    }

    /// Knobs and request count of partner A.
    pub fn partner(&self) -> &EndpointKnobs {
        &self.state.partner
    }

    /// Tokens issued (successful token requests).
    pub fn tokens_issued(&self) -> u64 {
        self.state.tokens_issued.load(Ordering::SeqCst)
    }

    /// Partner requests refused with 401 because their token was missing, unknown or expired.
    pub fn partner_unauthorized(&self) -> u64 {
        self.state.partner_unauthorized.load(Ordering::SeqCst)
    }

    /// Lifetime of tokens issued from now on (at least one second).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        let ms = u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX);
        self.state.token_lifetime_ms.store(ms, Ordering::SeqCst);
    }

    /// Forgets every issued token, so the next partner request with any of them gets a 401.
    pub fn revoke_all_tokens(&self) {
        self.state.tokens().clear();
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
