//! `Accept-Encoding` negotiation (`api::encoding::negotiate`) with any header value: it never panics; it picks
//! what an independent reading of RFC 9110 §12.5.3 picks (highest q-value among br, zstd and gzip, ties in that
//! order, `*` for the codings not listed, `q=0` refuses, a malformed q drops its element, identity ranked strictly
//! higher wins); token and parameter case do not matter; refusing the three codings afterwards gives identity.
//! End to end, a listing and the categories asked with that header are never a server error, always carry
//! `Vary: Accept-Encoding`, are coded with the negotiated coding or not at all, and decode to the identity body.
#![no_main]

use std::collections::HashMap;
use std::io::Read as _;

use arbitrary::Arbitrary;
use farmlokal::api::encoding::{negotiate, Coding};
use farmlokal_fuzz::{assert_not_a_server_error, send, Answer};
use libfuzzer_sys::fuzz_target;
use poem::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, VARY};
use poem::http::HeaderValue;
use poem::Request;

#[derive(Debug, Arbitrary)]
enum Input {
    /// Any string.
    Raw(String),
    /// Elements built from the tokens and parameters that matter, so the fuzzer reaches the q-value rules.
    Elements(Vec<(Token, Vec<Param>)>),
}

#[derive(Debug, Arbitrary)]
enum Token {
    Br,
    Zstd,
    Gzip,
    XGzip,
    Identity,
    Star,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum Param {
    /// `q=<digit>.<digits>`, mostly in the grammar.
    Q(u8, u16, u8),
    Raw(String),
}

fn render(elements: &[(Token, Vec<Param>)]) -> String {
    let mut out = Vec::new();
    for (token, params) in elements {
        let mut element = match token {
            Token::Br => "br".to_owned(),
            Token::Zstd => "zstd".to_owned(),
            Token::Gzip => "gzip".to_owned(),
            Token::XGzip => "x-gzip".to_owned(),
            Token::Identity => "identity".to_owned(),
            Token::Star => "*".to_owned(),
            Token::Other(s) => s.clone(),
        };
        for param in params {
            element.push(';');
            match param {
                Param::Q(int, frac, digits) => {
                    let frac = format!("{:03}", frac % 1000);
                    element.push_str(&format!("q={}.{}", int % 3, &frac[..usize::from(digits % 4)]));
                }
                Param::Raw(s) => element.push_str(s),
            }
        }
        out.push(element);
    }
    out.join(", ")
}

/// A q-value (RFC 9110 §12.4.2) in thousandths, read by its grammar: `0[.ddd]` or `1[.000]`.
fn qvalue(text: &str) -> Option<u16> {
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, frac),
        None => (text, ""),
    };
    if frac.len() > 3 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let value: f64 = format!("{int}.{frac}0").parse().ok()?;
    match int {
        "0" => Some((value * 1000.0).round() as u16),
        "1" if value == 1.0 => Some(1000),
        _ => None,
    }
}

/// The coding RFC 9110's rules choose for `header`, written independently of the service's parser.
fn expected(header: &str) -> Option<Coding> {
    let mut weights: HashMap<String, u16> = HashMap::new();
    'elements: for element in header.split(',') {
        let (token, params) = element.split_once(';').unwrap_or((element, ""));
        let token = token.trim().to_ascii_lowercase();
        if token.is_empty() {
            continue;
        }
        let mut q = 1000;
        for param in params.split(';') {
            if let Some((name, value)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    match qvalue(value.trim()) {
                        Some(parsed) => q = parsed,
                        None => continue 'elements,
                    }
                }
            }
        }
        let token = if token == "x-gzip" { "gzip".to_owned() } else { token };
        weights.insert(token, q);
    }
    let star = weights.get("*").copied();
    let mut best: Option<(Coding, u16)> = None;
    for coding in Coding::OFFERED {
        let q = weights.get(coding.token()).copied().or(star).unwrap_or(0);
        if q > 0 && best.map_or(true, |(_, best_q)| q > best_q) {
            best = Some((coding, q));
        }
    }
    let (coding, q) = best?;
    match weights.get("identity") {
        Some(&identity) if identity > q => None,
        _ => Some(coding),
    }
}

fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let read = match coding {
        "br" => brotli::Decompressor::new(body, 4096).read_to_end(&mut out).map(|_| ()),
        "zstd" => zstd::stream::copy_decode(body, &mut out),
        "gzip" => flate2::read::GzDecoder::new(body).read_to_end(&mut out).map(|_| ()),
        other => panic!("an unknown Content-Encoding {other:?}"),
    };
    read.unwrap_or_else(|e| panic!("a {coding} body that does not decode: {e}"));
    out
}

fn get(path: &str, accept_encoding: Option<&HeaderValue>) -> Answer {
    let mut request = Request::builder().uri_str(path);
    if let Some(value) = accept_encoding {
        request = request.header(ACCEPT_ENCODING, value.clone());
    }
    send(request.finish())
}

fuzz_target!(|input: Input| {
    let header = match &input {
        Input::Raw(raw) => raw.clone(),
        Input::Elements(elements) => render(elements),
    };
    let chosen = negotiate(Some(&header));
    assert_eq!(chosen, expected(&header), "negotiating {header:?}");
    assert_eq!(negotiate(Some(&header.to_ascii_uppercase())), chosen, "case changed the choice for {header:?}");
    let refused = format!("{header}, br;q=0, zstd;q=0, gzip;q=0");
    assert_eq!(negotiate(Some(&refused)), None, "{refused:?} refuses every coding");

    let Ok(value) = HeaderValue::from_str(&header) else {
        return;
    };
    for path in ["/products?limit=20&sort=price", "/categories"] {
        let identity = get(path, None);
        let answer = get(path, Some(&value));
        assert_not_a_server_error(&answer, &format!("GET {path} with Accept-Encoding {header:?}"));
        assert_eq!(answer.status, identity.status, "{path} {header:?}");
        let vary = answer.headers.get_all(VARY).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
        assert!(vary.to_ascii_lowercase().contains("accept-encoding"), "{path} {header:?}: Vary {vary:?}");
        match answer.headers.get(CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("not text")) {
            None => assert_eq!(answer.body, identity.body, "{path} {header:?}: an identity body that differs"),
            Some(coding) => {
                assert_eq!(Some(coding), chosen.map(Coding::token), "{path} {header:?}: coded unasked");
                assert_eq!(decode(coding, &answer.body), identity.body, "{path} {header:?}: decodes to another body");
            }
        }
    }
});
