//! Use-case tests of the sessions a user sees and ends, and of closed
//! registration, against the in-memory ports.

use super::audit::{AuditQuery, AuditType};
use super::auth::*;
use super::harness::*;
use super::session::{SessionId, UserAgent};
use super::session_list::EndSessionError;
use super::token::TokenError;
use super::user::Role;
use crate::adapters::memory::MemoryStore;
use crate::core::admin::AdminError;
use crate::ports::AuditLog;
use std::sync::Arc;

fn from_agent(last: u8, agent: &str) -> super::audit::Origin {
    ip(last).with_user_agent(UserAgent::from_header(agent))
}

async fn events(store: &MemoryStore, kind: AuditType) -> Vec<super::audit::AuditEvent> {
    let query = AuditQuery { before: None, limit: 100, user: None, kind: Some(kind), since: None, until: None };
    store.page(&query).await.unwrap()
}

#[tokio::test]
async fn a_sign_in_and_each_refresh_are_what_the_list_shows() {
    let h = harness().await;
    h.auth.register("ada@example.com", PASSWORD.into(), &anonymous()).await.unwrap();
    let pair = h.auth.login("ada@example.com", PASSWORD.into(), &from_agent(1, "Phone/1")).await.unwrap();
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    let page = h.auth.list_sessions(principal.user_id, 50, None).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let session = &page.items[0];
    assert_eq!(
        (session.id, session.created_at, session.last_use.at),
        (principal.session_id, h.clock_now(), h.clock_now())
    );
    assert_eq!(session.last_use.user_agent.as_ref().map(UserAgent::as_str), Some("Phone/1"));

    h.clock.advance(60);
    h.auth.authenticate(&pair.access_token).unwrap();
    let unchanged = h.auth.list_sessions(principal.user_id, 50, None).await.unwrap();
    assert_eq!(unchanged.items[0].last_use.at, session.last_use.at, "a bearer check is no use");
    h.auth.refresh(pair.refresh_token.expose(), &from_agent(9, "Laptop/2")).await.unwrap();
    let used = h.auth.list_sessions(principal.user_id, 50, None).await.unwrap().items.remove(0);
    assert_eq!(used.last_use.at, h.clock_now());
    assert_eq!(used.last_use.ip, ip(9).ip);
    assert_eq!(used.last_use.user_agent.as_ref().map(UserAgent::as_str), Some("Laptop/2"));
    assert_eq!(used.created_at, session.created_at);
}

#[tokio::test]
async fn a_user_ends_only_their_own_sessions_and_the_ended_one_is_refused() {
    let h = harness().await;
    let mine = h.signed_up("ada@example.com").await;
    let other = h.auth.login("ada@example.com", PASSWORD.into(), &ip(2)).await.unwrap();
    let theirs = h.signed_up("bob@example.com").await;
    let me = h.auth.authenticate(&mine.access_token).unwrap();
    let bob = h.auth.authenticate(&theirs.access_token).unwrap();
    let target = h.auth.authenticate(&other.access_token).unwrap().session_id;

    let foreign = h.auth.end_own_session(&me, bob.session_id, &ip(1)).await;
    assert!(matches!(foreign, Err(EndSessionError::NotFound)));
    assert!(h.auth.authenticate(&theirs.access_token).is_ok());
    let unknown = SessionId::from_uuid(uuid::Uuid::from_u128(42));
    assert!(matches!(h.auth.end_own_session(&me, unknown, &ip(1)).await, Err(EndSessionError::NotFound)));

    h.auth.end_own_session(&me, target, &ip(1)).await.unwrap();

    assert!(matches!(h.auth.authenticate(&other.access_token), Err(TokenError::Revoked)));
    assert!(matches!(h.auth.refresh(other.refresh_token.expose(), &ip(2)).await, Err(RefreshError::Revoked)));
    assert!(h.auth.authenticate(&mine.access_token).is_ok());
    assert!(matches!(h.auth.end_own_session(&me, target, &ip(1)).await, Err(EndSessionError::NotFound)));
    let logouts = events(&h.store, AuditType::Logout).await;
    assert_eq!(logouts.len(), 1, "one event, for the one session ended");
    assert_eq!(logouts[0].details.get("session_id"), Some(&target.to_string()));
}

#[tokio::test]
async fn an_admin_ends_one_or_every_session_of_a_user() {
    let h = harness().await;
    let first = h.signed_up("ada@example.com").await;
    let second = h.auth.login("ada@example.com", PASSWORD.into(), &ip(2)).await.unwrap();
    let ada = h.auth.authenticate(&first.access_token).unwrap();
    let admin = ip(7).by(ada.user_id);
    let missing = super::user::UserId::from_uuid(uuid::Uuid::from_u128(5));

    assert!(matches!(h.auth.admin_list_sessions(missing, 10, None).await, Err(AdminError::NotFound)));
    assert!(matches!(h.auth.admin_end_all_sessions(missing, &admin).await, Err(AdminError::NotFound)));
    assert_eq!(h.auth.admin_list_sessions(ada.user_id, 10, None).await.unwrap().items.len(), 2);
    h.auth.admin_end_session(ada.user_id, ada.session_id, &admin).await.unwrap();
    assert!(matches!(h.auth.authenticate(&first.access_token), Err(TokenError::Revoked)));
    assert!(h.auth.authenticate(&second.access_token).is_ok());

    h.auth.admin_end_all_sessions(ada.user_id, &admin).await.unwrap();

    assert!(matches!(h.auth.authenticate(&second.access_token), Err(TokenError::Revoked)));
    assert!(h.auth.admin_list_sessions(ada.user_id, 10, None).await.unwrap().items.is_empty());
    assert_eq!(events(&h.store, AuditType::AdminSessionsRevoked).await.len(), 2);
}

#[tokio::test]
async fn closed_registration_refuses_sign_ups_but_admins_still_create_accounts() {
    let mut policy = policy(10);
    policy.registration = Registration::Closed;
    let h = harness_with_policy(policy, Arc::new(MemoryStore::new())).await;

    let refused = h.auth.register("ada@example.com", PASSWORD.into(), &anonymous()).await;
    assert!(matches!(refused, Err(RegisterError::Closed)));
    let admin = ip(7).by(super::user::UserId::from_uuid(uuid::Uuid::from_u128(1)));
    let created = h.auth.create_account("ada@example.com", PASSWORD.into(), Role::User, &admin).await.unwrap();
    assert!(h.auth.login("ada@example.com", PASSWORD.into(), &ip(1)).await.is_ok());
    let made = events(&h.store, AuditType::AdminUserCreated).await;
    assert_eq!(made.iter().filter(|event| event.subject == Some(created.id)).count(), 1);
    assert!(events(&h.store, AuditType::Registration).await.is_empty(), "the refused sign-up left nothing");
}
