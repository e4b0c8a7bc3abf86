//! The audit trail as the use cases write it: each event type with its
//! actor, address and request id, never a secret; and the transparent
//! re-hash, which happens once and never locks the user out.

use super::audit::{Actor, AuditEvent, AuditOutcome, AuditQuery, AuditType, Origin};
use super::harness::*;
use super::password::{Password, PasswordHash};
use super::testkit::FastHasher;
use super::user::{Role, UserChange, UserStatus};
use crate::adapters::memory::MemoryStore;
use crate::ports::{AuditLog, Clock, HashError, PasswordHasher, UserRepo};
use async_trait::async_trait;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

async fn trail(store: &MemoryStore) -> Vec<AuditEvent> {
    let mut events = store.page(&AuditQuery { limit: 1000, ..AuditQuery::default() }).await.unwrap();
    events.reverse();
    events
}

fn of(events: &[AuditEvent], kind: AuditType) -> Vec<&AuditEvent> {
    events.iter().filter(|event| event.kind == kind).collect()
}

/// The one event of `kind` asked by request `n` of the scenario (the clock
/// stands still, so ids within it are in no particular order).
fn asked(events: &[AuditEvent], kind: AuditType, n: u8) -> &AuditEvent {
    let id = format!("request-{n}");
    let mut found = events.iter().filter(|e| e.kind == kind && e.request_id.as_deref() == Some(id.as_str()));
    let event = found.next().unwrap_or_else(|| panic!("no {kind} from request {n}"));
    assert!(found.next().is_none(), "one {kind} from request {n}");
    event
}

#[tokio::test]
#[allow(clippy::too_many_lines, reason = "one scenario: every use case, then the whole trail")]
async fn each_use_case_writes_its_event_with_actor_address_and_request_id_and_no_secret() {
    let h = harness().await;
    let ada = h.auth.register("ada@example.com", PASSWORD.into(), &ip(1)).await.unwrap();
    let _ = h.auth.login("ada@example.com", OTHER_PASSWORD.into(), &ip(2)).await;
    let _ = h.auth.login("ghost@example.com", PASSWORD.into(), &ip(3)).await;
    let pair = h.auth.login("ada@example.com", PASSWORD.into(), &ip(4)).await.unwrap();
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    let _ = h.auth.change_password(&principal, OTHER_PASSWORD.into(), OTHER_PASSWORD.into(), &ip(5)).await;
    h.auth.change_password(&principal, PASSWORD.into(), OTHER_PASSWORD.into(), &ip(6)).await.unwrap();
    h.auth.refresh(pair.refresh_token.expose(), &ip(7)).await.unwrap();
    h.clock.advance(60);
    let _ = h.auth.refresh(pair.refresh_token.expose(), &ip(8)).await;
    let pair = h.auth.login("ada@example.com", OTHER_PASSWORD.into(), &ip(9)).await.unwrap();
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    h.auth.logout(&principal, None, &ip(10)).await.unwrap();
    let pair = h.auth.login("ada@example.com", OTHER_PASSWORD.into(), &ip(11)).await.unwrap();
    h.auth.logout_all(&h.auth.authenticate(&pair.access_token).unwrap(), &ip(12)).await.unwrap();
    for _ in 0..4 {
        let _ = h.auth.login("ada@example.com", PASSWORD.into(), &ip(13)).await;
    }

    h.auth.seed_admin("root@example.com", PASSWORD.into()).await.unwrap();
    let root = h.auth.user_by_email("root@example.com").await.unwrap();
    let by_root = ip(14).by(root.id);
    h.auth.update_user(ada.id, UserChange { role: Some(Role::Admin), status: None }, &by_root).await.unwrap();
    let both = UserChange { role: Some(Role::User), status: Some(UserStatus::Disabled) };
    h.auth.update_user(ada.id, both, &by_root).await.unwrap();
    h.auth.update_user(ada.id, UserChange { role: None, status: Some(UserStatus::Active) }, &by_root).await.unwrap();
    h.auth.unlock_user(ada.id, &by_root).await.unwrap();
    let cli = Origin::cli("portcullis admin reset-password ada@example.com");
    h.auth.reset_password(ada.id, PASSWORD.into(), &cli).await.unwrap();
    let bob = h.auth.create_account("bob@example.com", PASSWORD.into(), Role::Admin, &cli).await.unwrap();
    h.auth.delete_user(ada.id, &by_root).await.unwrap();

    let events = trail(&h.store).await;
    let from = |n: u8| (Some(IpAddr::from([192, 0, 2, n])), Some(format!("request-{n}")));
    let registration = of(&events, AuditType::Registration);
    assert_eq!(registration.len(), 1);
    assert_eq!((registration[0].actor.clone(), registration[0].subject), (Actor::User(ada.id), Some(ada.id)));
    assert_eq!((registration[0].ip, registration[0].request_id.clone()), from(1));

    let failed = of(&events, AuditType::LoginFailed);
    assert_eq!(failed.len(), 5, "a wrong password, an unknown address, and three wrong guesses before the lock");
    let wrong = asked(&events, AuditType::LoginFailed, 2);
    assert_eq!((wrong.actor.clone(), wrong.outcome), (Actor::User(ada.id), AuditOutcome::Failure));
    assert_eq!((wrong.ip, wrong.details["reason"].as_str()), (from(2).0, "wrong_password"));
    let unknown = asked(&events, AuditType::LoginFailed, 3);
    assert_eq!((unknown.actor.clone(), unknown.subject), (Actor::Anonymous, None));
    assert_eq!(unknown.details["reason"], "unknown_account");
    let locked = of(&events, AuditType::AccountLocked);
    assert_eq!(locked.len(), 1, "the fourth guess from the address is refused unchecked");
    assert_eq!((locked[0].subject, locked[0].ip), (Some(ada.id), from(13).0));

    assert_eq!(of(&events, AuditType::LoginSucceeded).len(), 3);
    let succeeded = asked(&events, AuditType::LoginSucceeded, 4);
    assert_eq!((succeeded.ip, succeeded.details.contains_key("session_id")), (from(4).0, true));
    assert_eq!(asked(&events, AuditType::PasswordChanged, 5).outcome, AuditOutcome::Failure);
    let changed = asked(&events, AuditType::PasswordChanged, 6);
    assert_eq!(
        (changed.actor.clone(), changed.ip, changed.outcome),
        (Actor::User(ada.id), from(6).0, AuditOutcome::Success)
    );
    let reuse = of(&events, AuditType::RefreshTokenReuse);
    assert_eq!((reuse.len(), reuse[0].ip, reuse[0].subject), (1, from(8).0, Some(ada.id)));
    let logout = of(&events, AuditType::Logout);
    assert_eq!((logout.len(), logout[0].request_id.clone()), (1, from(10).1));
    assert_eq!(of(&events, AuditType::LogoutAll)[0].ip, from(12).0);

    for (kind, count) in [
        (AuditType::AdminRoleChanged, 2),
        (AuditType::AdminUserDisabled, 1),
        (AuditType::AdminUserEnabled, 1),
        (AuditType::AdminUserUnlocked, 1),
        (AuditType::AdminUserDeleted, 1),
    ] {
        let done = of(&events, kind);
        assert_eq!(done.len(), count, "{kind}");
        assert!(done.iter().all(|e| e.actor == Actor::User(root.id) && e.subject == Some(ada.id)), "{kind}");
        assert!(done.iter().all(|e| (e.ip, e.request_id.clone()) == from(14)), "{kind}");
    }
    let roles: Vec<&str> =
        of(&events, AuditType::AdminRoleChanged).iter().map(|e| e.details["role"].as_str()).collect();
    assert!(roles.contains(&"admin") && roles.contains(&"user"), "{roles:?}");
    let reset = of(&events, AuditType::AdminPasswordReset);
    assert_eq!(
        (reset[0].actor.clone(), reset[0].ip),
        (Actor::cli("portcullis admin reset-password ada@example.com"), None)
    );
    let created: Vec<_> =
        of(&events, AuditType::AdminUserCreated).iter().map(|e| (e.actor.clone(), e.subject)).collect();
    assert_eq!(created.len(), 2);
    assert!(created.contains(&(Actor::System, Some(root.id))), "the seeded admin: {created:?}");
    assert!(created.contains(&(cli.actor.clone(), Some(bob.id))), "{created:?}");
    assert_eq!(of(&events, AuditType::Registration).len(), 1, "the seeded admin is no self-registration");

    let secrets = [PASSWORD, OTHER_PASSWORD, pair.refresh_token.expose(), pair.access_token.as_str()];
    let hash = FastHasher.hash(&Password::unchecked(PASSWORD)).await.unwrap();
    for event in &events {
        let text = format!("{event:?}");
        for secret in secrets.iter().copied().chain([hash.as_str()]) {
            assert!(!text.contains(secret), "{} holds a secret: {text}", event.kind);
        }
    }
}

/// [`FastHasher`] with a cost: a hash made at another cost needs a re-hash.
struct CostHasher {
    cost: AtomicU32,
}

#[async_trait]
impl PasswordHasher for CostHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let digest = FastHasher.hash(password).await?;
        Ok(PasswordHash::new(format!("cost{}${}", self.cost.load(Ordering::SeqCst), digest.as_str())))
    }
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        let digest = FastHasher.hash(password).await?;
        Ok(hash.as_str().split_once('$').is_some_and(|(_, stored)| stored == digest.as_str()))
    }
    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        !hash.as_str().starts_with(&format!("cost{}$", self.cost.load(Ordering::SeqCst)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_cost_rehashes_once_on_login_and_the_user_keeps_access_throughout() {
    let hasher = Arc::new(CostHasher { cost: AtomicU32::new(10) });
    let store = Arc::new(MemoryStore::new());
    let h = Arc::new(harness_hashing(10, quiet_metrics(), store.clone(), hasher.clone()).await);
    let ada = h.auth.register("ada@example.com", PASSWORD.into(), &ip(1)).await.unwrap();
    h.auth.login("ada@example.com", PASSWORD.into(), &ip(1)).await.expect("signs in before");
    let stored = || async { store.by_id(ada.id).await.unwrap().unwrap().password_hash.as_str().to_owned() };
    assert!(stored().await.starts_with("cost10$"));

    // The operator raises the cost; eight logins race to be the first after.
    hasher.cost.store(12, Ordering::SeqCst);
    let logins = (0..8).map(|n| {
        let h = h.clone();
        tokio::spawn(async move { h.auth.login("ada@example.com", PASSWORD.into(), &ip(20 + n)).await })
    });
    for login in futures_util::future::join_all(logins).await {
        assert!(login.unwrap().is_ok(), "every login during the re-hash succeeds");
    }
    assert!(stored().await.starts_with("cost12$"), "the hash is at the new cost");
    h.auth.login("ada@example.com", PASSWORD.into(), &ip(40)).await.expect("signs in after");
    let rehashed = of(&trail(&store).await, AuditType::PasswordRehashed).len();
    assert_eq!(rehashed, 1, "of racing logins, exactly one re-hash is stored");
    assert!(h.auth.login("ada@example.com", OTHER_PASSWORD.into(), &ip(41)).await.is_err());
}

#[tokio::test]
async fn a_rehash_never_overwrites_a_password_changed_meanwhile() {
    let hasher = Arc::new(CostHasher { cost: AtomicU32::new(10) });
    let store = Arc::new(MemoryStore::new());
    let h = harness_hashing(10, quiet_metrics(), store.clone(), hasher.clone()).await;
    let ada = h.auth.register("ada@example.com", PASSWORD.into(), &ip(1)).await.unwrap();
    let old = store.by_id(ada.id).await.unwrap().unwrap().password_hash;
    // A password change lands between the login's read and its re-hash.
    let changed = hasher.hash(&Password::unchecked(OTHER_PASSWORD)).await.unwrap();
    store.set_password(ada.id, &changed, super::session::EndSessions::None, h.clock.now(), &[]).await.unwrap();
    let fresh = hasher.hash(&Password::unchecked(PASSWORD)).await.unwrap();
    assert!(!store.replace_hash(ada.id, &old, &fresh, &[]).await.unwrap(), "the stale re-hash loses");
    assert!(h.auth.login("ada@example.com", OTHER_PASSWORD.into(), &ip(2)).await.is_ok(), "the new password holds");
    assert!(h.auth.login("ada@example.com", PASSWORD.into(), &ip(3)).await.is_err());
}

/// A trail whose storage is down.
struct DownAudit;

#[async_trait]
impl AuditLog for DownAudit {
    async fn record(&self, _: &AuditEvent) -> Result<(), crate::ports::RepoError> {
        Err(crate::ports::RepoError::Unavailable(anyhow::anyhow!("the audit table is unreachable")))
    }
    async fn page(&self, _: &AuditQuery) -> Result<Vec<AuditEvent>, crate::ports::RepoError> {
        Ok(Vec::new())
    }
    async fn purge_before(&self, _: crate::core::user::UnixSeconds) -> Result<u64, crate::ports::RepoError> {
        Ok(0)
    }
}

#[tokio::test]
async fn a_refused_login_stays_refused_as_such_when_the_trail_cannot_be_written() {
    let h = harness().await;
    h.auth.register("ada@example.com", PASSWORD.into(), &ip(1)).await.unwrap();
    let mut ports = h.auth.ports.clone();
    ports.audit = Arc::new(DownAudit);
    let auth = super::auth::AuthService::start(ports, policy(10), ring()).await.unwrap();
    for _ in 0..3 {
        let wrong = auth.login("ada@example.com", OTHER_PASSWORD.into(), &ip(2)).await;
        assert!(matches!(wrong, Err(super::auth::LoginError::InvalidCredentials)), "{wrong:?}");
    }
    let locked = auth.login("ada@example.com", PASSWORD.into(), &ip(2)).await;
    assert!(matches!(locked, Err(super::auth::LoginError::Locked { .. })), "{locked:?}");
}
