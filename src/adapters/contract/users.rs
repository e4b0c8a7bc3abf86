//! The users contract: e-mail uniqueness, lookups, keyset pagination,
//! updates and the last-admin rule.

use super::{insert, new_user, HASH, NOW};
use crate::core::email::Email;
use crate::core::password::PasswordHash;
use crate::core::session::EndSessions;
use crate::core::user::{CredentialEpoch, Role, User, UserChange, UserId, UserStatus};
use crate::ports::{UserInsertError, UserRepo, UserUpdateError};
use uuid::Uuid;

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
    let result = users.insert(&twin, &[]).await;
    assert!(
        matches!(result, Err(UserInsertError::EmailTaken)),
        "a second user with the same e-mail is refused: {result:?}"
    );
    assert_eq!(users.by_id(twin.id).await.expect("storage answers"), None);
    assert!(!users.has_active_admin().await.expect("storage answers"));

    let nobody = users.by_email(&email("nobody@example.com")).await.expect("storage answers");
    assert_eq!(nobody, None);

    // A deleted user's address is free again.
    users.delete(alice.id, &[]).await.expect("alice is deleted");
    assert_eq!(users.by_email(&alice.email).await.expect("storage answers"), None);
    let again = new_user("alice@example.com", Role::User, UserStatus::Active);
    insert(users, &again).await;
    users.delete(again.id, &[]).await.expect("the new alice is deleted");
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
    users.delete(gone, &[]).await.expect("a user is deleted");
    let after_gone = users.list(Some(gone), 10).await.expect("storage answers");
    assert_eq!(ids(&after_gone), ids(&people[3..]));

    for user in people.iter().filter(|user| user.id != gone) {
        users.delete(user.id, &[]).await.expect("a user is deleted");
    }
    assert!(users.list(None, 10).await.expect("storage answers").is_empty());
}

async fn passwords_and_updates_are_stored(users: &dyn UserRepo) {
    let bob = new_user("bob@example.com", Role::User, UserStatus::Active);
    insert(users, &bob).await;

    let new_hash = PasswordHash::new("$2b$04$zyxwvutsrqponmlkjihgfeK6fGdYsY7S8mLyXbbPj2xDnhR7ABCDe");
    let epoch = users.set_password(bob.id, &new_hash, EndSessions::All, NOW + 5, &[]).await.expect("storage answers");
    assert_eq!(epoch, Some(CredentialEpoch::new(1)), "a password change advances the epoch");
    let changed = stored(users, bob.id).await;
    assert_eq!(changed.credential_epoch, CredentialEpoch::new(1));
    assert_eq!(changed.password_hash, new_hash);
    assert_eq!(changed.updated_at, NOW + 5);
    assert_eq!(changed.created_at, NOW);

    let disabled = users.update(bob.id, disable(), NOW + 10, &[]).await.expect("bob is disabled");
    let expected = User {
        status: UserStatus::Disabled,
        updated_at: NOW + 10,
        credential_epoch: CredentialEpoch::new(2),
        ..changed.clone()
    };
    assert_eq!(disabled, expected, "update returns the updated user");
    assert_eq!(stored(users, bob.id).await, expected, "and stores it");

    // A disabled admin is no active admin.
    let promoted = users.update(bob.id, promote(), NOW + 11, &[]).await.expect("bob is promoted");
    assert_eq!(promoted.role, Role::Admin);
    assert_eq!(promoted.status, UserStatus::Disabled);
    assert!(!users.has_active_admin().await.expect("storage answers"));

    // An empty change still records when it was made.
    let touched =
        users.update(bob.id, UserChange::default(), NOW + 12, &[]).await.expect("an empty change is accepted");
    assert_eq!(touched, User { updated_at: NOW + 12, ..promoted });

    users.delete(bob.id, &[]).await.expect("bob is deleted");
}

async fn unknown_users_are_not_found(users: &dyn UserRepo) {
    let ghost = UserId::from_uuid(Uuid::now_v7());
    assert_eq!(users.by_id(ghost).await.expect("storage answers"), None);
    let update = users.update(ghost, disable(), NOW, &[]).await;
    assert!(matches!(update, Err(UserUpdateError::NotFound)), "{update:?}");
    let delete = users.delete(ghost, &[]).await;
    assert!(matches!(delete, Err(UserUpdateError::NotFound)), "{delete:?}");
    // Like an UPDATE matching no row, changing an unknown password is a no-op.
    let epoch = users.set_password(ghost, &PasswordHash::new(HASH), EndSessions::All, NOW, &[]).await;
    assert_eq!(epoch.expect("storage answers"), None);
    assert_eq!(users.advance_epoch(ghost, EndSessions::All, NOW, &[]).await.expect("storage answers"), None);
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
        let result = users.update(root.id, change, NOW + 1, &[]).await;
        assert!(
            matches!(result, Err(UserUpdateError::LastAdmin)),
            "the last active admin cannot be {what}: {result:?}"
        );
    }
    let result = users.delete(root.id, &[]).await;
    assert!(matches!(result, Err(UserUpdateError::LastAdmin)), "the last active admin cannot be deleted: {result:?}");
    assert_eq!(stored(users, root.id).await, root, "refusals change nothing");

    // Changes that leave the admin active are fine.
    let kept =
        users.update(root.id, promote(), NOW + 2, &[]).await.expect("re-promoting the last admin is no demotion");
    assert!(kept.is_active_admin());

    // With a second active admin, the first may go.
    users.update(dormant.id, enable(), NOW + 3, &[]).await.expect("the dormant admin is enabled");
    let demoted =
        users.update(root.id, demote(), NOW + 4, &[]).await.expect("an admin is demoted while another remains");
    assert_eq!(demoted.role, Role::User);
    assert_eq!(demoted.updated_at, NOW + 4);

    // Now the other one is the last.
    let result = users.update(dormant.id, disable(), NOW + 5, &[]).await;
    assert!(matches!(result, Err(UserUpdateError::LastAdmin)), "{result:?}");
    let result = users.delete(dormant.id, &[]).await;
    assert!(matches!(result, Err(UserUpdateError::LastAdmin)), "{result:?}");

    users.update(root.id, promote(), NOW + 6, &[]).await.expect("root is an admin again");
    users.delete(dormant.id, &[]).await.expect("an admin is deleted while another remains");
    assert_eq!(users.by_id(dormant.id).await.expect("storage answers"), None);
    let result = users.delete(dormant.id, &[]).await;
    assert!(matches!(result, Err(UserUpdateError::NotFound)), "{result:?}");
    assert!(users.has_active_admin().await.expect("storage answers"));

    // Deleting a user who is not an active admin needs no other admin.
    let plain = new_user("plain@example.com", Role::User, UserStatus::Active);
    insert(users, &plain).await;
    users.delete(plain.id, &[]).await.expect("a plain user is deleted");
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
            users.delete(user.id, &[]).await.expect("an earlier admin is deleted");
        }
    }

    let (one, other) =
        tokio::join!(users.update(first.id, demote(), NOW + 7, &[]), users.update(second.id, disable(), NOW + 7, &[]),);
    let refused = [&one, &other].iter().filter(|result| matches!(result, Err(UserUpdateError::LastAdmin))).count();
    assert_eq!(refused, 1, "exactly one racing demotion is refused: {one:?} {other:?}");
    assert!(one.is_ok() || other.is_ok());
    assert!(users.has_active_admin().await.expect("storage answers"));
}
