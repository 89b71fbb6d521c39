//! Readiness: whether this instance can answer catalogue reads (DESIGN §7). The catalogue is pinged, and the
//! shared state (cache, tokens, rate limit, webhook ledger) through its cache. Only the catalogue decides
//! readiness: with the shared state down the instance still serves listings (the cache misses, the rate limit
//! falls back to a per-process one), so it stays ready and reports the shared state as degraded; a load
//! balancer that pulled every instance at once for a Redis blip would turn it into an outage. An instance that
//! is shutting down is not ready, whatever its dependencies say.
//!
//! An in-process adapter is pinged too (it answers at once unless a test took it down with its fault
//! switches): it is reported as in-process while it answers and as down when it does not, like a server.

use std::sync::atomic::{AtomicBool, Ordering};
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
    /// The instance received a shutdown signal: it serves what is in flight (and, during the drain, new
    /// requests) but asks the load balancer to send nothing more.
    pub shutting_down: bool,
}

/// What readiness concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every dependency answers.
    Ready,
    /// Catalogue reads are served, but the shared state is down: still ready.
    Degraded,
    /// The catalogue store cannot be reached: not ready.
    Unavailable,
    /// A shutdown signal arrived: not ready.
    ShuttingDown,
}

impl Readiness {
    pub fn verdict(&self) -> Verdict {
        if self.shutting_down {
            Verdict::ShuttingDown
        } else if self.catalogue == DependencyState::Down {
            Verdict::Unavailable
        } else if self.shared_state == DependencyState::Down {
            Verdict::Degraded
        } else {
            Verdict::Ready
        }
    }

    /// Ready while catalogue reads can be answered and no shutdown began; the shared state being down does not
    /// count (it is `Degraded`).
    pub fn is_ready(&self) -> bool {
        matches!(self.verdict(), Verdict::Ready | Verdict::Degraded)
    }
}

/// Checks the dependencies of one service, and knows whether it is shutting down.
pub struct Health {
    products: Arc<dyn ProductRepository>,
    cache: Arc<dyn Cache>,
    backends: Backends,
    shutting_down: AtomicBool,
}

impl Health {
    pub fn new(products: Arc<dyn ProductRepository>, cache: Arc<dyn Cache>, backends: Backends) -> Self {
        Self { products, cache, backends, shutting_down: AtomicBool::new(false) }
    }

    /// From now on readiness answers `ShuttingDown` (the server calls it on SIGTERM or Ctrl-C). There is no way
    /// back: a process that began to shut down finishes.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Pings every dependency at once, each within [`CHECK_TIMEOUT`].
    pub async fn readiness(&self) -> Readiness {
        let (catalogue, shared_state) = tokio::join!(
            check(&self.backends.catalogue, self.products.ping()),
            check(&self.backends.shared_state, self.cache.ping()),
        );
        Readiness { catalogue, shared_state, shutting_down: self.is_shutting_down() }
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
