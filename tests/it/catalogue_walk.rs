//! Walking every page of a listing over HTTP, for each of the six sort orders, with and without every filter,
//! against an independent brute force written from DESIGN §2: the union of the pages is exactly the matching
//! products, in order, each once; `has_more`, `next_cursor` and `Link` agree, and `Link` leads where the cursor does.

use std::cmp::Ordering;

use farmlokal::adapters::sample;
use farmlokal::domain::Product;
use poem::http::StatusCode;
use serde_json::json;

use crate::harness::oracle::{encode, words, Filter, SORTS, STOPWORDS};
use crate::harness::{spawn_app, TestApp, World};

/// Products in the sample catalogue: large enough for ties on every sort column.
const N: u64 = 2_000;

/// The URL inside `Link: <url>; rel="next"`.
fn link_target(link: &str) -> &str {
    let target = link.strip_suffix(">; rel=\"next\"").and_then(|l| l.strip_prefix('<'));
    target.unwrap_or_else(|| panic!("not a next link: {link}"))
}

/// Walks every page, checking at each step that `has_more`, `next_cursor` and `Link` agree, that a next page is
/// non-empty, and that the Link URL and the cursor lead to the same page. Returns the ids in the order served.
async fn walk(app: &TestApp, products: &[Product], filter: &Filter, sort: &str, limit: usize) -> Vec<u64> {
    let base = format!("/products?{}sort={sort}&limit={limit}", filter.query());
    let mut page = app.get(&base).await;
    let mut ids = Vec::new();
    for _ in 0..=products.len() + 1 {
        let context = format!("{base} after {} products", ids.len());
        assert_eq!(page.status, StatusCode::OK, "{context}: {}", String::from_utf8_lossy(&page.body));
        let body = page.json();
        let served = page.ids();
        assert!(served.len() <= limit, "{context}: page of {}", served.len());
        ids.extend(&served);
        let (has_more, cursor, link) = (body["has_more"].as_bool(), body["next_cursor"].as_str(), page.header("link"));
        assert_eq!(has_more, Some(cursor.is_some()), "{context}: has_more vs next_cursor");
        assert_eq!(cursor.is_some(), link.is_some(), "{context}: next_cursor vs Link");
        let (Some(cursor), Some(link)) = (cursor, link) else { return ids };
        assert_eq!(served.len(), limit, "{context}: a page followed by another is full");
        let by_cursor = app.get(&format!("{base}&cursor={}", encode(cursor))).await;
        let by_link = app.get(link_target(link)).await;
        assert_eq!(by_link.status, StatusCode::OK, "{context}: Link {link}");
        assert_eq!(by_link.json(), by_cursor.json(), "{context}: Link and next_cursor disagree");
        assert!(!by_cursor.ids().is_empty(), "{context}: has_more promised a non-empty page");
        page = by_cursor;
    }
    panic!("{base}: more pages than products");
}

async fn assert_walks(world: &World, app: &TestApp, filter: Filter, limits: &[usize]) {
    for sort in SORTS {
        let expected = filter.expected(&world.sample, sort);
        assert!(!expected.is_empty(), "{filter:?} selects nothing: a vacuous walk");
        for &limit in limits {
            let served = walk(app, &world.sample, &filter, sort, limit).await;
            assert!(
                served == expected,
                "{filter:?} sort={sort} limit={limit}: served {} of {} in another order \
                or with duplicates; first difference at {:?}",
                served.len(),
                expected.len(),
                served.iter().zip(&expected).position(|(a, b)| a != b)
            );
        }
    }
}

#[tokio::test]
async fn walking_every_page_of_the_whole_catalogue_yields_each_product_once_in_every_sort_order() {
    let (world, app) = spawn_app(N).await;

    assert_walks(&world, &app, Filter::default(), &[7, 100]).await;
}

#[tokio::test]
async fn walking_every_page_of_one_category_yields_exactly_its_products_in_order() {
    let (world, app) = spawn_app(N).await;

    assert_walks(&world, &app, Filter { category: Some("dairy"), ..Filter::default() }, &[7, 100]).await;
    assert_walks(&world, &app, Filter { category: Some("pickles"), ..Filter::default() }, &[1, 7, 100]).await;
}

#[tokio::test]
async fn walking_every_page_within_price_bounds_yields_exactly_the_products_inside_them() {
    let (world, app) = spawn_app(N).await;

    assert_walks(&world, &app, Filter { min: Some(50_000), ..Filter::default() }, &[7, 100]).await;
    assert_walks(&world, &app, Filter { max: Some(4_000), ..Filter::default() }, &[7, 100]).await;
    assert_walks(&world, &app, Filter { min: Some(10_000), max: Some(15_000), ..Filter::default() }, &[7, 100]).await;
    assert_walks(&world, &app, Filter { min: Some(25_000), max: Some(25_000), ..Filter::default() }, &[1, 100]).await;
}

#[tokio::test]
async fn walking_every_page_of_a_search_yields_exactly_the_matching_products() {
    let (world, app) = spawn_app(N).await;

    assert_walks(&world, &app, Filter { q: Some("organic"), ..Filter::default() }, &[7, 100]).await;
    assert_walks(&world, &app, Filter { q: Some("Hoskote TOMAT"), ..Filter::default() }, &[1, 7]).await;
}

#[tokio::test]
async fn walking_every_page_of_combined_filters_yields_exactly_the_products_matching_all() {
    let (world, app) = spawn_app(N).await;
    let all = Filter {
        category: Some("vegetables"),
        min: Some(4_000),
        max: Some(9_000),
        q: Some("fresh"),
        in_stock: Some(true),
        ..Filter::default()
    };
    let price_and_search = Filter { min: Some(20_000), q: Some("milk"), ..Filter::default() };

    assert_walks(&world, &app, all, &[1, 7, 100]).await;
    assert_walks(&world, &app, price_and_search, &[7, 100]).await;
    assert_walks(&world, &app, Filter { category: Some("fruits"), max: Some(10_000), ..Filter::default() }, &[7]).await;
}

#[tokio::test]
async fn walking_every_page_of_a_hindi_romanised_or_kannada_search_yields_exactly_the_matching_products() {
    let (world, app) = spawn_app(N).await;

    for q in ["tamatar", "टमाटर", "ಟೊಮೆಟೊ", "doodh", "घी", "pyaaz", "aam ka achar"] {
        assert_walks(&world, &app, Filter { q: Some(q), ..Filter::default() }, &[7]).await;
    }
}

#[tokio::test]
async fn walking_every_page_of_an_in_stock_filter_yields_exactly_the_products_with_or_without_stock() {
    let (world, app) = spawn_app(N).await;

    assert_walks(&world, &app, Filter { in_stock: Some(false), ..Filter::default() }, &[1, 100]).await;
    let dairy_in_stock = Filter { category: Some("dairy"), in_stock: Some(true), ..Filter::default() };
    assert_walks(&world, &app, dairy_in_stock, &[7, 100]).await;
}

#[tokio::test]
async fn walking_every_page_with_totals_and_facets_yields_each_product_once_and_counts_them_exactly() {
    let (world, app) = spawn_app(N).await;
    let searches = [
        Filter { q: Some("tamatar"), include: Some("total,facets"), ..Filter::default() },
        Filter { category: Some("dairy"), q: Some("doodh"), include: Some("total"), ..Filter::default() },
        Filter { max: Some(9_000), in_stock: Some(true), include: Some("facets"), ..Filter::default() },
    ];

    for filter in searches {
        assert_walks(&world, &app, filter, &[7]).await;
        let page = app.get(&format!("/products?{}limit=5", filter.query())).await;
        let body = page.json();
        if filter.include.is_some_and(|i| i.contains("total")) {
            let want = filter.expected(&world.sample, "-created_at").len();
            assert_eq!(body["total"], json!({"value": want, "exact": true}), "{filter:?}");
        } else {
            assert!(body.get("total").is_none(), "{filter:?}: total only when asked for");
        }
        assert_eq!(body.get("facets").is_some(), filter.include.is_some_and(|i| i.contains("facets")), "{filter:?}");
    }
}

#[tokio::test]
async fn a_filter_that_matches_nothing_gives_one_empty_last_page() {
    let (_world, app) = spawn_app(N).await;

    for query in ["category=no-such-thing", "q=zzzzzz", "min_price=999999999"] {
        let page = app.get(&format!("/products?{query}")).await;

        assert_eq!(page.status, StatusCode::OK, "{query}");
        assert_eq!(page.json(), json!({"data": [], "next_cursor": null, "has_more": false}), "{query}");
        assert!(page.header("link").is_none(), "{query}");
    }
}

#[tokio::test]
async fn the_default_order_is_newest_first_with_twenty_products() {
    let (world, app) = spawn_app(N).await;

    let page = app.get("/products").await;

    assert_eq!(page.ids(), Filter::default().expected(&world.sample, "-created_at")[..20]);
}

#[tokio::test]
async fn a_search_requires_every_word_and_refuses_more_than_eight() {
    let (world, app) = spawn_app(N).await;
    let product = &world.sample[0];
    let mut eight: Vec<String> = Vec::new();
    for word in words(&product.name).chain(words(&product.description)) {
        if word.chars().count() >= 3 && !STOPWORDS.contains(&word.as_str()) && !eight.contains(&word) && eight.len() < 8
        {
            eight.push(word);
        }
    }
    let eight = eight.join(" ");

    let with_eight = app.get(&format!("/products?limit=100&q={}", encode(&eight))).await;
    let with_nine = app.get(&format!("/products?limit=100&q={}", encode(&format!("{eight} zzzz")))).await;

    assert!(with_eight.ids().contains(&product.id.get()), "{eight}");
    with_nine.assert_problem(400, "invalid_query");
}

/// Orders are total: no two products compare equal (used to check the oracle itself).
#[test]
fn the_oracle_orders_are_total_and_the_sample_has_ties_on_every_column() {
    let products: Vec<Product> = sample::products(N).collect();
    for sort in SORTS {
        let ids = Filter::default().expected(&products, sort);
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), products.len(), "{sort}");
    }
    let ties = |key: &dyn Fn(&Product) -> String| {
        let mut keys: Vec<String> = products.iter().map(key).collect();
        keys.sort();
        keys.windows(2).filter(|w| w[0].cmp(&w[1]) == Ordering::Equal).count()
    };
    assert!(ties(&|p| p.price.paise().to_string()) > 100);
    assert!(ties(&|p| p.name.clone()) > 100);
    assert!(ties(&|p| p.created_at.timestamp().to_string()) > 0);
}
