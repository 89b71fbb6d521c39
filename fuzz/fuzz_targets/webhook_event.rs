//! Verified webhook bodies: any bytes are refused or parsed without a panic; an accepted event keeps the rules
//! (a non-zero delta within ±10^6, a price in range, an `effective_at` not ahead of the clock beyond the
//! tolerance), and rendering it back into the documented JSON parses to the same event.
#![no_main]

use chrono::{DateTime, Utc};
use farmlokal::domain::webhook::{parse_event, InventoryChange, ParsedEvent, MAX_STOCK_DELTA};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|body: &[u8]| {
    let now = DateTime::<Utc>::from_timestamp(1_780_000_000, 0).expect("a valid time");
    let Ok(parsed) = parse_event(body, now) else { return };
    let ParsedEvent::Handled(change) = parsed else { return };
    let rendered = match &change {
        InventoryChange::StockAdjusted { product_id, delta } => {
            assert!(*delta != 0 && (-MAX_STOCK_DELTA..=MAX_STOCK_DELTA).contains(delta), "delta {delta}");
            json!({"type": "product.stock_adjusted", "data": {"product_id": product_id.get(), "delta": delta}})
        }
        InventoryChange::PriceUpdated { product_id, price, effective_at } => {
            assert!(*effective_at <= now + chrono::Duration::minutes(5), "effective_at {effective_at}");
            let data = json!({"product_id": product_id.get(), "price_paise": price.paise(), "effective_at": effective_at.to_rfc3339()});
            json!({"type": "product.price_updated", "data": data})
        }
    };
    let again = parse_event(rendered.to_string().as_bytes(), now);
    assert_eq!(again, Ok(ParsedEvent::Handled(change)), "round trip through {rendered}");
});
