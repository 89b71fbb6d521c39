//! In-memory adapters: real implementations with fault injection, for tests and the embedded default.

pub mod faults;
