//! In-memory adapters: real implementations with fault injection, for tests and the embedded default.

pub mod cache;
pub mod catalogue_index;
pub mod clock;
pub mod event_ledger;
pub mod faults;
pub mod partner_a;
pub mod product_repository;
pub mod rate_limiter;
pub mod token_provider;
pub mod token_store;
