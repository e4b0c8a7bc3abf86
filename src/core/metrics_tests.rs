//! What the use cases report to the metrics port: one call per event, with
//! the label the contract names, checked with `mockall` because the
//! interaction is the point.

use super::audit::Origin;
use super::auth::{AuthPolicy, AuthPorts, AuthService};
use super::limits::{FailurePolicy, Limits, Quota};
use super::revocation::Revocation;
use super::testkit::{FastHasher, FixedClock, SeededEntropy};
use super::token::{KeyRing, TokenSettings};
use super::user::UnixSeconds;
use crate::adapters::memory::MemoryStore;
use crate::adapters::memory_limiter::MemoryLimiter;
use crate::ports::metrics::MockMetricsSink;
use crate::ports::{LogoutScope, RepoError, RevocationReason, RevocationStore};
use async_trait::async_trait;
use mockall::predicate::eq;
use secrecy::SecretString;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PASSWORD: &str = "correct-Horse-battery-staple-42";

/// The memory store's revocation feed, which stops answering on request.
struct FlakyFeed {
    store: Arc<MemoryStore>,
    down: AtomicBool,
}

#[async_trait]
impl RevocationStore for FlakyFeed {
    async fn record(&self, revocation: &Revocation) -> Result<(), RepoError> {
        self.store.record(revocation).await
    }

    async fn recorded_since(&self, since: i64, now: UnixSeconds) -> Result<(Vec<Revocation>, i64), RepoError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(RepoError::Unavailable(anyhow::anyhow!("connection refused")));
        }
        self.store.recorded_since(since, now).await
    }

    async fn purge(&self, now: UnixSeconds) -> Result<u64, RepoError> {
        self.store.purge(now).await
    }
}

async fn service(metrics: MockMetricsSink, feed: Arc<FlakyFeed>) -> AuthService {
    let clock = Arc::new(FixedClock::at(1_800_000_000));
    let failures = FailurePolicy { max: 5, window: Duration::from_secs(900), lockout: Duration::from_secs(900) };
    let policy = AuthPolicy {
        tokens: TokenSettings {
            issuer: "portcullis".into(),
            audience: "portcullis-api".into(),
            access_ttl_seconds: 900,
            leeway_seconds: 30,
        },
        refresh_ttl_seconds: 3600,
        refresh_grace_seconds: 10,
        limits: Limits {
            auth: Quota { per_period: 20, period: Duration::from_secs(60), burst: 10 },
            api: Quota { per_period: 600, period: Duration::from_secs(60), burst: 600 },
            login_failures: failures,
            account_failures: FailurePolicy { max: 50, ..failures },
        },
        audit_retention_seconds: 365 * 86_400,
        registration: crate::core::auth::Registration::Open,
    };
    let ports = AuthPorts {
        users: feed.store.clone(),
        sessions: feed.store.clone(),
        revocations: feed.clone(),
        audit: feed.store.clone(),
        limiter: Arc::new(MemoryLimiter::new(clock.clone())),
        hasher: Arc::new(FastHasher),
        metrics: Arc::new(metrics),
        clock,
        entropy: Arc::new(SeededEntropy::new(11)),
    };
    let ring = KeyRing::new(&[SecretString::from("Zx8q2LmN4vR7tY1wK9pB3cF6hJ0sD5gA".to_owned())]).unwrap();
    AuthService::start(ports, policy, ring).await.unwrap()
}

fn feed() -> Arc<FlakyFeed> {
    Arc::new(FlakyFeed { store: Arc::new(MemoryStore::new()), down: AtomicBool::new(false) })
}

fn client() -> Origin {
    Origin::request(IpAddr::from([192, 0, 2, 1]), None)
}

#[tokio::test]
async fn a_registration_a_logout_and_a_logout_everywhere_are_each_counted_once() {
    let mut metrics = MockMetricsSink::new();
    metrics.expect_login_attempt().returning(|_| ());
    metrics.expect_token_issued().returning(|_| ());
    metrics.expect_rate_limit_decision().returning(|_, _| ());
    metrics.expect_registration().times(1).returning(|| ());
    metrics.expect_logout().with(eq(LogoutScope::Session)).times(1).returning(|_| ());
    metrics.expect_logout().with(eq(LogoutScope::All)).times(1).returning(|_| ());
    metrics.expect_revocation().with(eq(RevocationReason::Logout)).times(1).returning(|_| ());
    metrics.expect_revocation().with(eq(RevocationReason::LogoutAll)).times(1).returning(|_| ());
    let auth = service(metrics, feed()).await;

    auth.register("ada@example.com", PASSWORD.into(), &client()).await.unwrap();
    // A refused registration is no registration.
    assert!(auth.register("ada@example.com", PASSWORD.into(), &client()).await.is_err());
    let pair = auth.login("ada@example.com", PASSWORD.into(), &client()).await.unwrap();
    auth.logout(&auth.authenticate(&pair.access_token).unwrap(), None, &client()).await.unwrap();
    let pair = auth.login("ada@example.com", PASSWORD.into(), &client()).await.unwrap();
    auth.logout_all(&auth.authenticate(&pair.access_token).unwrap(), &client()).await.unwrap();
}

#[tokio::test]
async fn each_failed_poll_of_the_revocation_feed_is_counted_and_a_recovery_is_not() {
    let mut metrics = MockMetricsSink::new();
    metrics.expect_revocation_sync_failed().times(2).returning(|| ());
    let feed = feed();
    let auth = service(metrics, feed.clone()).await;
    assert!(auth.sync_revocations().await.is_ok());

    feed.down.store(true, Ordering::SeqCst);
    assert!(auth.sync_revocations().await.is_err());
    assert!(auth.sync_revocations().await.is_err());
    feed.down.store(false, Ordering::SeqCst);

    assert!(auth.sync_revocations().await.is_ok());
}
