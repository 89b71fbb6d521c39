//! Content codings of response bodies (RFC 9110 §8.4): the one a request's `Accept-Encoding` asks for
//! (§12.5.3) and the codecs. Request bodies are never decoded (DESIGN §6); see `middleware::limit_body`.
//!
//! The levels are chosen by measurement on real listing pages (`docs/HTTP.md` has the table and the command).
//! Three efforts: a kept body ([`Effort::Cached`]) is compressed once and served many times, so it gets the
//! denser levels (brotli 4, zstd 3, gzip 9); a body compressed for one response ([`Effort::PerResponse`]) gets
//! brotli 4, zstd 3, gzip 6; and the answer of the miss that renders a cached page ([`Effort::Quick`]) gets the
//! fastest levels (brotli 1, zstd 3, gzip 1), because a compressed miss must cost at most 15% more than an
//! identity miss and brotli 4 alone made it 1.28x. The first hit of such a page re-encodes it at the kept level
//! (`app::response_cache`), so only pages that are asked for again pay for density.

use std::io::Write as _;

/// Bodies shorter than this are sent as they are: compressing them saves too little to pay for itself.
pub const MIN_COMPRESSED_LEN: usize = 1024;

/// Levels as (for [`Effort::Cached`], for [`Effort::PerResponse`], for [`Effort::Quick`]).
const BROTLI_QUALITY: (i32, i32, i32) = (4, 4, 1);
const ZSTD_LEVEL: (i32, i32, i32) = (3, 3, 3);
const GZIP_LEVEL: (u32, u32, u32) = (9, 6, 1);

/// A content coding the service offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    Brotli,
    Zstd,
    Gzip,
}

/// How hard to compress: once for many answers, or once per answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// A body kept and served many times (cached pages, the docs).
    Cached,
    /// A body compressed for one response.
    PerResponse,
    /// The answer of a miss that renders a page the cache keeps: as fast as possible, since the kept copy is
    /// re-encoded at [`Effort::Cached`] when the page is asked for again.
    Quick,
}

impl Effort {
    fn pick<T>(self, (cached, per_response, quick): (T, T, T)) -> T {
        match self {
            Effort::Cached => cached,
            Effort::PerResponse => per_response,
            Effort::Quick => quick,
        }
    }
}

impl Coding {
    /// The offered codings, in the order that breaks ties between equal q-values.
    pub const OFFERED: [Coding; 3] = [Coding::Brotli, Coding::Zstd, Coding::Gzip];

    /// The token of `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
        }
    }

    /// `body` in this coding; `None` when it is shorter than [`MIN_COMPRESSED_LEN`] (send it as it is) or the
    /// codec failed (it writes to memory, so it does not).
    pub fn encode(self, body: &[u8], effort: Effort) -> Option<Vec<u8>> {
        if body.len() < MIN_COMPRESSED_LEN {
            return None;
        }
        let encoded = match self {
            Coding::Brotli => {
                let params = brotli::enc::BrotliEncoderParams {
                    quality: effort.pick(BROTLI_QUALITY),
                    lgwin: 20,
                    size_hint: body.len(),
                    ..Default::default()
                };
                let mut out = Vec::with_capacity(body.len() / 4);
                brotli::BrotliCompress(&mut &body[..], &mut out, &params).ok().map(|_| out)
            }
            Coding::Zstd => zstd::bulk::compress(body, effort.pick(ZSTD_LEVEL)).ok(),
            Coding::Gzip => {
                let compression = flate2::Compression::new(effort.pick(GZIP_LEVEL));
                let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 3), compression);
                encoder.write_all(body).and_then(|()| encoder.finish()).ok()
            }
        };
        encoded.filter(|e| e.len() < body.len())
    }
}

/// The coding to answer a request with, by its `Accept-Encoding` header (`None`: identity).
///
/// The highest q-value among the offered codings wins, ties broken in [`Coding::OFFERED`] order; `*` gives its
/// q-value to the codings not listed; `q=0` refuses a coding; `x-gzip` is `gzip`. Identity is chosen when no
/// header is sent, when nothing offered is acceptable, or when the client ranks `identity` strictly above every
/// acceptable coding. Elements that do not parse are ignored.
pub fn negotiate(accept_encoding: Option<&str>) -> Option<Coding> {
    let header = accept_encoding?;
    let mut listed: [Option<u16>; 3] = [None; 3];
    let (mut star, mut identity) = (None, None);
    for element in header.split(',') {
        let mut parts = element.split(';');
        let token = parts.next().unwrap_or("").trim();
        if token.is_empty() {
            continue;
        }
        let Some(q) = parts.try_fold(1000, |q, param| parse_q(param).map(|parsed| parsed.unwrap_or(q))) else {
            continue;
        };
        let slot = match token.to_ascii_lowercase().as_str() {
            "br" => &mut listed[0],
            "zstd" => &mut listed[1],
            "gzip" | "x-gzip" => &mut listed[2],
            "identity" => &mut identity,
            "*" => &mut star,
            _ => continue,
        };
        *slot = Some(q);
    }
    let mut best: Option<(Coding, u16)> = None;
    for (coding, q) in Coding::OFFERED.into_iter().zip(listed) {
        let q = q.or(star).unwrap_or(0);
        if q > 0 && best.is_none_or(|(_, best_q)| q > best_q) {
            best = Some((coding, q));
        }
    }
    let (coding, q) = best?;
    match identity {
        Some(identity_q) if identity_q > q => None,
        _ => Some(coding),
    }
}

/// A `q=` parameter in thousandths: `Some(Some(q))`; another parameter: `Some(None)`; a malformed q: `None`.
fn parse_q(param: &str) -> Option<Option<u16>> {
    let Some((name, value)) = param.split_once('=') else {
        return Some(None);
    };
    if !name.trim().eq_ignore_ascii_case("q") {
        return Some(None);
    }
    let value = value.trim();
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    let digits_ok = frac.len() <= 3 && frac.bytes().all(|b| b.is_ascii_digit());
    let thousandths = match int {
        "0" if digits_ok => {
            frac.bytes().chain(std::iter::repeat(b'0')).take(3).fold(0, |n, d| n * 10 + u16::from(d - b'0'))
        }
        "1" if digits_ok && frac.bytes().all(|b| b == b'0') => 1000,
        _ => return None,
    };
    Some(Some(thousandths))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::*;

    #[test]
    fn the_highest_q_wins_and_ties_go_to_br_then_zstd_then_gzip() {
        assert_eq!(negotiate(Some("gzip, deflate, br, zstd")), Some(Brotli));
        assert_eq!(negotiate(Some("gzip, zstd")), Some(Zstd));
        assert_eq!(negotiate(Some("gzip;q=1.0, br;q=0.5")), Some(Gzip));
        assert_eq!(negotiate(Some("br;q=0.2, zstd;q=0.201")), Some(Zstd));
        assert_eq!(negotiate(Some("X-GZIP")), Some(Gzip));
    }

    #[test]
    fn q_zero_refuses_and_star_covers_the_rest() {
        assert_eq!(negotiate(Some("br;q=0, gzip")), Some(Gzip));
        assert_eq!(negotiate(Some("*")), Some(Brotli));
        assert_eq!(negotiate(Some("*;q=0.5, br;q=0")), Some(Zstd));
        assert_eq!(negotiate(Some("*;q=0")), None);
        assert_eq!(negotiate(Some("gzip;q=0.000")), None);
    }

    #[test]
    fn identity_when_absent_empty_unknown_or_preferred() {
        assert_eq!(negotiate(None), None);
        assert_eq!(negotiate(Some("")), None);
        assert_eq!(negotiate(Some("deflate, compress")), None);
        assert_eq!(negotiate(Some("identity")), None);
        assert_eq!(negotiate(Some("identity;q=1, gzip;q=0.5")), None);
        assert_eq!(negotiate(Some("identity;q=0.5, gzip")), Some(Gzip));
    }

    #[test]
    fn malformed_q_values_drop_their_element() {
        assert_eq!(negotiate(Some("br;q=2, gzip")), Some(Gzip));
        assert_eq!(negotiate(Some("br;q=0.1234, gzip;q=0.1")), Some(Gzip));
        assert_eq!(negotiate(Some("br;q=abc")), None);
        assert_eq!(negotiate(Some("br;level=9")), Some(Brotli));
        assert_eq!(negotiate(Some(" , ;q=1, br ; q=0.9 ")), Some(Brotli));
    }

    #[test]
    fn bodies_round_trip_and_short_ones_stay_identity() {
        let body = "{\"name\":\"Organic tomatoes\",\"price\":4200}".repeat(64);
        for coding in Coding::OFFERED {
            for effort in [Effort::Cached, Effort::PerResponse, Effort::Quick] {
                let encoded = coding.encode(body.as_bytes(), effort).expect("long bodies compress");
                assert!(encoded.len() * 4 < body.len(), "{coding:?} {effort:?}");
                assert_eq!(decode(coding, &encoded), body.as_bytes());
            }
            assert_eq!(coding.encode(b"{}", Effort::PerResponse), None);
        }
    }

    fn decode(coding: Coding, encoded: &[u8]) -> Vec<u8> {
        use std::io::Read as _;
        let mut out = Vec::new();
        match coding {
            Brotli => brotli::Decompressor::new(encoded, 4096).read_to_end(&mut out).map(|_| ()),
            Zstd => zstd::stream::copy_decode(encoded, &mut out),
            Gzip => flate2::read::GzDecoder::new(encoded).read_to_end(&mut out).map(|_| ()),
        }
        .expect("decodes");
        out
    }
}
