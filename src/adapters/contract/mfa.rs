//! The second-factor contract: a pending enrolment is replaced until it is
//! confirmed, a step and a recovery code are accepted once even when
//! raced, a sign-in challenge is taken once and not after it expires, and
//! everything goes with its user.

use super::sessions::open;
use super::{insert, new_user, NOW};
use crate::core::refresh::TokenHash;
use crate::core::user::{Role, UnixSeconds, UserId, UserStatus};
use crate::ports::{MfaChallenge, MfaRepo, SessionRepo, TotpRecord, UserRepo};
use std::sync::Arc;
use uuid::Uuid;

fn hash() -> TokenHash {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    TokenHash::from_bytes(bytes)
}

/// How many tasks race for one step, one code or one challenge.
const RACERS: usize = 16;

/// Runs `attempt` from [`RACERS`] tasks at once; returns how many won.
async fn race<F, Fut>(attempt: F) -> usize
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let tasks: Vec<_> = (0..RACERS).map(|_| tokio::spawn(attempt())).collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.expect("the task ran"));
    }
    wins
}

pub async fn mfa_contract(users: &dyn UserRepo, sessions: &dyn SessionRepo, mfa: Arc<dyn MfaRepo>) {
    let ada = new_user("ada@example.com", Role::User, UserStatus::Active);
    insert(users, &ada).await;
    let ada_id = ada.id;
    assert_eq!(mfa.totp(ada.id).await.expect("storage answers"), None);
    assert!(!mfa.any_confirmed().await.expect("storage answers"));

    // A pending enrolment is replaced by the next one.
    let first = TotpRecord {
        user_id: ada.id,
        sealed_secret: vec![1; 49],
        created_at: NOW,
        confirmed_at: None,
        last_step: None,
    };
    assert!(mfa.begin_totp(&first, &[]).await.expect("storage answers"));
    let second = TotpRecord { sealed_secret: vec![2; 49], created_at: NOW + 5, ..first.clone() };
    assert!(mfa.begin_totp(&second, &[]).await.expect("storage answers"));
    assert_eq!(mfa.totp(ada.id).await.expect("storage answers"), Some(second.clone()));
    assert!(!mfa.accept_step(ada.id, 10).await.expect("storage answers"), "a pending enrolment accepts no code");

    // Confirming names the secret it checked the code against: a replaced
    // one confirms nothing.
    let codes: Vec<TokenHash> = (0..10).map(|_| hash()).collect();
    assert!(!mfa.confirm_totp(ada.id, &first.sealed_secret, 10, &codes, NOW + 6, &[]).await.expect("storage answers"));
    assert!(mfa.confirm_totp(ada.id, &second.sealed_secret, 10, &codes, NOW + 6, &[]).await.expect("storage answers"));
    assert!(!mfa.confirm_totp(ada.id, &second.sealed_secret, 11, &codes, NOW + 7, &[]).await.expect("storage answers"));
    let stored = mfa.totp(ada.id).await.expect("storage answers").expect("the enrolment");
    assert_eq!((stored.confirmed_at, stored.last_step), (Some(NOW + 6), Some(10)));
    assert!(mfa.any_confirmed().await.expect("storage answers"));
    assert_eq!(mfa.recovery_codes_left(ada.id).await.expect("storage answers"), 10);
    // A confirmed enrolment is not replaced by a new one.
    assert!(!mfa.begin_totp(&first, &[]).await.expect("storage answers"));
    assert_eq!(mfa.totp(ada.id).await.expect("storage answers").expect("kept").sealed_secret, second.sealed_secret);

    // Steps: only later ones, and each once, however many race for it.
    assert!(!mfa.accept_step(ada.id, 10).await.expect("storage answers"), "the confirming code's step");
    assert!(!mfa.accept_step(ada.id, 9).await.expect("storage answers"), "an earlier step");
    let wins = race(|| {
        let mfa = mfa.clone();
        async move { mfa.accept_step(ada_id, 11).await.expect("storage answers") }
    })
    .await;
    assert_eq!(wins, 1, "one of the racing submissions of a step wins");
    assert!(mfa.accept_step(ada.id, 13).await.expect("storage answers"));

    // Recovery codes: each once, only its owner's, even raced.
    let bob = new_user("bob@example.com", Role::User, UserStatus::Active);
    insert(users, &bob).await;
    assert!(!mfa.use_recovery_code(bob.id, &codes[0], NOW).await.expect("storage answers"), "another user's code");
    let code = codes[0];
    let wins = race(|| {
        let mfa = mfa.clone();
        async move { mfa.use_recovery_code(ada_id, &code, NOW).await.expect("storage answers") }
    })
    .await;
    assert_eq!(wins, 1, "one of the racing uses of a recovery code wins");
    assert!(!mfa.use_recovery_code(ada.id, &hash(), NOW).await.expect("storage answers"), "an unknown code");
    assert_eq!(mfa.recovery_codes_left(ada.id).await.expect("storage answers"), 9);

    let live = challenges_contract(&mfa, ada_id).await;

    // Sessions opened with a second factor.
    let (session, _) = open(sessions, &ada).await;
    assert!(!mfa.session_marked(session.id).await.expect("storage answers"));
    mfa.mark_session(session.id).await.expect("the mark is stored");
    mfa.mark_session(session.id).await.expect("marking twice is harmless");
    assert!(mfa.session_marked(session.id).await.expect("storage answers"));

    // Removing the enrolment removes its codes; a user's deletion the rest.
    assert!(mfa.remove_totp(ada.id, &[]).await.expect("storage answers"));
    assert!(!mfa.remove_totp(ada.id, &[]).await.expect("storage answers"));
    assert_eq!(mfa.totp(ada.id).await.expect("storage answers"), None);
    assert_eq!(mfa.recovery_codes_left(ada.id).await.expect("storage answers"), 0);
    assert!(!mfa.any_confirmed().await.expect("storage answers"));
    let again = TotpRecord { created_at: UnixSeconds::new(NOW.seconds() + 50), ..first.clone() };
    assert!(mfa.begin_totp(&again, &[]).await.expect("storage answers"));
    users.delete(ada.id, &[]).await.expect("ada is deleted");
    assert_eq!(mfa.totp(ada.id).await.expect("storage answers"), None);
    assert_eq!(mfa.challenge(&live.token_hash, NOW).await.expect("storage answers"), None);
    assert!(!mfa.session_marked(session.id).await.expect("storage answers"));
    let orphan = TotpRecord { user_id: ada.id, ..first };
    assert!(mfa.begin_totp(&orphan, &[]).await.is_err(), "an enrolment for an unknown user is refused");
}

/// Challenges: read while unexpired, the login's reservation spent once,
/// taken once, purged when expired. Returns one left live for `user`.
async fn challenges_contract(mfa: &Arc<dyn MfaRepo>, user: UserId) -> MfaChallenge {
    let challenge = MfaChallenge {
        token_hash: hash(),
        user_id: user,
        account: "ada@example.com".into(),
        network: "192.0.2.1".into(),
        expires_at: NOW + 300,
        reserved: true,
    };
    mfa.create_challenge(&challenge).await.expect("the challenge is stored");
    assert_eq!(mfa.challenge(&challenge.token_hash, NOW).await.expect("storage answers"), Some(challenge.clone()));
    assert_eq!(mfa.challenge(&challenge.token_hash, NOW + 300).await.expect("storage answers"), None, "expired");
    assert!(!mfa.take_challenge(&challenge.token_hash, NOW + 300).await.expect("storage answers"), "expired");
    let token = challenge.token_hash;
    let wins = race(|| {
        let mfa = mfa.clone();
        async move { mfa.spend_reservation(&token).await.expect("storage answers") }
    })
    .await;
    assert_eq!(wins, 1, "one of the racing submissions spends the login's reservation");
    let read = mfa.challenge(&token, NOW).await.expect("storage answers").expect("still there");
    assert!(!read.reserved);
    let wins = race(|| {
        let mfa = mfa.clone();
        async move { mfa.take_challenge(&token, NOW).await.expect("storage answers") }
    })
    .await;
    assert_eq!(wins, 1, "one of the racing redemptions of a challenge wins");
    assert_eq!(mfa.challenge(&token, NOW).await.expect("storage answers"), None);
    let stale = MfaChallenge { token_hash: hash(), expires_at: NOW + 10, ..challenge.clone() };
    mfa.create_challenge(&stale).await.expect("the challenge is stored");
    let live = MfaChallenge { token_hash: hash(), expires_at: NOW + 100, ..challenge.clone() };
    mfa.create_challenge(&live).await.expect("the challenge is stored");
    assert_eq!(mfa.purge_challenges(NOW + 10).await.expect("storage answers"), 1);
    assert!(mfa.challenge(&live.token_hash, NOW).await.expect("storage answers").is_some());

    live
}
