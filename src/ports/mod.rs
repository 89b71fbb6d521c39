//! The ports: one trait per file, each the only way the application reaches a piece of infrastructure.
//!
//! Every trait is dyn-compatible (`#[async_trait]`, no generic methods) so `AppState` holds `Arc<dyn Port>`.
//! Each method documents, under `# Errors`, what it MUST return when; the contract suites in `tests/` check
//! exactly those sentences against every adapter.

pub mod cache;
pub mod clock;
pub mod event_ledger;
pub mod partner_a;
pub mod product_repository;
pub mod rate_limiter;
pub mod token_provider;
pub mod token_store;

pub use cache::{Cache, CacheError};
pub use clock::Clock;
pub use event_ledger::{Claim, EventLedger, LedgerError};
pub use partner_a::{PartnerAClient, PartnerError};
pub use product_repository::{ApplyOutcome, ProductRepository, RepositoryError};
pub use rate_limiter::{RateDecision, RateLimitError, RateLimiter};
pub use token_provider::{TokenError, TokenProvider};
pub use token_store::{TokenStore, TokenStoreError};
