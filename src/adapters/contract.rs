//! The storage contract: what every implementation of [`UserRepo`],
//! [`SessionRepo`] and [`RevocationStore`] must do, written once against the
//! ports so that each adapter's tests run the same checks.
//!
//! Each function expects a fresh, empty store and panics on the first
//! broken promise. It relies only on the ports, never on an adapter's
//! internals, so a new backend is tested by calling these functions from its
//! own `#[tokio::test]`s, on a multi-threaded runtime so the races are real.

use crate::core::email::Email;
use crate::core::password::PasswordHash;
use crate::core::refresh::TokenHash;
use crate::core::revocation::Revocation;
use crate::core::session::SessionId;
use crate::core::user::{Role, UnixSeconds, User, UserChange, UserId, UserStatus};
use crate::ports::{
    RefreshRecord, RevocationStore, RotateOutcome, SessionRecord, SessionRepo, UserInsertError, UserRepo,
    UserUpdateError,
};
use std::sync::Arc;
use uuid::Uuid;

/// The instant the contract pretends it is.
const NOW: UnixSeconds = 1_700_000_000;

/// A hash in bcrypt's format; no password is ever checked against it here.
const HASH: &str = "$2b$04$abcdefghijklmnopqrstuuK6fGdYsY7S8mLyXbbPj2xDnhR7ABCDe";

fn new_user(email: &str, role: Role, status: UserStatus) -> User {
    User {
        id: UserId::from_uuid(Uuid::now_v7()),
        email: Email::parse(email).expect("a valid test address"),
        password_hash: PasswordHash::new(HASH),
        role,
        status,
        created_at: NOW,
        updated_at: NOW,
    }
}

fn email(raw: &str) -> Email {
    Email::parse(raw).expect("a valid test address")
}

fn demote() -> UserChange {
    UserChange { role: Some(Role::User), status: None }
}

fn promote() -> UserChange {
    UserChange { role: Some(Role::Admin), status: None }
}

fn disable() -> UserChange {
    UserChange { role: None, status: Some(UserStatus::Disabled) }
}

fn enable() -> UserChange {
    UserChange { role: None, status: Some(UserStatus::Active) }
}

async fn insert(users: &dyn UserRepo, user: &User) {
    users.insert(user).await.expect("the user is stored");
}

async fn stored(users: &dyn UserRepo, id: UserId) -> User {
    users.by_id(id).await.expect("storage answers").expect("the user is stored")
}

/// Users: uniqueness of e-mails, lookups, keyset pagination, updates and
/// the last-admin rule.
pub async fn users_contract(users: &dyn UserRepo) {
    users.ping().await.expect("an empty store answers ping");
    assert!(!users.has_active_admin().await.expect("storage answers"));
    assert!(users.list(None, 10).await.expect("storage answers").is_empty());

    emails_are_unique_and_found_whatever_their_case(users).await;
    users_are_listed_in_id_order_after_the_cursor(users).await;
    passwords_and_updates_are_stored(users).await;
    unknown_users_are_not_found(users).await;
    the_last_active_admin_is_kept(users).await;
    racing_demotions_leave_one_admin(users).await;
}

async fn emails_are_unique_and_found_whatever_their_case(users: &dyn UserRepo) {
    let alice = new_user("Alice@Example.com", Role::User, UserStatus::Active);
    insert(users, &alice).await;

    let found = users.by_email(&email("ALICE@example.COM")).await.expect("storage answers");
    assert_eq!(found.as_ref(), Some(&alice), "found by e-mail");
    assert_eq!(stored(users, alice.id).await, alice, "found by id");

    let twin = new_user(" alice@EXAMPLE.com ", Role::Admin, UserStatus::Active);
    let result = users.insert(&twin).await;
    assert!(
        matches!(result, Err(UserInsertError::EmailTaken)),
        "a second user with the same e-mail is refused: {result:?}"
    );
    assert_eq!(users.by_id(twin.id).await.expect("storage answers"), None);
    assert!(!users.has_active_admin().await.expect("storage answers"));

    let nobody = users.by_email(&email("nobody@example.com")).await.expect("storage answers");
    assert_eq!(nobody, None);

    // A deleted user's address is free again.
    users.delete(alice.id).await.expect("alice is deleted");
    assert_eq!(users.by_email(&alice.email).await.expect("storage answers"), None);
    let again = new_user("alice@example.com", Role::User, UserStatus::Active);
    insert(users, &again).await;
    users.delete(again.id).await.expect("the new alice is deleted");
}

async fn users_are_listed_in_id_order_after_the_cursor(users: &dyn UserRepo) {
    let mut people: Vec<User> =
        (0..5).map(|n| new_user(&format!("page{n}@example.com"), Role::User, UserStatus::Active)).collect();
    // Insert out of order: the listing must follow ids, not insertion.
    for user in people.iter().rev() {
        insert(users, user).await;
    }
    people.sort_by_key(|user| user.id);
    let ids = |page: &[User]| page.iter().map(|user| user.id).collect::<Vec<_>>();

    let all = users.list(None, 100).await.expect("storage answers");
    assert_eq!(ids(&all), ids(&people), "everyone, in id order");

    let first = users.list(None, 2).await.expect("storage answers");
    assert_eq!(first, people[..2].to_vec(), "the first page");
    let second = users.list(Some(people[1].id), 2).await.expect("storage answers");
    assert_eq!(ids(&second), ids(&people[2..4]), "the page after the cursor");
    let last = users.list(Some(people[3].id), 2).await.expect("storage answers");
    assert_eq!(ids(&last), ids(&people[4..]), "a short last page");
    let beyond = users.list(Some(people[4].id), 2).await.expect("storage answers");
    assert!(beyond.is_empty(), "nothing after the last user");

    // A cursor need not name a stored user: it is a position.
    let gone = people[2].id;
    users.delete(gone).await.expect("a user is deleted");
    let after_gone = users.list(Some(gone), 10).await.expect("storage answers");
    assert_eq!(ids(&after_gone), ids(&people[3..]));

    for user in people.iter().filter(|user| user.id != gone) {
        users.delete(user.id).await.expect("a user is deleted");
    }
    assert!(users.list(None, 10).await.expect("storage answers").is_empty());
}

async fn passwords_and_updates_are_stored(users: &dyn UserRepo) {
    let bob = new_user("bob@example.com", Role::User, UserStatus::Active);
    insert(users, &bob).await;

    let new_hash = PasswordHash::new("$2b$04$zyxwvutsrqponmlkjihgfeK6fGdYsY7S8mLyXbbPj2xDnhR7ABCDe");
    users.set_password(bob.id, &new_hash, NOW + 5).await.expect("the password is changed");
    let changed = stored(users, bob.id).await;
    assert_eq!(changed.password_hash, new_hash);
    assert_eq!(changed.updated_at, NOW + 5);
    assert_eq!(changed.created_at, NOW);

    let disabled = users.update(bob.id, disable(), NOW + 10).await.expect("bob is disabled");
    let expected = User { status: UserStatus::Disabled, updated_at: NOW + 10, ..changed.clone() };
    assert_eq!(disabled, expected, "update returns the updated user");
    assert_eq!(stored(users, bob.id).await, expected, "and stores it");

    // A disabled admin is no active admin.
    let promoted = users.update(bob.id, promote(), NOW + 11).await.expect("bob is promoted");
    assert_eq!(promoted.role, Role::Admin);
    assert_eq!(promoted.status, UserStatus::Disabled);
    assert!(!users.has_active_admin().await.expect("storage answers"));

    // An empty change still records when it was made.
    let touched = users.update(bob.id, UserChange::default(), NOW + 12).await.expect("an empty change is accepted");
    assert_eq!(touched, User { updated_at: NOW + 12, ..promoted });

    users.delete(bob.id).await.expect("bob is deleted");
}

async fn unknown_users_are_not_found(users: &dyn UserRepo) {
    let ghost = UserId::from_uuid(Uuid::now_v7());
    assert_eq!(users.by_id(ghost).await.expect("storage answers"), None);
    let update = users.update(ghost, disable(), NOW).await;
    assert!(matches!(update, Err(UserUpdateError::NotFound)), "{update:?}");
    let delete = users.delete(ghost).await;
    assert!(matches!(delete, Err(UserUpdateError::NotFound)), "{delete:?}");
    // Like an UPDATE matching no row, changing an unknown password is a no-op.
    users.set_password(ghost, &PasswordHash::new(HASH), NOW).await.expect("storage answers");
    assert_eq!(users.by_id(ghost).await.expect("storage answers"), None);
}

async fn the_last_active_admin_is_kept(users: &dyn UserRepo) {
    let root = new_user("root@example.com", Role::Admin, UserStatus::Active);
    insert(users, &root).await;
    assert!(users.has_active_admin().await.expect("storage answers"));

    // A disabled admin does not count as another admin.
    let dormant = new_user("dormant@example.com", Role::Admin, UserStatus::Disabled);
    insert(users, &dormant).await;

    for (what, change) in [("demoted", demote()), ("disabled", disable())] {
        let result = users.update(root.id, change, NOW + 1).await;
        assert!(
            matches!(result, Err(UserUpdateError::LastAdmin)),
            "the last active admin cannot be {what}: {result:?}"
        );
    }
    let result = users.delete(root.id).await;
    assert!(matches!(result, Err(UserUpdateError::LastAdmin)), "the last active admin cannot be deleted: {result:?}");
    assert_eq!(stored(users, root.id).await, root, "refusals change nothing");

    // Changes that leave the admin active are fine.
    let kept = users.update(root.id, promote(), NOW + 2).await.expect("re-promoting the last admin is no demotion");
    assert!(kept.is_active_admin());

    // With a second active admin, the first may go.
    users.update(dormant.id, enable(), NOW + 3).await.expect("the dormant admin is enabled");
    let demoted = users.update(root.id, demote(), NOW + 4).await.expect("an admin is demoted while another remains");
    assert_eq!(demoted.role, Role::User);
    assert_eq!(demoted.updated_at, NOW + 4);

    // Now the other one is the last.
    let result = users.update(dormant.id, disable(), NOW + 5).await;
    assert!(matches!(result, Err(UserUpdateError::LastAdmin)), "{result:?}");
    let result = users.delete(dormant.id).await;
    assert!(matches!(result, Err(UserUpdateError::LastAdmin)), "{result:?}");

    users.update(root.id, promote(), NOW + 6).await.expect("root is an admin again");
    users.delete(dormant.id).await.expect("an admin is deleted while another remains");
    assert_eq!(users.by_id(dormant.id).await.expect("storage answers"), None);
    let result = users.delete(dormant.id).await;
    assert!(matches!(result, Err(UserUpdateError::NotFound)), "{result:?}");
    assert!(users.has_active_admin().await.expect("storage answers"));

    // Deleting a user who is not an active admin needs no other admin.
    let plain = new_user("plain@example.com", Role::User, UserStatus::Active);
    insert(users, &plain).await;
    users.delete(plain.id).await.expect("a plain user is deleted");
}

/// Two admins demoting each other at once: the check and the write must
/// be atomic, so exactly one demotion succeeds.
async fn racing_demotions_leave_one_admin(users: &dyn UserRepo) {
    let first = new_user("first-admin@example.com", Role::Admin, UserStatus::Active);
    let second = new_user("second-admin@example.com", Role::Admin, UserStatus::Active);
    insert(users, &first).await;
    insert(users, &second).await;
    // The admins of earlier steps must not count here.
    for user in users.list(None, 100).await.expect("storage answers") {
        if user.is_active_admin() && user.id != first.id && user.id != second.id {
            users.delete(user.id).await.expect("an earlier admin is deleted");
        }
    }

    let (one, other) =
        tokio::join!(users.update(first.id, demote(), NOW + 7), users.update(second.id, disable(), NOW + 7),);
    let refused = [&one, &other].iter().filter(|result| matches!(result, Err(UserUpdateError::LastAdmin))).count();
    assert_eq!(refused, 1, "exactly one racing demotion is refused: {one:?} {other:?}");
    assert!(one.is_ok() || other.is_ok());
    assert!(users.has_active_admin().await.expect("storage answers"));
}

fn token_hash() -> TokenHash {
    let mut hash = [0u8; 32];
    hash[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    hash[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    TokenHash::from_bytes(hash)
}

fn new_session(user: &User, created_at: UnixSeconds) -> SessionRecord {
    SessionRecord { id: SessionId::from_uuid(Uuid::new_v4()), user_id: user.id, created_at, revoked_at: None }
}

fn refresh_record(session: &SessionRecord, issued_at: UnixSeconds, expires_at: UnixSeconds) -> RefreshRecord {
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
async fn open(sessions: &dyn SessionRepo, user: &User) -> (SessionRecord, RefreshRecord) {
    let session = new_session(user, NOW);
    let first = refresh_record(&session, NOW, NOW + 86_400);
    sessions.create(&session, &first).await.expect("the session is stored");
    (session, first)
}

async fn token(sessions: &dyn SessionRepo, hash: &TokenHash) -> Option<RefreshRecord> {
    sessions.refresh_token(hash).await.expect("storage answers")
}

async fn session(sessions: &dyn SessionRepo, id: SessionId) -> Option<SessionRecord> {
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
    let outcome = sessions.rotate(&parent.token_hash, &child, NOW + 10).await.expect("storage answers");
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
    let outcome = sessions.rotate(&parent.token_hash, &late_child, NOW + 20).await.expect("storage answers");
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
    sessions.ensure_refresh_token(&reissued).await.expect("an existing child is accepted");
    assert_eq!(token(sessions, &child.token_hash).await, Some(child.clone()));

    // And a child that is missing is stored, once.
    let missing = refresh_record(&created, NOW + 30, NOW + 30 + 86_400);
    for _ in 0..2 {
        sessions.ensure_refresh_token(&missing).await.expect("a missing child is stored");
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
            tokio::spawn(async move { sessions.rotate(&parent, &child, NOW + 40).await })
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
        }),
        "the others see the winner's instant: {outcomes:?}"
    );
    assert_eq!(token(sessions.as_ref(), &child.token_hash).await, Some(child));
}

async fn sessions_are_revoked_once(sessions: &dyn SessionRepo, user: &User) {
    let (created, _) = open(sessions, user).await;
    assert!(sessions.revoke(created.id, NOW + 50).await.expect("storage answers"));
    assert_eq!(
        session(sessions, created.id).await,
        Some(SessionRecord { revoked_at: Some(NOW + 50), ..created.clone() })
    );
    assert!(!sessions.revoke(created.id, NOW + 60).await.expect("storage answers"), "a revoked session was not live");
    assert_eq!(
        session(sessions, created.id).await.and_then(|s| s.revoked_at),
        Some(NOW + 50),
        "the first revocation's instant is kept"
    );
    assert!(!sessions.revoke(SessionId::from_uuid(Uuid::new_v4()), NOW).await.expect("storage answers"));
}

async fn all_sessions_but_one_are_revoked(sessions: &dyn SessionRepo, user: &User, bystander: &User) {
    // Close whatever earlier steps left open, so the counts below are exact.
    sessions.revoke_all(user.id, None, NOW + 69).await.expect("storage answers");

    let (one, _) = open(sessions, user).await;
    let (two, _) = open(sessions, user).await;
    let (kept, _) = open(sessions, user).await;
    let (already, _) = open(sessions, user).await;
    let (elsewhere, _) = open(sessions, bystander).await;
    sessions.revoke(already.id, NOW + 65).await.expect("storage answers");

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
    sessions.create(&created, &soonest).await.expect("the session is stored");
    let soon = refresh_record(&created, NOW, NOW + 100);
    let later = refresh_record(&created, NOW, NOW + 200);
    for record in [&soon, &later] {
        sessions.ensure_refresh_token(record).await.expect("the token is stored");
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
    users.delete(user.id).await.expect("the user is deleted");
    assert_eq!(session(sessions, mine.id).await, None);
    assert_eq!(token(sessions, &my_token.token_hash).await, None);
    assert_eq!(session(sessions, theirs.id).await, Some(theirs));
    assert_eq!(token(sessions, &their_token.token_hash).await, Some(their_token));
}

/// Sorts revocations so lists from stores that do not order them compare.
fn sorted(mut revocations: Vec<Revocation>) -> Vec<Revocation> {
    revocations.sort_by_key(|revocation| match *revocation {
        Revocation::Token { jti, .. } => (0, jti),
        Revocation::Session { sid, .. } => (1, sid.as_uuid()),
        Revocation::UserCutoff { user, .. } => (2, user.as_uuid()),
    });
    revocations
}

/// Revocations: one entry per subject, later cut-offs win, nothing is
/// shortened, and entries past their `until` are neither active nor kept.
pub async fn revocations_contract(store: &dyn RevocationStore) {
    assert!(store.active(NOW).await.expect("storage answers").is_empty());
    revocation_feed_contract(store).await;
    store.purge(i64::MAX).await.expect("storage answers");

    // The same id as a token, a session and a user: three subjects.
    let id = Uuid::now_v7();
    let user = UserId::from_uuid(id);
    let token = Revocation::Token { jti: id, until: NOW + 100 };
    let session = Revocation::Session { sid: SessionId::from_uuid(id), until: NOW + 50 };
    let cutoff = Revocation::UserCutoff { user, cutoff: NOW, until: NOW + 200 };
    for revocation in [&token, &session, &cutoff] {
        store.record(revocation).await.expect("the revocation is stored");
    }
    let active = store.active(NOW).await.expect("storage answers");
    assert_eq!(sorted(active), sorted(vec![token.clone(), session.clone(), cutoff.clone()]));

    // An earlier cut-off never replaces a later one.
    let earlier = Revocation::UserCutoff { user, cutoff: NOW - 10, until: NOW + 190 };
    store.record(&earlier).await.expect("the revocation is stored");
    // A later one does, without ending sooner than the one it replaces.
    let later = Revocation::UserCutoff { user, cutoff: NOW + 5, until: NOW + 150 };
    store.record(&later).await.expect("the revocation is stored");
    let merged_cutoff = Revocation::UserCutoff { user, cutoff: NOW + 5, until: NOW + 200 };
    // Re-recording a token replaces its entry, never shortening it.
    let longer = Revocation::Token { jti: id, until: NOW + 300 };
    store.record(&longer).await.expect("the revocation is stored");
    store.record(&Revocation::Token { jti: id, until: NOW + 10 }).await.expect("the revocation is stored");
    let active = store.active(NOW).await.expect("storage answers");
    assert_eq!(
        sorted(active),
        sorted(vec![longer.clone(), session.clone(), merged_cutoff.clone()]),
        "one entry per subject"
    );

    // `until` is the last instant that matters: at it, an entry is over.
    let active = store.active(NOW + 50).await.expect("storage answers");
    assert_eq!(sorted(active), sorted(vec![longer.clone(), merged_cutoff.clone()]));
    assert_eq!(store.purge(NOW + 49).await.expect("storage answers"), 0);
    assert_eq!(store.purge(NOW + 50).await.expect("storage answers"), 1);
    assert_eq!(store.purge(NOW + 50).await.expect("storage answers"), 0);
    let active = store.active(NOW).await.expect("storage answers");
    assert_eq!(sorted(active), sorted(vec![longer, merged_cutoff]), "purging keeps what still matters");

    // A purged subject can be revoked afresh.
    store.record(&session).await.expect("the revocation is stored");
    assert_eq!(store.active(NOW).await.expect("storage answers").len(), 3);

    assert_eq!(store.purge(NOW + 1_000).await.expect("storage answers"), 3);
    assert!(store.active(NOW).await.expect("storage answers").is_empty());
}

/// Replicas learn of each other's revocations by asking what was recorded
/// since a position: new and re-recorded entries show up, older ones not.
async fn revocation_feed_contract(store: &dyn RevocationStore) {
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(3));
    let first = Revocation::Token { jti: Uuid::now_v7(), until: NOW + 60 };
    store.record(&first).await.expect("storage answers");
    let (seen, after_first) = store.recorded_since(i64::MIN, NOW).await.expect("storage answers");
    assert_eq!(seen, vec![first.clone()]);
    pause().await;
    let second = Revocation::Session { sid: SessionId::from_uuid(Uuid::now_v7()), until: NOW + 60 };
    store.record(&second).await.expect("storage answers");
    let (seen, after_second) = store.recorded_since(after_first + 1, NOW).await.expect("storage answers");
    assert_eq!(seen, vec![second.clone()], "only what came after the position");
    assert!(after_second > after_first);
    let (nothing, unchanged) = store.recorded_since(after_second + 1, NOW).await.expect("storage answers");
    assert!(nothing.is_empty());
    assert_eq!(unchanged, after_second + 1, "with nothing new the position stays");
    pause().await;
    store.record(&first).await.expect("storage answers");
    let (seen, _) = store.recorded_since(after_second + 1, NOW).await.expect("storage answers");
    assert_eq!(seen, vec![first.clone()], "a re-recorded entry shows up again");
    let (expired, _) = store.recorded_since(i64::MIN, NOW + 61).await.expect("storage answers");
    assert!(expired.is_empty(), "entries that no longer matter are not fed");
}
