//! `Reply`: one response read whole (status, headers, body bytes), whichever way the request went (in process
//! or over a socket), with the readings and assertions tests share: JSON, headers, problems, acknowledgements.

use bytes::Bytes;
use poem::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// A header's value, `None` when absent; panics when it is not visible ASCII.
    #[track_caller]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap_or_else(|_| panic!("{name} is not ASCII: {v:?}")))
    }

    /// A header holding a whole number; panics (with the reply) when absent or not one.
    #[track_caller]
    pub fn number(&self, name: &str) -> u64 {
        self.header(name).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{name} in {}", self.describe()))
    }

    /// Whether any `RateLimit-*` or `Retry-After` header came back.
    pub fn has_rate_limit_headers(&self) -> bool {
        self.headers.keys().any(|k| k.as_str().starts_with("ratelimit-") || k == "retry-after")
    }

    /// The body with its `Content-Encoding` (`br`, `zstd`, `gzip` or none) undone, as a client decodes it;
    /// panics (with the reply) when it does not decode.
    #[track_caller]
    pub fn decoded(&self) -> Bytes {
        use std::io::Read as _;
        let mut out = Vec::new();
        let decoded = match self.header("content-encoding") {
            None => return self.body.clone(),
            Some("br") => brotli::Decompressor::new(&self.body[..], 4096).read_to_end(&mut out).map(drop),
            Some("zstd") => zstd::stream::copy_decode(&self.body[..], &mut out),
            Some("gzip") => flate2::read::GzDecoder::new(&self.body[..]).read_to_end(&mut out).map(drop),
            Some(other) => panic!("unexpected Content-Encoding {other}"),
        };
        decoded.unwrap_or_else(|e| panic!("the body does not decode ({e}): {:?}", self.headers));
        out.into()
    }

    /// Whether the `Vary` fields name `header` (case-insensitive).
    pub fn varies_on(&self, header: &str) -> bool {
        self.headers
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|name| name.trim().eq_ignore_ascii_case(header))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics (with the body) when it is not JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("the body is not JSON ({e}): {}", self.describe()))
    }

    /// The ids of a listing page's `data`, in order.
    #[track_caller]
    pub fn ids(&self) -> Vec<u64> {
        let body = self.json();
        body["data"].as_array().expect("data is an array").iter().map(|p| p["id"].as_u64().expect("id")).collect()
    }

    /// Status and body, for assertion messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.status, self.text())
    }

    /// Asserts a webhook acknowledgement: 200 `{"status": status}`.
    #[track_caller]
    pub fn assert_ack(&self, status: &str) {
        assert_eq!(self.status, StatusCode::OK, "expected 200 {status}, got {}", self.describe());
        assert_eq!(self.json(), json!({"status": status}), "got {}", self.describe());
    }

    /// Asserts an RFC 9457 problem with this status and code (and a type, title and detail), and returns it.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "expected {status} {code}, got {}", self.describe());
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("application/problem+json"), "content type {content_type}");
        let problem = self.json();
        assert_eq!(problem["code"], code, "got {}", self.describe());
        assert_eq!(problem["status"], status, "got {}", self.describe());
        for field in ["type", "title", "detail"] {
            assert!(problem[field].as_str().is_some_and(|s| !s.is_empty()), "{field} missing: {}", self.describe());
        }
        problem
    }
}
