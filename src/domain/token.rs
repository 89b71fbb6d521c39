//! OAuth2 access tokens and when to refresh them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

/// A bearer token and the moment it stops working. Its value never prints.
#[derive(Clone)]
pub struct AccessToken {
    value: SecretString,
    expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken").field("value", &"[redacted]").field("expires_at", &self.expires_at).finish()
    }
}

impl AccessToken {
    pub fn new(value: SecretString, expires_at: DateTime<Utc>) -> Self {
        Self { value, expires_at }
    }

    pub fn secret(&self) -> &SecretString {
        &self.value
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    /// True when this and `other` are the same token (same value).
    pub fn same_as(&self, other: &AccessToken) -> bool {
        self.value.expose_secret() == other.value.expose_secret()
    }

    /// Usable for a request sent now: it does not expire within `safety` (the longest a request may take).
    pub fn usable_at(&self, now: DateTime<Utc>, safety: Duration) -> bool {
        chrono::Duration::from_std(safety).is_ok_and(|safety| now + safety < self.expires_at)
    }

    /// Due for a background refresh: it expires within `ahead`.
    pub fn refresh_due_at(&self, now: DateTime<Utc>, ahead: Duration) -> bool {
        !self.usable_at(now, ahead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_usable_until_its_safety_margin_and_due_before() {
        let now = Utc::now();
        let token = AccessToken::new("t".to_owned().into(), now + chrono::Duration::seconds(60));
        assert!(token.usable_at(now, Duration::from_secs(5)));
        assert!(!token.usable_at(now + chrono::Duration::seconds(56), Duration::from_secs(5)));
        assert!(!token.refresh_due_at(now, Duration::from_secs(30)));
        assert!(token.refresh_due_at(now + chrono::Duration::seconds(31), Duration::from_secs(30)));
    }

    #[test]
    fn debug_output_never_shows_the_value() {
        let token = AccessToken::new("super-secret".to_owned().into(), Utc::now());
        assert!(!format!("{token:?}").contains("super-secret"));
    }
}
