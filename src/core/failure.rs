//! What an operation's error says when the machinery, not the request,
//! failed: a busy pool, an unreachable dependency, or something unexpected.
//! Every use case's error absorbs these through [`absorbs_failures`], so no
//! use case needs a match arm per infrastructure error.

use crate::ports::{HashError, LimiterError, RepoError};
use std::time::Duration;

/// A failure of the machinery rather than of the request.
#[derive(Debug, thiserror::Error)]
pub enum ServiceFailure {
    /// A bounded resource is saturated; the caller should retry later.
    #[error("service is busy")]
    Busy { retry_after: Duration },
    /// A dependency is down.
    #[error("a dependency is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("unexpected failure")]
    Unexpected(#[source] anyhow::Error),
}

impl From<RepoError> for ServiceFailure {
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::Unavailable(source) => Self::Unavailable(source),
            RepoError::Unexpected(source) => Self::Unexpected(source),
        }
    }
}

impl From<HashError> for ServiceFailure {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy { retry_after } => Self::Busy { retry_after },
            HashError::Unexpected(source) => Self::Unexpected(source),
        }
    }
}

impl From<LimiterError> for ServiceFailure {
    fn from(error: LimiterError) -> Self {
        match error {
            LimiterError::Unavailable(source) => Self::Unavailable(source),
        }
    }
}

/// Lets an operation's error absorb every infrastructure error via `?`.
macro_rules! absorbs_failures {
    ($error:ident) => {
        impl From<RepoError> for $error {
            fn from(error: RepoError) -> Self {
                Self::Failure(error.into())
            }
        }
        impl From<HashError> for $error {
            fn from(error: HashError) -> Self {
                Self::Failure(error.into())
            }
        }
        impl From<LimiterError> for $error {
            fn from(error: LimiterError) -> Self {
                Self::Failure(error.into())
            }
        }
    };
}
pub(crate) use absorbs_failures;
