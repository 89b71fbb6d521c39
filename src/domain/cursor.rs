//! Opaque, signed page cursors.
//!
//! A cursor carries the last position of a page and an HMAC-SHA256 tag over that position *and* the canonical
//! filters and sort of the query it came from. Changing any byte, or replaying it with other filters or another
//! sort, fails verification. The position is not secret (it is a value the page showed); the tag is what makes
//! the cursor tamper-proof.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::catalogue::ProductId;
use super::order::{Sort, SortField, SortPosition, SortValue};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the HMAC tag kept in a cursor: 128 bits is far beyond guessing.
const TAG_LEN: usize = 16;
/// A name is at most 200 bytes, so no honest cursor is longer than this.
const MAX_CURSOR_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("it is not a cursor this service issued")]
    Malformed,
    #[error("it was altered or belongs to other filters or another sort")]
    BadSignature,
}

/// Signs and verifies cursors with one secret. Instances behind one load balancer must share the secret.
#[derive(Clone)]
pub struct CursorCodec {
    key: Vec<u8>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec(..)")
    }
}

impl CursorCodec {
    pub fn new(secret: &[u8]) -> Self {
        Self { key: secret.to_vec() }
    }

    fn tag(&self, binding: &str, payload: &[u8]) -> HmacSha256 {
        // Hmac accepts keys of any length, so this cannot fail; an empty key still yields a valid MAC.
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
        mac.update(&(binding.len() as u64).to_be_bytes());
        mac.update(binding.as_bytes());
        mac.update(payload);
        mac
    }

    /// The cursor for the page after `position`, bound to `binding` (the canonical filters and sort).
    pub fn encode(&self, position: &SortPosition, binding: &str) -> String {
        let mut bytes = match &position.value {
            SortValue::CreatedAt(t) => t.to_string(),
            SortValue::Price(p) => p.to_string(),
            SortValue::Name(n) => n.clone(),
        }
        .into_bytes();
        bytes.push(0);
        bytes.extend_from_slice(position.id.get().to_string().as_bytes());
        let tag = self.tag(binding, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The position a cursor carries, when it was issued for exactly this sort and binding.
    ///
    /// # Errors
    /// `Malformed` when the text is not a cursor at all, `BadSignature` when it was altered or issued for other
    /// filters or another sort.
    pub fn decode(&self, token: &str, sort: Sort, binding: &str) -> Result<SortPosition, CursorError> {
        if token.is_empty() || token.len() > MAX_CURSOR_LEN {
            return Err(CursorError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| CursorError::Malformed)?;
        let split = bytes.len().checked_sub(TAG_LEN).ok_or(CursorError::Malformed)?;
        let (payload, tag) = bytes.split_at(split);
        self.tag(binding, payload).verify_truncated_left(tag).map_err(|_| CursorError::BadSignature)?;
        // Verified: the payload is one this codec wrote for this sort, so parsing can only fail on a bug.
        let zero = payload.iter().rposition(|b| *b == 0).ok_or(CursorError::Malformed)?;
        let value = std::str::from_utf8(&payload[..zero]).map_err(|_| CursorError::Malformed)?;
        let id = std::str::from_utf8(&payload[zero + 1..])
            .ok()
            .and_then(|s| s.parse().ok())
            .and_then(|n| ProductId::new(n).ok())
            .ok_or(CursorError::Malformed)?;
        let value = match sort.field {
            SortField::CreatedAt => SortValue::CreatedAt(value.parse().map_err(|_| CursorError::Malformed)?),
            SortField::Price => SortValue::Price(value.parse().map_err(|_| CursorError::Malformed)?),
            SortField::Name => SortValue::Name(value.to_owned()),
        };
        Ok(SortPosition { value, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> SortPosition {
        SortPosition {
            value: SortValue::Name("Organic Tomatoes".into()),
            id: ProductId::new(42).unwrap_or_else(|_| unreachable!()),
        }
    }

    const NAME: Sort = Sort { field: SortField::Name, descending: false };

    #[test]
    fn a_cursor_round_trips_for_its_own_query() {
        let codec = CursorCodec::new(b"secret");
        let token = codec.encode(&position(), "sort=name");
        assert_eq!(codec.decode(&token, NAME, "sort=name"), Ok(position()));
    }

    #[test]
    fn changing_any_character_is_refused() {
        let codec = CursorCodec::new(b"secret");
        let token = codec.encode(&position(), "sort=name");
        for i in 0..token.len() {
            for replacement in ['A', 'z', '-', '_', '0'] {
                let mut altered: Vec<char> = token.chars().collect();
                if altered[i] == replacement {
                    continue;
                }
                altered[i] = replacement;
                let altered: String = altered.into_iter().collect();
                assert!(codec.decode(&altered, NAME, "sort=name").is_err(), "altered at {i}: {altered}");
            }
        }
    }

    #[test]
    fn a_cursor_replayed_with_other_filters_or_sort_is_refused() {
        let codec = CursorCodec::new(b"secret");
        let token = codec.encode(&position(), "sort=name");
        let desc = Sort { field: SortField::Name, descending: true };
        assert_eq!(codec.decode(&token, desc, "sort=-name"), Err(CursorError::BadSignature));
        assert_eq!(codec.decode(&token, NAME, "sort=name&category=dairy"), Err(CursorError::BadSignature));
    }

    #[test]
    fn a_cursor_from_another_secret_is_refused() {
        let token = CursorCodec::new(b"one").encode(&position(), "sort=name");
        assert_eq!(CursorCodec::new(b"two").decode(&token, NAME, "sort=name"), Err(CursorError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed() {
        let codec = CursorCodec::new(b"secret");
        for bad in ["", "!!!", "abc", &"A".repeat(600)] {
            assert_eq!(codec.decode(bad, NAME, "sort=name"), Err(CursorError::Malformed), "{bad}");
        }
    }
}
