//! Implementations of the ports, grouped by technology. Only `startup` chooses among them.

pub mod http;
pub mod memory;
pub mod mysql;
pub mod redis;
pub mod sample;
pub mod sandbox;
pub mod system_clock;

/// How a connection pool is used right now, for the pool-usage gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolUsage {
    /// Connections open to the server.
    pub open: usize,
    /// Open connections waiting in the pool.
    pub idle: usize,
}
