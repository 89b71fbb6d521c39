//! Partner B's inventory webhook: Standard Webhooks signatures and the events it carries.
//!
//! Verification comes before parsing: nothing of an unsigned body is interpreted.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::catalogue::ProductId;
use super::money::Money;
use unique_keys::UniqueKeys;

mod unique_keys;

/// The largest body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How far the signed timestamp may be from now, either way; also how far ahead of now a price's `effective_at`
/// may be.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// A signing secret: `whsec_` followed by base64 of the key bytes.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook secrets look like whsec_<base64 of at least 16 bytes>")]
pub struct InvalidSecret;

impl WebhookSecret {
    /// # Errors
    /// `InvalidSecret` without the `whsec_` prefix, with bad base64, or with fewer than 16 key bytes.
    pub fn parse(raw: &str) -> Result<Self, InvalidSecret> {
        let encoded = raw.trim().strip_prefix("whsec_").ok_or(InvalidSecret)?;
        let key = STANDARD.decode(encoded).map_err(|_| InvalidSecret)?;
        if key.len() < 16 {
            return Err(InvalidSecret);
        }
        Ok(Self(key))
    }

    /// The secret as configured, for tools that sign test events.
    pub fn to_whsec(&self) -> String {
        format!("whsec_{}", STANDARD.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` header value for a message: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, &timestamp.to_string(), body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("webhook-id, webhook-timestamp and webhook-signature headers are required")]
    MissingHeaders,
    #[error("webhook-timestamp is not within 5 minutes of now")]
    StaleTimestamp,
    #[error("no signature matches")]
    NoMatch,
}

/// The identity of one message: every delivery of it carries the same id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebhookId(String);

impl WebhookId {
    /// # Errors
    /// `MissingHeaders` unless 1 to 128 visible ASCII characters.
    pub fn parse(raw: &str) -> Result<Self, SignatureError> {
        if raw.is_empty() || raw.len() > 128 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SignatureError::MissingHeaders);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a delivery's signature against every configured secret, in constant time per comparison.
///
/// # Errors
/// `MissingHeaders` for an absent or unreadable header, `StaleTimestamp` outside [`TOLERANCE`], `NoMatch` when
/// no `v1` signature in the header matches any secret.
pub fn verify(
    secrets: &[WebhookSecret],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<WebhookId, SignatureError> {
    let id = WebhookId::parse(id)?;
    let sent_at: i64 = timestamp.parse().map_err(|_| SignatureError::MissingHeaders)?;
    if now.timestamp().abs_diff(sent_at) > TOLERANCE.as_secs() {
        return Err(SignatureError::StaleTimestamp);
    }
    let candidates: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .collect();
    for secret in secrets {
        let expected = secret.mac(id.as_str(), timestamp, body).finalize().into_bytes();
        if candidates.iter().any(|c| bool::from(c.as_slice().ct_eq(expected.as_slice()))) {
            return Ok(id);
        }
    }
    Err(SignatureError::NoMatch)
}

/// What an inventory event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryChange {
    /// Add `delta` (may be negative) to the stock; stock never goes below zero.
    StockAdjusted { product_id: ProductId, delta: i64 },
    /// Set the price, unless a newer price is already in effect.
    PriceUpdated { product_id: ProductId, price: Money, effective_at: DateTime<Utc> },
}

impl InventoryChange {
    pub fn product_id(&self) -> ProductId {
        match self {
            Self::StockAdjusted { product_id, .. } | Self::PriceUpdated { product_id, .. } => *product_id,
        }
    }
}

/// One verified event, identified by its webhook id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryEvent {
    pub id: WebhookId,
    pub change: InventoryChange,
}

/// A verified body: an event this service handles, or one it ignores by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedEvent {
    Handled(InventoryChange),
    Ignored { event_type: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed event body: {0}")]
pub struct MalformedEvent(pub String);

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    data: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StockData {
    product_id: u64,
    delta: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceData {
    product_id: u64,
    price_paise: i64,
    effective_at: DateTime<Utc>,
}

/// The largest stock change one event may carry.
pub const MAX_STOCK_DELTA: i64 = 1_000_000;

/// Parses a verified body, checking time-dependent rules against `now` (the service clock).
///
/// # Errors
/// `MalformedEvent` when it is not JSON of the documented shape, repeats a key in any object, or a value breaks
/// its rule: a `delta` of zero or beyond [`MAX_STOCK_DELTA`] either way, a price outside [`Money`]'s range, an
/// `effective_at` more than [`TOLERANCE`] after `now`.
pub fn parse_event(body: &[u8], now: DateTime<Utc>) -> Result<ParsedEvent, MalformedEvent> {
    let bad = |e: &dyn std::fmt::Display| MalformedEvent(e.to_string());
    let UniqueKeys(body) = serde_json::from_slice(body).map_err(|e| bad(&e))?;
    let envelope: Envelope = serde_json::from_value(body).map_err(|e| bad(&e))?;
    let product = |id: u64| ProductId::new(id).map_err(|e| bad(&e));
    let change = match envelope.event_type.as_str() {
        "product.stock_adjusted" => {
            let data: StockData = serde_json::from_value(envelope.data).map_err(|e| bad(&e))?;
            // A range check, not `abs()`: `i64::MIN.abs()` overflows (and wraps to a negative in release builds).
            if data.delta == 0 || !(-MAX_STOCK_DELTA..=MAX_STOCK_DELTA).contains(&data.delta) {
                return Err(MalformedEvent(format!("delta must be non-zero and at most {MAX_STOCK_DELTA} either way")));
            }
            InventoryChange::StockAdjusted { product_id: product(data.product_id)?, delta: data.delta }
        }
        "product.price_updated" => {
            let data: PriceData = serde_json::from_value(envelope.data).map_err(|e| bad(&e))?;
            let price = Money::from_signed_paise(data.price_paise).map_err(|e| bad(&e))?;
            // A price "effective" far ahead would win against every later update: allow only clock skew.
            let skew = chrono::TimeDelta::from_std(TOLERANCE).unwrap_or(chrono::TimeDelta::MAX);
            if data.effective_at.signed_duration_since(now) > skew {
                return Err(MalformedEvent(format!(
                    "effective_at must not be more than {} seconds after the time it is received",
                    TOLERANCE.as_secs()
                )));
            }
            let effective_at = super::catalogue::whole_seconds(data.effective_at);
            InventoryChange::PriceUpdated { product_id: product(data.product_id)?, price, effective_at }
        }
        other => return Ok(ParsedEvent::Ignored { event_type: other.chars().take(64).collect() }),
    };
    Ok(ParsedEvent::Handled(change))
}

#[cfg(test)]
mod tests;
