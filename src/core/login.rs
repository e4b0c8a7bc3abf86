//! Signing in: the password check that costs the same for unknown
//! addresses, failed-login counting and lockout, and the issue of a new
//! session's first token pair.

use super::audit::{Actor, AuditType, Origin};
use super::auth::AuthService;
use super::device;
use super::email::{Email, EmailError};
use super::failure::{absorbs_failures, ServiceFailure};
use super::limits::limited_network;
use super::password::{Password, PasswordHash};
use super::refresh::RefreshToken;
use super::session::{SessionId, SessionUse};
use super::token::{AccessClaims, AMR_PASSWORD, AMR_PASSWORD_OTP};
use super::user::{UnixSeconds, User, UserStatus};
use crate::ports::{
    FailureKey, HashError, LimiterError, LoginOutcome, RefreshRecord, RepoError, Reservation, SessionRecord, TokenKind,
};
use secrecy::SecretString;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("invalid email")]
    InvalidEmail(#[source] EmailError),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("too many failed logins")]
    Locked { retry_after: Duration },
    /// The password was right and the user has a second factor: no
    /// session yet, only the token that [`AuthService::complete_mfa`]
    /// redeems with a code.
    #[error("a second factor is required")]
    MfaRequired { mfa_token: SecretString },
    /// A cut-off moved the account's credential epoch on while the
    /// password was being verified; to the client, invalid credentials.
    #[error("the account's credentials were cut off during the login")]
    CutOff,
    /// The password was right, but the address is not verified and the
    /// policy requires it.
    #[error("the account's e-mail address is not verified")]
    EmailNotVerified,
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(LoginError);

/// An issued access and refresh token.
#[derive(Debug)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: RefreshToken,
    /// Issued by a login only: see [`super::device`].
    pub device_token: Option<String>,
}

impl AuthService {
    /// Signs in with e-mail and password.
    ///
    /// Unknown addresses cost the same bcrypt as known ones and fail the
    /// same way; failures count against the account from this address and
    /// from anywhere, and lock the pair (or the account) at the limit.
    ///
    /// # Errors
    /// See [`LoginError`].
    pub async fn login(&self, email: &str, password: String, origin: &Origin) -> Result<TokenPair, LoginError> {
        self.login_from_device(email, password, origin, None).await
    }

    /// Signs in as [`Self::login`] does, presenting the device token an
    /// earlier login on this device returned, if any. A valid one for this
    /// account replaces the account-wide lockout and the locks earned by
    /// other addresses with its own small budget; once that is spent, the
    /// usual rules apply.
    ///
    /// # Errors
    /// See [`LoginError`].
    ///
    /// Each login is audited: `login_succeeded` with the new session,
    /// `login_failed` or `account_locked` on its own, with the claimed
    /// account as the actor when it exists and `anonymous` otherwise.
    pub async fn login_from_device(
        &self,
        email: &str,
        password: String,
        origin: &Origin,
        device_token: Option<&str>,
    ) -> Result<TokenPair, LoginError> {
        let result = self.try_login(email, password, origin, device_token).await;
        let outcome = match &result {
            Ok(_) => LoginOutcome::Success,
            Err(LoginError::InvalidCredentials | LoginError::InvalidEmail(_)) => LoginOutcome::InvalidCredentials,
            Err(LoginError::Locked { .. }) => LoginOutcome::Locked,
            Err(LoginError::CutOff) => LoginOutcome::CutOff,
            Err(LoginError::MfaRequired { .. }) => LoginOutcome::MfaRequired,
            Err(LoginError::EmailNotVerified) => LoginOutcome::EmailNotVerified,
            Err(LoginError::Failure(_)) => LoginOutcome::Error,
        };
        self.ports.metrics.login_attempt(outcome);
        result
    }

    async fn try_login(
        &self,
        email: &str,
        password: String,
        origin: &Origin,
        device_token: Option<&str>,
    ) -> Result<TokenPair, LoginError> {
        let email = Email::parse(email).map_err(LoginError::InvalidEmail)?;
        // Every HTTP request has an address; a caller without one counts
        // against the unspecified address.
        let client_ip = origin.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let now = self.ports.clock.now();
        let device = device_token.and_then(|token| device::verify(&self.keys(), token, email.as_str(), now));
        // A device's own budget is an account of its own to the limiter.
        let device = device.map(|id| FailureKey { account: format!("device:{id}"), ip: None });
        let limiter = &self.ports.limiter;
        let mut exempt = None;
        if let Some(device) = device {
            let policy = &self.policy.limits.login_failures;
            if limiter.reserve_failure(&device, policy).await? == Reservation::Granted {
                exempt = Some(device);
            }
        }
        // An exempt login spends its device's budget alone: the pair and
        // account keys stand for everyone else's guesses.
        let (pair, account) = if let Some(device) = exempt {
            (device, None)
        } else {
            let pair = FailureKey { account: email.as_str().to_owned(), ip: Some(limited_network(client_ip)) };
            let account = FailureKey { account: email.as_str().to_owned(), ip: None };
            if let Err(error) = self.reserve_verification(&pair, &account).await {
                if let LoginError::Locked { retry_after } = &error {
                    // The lockout is the answer even if storage is down.
                    let claimed = self.ports.users.by_email(&email).await.ok().flatten().map(|user| user.id);
                    let event = self.audit_event(origin, AuditType::AccountLocked, claimed).failed();
                    let event = event.actor(claimed.map_or(Actor::Anonymous, Actor::User));
                    self.record_refusal(event.detail("retry_after_seconds", retry_after.as_secs().to_string())).await;
                }
                return Err(error);
            }
            (pair, Some(account))
        };

        let password = Password::unchecked(password);
        let user = self.ports.users.by_email(&email).await?;
        let hash = user.as_ref().map_or(&self.dummy_hash, |u| &u.password_hash);
        let matches = match self.ports.hasher.verify(&password, hash).await {
            Ok(matches) => matches && password.fits_bcrypt(),
            Err(error) => {
                // Nothing was verified: the attempt is not the caller's failure.
                limiter.refund_failure(&pair).await?;
                if let Some(account) = &account {
                    limiter.refund_failure(account).await?;
                }
                return Err(error.into());
            }
        };
        // The reservation already counted this attempt as a failure.
        let user = match user {
            Some(user) if matches && user.status == UserStatus::Active => user,
            other => {
                let reason = match &other {
                    None => "unknown_account",
                    Some(user) if user.status != UserStatus::Active => "account_disabled",
                    Some(_) => "wrong_password",
                };
                let claimed = other.map(|user| user.id);
                let event = self.audit_event(origin, AuditType::LoginFailed, claimed).failed();
                let event = event.actor(claimed.map_or(Actor::Anonymous, Actor::User)).detail("reason", reason);
                self.record_refusal(event).await;
                return Err(LoginError::InvalidCredentials);
            }
        };
        // With a second factor, this attempt stays counted until a code
        // completes it (the first code sent redeems the reservation), and
        // the failures before it stand: re-entering a right password buys
        // no fresh guesses at the code. A device-exempt login's reservation
        // was on the device's budget: that one is given back.
        if let Some(mfa_token) = self.mfa_challenge(&user, email.as_str(), origin, account.is_some()).await? {
            if account.is_none() {
                limiter.refund_failure(&pair).await?;
            }
            if self.ports.hasher.needs_rehash(&user.password_hash) {
                self.rehash(&user.password_hash, &password, &origin.clone().by(user.id), user.id).await;
            }
            return Err(LoginError::MfaRequired { mfa_token });
        }
        limiter.clear_failures(&pair).await?;
        if let Some(account) = &account {
            limiter.refund_failure(account).await?;
        }
        // Said only to the holder of the right password, so it reveals
        // nothing about which addresses have accounts.
        if self.require_verified_email && !user.email_verified {
            let event = self.audit_event(origin, AuditType::LoginFailed, Some(user.id)).failed();
            let event = event.actor(Actor::User(user.id)).detail("reason", "email_not_verified");
            self.record_refusal(event).await;
            return Err(LoginError::EmailNotVerified);
        }
        // A cut-off that lands while the password was being verified moves
        // the epoch on, and the store then refuses the session.
        let origin = origin.clone().by(user.id);
        let Some(mut pair) = self.open_session(&user, &origin, false).await? else {
            let event = self.audit_event(&origin, AuditType::LoginFailed, Some(user.id)).failed();
            self.record_refusal(event.detail("reason", "cut_off")).await;
            return Err(LoginError::CutOff);
        };
        pair.device_token = Some(device::issue(&self.keys(), self.ports.entropy.as_ref(), email.as_str(), now));
        if self.ports.hasher.needs_rehash(&user.password_hash) {
            self.rehash(&user.password_hash, &password, &origin, user.id).await;
        }
        Ok(pair)
    }

    /// Stores the password afresh at the configured cost, if the stored
    /// hash is still `old`: a password changed meanwhile is kept. A
    /// failure costs the user nothing (the old hash still verifies), so it
    /// is logged and the next login tries again.
    async fn rehash(&self, old: &PasswordHash, password: &Password, origin: &Origin, user: super::user::UserId) {
        let fresh = match self.ports.hasher.hash(password).await {
            Ok(fresh) => fresh,
            Err(error) => {
                tracing::warn!(error = %error, user_id = %user, "re-hashing at the configured cost failed; kept the old hash");
                return;
            }
        };
        let event = self.audit_event(origin, AuditType::PasswordRehashed, Some(user));
        match self.ports.users.replace_hash(user, old, &fresh, std::slice::from_ref(&event)).await {
            Ok(true) => event.log(),
            Ok(false) => {}
            Err(error) => tracing::warn!(error = %error, user_id = %user, "storing the re-hashed password failed"),
        }
    }

    /// Reserves one password verification against the (account, address)
    /// pair and the account, before it runs: of attempts arriving at once,
    /// no more run than the budgets hold.
    pub(crate) async fn reserve_verification(&self, pair: &FailureKey, account: &FailureKey) -> Result<(), LoginError> {
        let limiter = &self.ports.limiter;
        let limits = &self.policy.limits;
        if let Reservation::Refused { retry_after } = limiter.reserve_failure(pair, &limits.login_failures).await? {
            return Err(LoginError::Locked { retry_after });
        }
        if let Reservation::Refused { retry_after } = limiter.reserve_failure(account, &limits.account_failures).await?
        {
            limiter.refund_failure(pair).await?;
            return Err(LoginError::Locked { retry_after });
        }
        Ok(())
    }

    /// Opens a session in the user's epoch as read; `None` when the epoch
    /// has moved on (or the user is gone or disabled) since. With
    /// `second_factor`, the session is marked as opened with one, and its
    /// access tokens say so in `amr`.
    pub(crate) async fn open_session(
        &self,
        user: &User,
        origin: &Origin,
        second_factor: bool,
    ) -> Result<Option<TokenPair>, ServiceFailure> {
        let now = self.ports.clock.now();
        // A UUIDv7, so a user's sessions list newest first by id.
        let millis = u64::try_from(self.ports.clock.now_millis()).unwrap_or(0);
        let session = SessionRecord {
            id: SessionId::from_uuid(self.ports.entropy.uuid_v7(millis)),
            user_id: user.id,
            created_at: now,
            revoked_at: None,
            credential_epoch: user.credential_epoch,
            last_use: SessionUse { at: now, ip: origin.ip, user_agent: origin.user_agent.clone() },
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
        let amr = if second_factor { AMR_PASSWORD_OTP } else { AMR_PASSWORD };
        let event = self.audit_event(origin, AuditType::LoginSucceeded, Some(user.id)).session(session.id);
        let event = event.detail("amr", amr.join(" "));
        if !self.ports.sessions.create(&session, &record, std::slice::from_ref(&event)).await? {
            return Ok(None);
        }
        if second_factor {
            if let Some(setup) = &self.mfa {
                setup.repo.mark_session(session.id).await?;
            }
        }
        event.log();
        self.ports.metrics.token_issued(TokenKind::Refresh);
        let (access_token, expires_in) = self.issue_access_token(user, session.id, now, amr);
        Ok(Some(TokenPair { access_token, expires_in, refresh_token, device_token: None }))
    }

    /// Signs an access token in the user's epoch as read: if a cut-off has
    /// moved it on since, the revocation view refuses the token.
    pub(crate) fn issue_access_token(
        &self,
        user: &User,
        session: SessionId,
        now: UnixSeconds,
        amr: &[&str],
    ) -> (String, i64) {
        let settings = &self.policy.tokens;
        let claims = AccessClaims {
            iss: settings.issuer.clone(),
            aud: settings.audience.clone(),
            sub: user.id.as_uuid(),
            role: user.role.as_str().to_owned(),
            sid: session.as_uuid(),
            jti: self.ports.entropy.uuid_v4(),
            iat: now,
            nbf: now,
            exp: now + settings.access_ttl_seconds,
            epoch: user.credential_epoch,
            amr: amr.iter().map(|&method| method.to_owned()).collect(),
        };
        self.ports.metrics.token_issued(TokenKind::Access);
        (self.keys().sign(&claims), claims.exp - now)
    }
}
