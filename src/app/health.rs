//! Readiness: whether the catalogue store and the shared state (cache, tokens, rate limit, webhook ledger)
//! answer. A port on an in-memory adapter is always there, so it is reported as such and never checked.

use std::sync::Arc;
use std::time::Duration;

use crate::ports::{Cache, ProductRepository};

/// How long a readiness check waits for one dependency.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What a group of ports runs on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Backend {
    /// In-process adapters: nothing to reach.
    #[default]
    InProcess,
    /// A server, by its address with any password removed.
    Server(String),
}

/// What the catalogue store and the shared state run on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Backends {
    pub catalogue: Backend,
    pub shared_state: Backend,
}

/// The state of one dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyState {
    Up,
    /// Configured but not answering.
    Down,
    /// Not configured: the in-process adapter is in use.
    InProcess,
}

/// The answer of a readiness check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub catalogue: DependencyState,
    pub shared_state: DependencyState,
}

impl Readiness {
    /// Ready when nothing configured is down.
    pub fn is_ready(&self) -> bool {
        self.catalogue != DependencyState::Down && self.shared_state != DependencyState::Down
    }
}

/// Checks the dependencies of one service.
pub struct Health {
    products: Arc<dyn ProductRepository>,
    cache: Arc<dyn Cache>,
    backends: Backends,
}

impl Health {
    pub fn new(products: Arc<dyn ProductRepository>, cache: Arc<dyn Cache>, backends: Backends) -> Self {
        Self { products, cache, backends }
    }

    /// What the dependencies run on.
    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    /// Pings every configured dependency at once, each within [`CHECK_TIMEOUT`].
    pub async fn readiness(&self) -> Readiness {
        let (catalogue, shared_state) = tokio::join!(
            check(&self.backends.catalogue, self.products.ping()),
            check(&self.backends.shared_state, self.cache.ping()),
        );
        Readiness { catalogue, shared_state }
    }
}

async fn check<E>(backend: &Backend, ping: impl std::future::Future<Output = Result<(), E>>) -> DependencyState {
    match backend {
        Backend::InProcess => DependencyState::InProcess,
        Backend::Server(_) => match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
            Ok(Ok(())) => DependencyState::Up,
            _ => DependencyState::Down,
        },
    }
}
