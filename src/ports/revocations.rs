//! Durable record of revocations, so a restart does not forget one that
//! still matters. The hot path never reads it: it reads the in-process
//! [`crate::core::revocation::RevocationView`], which is loaded from here at
//! start and kept fresh by every write.

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
    async fn active(&self, now: UnixSeconds) -> Result<Vec<Revocation>, RepoError>;
    /// Deletes the ones that no longer matter.
    async fn purge(&self, now: UnixSeconds) -> Result<u64, RepoError>;
}
