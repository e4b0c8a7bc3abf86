//! Where signing keys come from: the environment today, a secret manager
//! where the `vault` feature is built.

use async_trait::async_trait;
use secrecy::SecretString;

/// Keys could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no signing keys are configured")]
    Missing,
    #[error("secret source is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// Supplies the HS256 keys, first one signing.
///
/// # Errors
/// [`SecretError::Missing`] when none are configured (the caller decides
/// whether that is fatal), [`SecretError::Unavailable`] when the source
/// cannot be reached.
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn jwt_keys(&self) -> Result<Vec<SecretString>, SecretError>;
    /// A short name for logs: `env`, `vault`.
    fn name(&self) -> &'static str;
}
