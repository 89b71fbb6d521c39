//! `POST /webhooks/partner-b`: partner B's signed inventory events (Standard Webhooks).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Union};

use super::payload::RawJson;
use super::problem::{Problem, ProblemCode};
use super::tags::ApiTags;
use crate::app::webhooks::{SignatureHeaders, WebhookError, WebhookOutcome};
use crate::app::Services;

/// `data` of `product.stock_adjusted`.
#[derive(Debug, Clone, Object)]
pub struct StockAdjustment {
    /// The product whose stock changes.
    pub product_id: u64,
    /// Units added (positive) or removed (negative), non-zero and at most 1000000 either way; stock never goes below
    /// zero.
    pub delta: i64,
}

/// `data` of `product.price_updated`.
#[derive(Debug, Clone, Object)]
pub struct PriceUpdate {
    /// The product whose price changes.
    pub product_id: u64,
    /// The new price in paise.
    pub price_paise: u64,
    /// When the price takes effect, at most 5 minutes after the time it is received; an update older than the
    /// product's current price is recorded but ignored.
    pub effective_at: DateTime<Utc>,
}

/// A stock change.
#[derive(Debug, Clone, Object)]
pub struct StockAdjustedEvent {
    pub data: StockAdjustment,
}

/// A price change.
#[derive(Debug, Clone, Object)]
pub struct PriceUpdatedEvent {
    pub data: PriceUpdate,
}

/// An inventory event from partner B, told apart by `type`. Other types are acknowledged as `ignored`.
#[derive(Debug, Clone, Union)]
#[oai(discriminator_name = "type")]
pub enum PartnerBEvent {
    #[oai(mapping = "product.stock_adjusted")]
    StockAdjusted(StockAdjustedEvent),
    #[oai(mapping = "product.price_updated")]
    PriceUpdated(PriceUpdatedEvent),
}

/// What this delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// First delivery of this webhook id: applied.
    Processed,
    /// This webhook id was processed before; nothing changed.
    Duplicate,
    /// An event type this service does not handle.
    Ignored,
}

/// The acknowledgement of a delivery.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct WebhookAck {
    pub status: DeliveryStatus,
}

impl Example for WebhookAck {
    fn example() -> Self {
        Self { status: DeliveryStatus::Processed }
    }
}

/// Answers of `POST /webhooks/partner-b`.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "webhook_bad_request")]
pub enum WebhookResponse {
    /// Accepted: `processed`, `duplicate` or `ignored`. Do not retry.
    #[oai(status = 200)]
    Ok(Json<WebhookAck>),
    /// The signed body is not a valid event (`malformed_body`): not JSON of this shape, a key repeated in any
    /// object, or a value outside its rule. Nothing was recorded; do not retry unchanged.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing or wrong signature, or a timestamp more than 5 minutes off (`invalid_signature`).
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The same webhook id is being processed right now (`in_flight`); retry later.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The body is larger than 64 KiB (`payload_too_large`).
    #[oai(status = 413, content_type = "application/problem+json")]
    TooLarge(Json<Problem>),
    /// The body is not `application/json` (`unsupported_media_type`).
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// The event names a product that does not exist (`unknown_product`); nothing was recorded.
    #[oai(status = 422, content_type = "application/problem+json")]
    UnknownProduct(Json<Problem>),
    /// Storage is failing (`service_unavailable`); nothing was applied, retry later.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

fn webhook_bad_request(error: poem::Error) -> WebhookResponse {
    let problem = super::problem::from_poem_error(&error);
    match problem.code {
        ProblemCode::PayloadTooLarge => WebhookResponse::TooLarge(Json(problem)),
        ProblemCode::UnsupportedMediaType => WebhookResponse::UnsupportedMediaType(Json(problem)),
        _ => WebhookResponse::BadRequest(Json(Problem::new(ProblemCode::MalformedBody, error.to_string()))),
    }
}

fn example_id() -> Option<String> {
    Some("msg_p5jXN8AQM9LWM0D4loKWxJek".into())
}
fn example_timestamp() -> Option<String> {
    Some("1614265330".into())
}
fn example_signature() -> Option<String> {
    Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into())
}

/// Partner webhooks.
pub struct WebhooksApi {
    pub services: Arc<Services>,
}

#[OpenApi]
impl WebhooksApi {
    /// Receive a partner B inventory event
    ///
    /// Signed per Standard Webhooks: `webhook-signature` holds space-separated `v1,<base64 HMAC-SHA256>` over
    /// `{webhook-id}.{webhook-timestamp}.{raw body}` with any configured secret. Each `webhook-id` takes effect
    /// exactly once, however often and however concurrently it is delivered. Not rate limited.
    #[oai(
        path = "/webhooks/partner-b",
        method = "post",
        operation_id = "receivePartnerBEvent",
        tag = "ApiTags::Webhooks"
    )]
    async fn receive(
        &self,
        /// Unique id of the message; every delivery of one message carries the same id.
        #[oai(name = "webhook-id", example = "example_id")]
        id: Header<Option<String>>,
        /// Unix seconds when the message was signed; refused when more than 5 minutes off.
        #[oai(name = "webhook-timestamp", example = "example_timestamp")]
        timestamp: Header<Option<String>>,
        /// Space-separated signatures, each `v1,<base64>`.
        #[oai(name = "webhook-signature", example = "example_signature")]
        signature: Header<Option<String>>,
        /// The event.
        body: RawJson<PartnerBEvent>,
    ) -> WebhookResponse {
        let headers = SignatureHeaders { id: id.0, timestamp: timestamp.0, signature: signature.0 };
        match self.services.webhooks.receive(&headers, &body.bytes).await {
            Ok(outcome) => WebhookResponse::Ok(Json(WebhookAck {
                status: match outcome {
                    WebhookOutcome::Processed => DeliveryStatus::Processed,
                    WebhookOutcome::Duplicate => DeliveryStatus::Duplicate,
                    WebhookOutcome::Ignored => DeliveryStatus::Ignored,
                },
            })),
            Err(error) => match &error {
                WebhookError::Signature(_) => {
                    WebhookResponse::Unauthorized(Json(Problem::new(ProblemCode::InvalidSignature, error.to_string())))
                }
                WebhookError::Malformed(_) => {
                    WebhookResponse::BadRequest(Json(Problem::new(ProblemCode::MalformedBody, error.to_string())))
                }
                WebhookError::InFlight => {
                    WebhookResponse::Conflict(Json(Problem::new(ProblemCode::InFlight, error.to_string())))
                }
                WebhookError::UnknownProduct => {
                    WebhookResponse::UnknownProduct(Json(Problem::new(ProblemCode::UnknownProduct, error.to_string())))
                }
                WebhookError::Unavailable(cause) => {
                    tracing::error!(error = format!("{cause:#}"), "webhook not applied: storage unavailable");
                    let problem = Problem::new(ProblemCode::ServiceUnavailable, "storage is unavailable; retry later");
                    WebhookResponse::Unavailable(Json(problem), 5)
                }
            },
        }
    }
}
