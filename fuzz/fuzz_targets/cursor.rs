//! Page cursors: any text given as a cursor is refused or decoded without a panic; a cursor the codec wrote
//! decodes to the position it carries, for its own binding and sort only.
#![no_main]

use arbitrary::Arbitrary;
use farmlokal::domain::{CursorCodec, CursorError, ProductId, Sort, SortField, SortPosition, SortValue};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Value {
    CreatedAt(i64),
    Price(u64),
    Name(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    secret: Vec<u8>,
    token: String,
    descending: bool,
    binding: String,
    other_binding: String,
    value: Value,
    id: u64,
}

/// No honest cursor is longer than this (a product name is at most 200 bytes); the codec refuses longer text.
const MAX_CURSOR_LEN: usize = 512;

fuzz_target!(|input: Input| {
    let codec = CursorCodec::new(&input.secret);
    for field in [SortField::CreatedAt, SortField::Price, SortField::Name] {
        let sort = Sort { field, descending: input.descending };
        // Outside text: refused or decoded, never a panic.
        let _ = codec.decode(&input.token, sort, &input.binding);
    }

    let Ok(id) = ProductId::new(input.id) else { return };
    let (value, field) = match input.value {
        Value::CreatedAt(t) => (SortValue::CreatedAt(t), SortField::CreatedAt),
        Value::Price(p) => (SortValue::Price(p), SortField::Price),
        Value::Name(n) => (SortValue::Name(n), SortField::Name),
    };
    let position = SortPosition { value, id };
    let sort = Sort { field, descending: input.descending };
    let token = codec.encode(&position, &input.binding);

    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "not URL-safe: {token}");
    if token.len() <= MAX_CURSOR_LEN {
        assert_eq!(codec.decode(&token, sort, &input.binding), Ok(position.clone()), "round trip of {token}");
    } else {
        assert_eq!(codec.decode(&token, sort, &input.binding), Err(CursorError::Malformed));
    }
    if input.other_binding != input.binding {
        assert!(codec.decode(&token, sort, &input.other_binding).is_err(), "replayed under another binding");
    }
});
