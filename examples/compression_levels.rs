//! Measures the content codings on real listing pages, to choose their levels (`docs/HTTP.md` quotes the
//! table): for each coding and level, the bytes of a page after compression (median over the pages) and the
//! time to compress one (the mean over the pages of the fastest of several rounds). Run it in release:
//! `cargo run --release --example compression_levels`.

use std::hint::black_box;
use std::io::Write as _;
use std::time::Instant;

use farmlokal::adapters::sample;
use farmlokal::api::dto::render_page;

/// Rounds over the pages per coding and level; the table quotes the fastest.
const ROUNDS: usize = 15;

/// Pages of 20 products (the default page size), as the service renders them.
fn pages() -> Vec<Vec<u8>> {
    let products: Vec<_> = sample::products(20_000).collect();
    let cursor = "MTcwNDA2NzIwMAAxAKdGcNM8a1vL0l0o_wJ3tlI";
    products.chunks(20).step_by(50).map(|chunk| render_page(chunk, Some(cursor))).collect()
}

fn brotli(body: &[u8], quality: i32) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams { quality, lgwin: 20, size_hint: body.len(), ..Default::default() };
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &body[..], &mut out, &params).map(|_| out).unwrap_or_default()
}

fn zstd(body: &[u8], level: i32) -> Vec<u8> {
    zstd::bulk::compress(body, level).unwrap_or_default()
}

fn gzip(body: &[u8], level: i32) -> Vec<u8> {
    let level = flate2::Compression::new(u32::try_from(level).unwrap_or(6));
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
    encoder.write_all(body).and_then(|()| encoder.finish()).unwrap_or_default()
}

fn main() {
    let pages = pages();
    let mut identity: Vec<usize> = pages.iter().map(Vec::len).collect();
    identity.sort_unstable();
    let median_identity = identity[identity.len() / 2];
    println!("{} pages of 20 products, median {median_identity} bytes\n", pages.len());
    println!("| coding | level | median bytes | ratio | µs per page |");
    println!("|---|---:|---:|---:|---:|");
    type Codec = fn(&[u8], i32) -> Vec<u8>;
    let codecs: [(&str, Codec, &[i32]); 3] = [
        ("br", brotli, &[1, 3, 4, 5, 6, 7, 9, 11]),
        ("zstd", zstd, &[1, 3, 6, 9, 12, 15, 19]),
        ("gzip", gzip, &[1, 4, 6, 9]),
    ];
    for (name, codec, levels) in codecs {
        for &level in levels {
            let mut sizes: Vec<usize> = pages.iter().map(|p| codec(p, level).len()).collect();
            sizes.sort_unstable();
            // The fastest of several rounds: on a shared machine a round that was preempted only reads slower.
            let per_page = (0..ROUNDS)
                .map(|_| {
                    let started = Instant::now();
                    for page in &pages {
                        black_box(codec(black_box(page), level));
                    }
                    started.elapsed() / u32::try_from(pages.len()).unwrap_or(u32::MAX)
                })
                .min()
                .unwrap_or_default();
            let median = sizes[sizes.len() / 2];
            println!(
                "| {name} | {level} | {median} | {:.1}x | {:.0} |",
                median_identity as f64 / median as f64,
                per_page.as_secs_f64() * 1e6
            );
        }
    }
}
