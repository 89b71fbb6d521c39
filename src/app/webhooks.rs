//! Partner B's webhook intake: verify, then parse, then apply exactly once.
//!
//! Two layers make one webhook id take effect once:
//! - the `EventLedger` (Redis) claims the id with a short lease, so concurrent deliveries of one id get `409`
//!   while the first is processed, and remembers finished ids for 96 hours so redeliveries are answered
//!   `duplicate` without touching MySQL;
//! - the durable guarantee is `ProductRepository::apply_event`: the change and the `processed_events` row
//!   commit in one transaction, so even with the ledger flushed or down an id never applies twice.
//!
//! The signed timestamp is checked against the [`Clock`] port's time.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::webhook::{self, InventoryEvent, ParsedEvent, SignatureError, WebhookSecret};
use crate::ports::{ApplyOutcome, Claim, Clock, EventLedger, ProductRepository, RepositoryError};

/// How long one delivery may hold its claim before another may try: longer than processing can take.
pub const CLAIM_LEASE: Duration = Duration::from_secs(30);
/// How long finished ids are remembered in the ledger: senders retry for up to three days.
pub const DONE_FOR: Duration = Duration::from_secs(96 * 3600);

/// The signature headers of one delivery, as received.
#[derive(Debug, Clone, Default)]
pub struct SignatureHeaders {
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
}

/// What a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// First delivery of this id: its effect is applied.
    Processed,
    /// This id was processed before; nothing changed now.
    Duplicate,
    /// An event type this service does not handle.
    Ignored,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("{0}")]
    Malformed(String),
    #[error("the event names a product that does not exist")]
    UnknownProduct,
    #[error("this webhook id is being processed right now")]
    InFlight,
    #[error("storage unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// The intake of partner B's events.
pub struct WebhookIntake {
    secrets: Vec<WebhookSecret>,
    ledger: Arc<dyn EventLedger>,
    products: Arc<dyn ProductRepository>,
    clock: Arc<dyn Clock>,
}

impl WebhookIntake {
    /// Verifies deliveries with `secrets` (any one may have signed) and a timestamp near `clock`'s time, claims
    /// ids in `ledger` and applies events to `products`.
    pub fn new(
        secrets: Vec<WebhookSecret>,
        ledger: Arc<dyn EventLedger>,
        products: Arc<dyn ProductRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { secrets, ledger, products, clock }
    }

    /// Handles one delivery of `body`.
    ///
    /// # Errors
    /// `Signature` before anything is parsed or written; `Malformed` for a signed body of the wrong shape;
    /// `InFlight` while another delivery of the id is processed; `UnknownProduct` (nothing recorded, the claim
    /// released); `Unavailable` when the catalogue store fails (the claim released, so a retry can succeed).
    pub async fn receive(&self, headers: &SignatureHeaders, body: &[u8]) -> Result<WebhookOutcome, WebhookError> {
        let (Some(id), Some(timestamp), Some(signature)) = (&headers.id, &headers.timestamp, &headers.signature) else {
            return Err(SignatureError::MissingHeaders.into());
        };
        let now = self.clock.now();
        let id = webhook::verify(&self.secrets, id, timestamp, signature, body, now)?;
        let change = match webhook::parse_event(body, now).map_err(|e| WebhookError::Malformed(e.to_string()))? {
            ParsedEvent::Handled(change) => change,
            ParsedEvent::Ignored { event_type } => {
                tracing::info!(webhook_id = id.as_str(), event_type, "webhook of an unhandled type ignored");
                return Ok(WebhookOutcome::Ignored);
            }
        };
        let claimed = match self.ledger.claim(&id, CLAIM_LEASE).await {
            Ok(Claim::Done) => return Ok(WebhookOutcome::Duplicate),
            Ok(Claim::InFlight) => return Err(WebhookError::InFlight),
            Ok(Claim::Acquired) => true,
            Err(error) => {
                // The transaction in the store still guarantees exactly once; only the 409 fast path is lost.
                tracing::warn!(%error, "event ledger unavailable; relying on the store's processed_events");
                false
            }
        };
        let event = InventoryEvent { id: id.clone(), change };
        let applied = self.products.apply_event(&event).await;
        let outcome = match applied {
            Ok(ApplyOutcome::Applied) => Ok(WebhookOutcome::Processed),
            Ok(ApplyOutcome::AlreadyApplied) => Ok(WebhookOutcome::Duplicate),
            Err(RepositoryError::NotFound) => Err(WebhookError::UnknownProduct),
            Err(RepositoryError::Unavailable(e) | RepositoryError::Unknown(e)) => Err(WebhookError::Unavailable(e)),
        };
        if claimed {
            let recorded = match &outcome {
                Ok(_) => self.ledger.complete(&id, DONE_FOR).await,
                Err(_) => self.ledger.release(&id).await,
            };
            if let Err(error) = recorded {
                tracing::warn!(%error, webhook_id = id.as_str(), "event ledger not updated; its lease will expire");
            }
        }
        let label = outcome.as_ref().map_or("failed", |o| o.as_str());
        metrics::counter!("farmlokal_webhook_deliveries_total", "outcome" => label).increment(1);
        tracing::info!(webhook_id = id.as_str(), outcome = label, "webhook delivery handled");
        outcome
    }
}
