//! An in-process webhook ledger with exactly the Redis ledger's semantics: done markers and leased claims.
//!
//! Time is tokio's clock, so tests may pause and advance it. Expired markers and claims are invisible at once and
//! swept out as the maps grow.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::faults::Faults;
use crate::domain::webhook::WebhookId;
use crate::ports::{Claim, EventLedger, LedgerError};

/// Ids kept before the first sweep of expired ones.
const FIRST_SWEEP: usize = 1024;

/// [`EventLedger`] in process memory.
#[derive(Debug, Default)]
pub struct MemoryEventLedger {
    state: Mutex<State>,
    faults: Faults,
}

#[derive(Debug, Default)]
struct State {
    /// Completed ids and until when they are remembered.
    done: HashMap<WebhookId, Instant>,
    /// Claimed ids and when their lease ends.
    claims: HashMap<WebhookId, Instant>,
    next_sweep: usize,
}

impl State {
    fn sweep_if_large(&mut self, now: Instant) {
        if self.done.len() + self.claims.len() >= self.next_sweep.max(FIRST_SWEEP) {
            self.done.retain(|_, until| *until > now);
            self.claims.retain(|_, until| *until > now);
            self.next_sweep = (self.done.len() + self.claims.len()) * 2;
        }
    }
}

impl MemoryEventLedger {
    /// An empty ledger with no faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The switches that make calls fail or slow down.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl EventLedger for MemoryEventLedger {
    async fn claim(&self, id: &WebhookId, lease: Duration) -> Result<Claim, LedgerError> {
        self.faults.check().await.map_err(LedgerError::Unavailable)?;
        let now = Instant::now();
        let mut state = self.state();
        state.sweep_if_large(now);
        if state.done.get(id).is_some_and(|until| *until > now) {
            return Ok(Claim::Done);
        }
        if state.claims.get(id).is_some_and(|until| *until > now) {
            return Ok(Claim::InFlight);
        }
        state.claims.insert(id.clone(), now + lease);
        Ok(Claim::Acquired)
    }

    async fn complete(&self, id: &WebhookId, keep: Duration) -> Result<(), LedgerError> {
        self.faults.check().await.map_err(LedgerError::Unavailable)?;
        let now = Instant::now();
        let mut state = self.state();
        state.sweep_if_large(now);
        state.done.insert(id.clone(), now + keep);
        state.claims.remove(id);
        Ok(())
    }

    async fn release(&self, id: &WebhookId) -> Result<(), LedgerError> {
        self.faults.check().await.map_err(LedgerError::Unavailable)?;
        self.state().claims.remove(id);
        Ok(())
    }
}
