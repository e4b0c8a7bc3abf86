//! Where users are stored.

use super::RepoError;
use crate::core::audit::AuditEvent;
use crate::core::email::Email;
use crate::core::password::PasswordHash;
use crate::core::session::EndSessions;
use crate::core::user::{CredentialEpoch, UnixSeconds, User, UserChange, UserId};
use async_trait::async_trait;

/// Why an insert was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserInsertError {
    #[error("email is already registered")]
    EmailTaken,
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Why an administrative change or a deletion was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserUpdateError {
    #[error("user not found")]
    NotFound,
    /// The change would leave no active administrator.
    #[error("the last active admin cannot be demoted, disabled or deleted")]
    LastAdmin,
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Stores users.
///
/// E-mails arrive normalised; the store must still enforce their uniqueness
/// itself, so that two racing registrations end in one insert and one
/// [`UserInsertError::EmailTaken`].
///
/// Every write that ends credentials (`set_password`, `advance_epoch`, and
/// `update` of a role or status) advances the user's credential epoch in
/// the same transaction, ends the sessions it is told to end, and moves the
/// user's other live sessions of the old epoch on to the new one. Sessions
/// and rotations check the epoch under the same lock (see
/// [`crate::ports::SessionRepo`]), so no session opened or refreshed under
/// the old epoch outlives the write.
///
/// Every method that writes takes the audit events that record the write
/// and stores them in the same transaction: a write that fails or is
/// refused leaves no event, and no event is stored without its write.
///
/// # Errors
/// Every method returns [`RepoError`] when storage fails. `update` and
/// `delete` must check "at least one active admin remains" atomically with
/// the write and return [`UserUpdateError::LastAdmin`] otherwise.
#[async_trait]
pub trait UserRepo: Send + Sync {
    async fn insert(&self, user: &User, audit: &[AuditEvent]) -> Result<(), UserInsertError>;
    async fn by_email(&self, email: &Email) -> Result<Option<User>, RepoError>;
    async fn by_id(&self, id: UserId) -> Result<Option<User>, RepoError>;
    /// Up to `limit` users with ids greater than `after`, in id order.
    async fn list(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>, RepoError>;
    /// Replaces the hash and advances the epoch, ending `ends`; returns the
    /// new epoch, or `None` for an unknown id (which changes nothing).
    async fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        ends: EndSessions,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<Option<CredentialEpoch>, RepoError>;
    /// Advances the epoch alone, ending `ends`; returns the new epoch, or
    /// `None` for an unknown id.
    async fn advance_epoch(
        &self,
        id: UserId,
        ends: EndSessions,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<Option<CredentialEpoch>, RepoError>;
    /// Applies `change`; a change of role or status advances the epoch,
    /// ending every session unless the user stays active.
    async fn update(
        &self,
        id: UserId,
        change: UserChange,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<User, UserUpdateError>;
    async fn delete(&self, id: UserId, audit: &[AuditEvent]) -> Result<(), UserUpdateError>;
    /// Replaces the hash with `new` only if it is still `old` (a re-hash at
    /// a new cost, which ends no credentials and so leaves the epoch
    /// alone); returns whether it did. A password changed meanwhile is
    /// never overwritten.
    async fn replace_hash(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError>;
    /// Whether any active administrator exists.
    async fn has_active_admin(&self) -> Result<bool, RepoError>;
    /// Whether storage answers; readiness uses it.
    async fn ping(&self) -> Result<(), RepoError>;
}
