//! Products and categories as the marketplace knows them.

use std::fmt;

use chrono::{DateTime, Utc};

use super::money::Money;

/// A product's identifier: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProductId(u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("product id must be a positive integer")]
pub struct InvalidProductId;

impl ProductId {
    /// # Errors
    /// `InvalidProductId` for zero or an id beyond `i64::MAX` (what SQL BIGINT and JSON clients hold).
    pub fn new(id: u64) -> Result<Self, InvalidProductId> {
        if id == 0 || id > i64::MAX as u64 {
            return Err(InvalidProductId);
        }
        Ok(Self(id))
    }

    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A category slug: `[a-z0-9-]{1,32}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CategorySlug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("category must be 1 to 32 characters of a-z, 0-9 and '-'")]
pub struct InvalidCategorySlug;

impl CategorySlug {
    /// # Errors
    /// `InvalidCategorySlug` unless the text is 1 to 32 characters of `a-z`, `0-9` and `-`.
    pub fn parse(raw: &str) -> Result<Self, InvalidCategorySlug> {
        let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if raw.is_empty() || raw.len() > 32 || !raw.chars().all(valid_char) {
            return Err(InvalidCategorySlug);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CategorySlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A category with the number of products filed under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub slug: CategorySlug,
    pub name: String,
    pub product_count: u64,
}

/// A product on sale. Timestamps are whole seconds in UTC, so the order the API shows is the order it sorts by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    pub description: String,
    pub category: CategorySlug,
    pub price: Money,
    /// The unit the price is for: `kg`, `litre`, `dozen`, `piece`, ...
    pub unit: String,
    pub stock: u32,
    pub producer_id: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the current price took effect; an older price update never overwrites a newer one.
    pub price_effective_at: DateTime<Utc>,
}

/// Truncates a timestamp to whole seconds, the precision the API shows and sorts by.
pub fn whole_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_are_positive_and_fit_a_signed_bigint() {
        assert!(ProductId::new(0).is_err());
        assert!(ProductId::new(1).is_ok());
        assert!(ProductId::new(i64::MAX as u64).is_ok());
        assert!(ProductId::new(i64::MAX as u64 + 1).is_err());
    }

    #[test]
    fn category_slugs_follow_the_contract_pattern() {
        for ok in ["vegetables", "a", "dairy-2", &"x".repeat(32)] {
            assert!(CategorySlug::parse(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in ["", "Vegetables", "veg etables", "veg_etables", "fruits!", &"x".repeat(33), "दूध"] {
            assert!(CategorySlug::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn whole_seconds_drops_the_fraction() {
        let at = DateTime::from_timestamp(1_700_000_000, 999_999_999).unwrap_or_default();
        assert_eq!(whole_seconds(at).timestamp_subsec_nanos(), 0);
        assert_eq!(whole_seconds(at).timestamp(), 1_700_000_000);
    }
}
