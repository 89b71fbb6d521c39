//! Implementations of the ports, grouped by technology. Only `app::wiring` chooses among them.

pub mod http;
pub mod memory;
pub mod mysql;
pub mod redis;
pub mod sample;
pub mod sandbox;
