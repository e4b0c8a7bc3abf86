//! How many password hashing operations each signed-in user has running.
//!
//! The hashing pool is shared by everyone; one account sending many
//! password changes at once could fill it and make every other login wait.
//! So each user may hold only a few of its slots at a time. This module only
//! counts: it never waits, and it never reads storage.

use super::user::UserId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Hashing operations one signed-in user may have in flight at once.
pub const MAX_HASHING_PER_USER: u32 = 2;

/// The users with hashing in flight, and how much. Entries leave when
/// their count returns to zero, so the map holds only users busy now.
#[derive(Default)]
pub struct HashingInFlight {
    counts: Arc<Mutex<HashMap<UserId, u32>>>,
}

/// One slot held; dropping it gives the slot back.
pub struct HashingSlot {
    counts: Arc<Mutex<HashMap<UserId, u32>>>,
    user: UserId,
}

impl HashingInFlight {
    /// Takes a slot for `user`, or `None` when the user already holds
    /// [`MAX_HASHING_PER_USER`].
    pub fn enter(&self, user: UserId) -> Option<HashingSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(user).or_insert(0);
        if *count >= MAX_HASHING_PER_USER {
            return None;
        }
        *count += 1;
        Some(HashingSlot { counts: Arc::clone(&self.counts), user })
    }
}

impl Drop for HashingSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn a_user_holds_at_most_two_slots_and_gets_them_back() {
        let in_flight = HashingInFlight::default();
        let (alice, bob) = (UserId::from_uuid(Uuid::from_u128(1)), UserId::from_uuid(Uuid::from_u128(2)));
        let first = in_flight.enter(alice).expect("one");
        let _second = in_flight.enter(alice).expect("two");
        assert!(in_flight.enter(alice).is_none(), "a third is refused");
        assert!(in_flight.enter(bob).is_some(), "others are not affected");
        drop(first);
        assert!(in_flight.enter(alice).is_some(), "a returned slot can be taken again");
    }

    #[test]
    fn idle_users_leave_the_map() {
        let in_flight = HashingInFlight::default();
        drop(in_flight.enter(UserId::from_uuid(Uuid::from_u128(3))));
        assert!(in_flight.counts.lock().unwrap().is_empty());
    }
}
