//! FarmLokal's backend: a hexagonal service. `domain` holds the rules, `ports` the traits the application needs,
//! `adapters` the implementations over MySQL, Redis, HTTP and memory, and `app` the use cases, the HTTP API and
//! the wiring. Arrows point inwards only: `app -> ports -> domain` and `adapters -> ports -> domain`.

pub mod adapters;
pub mod app;
pub mod domain;
pub mod ports;
