//! The credential epoch: every write that ends a user's credentials moves
//! it on, and no session is opened, rotated or re-issued under an epoch
//! that has moved on, nor for a user who is disabled or gone.

use super::sessions::{new_session, open, refresh_record, session, token};
use super::{insert, new_user, NOW};
use crate::core::password::PasswordHash;
use crate::core::session::EndSessions;
use crate::core::user::{CredentialEpoch, Role, User, UserChange, UserStatus};
use crate::ports::{RotateOutcome, SessionRepo, UserRepo};

fn epoch(value: i64) -> CredentialEpoch {
    CredentialEpoch::new(value)
}

/// The epoch's rules, on a user of its own.
pub(super) async fn epochs_contract(users: &dyn UserRepo, sessions: &dyn SessionRepo) {
    let erin = new_user("erin@example.com", Role::User, UserStatus::Active);
    insert(users, &erin).await;
    a_moved_on_epoch_refuses_new_sessions_and_rotations(users, sessions, &erin).await;
    role_changes_move_sessions_on_and_disabling_ends_them(users, sessions, &erin).await;
    deleted_users_get_no_sessions(users, sessions).await;
}

async fn a_moved_on_epoch_refuses_new_sessions_and_rotations(
    users: &dyn UserRepo,
    sessions: &dyn SessionRepo,
    erin: &User,
) {
    let (kept, kept_token) = open(sessions, erin).await;
    let (ended, ended_token) = open(sessions, erin).await;
    let advanced = users.advance_epoch(erin.id, EndSessions::AllBut(kept.id), NOW + 1, &[]).await;
    assert_eq!(advanced.expect("storage answers"), Some(epoch(1)));

    // A login that read the user before the cut-off opens nothing.
    let late = new_session(erin, NOW + 1);
    let late_token = refresh_record(&late, NOW + 1, NOW + 86_400);
    assert!(!sessions.create(&late, &late_token, &[]).await.expect("storage answers"));
    assert_eq!(session(sessions, late.id).await, None);

    // Nor does a rotation that read it, nor one of an ended session.
    let child = refresh_record(&kept, NOW + 2, NOW + 86_400);
    let outcome = sessions.rotate(&kept_token.token_hash, &child, epoch(0), NOW + 2).await;
    assert_eq!(outcome.expect("storage answers"), RotateOutcome::Refused);
    let orphan = refresh_record(&ended, NOW + 2, NOW + 86_400);
    let outcome = sessions.rotate(&ended_token.token_hash, &orphan, epoch(1), NOW + 2).await;
    assert_eq!(outcome.expect("storage answers"), RotateOutcome::Refused);
    assert!(!sessions.ensure_refresh_token(&orphan, epoch(1)).await.expect("storage answers"));
    assert_eq!(token(sessions, &orphan.token_hash).await, None);
    assert_eq!(session(sessions, ended.id).await.and_then(|s| s.revoked_at), Some(NOW + 1));

    // The kept session moved on with the user.
    assert_eq!(session(sessions, kept.id).await.map(|s| s.credential_epoch), Some(epoch(1)));
    let outcome = sessions.rotate(&kept_token.token_hash, &child, epoch(1), NOW + 2).await;
    assert_eq!(outcome.expect("storage answers"), RotateOutcome::Rotated);

    // A password change is a cut-off too, in the same write.
    let hash = PasswordHash::new(super::HASH);
    let changed = users.set_password(erin.id, &hash, EndSessions::All, NOW + 3, &[]).await;
    assert_eq!(changed.expect("storage answers"), Some(epoch(2)));
    assert_eq!(session(sessions, kept.id).await.and_then(|s| s.revoked_at), Some(NOW + 3));
}

async fn role_changes_move_sessions_on_and_disabling_ends_them(
    users: &dyn UserRepo,
    sessions: &dyn SessionRepo,
    erin: &User,
) {
    let erin = users.by_id(erin.id).await.expect("storage answers").expect("erin is stored");
    let (live, _) = open(sessions, &erin).await;
    // Setting a role is a cut-off even when it is the same role: tokens
    // carry the role they were issued with, so any change of it ends them.
    let promote = UserChange { role: Some(Role::User), status: None };
    let promoted = users.update(erin.id, promote, NOW + 4, &[]).await.expect("erin's role is set");
    assert_eq!(promoted.credential_epoch, erin.credential_epoch.next(), "a role change is a cut-off");
    let moved = session(sessions, live.id).await.expect("the session is kept");
    assert_eq!((moved.credential_epoch, moved.revoked_at), (promoted.credential_epoch, None));

    let disable = UserChange { role: None, status: Some(UserStatus::Disabled) };
    let disabled = users.update(erin.id, disable, NOW + 5, &[]).await.expect("erin is disabled");
    assert_eq!(disabled.credential_epoch, promoted.credential_epoch.next());
    assert_eq!(session(sessions, live.id).await.and_then(|s| s.revoked_at), Some(NOW + 5));
    // A disabled user gets no session, whatever the epoch.
    let refused = new_session(&disabled, NOW + 6);
    let refused_token = refresh_record(&refused, NOW + 6, NOW + 86_400);
    assert!(!sessions.create(&refused, &refused_token, &[]).await.expect("storage answers"));
}

async fn deleted_users_get_no_sessions(users: &dyn UserRepo, sessions: &dyn SessionRepo) {
    let frank = new_user("frank@example.com", Role::User, UserStatus::Active);
    insert(users, &frank).await;
    users.delete(frank.id, &[]).await.expect("frank is deleted");
    let refused = new_session(&frank, NOW);
    let refused_token = refresh_record(&refused, NOW, NOW + 86_400);
    assert!(!sessions.create(&refused, &refused_token, &[]).await.expect("storage answers"));
}
