//! Ending sessions at the caller's request: logout, logout everywhere, and
//! a password change, which keeps only the caller's own session.

use super::audit::{AuditType, Origin};
use super::auth::AuthService;
use super::failure::{absorbs_failures, ServiceFailure};
use super::limits::limited_network;
use super::login::LoginError;
use super::password::{Password, PasswordError};
use super::refresh::RefreshToken;
use super::revocation::Revocation;
use super::session::EndSessions;
use super::token::Principal;
use crate::ports::{FailureKey, HashError, LimiterError, LoginOutcome, LogoutScope, RepoError, RevocationReason};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

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
    /// Too many failed logins for this account from this address, or for
    /// the account: the current password is not even checked.
    #[error("too many failed logins")]
    Locked { retry_after: Duration },
    /// The user already has as many hashing operations running as allowed.
    #[error("too many password operations in flight")]
    Busy,
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(PasswordChangeError);

impl AuthService {
    /// Ends the caller's session and access token, and the session of
    /// `refresh_token` too when it belongs to the same user.
    ///
    /// # Errors
    /// See [`LogoutError`].
    pub async fn logout(
        &self,
        principal: &Principal,
        refresh_token: Option<&str>,
        origin: &Origin,
    ) -> Result<(), LogoutError> {
        let now = self.ports.clock.now();
        let origin = origin.clone().by(principal.user_id);
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
        let user = Some(principal.user_id);
        let event = self.audit_event(&origin, AuditType::Logout, user).session(principal.session_id);
        self.revoke_session(principal.session_id, now, &[event]).await?;
        if let Some(session) = extra_session {
            let event = self.audit_event(&origin, AuditType::Logout, user).session(session);
            self.revoke_session(session, now, &[event]).await?;
        }
        self.ports.metrics.logout(LogoutScope::Session);
        self.ports.metrics.revocation(RevocationReason::Logout);
        Ok(())
    }

    /// Ends every session and access token of the caller.
    ///
    /// # Errors
    /// [`ServiceFailure`] when storage fails.
    pub async fn logout_all(&self, principal: &Principal, origin: &Origin) -> Result<(), ServiceFailure> {
        let now = self.ports.clock.now();
        let ends = EndSessions::All;
        let origin = origin.clone().by(principal.user_id);
        let event = self.audit_event(&origin, AuditType::LogoutAll, Some(principal.user_id));
        let audit = std::slice::from_ref(&event);
        if let Some(epoch) = self.ports.users.advance_epoch(principal.user_id, ends, now, audit).await? {
            event.log();
            self.cut_off_user(principal.user_id, epoch, now).await?;
            self.ports.metrics.revocation(RevocationReason::LogoutAll);
        }
        self.ports.metrics.logout(LogoutScope::All);
        Ok(())
    }

    /// Changes the caller's password, keeping the caller's session but ending
    /// every other one and every access token issued before now.
    ///
    /// # Errors
    /// See [`PasswordChangeError`].
    ///
    /// The current password is guessed at like a login: it is checked
    /// against the same failure budgets, for the account and for
    /// `client_ip`, and a wrong one counts as a failed login. A user may
    /// have only
    /// [`MAX_HASHING_PER_USER`](super::in_flight::MAX_HASHING_PER_USER) of these running at once.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: String,
        new: String,
        origin: &Origin,
    ) -> Result<(), PasswordChangeError> {
        let origin = origin.clone().by(principal.user_id);
        let result = self.try_change_password(principal, current, new, &origin).await;
        // Refused guesses at the current password are failed logins, and
        // are counted as such.
        let refusal = match &result {
            Err(PasswordChangeError::InvalidCredentials) => Some(LoginOutcome::InvalidCredentials),
            Err(PasswordChangeError::Locked { .. }) => Some(LoginOutcome::Locked),
            Err(PasswordChangeError::Busy) => Some(LoginOutcome::RateLimited),
            _ => None,
        };
        if let Some(outcome) = refusal {
            self.ports.metrics.login_attempt(outcome);
        }
        result
    }

    async fn try_change_password(
        &self,
        principal: &Principal,
        current: String,
        new: String,
        origin: &Origin,
    ) -> Result<(), PasswordChangeError> {
        let client_ip = origin.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let _slot = self.hashing.enter(principal.user_id).ok_or(PasswordChangeError::Busy)?;
        let user = self.ports.users.by_id(principal.user_id).await?.ok_or(PasswordChangeError::UserGone)?;
        let account = user.email.as_str().to_owned();
        let pair = FailureKey { account: account.clone(), ip: Some(limited_network(client_ip)) };
        let account = FailureKey { account, ip: None };
        self.reserve_verification(&pair, &account).await.map_err(|error| match error {
            LoginError::Locked { retry_after } => PasswordChangeError::Locked { retry_after },
            LoginError::Failure(failure) => PasswordChangeError::Failure(failure),
            LoginError::InvalidEmail(_)
            | LoginError::InvalidCredentials
            | LoginError::CutOff
            | LoginError::MfaRequired { .. }
            | LoginError::EmailNotVerified => PasswordChangeError::InvalidCredentials,
        })?;
        let current = Password::unchecked(current);
        let matches = match self.ports.hasher.verify(&current, &user.password_hash).await {
            Ok(matches) => matches && current.fits_bcrypt(),
            Err(error) => {
                self.ports.limiter.refund_failure(&pair).await?;
                self.ports.limiter.refund_failure(&account).await?;
                return Err(error.into());
            }
        };
        if !matches {
            let event = self.audit_event(origin, AuditType::PasswordChanged, Some(user.id)).failed();
            self.record_refusal(event.detail("reason", "wrong_current_password")).await;
            return Err(PasswordChangeError::InvalidCredentials);
        }
        self.ports.limiter.clear_failures(&pair).await?;
        self.ports.limiter.refund_failure(&account).await?;
        let new = Password::new(new, user.email.local_part()).map_err(PasswordChangeError::WeakPassword)?;
        let hash = self.ports.hasher.hash(&new).await?;
        let now = self.ports.clock.now();
        let ends = EndSessions::AllBut(principal.session_id);
        let event = self.audit_event(origin, AuditType::PasswordChanged, Some(user.id));
        let epoch = self.ports.users.set_password(user.id, &hash, ends, now, std::slice::from_ref(&event)).await?;
        let epoch = epoch.ok_or(PasswordChangeError::UserGone)?;
        event.log();
        self.cut_off_user(user.id, epoch, now).await?;
        self.ports.metrics.revocation(RevocationReason::PasswordChange);
        Ok(())
    }
}
