//! The fast path of webhook idempotency: who is processing which webhook id, and which are done.
//!
//! The ledger is an optimisation and a concurrency guard; the durable exactly-once record is the
//! `processed_events` row written with the effect (see `ProductRepository::apply_event`).

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::webhook::WebhookId;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("event ledger unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// The state of a webhook id when a delivery tries to claim it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This delivery now holds the claim and must `complete` or `release` it.
    Acquired,
    /// Another delivery holds an unexpired claim.
    InFlight,
    /// The id was completed earlier.
    Done,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventLedger: Send + Sync {
    /// Atomically claims `id` for `lease` unless it is done or claimed by someone else.
    ///
    /// # Errors
    /// `Unavailable` when the ledger cannot be reached.
    async fn claim(&self, id: &WebhookId, lease: Duration) -> Result<Claim, LedgerError>;

    /// Marks `id` done for `keep` and drops its claim.
    ///
    /// # Errors
    /// `Unavailable` when the ledger cannot be reached.
    async fn complete(&self, id: &WebhookId, keep: Duration) -> Result<(), LedgerError>;

    /// Drops the claim on `id` so a retry can process it; a done marker is untouched.
    ///
    /// # Errors
    /// `Unavailable` when the ledger cannot be reached.
    async fn release(&self, id: &WebhookId) -> Result<(), LedgerError>;
}
