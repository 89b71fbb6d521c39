//! How every response goes on the wire (DESIGN §6): its content coding, `Vary`, the default `Cache-Control`,
//! `X-Content-Type-Options`, `HEAD`, `Allow` on a 405, and entity tags per representation.
//!
//! Routes with validators (listings, categories, a product, the docs and the spec) choose their own
//! representation: they compress (cached pages are kept compressed) and give each coding its own strong tag,
//! the page's tag with the coding appended (`"…-br"`), so a cache never answers one coding's `If-None-Match`
//! with another coding's body. Every other response is compressed here, per response, when its body is long
//! enough and the client accepts a coding.

use std::sync::OnceLock;

use bytes::Bytes;
use poem::http::header::{
    ACCEPT_ENCODING, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
    X_CONTENT_TYPE_OPTIONS,
};
use poem::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use poem::{Endpoint, Request, Response};

use super::encoding::{self, Coding, Effort};
use crate::app::response_cache::{tag_of, Encoder, Served, Variant, SERVE_STALE_FOR};

/// `Cache-Control` of every response that does not set its own: errors, 429, webhook answers, operations.
pub const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// The coding a request asks for (`None`: identity).
pub fn accepted(request: &Request) -> Option<Coding> {
    encoding::negotiate(request.headers().get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok()))
}

/// The cache variant that keeps a page in `coding`.
pub fn variant(coding: Coding) -> Variant {
    fn br(body: &[u8]) -> Option<Vec<u8>> {
        Coding::Brotli.encode(body, Effort::Cached)
    }
    fn zstd(body: &[u8]) -> Option<Vec<u8>> {
        Coding::Zstd.encode(body, Effort::Cached)
    }
    fn gzip(body: &[u8]) -> Option<Vec<u8>> {
        Coding::Gzip.encode(body, Effort::Cached)
    }
    fn br_quick(body: &[u8]) -> Option<Vec<u8>> {
        Coding::Brotli.encode(body, Effort::Quick)
    }
    fn gzip_quick(body: &[u8]) -> Option<Vec<u8>> {
        Coding::Gzip.encode(body, Effort::Quick)
    }
    // zstd's kept level is as cheap as its quick one (docs/HTTP.md): a miss keeps the dense encoding at once.
    let (encode, quick): (Encoder, Option<Encoder>) = match coding {
        Coding::Brotli => (br, Some(br_quick)),
        Coding::Zstd => (zstd, None),
        Coding::Gzip => (gzip, Some(gzip_quick)),
    };
    Variant { name: coding.token(), encode, quick }
}

/// The strong tag of one representation: the content's tag, with the coding appended when it is encoded.
pub fn representation_tag(content_tag: &str, coding: Option<&str>) -> String {
    match coding {
        Some(coding) => format!("{}-{coding}\"", content_tag.strip_suffix('"').unwrap_or(content_tag)),
        None => content_tag.to_owned(),
    }
}

/// The strong tag of a served page: [`representation_tag`], with `-fast` after the coding for the quick
/// encoding a miss answers with (other bytes than the dense encoding later hits send, so another tag).
pub fn page_tag(page: &Served) -> String {
    match (page.coding, page.quick) {
        (Some(coding), true) => representation_tag(&page.tag, Some(&format!("{coding}-fast"))),
        (coding, _) => representation_tag(&page.tag, coding),
    }
}

/// Whether an `If-None-Match` value matches `tag`: `*`, or one of its tags by weak comparison (RFC 9110 §13.1.2).
pub fn none_match(if_none_match: &str, tag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if_none_match.split(',').any(|candidate| candidate.trim() == "*" || opaque(candidate) == opaque(tag))
}

/// How a shared page (a listing or the categories) is answered: its representation's tag and age, whether
/// `If-None-Match` makes it a 304, and its `Cache-Control`.
pub struct SharedAnswer {
    pub tag: String,
    pub age: u64,
    pub not_modified: bool,
    pub cache_control: String,
}

impl SharedAnswer {
    /// `Cache-Control` is public, fresh for what is left of the served copy's freshness (0 for a stale copy),
    /// then usable stale while revalidating for one TTL, or while the service fails for as long as the service
    /// itself would serve it stale.
    pub fn of(page: &Served, ttl: std::time::Duration, if_none_match: Option<&str>) -> Self {
        let tag = page_tag(page);
        let cache_control = Self::cache_control(page.fresh_for, ttl);
        let not_modified = if_none_match.is_some_and(|candidates| none_match(candidates, &tag));
        Self { tag, age: page.age.as_secs(), not_modified, cache_control }
    }

    /// The `Cache-Control` of a shared page fresh for `fresh_for` more, of pages fresh for `ttl`.
    pub fn cache_control(fresh_for: std::time::Duration, ttl: std::time::Duration) -> String {
        format!(
            "public, max-age={}, stale-while-revalidate={}, stale-if-error={}",
            fresh_for.as_secs(),
            ttl.as_secs(),
            SERVE_STALE_FOR.as_secs()
        )
    }
}

/// The methods each route answers, for the `Allow` header of a 405.
#[derive(Debug, Default)]
pub struct AllowTable {
    routes: Vec<(Vec<String>, HeaderValue)>,
}

impl AllowTable {
    /// From the OpenAPI document's `paths` (templates like `/products/{id}`) plus `extra` GET routes. Every
    /// route that answers `GET` also answers `HEAD`.
    pub fn from_spec(spec: &serde_json::Value, extra_get_routes: &[&str]) -> Self {
        let mut routes: Vec<(String, Vec<String>)> = spec["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(path, item)| {
                        let methods = item.as_object().map(|m| m.keys().map(|k| k.to_uppercase()).collect());
                        (path.clone(), methods.unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        routes.extend(extra_get_routes.iter().map(|path| ((*path).to_owned(), vec!["GET".to_owned()])));
        let routes = routes
            .into_iter()
            .filter_map(|(path, mut methods)| {
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".to_owned());
                }
                let allow = HeaderValue::from_str(&methods.join(", ")).ok()?;
                Some((segments(&path).map(str::to_owned).collect(), allow))
            })
            .collect();
        Self { routes }
    }

    /// The `Allow` value of the route `path` belongs to.
    pub fn allow(&self, path: &str) -> Option<&HeaderValue> {
        let wanted: Vec<&str> = segments(path).collect();
        self.routes.iter().find_map(|(template, allow)| {
            let same = template.len() == wanted.len()
                && template.iter().zip(&wanted).all(|(t, w)| t == w || (t.starts_with('{') && t.ends_with('}')));
            same.then_some(allow)
        })
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// The headers every response gets: `X-Content-Type-Options: nosniff` and `Vary: Accept-Encoding`.
pub fn add_fixed_headers(headers: &mut HeaderMap) {
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.append(VARY, HeaderValue::from_static("accept-encoding"));
}

/// What a request's representation depends on, kept while it is answered: whether it was a `HEAD` (answered as
/// the `GET` it stands for, then without its body), the coding it accepts and its path (for `Allow` on a 405).
pub struct Represented {
    head: bool,
    coding: Option<Coding>,
    uri: Uri,
}

impl Represented {
    /// Notes what the answer depends on; a `HEAD` goes on as a `GET`.
    pub fn start(request: &mut Request) -> Self {
        let head = request.method() == Method::HEAD;
        if head {
            request.set_method(Method::GET);
        }
        Self { head, coding: accepted(request), uri: request.uri().clone() }
    }

    /// Whether the request is a `HEAD` (it goes on as a `GET`).
    pub fn is_head(&self) -> bool {
        self.head
    }

    /// The coding the request accepts (`None`: identity).
    pub fn coding(&self) -> Option<Coding> {
        self.coding
    }

    /// The response as it goes on the wire: see the module documentation.
    ///
    /// # Errors
    /// When the body of a response to compress or to measure for a `HEAD` cannot be read.
    pub async fn finish(self, mut response: Response, allow: &AllowTable) -> poem::Result<Response> {
        let status = response.status();
        let headers = response.headers_mut();
        if status == StatusCode::METHOD_NOT_ALLOWED && !headers.contains_key(ALLOW) {
            if let Some(methods) = allow.allow(self.uri.path()) {
                headers.insert(ALLOW, methods.clone());
            }
        }
        add_fixed_headers(headers);
        if status.is_client_error() || status.is_server_error() || !headers.contains_key(CACHE_CONTROL) {
            headers.insert(CACHE_CONTROL, NO_STORE);
        }
        let chosen_elsewhere = headers.contains_key(CONTENT_ENCODING) || headers.contains_key(ETAG);
        let bodiless = status == StatusCode::NOT_MODIFIED || status == StatusCode::NO_CONTENT;
        if let (Some(coding), false, false) = (self.coding, chosen_elsewhere, bodiless) {
            let body = response.take_body().into_bytes().await?;
            match coding.encode(&body, Effort::PerResponse) {
                Some(encoded) => {
                    response.headers_mut().insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
                    response.set_body(encoded);
                }
                None => response.set_body(body),
            }
        }
        if self.head {
            let body = response.take_body().into_bytes().await?;
            response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        Ok(response)
    }
}

/// A fixed document (the docs page, the spec) with a strong tag, `Cache-Control: no-cache` (revalidate, then
/// a 304 costs nothing), and each coding compressed once, the first time a client asks for it.
pub struct StaticDocument {
    content_type: &'static str,
    body: Bytes,
    tag: String,
    encoded: [OnceLock<Option<Bytes>>; 3],
}

impl StaticDocument {
    pub fn new(content_type: &'static str, body: impl Into<Bytes>) -> Self {
        let body = body.into();
        let tag = tag_of(&body);
        Self { content_type, body, tag, encoded: Default::default() }
    }

    fn in_coding(&self, coding: Coding) -> Option<&Bytes> {
        let slot = match coding {
            Coding::Brotli => &self.encoded[0],
            Coding::Zstd => &self.encoded[1],
            Coding::Gzip => &self.encoded[2],
        };
        slot.get_or_init(|| coding.encode(&self.body, Effort::Cached).map(Bytes::from)).as_ref()
    }
}

impl Endpoint for StaticDocument {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        if request.method() != Method::GET {
            return Err(poem::error::MethodNotAllowedError.into());
        }
        let encoded = accepted(&request).and_then(|coding| Some((coding, self.in_coding(coding)?)));
        let (body, coding) = match encoded {
            Some((coding, body)) => (body.clone(), Some(coding.token())),
            None => (self.body.clone(), None),
        };
        let tag = representation_tag(&self.tag, coding);
        let matched =
            request.headers().get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| none_match(v, &tag));
        let mut response = if matched {
            Response::builder().status(StatusCode::NOT_MODIFIED).finish()
        } else {
            let mut response = Response::builder().header(CONTENT_TYPE, self.content_type).body(body);
            if let Some(coding) = coding {
                response.headers_mut().insert(CONTENT_ENCODING, HeaderValue::from_static(coding));
            }
            response
        };
        let headers = response.headers_mut();
        if let Ok(tag) = HeaderValue::from_str(&tag) {
            headers.insert(ETAG, tag);
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_tags_weakly_and_accepts_lists_and_star() {
        assert!(none_match("\"a\"", "\"a\""));
        assert!(none_match("W/\"a\"", "\"a\""));
        assert!(none_match("\"b\", \"a\"", "\"a\""));
        assert!(none_match("*", "\"a\""));
        assert!(!none_match("\"b\"", "\"a\""));
        assert!(!none_match("\"a\"", "\"a-br\""), "one coding's tag never matches another's");
    }

    #[test]
    fn each_coding_has_its_own_tag() {
        assert_eq!(representation_tag("\"abc\"", None), "\"abc\"");
        assert_eq!(representation_tag("\"abc\"", Some("br")), "\"abc-br\"");
    }

    #[test]
    fn a_quick_encoding_has_its_own_tag() {
        use crate::app::response_cache::CacheStatus;
        let page = |coding, quick| Served {
            body: Bytes::new(),
            coding,
            quick,
            tag: "\"abc\"".into(),
            next_cursor: None,
            status: CacheStatus::Miss,
            age: std::time::Duration::ZERO,
            fresh_for: std::time::Duration::ZERO,
        };
        assert_eq!(page_tag(&page(Some("br"), true)), "\"abc-br-fast\"");
        assert_eq!(page_tag(&page(Some("br"), false)), "\"abc-br\"");
        assert_eq!(page_tag(&page(None, false)), "\"abc\"");
    }

    #[test]
    fn allow_lists_the_methods_of_the_matching_template() {
        let spec = r#"{"paths":{"/products":{"get":{}},"/products/{id}":{"get":{}},"/webhooks/b":{"post":{}}}}"#;
        let table = AllowTable::from_spec(&serde_json::from_str(spec).unwrap_or_default(), &["/docs"]);
        let allow = |p: &str| table.allow(p).map(|v| v.to_str().unwrap_or_default().to_owned());
        assert_eq!(allow("/products/42").as_deref(), Some("GET, HEAD"));
        assert_eq!(allow("/webhooks/b").as_deref(), Some("POST"));
        assert_eq!(allow("/docs").as_deref(), Some("GET, HEAD"));
        assert_eq!(allow("/nowhere"), None);
    }
}
