//! The JSON shapes of the catalogue API. They belong to the HTTP layer; conversions from domain types are
//! explicit. Listing bodies are rendered once with serde and cached as bytes; the `Object` derive gives the
//! same shapes to the OpenAPI spec (a test checks the two agree on real responses).

use chrono::{DateTime, Utc};
use poem_openapi::types::Example;
use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use crate::domain::money::CURRENCY;
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
}

impl Example for ProductPage {
    fn example() -> Self {
        Self {
            data: vec![ProductDto::example()],
            next_cursor: Some("MTcwNDA2NzIwMAAxAKdGcNM8a1vL0l0o_wJ3tlI".into()),
            has_more: true,
        }
    }
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
    let page = ProductPage {
        data: products.iter().map(ProductDto::from).collect(),
        next_cursor: next_cursor.map(str::to_owned),
        has_more: next_cursor.is_some(),
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
