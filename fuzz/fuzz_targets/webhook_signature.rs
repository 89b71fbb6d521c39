//! The webhook signature headers: any `webhook-id`, `webhook-timestamp`, `webhook-signature` and body are
//! refused or verified without a panic; a delivery signed with a configured secret verifies, and the same
//! signature over another body, id or timestamp does not.
#![no_main]

use arbitrary::Arbitrary;
use chrono::{DateTime, Utc};
use farmlokal::domain::webhook::{verify, WebhookSecret};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    id: String,
    timestamp: String,
    signatures: String,
    body: Vec<u8>,
    key: [u8; 24],
    /// Seconds between the signing time and the receiving time.
    skew: i16,
    /// Where the good signature goes among the given ones.
    prefix_signatures: bool,
}

fuzz_target!(|input: Input| {
    let now = DateTime::<Utc>::from_timestamp(1_780_000_000, 0).expect("a valid time");
    let secret = WebhookSecret::parse(&format!("whsec_{}", to_base64(&input.key))).expect("a 24-byte key is valid");
    let secrets = [secret.clone()];

    // Outside headers and body, as they come: refused or verified, never a panic.
    let _ = verify(&secrets, &input.id, &input.timestamp, &input.signatures, &input.body, now);

    // Signed with the secret: accepted when the id is well formed and the time within five minutes.
    let sent_at = now.timestamp() + i64::from(input.skew);
    let good = secret.sign(&input.id, sent_at, &input.body);
    let header = if input.prefix_signatures {
        format!("{} {good}", input.signatures)
    } else {
        format!("{good} {}", input.signatures)
    };
    let verified = verify(&secrets, &input.id, &sent_at.to_string(), &header, &input.body, now);
    let id_ok = !input.id.is_empty() && input.id.len() <= 128 && input.id.bytes().all(|b| b.is_ascii_graphic());
    if id_ok && i64::from(input.skew).abs() <= 300 {
        assert_eq!(verified.map(|id| id.as_str().to_owned()), Ok(input.id.clone()));
        // The signature covers the body, the id and the timestamp.
        let mut other_body = input.body.clone();
        other_body.push(b'x');
        assert!(verify(&secrets, &input.id, &sent_at.to_string(), &good, &other_body, now).is_err());
        let other_id = format!("{}x", input.id);
        if other_id.len() <= 128 {
            assert!(verify(&secrets, &other_id, &sent_at.to_string(), &good, &input.body, now).is_err());
        }
        assert!(verify(&secrets, &input.id, &(sent_at + 1).to_string(), &good, &input.body, now).is_err());
    } else {
        assert!(verified.is_err(), "accepted id {:?} sent {}s off", input.id, input.skew);
    }
});

fn to_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
