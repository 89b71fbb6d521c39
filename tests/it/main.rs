//! Integration tests, in one binary so they link once. Every suite starts its services, worlds and fixtures
//! through `harness` and imports nothing from another suite. Suites that need MySQL or Redis get a database and
//! key prefix of their own; with no server they skip loudly, unless `FARMLOKAL_TEST_REQUIRE_SERVERS=1` (set by
//! `scripts/test.sh`), which turns a missing server into a failure.

mod harness;

mod architecture;
mod cache_contract;
mod catalogue_cache;
mod catalogue_http;
mod catalogue_walk;
mod connection_limits;
mod delivery_estimate;
mod delivery_http;
mod event_ledger_contract;
mod fleet_token_race;
mod hardening;
mod http_edges;
mod input_limits;
mod listing_answers;
mod metrics_http;
mod mysql_explain;
mod openapi_spec;
mod partner_a_http;
mod product_repository_contract;
mod rate_limit_http;
mod rate_limiter_contract;
mod redis_cluster_faults;
mod redis_cluster_service;
mod redis_node_faults;
mod replica_reads;
mod representations;
mod security_review;
mod shutdown_drain;
mod test_layout;
mod tester_tools;
mod time_control;
mod token_lifetimes;
mod token_manager;
mod token_store_contract;
mod webhook_exactly_once;
mod webhook_http;
