//! Where users are stored.

use super::RepoError;
use crate::core::email::Email;
use crate::core::password::PasswordHash;
use crate::core::user::{UnixSeconds, User, UserChange, UserId};
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
/// # Errors
/// Every method returns [`RepoError`] when storage fails. `update` and
/// `delete` must check "at least one active admin remains" atomically with
/// the write and return [`UserUpdateError::LastAdmin`] otherwise.
#[async_trait]
pub trait UserRepo: Send + Sync {
    async fn insert(&self, user: &User) -> Result<(), UserInsertError>;
    async fn by_email(&self, email: &Email) -> Result<Option<User>, RepoError>;
    async fn by_id(&self, id: UserId) -> Result<Option<User>, RepoError>;
    /// Up to `limit` users with ids greater than `after`, in id order.
    async fn list(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>, RepoError>;
    /// Replaces the hash; an unknown id changes nothing.
    async fn set_password(&self, id: UserId, hash: &PasswordHash, now: UnixSeconds) -> Result<(), RepoError>;
    async fn update(&self, id: UserId, change: UserChange, now: UnixSeconds) -> Result<User, UserUpdateError>;
    async fn delete(&self, id: UserId) -> Result<(), UserUpdateError>;
    /// Whether any active administrator exists.
    async fn has_active_admin(&self) -> Result<bool, RepoError>;
    /// Whether storage answers; readiness uses it.
    async fn ping(&self) -> Result<(), RepoError>;
}
