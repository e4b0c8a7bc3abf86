//! Sessions and refresh tokens in memory, each method under the one lock
//! of the tables.

use super::{unexpected, MemoryStore};
use crate::core::audit::AuditEvent;
use crate::core::refresh::TokenHash;
use crate::core::session::{SessionId, SessionUse};
use crate::core::user::{CredentialEpoch, UnixSeconds, UserId};
use crate::ports::{RefreshRecord, RepoError, RotateOutcome, SessionRecord, SessionRepo};
use async_trait::async_trait;

#[async_trait]
impl SessionRepo for MemoryStore {
    async fn create(
        &self,
        session: &SessionRecord,
        first: &RefreshRecord,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError> {
        let mut tables = self.write();
        if !tables.epoch_holds(session.user_id, None, session.credential_epoch) {
            return Ok(false);
        }
        if tables.sessions.contains_key(&session.id) {
            return Err(unexpected("session id is already stored"));
        }
        tables.sessions.insert(session.id, session.clone());
        // Undo the session if its token is refused, so the pair stays atomic.
        if let Err(error) = tables.check_refresh_token_insertable(first) {
            tables.sessions.remove(&session.id);
            return Err(error);
        }
        tables.refresh_tokens.insert(first.token_hash, first.clone());
        tables.record(audit);
        Ok(true)
    }

    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, RepoError> {
        Ok(self.read().sessions.get(&id).cloned())
    }

    async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshRecord>, RepoError> {
        Ok(self.read().refresh_tokens.get(hash).cloned())
    }

    async fn rotate(
        &self,
        parent: &TokenHash,
        child: &RefreshRecord,
        epoch: CredentialEpoch,
        now: UnixSeconds,
    ) -> Result<RotateOutcome, RepoError> {
        let mut tables = self.write();
        if !tables.epoch_holds(child.user_id, Some(child.session_id), epoch) {
            return Ok(RotateOutcome::Refused);
        }
        let rotated_at = tables
            .refresh_tokens
            .get(parent)
            .ok_or_else(|| unexpected("the refresh token to rotate is not stored"))?
            .rotated_at;
        if let Some(at) = rotated_at {
            return Ok(RotateOutcome::AlreadyRotated { at });
        }
        tables.check_refresh_token_insertable(child)?;
        if let Some(record) = tables.refresh_tokens.get_mut(parent) {
            record.rotated_at = Some(now);
        }
        tables.refresh_tokens.insert(child.token_hash, child.clone());
        Ok(RotateOutcome::Rotated)
    }

    async fn ensure_refresh_token(&self, child: &RefreshRecord, epoch: CredentialEpoch) -> Result<bool, RepoError> {
        let mut tables = self.write();
        if !tables.epoch_holds(child.user_id, Some(child.session_id), epoch) {
            return Ok(false);
        }
        if tables.refresh_tokens.contains_key(&child.token_hash) {
            return Ok(true);
        }
        tables.check_refresh_token_insertable(child)?;
        tables.refresh_tokens.insert(child.token_hash, child.clone());
        Ok(true)
    }

    async fn revoke(&self, id: SessionId, now: UnixSeconds, audit: &[AuditEvent]) -> Result<bool, RepoError> {
        let mut tables = self.write();
        let live = match tables.sessions.get_mut(&id) {
            Some(session) if session.revoked_at.is_none() => {
                session.revoked_at = Some(now);
                true
            }
            _ => false,
        };
        tables.record(audit);
        Ok(live)
    }

    async fn revoke_all(
        &self,
        user: UserId,
        except: Option<SessionId>,
        now: UnixSeconds,
    ) -> Result<Vec<SessionId>, RepoError> {
        let mut tables = self.write();
        let mut revoked = Vec::new();
        for session in tables.sessions.values_mut() {
            if session.user_id == user && session.revoked_at.is_none() && Some(session.id) != except {
                session.revoked_at = Some(now);
                revoked.push(session.id);
            }
        }
        Ok(revoked)
    }

    async fn list(
        &self,
        user: UserId,
        now: UnixSeconds,
        before: Option<SessionId>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, RepoError> {
        let tables = self.read();
        let mut live: Vec<SessionRecord> = tables
            .sessions
            .values()
            .filter(|session| session.user_id == user && session.revoked_at.is_none())
            .filter(|session| before.is_none_or(|before| session.id < before))
            .filter(|session| {
                tables.refresh_tokens.values().any(|token| token.session_id == session.id && token.expires_at > now)
            })
            .cloned()
            .collect();
        live.sort_by_key(|session| std::cmp::Reverse(session.id));
        live.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(live)
    }

    async fn end(
        &self,
        user: UserId,
        id: SessionId,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError> {
        let mut tables = self.write();
        match tables.sessions.get_mut(&id) {
            Some(session) if session.user_id == user && session.revoked_at.is_none() => {
                session.revoked_at = Some(now);
                tables.record(audit);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn record_use(&self, id: SessionId, used: &SessionUse) -> Result<(), RepoError> {
        if let Some(session) = self.write().sessions.get_mut(&id) {
            session.last_use = used.clone();
        }
        Ok(())
    }

    async fn purge_expired(&self, now: UnixSeconds) -> Result<u64, RepoError> {
        let mut tables = self.write();
        let before = tables.refresh_tokens.len();
        tables.refresh_tokens.retain(|_, token| token.expires_at >= now);
        let purged = before - tables.refresh_tokens.len();
        Ok(u64::try_from(purged).unwrap_or(u64::MAX))
    }
}
