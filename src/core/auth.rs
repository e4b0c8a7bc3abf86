//! The service's use cases: registration, login, refresh, logout, password
//! change, and the bearer check every protected route runs.

use super::email::{Email, EmailError};
use super::limits::{limited_network, Decision, Limits};
use super::password::{Password, PasswordError, PasswordHash};
use super::refresh::RefreshToken;
use super::revocation::{Revocation, RevocationView};
use super::session::SessionId;
use super::token::{AccessClaims, KeyRing, Principal, TokenError, TokenSettings};
use super::user::{Role, UnixSeconds, User, UserId, UserStatus};
use crate::ports::{
    Bucket, Clock, Entropy, FailureKey, HashError, LimiterError, LoginOutcome, MetricsSink, PasswordHasher,
    RateLimiter, RefreshRecord, RepoError, RevocationStore, RotateOutcome, SessionRecord, SessionRepo, TokenKind,
    UserInsertError, UserRepo,
};
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A failure of the machinery rather than of the request.
#[derive(Debug, thiserror::Error)]
pub enum ServiceFailure {
    /// A bounded resource is saturated; the caller should retry later.
    #[error("service is busy")]
    Busy { retry_after: Duration },
    /// A dependency is down.
    #[error("a dependency is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("unexpected failure")]
    Unexpected(#[source] anyhow::Error),
}

impl From<RepoError> for ServiceFailure {
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::Unavailable(source) => Self::Unavailable(source),
            RepoError::Unexpected(source) => Self::Unexpected(source),
        }
    }
}

impl From<HashError> for ServiceFailure {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy { retry_after } => Self::Busy { retry_after },
            HashError::Unexpected(source) => Self::Unexpected(source),
        }
    }
}

impl From<LimiterError> for ServiceFailure {
    fn from(error: LimiterError) -> Self {
        match error {
            LimiterError::Unavailable(source) => Self::Unavailable(source),
        }
    }
}

/// Lets an operation's error absorb every infrastructure error via `?`.
macro_rules! absorbs_failures {
    ($error:ident) => {
        impl From<RepoError> for $error {
            fn from(error: RepoError) -> Self {
                Self::Failure(error.into())
            }
        }
        impl From<HashError> for $error {
            fn from(error: HashError) -> Self {
                Self::Failure(error.into())
            }
        }
        impl From<LimiterError> for $error {
            fn from(error: LimiterError) -> Self {
                Self::Failure(error.into())
            }
        }
    };
}
pub(crate) use absorbs_failures;

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("invalid email")]
    InvalidEmail(#[source] EmailError),
    #[error("weak password")]
    WeakPassword(#[source] PasswordError),
    #[error("email is already registered")]
    EmailTaken,
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(RegisterError);

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("invalid email")]
    InvalidEmail(#[source] EmailError),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("too many failed logins")]
    Locked { retry_after: Duration },
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(LoginError);

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("refresh token is invalid")]
    Invalid,
    #[error("refresh token has expired")]
    Expired,
    #[error("refresh token has been revoked")]
    Revoked,
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(RefreshError);

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("malformed refresh token")]
    MalformedRefreshToken,
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(LogoutError);

#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    #[error("current password is wrong")]
    InvalidCredentials,
    #[error("weak password")]
    WeakPassword(#[source] PasswordError),
    #[error("user no longer exists")]
    UserGone,
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(PasswordChangeError);

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("PORTCULLIS_ADMIN_EMAIL is not a valid address")]
    InvalidEmail(#[source] EmailError),
    #[error("PORTCULLIS_ADMIN_PASSWORD is refused by the password policy")]
    WeakPassword(#[source] PasswordError),
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(SeedError);

/// Which sessions a cut-off also ends.
pub(crate) enum EndSessions {
    None,
    All,
    AllBut(SessionId),
}

enum CreateError {
    EmailTaken,
    Failure(ServiceFailure),
}

/// What seeding the initial admin did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedOutcome {
    Created,
    /// An active admin already exists, or the address is taken: nothing changed.
    AlreadyPresent,
}

/// An issued access and refresh token.
#[derive(Debug)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: RefreshToken,
}

/// Lifetimes and limits the use cases apply.
#[derive(Clone, Debug)]
pub struct AuthPolicy {
    pub tokens: TokenSettings,
    pub refresh_ttl_seconds: i64,
    pub refresh_grace_seconds: i64,
    pub limits: Limits,
}

/// The ports the use cases run against.
#[derive(Clone)]
pub struct AuthPorts {
    pub users: Arc<dyn UserRepo>,
    pub sessions: Arc<dyn SessionRepo>,
    pub revocations: Arc<dyn RevocationStore>,
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
    keys: KeyRing,
    view: RevocationView,
    dummy_hash: PasswordHash,
    /// How far the revocation feed has been read, in the store's clock.
    feed_position: AtomicI64,
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
    pub async fn start(ports: AuthPorts, policy: AuthPolicy, keys: KeyRing) -> Result<Self, ServiceFailure> {
        // Unknown e-mails are verified against this, so that a login costs
        // one bcrypt whether or not the account exists.
        let mut noise = [0u8; 24];
        ports.entropy.fill(&mut noise);
        let dummy = Password::unchecked(noise.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let dummy_hash = ports.hasher.hash(&dummy).await?;
        let view = RevocationView::new();
        let now = ports.clock.now();
        let (active, position) = ports.revocations.recorded_since(i64::MIN, now).await?;
        for revocation in &active {
            view.apply(revocation, now);
        }
        Ok(Self { ports, policy, keys, view, dummy_hash, feed_position: AtomicI64::new(position) })
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
        self.ports.metrics.rate_limit_decision(bucket.as_str(), decision.allowed);
        decision
    }

    /// Creates an account with the `user` role.
    ///
    /// # Errors
    /// See [`RegisterError`].
    pub async fn register(&self, email: &str, password: String) -> Result<User, RegisterError> {
        let email = Email::parse(email).map_err(RegisterError::InvalidEmail)?;
        let password = Password::new(password, email.local_part()).map_err(RegisterError::WeakPassword)?;
        match self.create_user(email, &password, Role::User).await {
            Ok(user) => Ok(user),
            Err(CreateError::EmailTaken) => Err(RegisterError::EmailTaken),
            Err(CreateError::Failure(failure)) => Err(failure.into()),
        }
    }

    async fn create_user(&self, email: Email, password: &Password, role: Role) -> Result<User, CreateError> {
        let hash = self.ports.hasher.hash(password).await.map_err(|e| CreateError::Failure(e.into()))?;
        let now_ms = self.ports.clock.now_millis();
        let now = now_ms.div_euclid(1000);
        let user = User {
            id: UserId::from_uuid(self.ports.entropy.uuid_v7(u64::try_from(now_ms).unwrap_or(0))),
            email,
            password_hash: hash,
            role,
            status: UserStatus::Active,
            created_at: now,
            updated_at: now,
        };
        match self.ports.users.insert(&user).await {
            Ok(()) => Ok(user),
            Err(UserInsertError::EmailTaken) => Err(CreateError::EmailTaken),
            Err(UserInsertError::Repo(error)) => Err(CreateError::Failure(error.into())),
        }
    }

    /// Signs in with e-mail and password.
    ///
    /// Unknown addresses cost the same bcrypt as known ones and fail the
    /// same way; failures count against the account from this address and
    /// from anywhere, and lock the pair (or the account) at the limit.
    ///
    /// # Errors
    /// See [`LoginError`].
    pub async fn login(&self, email: &str, password: String, client_ip: IpAddr) -> Result<TokenPair, LoginError> {
        let result = self.try_login(email, password, client_ip).await;
        let outcome = match &result {
            Ok(_) => LoginOutcome::Success,
            Err(LoginError::InvalidCredentials | LoginError::InvalidEmail(_)) => LoginOutcome::InvalidCredentials,
            Err(LoginError::Locked { .. }) => LoginOutcome::Locked,
            Err(LoginError::Failure(_)) => LoginOutcome::Error,
        };
        self.ports.metrics.login_attempt(outcome);
        result
    }

    async fn try_login(&self, email: &str, password: String, client_ip: IpAddr) -> Result<TokenPair, LoginError> {
        let email = Email::parse(email).map_err(LoginError::InvalidEmail)?;
        let pair = FailureKey { account: email.as_str().to_owned(), ip: Some(limited_network(client_ip)) };
        let account = FailureKey { account: email.as_str().to_owned(), ip: None };
        let limiter = &self.ports.limiter;
        let locked = limiter.locked_for(&pair).await?.max(limiter.locked_for(&account).await?);
        if let Some(retry_after) = locked {
            return Err(LoginError::Locked { retry_after });
        }

        let password = Password::unchecked(password);
        let user = self.ports.users.by_email(&email).await?;
        let hash = user.as_ref().map_or(&self.dummy_hash, |u| &u.password_hash);
        let matches = self.ports.hasher.verify(&password, hash).await? && password.fits_bcrypt();
        let user = match user {
            Some(user) if matches && user.status == UserStatus::Active => user,
            Some(_) if matches => return Err(LoginError::InvalidCredentials),
            _ => {
                let limits = &self.policy.limits;
                limiter.record_failure(&pair, &limits.login_failures).await?;
                limiter.record_failure(&account, &limits.account_failures).await?;
                return Err(LoginError::InvalidCredentials);
            }
        };
        limiter.clear_failures(&pair).await?;
        Ok(self.open_session(&user).await?)
    }

    async fn open_session(&self, user: &User) -> Result<TokenPair, ServiceFailure> {
        let now = self.ports.clock.now();
        let session = SessionRecord {
            id: SessionId::from_uuid(self.ports.entropy.uuid_v4()),
            user_id: user.id,
            created_at: now,
            revoked_at: None,
        };
        let refresh_token = RefreshToken::generate(self.ports.entropy.as_ref());
        let record = RefreshRecord {
            token_hash: refresh_token.hash(),
            session_id: session.id,
            user_id: user.id,
            issued_at: now,
            expires_at: now + self.policy.refresh_ttl_seconds,
            rotated_at: None,
        };
        self.ports.sessions.create(&session, &record).await?;
        self.ports.metrics.token_issued(TokenKind::Refresh);
        let (access_token, expires_in) = self.issue_access_token(user.id, user.role, session.id, now);
        Ok(TokenPair { access_token, expires_in, refresh_token })
    }

    fn issue_access_token(&self, user: UserId, role: Role, session: SessionId, now: UnixSeconds) -> (String, i64) {
        // A token must postdate the user's last cut-off, even within the
        // second in which that cut-off was set.
        let issued_at = self.view.cutoff(user).map_or(now, |cutoff| cutoff.max(now));
        let settings = &self.policy.tokens;
        let claims = AccessClaims {
            iss: settings.issuer.clone(),
            aud: settings.audience.clone(),
            sub: user.as_uuid(),
            role: role.as_str().to_owned(),
            sid: session.as_uuid(),
            jti: self.ports.entropy.uuid_v4(),
            iat: issued_at,
            nbf: issued_at,
            exp: issued_at + settings.access_ttl_seconds,
        };
        self.ports.metrics.token_issued(TokenKind::Access);
        (self.keys.sign(&claims), claims.exp - now)
    }

    /// Exchanges a refresh token for a new pair, rotating it.
    ///
    /// Presenting an already rotated token within the grace window returns
    /// the same child again; after it, the whole session is revoked.
    ///
    /// # Errors
    /// See [`RefreshError`].
    pub async fn refresh(&self, presented: &str) -> Result<TokenPair, RefreshError> {
        let parent = RefreshToken::parse(presented).map_err(|_| RefreshError::Invalid)?;
        let record = self.ports.sessions.refresh_token(&parent.hash()).await?.ok_or(RefreshError::Invalid)?;
        let session = self.ports.sessions.session(record.session_id).await?.ok_or(RefreshError::Invalid)?;
        let now = self.ports.clock.now();
        if session.revoked_at.is_some() {
            return Err(RefreshError::Revoked);
        }
        if record.expires_at <= now {
            return Err(RefreshError::Expired);
        }
        let user = match self.ports.users.by_id(record.user_id).await? {
            Some(user) if user.status == UserStatus::Active => user,
            _ => return Err(RefreshError::Revoked),
        };

        let child = parent.child(&self.keys);
        let mut child_record = RefreshRecord {
            token_hash: child.hash(),
            session_id: session.id,
            user_id: user.id,
            issued_at: now,
            expires_at: now + self.policy.refresh_ttl_seconds,
            rotated_at: None,
        };
        let rotated_at = match record.rotated_at {
            None => match self.ports.sessions.rotate(&record.token_hash, &child_record, now).await? {
                RotateOutcome::Rotated => None,
                RotateOutcome::AlreadyRotated { at } => Some(at),
            },
            Some(at) => Some(at),
        };
        if let Some(at) = rotated_at {
            let grace = self.policy.refresh_grace_seconds;
            if grace == 0 || now - at > grace {
                self.ports.metrics.refresh_token_reuse();
                tracing::warn!(session_id = %session.id, user_id = %user.id, "rotated refresh token reused; session revoked");
                self.revoke_session(session.id, now).await?;
                return Err(RefreshError::Revoked);
            }
            child_record.issued_at = at;
            child_record.expires_at = at + self.policy.refresh_ttl_seconds;
            self.ports.sessions.ensure_refresh_token(&child_record).await?;
        }
        self.ports.metrics.token_issued(TokenKind::Refresh);
        let (access_token, expires_in) = self.issue_access_token(user.id, user.role, session.id, now);
        Ok(TokenPair { access_token, expires_in, refresh_token: child })
    }

    /// Checks a bearer token: signature, claims, and the in-process
    /// revocation view. Touches no storage.
    ///
    /// # Errors
    /// [`TokenError`] says why the token is refused.
    pub fn authenticate(&self, bearer: &str) -> Result<Principal, TokenError> {
        let now = self.ports.clock.now();
        let principal = self.keys.verify(bearer, &self.policy.tokens, now)?;
        if self.view.is_revoked(principal.token_id, principal.session_id, principal.user_id, principal.issued_at) {
            return Err(TokenError::Revoked);
        }
        Ok(principal)
    }

    /// The user a principal speaks for, as stored now.
    ///
    /// # Errors
    /// [`ServiceFailure`] when storage fails; `Ok(None)` when the user is gone.
    pub async fn current_user(&self, principal: &Principal) -> Result<Option<User>, ServiceFailure> {
        Ok(self.ports.users.by_id(principal.user_id).await?)
    }

    /// Ends the caller's session and access token, and the session of
    /// `refresh_token` too when it belongs to the same user.
    ///
    /// # Errors
    /// See [`LogoutError`].
    pub async fn logout(&self, principal: &Principal, refresh_token: Option<&str>) -> Result<(), LogoutError> {
        let now = self.ports.clock.now();
        let extra_session = match refresh_token {
            None => None,
            Some(raw) => {
                let token = RefreshToken::parse(raw).map_err(|_| LogoutError::MalformedRefreshToken)?;
                self.ports
                    .sessions
                    .refresh_token(&token.hash())
                    .await?
                    .filter(|record| record.user_id == principal.user_id && record.session_id != principal.session_id)
                    .map(|record| record.session_id)
            }
        };
        let until = principal.expires_at + self.policy.tokens.leeway_seconds;
        self.remember(Revocation::Token { jti: principal.token_id, until }, now).await?;
        self.revoke_session(principal.session_id, now).await?;
        if let Some(session) = extra_session {
            self.revoke_session(session, now).await?;
        }
        Ok(())
    }

    /// Ends every session and access token of the caller.
    ///
    /// # Errors
    /// [`ServiceFailure`] when storage fails.
    pub async fn logout_all(&self, principal: &Principal) -> Result<(), ServiceFailure> {
        self.cut_off_user(principal.user_id, EndSessions::All).await
    }

    /// Changes the caller's password, keeping the caller's session but ending
    /// every other one and every access token issued before now.
    ///
    /// # Errors
    /// See [`PasswordChangeError`].
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: String,
        new: String,
    ) -> Result<(), PasswordChangeError> {
        let user = self.ports.users.by_id(principal.user_id).await?.ok_or(PasswordChangeError::UserGone)?;
        let current = Password::unchecked(current);
        if !(self.ports.hasher.verify(&current, &user.password_hash).await? && current.fits_bcrypt()) {
            return Err(PasswordChangeError::InvalidCredentials);
        }
        let new = Password::new(new, user.email.local_part()).map_err(PasswordChangeError::WeakPassword)?;
        let hash = self.ports.hasher.hash(&new).await?;
        self.ports.users.set_password(user.id, &hash, self.ports.clock.now()).await?;
        self.cut_off_user(user.id, EndSessions::AllBut(principal.session_id)).await?;
        Ok(())
    }

    /// Creates the initial admin if no active admin exists and the address
    /// is free.
    ///
    /// # Errors
    /// See [`SeedError`].
    pub async fn seed_admin(&self, email: &str, password: String) -> Result<SeedOutcome, SeedError> {
        let email = Email::parse(email).map_err(SeedError::InvalidEmail)?;
        let password = Password::new(password, email.local_part()).map_err(SeedError::WeakPassword)?;
        if self.ports.users.has_active_admin().await? || self.ports.users.by_email(&email).await?.is_some() {
            return Ok(SeedOutcome::AlreadyPresent);
        }
        match self.create_user(email, &password, Role::Admin).await {
            Ok(_) => Ok(SeedOutcome::Created),
            // Another replica seeded it first.
            Err(CreateError::EmailTaken) => Ok(SeedOutcome::AlreadyPresent),
            Err(CreateError::Failure(failure)) => Err(failure.into()),
        }
    }

    /// Revokes every access token of `user` issued before now, and the
    /// sessions `sessions` names.
    pub(crate) async fn cut_off_user(&self, user: UserId, sessions: EndSessions) -> Result<(), ServiceFailure> {
        let now = self.ports.clock.now();
        // Tokens issued in this very second are before the cut-off too; new
        // ones are stamped with the cut-off (see `issue_access_token`).
        let cutoff = now + 1;
        let until = cutoff + self.policy.tokens.access_ttl_seconds + self.policy.tokens.leeway_seconds;
        self.remember(Revocation::UserCutoff { user, cutoff, until }, now).await?;
        match sessions {
            EndSessions::None => {}
            EndSessions::All => {
                self.ports.sessions.revoke_all(user, None, now).await?;
            }
            EndSessions::AllBut(keep) => {
                self.ports.sessions.revoke_all(user, Some(keep), now).await?;
            }
        }
        Ok(())
    }

    async fn revoke_session(&self, session: SessionId, now: UnixSeconds) -> Result<(), ServiceFailure> {
        self.ports.sessions.revoke(session, now).await?;
        let until = now + self.policy.tokens.access_ttl_seconds + self.policy.tokens.leeway_seconds;
        self.remember(Revocation::Session { sid: session, until }, now).await
    }

    /// Applies a revocation here at once, then records it durably.
    async fn remember(&self, revocation: Revocation, now: UnixSeconds) -> Result<(), ServiceFailure> {
        self.view.apply(&revocation, now);
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
        let (revocations, latest) = self.ports.revocations.recorded_since(since, now).await?;
        for revocation in &revocations {
            self.view.apply(revocation, now);
        }
        self.feed_position.fetch_max(latest, Ordering::SeqCst);
        Ok(revocations.len())
    }

    /// Drops expired revocations and refresh tokens; run periodically.
    ///
    /// # Errors
    /// [`ServiceFailure`] when storage fails.
    pub async fn housekeeping(&self) -> Result<(), ServiceFailure> {
        let now = self.ports.clock.now();
        self.view.prune(now);
        self.ports.revocations.purge(now).await?;
        self.ports.sessions.purge_expired(now).await?;
        Ok(())
    }
}
