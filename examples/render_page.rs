//! How long rendering one listing page takes, the old way beside the current one: the products cloned into
//! `ProductDto`s and serialised with `serde_json::to_vec` (what listings did until 2026-12-06), against
//! `dto::render_page_with` (written by hand since 2026-12-07: constant keys, strings checked eight bytes at a
//! time, timestamps without `core::fmt`, one allocation). 28 products, about a median (b) page. Prints
//! nanoseconds per page for each, three rounds.
//!
//! `CARGO_TARGET_DIR=target/bench cargo run --release --example render_page`

use std::time::Instant;

use chrono::DateTime;
use farmlokal::api::dto::{render_page_with, ProductDto, ProductPage};
use farmlokal::domain::catalogue::{CategorySlug, Product, ProductId};
use farmlokal::domain::money::Money;
use farmlokal::domain::summary::Include;

const PAGES: u32 = 200_000;
const CURSOR: &str = "MTcwNDA2NzIwMAAxAKdGcNM8a1vL0l0o_wJ3tlI";

fn main() -> anyhow::Result<()> {
    let at = |seconds| DateTime::from_timestamp(seconds, 0).ok_or_else(|| anyhow::anyhow!("{seconds} out of range"));
    let products = (1..=28_u64)
        .map(|i| {
            Ok(Product {
                id: ProductId::new(i)?,
                name: format!("Organic Tomatoes {i}"),
                description: "Tomatoes from Hoskote, grown without chemical pesticides, picked this morning.".into(),
                category: CategorySlug::parse("vegetables")?,
                price: Money::from_paise(4_550 + i)?,
                unit: "kg".into(),
                stock: 42,
                producer_id: 17,
                created_at: at(1_700_000_000 + i64::try_from(i)?)?,
                updated_at: at(1_767_323_045)?,
                price_effective_at: at(1_767_323_045)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    println!("| round | DTOs + to_vec, ns/page | render_page_with, ns/page | ratio |\n| ---: | ---: | ---: | ---: |");
    for round in 1..=3 {
        let started = Instant::now();
        let mut bytes = 0;
        for _ in 0..PAGES {
            let page = ProductPage {
                data: products.iter().map(ProductDto::from).collect(),
                next_cursor: Some(CURSOR.to_owned()),
                has_more: true,
                total: None,
                facets: None,
            };
            bytes += serde_json::to_vec(&page)?.len();
        }
        let old = started.elapsed().as_secs_f64() * 1e9 / f64::from(PAGES);
        let started = Instant::now();
        for _ in 0..PAGES {
            bytes -= render_page_with(&products, Some(CURSOR), None, Include::default()).len();
        }
        let new = started.elapsed().as_secs_f64() * 1e9 / f64::from(PAGES);
        anyhow::ensure!(bytes == 0, "the two ways rendered pages of different lengths");
        println!("| {round} | {old:.0} | {new:.0} | {:.2} |", new / old);
    }
    Ok(())
}
