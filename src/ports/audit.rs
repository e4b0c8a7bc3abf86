//! Where the audit trail is kept.
//!
//! Events that record a change reach the store through the change's own
//! method (see [`crate::ports::UserRepo`] and [`crate::ports::SessionRepo`]),
//! which writes them in the same transaction; this port writes the events
//! that go with no change, reads pages of the trail and purges old events.

use super::RepoError;
use crate::core::audit::{AuditEvent, AuditQuery};
use crate::core::user::UnixSeconds;
use async_trait::async_trait;

/// Keeps audit events. The trail is append-only: no method changes a
/// stored event, and only [`AuditLog::purge_before`] removes any.
///
/// # Errors
/// [`RepoError`] when storage fails. A stored value this code cannot have
/// written is [`RepoError::Unexpected`].
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Stores one event on its own.
    async fn record(&self, event: &AuditEvent) -> Result<(), RepoError>;
    /// Up to `query.limit` events that match `query`, newest (highest id)
    /// first.
    async fn page(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, RepoError>;
    /// Deletes the events from before `before`; returns how many.
    async fn purge_before(&self, before: UnixSeconds) -> Result<u64, RepoError>;
}
