//! The catalogue HTTP API against DESIGN §2, in process over the in-memory adapters: cursors, input rules, the
//! JSON shape, one product, categories, framework errors and request ids. Walking every page lives in
//! `catalogue_walk` and cache behaviour in `catalogue_cache`; all three share the service helpers here.

use poem::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::oracle::{encode, expected_json, Filter};
use crate::harness::{spawn_app, TestApp};

/// Products in the sample catalogue of most tests: large enough for ties on every sort column.
const N: u64 = 2_000;

/// The cursor of the first page of `query`.
async fn first_cursor(app: &TestApp, query: &str) -> String {
    let page = app.list_products(query).await;
    page.json()["next_cursor"].as_str().expect("a first page with a next page").to_owned()
}

#[tokio::test]
async fn a_cursor_altered_at_any_character_is_refused_as_invalid_cursor() {
    let (_world, app) = spawn_app(N).await;
    let cursor = first_cursor(&app, "sort=name&limit=3").await;

    for position in 0..cursor.len() {
        let mut altered: Vec<char> = cursor.chars().collect();
        altered[position] = if altered[position] == 'A' { 'B' } else { 'A' };
        let altered: String = altered.into_iter().collect();
        let reply = app.get(&format!("/products?sort=name&limit=3&cursor={}", encode(&altered))).await;

        reply.assert_problem(400, "invalid_cursor");
    }
}

#[tokio::test]
async fn a_cursor_that_is_not_one_is_refused_as_invalid_cursor() {
    let (_world, app) = spawn_app(N).await;

    for garbage in ["abc", "!!!!", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "null", "%00"] {
        let reply = app.get(&format!("/products?cursor={garbage}")).await;

        reply.assert_problem(400, "invalid_cursor");
    }
}

#[tokio::test]
async fn a_cursor_replayed_with_another_sort_or_other_filters_is_refused_as_invalid_cursor() {
    let (_world, app) = spawn_app(N).await;
    let cursor = encode(&first_cursor(&app, "category=dairy&sort=price&limit=5").await);

    for other in [
        "category=dairy&sort=-price",
        "category=dairy&sort=name",
        "category=dairy",
        "sort=price",
        "category=fruits&sort=price",
        "category=dairy&sort=price&min_price=0",
        "category=dairy&sort=price&max_price=100000",
        "category=dairy&sort=price&q=milk",
    ] {
        let reply = app.get(&format!("/products?{other}&limit=5&cursor={cursor}")).await;

        reply.assert_problem(400, "invalid_cursor");
    }
}

#[tokio::test]
async fn a_cursor_continues_where_its_page_ended_whatever_the_next_page_size() {
    let (world, app) = spawn_app(N).await;
    let cursor = encode(&first_cursor(&app, "sort=-price&limit=7").await);

    let next = app.get(&format!("/products?sort=-price&limit=100&cursor={cursor}")).await;

    assert_eq!(next.ids(), Filter::default().expected(&world.sample, "-price")[7..107]);
}

#[tokio::test]
async fn every_parameter_outside_its_rule_is_a_400_invalid_query_problem() {
    let (_world, app) = spawn_app(100).await;
    let long_slug = "a".repeat(33);
    let long_q = encode(&"é".repeat(101));
    let cases = [
        "limit=0".to_owned(),
        "limit=101".into(),
        "limit=abc".into(),
        "limit=-1".into(),
        "limit=1.5".into(),
        "min_price=-1".into(),
        "max_price=-1".into(),
        "min_price=abc".into(),
        "min_price=500&max_price=499".into(),
        "min_price=99999999999999999999999".into(),
        "max_price=1000000000001".into(),
        "category=Vegetables".into(),
        "category=fresh%20veg".into(),
        "category=veg_etables".into(),
        "category=dairy%0A".into(),
        format!("category={long_slug}"),
        "category=".into(),
        "q=a".into(),
        format!("q={long_q}"),
        "q=%21%3F".into(),
        "sort=bogus".into(),
        "sort=PRICE".into(),
        "sort=".into(),
    ];

    for query in &cases {
        let reply = app.get(&format!("/products?{query}")).await;

        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        reply.assert_problem(400, "invalid_query");
    }
}

#[tokio::test]
async fn parameters_at_the_edges_of_their_rules_are_accepted() {
    let (_world, app) = spawn_app(100).await;
    let edges = [
        "limit=1".to_owned(),
        "limit=100".into(),
        "min_price=0&max_price=0".into(),
        "max_price=1000000000000".into(),
        format!("category={}", "a".repeat(32)),
        "category=0-9".into(),
        "q=ab".into(),
        format!("q={}", encode(&"é".repeat(100))),
    ];

    for query in &edges {
        let reply = app.get(&format!("/products?{query}")).await;

        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", String::from_utf8_lossy(&reply.body));
    }
}

#[tokio::test]
async fn a_listing_page_has_the_documented_json_shape() {
    let (world, app) = spawn_app(N).await;

    let page = app.get("/products?sort=price&limit=5").await;
    let body = page.json();

    assert!(page.header("content-type").is_some_and(|t| t.starts_with("application/json")));
    let object = body.as_object().expect("an object");
    let mut keys = object.keys().collect::<Vec<_>>();
    keys.sort_unstable();
    assert_eq!(keys, ["data", "has_more", "next_cursor"]);
    assert!(body["next_cursor"].is_string() && body["has_more"].is_boolean());
    let ids = Filter::default().expected(&world.sample, "price");
    for (product, id) in body["data"].as_array().expect("data is an array").iter().zip(&ids) {
        let expected = world.sample.iter().find(|p| p.id.get() == *id).expect("a sample product");
        assert_eq!(product, &expected_json(expected));
        for field in ["id", "price_paise", "stock", "producer_id"] {
            assert!(product[field].is_u64(), "{field} is an integer: {product}");
        }
        for field in ["created_at", "updated_at"] {
            let text = product[field].as_str().expect("a string");
            assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok() && text.ends_with('Z'), "{text}");
            assert_eq!((text.len(), text.contains('.')), (20, false), "whole seconds: {text}");
        }
    }
}

#[tokio::test]
async fn a_product_is_served_by_id_with_every_field() {
    let (world, app) = spawn_app(N).await;
    let wanted = &world.sample[1233];

    let reply = app.get(&format!("/products/{}", wanted.id.get())).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), expected_json(wanted));
}

#[tokio::test]
async fn an_absent_product_is_a_404_not_found_problem() {
    let (_world, app) = spawn_app(N).await;

    for id in ["2001", "9223372036854775807", "9223372036854775808", "18446744073709551615"] {
        app.get(&format!("/products/{id}")).await.assert_problem(404, "not_found");
    }
}

#[tokio::test]
async fn a_product_id_that_is_not_a_positive_integer_is_a_400_invalid_query_problem() {
    let (_world, app) = spawn_app(N).await;

    for id in ["abc", "0", "-1", "1.5", "18446744073709551616"] {
        let reply = app.get(&format!("/products/{id}")).await;

        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "/products/{id}");
        reply.assert_problem(400, "invalid_query");
    }
}

#[tokio::test]
async fn categories_list_every_category_ordered_by_slug_with_counts_adding_up_to_the_spawn_app() {
    let (world, app) = spawn_app(N).await;
    let mut expected: Vec<(String, u64)> = Vec::new();
    for p in &world.sample {
        match expected.iter_mut().find(|(slug, _)| slug == p.category.as_str()) {
            Some((_, count)) => *count += 1,
            None => expected.push((p.category.as_str().to_owned(), 1)),
        }
    }
    expected.sort();

    let reply = app.get("/categories").await;

    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    let listed = body["data"].as_array().expect("data is an array");
    let counts: Vec<(String, u64)> = listed
        .iter()
        .map(|c| (c["slug"].as_str().expect("slug").to_owned(), c["product_count"].as_u64().expect("count")))
        .collect();
    assert_eq!(counts, expected);
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), N);
    assert!(listed.iter().all(|c| c["name"].as_str().is_some_and(|n| !n.is_empty())));
    assert_eq!(listed.iter().find(|c| c["slug"] == "grains").map(|c| &c["name"]), Some(&json!("Grains and Pulses")));
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem_and_a_wrong_method_a_405_problem() {
    let (_world, app) = spawn_app(10).await;

    app.get("/no/such/route").await.assert_problem(404, "not_found");
    app.get("/product").await.assert_problem(404, "not_found");
    app.request(Method::POST, "/products").send().await.assert_problem(405, "method_not_allowed");
    app.request(Method::DELETE, "/products/1").send().await.assert_problem(405, "method_not_allowed");
    app.request(Method::PUT, "/categories").send().await.assert_problem(405, "method_not_allowed");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_the_callers() {
    let (_world, app) = spawn_app(10).await;
    let uris = ["/products", "/products?limit=0", "/products/1", "/products/99", "/categories", "/nowhere"];

    for uri in uris {
        let first = app.get(uri).await;
        let second = app.get(uri).await;
        let echoed = app.get_with(uri, &[("X-Request-Id", "caller-id-42")]).await;

        let (a, b) = (first.header("x-request-id"), second.header("x-request-id"));
        assert!(a.is_some_and(|id| !id.is_empty()) && a != b, "{uri}: {a:?} {b:?}");
        assert_eq!(echoed.header("x-request-id"), Some("caller-id-42"), "{uri}");
    }
    let refused = app.request(Method::POST, "/products").header("X-Request-Id", "abc").send().await;
    assert_eq!(refused.header("x-request-id"), Some("abc"));
}
