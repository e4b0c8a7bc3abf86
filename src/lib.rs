//! Portcullis: an HTTP authentication service.
//!
//! The crate is laid out as a hexagon: the domain in the middle knows nothing
//! of HTTP, SQL or Redis; it talks to the world only through the traits in
//! [`ports`], which the technology-specific [`adapters`] implement. [`app`]
//! is the only place that knows which adapter is live.
#![forbid(unsafe_code)]

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!(
    "Portcullis needs a storage backend: enable the `sqlite` feature (the default) \
     or the `postgres` feature, e.g. `cargo build --features postgres`."
);

/// Pure domain logic and types: users, passwords, tokens, sessions, limits. No I/O.
pub mod core;

/// The traits the core needs from the outside world, one per concern.
pub mod ports;

/// Implementations of the ports, one module per technology.
pub mod adapters;

/// One redaction for connection URLs, used by logs, configuration and adapters.
pub mod redact;

/// Configuration, wiring, and the poem + poem-openapi HTTP layer.
pub mod app;

/// Test support: fresh Postgres databases and Redis servers for tests, and
/// a secret source tests can change under a running service. Not
/// part of the service: compiled only for tests (the `test-support` feature).
#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod testing;
