//! The JSON shapes of the catalogue API. They belong to the HTTP layer; conversions from domain types are
//! explicit. Listing and product bodies are written by hand with the bytes `serde_json` writes for these types
//! (tests hold them equal) and cached as bytes; the `Object` derive gives the same shapes to the OpenAPI spec (a
//! test checks the two agree on real responses).

use chrono::{DateTime, Utc};
use poem_openapi::types::Example;
use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::json;
use crate::domain::money::CURRENCY;
use crate::domain::summary::{Count, Include, Summary};
use crate::domain::{Category, Product};

/// A product on sale.
#[derive(Debug, Clone, PartialEq, Object, Serialize, Deserialize)]
#[oai(example)]
pub struct ProductDto {
    /// Unique product id.
    pub id: u64,
    /// Display name.
    pub name: String,
    pub description: String,
    /// Category slug (see `GET /categories`).
    pub category: String,
    /// Price in paise (1 INR = 100 paise) per `unit`.
    pub price_paise: u64,
    /// ISO 4217 currency code; always `INR`.
    pub currency: String,
    /// What the price buys: `kg`, `litre`, `dozen`, `piece`, `250 g`, ...
    pub unit: String,
    /// Units in stock.
    pub stock: u32,
    /// The producer selling it.
    pub producer_id: u64,
    /// When it was listed (whole seconds, UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (whole seconds, UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<&Product> for ProductDto {
    fn from(p: &Product) -> Self {
        Self {
            id: p.id.get(),
            name: p.name.clone(),
            description: p.description.clone(),
            category: p.category.as_str().to_owned(),
            price_paise: p.price.paise(),
            currency: CURRENCY.to_owned(),
            unit: p.unit.clone(),
            stock: p.stock,
            producer_id: p.producer_id,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

fn example_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_323_045, 0).unwrap_or_default()
}

impl Example for ProductDto {
    fn example() -> Self {
        Self {
            id: 1,
            name: "Organic Tomatoes".into(),
            description: "Tomatoes from Hoskote, grown without chemical pesticides.".into(),
            category: "vegetables".into(),
            price_paise: 4550,
            currency: CURRENCY.into(),
            unit: "kg".into(),
            stock: 42,
            producer_id: 17,
            created_at: example_time(),
            updated_at: example_time(),
        }
    }
}

/// One page of products.
#[derive(Debug, Clone, PartialEq, Object, Serialize, Deserialize)]
#[oai(example)]
pub struct ProductPage {
    /// The products of this page, in the requested order.
    pub data: Vec<ProductDto>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
    /// True exactly when a non-empty next page follows.
    pub has_more: bool,
    /// With `include=total`: how many products match every filter and `q`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<CountDto>,
    /// With `include=facets`: counts per category and per price bucket.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facets: Option<FacetsDto>,
}

impl Example for ProductPage {
    fn example() -> Self {
        Self {
            data: vec![ProductDto::example()],
            next_cursor: Some("MTcwNDA2NzIwMAAxAKdGcNM8a1vL0l0o_wJ3tlI".into()),
            has_more: true,
            total: Some(CountDto { value: 1_284, exact: true }),
            facets: Some(FacetsDto {
                category: vec![CategoryCountDto { value: "vegetables".into(), count: 1_284, exact: true }],
                price: vec![PriceBucketDto { min: 0, max: Some(6_000), count: 311, exact: true }],
            }),
        }
    }
}

/// A number of products. Exact (`exact: true`) when it is at most 10,000; above that an estimate
/// (`exact: false`) that is never below 10,001 and within a factor of 1.5 of the true number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct CountDto {
    /// The number of matching products (or its estimate).
    pub value: u64,
    /// Whether `value` is counted exactly.
    pub exact: bool,
}

/// Facet counts of a listing: how many products each choice of one filter would give, the other filters kept.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct FacetsDto {
    /// One entry per category of the catalogue, in slug order, zeros included: every filter and `q` apply except
    /// `category`, so the other categories stay visible.
    pub category: Vec<CategoryCountDto>,
    /// The service's fixed price buckets, in order, covering 0 to infinity without overlap and listed even when
    /// empty: every filter and `q` apply except `min_price`/`max_price`.
    pub price: Vec<PriceBucketDto>,
}

/// How many products a category would give.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct CategoryCountDto {
    /// The category slug (a `category` filter value).
    pub value: String,
    /// Matching products in it; exact up to 10,000, an estimate above (see `exact`).
    pub count: u64,
    /// Whether `count` is counted exactly.
    pub exact: bool,
}

/// How many products a price bucket holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct PriceBucketDto {
    /// Lowest price in the bucket, paise (inclusive).
    pub min: u64,
    /// Price the bucket stops below, paise (exclusive); `null` for the last bucket, which has no upper bound.
    #[oai(nullable)]
    pub max: Option<u64>,
    /// Matching products in it; exact up to 10,000, an estimate above (see `exact`).
    pub count: u64,
    /// Whether `count` is counted exactly.
    pub exact: bool,
}

fn count_dto(count: Count) -> CountDto {
    CountDto { value: count.value, exact: count.exact }
}

/// The `total` and `facets` parts of a page body from a summary (each `None` when not asked for).
pub fn summary_parts(summary: &Summary, include: Include) -> (Option<CountDto>, Option<FacetsDto>) {
    let total = if include.total { summary.total.map(count_dto) } else { None };
    let facets = include.facets.then(|| FacetsDto {
        category: summary
            .categories
            .iter()
            .map(|(slug, c)| CategoryCountDto { value: slug.as_str().to_owned(), count: c.value, exact: c.exact })
            .collect(),
        price: summary
            .prices
            .iter()
            .map(|(b, c)| PriceBucketDto { min: b.min, max: b.max, count: c.value, exact: c.exact })
            .collect(),
    });
    (total, facets)
}

/// A category with its number of products.
#[derive(Debug, Clone, PartialEq, Object, Serialize, Deserialize)]
#[oai(example)]
pub struct CategoryDto {
    /// Use as the `category` filter of `GET /products`.
    pub slug: String,
    /// Display name.
    pub name: String,
    pub product_count: u64,
}

impl Example for CategoryDto {
    fn example() -> Self {
        Self { slug: "vegetables".into(), name: "Vegetables".into(), product_count: 123_456 }
    }
}

/// Every category that has products, ordered by slug.
#[derive(Debug, Clone, PartialEq, Object, Serialize, Deserialize)]
#[oai(example)]
pub struct CategoryList {
    pub data: Vec<CategoryDto>,
}

impl Example for CategoryList {
    fn example() -> Self {
        Self { data: vec![CategoryDto::example()] }
    }
}

/// The body of a listing page.
pub fn render_page(products: &[Product], next_cursor: Option<&str>) -> Vec<u8> {
    render_page_with(products, next_cursor, None, Include::default())
}

/// [`render_page`] with the totals and facets `include` asked for: the bytes `serde_json` writes for a
/// [`ProductPage`], written by hand straight from the products (no DTOs, no serializer; see [`write_product`]).
/// Only the totals and facets, asked for rarely, and timestamps off the usual path ([`write_timestamp`]) go
/// through serde. Serialising them cannot fail (no maps with non-string keys, no fallible serialisers, a `Vec`
/// to write to), so an error there is a bug; it renders an empty page rather than panic.
pub fn render_page_with(
    products: &[Product],
    next_cursor: Option<&str>,
    summary: Option<&Summary>,
    include: Include,
) -> Vec<u8> {
    let (total, facets) = summary.map(|s| summary_parts(s, include)).unwrap_or_default();
    let mut out = Vec::with_capacity(512 + products.iter().map(rendered_size).sum::<usize>());
    match write_page(&mut out, products, next_cursor, total.as_ref(), facets.as_ref()) {
        Ok(()) => out,
        Err(_) => br#"{"data":[],"next_cursor":null,"has_more":false}"#.to_vec(),
    }
}

/// [`render_page_with`]'s page into `out`.
fn write_page(
    out: &mut Vec<u8>,
    products: &[Product],
    next_cursor: Option<&str>,
    total: Option<&CountDto>,
    facets: Option<&FacetsDto>,
) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"data\":[");
    for (i, product) in products.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_product(out, product)?;
    }
    out.extend_from_slice(b"],\"next_cursor\":");
    match next_cursor {
        Some(cursor) => json::write_str(out, cursor),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(if next_cursor.is_some() { b",\"has_more\":true" } else { b",\"has_more\":false" });
    if let Some(total) = total {
        out.extend_from_slice(b",\"total\":");
        serde_json::to_writer(&mut *out, total)?;
    }
    if let Some(facets) = facets {
        out.extend_from_slice(b",\"facets\":");
        serde_json::to_writer(&mut *out, facets)?;
    }
    out.push(b'}');
    Ok(())
}

/// The body of one product, written exactly as in listings (timestamps end in `Z`).
pub fn render_product(product: &Product) -> Vec<u8> {
    let mut out = Vec::with_capacity(rendered_size(product));
    match write_product(&mut out, product) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

/// About the bytes a product takes in a body (more unless its strings need escaping), so the body is written
/// into one allocation instead of growing and moving as it fills.
fn rendered_size(product: &Product) -> usize {
    256 + product.name.len() + product.description.len() + product.unit.len() + product.category.as_str().len()
}

/// `product` as `serde_json` writes its [`ProductDto`]: the same fields in the same order, the keys written as
/// constants, the strings borrowed from the product. A listing miss spent about a quarter of the service's
/// instructions (SHA-256 aside) in `serde_json` rendering the page, a third of them escaping the constant keys
/// (callgrind during bench row (b); docs/DECISIONS.md). Tests hold the bytes equal to the DTO's.
fn write_product(out: &mut Vec<u8>, p: &Product) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"id\":");
    json::write_u64(out, p.id.get());
    out.extend_from_slice(b",\"name\":");
    json::write_str(out, &p.name);
    out.extend_from_slice(b",\"description\":");
    json::write_str(out, &p.description);
    out.extend_from_slice(b",\"category\":");
    json::write_str(out, p.category.as_str());
    out.extend_from_slice(b",\"price_paise\":");
    json::write_u64(out, p.price.paise());
    out.extend_from_slice(b",\"currency\":");
    json::write_str(out, CURRENCY);
    out.extend_from_slice(b",\"unit\":");
    json::write_str(out, &p.unit);
    out.extend_from_slice(b",\"stock\":");
    json::write_u64(out, u64::from(p.stock));
    out.extend_from_slice(b",\"producer_id\":");
    json::write_u64(out, p.producer_id);
    out.extend_from_slice(b",\"created_at\":");
    write_timestamp(out, p.created_at)?;
    out.extend_from_slice(b",\"updated_at\":");
    write_timestamp(out, p.updated_at)?;
    out.push(b'}');
    Ok(())
}

/// `at` as chrono serialises it, a quoted RFC 3339 string, without `core::fmt` for the usual case (whole seconds,
/// years 0 to 9999: `"2026-01-02T03:04:05Z"`); other instants go through chrono's own serialiser.
fn write_timestamp(out: &mut Vec<u8>, at: DateTime<Utc>) -> serde_json::Result<()> {
    use chrono::{Datelike as _, Timelike as _};
    let year = u32::try_from(at.year()).ok().filter(|&year| year <= 9999 && at.nanosecond() == 0);
    let Some(year) = year else {
        return serde_json::to_writer(out, &at);
    };
    let mut text = *b"\"0000-00-00T00:00:00Z\"";
    let fields = [
        (1..5, year),
        (6..8, at.month()),
        (9..11, at.day()),
        (12..14, at.hour()),
        (15..17, at.minute()),
        (18..20, at.second()),
    ];
    for (field, mut value) in fields {
        for digit in text[field].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    out.extend_from_slice(&text);
    Ok(())
}

/// The body of the category list.
pub fn render_categories(categories: &[Category]) -> Vec<u8> {
    let list = CategoryList {
        data: categories
            .iter()
            .map(|c| CategoryDto {
                slug: c.slug.as_str().to_owned(),
                name: c.name.clone(),
                product_count: c.product_count,
            })
            .collect(),
    };
    serde_json::to_vec(&list).unwrap_or_else(|_| br#"{"data":[]}"#.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalogue::{CategorySlug, ProductId};
    use crate::domain::money::Money;
    use crate::domain::summary::{Count, PriceBucket};

    fn at(seconds: i64, nanos: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, nanos).expect("a valid timestamp")
    }

    fn product(id: u64, name: &str, created_at: DateTime<Utc>) -> Product {
        Product {
            id: ProductId::new(id).expect("an id"),
            name: name.to_owned(),
            description: "Fresh \"desi\" ghee,\nfrom Mandya \u{1F404} — शुद्ध".to_owned(),
            category: CategorySlug::parse("dairy").expect("a slug"),
            price: Money::from_paise(65_000).expect("a price"),
            unit: "500 g".to_owned(),
            stock: 7,
            producer_id: 3,
            created_at,
            updated_at: at(1_767_323_045, 0),
            price_effective_at: at(1_767_323_045, 0),
        }
    }

    #[test]
    fn timestamps_are_written_as_chrono_writes_them() {
        let cases = [
            at(0, 0),
            at(1_767_323_045, 0),
            at(951_782_400, 0),               // 2000-02-29
            at(253_402_300_799, 0),           // 9999-12-31T23:59:59
            at(253_402_300_800, 0),           // year 10000: chrono's own path
            at(-62_167_219_200, 0),           // year 0
            at(-62_167_219_201, 0),           // year -1
            at(1_767_323_045, 5_000),         // a fraction: microseconds
            at(1_767_323_045, 5_000_000),     // milliseconds
            at(1_767_323_045, 5),             // nanoseconds
            at(1_483_228_799, 1_000_000_000), // a leap second
        ];
        for case in cases {
            let mut ours = Vec::new();
            write_timestamp(&mut ours, case).expect("writes");
            let ours = String::from_utf8(ours).expect("UTF-8");
            let chrono = serde_json::to_string(&case).expect("serialises");
            assert_eq!(ours, chrono, "{case:?}");
        }
    }

    #[test]
    fn a_rendered_body_has_the_bytes_of_the_dtos_with_and_without_a_summary() {
        let products = [
            product(1, "Organic Tomatoes", at(1_700_000_000, 0)),
            product(2, "टमाटर \"Naati\"\t<b>", at(1_700_000_000, 250_000_000)),
        ];
        let summary = Summary {
            total: Some(Count { value: 12_345, exact: false }),
            categories: vec![(CategorySlug::parse("dairy").expect("a slug"), Count { value: 2, exact: true })],
            prices: vec![(PriceBucket { min: 0, max: Some(6_000) }, Count { value: 1, exact: true })],
        };
        for (cursor, summary, include) in [
            (None, None, Include::default()),
            (Some("abc_-1"), None, Include::default()),
            (Some("a\"b\\c\n"), None, Include::default()),
            (Some("abc"), Some(&summary), Include { total: true, facets: true }),
            (None, Some(&summary), Include { total: false, facets: true }),
        ] {
            let (total, facets) = summary.map(|s| summary_parts(s, include)).unwrap_or_default();
            let dto = ProductPage {
                data: products.iter().map(ProductDto::from).collect(),
                next_cursor: cursor.map(str::to_owned),
                has_more: cursor.is_some(),
                total,
                facets,
            };
            let expected = serde_json::to_vec(&dto).expect("serialises");
            assert_eq!(
                String::from_utf8(render_page_with(&products, cursor, summary, include)).expect("UTF-8"),
                String::from_utf8(expected).expect("UTF-8")
            );
        }
        assert_eq!(render_product(&products[1]), serde_json::to_vec(&ProductDto::from(&products[1])).expect("ok"));
    }
}
