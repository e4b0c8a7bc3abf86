//! Use-case tests of the core against in-memory ports, with a fixed clock
//! and seeded randomness; `mockall` where the interaction is the point.

use super::auth::*;
use super::limits::Limits;
use super::testkit::{FastHasher, FixedClock, SeededEntropy};
use super::token::{KeyRing, TokenError, TokenSettings};
use super::user::{Role, UserChange, UserStatus};
use crate::adapters::memory::MemoryStore;
use crate::adapters::memory_limiter::MemoryLimiter;
use crate::core::admin::AdminError;
use crate::core::limits::{FailurePolicy, Quota};
use crate::ports::metrics::MockMetricsSink;
use crate::ports::{LoginOutcome, MetricsSink, TokenKind, UserRepo};
use secrecy::SecretString;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

const START: i64 = 1_800_000_000;
const PASSWORD: &str = "correct-Horse-battery-staple-42";
const OTHER_PASSWORD: &str = "another-Long-unusual-phrase-77";

pub(super) struct Harness {
    pub(super) auth: AuthService,
    pub(super) clock: Arc<FixedClock>,
    store: Arc<MemoryStore>,
}

fn policy(grace: i64) -> AuthPolicy {
    let failures = FailurePolicy { max: 3, window: Duration::from_secs(900), lockout: Duration::from_secs(900) };
    AuthPolicy {
        tokens: TokenSettings {
            issuer: "portcullis".into(),
            audience: "portcullis-api".into(),
            access_ttl_seconds: 900,
            leeway_seconds: 30,
        },
        refresh_ttl_seconds: 3600,
        refresh_grace_seconds: grace,
        limits: Limits {
            auth: Quota { per_period: 20, period: Duration::from_secs(60), burst: 10 },
            api: Quota { per_period: 600, period: Duration::from_secs(60), burst: 600 },
            login_failures: failures,
            account_failures: FailurePolicy { max: 5, ..failures },
        },
    }
}

fn ring() -> KeyRing {
    KeyRing::new(&[SecretString::from("k".repeat(32))]).unwrap()
}

async fn harness_with(grace: i64, metrics: Arc<dyn MetricsSink>, store: Arc<MemoryStore>) -> Harness {
    let clock = Arc::new(FixedClock::at(START));
    let ports = AuthPorts {
        users: store.clone(),
        sessions: store.clone(),
        revocations: store.clone(),
        limiter: Arc::new(MemoryLimiter::new(clock.clone())),
        hasher: Arc::new(FastHasher),
        metrics,
        clock: clock.clone(),
        entropy: Arc::new(SeededEntropy::new(7)),
    };
    let auth = AuthService::start(ports, policy(grace), ring()).await.unwrap();
    Harness { auth, clock, store }
}

fn quiet_metrics() -> Arc<dyn MetricsSink> {
    let mut metrics = MockMetricsSink::new();
    metrics.expect_login_attempt().returning(|_| ());
    metrics.expect_rate_limit_decision().returning(|_, _| ());
    metrics.expect_token_issued().returning(|_| ());
    metrics.expect_refresh_token_reuse().returning(|| ());
    Arc::new(metrics)
}

pub(super) async fn harness() -> Harness {
    harness_with(10, quiet_metrics(), Arc::new(MemoryStore::new())).await
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, last])
}

impl Harness {
    pub(super) async fn signed_up(&self, email: &str) -> TokenPair {
        self.auth.register(email, PASSWORD.into()).await.unwrap();
        self.auth.login(email, PASSWORD.into(), ip(1)).await.unwrap()
    }
}

#[tokio::test]
async fn registration_normalises_the_email_and_refuses_duplicates() {
    let h = harness().await;
    let user = h.auth.register("  Ada@Example.COM ", PASSWORD.into()).await.unwrap();
    assert_eq!(user.email.as_str(), "ada@example.com");
    assert_eq!(user.role, Role::User);
    assert!(matches!(h.auth.register("ADA@example.com", PASSWORD.into()).await, Err(RegisterError::EmailTaken)));
    assert!(matches!(h.auth.register("nope", PASSWORD.into()).await, Err(RegisterError::InvalidEmail(_))));
    assert!(matches!(h.auth.register("b@example.com", "short".into()).await, Err(RegisterError::WeakPassword(_))));
}

#[tokio::test]
async fn login_issues_a_token_that_authenticates() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    assert_eq!(pair.expires_in, 900);
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    assert_eq!(principal.role, Role::User);
    let user = h.auth.current_user(&principal).await.unwrap().unwrap();
    assert_eq!(user.email.as_str(), "ada@example.com");
}

#[tokio::test]
async fn unknown_emails_and_wrong_passwords_fail_alike() {
    let h = harness().await;
    h.auth.register("ada@example.com", PASSWORD.into()).await.unwrap();
    let wrong = h.auth.login("ada@example.com", OTHER_PASSWORD.into(), ip(1)).await;
    let unknown = h.auth.login("bob@example.com", PASSWORD.into(), ip(1)).await;
    assert!(matches!(wrong, Err(LoginError::InvalidCredentials)));
    assert!(matches!(unknown, Err(LoginError::InvalidCredentials)));
}

#[tokio::test]
async fn a_password_over_72_bytes_never_matches_even_with_a_matching_prefix() {
    let h = harness().await;
    h.auth.register("ada@example.com", PASSWORD.into()).await.unwrap();
    let long = format!("{PASSWORD}{}", "x".repeat(72));
    assert!(matches!(h.auth.login("ada@example.com", long, ip(1)).await, Err(LoginError::InvalidCredentials)));
}

#[tokio::test]
async fn failures_lock_the_account_from_that_address_only() {
    let h = harness().await;
    h.auth.register("ada@example.com", PASSWORD.into()).await.unwrap();
    for _ in 0..3 {
        assert!(matches!(
            h.auth.login("ada@example.com", OTHER_PASSWORD.into(), ip(9)).await,
            Err(LoginError::InvalidCredentials)
        ));
    }
    assert!(matches!(h.auth.login("ada@example.com", PASSWORD.into(), ip(9)).await, Err(LoginError::Locked { .. })));
    assert!(h.auth.login("ada@example.com", PASSWORD.into(), ip(10)).await.is_ok());
    h.clock.advance(901);
    assert!(h.auth.login("ada@example.com", PASSWORD.into(), ip(9)).await.is_ok());
}

#[tokio::test]
async fn failures_across_addresses_lock_the_account_everywhere() {
    let h = harness().await;
    h.auth.register("ada@example.com", PASSWORD.into()).await.unwrap();
    for n in 0..5 {
        let _ = h.auth.login("ada@example.com", OTHER_PASSWORD.into(), ip(20 + n)).await;
    }
    assert!(matches!(h.auth.login("ada@example.com", PASSWORD.into(), ip(99)).await, Err(LoginError::Locked { .. })));
}

#[tokio::test]
async fn unknown_accounts_lock_exactly_like_known_ones() {
    let h = harness().await;
    for _ in 0..3 {
        let _ = h.auth.login("ghost@example.com", PASSWORD.into(), ip(9)).await;
    }
    assert!(matches!(h.auth.login("ghost@example.com", PASSWORD.into(), ip(9)).await, Err(LoginError::Locked { .. })));
}

#[tokio::test]
async fn refresh_rotates_and_the_grace_window_returns_the_same_child() {
    let h = harness().await;
    let first = h.signed_up("ada@example.com").await;
    let second = h.auth.refresh(first.refresh_token.expose()).await.unwrap();
    assert_ne!(second.refresh_token.expose(), first.refresh_token.expose());
    h.clock.advance(5);
    let again = h.auth.refresh(first.refresh_token.expose()).await.unwrap();
    assert_eq!(again.refresh_token.expose(), second.refresh_token.expose());
    let third = h.auth.refresh(second.refresh_token.expose()).await.unwrap();
    assert!(h.auth.authenticate(&third.access_token).is_ok());
}

#[tokio::test]
async fn reuse_after_the_grace_window_revokes_the_session_and_is_counted() {
    let mut metrics = MockMetricsSink::new();
    metrics.expect_login_attempt().returning(|_| ());
    metrics.expect_token_issued().returning(|_| ());
    metrics.expect_refresh_token_reuse().times(1).returning(|| ());
    let h = harness_with(10, Arc::new(metrics), Arc::new(MemoryStore::new())).await;
    let first = h.signed_up("ada@example.com").await;
    let second = h.auth.refresh(first.refresh_token.expose()).await.unwrap();
    h.clock.advance(11);
    assert!(matches!(h.auth.refresh(first.refresh_token.expose()).await, Err(RefreshError::Revoked)));
    assert!(matches!(h.auth.refresh(second.refresh_token.expose()).await, Err(RefreshError::Revoked)));
    assert_eq!(h.auth.authenticate(&second.access_token), Err(TokenError::Revoked));
}

#[tokio::test]
async fn a_zero_grace_window_treats_any_second_use_as_reuse() {
    let h = harness_with(0, quiet_metrics(), Arc::new(MemoryStore::new())).await;
    let first = h.signed_up("ada@example.com").await;
    h.auth.refresh(first.refresh_token.expose()).await.unwrap();
    assert!(matches!(h.auth.refresh(first.refresh_token.expose()).await, Err(RefreshError::Revoked)));
}

#[tokio::test]
async fn refresh_tokens_expire_and_malformed_ones_are_invalid() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    assert!(matches!(h.auth.refresh("not-a-token").await, Err(RefreshError::Invalid)));
    assert!(matches!(h.auth.refresh(&"A".repeat(43)).await, Err(RefreshError::Invalid)));
    h.clock.advance(3601);
    assert!(matches!(h.auth.refresh(pair.refresh_token.expose()).await, Err(RefreshError::Expired)));
}

#[tokio::test]
async fn access_tokens_expire_with_the_clock() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    h.clock.advance(900 + 30);
    assert_eq!(h.auth.authenticate(&pair.access_token), Err(TokenError::Expired));
}

#[tokio::test]
async fn logout_revokes_the_token_and_the_session_and_optionally_another() {
    let h = harness().await;
    let here = h.signed_up("ada@example.com").await;
    let there = h.auth.login("ada@example.com", PASSWORD.into(), ip(2)).await.unwrap();
    let elsewhere = h.auth.login("ada@example.com", PASSWORD.into(), ip(3)).await.unwrap();
    let principal = h.auth.authenticate(&here.access_token).unwrap();
    h.auth.logout(&principal, Some(there.refresh_token.expose())).await.unwrap();
    assert_eq!(h.auth.authenticate(&here.access_token), Err(TokenError::Revoked));
    assert_eq!(h.auth.authenticate(&there.access_token), Err(TokenError::Revoked));
    assert!(matches!(h.auth.refresh(here.refresh_token.expose()).await, Err(RefreshError::Revoked)));
    assert!(h.auth.authenticate(&elsewhere.access_token).is_ok());
    assert!(matches!(h.auth.logout(&principal, Some("garbage")).await, Err(LogoutError::MalformedRefreshToken)));
}

#[tokio::test]
async fn logout_ignores_a_refresh_token_of_another_user() {
    let h = harness().await;
    let ada = h.signed_up("ada@example.com").await;
    let bob = h.signed_up("bob@example.com").await;
    let principal = h.auth.authenticate(&ada.access_token).unwrap();
    h.auth.logout(&principal, Some(bob.refresh_token.expose())).await.unwrap();
    assert!(h.auth.authenticate(&bob.access_token).is_ok());
}

#[tokio::test]
async fn logout_all_ends_everything_but_a_new_login_works_at_once() {
    let h = harness().await;
    let one = h.signed_up("ada@example.com").await;
    let two = h.auth.login("ada@example.com", PASSWORD.into(), ip(2)).await.unwrap();
    let principal = h.auth.authenticate(&one.access_token).unwrap();
    h.auth.logout_all(&principal).await.unwrap();
    for pair in [&one, &two] {
        assert_eq!(h.auth.authenticate(&pair.access_token), Err(TokenError::Revoked));
        assert!(h.auth.refresh(pair.refresh_token.expose()).await.is_err());
    }
    let fresh = h.auth.login("ada@example.com", PASSWORD.into(), ip(1)).await.unwrap();
    assert!(h.auth.authenticate(&fresh.access_token).is_ok());
}

#[tokio::test]
async fn a_password_change_keeps_this_session_and_ends_the_others() {
    let h = harness().await;
    let here = h.signed_up("ada@example.com").await;
    let there = h.auth.login("ada@example.com", PASSWORD.into(), ip(2)).await.unwrap();
    let principal = h.auth.authenticate(&here.access_token).unwrap();
    assert!(matches!(
        h.auth.change_password(&principal, OTHER_PASSWORD.into(), OTHER_PASSWORD.into(), ip(1)).await,
        Err(PasswordChangeError::InvalidCredentials)
    ));
    assert!(matches!(
        h.auth.change_password(&principal, PASSWORD.into(), "weak".into(), ip(1)).await,
        Err(PasswordChangeError::WeakPassword(_))
    ));
    h.auth.change_password(&principal, PASSWORD.into(), OTHER_PASSWORD.into(), ip(1)).await.unwrap();
    assert_eq!(h.auth.authenticate(&here.access_token), Err(TokenError::Revoked));
    assert!(h.auth.refresh(there.refresh_token.expose()).await.is_err());
    let renewed = h.auth.refresh(here.refresh_token.expose()).await.unwrap();
    assert!(h.auth.authenticate(&renewed.access_token).is_ok());
    assert!(h.auth.login("ada@example.com", PASSWORD.into(), ip(1)).await.is_err());
    assert!(h.auth.login("ada@example.com", OTHER_PASSWORD.into(), ip(1)).await.is_ok());
}

#[tokio::test]
async fn revocations_survive_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let h = harness_with(10, quiet_metrics(), store.clone()).await;
    let pair = h.signed_up("ada@example.com").await;
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    h.auth.logout(&principal, None).await.unwrap();
    let restarted = harness_with(10, quiet_metrics(), store).await;
    assert_eq!(restarted.auth.authenticate(&pair.access_token), Err(TokenError::Revoked));
}

#[tokio::test]
async fn the_initial_admin_is_seeded_once() {
    let h = harness().await;
    assert_eq!(h.auth.seed_admin("root@example.com", PASSWORD.into()).await.unwrap(), SeedOutcome::Created);
    assert_eq!(h.auth.seed_admin("root@example.com", PASSWORD.into()).await.unwrap(), SeedOutcome::AlreadyPresent);
    assert_eq!(h.auth.seed_admin("other@example.com", PASSWORD.into()).await.unwrap(), SeedOutcome::AlreadyPresent);
    assert!(matches!(h.auth.seed_admin("root@example.com", "weak".into()).await, Err(SeedError::WeakPassword(_))));
    assert!(matches!(h.auth.seed_admin("nope", PASSWORD.into()).await, Err(SeedError::InvalidEmail(_))));
    let admin = h.auth.login("root@example.com", PASSWORD.into(), ip(1)).await.unwrap();
    assert_eq!(h.auth.authenticate(&admin.access_token).unwrap().role, Role::Admin);
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_disabled_or_deleted() {
    let h = harness().await;
    h.auth.seed_admin("root@example.com", PASSWORD.into()).await.unwrap();
    let email = crate::core::email::Email::parse("root@example.com").unwrap();
    let root = UserRepo::by_email(h.store.as_ref(), &email).await.unwrap().unwrap().id;
    let demote = UserChange { role: Some(Role::User), status: None };
    let disable = UserChange { role: None, status: Some(UserStatus::Disabled) };
    assert!(matches!(h.auth.update_user(root, demote).await, Err(AdminError::LastAdmin)));
    assert!(matches!(h.auth.update_user(root, disable).await, Err(AdminError::LastAdmin)));
    assert!(matches!(h.auth.delete_user(root).await, Err(AdminError::LastAdmin)));

    let ada = h.auth.register("ada@example.com", PASSWORD.into()).await.unwrap();
    let promote = UserChange { role: Some(Role::Admin), status: None };
    assert_eq!(h.auth.update_user(ada.id, promote).await.unwrap().role, Role::Admin);
    assert_eq!(h.auth.update_user(root, demote).await.unwrap().role, Role::User);
}

#[tokio::test]
async fn disabling_a_user_ends_their_tokens_and_sessions() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    let disable = UserChange { role: None, status: Some(UserStatus::Disabled) };
    h.auth.update_user(principal.user_id, disable).await.unwrap();
    assert_eq!(h.auth.authenticate(&pair.access_token), Err(TokenError::Revoked));
    assert!(matches!(h.auth.refresh(pair.refresh_token.expose()).await, Err(RefreshError::Revoked)));
    assert!(matches!(
        h.auth.login("ada@example.com", PASSWORD.into(), ip(1)).await,
        Err(LoginError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn a_role_change_ends_old_tokens_but_refresh_carries_the_new_role() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    h.auth.update_user(principal.user_id, UserChange { role: Some(Role::Admin), status: None }).await.unwrap();
    assert_eq!(h.auth.authenticate(&pair.access_token), Err(TokenError::Revoked));
    let renewed = h.auth.refresh(pair.refresh_token.expose()).await.unwrap();
    assert_eq!(h.auth.authenticate(&renewed.access_token).unwrap().role, Role::Admin);
}

#[tokio::test]
async fn deleting_a_user_ends_their_tokens_and_frees_the_address() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    h.auth.delete_user(principal.user_id).await.unwrap();
    assert_eq!(h.auth.authenticate(&pair.access_token), Err(TokenError::Revoked));
    assert!(matches!(h.auth.get_user(principal.user_id).await, Err(AdminError::NotFound)));
    assert!(matches!(h.auth.delete_user(principal.user_id).await, Err(AdminError::NotFound)));
    assert!(h.auth.register("ada@example.com", PASSWORD.into()).await.is_ok());
}

#[tokio::test]
async fn unlock_clears_every_lockout_of_the_account() {
    let h = harness().await;
    let user = h.auth.register("ada@example.com", PASSWORD.into()).await.unwrap();
    for _ in 0..3 {
        let _ = h.auth.login("ada@example.com", OTHER_PASSWORD.into(), ip(9)).await;
    }
    assert!(h.auth.login("ada@example.com", PASSWORD.into(), ip(9)).await.is_err());
    h.auth.unlock_user(user.id).await.unwrap();
    assert!(h.auth.login("ada@example.com", PASSWORD.into(), ip(9)).await.is_ok());
}

#[tokio::test]
async fn pages_follow_creation_order_with_a_cursor() {
    let h = harness().await;
    for n in 0..5 {
        h.auth.register(&format!("user{n}@example.com"), PASSWORD.into()).await.unwrap();
        h.clock.advance(1);
    }
    let first = h.auth.list_users(2, None).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let second = h.auth.list_users(2, first.next_cursor).await.unwrap();
    let third = h.auth.list_users(2, second.next_cursor).await.unwrap();
    assert_eq!(third.items.len(), 1);
    assert!(third.next_cursor.is_none());
    let emails: Vec<_> =
        [first, second, third].into_iter().flat_map(|p| p.items).map(|u| u.email.as_str().to_owned()).collect();
    assert_eq!(emails, (0..5).map(|n| format!("user{n}@example.com")).collect::<Vec<_>>());
}

#[tokio::test]
async fn each_login_outcome_and_token_is_reported_to_metrics() {
    let mut metrics = MockMetricsSink::new();
    metrics.expect_login_attempt().withf(|o| *o == LoginOutcome::InvalidCredentials).times(1).returning(|_| ());
    metrics.expect_login_attempt().withf(|o| *o == LoginOutcome::Success).times(1).returning(|_| ());
    metrics.expect_token_issued().withf(|k| *k == TokenKind::Access).times(1).returning(|_| ());
    metrics.expect_token_issued().withf(|k| *k == TokenKind::Refresh).times(1).returning(|_| ());
    metrics
        .expect_rate_limit_decision()
        .withf(|bucket, allowed| bucket == "auth" && *allowed)
        .times(1)
        .returning(|_, _| ());
    let h = harness_with(10, Arc::new(metrics), Arc::new(MemoryStore::new())).await;
    h.auth.register("ada@example.com", PASSWORD.into()).await.unwrap();
    let _ = h.auth.login("ada@example.com", OTHER_PASSWORD.into(), ip(1)).await;
    h.auth.login("ada@example.com", PASSWORD.into(), ip(1)).await.unwrap();
    assert!(h.auth.limit(crate::ports::Bucket::Auth, "ip:192.0.2.1").await.allowed);
}

#[tokio::test]
async fn housekeeping_prunes_what_no_longer_matters() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    h.auth.logout(&principal, None).await.unwrap();
    assert!(!h.auth.revocations().is_empty());
    h.clock.advance(4000);
    h.auth.housekeeping().await.unwrap();
    assert!(h.auth.revocations().is_empty());
}

#[tokio::test]
async fn a_revocation_recorded_by_another_replica_is_picked_up_by_sync() {
    let store = Arc::new(MemoryStore::new());
    let here = harness_with(10, quiet_metrics(), store.clone()).await;
    let there = harness_with(10, quiet_metrics(), store).await;
    let pair = here.signed_up("ada@example.com").await;
    assert!(there.auth.authenticate(&pair.access_token).is_ok());
    let principal = here.auth.authenticate(&pair.access_token).unwrap();
    here.auth.logout(&principal, None).await.unwrap();
    assert!(there.auth.authenticate(&pair.access_token).is_ok(), "not yet synchronised");
    assert!(there.auth.sync_revocations().await.unwrap() >= 1);
    assert_eq!(there.auth.authenticate(&pair.access_token), Err(TokenError::Revoked));
}
