//! Second factors in memory, under the same lock as the users they belong
//! to, so deleting a user deletes them in the same step.

use super::{unexpected, MemoryStore, Tables};
use crate::core::audit::AuditEvent;
use crate::core::refresh::TokenHash;
use crate::core::session::SessionId;
use crate::core::user::{UnixSeconds, UserId};
use crate::ports::{MfaChallenge, MfaRepo, RepoError, TotpRecord};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};

/// What the second-factor tables hold.
#[derive(Default)]
pub(super) struct MfaTables {
    totp: HashMap<UserId, TotpRecord>,
    /// Each recovery code's hash, with its user and when it was used.
    recovery: HashMap<TokenHash, (UserId, Option<UnixSeconds>)>,
    challenges: HashMap<TokenHash, MfaChallenge>,
    sessions: HashSet<SessionId>,
}

impl MfaTables {
    /// Drops everything of `user`, as the foreign keys' cascades do.
    pub(super) fn forget_user(&mut self, user: UserId) {
        self.totp.remove(&user);
        self.recovery.retain(|_, (owner, _)| *owner != user);
        self.challenges.retain(|_, challenge| challenge.user_id != user);
    }
}

fn known_user(tables: &Tables, user: UserId) -> Result<(), RepoError> {
    if tables.users.contains_key(&user) {
        Ok(())
    } else {
        Err(unexpected("second factor for an unknown user"))
    }
}

#[async_trait]
impl MfaRepo for MemoryStore {
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, RepoError> {
        Ok(self.read().mfa.totp.get(&user).cloned())
    }

    async fn begin_totp(&self, record: &TotpRecord, audit: &[AuditEvent]) -> Result<bool, RepoError> {
        let mut tables = self.write();
        known_user(&tables, record.user_id)?;
        if tables.mfa.totp.get(&record.user_id).is_some_and(|stored| stored.confirmed_at.is_some()) {
            return Ok(false);
        }
        let pending = TotpRecord { confirmed_at: None, last_step: None, ..record.clone() };
        tables.mfa.totp.insert(record.user_id, pending);
        tables.record(audit);
        Ok(true)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        sealed: &[u8],
        step: i64,
        recovery: &[TokenHash],
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError> {
        let mut tables = self.write();
        match tables.mfa.totp.get_mut(&user) {
            Some(record) if record.confirmed_at.is_none() && record.sealed_secret == sealed => {
                record.confirmed_at = Some(now);
                record.last_step = Some(step);
            }
            _ => return Ok(false),
        }
        tables.mfa.recovery.retain(|_, (owner, _)| *owner != user);
        for code in recovery {
            tables.mfa.recovery.insert(*code, (user, None));
        }
        tables.record(audit);
        Ok(true)
    }

    async fn accept_step(&self, user: UserId, step: i64) -> Result<bool, RepoError> {
        let mut tables = self.write();
        match tables.mfa.totp.get_mut(&user) {
            Some(record) if record.confirmed_at.is_some() && record.last_step.is_none_or(|last| last < step) => {
                record.last_step = Some(step);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn use_recovery_code(&self, user: UserId, code: &TokenHash, now: UnixSeconds) -> Result<bool, RepoError> {
        let mut tables = self.write();
        match tables.mfa.recovery.get_mut(code) {
            Some((owner, used_at)) if *owner == user && used_at.is_none() => {
                *used_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, RepoError> {
        let tables = self.read();
        let left = tables.mfa.recovery.values().filter(|(owner, used)| *owner == user && used.is_none()).count();
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }

    async fn remove_totp(&self, user: UserId, audit: &[AuditEvent]) -> Result<bool, RepoError> {
        let mut tables = self.write();
        let removed = tables.mfa.totp.remove(&user).is_some();
        tables.mfa.recovery.retain(|_, (owner, _)| *owner != user);
        if removed {
            tables.record(audit);
        }
        Ok(removed)
    }

    async fn any_confirmed(&self) -> Result<bool, RepoError> {
        Ok(self.read().mfa.totp.values().any(|record| record.confirmed_at.is_some()))
    }

    async fn create_challenge(&self, challenge: &MfaChallenge) -> Result<(), RepoError> {
        let mut tables = self.write();
        known_user(&tables, challenge.user_id)?;
        if tables.mfa.challenges.contains_key(&challenge.token_hash) {
            return Err(unexpected("challenge is already stored"));
        }
        tables.mfa.challenges.insert(challenge.token_hash, challenge.clone());
        Ok(())
    }

    async fn challenge(&self, token_hash: &TokenHash, now: UnixSeconds) -> Result<Option<MfaChallenge>, RepoError> {
        let tables = self.read();
        Ok(tables.mfa.challenges.get(token_hash).filter(|challenge| challenge.expires_at > now).cloned())
    }

    async fn take_challenge(&self, token_hash: &TokenHash, now: UnixSeconds) -> Result<bool, RepoError> {
        let mut tables = self.write();
        if tables.mfa.challenges.get(token_hash).is_some_and(|challenge| challenge.expires_at > now) {
            tables.mfa.challenges.remove(token_hash);
            return Ok(true);
        }
        Ok(false)
    }

    async fn spend_reservation(&self, token_hash: &TokenHash) -> Result<bool, RepoError> {
        let mut tables = self.write();
        match tables.mfa.challenges.get_mut(token_hash) {
            Some(challenge) if challenge.reserved => {
                challenge.reserved = false;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn mark_session(&self, session: SessionId) -> Result<(), RepoError> {
        let mut tables = self.write();
        if !tables.sessions.contains_key(&session) {
            return Err(unexpected("second factor for an unknown session"));
        }
        tables.mfa.sessions.insert(session);
        Ok(())
    }

    async fn session_marked(&self, session: SessionId) -> Result<bool, RepoError> {
        let tables = self.read();
        Ok(tables.mfa.sessions.contains(&session) && tables.sessions.contains_key(&session))
    }

    async fn purge_challenges(&self, now: UnixSeconds) -> Result<u64, RepoError> {
        let mut tables = self.write();
        let before = tables.mfa.challenges.len();
        tables.mfa.challenges.retain(|_, challenge| challenge.expires_at > now);
        Ok(u64::try_from(before - tables.mfa.challenges.len()).unwrap_or(u64::MAX))
    }
}
