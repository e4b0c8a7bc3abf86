//! Where sessions and their refresh tokens are stored.
//!
//! Refresh tokens are kept only as SHA-256 hashes: a stolen database does
//! not yield usable tokens.

use super::RepoError;
use crate::core::refresh::TokenHash;
use crate::core::session::SessionId;
use crate::core::user::{UnixSeconds, UserId};
use async_trait::async_trait;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: UnixSeconds,
    pub revoked_at: Option<UnixSeconds>,
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
}

/// Stores sessions and refresh tokens.
///
/// # Errors
/// Every method returns [`RepoError`] when storage fails. A session for an
/// unknown user, a token for an unknown session, and rotating a parent that
/// is not stored are [`RepoError::Unexpected`]: the core never asks for
/// them. `revoke_all` returns ids in no particular order.
#[async_trait]
pub trait SessionRepo: Send + Sync {
    async fn create(&self, session: &SessionRecord, first: &RefreshRecord) -> Result<(), RepoError>;
    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, RepoError>;
    async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshRecord>, RepoError>;
    /// Marks `parent` rotated and stores `child`, atomically; only one of
    /// several racing calls gets [`RotateOutcome::Rotated`].
    async fn rotate(
        &self,
        parent: &TokenHash,
        child: &RefreshRecord,
        now: UnixSeconds,
    ) -> Result<RotateOutcome, RepoError>;
    /// Stores `child` unless it exists: the grace window re-issues it.
    async fn ensure_refresh_token(&self, child: &RefreshRecord) -> Result<(), RepoError>;
    /// Revokes one session; returns whether it was live.
    async fn revoke(&self, id: SessionId, now: UnixSeconds) -> Result<bool, RepoError>;
    /// Revokes every live session of `user` but `except`; returns their ids.
    async fn revoke_all(
        &self,
        user: UserId,
        except: Option<SessionId>,
        now: UnixSeconds,
    ) -> Result<Vec<SessionId>, RepoError>;
    /// Deletes refresh tokens that expired before `now`.
    async fn purge_expired(&self, now: UnixSeconds) -> Result<u64, RepoError>;
}
