//! The sessions contract: creation, rotation (once, even when raced),
//! re-issue in the grace window, revocation, purging, and removal with
//! their user.

use super::{insert, new_user, NOW};
use crate::core::refresh::TokenHash;
use crate::core::session::{SessionId, SessionUse};
use crate::core::user::{CredentialEpoch, Role, UnixSeconds, User, UserStatus};
use crate::ports::{RefreshRecord, RotateOutcome, SessionRecord, SessionRepo, UserRepo};
use std::sync::Arc;
use uuid::Uuid;

fn token_hash() -> TokenHash {
    let mut hash = [0u8; 32];
    hash[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    hash[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    TokenHash::from_bytes(hash)
}

pub(super) fn new_session(user: &User, created_at: UnixSeconds) -> SessionRecord {
    SessionRecord {
        id: SessionId::from_uuid(Uuid::new_v4()),
        user_id: user.id,
        created_at,
        revoked_at: None,
        credential_epoch: user.credential_epoch,
        last_use: SessionUse { at: created_at, ip: None, user_agent: None },
    }
}

pub(super) fn refresh_record(
    session: &SessionRecord,
    issued_at: UnixSeconds,
    expires_at: UnixSeconds,
) -> RefreshRecord {
    RefreshRecord {
        token_hash: token_hash(),
        session_id: session.id,
        user_id: session.user_id,
        issued_at,
        expires_at,
        rotated_at: None,
    }
}

/// Opens a session with its first refresh token, valid for a long time.
pub(super) async fn open(sessions: &dyn SessionRepo, user: &User) -> (SessionRecord, RefreshRecord) {
    let session = new_session(user, NOW);
    let first = refresh_record(&session, NOW, NOW + 86_400);
    assert!(sessions.create(&session, &first, &[]).await.expect("storage answers"), "the session is stored");
    (session, first)
}

/// Every user here is new and in the first epoch.
const FIRST: CredentialEpoch = CredentialEpoch::INITIAL;

pub(super) async fn token(sessions: &dyn SessionRepo, hash: &TokenHash) -> Option<RefreshRecord> {
    sessions.refresh_token(hash).await.expect("storage answers")
}

pub(super) async fn session(sessions: &dyn SessionRepo, id: SessionId) -> Option<SessionRecord> {
    sessions.session(id).await.expect("storage answers")
}

/// Sessions and refresh tokens: creation, rotation (once, even when raced),
/// re-issue in the grace window, revocation, purging, and removal with
/// their user. `sessions` is shared so that racing tasks can hold it.
pub async fn sessions_contract(users: &dyn UserRepo, sessions: Arc<dyn SessionRepo>) {
    let carol = new_user("carol@example.com", Role::User, UserStatus::Active);
    let dave = new_user("dave@example.com", Role::User, UserStatus::Active);
    insert(users, &carol).await;
    insert(users, &dave).await;

    sessions_and_tokens_are_stored(sessions.as_ref(), &carol).await;
    a_token_rotates_once(sessions.as_ref(), &carol).await;
    racing_rotations_rotate_once(&sessions, &carol).await;
    sessions_are_revoked_once(sessions.as_ref(), &carol).await;
    all_sessions_but_one_are_revoked(sessions.as_ref(), &carol, &dave).await;
    expired_tokens_are_purged(sessions.as_ref(), &dave).await;
    deleting_a_user_deletes_their_sessions(users, sessions.as_ref(), &carol, &dave).await;
    super::epochs::epochs_contract(users, sessions.as_ref()).await;
    super::session_list::session_list_contract(users, sessions.as_ref()).await;
}

async fn sessions_and_tokens_are_stored(sessions: &dyn SessionRepo, user: &User) {
    let (created, first) = open(sessions, user).await;
    assert_eq!(session(sessions, created.id).await, Some(created.clone()));
    assert_eq!(token(sessions, &first.token_hash).await, Some(first));
    assert_eq!(session(sessions, SessionId::from_uuid(Uuid::new_v4())).await, None);
    assert_eq!(token(sessions, &token_hash()).await, None);
}

async fn a_token_rotates_once(sessions: &dyn SessionRepo, user: &User) {
    let (created, parent) = open(sessions, user).await;
    let child = refresh_record(&created, NOW + 10, NOW + 10 + 86_400);
    let outcome = sessions.rotate(&parent.token_hash, &child, FIRST, NOW + 10).await.expect("storage answers");
    assert_eq!(outcome, RotateOutcome::Rotated);
    let rotated = token(sessions, &parent.token_hash).await;
    assert_eq!(
        rotated,
        Some(RefreshRecord { rotated_at: Some(NOW + 10), ..parent.clone() }),
        "the parent is marked rotated, and only that"
    );
    assert_eq!(token(sessions, &child.token_hash).await, Some(child.clone()));

    // A second rotation of the same parent stores nothing.
    let late_child = refresh_record(&created, NOW + 20, NOW + 20 + 86_400);
    let outcome = sessions.rotate(&parent.token_hash, &late_child, FIRST, NOW + 20).await.expect("storage answers");
    assert_eq!(outcome, RotateOutcome::AlreadyRotated { at: NOW + 10 });
    assert_eq!(token(sessions, &late_child.token_hash).await, None);
    assert_eq!(
        token(sessions, &parent.token_hash).await.and_then(|record| record.rotated_at),
        Some(NOW + 10),
        "the first rotation's instant is kept"
    );

    // Within the grace window the same child is issued again: storing it
    // once more changes nothing, however the caller stamps it.
    let reissued = RefreshRecord { issued_at: NOW + 20, ..child.clone() };
    assert!(sessions.ensure_refresh_token(&reissued, FIRST).await.expect("an existing child is accepted"));
    assert_eq!(token(sessions, &child.token_hash).await, Some(child.clone()));

    // And a child that is missing is stored, once.
    let missing = refresh_record(&created, NOW + 30, NOW + 30 + 86_400);
    for _ in 0..2 {
        assert!(sessions.ensure_refresh_token(&missing, FIRST).await.expect("a missing child is stored"));
    }
    assert_eq!(token(sessions, &missing.token_hash).await, Some(missing));
}

async fn racing_rotations_rotate_once(sessions: &Arc<dyn SessionRepo>, user: &User) {
    const RACERS: usize = 8;
    let (created, parent) = open(sessions.as_ref(), user).await;
    // Racing replicas derive the same child from the same parent.
    let child = refresh_record(&created, NOW + 40, NOW + 40 + 86_400);
    let parent = parent.token_hash;
    let racers: Vec<_> = (0..RACERS)
        .map(|_| {
            let sessions = Arc::clone(sessions);
            let child = child.clone();
            tokio::spawn(async move { sessions.rotate(&parent, &child, FIRST, NOW + 40).await })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(RACERS);
    for racer in racers {
        outcomes.push(racer.await.expect("the racing task finishes").expect("storage answers"));
    }
    let winners = outcomes.iter().filter(|outcome| **outcome == RotateOutcome::Rotated).count();
    assert_eq!(winners, 1, "exactly one racer rotates: {outcomes:?}");
    assert!(
        outcomes.iter().all(|outcome| match outcome {
            RotateOutcome::Rotated => true,
            RotateOutcome::AlreadyRotated { at } => *at == NOW + 40,
            RotateOutcome::Refused => false,
        }),
        "the others see the winner's instant: {outcomes:?}"
    );
    assert_eq!(token(sessions.as_ref(), &child.token_hash).await, Some(child));
}

async fn sessions_are_revoked_once(sessions: &dyn SessionRepo, user: &User) {
    let (created, _) = open(sessions, user).await;
    assert!(sessions.revoke(created.id, NOW + 50, &[]).await.expect("storage answers"));
    assert_eq!(
        session(sessions, created.id).await,
        Some(SessionRecord { revoked_at: Some(NOW + 50), ..created.clone() })
    );
    assert!(
        !sessions.revoke(created.id, NOW + 60, &[]).await.expect("storage answers"),
        "a revoked session was not live"
    );
    assert_eq!(
        session(sessions, created.id).await.and_then(|s| s.revoked_at),
        Some(NOW + 50),
        "the first revocation's instant is kept"
    );
    assert!(!sessions.revoke(SessionId::from_uuid(Uuid::new_v4()), NOW, &[]).await.expect("storage answers"));
}

async fn all_sessions_but_one_are_revoked(sessions: &dyn SessionRepo, user: &User, bystander: &User) {
    // Close whatever earlier steps left open, so the counts below are exact.
    sessions.revoke_all(user.id, None, NOW + 69).await.expect("storage answers");

    let (one, _) = open(sessions, user).await;
    let (two, _) = open(sessions, user).await;
    let (kept, _) = open(sessions, user).await;
    let (already, _) = open(sessions, user).await;
    let (elsewhere, _) = open(sessions, bystander).await;
    sessions.revoke(already.id, NOW + 65, &[]).await.expect("storage answers");

    let mut revoked = sessions.revoke_all(user.id, Some(kept.id), NOW + 70).await.expect("storage answers");
    revoked.sort();
    let mut expected = vec![one.id, two.id];
    expected.sort();
    assert_eq!(revoked, expected, "every live session but the one kept");
    for id in [one.id, two.id] {
        assert_eq!(session(sessions, id).await.and_then(|s| s.revoked_at), Some(NOW + 70));
    }
    assert_eq!(session(sessions, kept.id).await.and_then(|s| s.revoked_at), None);
    assert_eq!(
        session(sessions, already.id).await.and_then(|s| s.revoked_at),
        Some(NOW + 65),
        "a revoked session keeps its instant"
    );
    assert_eq!(
        session(sessions, elsewhere.id).await.and_then(|s| s.revoked_at),
        None,
        "other users' sessions are untouched"
    );

    let revoked = sessions.revoke_all(user.id, None, NOW + 80).await.expect("storage answers");
    assert_eq!(revoked, vec![kept.id]);
    let revoked = sessions.revoke_all(user.id, None, NOW + 90).await.expect("storage answers");
    assert!(revoked.is_empty());
}

async fn expired_tokens_are_purged(sessions: &dyn SessionRepo, user: &User) {
    // Every token stored so far expires a day after NOW; these sooner.
    let created = new_session(user, NOW);
    let soonest = refresh_record(&created, NOW, NOW + 100);
    assert!(sessions.create(&created, &soonest, &[]).await.expect("the session is stored"));
    let soon = refresh_record(&created, NOW, NOW + 100);
    let later = refresh_record(&created, NOW, NOW + 200);
    for record in [&soon, &later] {
        assert!(sessions.ensure_refresh_token(record, FIRST).await.expect("the token is stored"));
    }

    assert_eq!(
        sessions.purge_expired(NOW + 100).await.expect("storage answers"),
        0,
        "a token expiring now is not yet expired"
    );
    assert_eq!(sessions.purge_expired(NOW + 101).await.expect("storage answers"), 2);
    assert_eq!(token(sessions, &soonest.token_hash).await, None);
    assert_eq!(token(sessions, &soon.token_hash).await, None);
    assert_eq!(token(sessions, &later.token_hash).await, Some(later));
    assert_eq!(sessions.purge_expired(NOW + 101).await.expect("storage answers"), 0);
    assert!(session(sessions, created.id).await.is_some(), "sessions are not purged");
}

async fn deleting_a_user_deletes_their_sessions(
    users: &dyn UserRepo,
    sessions: &dyn SessionRepo,
    user: &User,
    bystander: &User,
) {
    let (mine, my_token) = open(sessions, user).await;
    let (theirs, their_token) = open(sessions, bystander).await;
    users.delete(user.id, &[]).await.expect("the user is deleted");
    assert_eq!(session(sessions, mine.id).await, None);
    assert_eq!(token(sessions, &my_token.token_hash).await, None);
    assert_eq!(session(sessions, theirs.id).await, Some(theirs));
    assert_eq!(token(sessions, &their_token.token_hash).await, Some(their_token));
}
