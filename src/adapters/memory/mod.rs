//! In-memory adapters: real implementations with fault injection, for tests and the embedded default, and
//! `latency::Delayed`, an async delay in front of any port implementation (a mockall mock, say).

pub mod cache;
pub mod catalogue_index;
pub mod clock;
pub mod event_ledger;
pub mod faults;
pub mod latency;
pub mod partner_a;
pub mod product_repository;
pub mod rate_limiter;
pub mod token_provider;
pub mod token_store;
