//! Use cases, the HTTP API, configuration and wiring.

pub mod catalogue;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod http;
pub mod rate_limit;
pub mod server;
pub mod single_flight;
pub mod slow_clients;
pub mod state;
pub mod tokens;
pub mod webhooks;
pub mod wiring;
