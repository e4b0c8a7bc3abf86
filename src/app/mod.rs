//! The application around the core: configuration, the composition root,
//! the HTTP adapter, the listeners and background loops, readiness and
//! logs. One concern per module:
//!
//! - [`cli`]: the binary's subcommands other than serving;
//! - [`config`]: layered settings, validated once, in typed sections;
//! - [`compose`]: the only place that picks adapters;
//! - [`server`]: the listeners and graceful shutdown;
//! - [`tasks`]: the background loops, and [`key_refresh`] the key ring's reload;
//! - [`http`]: routes, the OpenAPI document and middleware;
//! - [`readiness`] and [`telemetry`]: `/readyz` checks and scrubbed logs;
//! - [`cli`]: the operator's subcommands (`admin …`, `config check`).
//!
//! Nothing outside `app` may import from it, apart from the binary and tests.

pub mod cli;
pub mod compose;
pub mod config;
pub mod http;
pub mod key_refresh;
pub mod readiness;
pub mod server;
pub mod tasks;
pub mod telemetry;

pub use compose::{build_state, enabled_features};
pub use server::{shutdown_signal, start, start_with_secrets, Running};
