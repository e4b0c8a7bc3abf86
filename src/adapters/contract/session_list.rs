//! What a user sees of their sessions: the live ones listed newest first
//! in pages, one ended by its owner only, and each refresh recorded as the
//! session's latest use.

use super::sessions::{new_session, open, refresh_record, session};
use super::{insert, new_user, NOW};
use crate::core::audit::{AuditEvent, AuditType, Origin};
use crate::core::session::{SessionId, SessionUse, UserAgent};
use crate::core::testkit::SeededEntropy;
use crate::core::user::{Role, User, UserStatus};
use crate::ports::{SessionRepo, UserRepo};
use std::net::IpAddr;

async fn listed(sessions: &dyn SessionRepo, user: &User, before: Option<SessionId>, limit: u32) -> Vec<SessionId> {
    let page = sessions.list(user.id, NOW + 1, before, limit).await.expect("storage answers");
    assert!(page.iter().all(|session| session.user_id == user.id), "only the user's own sessions");
    page.iter().map(|session| session.id).collect()
}

pub(super) async fn session_list_contract(users: &dyn UserRepo, sessions: &dyn SessionRepo) {
    let erin = new_user("lister@example.com", Role::User, UserStatus::Active);
    let frank = new_user("bystander-lister@example.com", Role::User, UserStatus::Active);
    insert(users, &erin).await;
    insert(users, &frank).await;

    live_sessions_are_listed_newest_first_in_pages(sessions, &erin, &frank).await;
    only_the_owner_ends_a_session(sessions, &erin, &frank).await;
    a_use_is_recorded_with_its_address_and_agent(sessions, &frank).await;
}

async fn live_sessions_are_listed_newest_first_in_pages(sessions: &dyn SessionRepo, user: &User, other: &User) {
    let mut live = Vec::new();
    for _ in 0..5 {
        live.push(open(sessions, user).await.0.id);
    }
    open(sessions, other).await;
    let (revoked, _) = open(sessions, user).await;
    sessions.revoke(revoked.id, NOW, &[]).await.expect("storage answers");
    // A session whose every refresh token has expired is over too.
    let stale = new_session(user, NOW);
    assert!(sessions.create(&stale, &refresh_record(&stale, NOW, NOW + 1), &[]).await.expect("storage answers"));

    live.sort_by(|a, b| b.cmp(a));
    assert_eq!(listed(sessions, user, None, 100).await, live, "live sessions, newest id first");
    let first = listed(sessions, user, None, 2).await;
    assert_eq!(first, live[..2]);
    let second = listed(sessions, user, first.last().copied(), 2).await;
    assert_eq!(second, live[2..4]);
    let last = listed(sessions, user, second.last().copied(), 2).await;
    assert_eq!(last, live[4..]);
    assert!(listed(sessions, user, last.last().copied(), 2).await.is_empty());
}

async fn only_the_owner_ends_a_session(sessions: &dyn SessionRepo, owner: &User, intruder: &User) {
    let (target, _) = open(sessions, owner).await;
    let origin = Origin::system();
    let event = |subject: &User, seed: u64| {
        AuditEvent::new(&SeededEntropy::new(seed), NOW.seconds() * 1000, &origin, AuditType::Logout, Some(subject.id))
    };
    let refused = sessions.end(intruder.id, target.id, NOW + 5, &[event(intruder, 11)]).await.expect("storage answers");
    assert!(!refused, "another user's session is not theirs to end");
    assert_eq!(session(sessions, target.id).await.and_then(|s| s.revoked_at), None);

    assert!(sessions.end(owner.id, target.id, NOW + 6, &[event(owner, 12)]).await.expect("storage answers"));
    assert_eq!(session(sessions, target.id).await.and_then(|s| s.revoked_at), Some(NOW + 6));
    assert!(
        !sessions.end(owner.id, target.id, NOW + 7, &[]).await.expect("storage answers"),
        "an ended session ends once"
    );
    assert!(!listed(sessions, owner, None, 100).await.contains(&target.id));
    let unknown = SessionId::from_uuid(uuid::Uuid::now_v7());
    assert!(!sessions.end(owner.id, unknown, NOW, &[]).await.expect("storage answers"));
}

async fn a_use_is_recorded_with_its_address_and_agent(sessions: &dyn SessionRepo, user: &User) {
    let (created, _) = open(sessions, user).await;
    let refresh = SessionUse {
        at: NOW + 30,
        ip: Some(IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])),
        user_agent: UserAgent::from_header("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"),
    };
    sessions.record_use(created.id, &refresh).await.expect("storage answers");
    let stored = session(sessions, created.id).await.expect("the session is stored");
    assert_eq!(stored.last_use, refresh);
    assert_eq!(stored.created_at, NOW, "the sign-in instant is kept");
    sessions.record_use(SessionId::from_uuid(uuid::Uuid::now_v7()), &refresh).await.expect("an unknown id is no error");
}
