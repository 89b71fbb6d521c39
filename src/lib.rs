//! FarmLokal's backend, a hexagonal service in five layers:
//! - `domain`: the rules, as validated types; no I/O.
//! - `ports`: the traits the use cases need from the outside world, one per file.
//! - `app`: the use cases, over `domain` and `ports` only.
//! - `adapters`: the ports implemented over MySQL, Redis, HTTP and memory (outbound), and `api`: the HTTP API
//!   that calls the use cases (inbound).
//! - `startup`: configuration, the choice of adapters, process-wide state and the server.
//!
//! Arrows point inwards only: `startup -> api -> app -> ports -> domain` and `adapters -> ports -> domain`;
//! `tests/it/architecture.rs` checks it.

pub mod adapters;
pub mod api;
pub mod app;
pub mod domain;
pub mod ports;
pub mod startup;

/// The testers' guide, `docs/TESTING.md`, included so that `cargo test --doc` compiles and runs every snippet.
#[cfg(doctest)]
#[doc = include_str!("../docs/TESTING.md")]
pub struct TestingGuide;
