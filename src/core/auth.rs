//! The authentication service: the ports and policy every use case runs
//! against, the bearer check every protected route runs, rate-limit
//! decisions, and the revocations that end tokens early.
//!
//! Each use case lives in its own module beside this one: registration,
//! login, rotation (refresh), logout and password change, admin. Their
//! error types are re-exported here, where callers have always found them.

pub use super::failure::ServiceFailure;
pub use super::login::{LoginError, TokenPair};
pub use super::logout::{LogoutError, PasswordChangeError};
pub use super::mfa::MfaError;
pub use super::mfa_login::MfaLoginError;
pub use super::registration::{RegisterError, Registration, SeedError, SeedOutcome};
pub use super::rotation::RefreshError;

use super::audit::{AuditEvent, AuditType, Origin};
use super::in_flight::HashingInFlight;
use super::keyring::{KeyRing, LiveKeyRing};
use super::limits::{Decision, Limits, Quota};
use super::password::{Password, PasswordHash};
use super::revocation::{Revocation, RevocationView};
use super::session::SessionId;
use super::token::{check_lifetime, Principal, TokenError, TokenSettings};
use super::user::{CredentialEpoch, UnixSeconds, User, UserId};
use super::user_cache::UserCache;
use super::verified_tokens::VerifiedTokens;
use crate::ports::{
    AccountTokenRepo, AuditLog, Bucket, Clock, Entropy, Mailer, MetricsSink, PasswordHasher, RateLimiter,
    RevocationStore, SessionRepo, UserRepo,
};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Lifetimes and limits the use cases apply.
#[derive(Clone, Debug)]
pub struct AuthPolicy {
    pub tokens: TokenSettings,
    pub refresh_ttl_seconds: i64,
    pub refresh_grace_seconds: i64,
    pub limits: Limits,
    /// How long audit events are kept, in seconds.
    pub audit_retention_seconds: i64,
    /// Whether anyone may register, or only admins create accounts.
    pub registration: Registration,
}

/// The ports the use cases run against.
#[derive(Clone)]
pub struct AuthPorts {
    pub users: Arc<dyn UserRepo>,
    pub sessions: Arc<dyn SessionRepo>,
    pub revocations: Arc<dyn RevocationStore>,
    pub audit: Arc<dyn AuditLog>,
    pub limiter: Arc<dyn RateLimiter>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub metrics: Arc<dyn MetricsSink>,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
}

/// The authentication use cases. Cheap to share: wrap it in an `Arc`.
pub struct AuthService {
    pub(crate) ports: AuthPorts,
    pub(crate) policy: AuthPolicy,
    /// The ring in use; a reload swaps it under running requests.
    keys: LiveKeyRing,
    pub(crate) view: RevocationView,
    pub(crate) dummy_hash: PasswordHash,
    /// Hashing each signed-in user has running.
    pub(crate) hashing: HashingInFlight,
    /// How far the revocation feed has been read, in the store's clock.
    feed_position: AtomicI64,
    /// Rows `current_user` read lately; cut-offs evict them.
    pub(crate) user_cache: UserCache,
    /// Bearer tokens lately verified under the ring in use.
    verified_tokens: VerifiedTokens,
    /// The second factor, when [`Self::with_mfa`] turned it on.
    pub(crate) mfa: Option<super::mfa::MfaSetup>,
    /// Verification and password-reset mail; `None` without a mailer.
    pub(crate) mail: Option<MailPorts>,
    /// Refuse logins from accounts whose address is unverified.
    pub(crate) require_verified_email: bool,
}

/// What the mailed-link use cases need beyond [`AuthPorts`].
#[derive(Clone)]
pub struct MailPorts {
    pub mailer: Arc<dyn Mailer>,
    pub tokens: Arc<dyn AccountTokenRepo>,
    /// Link requests running off the request path.
    pub in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

/// How far back each poll of the revocation feed reaches before the last
/// position seen: a write can commit after a later-stamped one.
const FEED_OVERLAP_MS: i64 = 5_000;

impl AuthService {
    /// Builds the service and loads the revocations that still matter, so
    /// a restart forgets none of them.
    ///
    /// # Errors
    /// [`ServiceFailure`] when the dummy hash or the revocation load fails.
    pub async fn start(
        ports: AuthPorts,
        policy: AuthPolicy,
        keys: impl Into<LiveKeyRing>,
    ) -> Result<Self, ServiceFailure> {
        let keys = keys.into();
        // Unknown e-mails are verified against this, so that a login costs
        // one bcrypt whether or not the account exists.
        let mut noise = [0u8; 24];
        ports.entropy.fill(&mut noise);
        let dummy = Password::unchecked(super::hex::encode(&noise));
        let dummy_hash = ports.hasher.hash(&dummy).await?;
        let view = RevocationView::new();
        let now = ports.clock.now();
        let (active, position) = ports.revocations.recorded_since(i64::MIN, now).await?;
        for revocation in &active {
            view.apply(revocation, now);
        }
        let hashing = HashingInFlight::default();
        Ok(Self {
            ports,
            policy,
            keys,
            view,
            dummy_hash,
            hashing,
            feed_position: AtomicI64::new(position),
            user_cache: UserCache::default(),
            verified_tokens: VerifiedTokens::default(),
            mfa: None,
            mail: None,
            require_verified_email: false,
        })
    }

    /// Turns on verification and password-reset mail.
    #[must_use]
    pub fn with_mail(mut self, mail: MailPorts) -> Self {
        self.mail = Some(mail);
        self
    }

    /// Refuses logins from unverified addresses when `required`.
    #[must_use]
    pub fn with_verified_email_required(mut self, required: bool) -> Self {
        self.require_verified_email = required;
        self
    }

    /// The key ring as of now: one operation signs and verifies with one ring.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.current()
    }

    /// The handle through which a reload replaces the ring.
    pub fn live_keys(&self) -> &LiveKeyRing {
        &self.keys
    }

    pub fn policy(&self) -> &AuthPolicy {
        &self.policy
    }

    pub fn revocations(&self) -> &RevocationView {
        &self.view
    }

    /// Takes one request from a rate-limit bucket. A limiter that cannot be
    /// reached lets the request through: the limits protect availability,
    /// and refusing everyone would defeat them.
    pub async fn limit(&self, bucket: Bucket, key: &str) -> Decision {
        let quota = match bucket {
            Bucket::Auth => self.policy.limits.auth,
            Bucket::Api => self.policy.limits.api,
        };
        let decision = self.limit_within(bucket, key, quota).await;
        self.record_limit(bucket, &decision);
        decision
    }

    /// [`Self::limit`] with a quota other than the bucket's own, for a
    /// request limited on several keys (an IPv6 network and its site on the
    /// auth bucket). Counts in no metric: the caller reports the one
    /// decision it acts on with [`Self::record_limit`], so each request is
    /// counted once.
    pub async fn limit_within(&self, bucket: Bucket, key: &str, quota: Quota) -> Decision {
        let decision = match self.ports.limiter.acquire(bucket, key, &quota).await {
            Ok(decision) => decision,
            Err(error) => {
                tracing::warn!(error = %error, bucket = bucket.as_str(), "rate limiter unavailable; allowing request");
                Decision {
                    allowed: true,
                    limit: quota.burst,
                    remaining: quota.burst,
                    reset_after: Duration::ZERO,
                    retry_after: Duration::ZERO,
                }
            }
        };
        decision
    }

    /// Counts the decision a request was given, once per request.
    pub fn record_limit(&self, bucket: Bucket, decision: &Decision) {
        self.ports.metrics.rate_limit_decision(bucket.as_str(), decision.allowed);
    }

    /// Checks a bearer token: signature, claims, and the in-process
    /// revocation view. Touches no storage. A token verified lately under
    /// the ring in use skips its signature and claims (see
    /// [`super::verified_tokens`]); its lifetime and revocations are
    /// judged every time.
    ///
    /// # Errors
    /// [`TokenError`] says why the token is refused.
    pub fn authenticate(&self, bearer: &str) -> Result<Principal, TokenError> {
        let now = self.ports.clock.now();
        let keys = self.keys.current();
        let verified = if let Some(verified) = self.verified_tokens.get(keys.generation(), bearer) {
            check_lifetime(&verified, &self.policy.tokens, now)?;
            verified
        } else {
            let verified = keys.verify_signed(bearer, &self.policy.tokens)?;
            check_lifetime(&verified, &self.policy.tokens, now)?;
            self.verified_tokens.insert(keys.generation(), bearer, verified.clone());
            verified
        };
        let principal = verified.principal;
        if self.view.is_revoked(principal.token_id, principal.session_id, principal.user_id, principal.credential_epoch)
        {
            return Err(TokenError::Revoked);
        }
        Ok(principal)
    }

    /// The user a principal speaks for, as stored now or at most the
    /// revocation delay ago (see [`super::user_cache`]).
    ///
    /// # Errors
    /// [`ServiceFailure`] when storage fails; `Ok(None)` when the user is gone.
    pub async fn current_user(&self, principal: &Principal) -> Result<Option<User>, ServiceFailure> {
        let now_ms = self.ports.clock.now_millis();
        if let Some(user) = self.user_cache.get(principal.user_id, principal.credential_epoch, now_ms) {
            return Ok(Some(user));
        }
        let user = self.ports.users.by_id(principal.user_id).await?;
        if let Some(user) = &user {
            self.user_cache.insert(user, now_ms);
        }
        Ok(user)
    }

    /// Applies `revocation` to the view and, for a cut-off, evicts the
    /// user's cached row: the view first, so a row stored by a read that
    /// raced the eviction is only ever served to tokens the view refuses.
    fn apply(&self, revocation: &Revocation, now: UnixSeconds) {
        self.view.apply(revocation, now);
        if let Revocation::UserCutoff { user, .. } = revocation {
            self.user_cache.evict(*user);
        }
    }

    /// Tells this replica's view, and through the store the others, that
    /// `user`'s tokens of epochs before `epoch` are over. The store has
    /// already advanced the epoch and ended the sessions, in the write that
    /// made the change.
    pub(crate) async fn cut_off_user(
        &self,
        user: UserId,
        epoch: CredentialEpoch,
        now: UnixSeconds,
    ) -> Result<(), ServiceFailure> {
        let until = now + self.policy.tokens.access_ttl_seconds + self.policy.tokens.leeway_seconds;
        self.remember(Revocation::UserCutoff { user, epoch, until }, now).await
    }

    /// Revokes `session`, storing `audit` with it.
    pub(crate) async fn revoke_session(
        &self,
        session: SessionId,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<(), ServiceFailure> {
        self.ports.sessions.revoke(session, now, audit).await?;
        audit.iter().for_each(AuditEvent::log);
        let until = now + self.policy.tokens.access_ttl_seconds + self.policy.tokens.leeway_seconds;
        self.remember(Revocation::Session { sid: session, until }, now).await
    }

    /// Applies a revocation here at once, then records it durably.
    pub(crate) async fn remember(&self, revocation: Revocation, now: UnixSeconds) -> Result<(), ServiceFailure> {
        self.apply(&revocation, now);
        self.ports.revocations.record(&revocation).await?;
        Ok(())
    }

    /// Applies the revocations other replicas recorded since the last call;
    /// run every fraction of a second. Returns how many were read.
    ///
    /// # Errors
    /// [`ServiceFailure`] when storage fails; the next call catches up.
    pub async fn sync_revocations(&self) -> Result<usize, ServiceFailure> {
        let now = self.ports.clock.now();
        let since = self.feed_position.load(Ordering::SeqCst).saturating_sub(FEED_OVERLAP_MS);
        let (revocations, latest) = match self.ports.revocations.recorded_since(since, now).await {
            Ok(read) => read,
            Err(error) => {
                self.ports.metrics.revocation_sync_failed();
                return Err(error.into());
            }
        };
        for revocation in &revocations {
            self.apply(revocation, now);
        }
        self.feed_position.fetch_max(latest, Ordering::SeqCst);
        Ok(revocations.len())
    }

    /// Drops expired revocations and refresh tokens, and audit events
    /// older than the retention; run periodically.
    ///
    /// # Errors
    /// [`ServiceFailure`] when storage fails.
    pub async fn housekeeping(&self) -> Result<(), ServiceFailure> {
        let now = self.ports.clock.now();
        self.view.prune(now);
        self.ports.revocations.purge(now).await?;
        self.ports.sessions.purge_expired(now).await?;
        if let Some(setup) = &self.mfa {
            setup.repo.purge_challenges(now).await?;
        }
        if let Some(mail) = &self.mail {
            mail.tokens.purge_account_tokens(now).await?;
        }
        let purged = self.ports.audit.purge_before(now - self.policy.audit_retention_seconds).await?;
        if purged > 0 {
            tracing::info!(purged, "audit events past their retention purged");
        }
        Ok(())
    }

    /// An audit event of `kind` about `subject`, asked from `origin`, now.
    pub(crate) fn audit_event(&self, origin: &Origin, kind: AuditType, subject: Option<UserId>) -> AuditEvent {
        AuditEvent::new(self.ports.entropy.as_ref(), self.ports.clock.now_millis(), origin, kind, subject)
    }

    /// Records that this replica now verifies and signs with another key
    /// ring: the source it came from and each key's kid, algorithm and
    /// state, never key material. Each replica records its own adoption.
    ///
    /// # Errors
    /// [`ServiceFailure`] when storage fails.
    pub async fn record_key_ring_change(&self, source: &str, ring: &KeyRing) -> Result<(), ServiceFailure> {
        let keys: Vec<String> = ring
            .describe()
            .iter()
            .map(|(kid, alg, state)| format!("{kid}:{}:{}", alg.as_str(), state.as_str()))
            .collect();
        let event = self
            .audit_event(&Origin::system(), AuditType::KeyRingChanged, None)
            .detail("source", source)
            .detail("active", ring.signing_kid())
            .detail("keys", keys.join(","));
        self.record_alone(event).await
    }

    /// Stores an event that goes with no change of state, and logs it.
    ///
    /// # Errors
    /// [`ServiceFailure`] when storage fails.
    pub(crate) async fn record_alone(&self, event: AuditEvent) -> Result<(), ServiceFailure> {
        self.ports.audit.record(&event).await?;
        event.log();
        Ok(())
    }

    /// Stores the event of a refusal (a failed or locked-out login), which
    /// stands whether or not storage answers: a failure to store is logged
    /// and the event still goes out as a log line.
    pub(crate) async fn record_refusal(&self, event: AuditEvent) {
        if let Err(error) = self.ports.audit.record(&event).await {
            tracing::warn!(error = %error, event_type = event.kind.as_str(), "audit event not stored");
        }
        event.log();
    }
}
