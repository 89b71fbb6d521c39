//! Use cases, the HTTP API, configuration and wiring.

pub mod delivery;
pub mod tokens;
