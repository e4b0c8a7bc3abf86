//! The audit trail in memory, under the same lock as the changes it
//! records.

use super::MemoryStore;
use crate::core::audit::{AuditEvent, AuditQuery};
use crate::core::user::UnixSeconds;
use crate::ports::{AuditLog, RepoError};
use async_trait::async_trait;

#[async_trait]
impl AuditLog for MemoryStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), RepoError> {
        self.write().record(std::slice::from_ref(event));
        Ok(())
    }

    async fn page(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, RepoError> {
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let tables = self.read();
        Ok(tables.audit.values().rev().filter(|event| query.matches(event)).take(limit).cloned().collect())
    }

    async fn purge_before(&self, before: UnixSeconds) -> Result<u64, RepoError> {
        let mut tables = self.write();
        let count = tables.audit.len();
        tables.audit.retain(|_, event| event.at >= before);
        Ok(u64::try_from(count - tables.audit.len()).unwrap_or(u64::MAX))
    }
}
