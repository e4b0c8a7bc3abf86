//! One-time account tokens: stored by hash, single-use under races, a
//! newer token of a purpose replacing the older, gone with their user; and
//! the verified flag of an address.

use super::{insert, new_user, NOW};
use crate::core::mail::{AccountTokenRecord, TokenPurpose};
use crate::core::refresh::TokenHash;
use crate::core::user::{CredentialEpoch, Role, User, UserStatus};
use crate::ports::{AccountTokenRepo, UserRepo};
use std::sync::Arc;

fn record(user: &User, byte: u8, purpose: TokenPurpose, expires_in: i64) -> AccountTokenRecord {
    AccountTokenRecord {
        token_hash: TokenHash::from_bytes([byte; 32]),
        user_id: user.id,
        purpose,
        credential_epoch: CredentialEpoch::new(3),
        expires_at: NOW + expires_in,
    }
}

/// Every promise of [`AccountTokenRepo`], on a fresh store.
pub async fn account_tokens_contract<S>(store: Arc<S>)
where
    S: AccountTokenRepo + UserRepo + 'static,
{
    let ada = new_user("ada@example.com", Role::User, UserStatus::Active);
    insert(store.as_ref(), &ada).await;

    // Stored and read back by hash and purpose only.
    let reset = record(&ada, 1, TokenPurpose::PasswordReset, 1800);
    store.issue_account_token(&reset, &[]).await.expect("issued");
    let found = store.find_account_token(&reset.token_hash, TokenPurpose::PasswordReset).await.expect("read");
    assert_eq!(found, Some(reset.clone()), "fields round-trip");
    let other_purpose = store.find_account_token(&reset.token_hash, TokenPurpose::VerifyEmail).await.expect("read");
    assert_eq!(other_purpose, None, "a reset token is no verification token");
    assert_eq!(store.take_account_token(&reset.token_hash, TokenPurpose::VerifyEmail).await.expect("take"), None);

    // A verification token lives beside the reset token; a newer reset
    // token replaces the older one.
    let verify = record(&ada, 2, TokenPurpose::VerifyEmail, 86_400);
    store.issue_account_token(&verify, &[]).await.expect("issued");
    let newer = record(&ada, 3, TokenPurpose::PasswordReset, 1800);
    store.issue_account_token(&newer, &[]).await.expect("issued");
    assert_eq!(store.find_account_token(&reset.token_hash, TokenPurpose::PasswordReset).await.expect("read"), None);
    let verify_found = store.find_account_token(&verify.token_hash, TokenPurpose::VerifyEmail).await.expect("read");
    assert_eq!(verify_found, Some(verify.clone()));

    // Of many takes at once, exactly one gets the token.
    let takes: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let hash = newer.token_hash;
            tokio::spawn(async move { store.take_account_token(&hash, TokenPurpose::PasswordReset).await })
        })
        .collect();
    let mut won = 0;
    for take in takes {
        if take.await.expect("joined").expect("storage answers").is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 1, "a token is single-use");

    // The verified flag.
    assert!(!store.by_id(ada.id).await.expect("read").expect("ada").email_verified);
    assert!(store.mark_email_verified(ada.id, NOW + 5, &[]).await.expect("marked"));
    let verified = store.by_id(ada.id).await.expect("read").expect("ada");
    assert!(verified.email_verified);
    let stranger = new_user("nobody@example.com", Role::User, UserStatus::Active);
    assert!(!store.mark_email_verified(stranger.id, NOW, &[]).await.expect("answered"));

    // Expired tokens are purged; live ones stay.
    let stale = record(&ada, 4, TokenPurpose::PasswordReset, -1);
    store.issue_account_token(&stale, &[]).await.expect("issued");
    assert_eq!(store.purge_account_tokens(NOW).await.expect("purged"), 1);
    assert!(store.find_account_token(&verify.token_hash, TokenPurpose::VerifyEmail).await.expect("read").is_some());

    // Tokens go with their user.
    store.delete(ada.id, &[]).await.expect("deleted");
    assert_eq!(store.find_account_token(&verify.token_hash, TokenPurpose::VerifyEmail).await.expect("read"), None);
}
