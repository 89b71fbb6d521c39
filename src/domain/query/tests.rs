use super::*;
use crate::domain::{ProductId, SortField, SortValue};

const PRICE: Sort = Sort { field: SortField::Price, descending: false };
const PRICE_DESCENDING: Sort = Sort { field: SortField::Price, descending: true };

fn codec() -> CursorCodec {
    CursorCodec::new(b"test-secret")
}

fn money(paise: u64) -> Money {
    Money::from_paise(paise).expect("test prices are valid")
}

fn slug(s: &str) -> CategorySlug {
    CategorySlug::parse(s).expect("test slugs are valid")
}

fn category(s: &str) -> ProductFilter {
    ProductFilter::new(Some(slug(s)), None, None, None).expect("a filter without prices is valid")
}

const BAD_SORTS: [&str; 7] = ["", "-", "price ", "PRICE", "--price", "id", "+price"];
const BAD_LIMITS: [i64; 4] = [0, -1, 101, i64::MAX];

fn bad_categories() -> Vec<String> {
    vec!["".into(), "Vegetables".into(), "a b".into(), "x".repeat(33)]
}

fn good_searches() -> Vec<String> {
    vec!["ab".into(), "tomato".into(), "a".repeat(100), "दूध मलाई".into()]
}

/// Each text a search refuses, with why.
fn bad_searches() -> Vec<(String, SearchTextError)> {
    vec![
        ("".into(), SearchTextError::Length),
        ("a".into(), SearchTextError::Length),
        ("a".repeat(101), SearchTextError::Length),
        ("!!".into(), SearchTextError::NoWord),
        ("a b".into(), SearchTextError::NoWord),
        ("aa bb cc dd ee ff gg hh ii".into(), SearchTextError::TooManyWords),
    ]
}

#[test]
fn the_default_query_is_newest_first_twenty_per_page() {
    let query = ProductQuery::new(ProductFilter::default(), Sort::DEFAULT, Limit::default(), None, &codec())
        .expect("the default query is valid");
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
    for bad in BAD_SORTS {
        assert_eq!(Sort::parse(bad), None, "{bad}");
    }
}

#[test]
fn limit_is_one_to_one_hundred() {
    for ok in [1, 20, 100] {
        assert_eq!(Limit::new(ok).map(|l| l.get() as i64), Ok(ok));
    }
    for bad in BAD_LIMITS {
        assert_eq!(Limit::new(bad), Err(LimitError::OutOfRange), "{bad}");
    }
    assert_eq!(LimitError::OutOfRange.to_string(), "limit must be between 1 and 100");
}

#[test]
fn prices_are_non_negative_and_min_at_most_max() {
    assert!(ProductFilter::new(None, Some(money(0)), Some(money(0)), None).is_ok());
    assert!(ProductFilter::new(None, Some(money(100)), Some(money(100)), None).is_ok());
    assert!(Money::from_signed_paise(-1).is_err());
    assert_eq!(
        ProductFilter::new(None, Some(money(101)), Some(money(100)), None),
        Err(QueryError::Invalid { parameter: "min_price", reason: "min_price must not exceed max_price".into() })
    );
}

#[test]
fn category_follows_the_slug_rule() {
    assert!(CategorySlug::parse("vegetables").is_ok());
    for bad in bad_categories() {
        assert!(CategorySlug::parse(&bad).is_err(), "{bad}");
    }
}

#[test]
fn search_text_is_two_to_one_hundred_characters_with_a_word() {
    for ok in good_searches() {
        assert!(SearchText::parse(&ok).is_ok(), "{ok}");
    }
    for (bad, why) in bad_searches() {
        assert_eq!(SearchText::parse(&bad), Err(why), "{bad}");
    }
    assert_eq!(SearchTextError::Length.to_string(), "q must be 2 to 100 characters");
    assert_eq!(
        SearchTextError::NoWord.to_string(),
        "q must contain a word of at least two letters or digits; a single letter (such as क) is not a word"
    );
    assert_eq!(SearchText::parse("ा ि"), Err(SearchTextError::OnlyMarks), "marks without a letter");
    assert_eq!(SearchText::parse("क ख"), Err(SearchTextError::NoWord), "single Devanagari letters");
    assert!(SearchText::parse("घी").is_ok(), "a two-letter Devanagari word");
    assert_eq!(SearchTextError::TooManyWords.to_string(), "q may contain at most 8 distinct words");
}

#[test]
fn a_cursor_is_valid_only_with_its_own_filters_and_sort() {
    let query = ProductQuery::new(category("dairy"), PRICE, Limit::default(), None, &codec()).expect("valid query");
    let position = SortPosition { value: SortValue::Price(4500), id: ProductId::new(7).expect("positive id") };
    let token = codec().encode(&position, &query.binding());
    let limit = Limit::new(50).expect("valid limit");
    let same = ProductQuery::new(category("dairy"), PRICE, limit, Some(&token), &codec());
    assert_eq!(same.map(|q| q.after), Ok(Some(position)));
    for (filter, sort) in [
        (category("fruits"), PRICE),
        (category("dairy"), PRICE_DESCENDING),
        (ProductFilter::new(Some(slug("dairy")), Some(money(1)), None, None).expect("valid filter"), PRICE),
        (ProductFilter::default(), PRICE),
    ] {
        let replay = ProductQuery::new(filter, sort, Limit::default(), Some(&token), &codec());
        assert!(matches!(replay, Err(QueryError::InvalidCursor(_))));
    }
}
