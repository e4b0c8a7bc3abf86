//! Implementations of the ports, one module per technology. In-process and
//! environment adapters are always built, except the in-memory store, which
//! exists for tests only; the others sit behind their Cargo feature. No
//! adapter imports anything from `crate::app`.

pub mod bcrypt_hasher;
pub mod env_secrets;
pub mod fallback_limiter;
pub mod file_secrets;
/// Development mail: messages to the log; refused in production.
pub mod log_mailer;
/// The bounded outgoing mail queue and its background delivery.
pub mod mail_queue;
/// Subjects and bodies of the mailed links, overridable by the operator.
pub mod mail_templates;
/// Test support only: no configuration can select it.
#[cfg(any(test, feature = "test-support"))]
pub mod memory;
pub mod memory_limiter;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod prometheus_metrics;
#[cfg(feature = "redis")]
pub mod redis_limiter;
/// SMTP delivery through lettre (rustls on ring).
pub mod smtp_mailer;
#[cfg(test)]
mod smtp_tls_tests;
/// What the two SQL adapters share: column lists, row parsing, constraint
/// mapping.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod system;
/// TLS to Postgres and Redis: the crypto provider, CA files, and telling a
/// refused certificate from an unreachable server.
#[cfg(any(feature = "postgres", feature = "redis"))]
pub mod tls;
#[cfg(feature = "vault")]
pub mod vault;

#[cfg(test)]
pub(crate) mod contract;
#[cfg(test)]
pub(crate) mod limiter_contract;
#[cfg(test)]
pub(crate) mod secrets_contract;
#[cfg(test)]
pub(crate) mod test_certificates;
