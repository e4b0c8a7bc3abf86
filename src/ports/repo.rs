//! The error every storage port returns, and the schema's state.

/// A storage operation failed.
///
/// Adapters map driver errors here: a lost or refused connection is
/// [`RepoError::Unavailable`] (the request may succeed later), anything else
/// is [`RepoError::Unexpected`]. Conflicts that the caller must handle have
/// their own variants on the port's own error type.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("storage is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("storage failed")]
    Unexpected(#[source] anyhow::Error),
}

/// Whether the store's schema is what this build expects.
///
/// # Errors
/// [`RepoError`] when the store cannot be asked.
#[async_trait::async_trait]
pub trait SchemaStatus: Send + Sync {
    /// Whether every migration this build embeds has been applied.
    async fn migrations_current(&self) -> Result<bool, RepoError>;
}

/// How busy a store's connection pool is, for the pool gauges.
pub trait PoolStatus: Send + Sync {
    /// The pool's connections now; cheap, never waits for a connection.
    fn pool_usage(&self) -> crate::ports::PoolUsage;
}
