//! Ending sessions at the caller's request: logout, logout everywhere, and
//! a password change, which keeps only the caller's own session.

use super::auth::AuthService;
use super::failure::{absorbs_failures, ServiceFailure};
use super::password::{Password, PasswordError};
use super::refresh::RefreshToken;
use super::revocation::Revocation;
use super::session::EndSessions;
use super::token::Principal;
use crate::ports::{HashError, LimiterError, RepoError};

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

impl AuthService {
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
        let now = self.ports.clock.now();
        let ends = EndSessions::All;
        if let Some(epoch) = self.ports.users.advance_epoch(principal.user_id, ends, now).await? {
            self.cut_off_user(principal.user_id, epoch, now).await?;
        }
        Ok(())
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
        let now = self.ports.clock.now();
        let ends = EndSessions::AllBut(principal.session_id);
        let epoch = self.ports.users.set_password(user.id, &hash, ends, now).await?;
        let epoch = epoch.ok_or(PasswordChangeError::UserGone)?;
        self.cut_off_user(user.id, epoch, now).await?;
        Ok(())
    }
}
