//! Failure budgets under attack: many guesses at once may not buy more
//! password verifications than the budget holds. The hasher counts its
//! calls and takes a little while, so the guesses overlap. And a cut-off
//! landing while a password is checked refuses that login, as one landing
//! while a refresh is in flight refuses that refresh; both are counted.

use super::audit::{AuditEvent, Origin};
use super::auth::{AuthPolicy, AuthPorts, AuthService, LoginError, RefreshError};
use super::email::Email;
use super::limits::{FailurePolicy, Limits, Quota};
use super::password::{Password, PasswordHash};
use super::refresh::TokenHash;
use super::session::{EndSessions, SessionId};
use super::testkit::{FastHasher, FixedClock, SeededEntropy};
use super::token::{KeyRing, TokenSettings};
use super::user::{CredentialEpoch, UnixSeconds, UserId};
use crate::adapters::memory::MemoryStore;
use crate::adapters::memory_limiter::MemoryLimiter;
use crate::ports::metrics::MockMetricsSink;
use crate::ports::{
    HashError, LoginOutcome, PasswordHasher, RefreshRecord, RefreshRefusal, RepoError, RotateOutcome, SessionRecord,
    SessionRepo, TokenKind, UserRepo,
};
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
    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        FastHasher.needs_rehash(hash)
    }
}

fn anonymous() -> Origin {
    Origin::request(IpAddr::from([198, 51, 100, 1]), None)
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
        audit_retention_seconds: 365 * 86_400,
        registration: crate::core::auth::Registration::Open,
    }
}

async fn service(hasher: Arc<CountingHasher>) -> AuthService {
    let clock = Arc::new(FixedClock::at(1_800_000_000));
    let store = Arc::new(MemoryStore::new());
    let mut metrics = MockMetricsSink::new();
    metrics.expect_login_attempt().returning(|_| ());
    metrics.expect_token_issued().returning(|_| ());
    metrics.expect_registration().returning(|| ());
    let ports = AuthPorts {
        users: store.clone(),
        sessions: store.clone(),
        revocations: store.clone(),
        audit: store,
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
    auth.register("owner@example.com", PASSWORD.into(), &anonymous()).await.unwrap();
    let before = hasher.verifications.load(Ordering::SeqCst);
    let address = Origin::request(IpAddr::from([198, 51, 100, 7]), None);

    let guesses = (0..20).map(|n| {
        let auth = Arc::clone(&auth);
        let address = address.clone();
        tokio::spawn(async move { auth.login("owner@example.com", format!("wrong-guess-number-{n}"), &address).await })
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
    auth.register("owner@example.com", PASSWORD.into(), &anonymous()).await.unwrap();
    let address = Origin::request(IpAddr::from([198, 51, 100, 8]), None);
    // Far more successful logins than the budget: none of them is a failure.
    for _ in 0..12 {
        auth.login("owner@example.com", PASSWORD.into(), &address).await.expect("the owner signs in");
    }
    for n in 0..4 {
        let wrong = auth.login("owner@example.com", format!("typo-{n}-in-the-password"), &address).await;
        assert!(matches!(wrong, Err(LoginError::InvalidCredentials)));
    }
    auth.login("owner@example.com", PASSWORD.into(), &address).await.expect("the fifth attempt is the owner's");
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
            self.store.advance_epoch(user.id, EndSessions::All, UnixSeconds::new(1_800_000_000), &[]).await.unwrap();
        }
        FastHasher.verify(password, hash).await
    }
    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        FastHasher.needs_rehash(hash)
    }
}

#[tokio::test]
async fn a_cut_off_during_the_password_check_refuses_the_login_and_is_counted() {
    let clock = Arc::new(FixedClock::at(1_800_000_000));
    let store = Arc::new(MemoryStore::new());
    let mut metrics = MockMetricsSink::new();
    metrics.expect_login_attempt().with(eq(LoginOutcome::CutOff)).times(1).returning(|_| ());
    metrics.expect_registration().returning(|| ());
    let ports = AuthPorts {
        users: store.clone(),
        sessions: store.clone(),
        revocations: store.clone(),
        audit: store.clone(),
        limiter: Arc::new(MemoryLimiter::new(clock.clone())),
        hasher: Arc::new(CuttingHasher { store: store.clone() }),
        metrics: Arc::new(metrics),
        clock,
        entropy: Arc::new(SeededEntropy::new(12)),
    };
    let keys = KeyRing::new(&[SecretString::from("k".repeat(32))]).unwrap();
    let auth = AuthService::start(ports, policy(), keys).await.unwrap();
    auth.register("owner@example.com", PASSWORD.into(), &anonymous()).await.unwrap();

    let login =
        auth.login("owner@example.com", PASSWORD.into(), &Origin::request(IpAddr::from([198, 51, 100, 9]), None)).await;

    assert!(matches!(login, Err(LoginError::CutOff)), "{login:?}");
}

/// Where [`CuttingSessions`] lets a cut-off land.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CutBefore {
    /// Just before the parent token is rotated.
    Rotate,
    /// Just before the grace window re-issues the child.
    Reissue,
}

/// The memory store, with everyone logged out (a cut-off) just before one
/// kind of write: the refresh has read the user, and its epoch is stale.
struct CuttingSessions {
    store: Arc<MemoryStore>,
    cut: CutBefore,
}

impl CuttingSessions {
    async fn cut_off(&self, user: UserId) {
        self.store.advance_epoch(user, EndSessions::All, UnixSeconds::new(1_800_000_000), &[]).await.unwrap();
    }
}

#[async_trait]
impl SessionRepo for CuttingSessions {
    async fn create(
        &self,
        session: &SessionRecord,
        first: &RefreshRecord,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError> {
        self.store.create(session, first, audit).await
    }
    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, RepoError> {
        self.store.session(id).await
    }
    async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshRecord>, RepoError> {
        self.store.refresh_token(hash).await
    }
    async fn rotate(
        &self,
        parent: &TokenHash,
        child: &RefreshRecord,
        epoch: CredentialEpoch,
        now: UnixSeconds,
    ) -> Result<RotateOutcome, RepoError> {
        if self.cut == CutBefore::Rotate {
            self.cut_off(child.user_id).await;
        }
        self.store.rotate(parent, child, epoch, now).await
    }
    async fn ensure_refresh_token(&self, child: &RefreshRecord, epoch: CredentialEpoch) -> Result<bool, RepoError> {
        if self.cut == CutBefore::Reissue {
            self.cut_off(child.user_id).await;
        }
        self.store.ensure_refresh_token(child, epoch).await
    }
    async fn revoke(&self, id: SessionId, now: UnixSeconds, audit: &[AuditEvent]) -> Result<bool, RepoError> {
        self.store.revoke(id, now, audit).await
    }
    async fn revoke_all(
        &self,
        user: UserId,
        except: Option<SessionId>,
        now: UnixSeconds,
    ) -> Result<Vec<SessionId>, RepoError> {
        self.store.revoke_all(user, except, now).await
    }
    async fn list(
        &self,
        user: UserId,
        now: UnixSeconds,
        before: Option<SessionId>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, RepoError> {
        SessionRepo::list(self.store.as_ref(), user, now, before, limit).await
    }
    async fn end(
        &self,
        user: UserId,
        id: SessionId,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError> {
        self.store.end(user, id, now, audit).await
    }
    async fn record_use(&self, id: SessionId, used: &crate::core::session::SessionUse) -> Result<(), RepoError> {
        self.store.record_use(id, used).await
    }
    async fn purge_expired(&self, now: UnixSeconds) -> Result<u64, RepoError> {
        self.store.purge_expired(now).await
    }
}

/// A service whose refreshes meet a cut-off at `cut`; `metrics` must expect
/// one login and its tokens.
async fn cut_refresh_service(cut: CutBefore, mut metrics: MockMetricsSink) -> AuthService {
    let clock = Arc::new(FixedClock::at(1_800_000_000));
    let store = Arc::new(MemoryStore::new());
    metrics.expect_login_attempt().with(eq(LoginOutcome::Success)).returning(|_| ());
    metrics.expect_registration().returning(|| ());
    metrics.expect_token_issued().with(eq(TokenKind::Access)).returning(|_| ());
    let ports = AuthPorts {
        users: store.clone(),
        sessions: Arc::new(CuttingSessions { store: store.clone(), cut }),
        revocations: store.clone(),
        audit: store,
        limiter: Arc::new(MemoryLimiter::new(clock.clone())),
        hasher: Arc::new(FastHasher),
        metrics: Arc::new(metrics),
        clock,
        entropy: Arc::new(SeededEntropy::new(13)),
    };
    let keys = KeyRing::new(&[SecretString::from("k".repeat(32))]).unwrap();
    AuthService::start(ports, policy(), keys).await.unwrap()
}

#[tokio::test]
async fn a_cut_off_during_a_rotation_refuses_the_refresh_and_is_counted_once() {
    let mut metrics = MockMetricsSink::new();
    metrics.expect_refresh_refused().with(eq(RefreshRefusal::CutOff)).times(1).returning(|_| ());
    // The login's refresh token only: the refused refresh issues none.
    metrics.expect_token_issued().with(eq(TokenKind::Refresh)).times(1).returning(|_| ());
    let auth = cut_refresh_service(CutBefore::Rotate, metrics).await;
    auth.register("owner@example.com", PASSWORD.into(), &anonymous()).await.unwrap();
    let pair = auth
        .login("owner@example.com", PASSWORD.into(), &Origin::request(IpAddr::from([198, 51, 100, 10]), None))
        .await
        .unwrap();

    let refresh = auth.refresh(pair.refresh_token.expose(), &anonymous()).await;

    assert!(matches!(refresh, Err(RefreshError::Revoked)), "{refresh:?}");
}

#[tokio::test]
async fn a_cut_off_before_the_grace_window_reissues_the_child_is_counted_once() {
    let mut metrics = MockMetricsSink::new();
    metrics.expect_refresh_refused().with(eq(RefreshRefusal::CutOff)).times(1).returning(|_| ());
    // The login's and the first refresh's: the refused re-issue adds none.
    metrics.expect_token_issued().with(eq(TokenKind::Refresh)).times(2).returning(|_| ());
    let auth = cut_refresh_service(CutBefore::Reissue, metrics).await;
    auth.register("owner@example.com", PASSWORD.into(), &anonymous()).await.unwrap();
    let pair = auth
        .login("owner@example.com", PASSWORD.into(), &Origin::request(IpAddr::from([198, 51, 100, 11]), None))
        .await
        .unwrap();
    auth.refresh(pair.refresh_token.expose(), &anonymous()).await.expect("the first rotation meets no cut-off");

    let again = auth.refresh(pair.refresh_token.expose(), &anonymous()).await;

    assert!(matches!(again, Err(RefreshError::Revoked)), "{again:?}");
}
