//! Signing in with a second factor. A login whose password is right for a
//! user with TOTP on opens no session: it stores a challenge and answers
//! with its `mfa_token` (256 random bits, stored hashed, five minutes,
//! redeemable once and only from the client network the login came from).
//! [`AuthService::complete_mfa`] takes that token and a code or a recovery
//! code and opens the session, its access tokens saying `amr: ["pwd",
//! "otp"]`.
//!
//! A wrong code is a failed login: it counts against the account from this
//! network and from anywhere, and locks as failed passwords do. The login
//! and its first code count as one attempt (the login's reservation stands
//! until that code redeems it); each further code with the same token is
//! an attempt of its own. A right password does not clear earlier failures
//! while the second factor is outstanding, so re-entering the password buys
//! no fresh guesses, and a sign-in abandoned before its code stays counted.

use super::audit::{AuditType, Origin};
use super::auth::{AuthService, LoginError, ServiceFailure, TokenPair};
use super::device;
use super::failure::absorbs_failures;
use super::limits::limited_network;
use super::mfa::{failure_keys, MfaError, SecondFactor};
use super::refresh::RefreshToken;
use super::session::SessionId;
use super::token::{AMR_PASSWORD, AMR_PASSWORD_OTP};
use super::user::{User, UserStatus};
use crate::ports::{HashError, LimiterError, LoginOutcome, MfaChallenge, RepoError};
use secrecy::SecretString;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// How long an `mfa_token` may be redeemed.
pub const MFA_TOKEN_TTL_SECONDS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum MfaLoginError {
    /// Unknown, expired, already redeemed, or presented from another
    /// network; or its user was disabled, deleted or reset meanwhile.
    #[error("the mfa token is invalid")]
    InvalidToken,
    #[error("the code is wrong or already used")]
    InvalidCode,
    #[error("too many failed logins")]
    Locked { retry_after: Duration },
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(MfaLoginError);

impl From<MfaError> for MfaLoginError {
    fn from(error: MfaError) -> Self {
        match error {
            MfaError::Locked { retry_after } => Self::Locked { retry_after },
            MfaError::Failure(failure) => Self::Failure(failure),
            MfaError::InvalidCode => Self::InvalidCode,
            _ => Self::InvalidToken,
        }
    }
}

impl AuthService {
    /// For a user with TOTP on, stores a sign-in challenge and returns its
    /// token; `None` for everyone else.
    pub(crate) async fn mfa_challenge(
        &self,
        user: &User,
        account: &str,
        origin: &Origin,
        reserved: bool,
    ) -> Result<Option<SecretString>, ServiceFailure> {
        let Some(setup) = &self.mfa else { return Ok(None) };
        if !self.mfa_enabled(user.id).await? {
            return Ok(None);
        }
        let token = RefreshToken::generate(self.ports.entropy.as_ref());
        let challenge = MfaChallenge {
            token_hash: token.hash(),
            user_id: user.id,
            account: account.to_owned(),
            network: network_of(origin),
            expires_at: self.ports.clock.now() + MFA_TOKEN_TTL_SECONDS,
            reserved,
        };
        setup.repo.create_challenge(&challenge).await?;
        Ok(Some(SecretString::from(token.expose().to_owned())))
    }

    /// The `amr` of tokens for `session`: whether it was opened with a
    /// second factor.
    pub(crate) async fn session_amr(&self, session: SessionId) -> Result<&'static [&'static str], ServiceFailure> {
        let marked = match &self.mfa {
            Some(setup) => setup.repo.session_marked(session).await?,
            None => false,
        };
        Ok(if marked { AMR_PASSWORD_OTP } else { AMR_PASSWORD })
    }

    /// Completes a sign-in with the `mfa_token` a login returned and a
    /// second factor.
    ///
    /// # Errors
    /// See [`MfaLoginError`]. Each attempt is audited: the session's
    /// `login_succeeded` (with `amr`), or `mfa_failed` / `account_locked`.
    pub async fn complete_mfa(
        &self,
        mfa_token: &str,
        proof: SecondFactor<'_>,
        origin: &Origin,
    ) -> Result<TokenPair, MfaLoginError> {
        let result = self.try_complete_mfa(mfa_token, proof, origin).await;
        let outcome = match &result {
            Ok(_) => LoginOutcome::Success,
            Err(MfaLoginError::InvalidToken | MfaLoginError::InvalidCode) => LoginOutcome::InvalidCredentials,
            Err(MfaLoginError::Locked { .. }) => LoginOutcome::Locked,
            Err(MfaLoginError::Failure(_)) => LoginOutcome::Error,
        };
        self.ports.metrics.login_attempt(outcome);
        result
    }

    async fn try_complete_mfa(
        &self,
        mfa_token: &str,
        proof: SecondFactor<'_>,
        origin: &Origin,
    ) -> Result<TokenPair, MfaLoginError> {
        let setup = self.mfa_setup().map_err(|_| MfaLoginError::InvalidToken)?;
        let token = RefreshToken::parse(mfa_token).map_err(|_| MfaLoginError::InvalidToken)?;
        let hash = token.hash();
        let now = self.ports.clock.now();
        let challenge = setup.repo.challenge(&hash, now).await?.ok_or(MfaLoginError::InvalidToken)?;
        if challenge.network != network_of(origin) {
            return Err(MfaLoginError::InvalidToken);
        }
        let origin = origin.clone().by(challenge.user_id);
        let (pair, account) = failure_keys(&challenge.account, &origin);
        // The first code sent redeems the login's reservation; each further
        // one reserves its own, as a login would.
        let reserved = challenge.reserved && setup.repo.spend_reservation(&hash).await?;
        if !reserved {
            if let Err(error) = self.reserve_verification(&pair, &account).await {
                if let LoginError::Locked { retry_after } = &error {
                    let event = self.audit_event(&origin, AuditType::AccountLocked, Some(challenge.user_id)).failed();
                    self.record_refusal(event.detail("retry_after_seconds", retry_after.as_secs().to_string())).await;
                }
                return Err(MfaError::from(error).into());
            }
        }
        let refund = || async {
            self.ports.limiter.refund_failure(&pair).await?;
            self.ports.limiter.refund_failure(&account).await
        };
        // Disabled, deleted or reset since the password was checked: the
        // sign-in starts over, and this was no guess.
        let user = self.ports.users.by_id(challenge.user_id).await?.filter(|user| user.status == UserStatus::Active);
        let record = setup.repo.totp(challenge.user_id).await?.filter(|record| record.confirmed_at.is_some());
        let (Some(user), Some(record)) = (user, record) else {
            setup.repo.take_challenge(&hash, now).await?;
            refund().await?;
            return Err(MfaLoginError::InvalidToken);
        };
        // The reservation already counted this attempt as a failure.
        if !self.second_factor_holds(&record, proof).await? {
            self.record_mfa_failure(&origin, user.id, proof, "login").await;
            return Err(MfaLoginError::InvalidCode);
        }
        // Of racing redemptions of one token, one opens a session.
        if !setup.repo.take_challenge(&hash, now).await? {
            refund().await?;
            return Err(MfaLoginError::InvalidToken);
        }
        self.ports.limiter.clear_failures(&pair).await?;
        self.ports.limiter.refund_failure(&account).await?;
        if let SecondFactor::RecoveryCode(_) = proof {
            let left = setup.repo.recovery_codes_left(user.id).await?;
            let event = self.audit_event(&origin, AuditType::RecoveryCodeUsed, Some(user.id));
            self.record_alone(event.detail("codes_left", left.to_string())).await?;
        }
        let Some(mut tokens) = self.open_session(&user, &origin, true).await? else {
            let event = self.audit_event(&origin, AuditType::LoginFailed, Some(user.id)).failed();
            self.record_refusal(event.detail("reason", "cut_off")).await;
            return Err(MfaLoginError::InvalidToken);
        };
        tokens.device_token = Some(device::issue(&self.keys(), self.ports.entropy.as_ref(), &challenge.account, now));
        Ok(tokens)
    }
}

/// The client network a challenge is bound to, as the failure counters
/// see it.
fn network_of(origin: &Origin) -> String {
    limited_network(origin.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))).to_string()
}
