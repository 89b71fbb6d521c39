//! `GET /products` end to end with any query: the service answers 200 or a 400 problem (`invalid_query`,
//! `invalid_cursor`), never a server error; a 200 page holds at most 100 products, says `has_more` exactly when
//! it gives a `next_cursor`, and that cursor, sent back with the same parameters, is accepted (the service
//! parses what it renders).
#![no_main]

use arbitrary::Arbitrary;
use farmlokal_fuzz::{assert_not_a_server_error, send, Answer};
use libfuzzer_sys::fuzz_target;
use poem::http::{StatusCode, Uri};
use poem::Request;

#[derive(Debug, Arbitrary)]
enum Name {
    Category,
    MinPrice,
    MaxPrice,
    Q,
    Sort,
    Limit,
    Cursor,
    InStock,
    Include,
    Other(String),
}

impl Name {
    fn as_str(&self) -> &str {
        match self {
            Self::Category => "category",
            Self::MinPrice => "min_price",
            Self::MaxPrice => "max_price",
            Self::Q => "q",
            Self::Sort => "sort",
            Self::Limit => "limit",
            Self::Cursor => "cursor",
            Self::InStock => "in_stock",
            Self::Include => "include",
            Self::Other(name) => name,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Input {
    /// Parameters as a client library would encode them.
    Encoded(Vec<(Name, String)>),
    /// A query string as it arrives, when it makes a valid URI.
    Raw(String),
}

fn get(path_and_query: &str) -> Option<Answer> {
    let uri: Uri = path_and_query.parse().ok()?;
    Some(send(Request::builder().uri(uri).finish()))
}

fn encode(pairs: &[(String, String)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    query.finish()
}

/// Checks one answer; returns the next cursor of a 200 page that has one.
fn check(answer: &Answer, query: &str) -> Option<String> {
    assert_not_a_server_error(answer, query);
    match answer.status {
        StatusCode::OK => {
            let page = answer.json();
            let data = page["data"].as_array().unwrap_or_else(|| panic!("no data array for {query}: {page}"));
            assert!(data.len() <= 100, "{} products for {query}", data.len());
            let next = page["next_cursor"].as_str().map(str::to_owned);
            assert_eq!(page["has_more"].as_bool(), Some(next.is_some()), "has_more and next_cursor for {query}");
            next
        }
        StatusCode::BAD_REQUEST => {
            let code = answer.problem_code();
            assert!(matches!(code.as_str(), "invalid_query" | "invalid_cursor"), "{code} for {query}");
            None
        }
        other => panic!("{query} was answered {other}: {}", String::from_utf8_lossy(&answer.body)),
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Encoded(pairs) => {
            let pairs: Vec<(String, String)> = pairs.into_iter().map(|(n, v)| (n.as_str().to_owned(), v)).collect();
            let query = encode(&pairs);
            let Some(answer) = get(&format!("/products?{query}")) else { return };
            let Some(next) = check(&answer, &query) else { return };
            // The same parameters with the cursor the page gave.
            let mut following: Vec<_> = pairs.into_iter().filter(|(name, _)| name != "cursor").collect();
            following.push(("cursor".to_owned(), next));
            let query = encode(&following);
            let answer = get(&format!("/products?{query}")).expect("an encoded query is a valid URI");
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "the next page of {query}: {}",
                String::from_utf8_lossy(&answer.body)
            );
            check(&answer, &query);
        }
        Input::Raw(query) => {
            if let Some(answer) = get(&format!("/products?{query}")) {
                check(&answer, &query);
            }
        }
    }
});
