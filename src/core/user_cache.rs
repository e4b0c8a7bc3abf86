//! A per-replica cache of user rows, so that `GET /v1/users/me` does not
//! cost a database round trip on every request.
//!
//! A cached row is never served stale for longer than the revocation
//! delay, by three rules that each hold on their own:
//! - a row is served only to a token of the row's own credential epoch.
//!   Every change that ends credentials (password, role, status, deletion)
//!   advances the epoch and records a cut-off, so a token that could still
//!   be served the old row is refused by the revocation view once the
//!   cut-off arrives; a token of the new epoch never matches the old row;
//! - a cut-off, recorded here or read from the revocation feed, evicts the
//!   user's row at once;
//! - a row older than [`USER_CACHE_MAX_AGE_MS`] is read again, which bounds
//!   the staleness of any field whose change ends no credentials.
//!
//! A row read before a change and stored after the eviction is harmless:
//! by the first rule it is served only to tokens the view already refuses.
//! The cache holds at most [`USER_CACHE_CAPACITY`] rows; when full, expired
//! rows are dropped (at most once per max age, so a full cache costs no
//! sweep per request) and, if it is still full, new rows are not cached.

use super::user::{CredentialEpoch, User, UserId};
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

/// How long a row may be served without being read again, in
/// milliseconds: the revocation delay.
pub const USER_CACHE_MAX_AGE_MS: i64 = 1_000;

/// Most rows held at once: about 300 bytes each, so some 20 MB at most.
pub const USER_CACHE_CAPACITY: usize = 65_536;

struct Cached {
    user: User,
    stored_at_ms: i64,
}

#[derive(Default)]
struct Rows {
    rows: HashMap<UserId, Cached>,
    last_sweep_ms: i64,
}

/// Recently read user rows, by id.
pub struct UserCache {
    capacity: usize,
    max_age_ms: i64,
    rows: RwLock<Rows>,
}

impl Default for UserCache {
    fn default() -> Self {
        Self::new(USER_CACHE_CAPACITY, USER_CACHE_MAX_AGE_MS)
    }
}

impl UserCache {
    pub fn new(capacity: usize, max_age_ms: i64) -> Self {
        Self { capacity, max_age_ms, rows: RwLock::new(Rows::default()) }
    }

    fn fresh(&self, cached: &Cached, now_ms: i64) -> bool {
        (0..self.max_age_ms).contains(&(now_ms - cached.stored_at_ms))
    }

    /// The cached row of `id`, if it is of `epoch` (the epoch of the token
    /// asking) and fresh at `now_ms`.
    pub fn get(&self, id: UserId, epoch: CredentialEpoch, now_ms: i64) -> Option<User> {
        let rows = self.rows.read().unwrap_or_else(PoisonError::into_inner);
        let cached = rows.rows.get(&id)?;
        (cached.user.credential_epoch == epoch && self.fresh(cached, now_ms)).then(|| cached.user.clone())
    }

    /// Caches `user` as read at `now_ms`, room permitting.
    pub fn insert(&self, user: &User, now_ms: i64) {
        let mut rows = self.rows.write().unwrap_or_else(PoisonError::into_inner);
        if rows.rows.len() >= self.capacity && !rows.rows.contains_key(&user.id) {
            if now_ms - rows.last_sweep_ms < self.max_age_ms {
                return;
            }
            rows.last_sweep_ms = now_ms;
            rows.rows.retain(|_, cached| (0..self.max_age_ms).contains(&(now_ms - cached.stored_at_ms)));
            if rows.rows.len() >= self.capacity {
                return;
            }
        }
        rows.rows.insert(user.id, Cached { user: user.clone(), stored_at_ms: now_ms });
    }

    /// Forgets the row of `id`: its credentials were cut off.
    pub fn evict(&self, id: UserId) {
        self.rows.write().unwrap_or_else(PoisonError::into_inner).rows.remove(&id);
    }

    /// Rows held, for tests.
    pub fn len(&self) -> usize {
        self.rows.read().unwrap_or_else(PoisonError::into_inner).rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::email::Email;
    use crate::core::password::PasswordHash;
    use crate::core::user::{Role, UnixSeconds, UserStatus};
    use uuid::Uuid;

    fn user(n: u128, epoch: i64) -> User {
        User {
            id: UserId::from_uuid(Uuid::from_u128(n)),
            email: Email::parse(&format!("user{n}@example.com")).unwrap(),
            password_hash: PasswordHash::new("$2b$04$abcdefghijklmnopqrstuu5Yl6gqkS8u2Dbq5g0Y3p1a6Ch7m3vXK"),
            role: Role::User,
            status: UserStatus::Active,
            created_at: UnixSeconds::new(0),
            updated_at: UnixSeconds::new(0),
            credential_epoch: CredentialEpoch::new(epoch),
            email_verified: false,
        }
    }

    #[test]
    fn a_row_is_served_only_to_its_own_epoch_and_only_while_fresh() {
        let cache = UserCache::new(10, 1_000);
        let ada = user(1, 3);
        cache.insert(&ada, 5_000);
        assert_eq!(cache.get(ada.id, CredentialEpoch::new(3), 5_999), Some(ada.clone()));
        assert_eq!(cache.get(ada.id, CredentialEpoch::new(4), 5_001), None, "a newer token reads afresh");
        assert_eq!(cache.get(ada.id, CredentialEpoch::new(2), 5_001), None);
        assert_eq!(cache.get(ada.id, CredentialEpoch::new(3), 6_000), None, "expired");
        assert_eq!(cache.get(ada.id, CredentialEpoch::new(3), 4_000), None, "from the future");
    }

    #[test]
    fn an_old_row_stored_after_its_eviction_is_never_served_to_the_new_epoch() {
        let cache = UserCache::new(10, 1_000);
        let before = user(1, 3);
        // A read of epoch 3 races a cut-off to epoch 4: the eviction lands
        // first, then the stale row.
        cache.evict(before.id);
        cache.insert(&before, 5_000);
        assert_eq!(cache.get(before.id, CredentialEpoch::new(4), 5_001), None);
    }

    #[test]
    fn a_full_cache_sweeps_at_most_once_per_max_age_and_never_grows_past_its_capacity() {
        let cache = UserCache::new(100, 1_000);
        for n in 0..100 {
            cache.insert(&user(n, 0), 10_000);
        }
        // Full of fresh rows: nothing more is cached.
        for n in 100..10_000 {
            cache.insert(&user(n, 0), 10_500);
        }
        assert_eq!(cache.len(), 100);
        assert!(cache.get(user(0, 0).id, CredentialEpoch::INITIAL, 10_500).is_some());
        // Once they have expired, the next insert sweeps them.
        cache.insert(&user(20_000, 0), 11_600);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(user(20_000, 0).id, CredentialEpoch::INITIAL, 11_601).is_some());
    }

    #[test]
    fn an_evicted_row_is_read_again() {
        let cache = UserCache::default();
        let ada = user(1, 0);
        cache.insert(&ada, 0);
        cache.evict(ada.id);
        assert!(cache.is_empty());
        assert_eq!(cache.get(ada.id, CredentialEpoch::INITIAL, 1), None);
    }
}
