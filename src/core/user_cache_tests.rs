//! The user cache behind `current_user`, seen through the service: rows
//! are reused, a cut-off here or on another replica ends them, and a
//! change that ends no credentials is seen within the revocation delay.

use super::harness::*;
use super::password::PasswordHash;
use super::token::TokenError;
use super::user::{Role, UserChange, UserStatus};
use crate::adapters::memory::MemoryStore;
use crate::ports::UserRepo;
use std::sync::Arc;

#[tokio::test]
async fn a_row_is_reused_until_the_revocation_delay_has_passed() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    let first = h.auth.current_user(&principal).await.unwrap().unwrap();
    // A write behind the service's back that ends no credentials: the
    // cached row is still served, for at most the revocation delay.
    let fresh = PasswordHash::new("$2b$04$another.hash.that.ends.no.credentialsXXXXXXXXXXXXXXXX");
    assert!(h.store.replace_hash(first.id, &first.password_hash, &fresh, &[]).await.unwrap());
    let cached = h.auth.current_user(&principal).await.unwrap().unwrap();
    assert_eq!(cached.password_hash, first.password_hash, "served from the cache");
    h.clock.advance(1);
    let reread = h.auth.current_user(&principal).await.unwrap().unwrap();
    assert_eq!(reread.password_hash, fresh, "read again after the delay");
}

#[tokio::test]
async fn a_role_change_on_this_replica_is_seen_at_once() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    let user = h.auth.current_user(&principal).await.unwrap().unwrap();
    assert_eq!(h.auth.user_cache.len(), 1);
    let change = UserChange { role: Some(Role::Admin), status: None };
    h.auth.update_user(user.id, change, &anonymous()).await.unwrap();
    assert!(h.auth.user_cache.is_empty(), "the cut-off evicted the row");
    assert_eq!(h.auth.authenticate(&pair.access_token), Err(TokenError::Revoked));
    let pair = h.auth.refresh(pair.refresh_token.expose(), &ip(1)).await.unwrap();
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    assert_eq!(h.auth.current_user(&principal).await.unwrap().unwrap().role, Role::Admin);
}

#[tokio::test]
async fn a_change_on_another_replica_is_never_served_from_this_ones_cache() {
    let store = Arc::new(MemoryStore::new());
    let here = harness_with(10, quiet_metrics(), store.clone()).await;
    let there = harness_with(10, quiet_metrics(), store).await;
    let pair = here.signed_up("ada@example.com").await;
    let principal = there.auth.authenticate(&pair.access_token).unwrap();
    let user = there.auth.current_user(&principal).await.unwrap().unwrap();
    assert_eq!(there.auth.user_cache.len(), 1);

    let disable = UserChange { role: None, status: Some(UserStatus::Disabled) };
    here.auth.update_user(user.id, disable, &anonymous()).await.unwrap();
    // Before the feed is read, only the token that was issued before the
    // change can still meet the old row; the feed then ends both.
    assert!(there.auth.sync_revocations().await.unwrap() >= 1);
    assert!(there.auth.user_cache.is_empty(), "the feed evicted the row");
    assert_eq!(there.auth.authenticate(&pair.access_token), Err(TokenError::Revoked));

    let enable = UserChange { role: Some(Role::Admin), status: Some(UserStatus::Active) };
    here.auth.update_user(user.id, enable, &anonymous()).await.unwrap();
    let fresh = here.auth.login("ada@example.com", PASSWORD.into(), &ip(1)).await.unwrap();
    // Not yet synchronised: the new token's epoch alone forces a fresh read.
    let principal = there.auth.authenticate(&fresh.access_token).unwrap();
    let seen = there.auth.current_user(&principal).await.unwrap().unwrap();
    assert_eq!((seen.role, seen.status), (Role::Admin, UserStatus::Active));
}

#[tokio::test]
async fn a_deleted_user_is_never_served_from_the_cache() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    let user = h.auth.current_user(&principal).await.unwrap().unwrap();
    h.auth.delete_user(user.id, &anonymous()).await.unwrap();
    assert!(h.auth.user_cache.is_empty());
    assert_eq!(h.auth.authenticate(&pair.access_token), Err(TokenError::Revoked));
    assert_eq!(h.auth.current_user(&principal).await.unwrap(), None, "the store is asked, not the cache");
}
