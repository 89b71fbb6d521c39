//! [`TokenProvider`] over the OAuth2 client-credentials grant (RFC 6749 §4.4), with ureq.

use std::fmt;
use std::io::Read as _;

use anyhow::anyhow;
use async_trait::async_trait;
use base64::Engine as _;
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{blocking, retry_after, Transport, RESPONSE_LIMIT};
use crate::domain::AccessToken;
use crate::ports::{TokenError, TokenProvider};

/// The longest token lifetime believed; a larger `expires_in` is clamped, so a broken server cannot make us keep
/// a token for years.
const MAX_LIFETIME_SECS: u64 = 24 * 3600;

/// Our identity at the authorization server. The secret never prints.
#[derive(Clone)]
pub struct ClientCredentials {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`, sent only inside the HTTP Basic header.
    pub client_secret: SecretString,
    /// Optional space-separated `scope`.
    pub scope: Option<String>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("scope", &self.scope)
            .finish()
    }
}

impl ClientCredentials {
    /// The `Authorization: Basic` value: id and secret form-urlencoded first, as RFC 6749 §2.3.1 asks.
    fn basic_header(&self) -> SecretString {
        let id: String = url::form_urlencoded::byte_serialize(self.client_id.as_bytes()).collect();
        let secret: String =
            url::form_urlencoded::byte_serialize(self.client_secret.expose_secret().as_bytes()).collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        SecretString::from(format!("Basic {encoded}"))
    }
}

/// Fetches access tokens from `token_url` with the client-credentials grant.
#[derive(Clone)]
pub struct HttpTokenProvider {
    agent: ureq::Agent,
    token_url: url::Url,
    credentials: ClientCredentials,
}

impl fmt::Debug for HttpTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTokenProvider")
            .field("token_url", &self.token_url.as_str())
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl HttpTokenProvider {
    /// A provider posting to `token_url` through the shared `agent` (see [`super::partner_agent`]).
    pub fn new(agent: ureq::Agent, token_url: url::Url, credentials: ClientCredentials) -> Self {
        Self { agent, token_url, credentials }
    }
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    token_type: String,
    expires_in: i64,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

/// What came back, read inside the blocking task.
enum Answer {
    Ok(String),
    Status { status: u16, body: String, retry_after: Option<std::time::Duration> },
}

#[async_trait]
impl TokenProvider for HttpTokenProvider {
    async fn fetch(&self) -> Result<AccessToken, TokenError> {
        let agent = self.agent.clone();
        let url = self.token_url.clone();
        let basic = self.credentials.basic_header();
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        if let Some(scope) = &self.credentials.scope {
            form.push(("scope", scope.clone()));
        }
        let answer = blocking(move || {
            let mut response = agent
                .post(url.as_str())
                .header("Authorization", basic.expose_secret())
                .header("Accept", "application/json")
                .send_form(form)?;
            let status = response.status().as_u16();
            let retry_after = retry_after(response.headers());
            let mut body = String::new();
            let read = response.body_mut().as_reader().take(RESPONSE_LIMIT).read_to_string(&mut body);
            match (status, read) {
                (200, Ok(_)) => Ok(Answer::Ok(body)),
                (200, Err(e)) => Err(Transport::from(ureq::Error::from(e))),
                // An error body that cannot be read still has a status worth mapping.
                (status, _) => Ok(Answer::Status { status, body, retry_after }),
            }
        })
        .await
        .map_err(|failure| match failure {
            Transport::BadBody(e) => TokenError::malformed(e),
            Transport::Timeout => TokenError::unavailable(None, anyhow!("token request timed out")),
            Transport::Connection(source) => TokenError::unavailable(None, source),
        })?;
        match answer {
            Answer::Ok(body) => parse_token(&body),
            Answer::Status { status, body, retry_after } => Err(status_error(status, &body, retry_after)),
        }
    }
}

/// A 200 body to a bearer token expiring `expires_in` seconds from now.
fn parse_token(body: &str) -> Result<AccessToken, TokenError> {
    let parsed: TokenBody =
        serde_json::from_str(body).map_err(|e| TokenError::malformed(anyhow::Error::new(e).context("token body")))?;
    if !parsed.token_type.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::malformed(anyhow!("token_type is {:?}, not Bearer", parsed.token_type)));
    }
    if parsed.access_token.is_empty() || parsed.access_token.chars().any(|c| c.is_control() || c == ' ') {
        return Err(TokenError::malformed(anyhow!("access_token is empty or not a header-safe value")));
    }
    let lifetime = u64::try_from(parsed.expires_in)
        .ok()
        .filter(|secs| *secs > 0)
        .ok_or_else(|| TokenError::malformed(anyhow!("expires_in must be positive, got {}", parsed.expires_in)))?;
    let lifetime = chrono::Duration::seconds(lifetime.min(MAX_LIFETIME_SECS) as i64);
    Ok(AccessToken::new(SecretString::from(parsed.access_token), Utc::now() + lifetime))
}

/// A non-200 answer to the port's error contract.
fn status_error(status: u16, body: &str, retry_after: Option<std::time::Duration>) -> TokenError {
    match status {
        429 | 500..=599 => TokenError::unavailable(retry_after, anyhow!("token endpoint answered status {status}")),
        400..=499 => {
            let error = serde_json::from_str::<ErrorBody>(body)
                .map(|b| b.error)
                .ok()
                .filter(|e| !e.is_empty() && e.len() <= 64 && e.bytes().all(|b| b.is_ascii_graphic()))
                .unwrap_or_else(|| format!("http_{status}"));
            TokenError::Rejected { error }
        }
        _ => TokenError::malformed(anyhow!("token endpoint answered unexpected status {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_bearer_token_case_insensitively() {
        let token = parse_token(r#"{"access_token":"abc","token_type":"bearer","expires_in":60}"#);
        assert!(token.is_ok_and(|t| t.expires_at() > Utc::now() + chrono::Duration::seconds(55)));
    }

    #[test]
    fn rejects_other_token_types_and_non_positive_lifetimes() {
        for body in [
            r#"{"access_token":"abc","token_type":"mac","expires_in":60}"#,
            r#"{"access_token":"abc","token_type":"Bearer","expires_in":0}"#,
            r#"{"access_token":"","token_type":"Bearer","expires_in":60}"#,
            r#"{"token_type":"Bearer","expires_in":60}"#,
        ] {
            assert!(matches!(parse_token(body), Err(TokenError::Malformed(_))), "{body}");
        }
    }

    #[test]
    fn maps_statuses_to_the_port_contract() {
        let rejected = status_error(401, r#"{"error":"invalid_client"}"#, None);
        assert!(matches!(rejected, TokenError::Rejected { ref error } if error == "invalid_client"));
        assert!(
            matches!(status_error(400, "nonsense", None), TokenError::Rejected { ref error } if error == "http_400")
        );
        let limited = status_error(429, "", Some(std::time::Duration::from_secs(3)));
        assert!(matches!(limited, TokenError::Unavailable { retry_after: Some(d), .. } if d.as_secs() == 3));
        assert!(matches!(status_error(503, "", None), TokenError::Unavailable { .. }));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let credentials = ClientCredentials {
            client_id: "id".into(),
            client_secret: SecretString::from("hunter2".to_owned()),
            scope: None,
        };
        let provider = HttpTokenProvider::new(
            super::super::partner_agent(std::time::Duration::from_secs(1)),
            url::Url::parse("http://127.0.0.1:1/token").unwrap(),
            credentials,
        );
        assert!(!format!("{provider:?}").contains("hunter2"));
    }
}
