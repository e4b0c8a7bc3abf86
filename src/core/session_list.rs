//! The sessions a user can see and end: their own, through the bearer
//! routes, and anyone's, through the admin routes. Ending one is as exact
//! as a logout: its refresh tokens are refused by the store at once, and
//! its access tokens through the revocation view here and, by the feed, on
//! every other replica.

use super::admin::AdminError;
use super::audit::{AuditType, Origin};
use super::auth::AuthService;
use super::failure::{absorbs_failures, ServiceFailure};
use super::revocation::Revocation;
use super::session::{EndSessions, SessionId, MAX_SESSION_PAGE};
use super::token::Principal;
use super::user::UserId;
use crate::ports::{HashError, LimiterError, RepoError, RevocationReason, SessionRecord};

#[derive(Debug, thiserror::Error)]
pub enum EndSessionError {
    /// No live session of the caller has this id: it is another user's,
    /// already over, or never was. The three look alike on purpose.
    #[error("no such session")]
    NotFound,
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(EndSessionError);

/// One page of a user's live sessions, newest first, and where the next
/// one starts.
#[derive(Debug)]
pub struct SessionPage {
    pub items: Vec<SessionRecord>,
    pub next_cursor: Option<SessionId>,
}

impl AuthService {
    /// The live sessions of `user`, newest first, after `cursor`; `limit`
    /// is clamped to `1..=MAX_SESSION_PAGE`.
    ///
    /// # Errors
    /// [`ServiceFailure`] when storage fails.
    pub async fn list_sessions(
        &self,
        user: UserId,
        limit: u32,
        cursor: Option<SessionId>,
    ) -> Result<SessionPage, ServiceFailure> {
        let limit = limit.clamp(1, MAX_SESSION_PAGE);
        let now = self.ports.clock.now();
        let mut items = self.ports.sessions.list(user, now, cursor, limit + 1).await?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|session| session.id)
        } else {
            None
        };
        Ok(SessionPage { items, next_cursor })
    }

    /// Ends one of the caller's sessions (the current one too, which is a
    /// logout), audited as a `logout` of that session.
    ///
    /// # Errors
    /// [`EndSessionError::NotFound`] unless `id` is a live session of the caller.
    pub async fn end_own_session(
        &self,
        principal: &Principal,
        id: SessionId,
        origin: &Origin,
    ) -> Result<(), EndSessionError> {
        let origin = origin.clone().by(principal.user_id);
        let event = self.audit_event(&origin, AuditType::Logout, Some(principal.user_id)).session(id);
        if !self.end_session_of(principal.user_id, id, event).await? {
            return Err(EndSessionError::NotFound);
        }
        self.ports.metrics.revocation(RevocationReason::Logout);
        Ok(())
    }

    /// The live sessions of any user, for an admin.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an unknown user.
    pub async fn admin_list_sessions(
        &self,
        user: UserId,
        limit: u32,
        cursor: Option<SessionId>,
    ) -> Result<SessionPage, AdminError> {
        self.get_user(user).await?;
        Ok(self.list_sessions(user, limit, cursor).await?)
    }

    /// One session of `user` that has not been ended, for an admin.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an unknown user, or an id that is not
    /// one of the user's sessions or is ended.
    pub async fn admin_get_session(&self, user: UserId, id: SessionId) -> Result<SessionRecord, AdminError> {
        self.get_user(user).await?;
        let session = self.ports.sessions.session(id).await?;
        session.filter(|session| session.user_id == user && session.revoked_at.is_none()).ok_or(AdminError::NotFound)
    }

    /// Ends one session of `user`, audited as `admin_sessions_revoked`
    /// naming the session.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an unknown user, or an id that is not
    /// one of the user's live sessions.
    pub async fn admin_end_session(&self, user: UserId, id: SessionId, origin: &Origin) -> Result<(), AdminError> {
        let event = self.audit_event(origin, AuditType::AdminSessionsRevoked, Some(user)).session(id);
        if !self.end_session_of(user, id, event).await? {
            return Err(AdminError::NotFound);
        }
        self.ports.metrics.revocation(RevocationReason::AdminUpdate);
        Ok(())
    }

    /// Ends every session and access token of `user`, as a logout
    /// everywhere does, audited as `admin_sessions_revoked` of scope `all`.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an unknown user.
    pub async fn admin_end_all_sessions(&self, user: UserId, origin: &Origin) -> Result<(), AdminError> {
        let now = self.ports.clock.now();
        let event = self.audit_event(origin, AuditType::AdminSessionsRevoked, Some(user)).detail("scope", "all");
        let audit = std::slice::from_ref(&event);
        let epoch = self.ports.users.advance_epoch(user, EndSessions::All, now, audit).await?;
        let epoch = epoch.ok_or(AdminError::NotFound)?;
        event.log();
        self.cut_off_user(user, epoch, now).await?;
        self.ports.metrics.revocation(RevocationReason::AdminUpdate);
        Ok(())
    }

    /// Ends `id` if it is a live session of `user`, with `event` stored in
    /// the same write; then refuses its access tokens here and on every
    /// replica. Returns whether it ended it.
    async fn end_session_of(
        &self,
        user: UserId,
        id: SessionId,
        event: super::audit::AuditEvent,
    ) -> Result<bool, ServiceFailure> {
        let now = self.ports.clock.now();
        if !self.ports.sessions.end(user, id, now, std::slice::from_ref(&event)).await? {
            return Ok(false);
        }
        event.log();
        let until = now + self.policy.tokens.access_ttl_seconds + self.policy.tokens.leeway_seconds;
        self.remember(Revocation::Session { sid: id, until }, now).await?;
        Ok(true)
    }
}
