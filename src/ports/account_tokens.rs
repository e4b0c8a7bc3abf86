//! Where the one-time tokens of mailed links are kept: verification and
//! password reset. Only hashes are stored.

use super::RepoError;
use crate::core::audit::AuditEvent;
use crate::core::mail::{AccountTokenRecord, TokenPurpose};
use crate::core::refresh::TokenHash;
use crate::core::user::{UnixSeconds, UserId};
use async_trait::async_trait;

/// Stores one-time account tokens.
///
/// A token is single-use: of any number of concurrent `take_account_token`
/// calls for one hash, exactly one returns it. Issuing a token removes the
/// user's earlier tokens of the same purpose in the same write, so only the
/// newest link works. Tokens go with their user when the user is deleted.
///
/// # Errors
/// Every method returns [`RepoError`] when storage fails.
#[async_trait]
pub trait AccountTokenRepo: Send + Sync {
    /// Stores `record`, replacing the user's earlier tokens of its purpose,
    /// and `audit` with it.
    async fn issue_account_token(&self, record: &AccountTokenRecord, audit: &[AuditEvent]) -> Result<(), RepoError>;
    /// The token stored under `hash` for `purpose`, expired or not, without
    /// using it up.
    async fn find_account_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
    ) -> Result<Option<AccountTokenRecord>, RepoError>;
    /// Removes the token stored under `hash` for `purpose` and returns it,
    /// expired or not; `None` when it is not (or no longer) stored.
    async fn take_account_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
    ) -> Result<Option<AccountTokenRecord>, RepoError>;
    /// Marks `user`'s address verified, storing `audit` with the change;
    /// `false` for an unknown user.
    async fn mark_email_verified(
        &self,
        user: UserId,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError>;
    /// Drops tokens that expired before `now`; returns how many.
    async fn purge_account_tokens(&self, now: UnixSeconds) -> Result<u64, RepoError>;
}
