//! In-process storage: users, sessions, refresh tokens and revocations held
//! in maps behind locks.
//!
//! It backs the core's tests, and it is the reference the storage contract
//! in `contract.rs` is first checked against; it is compiled only for tests
//! (the `test-support` feature), since no configuration can select it. It must never be used where data has to survive a restart or be
//! shared between replicas: everything lives in this process's memory.
//!
//! Every method takes one lock for its whole read-check-write, so each is
//! atomic with respect to the others, as the ports demand. Users, sessions,
//! refresh tokens and the audit trail share one lock because deleting a
//! user must remove their sessions, and every change must store its audit
//! events, in the same step; revocations have their own.

mod account_tokens;
mod audit;
mod mfa;
mod revocations;
mod sessions;

use crate::core::audit::AuditEvent;
use crate::core::email::Email;
use crate::core::password::PasswordHash;
use crate::core::refresh::TokenHash;
use crate::core::revocation::Revocation;
use crate::core::session::{EndSessions, SessionId};
use crate::core::user::{CredentialEpoch, UnixSeconds, User, UserChange, UserId, UserStatus};
use crate::ports::{RefreshRecord, RepoError, SchemaStatus, SessionRecord, UserInsertError, UserRepo, UserUpdateError};
use anyhow::anyhow;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Users, sessions and refresh tokens: what one lock guards.
#[derive(Default)]
struct Tables {
    /// Ordered by id, so listing is a range scan as with an index.
    users: BTreeMap<UserId, User>,
    /// The uniqueness index on e-mail.
    emails: HashMap<Email, UserId>,
    sessions: HashMap<SessionId, SessionRecord>,
    refresh_tokens: HashMap<TokenHash, RefreshRecord>,
    /// The audit trail, by id (time order).
    audit: BTreeMap<crate::core::audit::AuditId, AuditEvent>,
    /// Second factors, which go with their users.
    mfa: mfa::MfaTables,
    account_tokens: HashMap<TokenHash, crate::core::mail::AccountTokenRecord>,
}

impl Tables {
    /// Stores the events of the change being made under this lock.
    fn record(&mut self, audit: &[AuditEvent]) {
        for event in audit {
            self.audit.insert(event.id, event.clone());
        }
    }

    /// Whether an active admin other than `except` exists.
    fn other_active_admin_exists(&self, except: UserId) -> bool {
        self.users.values().any(|user| user.id != except && user.is_active_admin())
    }

    /// Advances `id`'s epoch, ending the sessions `ends` names and moving
    /// the other live ones of the old epoch on; `None` for an unknown id.
    fn advance_epoch(&mut self, id: UserId, ends: EndSessions, now: UnixSeconds) -> Option<CredentialEpoch> {
        let user = self.users.get_mut(&id)?;
        let old = user.credential_epoch;
        user.credential_epoch = old.next();
        user.updated_at = now;
        let new = user.credential_epoch;
        for session in self.sessions.values_mut() {
            if session.user_id != id || session.revoked_at.is_some() || session.credential_epoch != old {
                continue;
            }
            let ended = match ends {
                EndSessions::None => false,
                EndSessions::All => true,
                EndSessions::AllBut(keep) => session.id != keep,
            };
            if ended {
                session.revoked_at = Some(now);
            } else {
                session.credential_epoch = new;
            }
        }
        Some(new)
    }

    /// Whether `user` is active in `epoch` and, when named, `session` is
    /// live in it too.
    fn epoch_holds(&self, user: UserId, session: Option<SessionId>, epoch: CredentialEpoch) -> bool {
        let user_holds = self
            .users
            .get(&user)
            .is_some_and(|user| user.status == UserStatus::Active && user.credential_epoch == epoch);
        let session_holds = session.is_none_or(|id| {
            self.sessions
                .get(&id)
                .is_some_and(|session| session.revoked_at.is_none() && session.credential_epoch == epoch)
        });
        user_holds && session_holds
    }

    /// Refuses `record` the way foreign keys and a primary key would.
    fn check_refresh_token_insertable(&self, record: &RefreshRecord) -> Result<(), RepoError> {
        if self.refresh_tokens.contains_key(&record.token_hash) {
            return Err(unexpected("refresh token is already stored"));
        }
        match self.sessions.get(&record.session_id) {
            Some(session) if session.user_id == record.user_id => Ok(()),
            Some(_) => Err(unexpected("refresh token and its session name different users")),
            None => Err(unexpected("refresh token for an unknown session")),
        }
    }
}

/// Storage in this process's memory for users, sessions, revocations and
/// the audit trail.
#[derive(Default)]
pub struct MemoryStore {
    tables: RwLock<Tables>,
    /// Each revocation with the position at which it was last recorded.
    revocations: Mutex<HashMap<revocations::Subject, (Revocation, i64)>>,
    /// The store's clock for revocation positions: a counter.
    revocation_clock: std::sync::atomic::AtomicI64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    // A poisoned lock means a panic elsewhere mid-call; every method checks
    // before it writes, so the maps are still consistent and serving on is
    // better than failing every later request.
    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn revocations(&self) -> MutexGuard<'_, HashMap<revocations::Subject, (Revocation, i64)>> {
        self.revocations.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn unexpected(message: &'static str) -> RepoError {
    RepoError::Unexpected(anyhow!(message))
}

#[async_trait]
impl UserRepo for MemoryStore {
    async fn insert(&self, user: &User, audit: &[AuditEvent]) -> Result<(), UserInsertError> {
        let mut tables = self.write();
        if tables.emails.contains_key(&user.email) {
            return Err(UserInsertError::EmailTaken);
        }
        if tables.users.contains_key(&user.id) {
            return Err(unexpected("user id is already stored").into());
        }
        tables.emails.insert(user.email.clone(), user.id);
        tables.users.insert(user.id, user.clone());
        tables.record(audit);
        Ok(())
    }

    async fn by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        let tables = self.read();
        Ok(tables.emails.get(email).and_then(|id| tables.users.get(id)).cloned())
    }

    async fn by_id(&self, id: UserId) -> Result<Option<User>, RepoError> {
        Ok(self.read().users.get(&id).cloned())
    }

    async fn list(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>, RepoError> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(self.read().users.range((start, Bound::Unbounded)).take(limit).map(|(_, user)| user.clone()).collect())
    }

    async fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        ends: EndSessions,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<Option<CredentialEpoch>, RepoError> {
        let mut tables = self.write();
        // Like an UPDATE that matches no row, an unknown id changes nothing.
        if let Some(user) = tables.users.get_mut(&id) {
            user.password_hash = hash.clone();
        }
        let epoch = tables.advance_epoch(id, ends, now);
        if epoch.is_some() {
            tables.record(audit);
        }
        Ok(epoch)
    }

    async fn advance_epoch(
        &self,
        id: UserId,
        ends: EndSessions,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<Option<CredentialEpoch>, RepoError> {
        let mut tables = self.write();
        let epoch = tables.advance_epoch(id, ends, now);
        if epoch.is_some() {
            tables.record(audit);
        }
        Ok(epoch)
    }

    async fn update(
        &self,
        id: UserId,
        change: UserChange,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<User, UserUpdateError> {
        let mut tables = self.write();
        let current = tables.users.get(&id).ok_or(UserUpdateError::NotFound)?;
        if change.demotes(current) && !tables.other_active_admin_exists(id) {
            return Err(UserUpdateError::LastAdmin);
        }
        let user = tables.users.get_mut(&id).ok_or(UserUpdateError::NotFound)?;
        if let Some(role) = change.role {
            user.role = role;
        }
        if let Some(status) = change.status {
            user.status = status;
        }
        user.updated_at = now;
        if change.role.is_some() || change.status.is_some() {
            let ends = if user.status == UserStatus::Active { EndSessions::None } else { EndSessions::All };
            tables.advance_epoch(id, ends, now);
        }
        tables.record(audit);
        tables.users.get(&id).cloned().ok_or(UserUpdateError::NotFound)
    }

    async fn delete(&self, id: UserId, audit: &[AuditEvent]) -> Result<(), UserUpdateError> {
        let mut tables = self.write();
        let user = tables.users.get(&id).ok_or(UserUpdateError::NotFound)?;
        if user.is_active_admin() && !tables.other_active_admin_exists(id) {
            return Err(UserUpdateError::LastAdmin);
        }
        if let Some(user) = tables.users.remove(&id) {
            tables.emails.remove(&user.email);
        }
        tables.sessions.retain(|_, session| session.user_id != id);
        tables.refresh_tokens.retain(|_, token| token.user_id != id);
        tables.mfa.forget_user(id);
        tables.account_tokens.retain(|_, token| token.user_id != id);
        tables.record(audit);
        Ok(())
    }

    async fn replace_hash(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError> {
        let mut tables = self.write();
        match tables.users.get_mut(&id) {
            Some(user) if user.password_hash.as_str() == old.as_str() => {
                user.password_hash = new.clone();
                tables.record(audit);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn has_active_admin(&self) -> Result<bool, RepoError> {
        Ok(self.read().users.values().any(User::is_active_admin))
    }

    async fn ping(&self) -> Result<(), RepoError> {
        Ok(())
    }
}

#[async_trait]
impl SchemaStatus for MemoryStore {
    /// Always: maps have no schema to migrate.
    async fn migrations_current(&self) -> Result<bool, RepoError> {
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryStore;
    use crate::adapters::contract;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_keeps_the_users_contract() {
        contract::users_contract(&MemoryStore::new()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_survives_abandoned_writes() {
        contract::abandoned_writes_contract(Arc::new(MemoryStore::new())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_keeps_the_sessions_contract() {
        let store = Arc::new(MemoryStore::new());
        contract::sessions_contract(store.as_ref(), store.clone()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_keeps_the_audit_contract() {
        let store = MemoryStore::new();
        contract::audit_contract(&store, &store, &store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_keeps_the_mfa_contract() {
        let store = Arc::new(MemoryStore::new());
        contract::mfa_contract(store.as_ref(), store.as_ref(), store.clone()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_keeps_the_revocations_contract() {
        contract::revocations_contract(&MemoryStore::new()).await;
    }
}
