use super::*;
use crate::domain::{ProductId, SortValue};

fn codec() -> CursorCodec {
    CursorCodec::new(b"test-secret")
}

fn parse(raw: RawProductQuery) -> Result<ProductQuery, QueryError> {
    ProductQuery::parse(&raw, &codec())
}

fn invalid_parameter(raw: RawProductQuery) -> Option<&'static str> {
    match parse(raw) {
        Err(QueryError::Invalid { parameter, .. }) => Some(parameter),
        _ => None,
    }
}

#[test]
fn no_parameters_means_newest_first_twenty_per_page() {
    let query = parse(RawProductQuery::default()).expect("empty query is valid");
    assert_eq!(query.sort, Sort::DEFAULT);
    assert_eq!(query.sort.as_str(), "-created_at");
    assert_eq!(query.limit.get(), 20);
    assert_eq!(query.filter, ProductFilter::default());
    assert_eq!(query.to_list_query().fetch, 21);
}

#[test]
fn every_sort_order_parses_and_prints_back() {
    for sort in Sort::ALL {
        assert_eq!(Sort::parse(sort.as_str()), Some(sort));
    }
    for bad in ["", "-", "price ", "PRICE", "--price", "id", "+price"] {
        assert_eq!(Sort::parse(bad), None, "{bad}");
        assert_eq!(invalid_parameter(RawProductQuery { sort: Some(bad.into()), ..Default::default() }), Some("sort"));
    }
}

#[test]
fn limit_is_one_to_one_hundred() {
    for ok in [1, 20, 100] {
        assert_eq!(
            parse(RawProductQuery { limit: Some(ok), ..Default::default() }).map(|q| q.limit.get() as i64),
            Ok(ok)
        );
    }
    for bad in [0, -1, 101, i64::MAX] {
        assert_eq!(invalid_parameter(RawProductQuery { limit: Some(bad), ..Default::default() }), Some("limit"));
    }
}

#[test]
fn prices_are_non_negative_and_min_at_most_max() {
    assert!(parse(RawProductQuery { min_price: Some(0), max_price: Some(0), ..Default::default() }).is_ok());
    assert!(parse(RawProductQuery { min_price: Some(100), max_price: Some(100), ..Default::default() }).is_ok());
    assert_eq!(invalid_parameter(RawProductQuery { min_price: Some(-1), ..Default::default() }), Some("min_price"));
    assert_eq!(invalid_parameter(RawProductQuery { max_price: Some(-1), ..Default::default() }), Some("max_price"));
    let inverted = RawProductQuery { min_price: Some(101), max_price: Some(100), ..Default::default() };
    assert_eq!(invalid_parameter(inverted), Some("min_price"));
}

#[test]
fn category_follows_the_slug_rule() {
    assert!(parse(RawProductQuery { category: Some("vegetables".into()), ..Default::default() }).is_ok());
    for bad in ["", "Vegetables", "a b", &"x".repeat(33)] {
        assert_eq!(
            invalid_parameter(RawProductQuery { category: Some(bad.into()), ..Default::default() }),
            Some("category")
        );
    }
}

#[test]
fn search_text_is_two_to_one_hundred_characters_with_a_word() {
    for ok in ["ab", "tomato", &"a".repeat(100), "दूध मलाई"] {
        assert!(parse(RawProductQuery { q: Some(ok.into()), ..Default::default() }).is_ok(), "{ok}");
    }
    for bad in ["", "a", &"a".repeat(101), "!!", "a b", "aa bb cc dd ee ff gg hh ii"] {
        assert_eq!(
            invalid_parameter(RawProductQuery { q: Some(bad.into()), ..Default::default() }),
            Some("q"),
            "{bad}"
        );
    }
}

#[test]
fn a_cursor_is_valid_only_with_its_own_filters_and_sort() {
    let query =
        parse(RawProductQuery { category: Some("dairy".into()), sort: Some("price".into()), ..Default::default() })
            .expect("valid query");
    let position = SortPosition { value: SortValue::Price(4500), id: ProductId::new(7).expect("positive id") };
    let token = codec().encode(&position, &query.binding());
    let same = RawProductQuery {
        category: Some("dairy".into()),
        sort: Some("price".into()),
        limit: Some(50),
        cursor: Some(token.clone()),
        ..Default::default()
    };
    assert_eq!(parse(same).map(|q| q.after), Ok(Some(position)));
    for other in [
        RawProductQuery { category: Some("fruits".into()), sort: Some("price".into()), ..Default::default() },
        RawProductQuery { category: Some("dairy".into()), sort: Some("-price".into()), ..Default::default() },
        RawProductQuery {
            category: Some("dairy".into()),
            sort: Some("price".into()),
            min_price: Some(1),
            ..Default::default()
        },
        RawProductQuery { sort: Some("price".into()), ..Default::default() },
    ] {
        let replay = RawProductQuery { cursor: Some(token.clone()), ..other };
        assert!(matches!(parse(replay), Err(QueryError::InvalidCursor(_))));
    }
}
