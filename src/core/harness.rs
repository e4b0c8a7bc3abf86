//! The harness the core's use-case tests share: the service over the
//! in-memory store and limiter, a fixed clock, seeded randomness and a
//! hasher that costs nothing.

use super::audit::Origin;
use super::auth::*;
use super::limits::Limits;
use super::testkit::{FastHasher, FixedClock, SeededEntropy};
use super::token::{KeyRing, TokenSettings};
use crate::adapters::memory::MemoryStore;
use crate::adapters::memory_limiter::MemoryLimiter;
use crate::core::limits::{FailurePolicy, Quota};
use crate::ports::metrics::MockMetricsSink;
use crate::ports::{MetricsSink, PasswordHasher};
use secrecy::SecretString;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const START: i64 = 1_800_000_000;
pub(crate) const PASSWORD: &str = "correct-Horse-battery-staple-42";
pub(crate) const OTHER_PASSWORD: &str = "another-Long-unusual-phrase-77";

pub(crate) struct Harness {
    pub auth: AuthService,
    pub clock: Arc<FixedClock>,
    pub store: Arc<MemoryStore>,
}

pub(crate) fn policy(grace: i64) -> AuthPolicy {
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
        audit_retention_seconds: 365 * 86_400,
        registration: Registration::Open,
    }
}

pub(crate) fn ring() -> KeyRing {
    KeyRing::new(&[SecretString::from("k".repeat(32))]).unwrap()
}

pub(crate) async fn harness_with(grace: i64, metrics: Arc<dyn MetricsSink>, store: Arc<MemoryStore>) -> Harness {
    harness_hashing(grace, metrics, store, Arc::new(FastHasher)).await
}

pub(crate) async fn harness_hashing(
    grace: i64,
    metrics: Arc<dyn MetricsSink>,
    store: Arc<MemoryStore>,
    hasher: Arc<dyn PasswordHasher>,
) -> Harness {
    harness_of(policy(grace), metrics, store, hasher).await
}

/// The harness under `policy`, with quiet metrics and the free hasher.
pub(crate) async fn harness_with_policy(policy: AuthPolicy, store: Arc<MemoryStore>) -> Harness {
    harness_of(policy, quiet_metrics(), store, Arc::new(FastHasher)).await
}

async fn harness_of(
    policy: AuthPolicy,
    metrics: Arc<dyn MetricsSink>,
    store: Arc<MemoryStore>,
    hasher: Arc<dyn PasswordHasher>,
) -> Harness {
    let clock = Arc::new(FixedClock::at(START));
    let ports = AuthPorts {
        users: store.clone(),
        sessions: store.clone(),
        revocations: store.clone(),
        audit: store.clone(),
        limiter: Arc::new(MemoryLimiter::new(clock.clone())),
        hasher,
        metrics,
        clock: clock.clone(),
        entropy: Arc::new(SeededEntropy::new(7)),
    };
    let mfa_key = crate::core::mfa_key::MfaKey::new(&[7; 32]).unwrap();
    let auth =
        AuthService::start(ports, policy, ring()).await.unwrap().with_mfa(store.clone(), Some(mfa_key), "Portcullis");
    Harness { auth, clock, store }
}

pub(crate) fn quiet_metrics() -> Arc<dyn MetricsSink> {
    let mut metrics = MockMetricsSink::new();
    metrics.expect_login_attempt().returning(|_| ());
    metrics.expect_rate_limit_decision().returning(|_, _| ());
    metrics.expect_token_issued().returning(|_| ());
    metrics.expect_refresh_token_reuse().returning(|| ());
    metrics.expect_registration().returning(|| ());
    metrics.expect_logout().returning(|_| ());
    metrics.expect_revocation().returning(|_| ());
    Arc::new(metrics)
}

pub(crate) async fn harness() -> Harness {
    harness_with(10, quiet_metrics(), Arc::new(MemoryStore::new())).await
}

pub(crate) fn ip(last: u8) -> Origin {
    Origin::request(IpAddr::from([192, 0, 2, last]), Some(format!("request-{last}")))
}

pub(crate) fn anonymous() -> Origin {
    ip(200)
}

impl Harness {
    /// The fixed clock's instant.
    pub(crate) fn clock_now(&self) -> super::user::UnixSeconds {
        use crate::ports::Clock as _;
        self.clock.now()
    }

    pub(crate) async fn signed_up(&self, email: &str) -> TokenPair {
        self.auth.register(email, PASSWORD.into(), &anonymous()).await.unwrap();
        self.auth.login(email, PASSWORD.into(), &ip(1)).await.unwrap()
    }
}
