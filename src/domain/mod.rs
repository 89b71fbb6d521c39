//! The pure core: validated types and rules of the catalogue, partners and webhooks.
//!
//! Nothing here performs I/O, awaits, or names a framework or driver type. Every type validates on
//! construction, so a value that exists is valid.

pub mod cache_key;
pub mod catalogue;
pub mod cursor;
pub mod delivery;
pub mod money;
pub mod order;
pub mod query;
pub mod retry;
pub mod search;
pub mod summary;
pub mod synonyms;
pub mod token;
pub mod webhook;

pub use catalogue::{Category, CategorySlug, Product, ProductId};
pub use cursor::{CursorCodec, CursorError};
pub use delivery::{Pincode, Serviceability};
pub use money::Money;
pub use order::{Sort, SortField, SortPosition, SortValue, Sortable};
pub use query::{Limit, LimitError, ListQuery, ProductFilter, ProductQuery, QueryError};
pub use query::{SearchText, SearchTextError};
pub use token::AccessToken;
