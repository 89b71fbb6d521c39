//! DESIGN §8 over HTTP, in process over the in-memory adapters: the shapes of `total` and `facets`, their counts
//! against an independent brute force, the cache holding them with the page, and the 400s of bad `include`,
//! `in_stock` and `q` values. Walking pages with them lives in `catalogue_walk`.

use farmlokal::adapters::sample;
use serde_json::{json, Value};

use crate::harness::oracle::{encode, Filter};
use crate::harness::spawn_app;

const N: u64 = 2_000;

/// Price bucket edges as a client reads them off DESIGN §8: contiguous, from 0, the last without a `max`.
fn assert_buckets_cover_every_price(price: &[Value]) {
    assert_eq!(price.first().map(|b| &b["min"]), Some(&json!(0)), "{price:?}");
    assert_eq!(price.last().map(|b| &b["max"]), Some(&Value::Null), "{price:?}");
    for pair in price.windows(2) {
        assert_eq!(pair[0]["max"], pair[1]["min"], "buckets touch without overlap: {price:?}");
    }
}

#[tokio::test]
async fn totals_and_facets_count_every_filter_and_leave_out_their_own() {
    let (world, app) = spawn_app(N).await;
    let filter = Filter { category: Some("vegetables"), max: Some(9_000), in_stock: Some(true), ..Filter::default() };

    let page = app.get(&format!("/products?{}include=total,facets&limit=3", filter.query())).await;

    let body = page.json();
    let want = filter.expected(&world.sample, "price").len();
    assert_eq!(body["total"], json!({"value": want, "exact": true}));
    assert_eq!(body["data"].as_array().map(Vec::len), Some(3));
    let categories = body["facets"]["category"].as_array().cloned().unwrap_or_default();
    let mut slugs: Vec<&str> = sample::CATEGORIES.iter().map(|c| c.slug).collect();
    slugs.sort_unstable();
    assert_eq!(categories.iter().map(|c| c["value"].as_str().unwrap_or("?")).collect::<Vec<_>>(), slugs);
    for entry in &categories {
        let slug = entry["value"].as_str().unwrap_or_default();
        let other = Filter {
            category: Some(sample::CATEGORIES.iter().find(|c| c.slug == slug).map_or("?", |c| c.slug)),
            ..filter
        };
        let count = other.expected(&world.sample, "price").len();
        assert_eq!(entry, &json!({"value": slug, "count": count, "exact": true}), "category {slug}");
    }
    let price = body["facets"]["price"].as_array().cloned().unwrap_or_default();
    assert_buckets_cover_every_price(&price);
    let unpriced = Filter { max: None, ..filter };
    for bucket in &price {
        let (min, max) = (bucket["min"].as_u64().unwrap_or(0), bucket["max"].as_u64());
        let count = world
            .sample
            .iter()
            .filter(|p| unpriced.admits(p) && p.price.paise() >= min && max.is_none_or(|m| p.price.paise() < m))
            .count();
        assert_eq!(bucket["count"], json!(count), "bucket {bucket}");
        assert_eq!(bucket["exact"], json!(true));
    }
    let total: u64 = price.iter().filter_map(|b| b["count"].as_u64()).sum();
    assert_eq!(total as usize, Filter { max: None, ..filter }.expected(&world.sample, "price").len());
}

#[tokio::test]
async fn a_page_with_totals_is_cached_apart_from_the_same_page_without() {
    let (_world, app) = spawn_app(N).await;

    let plain = app.get("/products?category=dairy").await;
    let with_total = app.get("/products?category=dairy&include=total").await;
    let again = app.get("/products?category=dairy&include=total").await;

    assert!(plain.json().get("total").is_none());
    assert!(with_total.json()["total"]["value"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(with_total.header("x-cache"), Some("MISS"));
    assert_eq!(again.header("x-cache"), Some("HIT"));
    assert_eq!(again.json(), with_total.json());
}

#[tokio::test]
async fn each_filter_gets_its_own_totals_and_every_page_and_sort_of_one_filter_the_same() {
    let (world, app) = spawn_app(N).await;
    let dairy = Filter { category: Some("dairy"), ..Filter::default() };
    let cheap = Filter { max: Some(6_000), ..Filter::default() };

    let first = app.get(&format!("/products?{}include=total,facets&sort=price&limit=5", dairy.query())).await.json();
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    let second = app
        .get(&format!("/products?{}include=total,facets&sort=price&limit=5&cursor={}", dairy.query(), encode(&cursor)))
        .await
        .json();
    let by_name = app.get(&format!("/products?{}include=total,facets&sort=name", dairy.query())).await.json();
    let other = app.get(&format!("/products?{}include=total,facets&sort=price&limit=5", cheap.query())).await.json();

    let want = |f: &Filter| json!({"value": f.expected(&world.sample, "price").len(), "exact": true});
    assert_eq!(first["total"], want(&dairy));
    assert_eq!(other["total"], want(&cheap), "another filter is counted for itself");
    assert_ne!(first["facets"]["price"], other["facets"]["price"]);
    assert_ne!(first["data"], second["data"], "the second page is another page");
    for page in [&second, &by_name] {
        assert_eq!(page["total"], first["total"]);
        assert_eq!(page["facets"], first["facets"]);
    }
}

#[tokio::test]
async fn a_hindi_search_finds_the_english_and_the_hindi_named_products() {
    let (world, app) = spawn_app(N).await;

    let page = app.get(&format!("/products?limit=100&include=total&q={}", encode("टमाटर"))).await;

    let names: Vec<String> = page.json()["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    assert!(names.iter().any(|n| n.contains("Tomatoes")), "{names:?}");
    assert!(names.iter().any(|n| n.contains("टमाटर")), "{names:?}");
    let want = Filter { q: Some("tamatar"), ..Filter::default() }.expected(&world.sample, "-created_at").len();
    assert_eq!(page.json()["total"]["value"], json!(want), "tamatar and टमाटर find the same products");
}

#[tokio::test]
async fn bad_include_in_stock_and_q_values_are_invalid_query_saying_what_is_wrong() {
    let (_world, app) = spawn_app(N).await;
    let cases: Vec<(String, &str)> = vec![
        ("include=count".into(), "count"),
        ("include=total,total".into(), "more than once"),
        ("include=total,".into(), "neither"),
        ("in_stock=yes".into(), "in_stock"),
        (format!("q={}", encode("ा ि")), "combining marks"),
        (format!("q={}", encode("\u{094D}\u{093C}")), "combining marks"),
        (format!("q={}", encode("क ख")), "single letter"),
        (format!("q={}", encode("क")), "q"),
    ];

    for (query, detail) in cases {
        let reply = app.get(&format!("/products?{query}")).await;

        let problem = reply.assert_problem(400, "invalid_query");
        let text = problem["detail"].as_str().unwrap_or_default();
        assert!(text.contains(detail), "{query}: detail {text:?} should mention {detail:?}");
    }
}
