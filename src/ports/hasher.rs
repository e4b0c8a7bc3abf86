//! Password hashing: slow on purpose, so it must never run on the async
//! worker threads, and must refuse work rather than queue without end.

use crate::core::password::{Password, PasswordHash};
use async_trait::async_trait;
use std::time::Duration;

/// Why hashing or verifying did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot is taken and the queue is full: try again later.
    #[error("password hashing is saturated")]
    Busy { retry_after: Duration },
    #[error("password hashing failed")]
    Unexpected(#[source] anyhow::Error),
}

/// Hashes and verifies passwords.
///
/// # Errors
/// Implementations return [`HashError::Busy`] when their bounded queue is
/// full, and [`HashError::Unexpected`] when the hash is malformed or the
/// worker failed. A password that simply does not match is `Ok(false)`.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError>;
    /// Whether `hash` was made with other parameters (a bcrypt cost) than
    /// this hasher's, so that a login that just verified it should store a
    /// fresh one.
    fn needs_rehash(&self, hash: &PasswordHash) -> bool;
}
