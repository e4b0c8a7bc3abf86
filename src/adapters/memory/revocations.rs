//! Revocations in memory: one entry per subject, merged as the SQL stores
//! merge them.

use super::MemoryStore;
use crate::core::revocation::Revocation;
use crate::core::session::SessionId;
use crate::core::user::{UnixSeconds, UserId};
use crate::ports::{RepoError, RevocationStore};
use async_trait::async_trait;
use uuid::Uuid;

/// Which subject a revocation is about: at most one entry is kept per key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Subject {
    Token(Uuid),
    Session(SessionId),
    User(UserId),
}

impl Subject {
    fn of(revocation: &Revocation) -> Self {
        match *revocation {
            Revocation::Token { jti, .. } => Self::Token(jti),
            Revocation::Session { sid, .. } => Self::Session(sid),
            Revocation::UserCutoff { user, .. } => Self::User(user),
        }
    }
}

#[async_trait]
impl RevocationStore for MemoryStore {
    async fn record(&self, revocation: &Revocation) -> Result<(), RepoError> {
        let mut revocations = self.revocations();
        // The store's clock is a counter: positions only need to be ordered.
        let position = self.revocation_clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let merged = match revocations.get(&Subject::of(revocation)) {
            None => revocation.clone(),
            Some((stored, _)) => merge(stored, revocation),
        };
        revocations.insert(Subject::of(revocation), (merged, position));
        Ok(())
    }

    async fn recorded_since(&self, since: i64, now: UnixSeconds) -> Result<(Vec<Revocation>, i64), RepoError> {
        let revocations = self.revocations();
        let fresh: Vec<&(Revocation, i64)> =
            revocations.values().filter(|(revocation, at)| *at >= since && revocation.until() > now).collect();
        let latest = fresh.iter().map(|(_, at)| *at).max().unwrap_or(since).max(since);
        Ok((fresh.into_iter().map(|(revocation, _)| revocation.clone()).collect(), latest))
    }

    async fn purge(&self, now: UnixSeconds) -> Result<u64, RepoError> {
        let mut revocations = self.revocations();
        let before = revocations.len();
        revocations.retain(|_, (revocation, _)| revocation.until() > now);
        let purged = before - revocations.len();
        Ok(u64::try_from(purged).unwrap_or(u64::MAX))
    }
}

/// What is kept when `new` is recorded for the subject of `stored`.
///
/// A user's earlier cut-off never replaces a later one, the rule
/// [`crate::core::revocation::RevocationView`] applies too, so a restart
/// rebuilds the view it had. Otherwise the newer entry wins, but is never
/// allowed to end sooner than the one it replaces: shortening a revocation
/// could let a token through again.
fn merge(stored: &Revocation, new: &Revocation) -> Revocation {
    if let (Revocation::UserCutoff { epoch: stored_epoch, .. }, Revocation::UserCutoff { epoch, .. }) = (stored, new) {
        if epoch < stored_epoch {
            return stored.clone();
        }
    }
    let until = stored.until().max(new.until());
    match *new {
        Revocation::Token { jti, .. } => Revocation::Token { jti, until },
        Revocation::Session { sid, .. } => Revocation::Session { sid, until },
        Revocation::UserCutoff { user, epoch, .. } => Revocation::UserCutoff { user, epoch, until },
    }
}
