//! The partners as tests play them: partner A (delivery estimates) is the built-in sandbox, reached through
//! the real HTTP adapters; partner B (inventory webhooks) is `Delivery`, a message signed the Standard
//! Webhooks way with the test secrets.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use farmlokal::adapters::http::{partner_agent, ClientCredentials, HttpPartnerA, HttpTokenProvider};
use farmlokal::adapters::sandbox::{self, SandboxConfig, SandboxHandle};
use farmlokal::domain::webhook::WebhookSecret;
use serde_json::json;

/// A sandbox of partner A and its OAuth2 server on a port of its own.
pub async fn start_sandbox() -> SandboxHandle {
    let bind = "127.0.0.1:0".parse().expect("literal address");
    sandbox::start(SandboxConfig::default(), bind).await.expect("sandbox starts")
}

pub fn credentials_of(sandbox: &SandboxHandle) -> ClientCredentials {
    ClientCredentials { client_id: sandbox.client_id().to_owned(), client_secret: sandbox.client_secret(), scope: None }
}

/// The HTTP token provider and partner client of the sandbox, sharing one agent.
pub fn http_adapters(
    sandbox: &SandboxHandle,
    attempt_timeout: Duration,
) -> (Arc<HttpTokenProvider>, Arc<HttpPartnerA>) {
    let agent = partner_agent(attempt_timeout);
    let provider = HttpTokenProvider::new(agent.clone(), sandbox.token_url(), credentials_of(sandbox));
    let partner = HttpPartnerA::new(agent, &sandbox.partner_a_url());
    (Arc::new(provider), Arc::new(partner))
}

/// The secret of `Settings::for_tests` (the Standard Webhooks specification's example secret).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A second secret, for rotation.
pub const NEW_SECRET: &str = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24=";
/// The product most webhook tests change.
pub const PRODUCT: u64 = 42;

pub fn secret(raw: &str) -> WebhookSecret {
    WebhookSecret::parse(raw).expect("test secrets are valid")
}

/// One message as partner B would send it: id, timestamp, raw body and `webhook-signature`.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub timestamp: i64,
    pub body: Vec<u8>,
    pub signature: String,
}

impl Delivery {
    /// `body` signed now with the test secret.
    pub fn signed(id: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::signed_at(&secret(SECRET), id, Utc::now().timestamp(), body)
    }

    pub fn signed_at(secret: &WebhookSecret, id: &str, timestamp: i64, body: impl Into<Vec<u8>>) -> Self {
        let body = body.into();
        let signature = secret.sign(id, timestamp, &body);
        Self { id: id.to_owned(), timestamp, body, signature }
    }

    pub fn stock(id: &str, product_id: u64, delta: i64) -> Self {
        let body = json!({"type": "product.stock_adjusted", "data": {"product_id": product_id, "delta": delta}});
        Self::signed(id, body.to_string())
    }

    pub fn price(id: &str, product_id: u64, price_paise: u64, effective_at: DateTime<Utc>) -> Self {
        let data =
            json!({"product_id": product_id, "price_paise": price_paise, "effective_at": effective_at.to_rfc3339()});
        Self::signed(id, json!({"type": "product.price_updated", "data": data}).to_string())
    }

    /// The headers partner B sends with the body.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("content-type", "application/json".to_owned()),
            ("webhook-id", self.id.clone()),
            ("webhook-timestamp", self.timestamp.to_string()),
            ("webhook-signature", self.signature.clone()),
        ]
    }
}
