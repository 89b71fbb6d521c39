//! The validated catalogue query of `GET /products`: filters, page size and position, in a sort order of
//! [`super::order`]. Every part validates on construction (`SearchText::parse`, `Limit::new`,
//! `ProductFilter::new`), and `ProductQuery::new` puts typed parts together, decoding the cursor against them,
//! so no value is turned back into text to be parsed again.

use super::catalogue::{CategorySlug, Product};
use super::cursor::{CursorCodec, CursorError};
use super::money::Money;
use super::order::{Sort, SortPosition};
use super::{search, synonyms};

/// A validated search text: 2 to 100 characters with at least one search term. Each term carries its
/// alternatives from the synonym table (see [`search`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchText {
    terms: Vec<String>,
    alternatives: Vec<Vec<String>>,
}

/// Why a text is not a search; the messages are shown to API clients as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SearchTextError {
    #[error("q must be 2 to 100 characters")]
    Length,
    #[error("q must contain a word of at least two letters or digits; a single letter (such as क) is not a word")]
    NoWord,
    #[error(
        "q holds only combining marks (vowel signs, virama, nukta, anusvara); they are part of a word only after \
         a letter"
    )]
    OnlyMarks,
    #[error("q may contain at most {} distinct words", search::MAX_TERMS)]
    TooManyWords,
}

impl SearchText {
    /// # Errors
    /// `Length` when the text is not 2 to 100 characters, `OnlyMarks` when it holds only combining marks,
    /// `NoWord` when it has no word of two or more characters, `TooManyWords` when it has more than
    /// [`search::MAX_TERMS`] distinct words.
    pub fn parse(raw: &str) -> Result<Self, SearchTextError> {
        let length = raw.chars().count();
        if !(2..=100).contains(&length) {
            return Err(SearchTextError::Length);
        }
        let terms = search::query_terms(raw).map_err(|e| match e {
            search::NoTerm::OnlyMarks => SearchTextError::OnlyMarks,
            search::NoTerm::TooShort => SearchTextError::NoWord,
        })?;
        if terms.len() > search::MAX_TERMS {
            return Err(SearchTextError::TooManyWords);
        }
        let alternatives = terms.iter().map(|t| synonyms::alternatives(t)).collect();
        Ok(Self { terms, alternatives })
    }

    /// The distinct lowercase terms; every one must match.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// For each term, the words that satisfy it as prefixes: the term and its synonyms.
    pub fn alternatives(&self) -> &[Vec<String>] {
        &self.alternatives
    }

    pub fn matches(&self, product: &Product) -> bool {
        search::matches(&self.alternatives, &[&product.name, &product.description])
    }
}

/// Page size: 1 to 100, default 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit(u16);

/// Why a number is not a page size; the message is shown to API clients as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("limit must be between 1 and {}", Limit::MAX)]
    OutOfRange,
}

impl Limit {
    pub const MAX: u16 = 100;
    pub const DEFAULT: Limit = Limit(20);

    /// # Errors
    /// `OutOfRange` outside 1..=100.
    pub fn new(n: i64) -> Result<Self, LimitError> {
        match u16::try_from(n) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(LimitError::OutOfRange),
        }
    }

    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The filters of a listing. Every field narrows the result; none set lists everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ProductFilter {
    pub category: Option<CategorySlug>,
    pub min_price: Option<Money>,
    pub max_price: Option<Money>,
    pub search: Option<SearchText>,
    /// `Some(true)`: only products with stock above zero; `Some(false)`: only those with none.
    pub in_stock: Option<bool>,
}

impl ProductFilter {
    /// The filters of a listing, with a price range that is not empty.
    ///
    /// # Errors
    /// `Invalid` for the parameter `min_price` when `min_price` exceeds `max_price`.
    pub fn new(
        category: Option<CategorySlug>,
        min_price: Option<Money>,
        max_price: Option<Money>,
        search: Option<SearchText>,
    ) -> Result<Self, QueryError> {
        if let (Some(min), Some(max)) = (min_price, max_price) {
            if min > max {
                return Err(QueryError::Invalid {
                    parameter: "min_price",
                    reason: "min_price must not exceed max_price".to_owned(),
                });
            }
        }
        Ok(Self { category, min_price, max_price, search, in_stock: None })
    }

    /// The same filters, keeping only products in stock (`true`) or out of stock (`false`) when set.
    #[must_use]
    pub fn with_in_stock(self, in_stock: Option<bool>) -> Self {
        Self { in_stock, ..self }
    }

    pub fn matches(&self, product: &Product) -> bool {
        self.admits(&product.category, product.price, product.stock > 0)
            && self.search.as_ref().is_none_or(|s| s.matches(product))
    }

    /// The category, price-range and stock part of [`ProductFilter::matches`], for callers that hold only
    /// those keys.
    pub fn admits(&self, category: &CategorySlug, price: Money, in_stock: bool) -> bool {
        self.category.as_ref().is_none_or(|c| category == c)
            && self.min_price.is_none_or(|min| price >= min)
            && self.max_price.is_none_or(|max| price <= max)
            && self.in_stock.is_none_or(|wanted| wanted == in_stock)
    }

    /// A canonical text of the filters and sort, identical for equal queries however they were spelled.
    /// Cursors are bound to it and cache keys are built from it.
    pub fn canonical(&self, sort: Sort) -> String {
        let mut out = format!("sort={sort}");
        if let Some(c) = &self.category {
            out.push_str(&format!("&category={c}"));
        }
        if let Some(p) = self.min_price {
            out.push_str(&format!("&min_price={}", p.paise()));
        }
        if let Some(p) = self.max_price {
            out.push_str(&format!("&max_price={}", p.paise()));
        }
        if let Some(s) = &self.search {
            // Terms are letters and digits only, so '+' cannot be part of one.
            out.push_str(&format!("&q={}", s.terms().join("+")));
        }
        if let Some(in_stock) = self.in_stock {
            out.push_str(&format!("&in_stock={in_stock}"));
        }
        out
    }
}

/// What a repository is asked for: the products matching `filter`, in `sort` order, strictly after `after`,
/// at most `fetch` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: ProductFilter,
    pub sort: Sort,
    pub after: Option<SortPosition>,
    pub fetch: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A parameter breaks its rule; `reason` is fit to show the caller.
    #[error("{reason}")]
    Invalid { parameter: &'static str, reason: String },
    #[error("cursor is not valid for this query: {0}")]
    InvalidCursor(#[from] CursorError),
}

/// A validated `GET /products` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductQuery {
    pub filter: ProductFilter,
    pub sort: Sort,
    pub limit: Limit,
    pub after: Option<SortPosition>,
}

impl ProductQuery {
    /// A query of `filter` in `sort` order, `limit` per page, after the position `cursor` carries (none: the
    /// first page). The cursor is decoded against these filters and this sort.
    ///
    /// # Errors
    /// `InvalidCursor` for a cursor that was altered or comes from other filters or another sort.
    pub fn new(
        filter: ProductFilter,
        sort: Sort,
        limit: Limit,
        cursor: Option<&str>,
        cursors: &CursorCodec,
    ) -> Result<Self, QueryError> {
        let after = match cursor {
            None => None,
            Some(token) => Some(cursors.decode(token, sort, &filter.canonical(sort))?),
        };
        Ok(Self { filter, sort, limit, after })
    }

    /// The repository query for this page: one product more than the page, to learn whether another follows.
    pub fn to_list_query(&self) -> ListQuery {
        ListQuery {
            filter: self.filter.clone(),
            sort: self.sort,
            after: self.after.clone(),
            fetch: self.limit.get() + 1,
        }
    }

    /// The canonical text of the filters and sort that cursors are bound to.
    pub fn binding(&self) -> String {
        self.filter.canonical(self.sort)
    }
}

#[cfg(test)]
mod tests;
