//! The audit trail's contract: an event's fields come back as written; an
//! event that records a change is stored with the change and never without
//! it; pages come newest first, cut at the cursor and filtered.

use super::{insert, new_user, HASH, NOW};
use crate::core::audit::{Actor, AuditEvent, AuditId, AuditOutcome, AuditQuery, AuditType};
use crate::core::password::PasswordHash;
use crate::core::session::{EndSessions, SessionId};
use crate::core::user::{CredentialEpoch, Role, UnixSeconds, UserChange, UserId, UserStatus};
use crate::ports::{AuditLog, RefreshRecord, SessionRecord, SessionRepo, UserInsertError, UserRepo, UserUpdateError};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

/// Ids in the order events are made, as UUIDv7s are.
static SEQUENCE: AtomicU64 = AtomicU64::new(1);

fn event(kind: AuditType, subject: Option<UserId>, at: UnixSeconds) -> AuditEvent {
    let sequence = SEQUENCE.fetch_add(1, Ordering::SeqCst);
    AuditEvent {
        id: AuditId::from_uuid(Uuid::from_u128((u128::from(sequence) << 64) | 0x7000_8000_0000_0000)),
        at,
        actor: subject.map_or(Actor::Anonymous, Actor::User),
        subject,
        kind,
        ip: None,
        request_id: None,
        outcome: AuditOutcome::Success,
        details: BTreeMap::new(),
    }
}

fn everything() -> AuditQuery {
    AuditQuery { limit: 1000, ..AuditQuery::default() }
}

async fn kinds(audit: &dyn AuditLog, query: &AuditQuery) -> Vec<AuditType> {
    audit.page(query).await.expect("the trail is readable").into_iter().map(|event| event.kind).collect()
}

/// Runs every audit check against one fresh, empty store.
pub async fn audit_contract(users: &dyn UserRepo, sessions: &dyn SessionRepo, audit: &dyn AuditLog) {
    fields_round_trip(audit).await;
    changes_and_their_events_are_one(users, sessions, audit).await;
    pages_are_newest_first_cut_and_filtered(audit).await;
    old_events_are_purged(audit).await;
}

async fn fields_round_trip(audit: &dyn AuditLog) {
    let subject = UserId::from_uuid(Uuid::now_v7());
    let mut full = event(AuditType::AdminUserDisabled, Some(subject), NOW);
    full.actor = Actor::cli("portcullis admin disable ada@example.com");
    full.ip = Some("2001:db8::7".parse().expect("an address"));
    full.request_id = Some("req-1.a_b".to_owned());
    full.outcome = AuditOutcome::Failure;
    full = full.detail("role", "admin").detail("quote", "it's \"quoted\" {json}");
    audit.record(&full).await.expect("the event is stored");
    let bare = event(AuditType::LoginFailed, None, NOW);
    audit.record(&bare).await.expect("the event is stored");
    let stored = audit.page(&everything()).await.expect("the trail is readable");
    assert_eq!(stored, vec![bare, full], "every field comes back as written, newest first");
}

async fn changes_and_their_events_are_one(users: &dyn UserRepo, sessions: &dyn SessionRepo, audit: &dyn AuditLog) {
    let before = audit.page(&everything()).await.expect("the trail is readable").len();
    let count = || async { audit.page(&everything()).await.expect("the trail is readable").len() - before };

    let root = new_user("audit-root@example.com", Role::Admin, UserStatus::Active);
    users.insert(&root, &[event(AuditType::AdminUserCreated, Some(root.id), NOW)]).await.expect("root is stored");
    assert_eq!(count().await, 1, "an insert stores its event");
    let twin = new_user("AUDIT-root@example.com", Role::User, UserStatus::Active);
    let taken = users.insert(&twin, &[event(AuditType::Registration, Some(twin.id), NOW)]).await;
    assert!(matches!(taken, Err(UserInsertError::EmailTaken)), "{taken:?}");
    assert_eq!(count().await, 1, "a refused insert leaves no event");

    let demote = UserChange { role: Some(Role::User), status: None };
    let role_changed = [event(AuditType::AdminRoleChanged, Some(root.id), NOW)];
    let refused = users.update(root.id, demote, NOW + 1, &role_changed).await;
    assert!(matches!(refused, Err(UserUpdateError::LastAdmin)));
    let refused = users.delete(root.id, &[event(AuditType::AdminUserDeleted, Some(root.id), NOW)]).await;
    assert!(matches!(refused, Err(UserUpdateError::LastAdmin)));
    let ghost = UserId::from_uuid(Uuid::now_v7());
    let gone = users.delete(ghost, &[event(AuditType::AdminUserDeleted, Some(ghost), NOW)]).await;
    assert!(matches!(gone, Err(UserUpdateError::NotFound)));
    let hash = PasswordHash::new(HASH);
    let reset = [event(AuditType::AdminPasswordReset, Some(ghost), NOW)];
    let none = users.set_password(ghost, &hash, EndSessions::All, NOW, &reset).await;
    assert_eq!(none.expect("storage answers"), None);
    let logout_all = [event(AuditType::LogoutAll, Some(ghost), NOW)];
    let none = users.advance_epoch(ghost, EndSessions::All, NOW, &logout_all).await;
    assert_eq!(none.expect("storage answers"), None);
    assert_eq!(count().await, 1, "refused and empty changes leave no event");

    let ada = new_user("audit-ada@example.com", Role::User, UserStatus::Active);
    insert(users, &ada).await;
    let two =
        [event(AuditType::AdminRoleChanged, Some(ada.id), NOW), event(AuditType::AdminUserDisabled, Some(ada.id), NOW)];
    let change = UserChange { role: Some(Role::Admin), status: Some(UserStatus::Disabled) };
    users.update(ada.id, change, NOW + 2, &two).await.expect("ada is changed");
    assert_eq!(count().await, 3, "both events of one update are stored");

    // A session refused because the epoch moved on stores no login event.
    let bob = new_user("audit-bob@example.com", Role::User, UserStatus::Active);
    insert(users, &bob).await;
    users
        .advance_epoch(bob.id, EndSessions::All, NOW + 3, &[event(AuditType::LogoutAll, Some(bob.id), NOW)])
        .await
        .expect("storage answers");
    let (session, first) = session_of(bob.id, CredentialEpoch::INITIAL);
    let login = [event(AuditType::LoginSucceeded, Some(bob.id), NOW)];
    assert!(!sessions.create(&session, &first, &login).await.expect("storage answers"));
    assert_eq!(count().await, 4, "a refused session leaves no login event");
    let (session, first) = session_of(bob.id, CredentialEpoch::INITIAL.next());
    assert!(sessions.create(&session, &first, &login).await.expect("storage answers"));
    sessions.revoke(session.id, NOW + 4, &[event(AuditType::Logout, Some(bob.id), NOW)]).await.expect("revoked");
    assert_eq!(count().await, 6, "a session and its revocation store their events");

    // A re-hash is a compare-and-set: a hash changed meanwhile is kept.
    let stale = PasswordHash::new("$2b$04$stalestalestalestalestaOPQRSTUVWXYZ0123456789abcdefghi");
    let fresh = PasswordHash::new("$2b$05$freshfreshfreshfreshfrOPQRSTUVWXYZ0123456789abcdefghi");
    let rehash = [event(AuditType::PasswordRehashed, Some(bob.id), NOW)];
    assert!(!users.replace_hash(bob.id, &stale, &fresh, &rehash).await.expect("storage answers"));
    assert_eq!(users.by_id(bob.id).await.expect("storage answers").expect("bob").password_hash.as_str(), HASH);
    assert_eq!(count().await, 6, "a lost compare-and-set leaves no event");
    assert!(users.replace_hash(bob.id, &hash, &fresh, &rehash).await.expect("storage answers"));
    let stored = users.by_id(bob.id).await.expect("storage answers").expect("bob");
    assert_eq!(
        (stored.password_hash.as_str(), stored.credential_epoch),
        (fresh.as_str(), CredentialEpoch::INITIAL.next())
    );
    assert_eq!(count().await, 7, "a re-hash stores its event and keeps the epoch");

    users.delete(bob.id, &[event(AuditType::AdminUserDeleted, Some(bob.id), NOW)]).await.expect("bob is deleted");
    let about_bob = AuditQuery { user: Some(bob.id), ..everything() };
    assert_eq!(kinds(audit, &about_bob).await.len(), 5, "a deleted user's events outlive the user");
}

fn session_of(user: UserId, epoch: CredentialEpoch) -> (SessionRecord, RefreshRecord) {
    let session = SessionRecord {
        id: SessionId::from_uuid(Uuid::new_v4()),
        user_id: user,
        created_at: NOW,
        revoked_at: None,
        credential_epoch: epoch,
        last_use: crate::core::session::SessionUse { at: NOW, ip: None, user_agent: None },
    };
    let mut hash = [0u8; 32];
    hash[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    let first = RefreshRecord {
        token_hash: crate::core::refresh::TokenHash::from_bytes(hash),
        session_id: session.id,
        user_id: user,
        issued_at: NOW,
        expires_at: NOW + 3600,
        rotated_at: None,
    };
    (session, first)
}

async fn pages_are_newest_first_cut_and_filtered(audit: &dyn AuditLog) {
    let carol = UserId::from_uuid(Uuid::now_v7());
    let dave = UserId::from_uuid(Uuid::now_v7());
    let base = UnixSeconds::new(2_000_000_000);
    let mut written = [
        event(AuditType::LoginSucceeded, Some(carol), base),
        event(AuditType::LoginFailed, Some(carol), base + 10),
        event(AuditType::AdminUserDisabled, Some(carol), base + 20),
        event(AuditType::LoginSucceeded, Some(dave), base + 30),
    ];
    written[2].actor = Actor::User(dave);
    for event in &written {
        audit.record(event).await.expect("the event is stored");
    }
    let recent = AuditQuery { since: Some(base), ..everything() };
    let first = audit.page(&AuditQuery { limit: 3, ..recent.clone() }).await.expect("a page");
    assert_eq!(first.iter().map(|e| e.id).collect::<Vec<_>>(), [written[3].id, written[2].id, written[1].id]);
    let rest =
        audit.page(&AuditQuery { limit: 3, before: Some(written[1].id), ..recent.clone() }).await.expect("a page");
    assert_eq!(rest.iter().map(|e| e.id).collect::<Vec<_>>(), [written[0].id]);

    let about_carol = AuditQuery { user: Some(carol), ..recent.clone() };
    assert_eq!(kinds(audit, &about_carol).await.len(), 3);
    let by_or_about_dave = AuditQuery { user: Some(dave), ..recent.clone() };
    assert_eq!(
        kinds(audit, &by_or_about_dave).await,
        [AuditType::LoginSucceeded, AuditType::AdminUserDisabled],
        "a user's events are those by and about them"
    );
    let logins = AuditQuery { kind: Some(AuditType::LoginSucceeded), ..recent.clone() };
    assert_eq!(kinds(audit, &logins).await.len(), 2);
    let window = AuditQuery { since: Some(base + 10), until: Some(base + 20), ..everything() };
    assert_eq!(
        kinds(audit, &window).await,
        [AuditType::AdminUserDisabled, AuditType::LoginFailed],
        "bounds are inclusive"
    );
}

async fn old_events_are_purged(audit: &dyn AuditLog) {
    let cut = UnixSeconds::new(2_000_000_010);
    let purged = audit.purge_before(cut).await.expect("old events are purged");
    assert!(purged >= 1, "the events before the cut are purged");
    let left = audit.page(&everything()).await.expect("the trail is readable");
    assert!(!left.is_empty() && left.iter().all(|event| event.at >= cut), "only events at or after the cut remain");
}
