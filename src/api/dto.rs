//! The JSON shapes of the catalogue API. They belong to the HTTP layer; conversions from domain types are
//! explicit. Listing bodies are rendered once with serde and cached as bytes; the `Object` derive gives the
//! same shapes to the OpenAPI spec (a test checks the two agree on real responses).

use chrono::{DateTime, Utc};
use poem_openapi::types::Example;
use poem_openapi::Object;
use serde::{Deserialize, Serialize};

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

/// The body of a listing page. Serialising these types cannot fail (no maps with non-string keys, no
/// fallible serialisers), so an error here is a bug; it renders an empty page rather than panic.
pub fn render_page(products: &[Product], next_cursor: Option<&str>) -> Vec<u8> {
    render_page_with(products, next_cursor, None, Include::default())
}

/// [`render_page`] with the totals and facets `include` asked for.
pub fn render_page_with(
    products: &[Product],
    next_cursor: Option<&str>,
    summary: Option<&Summary>,
    include: Include,
) -> Vec<u8> {
    let (total, facets) = summary.map(|s| summary_parts(s, include)).unwrap_or_default();
    let page = ProductPage {
        data: products.iter().map(ProductDto::from).collect(),
        next_cursor: next_cursor.map(str::to_owned),
        has_more: next_cursor.is_some(),
        total,
        facets,
    };
    serde_json::to_vec(&page).unwrap_or_else(|_| br#"{"data":[],"next_cursor":null,"has_more":false}"#.to_vec())
}

/// The body of one product, serialised exactly as in listings (timestamps end in `Z`).
pub fn render_product(product: &Product) -> Vec<u8> {
    serde_json::to_vec(&ProductDto::from(product)).unwrap_or_default()
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
