//! The sandbox's two endpoints: `POST /oauth/token` (client credentials over HTTP Basic) and
//! `GET /v1/serviceability` (bearer tokens this sandbox issued and that have not expired).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use poem::http::{header, StatusCode};
use poem::web::{Data, Query};
use poem::{handler, Request, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::answers::serviceability_for;
use super::knobs::EndpointKnobs;
use crate::domain::Pincode;

/// Everything the endpoints share with the handle.
#[derive(Debug)]
pub(super) struct State {
    pub client_id: String,
    pub client_secret: SecretString,
    pub token_lifetime_ms: AtomicU64,
    pub tokens: Mutex<HashMap<String, DateTime<Utc>>>,
    pub token_endpoint: EndpointKnobs,
    pub partner: EndpointKnobs,
    pub tokens_issued: AtomicU64,
    pub partner_unauthorized: AtomicU64,
}

impl State {
    pub(super) fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, DateTime<Utc>>> {
        self.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn basic_matches(&self, request: &Request) -> bool {
        let Some(encoded) = header_value(request).and_then(|v| v.strip_prefix("Basic ").map(str::to_owned)) else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else { return false };
        let Ok(decoded) = String::from_utf8(decoded) else { return false };
        let Some((id, secret)) = decoded.split_once(':') else { return false };
        let decode =
            |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
        let (Some(id), Some(secret)) = (decode(id), decode(secret)) else { return false };
        let secret_ok: bool = secret.as_bytes().ct_eq(self.client_secret.expose_secret().as_bytes()).into();
        id == self.client_id && secret_ok
    }
}

fn header_value(request: &Request) -> Option<&str> {
    request.headers().get(header::AUTHORIZATION)?.to_str().ok()
}

fn json(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    let mut response = json(status, serde_json::json!({ "error": error }).to_string());
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"sandbox\""));
    }
    response
}

/// `POST /oauth/token`.
#[handler]
pub(super) async fn token(request: &Request, body: String, state: Data<&Arc<State>>) -> Response {
    state.token_endpoint.arrive().await;
    if let Some(failure) = state.token_endpoint.injected_failure() {
        return failure;
    }
    if !state.basic_matches(request) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let lifetime_ms = state.token_lifetime_ms.load(Ordering::SeqCst).max(1000);
    let value = uuid::Uuid::new_v4().simple().to_string();
    let now = Utc::now();
    let expires_at = now + chrono::Duration::milliseconds(i64::try_from(lifetime_ms).unwrap_or(i64::MAX / 2));
    {
        let mut tokens = state.tokens();
        tokens.retain(|_, at| *at > now);
        tokens.insert(value.clone(), expires_at);
    }
    state.tokens_issued.fetch_add(1, Ordering::SeqCst);
    let body = serde_json::json!({
        "access_token": value,
        "token_type": "Bearer",
        "expires_in": lifetime_ms / 1000,
    });
    json(StatusCode::OK, body.to_string())
}

#[derive(Deserialize)]
pub(super) struct PincodeParam {
    pincode: Option<String>,
}

/// `GET /v1/serviceability?pincode=..`.
#[handler]
pub(super) async fn serviceability(
    request: &Request,
    query: Query<PincodeParam>,
    state: Data<&Arc<State>>,
) -> Response {
    state.partner.arrive().await;
    let bearer = header_value(request).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    let valid = bearer.is_some_and(|t| state.tokens().get(t).is_some_and(|at| *at > Utc::now()));
    if !valid {
        state.partner_unauthorized.fetch_add(1, Ordering::SeqCst);
        let mut response = json(StatusCode::UNAUTHORIZED, r#"{"error":"invalid_token"}"#.to_owned());
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer error=\"invalid_token\""));
        return response;
    }
    if let Some(failure) = state.partner.injected_failure() {
        return failure;
    }
    let Some(pincode) = query.0.pincode.as_deref().and_then(|p| Pincode::parse(p).ok()) else {
        return json(StatusCode::BAD_REQUEST, r#"{"error":"invalid_pincode"}"#.to_owned());
    };
    let answer = serviceability_for(&pincode);
    let body = serde_json::json!({
        "pincode": answer.pincode.as_str(),
        "serviceable": answer.serviceable,
        "eta_minutes": answer.eta_minutes,
        "fee_paise": answer.fee.paise(),
    });
    json(StatusCode::OK, body.to_string())
}
