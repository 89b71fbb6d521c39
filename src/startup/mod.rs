//! Startup: the only code that names adapters or installs process-wide state. It reads the configuration,
//! installs logging and the metrics recorder, chooses an adapter for every port ([`wiring`], or by hand with
//! [`AppBuilder`]), builds the use cases and serves the HTTP API ([`Application`]). The command line lives here
//! too.

pub mod builder;
pub mod cli;
pub mod config;
pub mod server;
pub mod telemetry;
pub mod wiring;

pub use builder::{AppBuilder, AppState, Settings};
pub use config::Config;
pub use server::Application;
