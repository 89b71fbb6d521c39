//! Readiness: whether the catalogue store and the shared state (cache, tokens, rate limit, webhook ledger)
//! answer. The catalogue is pinged, and the shared state through its cache. An in-process adapter is pinged
//! too (it answers at once unless a test took it down with its fault switches): it is reported as in-process
//! while it answers and as down when it does not, like a server.

use std::sync::Arc;
use std::time::Duration;

use crate::ports::{Cache, ProductRepository};

/// How long a readiness check waits for one dependency.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What a group of ports runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// In-process adapters: nothing to reach.
    #[default]
    InProcess,
    /// A server (its address is in the start-up log).
    Server,
}

/// What the catalogue store and the shared state run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backends {
    pub catalogue: Backend,
    pub shared_state: Backend,
}

/// The state of one dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyState {
    /// A server that answers.
    Up,
    /// Not answering: a server, or an in-process adapter taken down.
    Down,
    /// Not configured: the in-process adapter is in use, and answers.
    InProcess,
}

/// The answer of a readiness check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub catalogue: DependencyState,
    pub shared_state: DependencyState,
}

impl Readiness {
    /// Ready when nothing is down.
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

    /// Pings every dependency at once, each within [`CHECK_TIMEOUT`].
    pub async fn readiness(&self) -> Readiness {
        let (catalogue, shared_state) = tokio::join!(
            check(&self.backends.catalogue, self.products.ping()),
            check(&self.backends.shared_state, self.cache.ping()),
        );
        Readiness { catalogue, shared_state }
    }
}

async fn check<E>(backend: &Backend, ping: impl std::future::Future<Output = Result<(), E>>) -> DependencyState {
    let answers = matches!(tokio::time::timeout(CHECK_TIMEOUT, ping).await, Ok(Ok(())));
    match (backend, answers) {
        (_, false) => DependencyState::Down,
        (Backend::InProcess, true) => DependencyState::InProcess,
        (Backend::Server, true) => DependencyState::Up,
    }
}
