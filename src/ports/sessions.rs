//! Where sessions and their refresh tokens are stored.
//!
//! Refresh tokens are kept only as SHA-256 hashes: a stolen database does
//! not yield usable tokens.

use super::RepoError;
use crate::core::audit::AuditEvent;
use crate::core::refresh::TokenHash;
use crate::core::session::{SessionId, SessionUse};
use crate::core::user::{CredentialEpoch, UnixSeconds, UserId};
use async_trait::async_trait;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: UnixSeconds,
    pub revoked_at: Option<UnixSeconds>,
    /// The user's credential epoch this session lives in; once the user's
    /// has moved past it, the session is over.
    pub credential_epoch: CredentialEpoch,
    /// The sign-in or the latest refresh, with the client's address and
    /// user agent at the time.
    pub last_use: SessionUse,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshRecord {
    pub token_hash: TokenHash,
    pub session_id: SessionId,
    pub user_id: UserId,
    pub issued_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    /// When this token was exchanged for its child, if it was.
    pub rotated_at: Option<UnixSeconds>,
}

/// What happened when a refresh token was presented for rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    /// This call rotated it; the child was stored.
    Rotated,
    /// It had already been rotated at this instant (by this or a racing call).
    AlreadyRotated { at: UnixSeconds },
    /// The user's credential epoch is no longer the one expected, the user
    /// is not active, or the session has ended: nothing was written.
    Refused,
}

/// Stores sessions and refresh tokens.
///
/// Opening a session, rotating and re-issuing a refresh token check, in the
/// same transaction that writes and under a lock that the epoch's writers
/// (see [`crate::ports::UserRepo`]) must wait for, that the user is active,
/// that the user's credential epoch is the expected one, and that the
/// session is live and in that epoch. A check that fails writes nothing.
///
/// # Errors
/// Every method returns [`RepoError`] when storage fails. A token for an
/// unknown session and rotating a parent that is not stored (of a live
/// session) are [`RepoError::Unexpected`]: the core never asks for them.
/// `revoke_all` returns ids in no particular order.
#[async_trait]
pub trait SessionRepo: Send + Sync {
    /// Stores the session and its first refresh token if the user is active
    /// and still in `session.credential_epoch`; returns whether it did.
    /// `audit` is stored with the session, and only if it is.
    async fn create(
        &self,
        session: &SessionRecord,
        first: &RefreshRecord,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError>;
    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, RepoError>;
    async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshRecord>, RepoError>;
    /// Marks `parent` rotated and stores `child`, atomically, if the user
    /// and the session are still in `epoch`; only one of several racing
    /// calls gets [`RotateOutcome::Rotated`].
    async fn rotate(
        &self,
        parent: &TokenHash,
        child: &RefreshRecord,
        epoch: CredentialEpoch,
        now: UnixSeconds,
    ) -> Result<RotateOutcome, RepoError>;
    /// Stores `child` unless it exists (the grace window re-issues it), if
    /// the user and the session are still in `epoch`; returns whether they
    /// were.
    async fn ensure_refresh_token(&self, child: &RefreshRecord, epoch: CredentialEpoch) -> Result<bool, RepoError>;
    /// Revokes one session, storing `audit` in the same transaction;
    /// returns whether it was live.
    async fn revoke(&self, id: SessionId, now: UnixSeconds, audit: &[AuditEvent]) -> Result<bool, RepoError>;
    /// Revokes every live session of `user` but `except`; returns their ids.
    async fn revoke_all(
        &self,
        user: UserId,
        except: Option<SessionId>,
        now: UnixSeconds,
    ) -> Result<Vec<SessionId>, RepoError>;
    /// The live sessions of `user` (not revoked, with a refresh token
    /// unexpired at `now`), newest id first, those with an id below
    /// `before` when it is given; at most `limit`.
    async fn list(
        &self,
        user: UserId,
        now: UnixSeconds,
        before: Option<SessionId>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, RepoError>;
    /// Revokes session `id` if it is `user`'s and not yet revoked, storing
    /// `audit` in the same transaction, and only then; returns whether it
    /// did. Another user's session is left alone and answers `false`.
    async fn end(&self, user: UserId, id: SessionId, now: UnixSeconds, audit: &[AuditEvent])
        -> Result<bool, RepoError>;
    /// Records a use (a refresh) of session `id`; an unknown id changes nothing.
    async fn record_use(&self, id: SessionId, used: &SessionUse) -> Result<(), RepoError>;
    /// Deletes refresh tokens that expired before `now`.
    async fn purge_expired(&self, now: UnixSeconds) -> Result<u64, RepoError>;
}
