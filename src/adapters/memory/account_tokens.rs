//! One-time account tokens in memory, under the tables' one lock.

use super::MemoryStore;
use crate::core::audit::AuditEvent;
use crate::core::mail::{AccountTokenRecord, TokenPurpose};
use crate::core::refresh::TokenHash;
use crate::core::user::{UnixSeconds, UserId};
use crate::ports::{AccountTokenRepo, RepoError};
use async_trait::async_trait;

#[async_trait]
impl AccountTokenRepo for MemoryStore {
    async fn issue_account_token(&self, record: &AccountTokenRecord, audit: &[AuditEvent]) -> Result<(), RepoError> {
        let mut tables = self.write();
        if !tables.users.contains_key(&record.user_id) {
            return Err(super::unexpected("account token for an unknown user"));
        }
        tables.account_tokens.retain(|_, token| token.user_id != record.user_id || token.purpose != record.purpose);
        tables.account_tokens.insert(record.token_hash, record.clone());
        tables.record(audit);
        Ok(())
    }

    async fn find_account_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
    ) -> Result<Option<AccountTokenRecord>, RepoError> {
        Ok(self.read().account_tokens.get(hash).filter(|token| token.purpose == purpose).cloned())
    }

    async fn take_account_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
    ) -> Result<Option<AccountTokenRecord>, RepoError> {
        let mut tables = self.write();
        if tables.account_tokens.get(hash).is_some_and(|token| token.purpose == purpose) {
            return Ok(tables.account_tokens.remove(hash));
        }
        Ok(None)
    }

    async fn mark_email_verified(
        &self,
        user: UserId,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError> {
        let mut tables = self.write();
        let Some(stored) = tables.users.get_mut(&user) else { return Ok(false) };
        stored.email_verified = true;
        stored.updated_at = now;
        tables.record(audit);
        Ok(true)
    }

    async fn purge_account_tokens(&self, now: UnixSeconds) -> Result<u64, RepoError> {
        let mut tables = self.write();
        let before = tables.account_tokens.len();
        tables.account_tokens.retain(|_, token| token.expires_at > now);
        Ok(u64::try_from(before - tables.account_tokens.len()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryStore;
    use crate::adapters::contract;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_keeps_the_account_tokens_contract() {
        contract::account_tokens_contract(Arc::new(MemoryStore::new())).await;
    }
}
