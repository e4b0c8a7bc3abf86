//! What administrators may do to users, and the rule that the last active
//! admin can be neither demoted, disabled nor deleted.

use super::auth::AuthService;
use super::failure::{absorbs_failures, ServiceFailure};
use super::user::{CredentialEpoch, User, UserChange, UserId};
use crate::ports::{HashError, LimiterError, RepoError, RevocationReason, UserUpdateError};

/// Most users one page may hold.
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("user not found")]
    NotFound,
    #[error("the last active admin cannot be demoted, disabled or deleted")]
    LastAdmin,
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(AdminError);

impl From<UserUpdateError> for AdminError {
    fn from(error: UserUpdateError) -> Self {
        match error {
            UserUpdateError::NotFound => Self::NotFound,
            UserUpdateError::LastAdmin => Self::LastAdmin,
            UserUpdateError::Repo(error) => error.into(),
        }
    }
}

/// One page of users, and where the next one starts.
#[derive(Debug)]
pub struct UserPage {
    pub items: Vec<User>,
    pub next_cursor: Option<UserId>,
}

impl AuthService {
    /// Users in id (creation) order after `cursor`; `limit` is clamped to
    /// `1..=MAX_PAGE_SIZE` by the caller's validation.
    ///
    /// # Errors
    /// [`AdminError::Failure`] when storage fails.
    pub async fn list_users(&self, limit: u32, cursor: Option<UserId>) -> Result<UserPage, AdminError> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let mut items = self.ports.users.list(cursor, limit + 1).await?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|u| u.id)
        } else {
            None
        };
        Ok(UserPage { items, next_cursor })
    }

    /// # Errors
    /// [`AdminError::NotFound`] for an unknown id.
    pub async fn get_user(&self, id: UserId) -> Result<User, AdminError> {
        self.ports.users.by_id(id).await?.ok_or(AdminError::NotFound)
    }

    /// Changes role and/or status. Disabling ends every session; any change
    /// ends the access tokens that still carry the old role or status.
    ///
    /// # Errors
    /// [`AdminError::NotFound`], [`AdminError::LastAdmin`].
    pub async fn update_user(&self, id: UserId, change: UserChange) -> Result<User, AdminError> {
        let now = self.ports.clock.now();
        let user = self.ports.users.update(id, change, now).await?;
        if change.role.is_some() || change.status.is_some() {
            // The store advanced the epoch and, on a disabling, ended every
            // session; a role change keeps them, and refresh reads the role
            // afresh.
            self.cut_off_user(id, user.credential_epoch, now).await?;
            self.ports.metrics.revocation(RevocationReason::AdminUpdate);
        }
        Ok(user)
    }

    /// Clears every failed-login counter and lockout of the user.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an unknown id.
    pub async fn unlock_user(&self, id: UserId) -> Result<(), AdminError> {
        let user = self.get_user(id).await?;
        self.ports.limiter.clear_account(user.email.as_str()).await?;
        Ok(())
    }

    /// Deletes the user and ends every session and token.
    ///
    /// # Errors
    /// [`AdminError::NotFound`], [`AdminError::LastAdmin`].
    pub async fn delete_user(&self, id: UserId) -> Result<(), AdminError> {
        self.ports.users.delete(id).await?;
        // Sessions went with the row; no epoch of a deleted user is valid.
        let now = self.ports.clock.now();
        self.cut_off_user(id, CredentialEpoch::END, now).await?;
        self.ports.metrics.revocation(RevocationReason::AdminDelete);
        Ok(())
    }
}
