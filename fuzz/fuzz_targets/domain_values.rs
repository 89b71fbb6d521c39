//! The validated values a request carries (category slug, pincode, search text, page size, sort, webhook id
//! and secret): any text is refused or accepted without a panic, and what is accepted reads back as given.
#![no_main]

use arbitrary::Arbitrary;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use farmlokal::domain::webhook::{WebhookId, WebhookSecret};
use farmlokal::domain::{CategorySlug, Limit, Pincode, SearchText, Sort};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    text: String,
    number: i64,
    key: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let text = input.text.as_str();
    if let Ok(slug) = CategorySlug::parse(text) {
        assert_eq!(slug.as_str(), text);
        assert!((1..=32).contains(&text.len()));
        assert!(text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{text:?}");
    }
    if let Ok(pincode) = Pincode::parse(text) {
        assert_eq!(pincode.as_str(), text);
        assert!(text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0'), "{text:?}");
    }
    if let Ok(search) = SearchText::parse(text) {
        assert!((2..=100).contains(&text.chars().count()), "{text:?}");
        assert!(!search.terms().is_empty());
        assert_eq!(SearchText::parse(text), Ok(search), "parsing is deterministic");
    }
    if let Some(sort) = Sort::parse(text) {
        assert_eq!(sort.as_str(), text);
        assert_eq!(Sort::parse(sort.as_str()), Some(sort));
    }
    if let Ok(limit) = Limit::new(input.number) {
        assert!((1..=100).contains(&limit.get()));
        assert_eq!(limit.get() as i64, input.number);
    }
    if let Ok(id) = WebhookId::parse(text) {
        assert_eq!(id.as_str(), text);
    }
    if let Ok(secret) = WebhookSecret::parse(text) {
        let again = WebhookSecret::parse(&secret.to_whsec()).expect("a rendered secret parses");
        assert_eq!(again.to_whsec(), secret.to_whsec());
    }
    if input.key.len() >= 16 {
        // A secret made of any key of 16 bytes or more renders to text that parses back to it.
        let raw = format!("whsec_{}", STANDARD.encode(&input.key));
        let secret = WebhookSecret::parse(&raw).expect("a well-formed secret parses");
        assert_eq!(secret.to_whsec(), raw);
    }
});
