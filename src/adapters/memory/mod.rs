//! In-memory adapters: real implementations with fault injection, for tests and the embedded default.

pub mod catalogue_index;
pub mod faults;
pub mod product_repository;
pub mod cache;
pub mod event_ledger;
pub mod rate_limiter;
pub mod token_store;
pub mod partner_a;
pub mod token_provider;
