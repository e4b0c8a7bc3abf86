//! Abandoned writes: a client that hangs up mid-request drops the request's
//! future, and with it a store call at any point: before its transaction
//! begins, between its statements, or while its commit is in flight. None
//! of that may leave a connection lent out again holding a transaction (and
//! with it, on SQLite, the one write lock): the writes after it must go
//! through as if nothing had happened.

use super::new_user;
use crate::core::user::{Role, UserStatus};
use crate::ports::UserRepo;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Waves of writes abandoned at once, and the writes in each.
const WAVES: u32 = 40;
const PER_WAVE: u32 = 16;

/// Writes made after the abandoned ones; each must finish well within the
/// time a stuck write lock would make it wait.
const AFTERWARDS: usize = 40;

/// Abandoned writes leave the store usable.
pub async fn abandoned_writes_contract(users: Arc<dyn UserRepo>) {
    // How long a wave takes when left alone: the abandoned ones are cut off
    // at instants spread over it, so that some stop in each phase of a write.
    let started = Instant::now();
    wave(&users, 0, None).await;
    let span = started.elapsed().max(Duration::from_micros(100));
    for number in 1..=WAVES {
        wave(&users, number, Some(span)).await;
    }

    for n in 0..AFTERWARDS {
        let user = new_user(&format!("afterwards-{n}@example.com"), Role::User, UserStatus::Active);
        let inserted = tokio::time::timeout(Duration::from_secs(3), users.insert(&user, &[])).await;
        assert!(matches!(inserted, Ok(Ok(()))), "write {n} after the abandoned ones: {inserted:?}");
        let stored = users.by_id(user.id).await.expect("storage answers");
        assert_eq!(stored.as_ref(), Some(&user), "write {n} is stored");
    }
}

/// `PER_WAVE` writes at once, each cut off at its own fraction of `span`
/// (or left to finish when `span` is `None`).
async fn wave(users: &Arc<dyn UserRepo>, number: u32, span: Option<Duration>) {
    let mut writes = JoinSet::new();
    for n in 0..PER_WAVE {
        let users = users.clone();
        let user = new_user(&format!("wave-{number}-{n}@example.com"), Role::User, UserStatus::Active);
        let cut_off = span.map(|span| span * ((n * 7 + number) % PER_WAVE) / PER_WAVE);
        writes.spawn(async move {
            match cut_off {
                Some(cut_off) => drop(tokio::time::timeout(cut_off, users.insert(&user, &[])).await),
                None => users.insert(&user, &[]).await.expect("the user is stored"),
            }
        });
    }
    while writes.join_next().await.is_some() {}
}
