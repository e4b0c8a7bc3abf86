//! What administrators may do to users, and the rule that the last active
//! admin can be neither demoted, disabled nor deleted.

use super::audit::{AuditEvent, AuditPage, AuditQuery, AuditType, Origin, MAX_AUDIT_PAGE};
use super::auth::AuthService;
use super::email::Email;
use super::failure::{absorbs_failures, ServiceFailure};
use super::password::{Password, PasswordError};
use super::session::EndSessions;
use super::user::{CredentialEpoch, User, UserChange, UserId, UserStatus};
use crate::ports::{HashError, LimiterError, RepoError, RevocationReason, UserUpdateError};

/// Most users one page may hold.
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("user not found")]
    NotFound,
    #[error("the last active admin cannot be demoted, disabled or deleted")]
    LastAdmin,
    #[error("weak password")]
    WeakPassword(#[source] PasswordError),
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

    /// The user with this address.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an address no account has, or one that
    /// is not an address.
    pub async fn user_by_email(&self, email: &str) -> Result<User, AdminError> {
        let email = Email::parse(email).map_err(|_| AdminError::NotFound)?;
        self.ports.users.by_email(&email).await?.ok_or(AdminError::NotFound)
    }

    /// Changes role and/or status. Disabling ends every session; any change
    /// ends the access tokens that still carry the old role or status. Each
    /// part of the change is audited (`admin_role_changed`,
    /// `admin_user_disabled`, `admin_user_enabled`) with the write.
    ///
    /// # Errors
    /// [`AdminError::NotFound`], [`AdminError::LastAdmin`].
    pub async fn update_user(&self, id: UserId, change: UserChange, origin: &Origin) -> Result<User, AdminError> {
        let now = self.ports.clock.now();
        let mut audit = Vec::new();
        if let Some(role) = change.role {
            audit.push(self.audit_event(origin, AuditType::AdminRoleChanged, Some(id)).detail("role", role.as_str()));
        }
        if let Some(status) = change.status {
            let kind = match status {
                UserStatus::Active => AuditType::AdminUserEnabled,
                UserStatus::Disabled => AuditType::AdminUserDisabled,
            };
            audit.push(self.audit_event(origin, kind, Some(id)));
        }
        let user = self.ports.users.update(id, change, now, &audit).await?;
        audit.iter().for_each(AuditEvent::log);
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
    pub async fn unlock_user(&self, id: UserId, origin: &Origin) -> Result<(), AdminError> {
        let user = self.get_user(id).await?;
        self.ports.limiter.clear_account(user.email.as_str()).await?;
        self.record_alone(self.audit_event(origin, AuditType::AdminUserUnlocked, Some(id))).await?;
        Ok(())
    }

    /// Sets a new password for the user, ending every session and token.
    ///
    /// # Errors
    /// [`AdminError::NotFound`], [`AdminError::WeakPassword`].
    pub async fn reset_password(&self, id: UserId, password: String, origin: &Origin) -> Result<(), AdminError> {
        let user = self.get_user(id).await?;
        let password = Password::new(password, user.email.local_part()).map_err(AdminError::WeakPassword)?;
        let hash = self.ports.hasher.hash(&password).await?;
        let now = self.ports.clock.now();
        let event = self.audit_event(origin, AuditType::AdminPasswordReset, Some(id));
        let epoch = self.ports.users.set_password(id, &hash, EndSessions::All, now, std::slice::from_ref(&event));
        let epoch = epoch.await?.ok_or(AdminError::NotFound)?;
        event.log();
        self.cut_off_user(id, epoch, now).await?;
        Ok(())
    }

    /// A page of the audit trail, newest first; `query.limit` is clamped to
    /// `1..=MAX_AUDIT_PAGE`.
    ///
    /// # Errors
    /// [`AdminError::Failure`] when storage fails.
    pub async fn audit_trail(&self, query: AuditQuery) -> Result<AuditPage, AdminError> {
        let limit = query.limit.clamp(1, MAX_AUDIT_PAGE);
        let mut items = self.ports.audit.page(&AuditQuery { limit: limit + 1, ..query }).await?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|event| event.id)
        } else {
            None
        };
        Ok(AuditPage { items, next_cursor })
    }

    /// Deletes the user and ends every session and token.
    ///
    /// # Errors
    /// [`AdminError::NotFound`], [`AdminError::LastAdmin`].
    pub async fn delete_user(&self, id: UserId, origin: &Origin) -> Result<(), AdminError> {
        let event = self.audit_event(origin, AuditType::AdminUserDeleted, Some(id));
        self.ports.users.delete(id, std::slice::from_ref(&event)).await?;
        event.log();
        // Sessions went with the row; no epoch of a deleted user is valid.
        let now = self.ports.clock.now();
        self.cut_off_user(id, CredentialEpoch::END, now).await?;
        self.ports.metrics.revocation(RevocationReason::AdminDelete);
        Ok(())
    }
}
