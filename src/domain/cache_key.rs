//! Canonical cache keys: equal queries share one key however they were spelled, and unknown parameters never
//! reach it.

use super::query::ProductQuery;
use super::summary::Include;

/// Bump when the cached listing body changes shape, so old entries are never read by new code.
const LISTING_VERSION: &str = "v1";

/// The key of one listing page: the canonical filters and sort, the page size and the raw cursor.
pub fn listing(query: &ProductQuery, cursor: Option<&str>) -> String {
    listing_with(query, Include::default(), cursor)
}

/// The key of one listing page with what `include` adds to its body (totals and facets are cached with it).
pub fn listing_with(query: &ProductQuery, include: Include, cursor: Option<&str>) -> String {
    let mut key = format!("products:{LISTING_VERSION}:{}&limit={}", query.binding(), query.limit.get());
    if include.any() {
        key.push_str("&include=");
        key.push_str(include.canonical());
    }
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
    use crate::domain::{CategorySlug, CursorCodec, Limit, Money, ProductFilter, SearchText, Sort};

    fn key(filter: ProductFilter, sort: Sort, limit: Limit) -> String {
        let query =
            ProductQuery::new(filter, sort, limit, None, &CursorCodec::new(b"k")).expect("a query without a cursor");
        listing(&query, None)
    }

    /// The filters of these parameters, built as the HTTP layer builds them.
    fn filter(category: Option<&str>, min: Option<u64>, max: Option<u64>, q: Option<&str>) -> ProductFilter {
        let category = category.map(|c| CategorySlug::parse(c).expect("a valid slug"));
        let money = |p: Option<u64>| p.map(|p| Money::from_paise(p).expect("a valid price"));
        let search = q.map(|q| SearchText::parse(q).expect("a valid search"));
        ProductFilter::new(category, money(min), money(max), search).expect("a valid price range")
    }

    fn search(q: &str) -> ProductFilter {
        filter(None, None, None, Some(q))
    }

    #[test]
    fn spelling_of_equal_queries_does_not_change_the_key() {
        let a = key(search("Organic  tomato"), Sort::DEFAULT, Limit::default());
        let newest_first = Sort::parse("-created_at").expect("a sort");
        let b = key(search("organic TOMATO organic"), newest_first, Limit::new(20).expect("a limit"));
        assert_eq!(a, b);
    }

    #[test]
    fn every_parameter_that_changes_the_answer_changes_the_key() {
        let none = ProductFilter::default;
        let (sort, limit) = (Sort::DEFAULT, Limit::default());
        let base = key(none(), sort, limit);
        let price = Sort::parse("price").expect("a sort");
        let variants = [
            (filter(Some("dairy"), None, None, None), sort, limit),
            (filter(None, Some(1), None, None), sort, limit),
            (filter(None, None, Some(1), None), sort, limit),
            (search("milk"), sort, limit),
            (none(), price, limit),
            (none(), sort, Limit::new(5).expect("a limit")),
        ];
        let keys: std::collections::HashSet<String> =
            variants.into_iter().map(|(filter, sort, limit)| key(filter, sort, limit)).collect();
        assert_eq!(keys.len(), 6);
        assert!(!keys.contains(&base));
    }
}
