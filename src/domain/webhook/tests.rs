use super::*;

/// The example of the Standard Webhooks specification.
const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TIMESTAMP: i64 = 1_614_265_330;
const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn spec_secret() -> WebhookSecret {
    WebhookSecret::parse(SPEC_SECRET).expect("the specification's secret parses")
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("valid timestamp")
}

/// The service clock of the event tests: 2026-01-02T03:04:05Z.
const NOW: i64 = 1_767_323_045;

fn parse_event_now(body: &[u8]) -> Result<ParsedEvent, MalformedEvent> {
    parse_event(body, at(NOW))
}

fn stock(delta: &str) -> String {
    format!(r#"{{"type":"product.stock_adjusted","data":{{"product_id":1,"delta":{delta}}}}}"#)
}

fn price(effective_at: &str) -> String {
    format!(
        r#"{{"type":"product.price_updated","data":{{"product_id":1,"price_paise":5000,"effective_at":"{effective_at}"}}}}"#
    )
}

#[test]
fn the_specification_example_signs_and_verifies() {
    assert_eq!(spec_secret().sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY), SPEC_SIGNATURE);
    let verified = verify(&[spec_secret()], SPEC_ID, "1614265330", SPEC_SIGNATURE, SPEC_BODY, at(SPEC_TIMESTAMP));
    assert_eq!(verified.map(|id| id.as_str().to_owned()), Ok(SPEC_ID.to_owned()));
}

#[test]
fn any_secret_of_a_rotation_and_any_signature_in_the_header_may_match() {
    let other = WebhookSecret::parse("whsec_c2VjcmV0LWtleS1vZi1zaXh0ZWVu").expect("valid secret");
    let header = format!("v1,bm90LWEtc2lnbmF0dXJl {SPEC_SIGNATURE}");
    let secrets = [other, spec_secret()];
    assert!(verify(&secrets, SPEC_ID, "1614265330", &header, SPEC_BODY, at(SPEC_TIMESTAMP)).is_ok());
}

#[test]
fn a_changed_body_id_timestamp_or_signature_is_refused() {
    let now = at(SPEC_TIMESTAMP);
    let secrets = [spec_secret()];
    let refused = |id: &str, ts: &str, sig: &str, body: &[u8]| verify(&secrets, id, ts, sig, body, now).is_err();
    assert!(refused(SPEC_ID, "1614265330", SPEC_SIGNATURE, br#"{"test": 2432232315}"#));
    assert!(refused("msg_other", "1614265330", SPEC_SIGNATURE, SPEC_BODY));
    assert!(refused(SPEC_ID, "1614265331", SPEC_SIGNATURE, SPEC_BODY));
    assert!(refused(SPEC_ID, "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=", SPEC_BODY));
    assert!(refused(SPEC_ID, "1614265330", "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", SPEC_BODY));
    assert!(refused(SPEC_ID, "1614265330", "", SPEC_BODY));
}

#[test]
fn timestamps_more_than_five_minutes_off_are_refused_either_way() {
    let secrets = [spec_secret()];
    let check = |now: i64| verify(&secrets, SPEC_ID, "1614265330", SPEC_SIGNATURE, SPEC_BODY, at(now));
    assert!(check(SPEC_TIMESTAMP + 300).is_ok());
    assert!(check(SPEC_TIMESTAMP - 300).is_ok());
    assert_eq!(check(SPEC_TIMESTAMP + 301), Err(SignatureError::StaleTimestamp));
    assert_eq!(check(SPEC_TIMESTAMP - 301), Err(SignatureError::StaleTimestamp));
}

#[test]
fn missing_or_unreadable_headers_are_refused() {
    let secrets = [spec_secret()];
    let now = at(SPEC_TIMESTAMP);
    assert_eq!(verify(&secrets, "", "1614265330", SPEC_SIGNATURE, SPEC_BODY, now), Err(SignatureError::MissingHeaders));
    assert_eq!(verify(&secrets, SPEC_ID, "soon", SPEC_SIGNATURE, SPEC_BODY, now), Err(SignatureError::MissingHeaders));
}

#[test]
fn secrets_must_be_whsec_base64_of_sixteen_bytes_or_more() {
    assert!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
    assert!(WebhookSecret::parse("whsec_not base64!").is_err());
    assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_err());
    assert_eq!(spec_secret().to_whsec(), SPEC_SECRET);
}

#[test]
fn events_of_both_handled_types_parse() {
    let stock = parse_event_now(br#"{"type":"product.stock_adjusted","data":{"product_id":123,"delta":-3}}"#);
    assert!(matches!(stock, Ok(ParsedEvent::Handled(InventoryChange::StockAdjusted { delta: -3, .. }))));
    let price = parse_event_now(
        br#"{"type":"product.price_updated","data":{"product_id":123,"price_paise":5000,"effective_at":"2026-01-02T03:04:05Z"}}"#,
    );
    match price {
        Ok(ParsedEvent::Handled(InventoryChange::PriceUpdated { price, effective_at, .. })) => {
            assert_eq!(price.paise(), 5000);
            assert_eq!(effective_at.timestamp(), 1_767_323_045);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn unknown_types_are_ignored_and_bad_bodies_are_malformed() {
    assert_eq!(
        parse_event_now(br#"{"type":"producer.joined","data":{}}"#),
        Ok(ParsedEvent::Ignored { event_type: "producer.joined".into() })
    );
    for bad in [
        &br#"not json"#[..],
        br#"{"data":{}}"#,
        br#"{"type":"product.stock_adjusted","data":{"product_id":0,"delta":1}}"#,
        br#"{"type":"product.stock_adjusted","data":{"product_id":1,"delta":0}}"#,
        br#"{"type":"product.stock_adjusted","data":{"product_id":1,"delta":"3"}}"#,
        br#"{"type":"product.price_updated","data":{"product_id":1,"price_paise":-5,"effective_at":"2026-01-02T03:04:05Z"}}"#,
        br#"{"type":"product.price_updated","data":{"product_id":1,"price_paise":5}}"#,
    ] {
        assert!(parse_event_now(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn a_delta_beyond_a_million_either_way_is_malformed_even_at_the_integer_limits() {
    for delta in ["-9223372036854775808", "9223372036854775807", "-1000001", "1000001"] {
        assert!(parse_event_now(stock(delta).as_bytes()).is_err(), "delta {delta}");
    }
    for delta in [-1_000_000, 1_000_000, -1, 1] {
        let parsed = parse_event_now(stock(&delta.to_string()).as_bytes());
        assert!(
            matches!(parsed, Ok(ParsedEvent::Handled(InventoryChange::StockAdjusted { delta: d, .. })) if d == delta),
            "delta {delta}: {parsed:?}"
        );
    }
}

#[test]
fn a_key_repeated_anywhere_in_the_body_is_malformed() {
    for body in [
        &br#"{"type":"product.stock_adjusted","data":{"product_id":1,"delta":5,"delta":-5}}"#[..],
        br#"{"type":"product.stock_adjusted","data":{"product_id":1,"product_id":2,"delta":5}}"#,
        br#"{"type":"product.stock_adjusted","data":{"product_id":1,"delta":5},"data":{"product_id":2,"delta":5}}"#,
        br#"{"type":"product.price_updated","type":"product.stock_adjusted","data":{"product_id":1,"delta":5}}"#,
        br#"{"type":"product.price_updated","data":{"product_id":1,"price_paise":5,"price_paise":7,"effective_at":"2026-01-02T03:04:05Z"}}"#,
        br#"{"type":"producer.joined","data":{"producer":{"id":1,"id":2}}}"#,
    ] {
        let parsed = parse_event_now(body);
        assert!(parsed.is_err(), "{}: {parsed:?}", String::from_utf8_lossy(body));
    }
}

#[test]
fn an_effective_at_more_than_five_minutes_ahead_of_the_clock_is_malformed() {
    assert!(parse_event_now(price("2026-01-02T03:09:05Z").as_bytes()).is_ok(), "exactly 5 minutes ahead");
    for future in ["2026-01-02T03:09:06Z", "2027-01-01T00:00:00Z", "9999-12-31T23:59:59Z"] {
        assert!(parse_event_now(price(future).as_bytes()).is_err(), "{future}");
    }
}

#[test]
fn an_effective_at_long_past_is_an_old_update_not_a_malformed_one() {
    // An older price is recorded without overwriting a newer one (DESIGN §2): nothing absurd happens to it.
    for past in ["2026-01-02T03:04:05Z", "1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z"] {
        assert!(parse_event_now(price(past).as_bytes()).is_ok(), "{past}");
    }
}
