//! Integration tests, in one binary so they link once. Suites that need MySQL or Redis use `support` to get a
//! database and key prefix of their own; with no server they skip loudly, unless
//! `FARMLOKAL_TEST_REQUIRE_SERVERS=1` (set by `scripts/test.sh`), which turns a missing server into a failure.

mod architecture;
mod cache_contract;
mod catalogue_cache;
mod catalogue_http;
mod catalogue_walk;
mod delivery_estimate;
mod delivery_http;
mod event_ledger_contract;
mod hardening;
mod mysql_explain;
mod openapi_spec;
pub mod partner_a_http;
mod product_repository_contract;
mod rate_limit_http;
mod rate_limiter_contract;
mod support;
mod token_manager;
mod token_store_contract;
mod webhook_exactly_once;
mod webhook_http;
mod webhook_world;
