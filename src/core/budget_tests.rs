//! Failure budgets under attack: many guesses at once may not buy more
//! password verifications than the budget holds. The hasher counts its
//! calls and takes a little while, so the guesses overlap. And a cut-off
//! landing while a password is checked refuses that login.

use super::auth::{AuthPolicy, AuthPorts, AuthService, LoginError};
use super::email::Email;
use super::limits::{FailurePolicy, Limits, Quota};
use super::password::{Password, PasswordHash};
use super::session::EndSessions;
use super::testkit::{FastHasher, FixedClock, SeededEntropy};
use super::token::{KeyRing, TokenSettings};
use super::user::UnixSeconds;
use crate::adapters::memory::MemoryStore;
use crate::adapters::memory_limiter::MemoryLimiter;
use crate::ports::metrics::MockMetricsSink;
use crate::ports::{HashError, LoginOutcome, PasswordHasher, UserRepo};
use async_trait::async_trait;
use mockall::predicate::eq;
use secrecy::SecretString;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PASSWORD: &str = "correct-Horse-battery-staple-42";

/// Counts verifications; each takes 20 ms, like a (fast) bcrypt.
#[derive(Default)]
struct CountingHasher {
    verifications: AtomicUsize,
}

#[async_trait]
impl PasswordHasher for CountingHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        FastHasher.hash(password).await
    }
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        FastHasher.verify(password, hash).await
    }
}

fn policy() -> AuthPolicy {
    let failures = FailurePolicy { max: 5, window: Duration::from_secs(900), lockout: Duration::from_secs(900) };
    AuthPolicy {
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
    }
}

async fn service(hasher: Arc<CountingHasher>) -> AuthService {
    let clock = Arc::new(FixedClock::at(1_800_000_000));
    let store = Arc::new(MemoryStore::new());
    let mut metrics = MockMetricsSink::new();
    metrics.expect_login_attempt().returning(|_| ());
    metrics.expect_token_issued().returning(|_| ());
    let ports = AuthPorts {
        users: store.clone(),
        sessions: store.clone(),
        revocations: store,
        limiter: Arc::new(MemoryLimiter::new(clock.clone())),
        hasher,
        metrics: Arc::new(metrics),
        clock,
        entropy: Arc::new(SeededEntropy::new(11)),
    };
    let keys = KeyRing::new(&[SecretString::from("k".repeat(32))]).unwrap();
    AuthService::start(ports, policy(), keys).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_wrong_guesses_from_one_address_cost_exactly_five_verifications() {
    let hasher = Arc::new(CountingHasher::default());
    let auth = Arc::new(service(hasher.clone()).await);
    auth.register("owner@example.com", PASSWORD.into()).await.unwrap();
    let before = hasher.verifications.load(Ordering::SeqCst);
    let address = IpAddr::from([198, 51, 100, 7]);

    let guesses = (0..20).map(|n| {
        let auth = Arc::clone(&auth);
        tokio::spawn(async move { auth.login("owner@example.com", format!("wrong-guess-number-{n}"), address).await })
    });
    let outcomes = futures_util::future::join_all(guesses).await;

    let verified = hasher.verifications.load(Ordering::SeqCst) - before;
    assert_eq!(verified, 5, "verifications for 20 parallel guesses");
    let locked = outcomes.iter().filter(|o| matches!(o, Ok(Err(LoginError::Locked { .. })))).count();
    let wrong = outcomes.iter().filter(|o| matches!(o, Ok(Err(LoginError::InvalidCredentials)))).count();
    assert_eq!((wrong, locked), (5, 15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_right_password_gives_its_reservation_back() {
    let hasher = Arc::new(CountingHasher::default());
    let auth = service(hasher).await;
    auth.register("owner@example.com", PASSWORD.into()).await.unwrap();
    let address = IpAddr::from([198, 51, 100, 8]);
    // Far more successful logins than the budget: none of them is a failure.
    for _ in 0..12 {
        auth.login("owner@example.com", PASSWORD.into(), address).await.expect("the owner signs in");
    }
    for n in 0..4 {
        let wrong = auth.login("owner@example.com", format!("typo-{n}-in-the-password"), address).await;
        assert!(matches!(wrong, Err(LoginError::InvalidCredentials)));
    }
    auth.login("owner@example.com", PASSWORD.into(), address).await.expect("the fifth attempt is the owner's");
}

/// Logs everyone out (a cut-off) in the middle of each verification.
struct CuttingHasher {
    store: Arc<MemoryStore>,
}

#[async_trait]
impl PasswordHasher for CuttingHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        FastHasher.hash(password).await
    }
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        let email = Email::parse("owner@example.com").unwrap();
        if let Some(user) = self.store.by_email(&email).await.unwrap() {
            self.store.advance_epoch(user.id, EndSessions::All, UnixSeconds::new(1_800_000_000)).await.unwrap();
        }
        FastHasher.verify(password, hash).await
    }
}

#[tokio::test]
async fn a_cut_off_during_the_password_check_refuses_the_login_and_is_counted() {
    let clock = Arc::new(FixedClock::at(1_800_000_000));
    let store = Arc::new(MemoryStore::new());
    let mut metrics = MockMetricsSink::new();
    metrics.expect_login_attempt().with(eq(LoginOutcome::CutOff)).times(1).returning(|_| ());
    let ports = AuthPorts {
        users: store.clone(),
        sessions: store.clone(),
        revocations: store.clone(),
        limiter: Arc::new(MemoryLimiter::new(clock.clone())),
        hasher: Arc::new(CuttingHasher { store: store.clone() }),
        metrics: Arc::new(metrics),
        clock,
        entropy: Arc::new(SeededEntropy::new(12)),
    };
    let keys = KeyRing::new(&[SecretString::from("k".repeat(32))]).unwrap();
    let auth = AuthService::start(ports, policy(), keys).await.unwrap();
    auth.register("owner@example.com", PASSWORD.into()).await.unwrap();

    let login = auth.login("owner@example.com", PASSWORD.into(), IpAddr::from([198, 51, 100, 9])).await;

    assert!(matches!(login, Err(LoginError::CutOff)), "{login:?}");
}
