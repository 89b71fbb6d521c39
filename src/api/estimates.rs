//! `GET /delivery/estimate`: delivery estimates from partner A, live or the last good answer.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::http::header::CACHE_CONTROL;
use poem_openapi::param::Query;
use poem_openapi::payload::{Json, Response as WithHeaders};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Serialize;

use super::params::PincodeParam;
use super::payload::JsonBytes;
use super::problem::{Problem, ProblemCode};
use super::tags::ApiTags;
use crate::app::estimates::{Estimate, EstimateSource};
use crate::app::Services;
use crate::domain::catalogue::whole_seconds;
use crate::domain::Pincode;

/// Where an estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Partner A answered this request.
    Live,
    /// Partner A is failing; this is its last good answer for the pincode (at most 24 hours old).
    Stale,
}

/// Whether, how fast and at what fee a pincode is served.
#[derive(Debug, Clone, PartialEq, Object, Serialize)]
#[oai(example)]
pub struct DeliveryEstimate {
    /// The pincode asked about.
    pub pincode: String,
    /// Whether the partner delivers there.
    pub serviceable: bool,
    /// Expected delivery time in minutes.
    pub eta_minutes: u32,
    /// Delivery fee in paise.
    pub fee_paise: u64,
    /// `live`, or `stale` when partner A is failing.
    pub source: Source,
    /// When partner A gave this answer (whole seconds, UTC).
    pub as_of: DateTime<Utc>,
}

impl Example for DeliveryEstimate {
    fn example() -> Self {
        Self {
            pincode: "560001".into(),
            serviceable: true,
            eta_minutes: 45,
            fee_paise: 2500,
            source: Source::Live,
            as_of: DateTime::from_timestamp(1_767_323_045, 0).unwrap_or_default(),
        }
    }
}

impl From<Estimate> for DeliveryEstimate {
    fn from(estimate: Estimate) -> Self {
        let s = estimate.serviceability;
        Self {
            pincode: s.pincode.as_str().to_owned(),
            serviceable: s.serviceable,
            eta_minutes: s.eta_minutes,
            fee_paise: s.fee.paise(),
            source: match estimate.source {
                EstimateSource::Live => Source::Live,
                EstimateSource::Stale => Source::Stale,
            },
            as_of: whole_seconds(estimate.as_of),
        }
    }
}

/// Answers of `GET /delivery/estimate`.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "estimate_bad_request")]
pub enum EstimateResponse {
    /// The estimate.
    #[oai(status = 200)]
    Ok(JsonBytes<DeliveryEstimate>),
    /// The pincode is not 6 digits starting with 1-9 (`invalid_query`).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Too many requests from this client (`rate_limited`).
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// Partner A is failing and no recent answer for this pincode is known (`partner_unavailable`).
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

fn estimate_bad_request(error: poem::Error) -> EstimateResponse {
    EstimateResponse::BadRequest(Json(Problem::invalid_parameter(&error)))
}

fn example_pincode() -> PincodeParam {
    PincodeParam(Pincode::parse("560001").expect("the example is a valid pincode"))
}

/// Delivery estimates.
pub struct EstimatesApi {
    pub services: Arc<Services>,
}

/// `Cache-Control` of a live estimate: DESIGN §6 allows a client to keep it for at most 60 s.
const LIVE_CACHE_CONTROL: &str = "private, max-age=60";

#[OpenApi]
impl EstimatesApi {
    /// Estimate delivery
    ///
    /// Asks the logistics partner whether it delivers to a pincode, how fast and at what fee. When the partner
    /// fails, the last good answer for the pincode is returned with `source: stale`.
    #[oai(path = "/delivery/estimate", method = "get", operation_id = "getDeliveryEstimate", tag = "ApiTags::Delivery")]
    async fn estimate(
        &self,
        /// Indian postal code: 6 digits, the first 1-9.
        #[oai(example = "example_pincode")]
        pincode: Query<PincodeParam>,
    ) -> WithHeaders<EstimateResponse> {
        let pincode = pincode.0 .0;
        match self.services.estimates.estimate(&pincode).await {
            // Rendered with serde, like products, so timestamps read `...Z` everywhere in the API.
            Ok(estimate) => {
                let estimate = DeliveryEstimate::from(estimate);
                let body = serde_json::to_vec(&estimate).unwrap_or_default();
                // The answer is this client's question: a browser may reuse a live one for a minute; a stale one
                // should be asked again, the partner may be back.
                let cache_control = match estimate.source {
                    Source::Live => LIVE_CACHE_CONTROL,
                    Source::Stale => "private, max-age=0",
                };
                WithHeaders::new(EstimateResponse::Ok(JsonBytes::new(body.into()))).header(CACHE_CONTROL, cache_control)
            }
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), pincode = pincode.as_str(), "no delivery estimate");
                let retry_after = error.retry_after_secs();
                let problem = Problem::new(
                    ProblemCode::PartnerUnavailable,
                    "the delivery partner is unavailable and no recent estimate for this pincode is known",
                );
                WithHeaders::new(EstimateResponse::Unavailable(Json(problem), retry_after))
            }
        }
    }
}
