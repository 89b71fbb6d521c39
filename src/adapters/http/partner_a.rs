//! [`PartnerAClient`] over partner A's serviceability API, with ureq.

use std::fmt;

use anyhow::anyhow;
use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{blocking, retry_after, Transport, RESPONSE_LIMIT};
use crate::domain::{AccessToken, Money, Pincode, Serviceability};
use crate::ports::{PartnerAClient, PartnerError};

/// Calls `GET {base}/v1/serviceability?pincode=..` with a bearer token. One attempt per call; the use case
/// retries.
#[derive(Clone)]
pub struct HttpPartnerA {
    agent: ureq::Agent,
    endpoint: String,
}

impl fmt::Debug for HttpPartnerA {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpPartnerA").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl HttpPartnerA {
    /// A client of the partner at `base_url` (e.g. `https://partner.example/`), through the shared `agent` (see
    /// [`super::partner_agent`]), whose global timeout is the attempt timeout.
    pub fn new(agent: ureq::Agent, base_url: &url::Url) -> Self {
        let endpoint = format!("{}/v1/serviceability", base_url.as_str().trim_end_matches('/'));
        Self { agent, endpoint }
    }
}

#[derive(Deserialize)]
struct Body {
    pincode: String,
    serviceable: bool,
    eta_minutes: u32,
    fee_paise: i64,
}

#[async_trait]
impl PartnerAClient for HttpPartnerA {
    async fn serviceability(&self, token: &AccessToken, pincode: &Pincode) -> Result<Serviceability, PartnerError> {
        let agent = self.agent.clone();
        let endpoint = self.endpoint.clone();
        let bearer = secrecy::SecretString::from(format!("Bearer {}", token.secret().expose_secret()));
        let pin = pincode.as_str().to_owned();
        let answer = blocking(move || {
            let mut response = agent
                .get(&endpoint)
                .query("pincode", &pin)
                .header("Authorization", bearer.expose_secret())
                .header("Accept", "application/json")
                .call()?;
            let status = response.status().as_u16();
            if status != 200 {
                return Ok(Err(status_error(status, retry_after(response.headers()))));
            }
            let body: Body = response.body_mut().with_config().limit(RESPONSE_LIMIT).read_json()?;
            Ok(Ok(body))
        })
        .await
        .map_err(|failure| match failure {
            Transport::Timeout => PartnerError::Timeout,
            Transport::BadBody(e) => PartnerError::Malformed(e),
            Transport::Connection(e) => PartnerError::Connection(e),
        })??;
        to_serviceability(answer, pincode)
    }
}

/// A non-200 status to the port's error contract.
fn status_error(status: u16, retry_after: Option<std::time::Duration>) -> PartnerError {
    match status {
        401 => PartnerError::Unauthorized,
        429 => PartnerError::RateLimited { retry_after },
        400..=499 => PartnerError::Rejected { status },
        500..=599 => PartnerError::Unavailable { status },
        _ => PartnerError::Malformed(anyhow!("partner A answered unexpected status {status}")),
    }
}

/// Checks that the answer is about the pincode asked for and that its fee is a valid amount.
fn to_serviceability(body: Body, asked: &Pincode) -> Result<Serviceability, PartnerError> {
    if body.pincode != asked.as_str() {
        return Err(PartnerError::Malformed(anyhow!("answer is about pincode {:?}, not {asked}", body.pincode)));
    }
    let fee = Money::from_signed_paise(body.fee_paise).map_err(|e| PartnerError::Malformed(e.into()))?;
    Ok(Serviceability { pincode: asked.clone(), serviceable: body.serviceable, eta_minutes: body.eta_minutes, fee })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_statuses_to_the_port_contract() {
        assert!(matches!(status_error(401, None), PartnerError::Unauthorized));
        assert!(matches!(status_error(404, None), PartnerError::Rejected { status: 404 }));
        assert!(matches!(status_error(400, None), PartnerError::Rejected { status: 400 }));
        assert!(matches!(status_error(503, None), PartnerError::Unavailable { status: 503 }));
        let limited = status_error(429, Some(std::time::Duration::from_secs(2)));
        assert!(matches!(limited, PartnerError::RateLimited { retry_after: Some(d) } if d.as_secs() == 2));
        assert!(matches!(status_error(302, None), PartnerError::Malformed(_)));
    }

    #[test]
    fn refuses_an_answer_about_another_pincode_or_a_negative_fee() {
        let asked = Pincode::parse("560001").unwrap();
        let other = Body { pincode: "110001".into(), serviceable: true, eta_minutes: 30, fee_paise: 100 };
        assert!(matches!(to_serviceability(other, &asked), Err(PartnerError::Malformed(_))));
        let negative = Body { pincode: "560001".into(), serviceable: true, eta_minutes: 30, fee_paise: -1 };
        assert!(matches!(to_serviceability(negative, &asked), Err(PartnerError::Malformed(_))));
    }
}
