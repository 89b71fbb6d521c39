//! Integration tests, in one binary so they link once. Suites that need MySQL or Redis use `support` to get a
//! database and key prefix of their own; with no server they skip loudly, unless
//! `FARMLOKAL_TEST_REQUIRE_SERVERS=1` (set by `scripts/test.sh`), which turns a missing server into a failure.

mod support;
mod cache_contract;
mod event_ledger_contract;
mod rate_limiter_contract;
mod rate_limit_http;
mod token_store_contract;
mod mysql_explain;
mod product_repository_contract;
pub mod partner_a_http;
mod token_manager;
mod delivery_estimate;
mod catalogue_http;
mod catalogue_cache;
mod catalogue_walk;
mod openapi_spec;
mod webhook_world;
mod webhook_http;
mod webhook_exactly_once;
mod hardening;
mod delivery_http;
