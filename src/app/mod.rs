//! Use cases, the HTTP API, configuration and wiring.
