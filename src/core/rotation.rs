//! Refreshing a session: each use of a refresh token rotates it; within the
//! grace window the same parent yields the same child again, and after it
//! a rotated token revokes the whole session (reuse detection).

use super::audit::{AuditType, Origin};
use super::auth::AuthService;
use super::failure::{absorbs_failures, ServiceFailure};
use super::keyring::KeyRing;
use super::login::TokenPair;
use super::refresh::RefreshToken;
use super::session::{SessionId, SessionUse};
use super::user::UserStatus;
use crate::ports::{
    HashError, LimiterError, RefreshRecord, RefreshRefusal, RepoError, RevocationReason, RotateOutcome, TokenKind,
};

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("refresh token is invalid")]
    Invalid,
    #[error("refresh token has expired")]
    Expired,
    #[error("refresh token has been revoked")]
    Revoked,
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(RefreshError);

impl AuthService {
    /// The child of `parent` that is already stored for `session`, under
    /// whichever key of the ring derived it.
    async fn stored_child(
        &self,
        parent: &RefreshToken,
        keys: &KeyRing,
        session: SessionId,
    ) -> Result<Option<RefreshToken>, RepoError> {
        for candidate in parent.possible_children(keys) {
            let stored = self.ports.sessions.refresh_token(&candidate.hash()).await?;
            if stored.is_some_and(|record| record.session_id == session) {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    /// Exchanges a refresh token for a new pair, rotating it.
    ///
    /// Presenting an already rotated token within the grace window returns
    /// the same child again; after it, the whole session is revoked.
    ///
    /// # Errors
    /// See [`RefreshError`].
    /// A reuse is audited as `refresh_token_reuse`, with the revocation of
    /// the session, by the session's user from `origin`.
    pub async fn refresh(&self, presented: &str, origin: &Origin) -> Result<TokenPair, RefreshError> {
        let parent = RefreshToken::parse(presented).map_err(|_| RefreshError::Invalid)?;
        let record = self.ports.sessions.refresh_token(&parent.hash()).await?.ok_or(RefreshError::Invalid)?;
        let session = self.ports.sessions.session(record.session_id).await?.ok_or(RefreshError::Invalid)?;
        let now = self.ports.clock.now();
        if session.revoked_at.is_some() {
            return Err(RefreshError::Revoked);
        }
        if record.expires_at <= now {
            return Err(RefreshError::Expired);
        }
        let user = match self.ports.users.by_id(record.user_id).await? {
            Some(user) if user.status == UserStatus::Active => user,
            _ => return Err(RefreshError::Revoked),
        };

        let keys = self.keys();
        let mut child = parent.child(&keys);
        let mut child_record = RefreshRecord {
            token_hash: child.hash(),
            session_id: session.id,
            user_id: user.id,
            issued_at: now,
            expires_at: now + self.policy.refresh_ttl_seconds,
            rotated_at: None,
        };
        // The store refuses the rotation if a cut-off moved the user's epoch
        // on after it was read above: the check and the write are one.
        let epoch = user.credential_epoch;
        let rotated_at = match record.rotated_at {
            None => match self.ports.sessions.rotate(&record.token_hash, &child_record, epoch, now).await? {
                RotateOutcome::Rotated => None,
                RotateOutcome::AlreadyRotated { at } => Some(at),
                RotateOutcome::Refused => {
                    self.ports.metrics.refresh_refused(RefreshRefusal::CutOff);
                    return Err(RefreshError::Revoked);
                }
            },
            Some(at) => Some(at),
        };
        if let Some(at) = rotated_at {
            let grace = self.policy.refresh_grace_seconds;
            if grace == 0 || now - at > grace {
                self.ports.metrics.refresh_token_reuse();
                tracing::warn!(session_id = %session.id, user_id = %user.id, "rotated refresh token reused; session revoked");
                let origin = origin.clone().by(user.id);
                let event = self.audit_event(&origin, AuditType::RefreshTokenReuse, Some(user.id)).failed();
                self.revoke_session(session.id, now, &[event.session(session.id)]).await?;
                self.ports.metrics.revocation(RevocationReason::RefreshReuse);
                return Err(RefreshError::Revoked);
            }
            // Another replica may have rotated the parent while its ring had
            // another key active (a promotion reaching replicas one by one):
            // return the child it stored, so the grace retry still yields
            // the very same token.
            if let Some(stored) = self.stored_child(&parent, &keys, session.id).await? {
                child_record.token_hash = stored.hash();
                child = stored;
            }
            child_record.issued_at = at;
            child_record.expires_at = at + self.policy.refresh_ttl_seconds;
            if !self.ports.sessions.ensure_refresh_token(&child_record, epoch).await? {
                self.ports.metrics.refresh_refused(RefreshRefusal::CutOff);
                return Err(RefreshError::Revoked);
            }
        }
        let this_use = SessionUse { at: now, ip: origin.ip, user_agent: origin.user_agent.clone() };
        self.ports.sessions.record_use(session.id, &this_use).await?;
        self.ports.metrics.token_issued(TokenKind::Refresh);
        let amr = self.session_amr(session.id).await?;
        let (access_token, expires_in) = self.issue_access_token(&user, session.id, now, amr);
        Ok(TokenPair { access_token, expires_in, refresh_token: child, device_token: None })
    }
}
