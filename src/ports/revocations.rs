//! Durable record of revocations, so a restart does not forget one that
//! still matters, and the feed by which replicas sharing a database learn
//! of each other's. The hot path never reads it: it reads the in-process
//! [`crate::core::revocation::RevocationView`], which is loaded from here at
//! start, kept fresh by this replica's writes, and polled for the others'.

use super::RepoError;
use crate::core::revocation::Revocation;
use crate::core::user::UnixSeconds;
use async_trait::async_trait;

/// Persists revocations.
///
/// # Errors
/// [`RepoError`] when storage fails.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Records `revocation`. An entry for the same subject is merged, never
    /// shortened: the later user cut-off wins, and the later end time.
    async fn record(&self, revocation: &Revocation) -> Result<(), RepoError>;
    /// Every revocation still relevant at `now`.
    async fn active(&self, now: UnixSeconds) -> Result<Vec<Revocation>, RepoError> {
        Ok(self.recorded_since(i64::MIN, now).await?.0)
    }

    /// The revocations still relevant at `now` that were recorded, or
    /// re-recorded, at or after position `since` of the store's own clock
    /// (milliseconds), and the latest position among them (`since` when
    /// none). Stores stamp records with their own clock, so replicas with
    /// skewed clocks still agree; callers ask again from a little before
    /// the returned position, since a write may commit after a later one.
    async fn recorded_since(&self, since: i64, now: UnixSeconds) -> Result<(Vec<Revocation>, i64), RepoError>;
    /// Deletes the ones that no longer matter.
    async fn purge(&self, now: UnixSeconds) -> Result<u64, RepoError>;
}
