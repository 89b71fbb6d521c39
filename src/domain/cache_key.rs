//! Canonical cache keys: equal queries share one key however they were spelled, and unknown parameters never
//! reach it.

use super::query::ProductQuery;

/// Bump when the cached listing body changes shape, so old entries are never read by new code.
const LISTING_VERSION: &str = "v1";

/// The key of one listing page: the canonical filters and sort, the page size and the raw cursor.
pub fn listing(query: &ProductQuery, cursor: Option<&str>) -> String {
    let mut key = format!("products:{LISTING_VERSION}:{}&limit={}", query.binding(), query.limit.get());
    if let Some(cursor) = cursor {
        key.push_str("&cursor=");
        key.push_str(cursor);
    }
    key
}

/// The key of the category list.
pub fn categories() -> &'static str {
    "categories:v1"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CursorCodec, RawProductQuery};

    fn key(raw: RawProductQuery) -> String {
        let query = ProductQuery::parse(&raw, &CursorCodec::new(b"k")).unwrap_or_else(|e| panic!("{e}"));
        listing(&query, raw.cursor.as_deref())
    }

    #[test]
    fn spelling_of_equal_queries_does_not_change_the_key() {
        let a = key(RawProductQuery { q: Some("Organic  tomato".into()), ..Default::default() });
        let b = key(RawProductQuery {
            q: Some("organic TOMATO organic".into()),
            sort: Some("-created_at".into()),
            limit: Some(20),
            ..Default::default()
        });
        assert_eq!(a, b);
    }

    #[test]
    fn every_parameter_that_changes_the_answer_changes_the_key() {
        let base = key(RawProductQuery::default());
        let variants = [
            RawProductQuery { category: Some("dairy".into()), ..Default::default() },
            RawProductQuery { min_price: Some(1), ..Default::default() },
            RawProductQuery { max_price: Some(1), ..Default::default() },
            RawProductQuery { q: Some("milk".into()), ..Default::default() },
            RawProductQuery { sort: Some("price".into()), ..Default::default() },
            RawProductQuery { limit: Some(5), ..Default::default() },
        ];
        let keys: std::collections::HashSet<String> = variants.into_iter().map(key).collect();
        assert_eq!(keys.len(), 6);
        assert!(!keys.contains(&base));
    }
}
