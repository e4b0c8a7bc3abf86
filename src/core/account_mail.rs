//! Mailed links: verifying an address, and resetting a forgotten password.
//!
//! A request for a link (a reset, or another verification mail) answers
//! the same whether or not the address has an account: the caller runs it
//! off the request path (see [`AuthService::begin_mail_request`]), so even
//! its duration tells nothing. Links are one-time tokens stored hashed;
//! a newer link replaces the older one; a reset link dies with any cut-off
//! of the account's credentials (a password change above all). A completed
//! reset ends every session and access token, as a password change does,
//! and proves the address.

use super::audit::{AuditType, Origin};
use super::auth::AuthService;
use super::email::Email;
use super::failure::{absorbs_failures, ServiceFailure};
use super::limits::Quota;
use super::mail::{AccountTokenRecord, Mail, MailKind, TokenPurpose};
use super::password::{Password, PasswordError};
use super::refresh::RefreshToken;
use super::session::EndSessions;
use super::user::{User, UserStatus};
use crate::ports::{Bucket, HashError, LimiterError, RepoError, RevocationReason};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Links one address may be sent, whoever asks: a burst of 3, then one
/// every 20 minutes. Beyond it requests are dropped silently, so that
/// nobody can flood a mailbox and nobody learns whether the address exists.
pub const MAIL_PER_ADDRESS: Quota = Quota { per_period: 3, period: Duration::from_secs(3600), burst: 3 };

/// Link requests being worked on off the request path at once; more are
/// dropped (and still answered alike).
pub const MAX_MAIL_REQUESTS_IN_FLIGHT: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum MailLinkError {
    /// No mailer is configured: links cannot be sent, so none are honoured.
    #[error("no mailer is configured")]
    MailDisabled,
    /// Unknown, used, superseded, or voided by a cut-off.
    #[error("the link is invalid or has already been used")]
    InvalidToken,
    #[error("the link has expired")]
    Expired,
    #[error("weak password")]
    WeakPassword(#[source] PasswordError),
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(MailLinkError);

/// Holds one of the [`MAX_MAIL_REQUESTS_IN_FLIGHT`] slots until dropped.
pub struct MailRequestSlot(Arc<AtomicUsize>);

impl Drop for MailRequestSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AuthService {
    /// Whether verification and reset links can be sent at all.
    pub fn mail_enabled(&self) -> bool {
        self.mail.is_some()
    }

    /// A slot for one link request run off the request path, or `None`
    /// when too many are running (the request is then dropped).
    pub fn begin_mail_request(&self) -> Option<MailRequestSlot> {
        let mail = self.mail.as_ref()?;
        let taken = mail.in_flight.fetch_add(1, Ordering::SeqCst);
        let slot = MailRequestSlot(mail.in_flight.clone());
        (taken < MAX_MAIL_REQUESTS_IN_FLIGHT).then_some(slot)
    }

    /// Mails `user` a verification link. The account exists whatever
    /// happens here, so a failure is logged rather than returned.
    pub(crate) async fn send_verification(&self, user: &User, origin: &Origin) {
        if self.mail.is_none() || user.email_verified {
            return;
        }
        if let Err(error) = self.issue_link(user, MailKind::VerifyEmail, origin).await {
            tracing::warn!(error = %error, user_id = %user.id, "the verification mail could not be issued");
        }
    }

    /// Sends `email` a new verification link if it names an active,
    /// unverified account and its per-address budget allows. Unknown
    /// addresses are not an error: the caller answers alike either way.
    ///
    /// # Errors
    /// [`MailLinkError::MailDisabled`], or a storage failure.
    pub async fn resend_verification(&self, email: &str, origin: &Origin) -> Result<(), MailLinkError> {
        let Some(user) = self.link_recipient(email, TokenPurpose::VerifyEmail).await? else { return Ok(()) };
        if !user.email_verified {
            self.issue_link(&user, MailKind::VerifyEmail, origin).await?;
        }
        Ok(())
    }

    /// Sends `email` a password-reset link if it names an active account
    /// and its per-address budget allows; otherwise does nothing, alike.
    ///
    /// # Errors
    /// [`MailLinkError::MailDisabled`], or a storage failure.
    pub async fn request_password_reset(&self, email: &str, origin: &Origin) -> Result<(), MailLinkError> {
        let Some(user) = self.link_recipient(email, TokenPurpose::PasswordReset).await? else { return Ok(()) };
        self.issue_link(&user, MailKind::PasswordReset, origin).await?;
        Ok(())
    }

    /// Mails `user` an invitation: a password-reset token that lives a day
    /// ([`MailKind::Invitation`]), outside any per-address budget, for an
    /// account an administrator created without a usable password.
    ///
    /// # Errors
    /// [`MailLinkError::MailDisabled`], or a storage failure.
    pub(crate) async fn send_invitation(&self, user: &User, origin: &Origin) -> Result<(), MailLinkError> {
        if self.mail.is_none() {
            return Err(MailLinkError::MailDisabled);
        }
        self.issue_link(user, MailKind::Invitation, origin).await?;
        Ok(())
    }

    /// Marks the address of the verification link's account verified.
    ///
    /// # Errors
    /// See [`MailLinkError`].
    pub async fn verify_email(&self, token: &str, origin: &Origin) -> Result<(), MailLinkError> {
        let mail = self.mail.as_ref().ok_or(MailLinkError::MailDisabled)?;
        let token = RefreshToken::parse(token).map_err(|_| MailLinkError::InvalidToken)?;
        let record = mail.tokens.take_account_token(&token.hash(), TokenPurpose::VerifyEmail).await?;
        let record = record.ok_or(MailLinkError::InvalidToken)?;
        let now = self.ports.clock.now();
        if record.expires_at <= now {
            return Err(MailLinkError::Expired);
        }
        let origin = origin.clone().by(record.user_id);
        let event = self.audit_event(&origin, AuditType::EmailVerified, Some(record.user_id));
        if !mail.tokens.mark_email_verified(record.user_id, now, std::slice::from_ref(&event)).await? {
            return Err(MailLinkError::InvalidToken);
        }
        // This replica shows the change at once; others within the
        // cache's maximum age.
        self.user_cache.evict(record.user_id);
        event.log();
        Ok(())
    }

    /// Sets a new password through a reset link, ending every session and
    /// access token of the account, and marks the address verified. The
    /// link is spent only once the new password has passed the policy, so
    /// a refused password can be retried with the same link.
    ///
    /// # Errors
    /// See [`MailLinkError`].
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new_password: String,
        origin: &Origin,
    ) -> Result<(), MailLinkError> {
        let mail = self.mail.as_ref().ok_or(MailLinkError::MailDisabled)?;
        let token = RefreshToken::parse(token).map_err(|_| MailLinkError::InvalidToken)?;
        let hash = token.hash();
        let record = mail.tokens.find_account_token(&hash, TokenPurpose::PasswordReset).await?;
        let record = record.ok_or(MailLinkError::InvalidToken)?;
        if record.expires_at <= self.ports.clock.now() {
            return Err(MailLinkError::Expired);
        }
        let user = self.ports.users.by_id(record.user_id).await?;
        // A password change, logout everywhere or disabling since the
        // link was sent has moved the epoch on: the link is void.
        let user = user
            .filter(|user| user.status == UserStatus::Active && user.credential_epoch == record.credential_epoch)
            .ok_or(MailLinkError::InvalidToken)?;
        let password = Password::new(new_password, user.email.local_part()).map_err(MailLinkError::WeakPassword)?;
        let password_hash = self.ports.hasher.hash(&password).await?;
        // Spent here, atomically: of two confirmations at once, one wins.
        if mail.tokens.take_account_token(&hash, TokenPurpose::PasswordReset).await?.is_none() {
            return Err(MailLinkError::InvalidToken);
        }
        let now = self.ports.clock.now();
        let origin = origin.clone().by(user.id);
        let event = self.audit_event(&origin, AuditType::PasswordReset, Some(user.id));
        let audit = std::slice::from_ref(&event);
        let epoch = self.ports.users.set_password(user.id, &password_hash, EndSessions::All, now, audit).await?;
        let epoch = epoch.ok_or(MailLinkError::InvalidToken)?;
        event.log();
        self.cut_off_user(user.id, epoch, now).await?;
        self.ports.metrics.revocation(RevocationReason::PasswordChange);
        if !user.email_verified {
            mail.tokens.mark_email_verified(user.id, now, &[]).await?;
            self.user_cache.evict(user.id);
        }
        Ok(())
    }

    /// The active account `email` names, if the address's budget for
    /// `purpose` allows another link; `None` otherwise.
    async fn link_recipient(&self, email: &str, purpose: TokenPurpose) -> Result<Option<User>, MailLinkError> {
        if self.mail.is_none() {
            return Err(MailLinkError::MailDisabled);
        }
        let Ok(email) = Email::parse(email) else { return Ok(None) };
        // Counted for unknown addresses too: the budget says nothing.
        let key = format!("mail:{purpose}:{}", email.as_str());
        if !self.limit_within(Bucket::Auth, &key, MAIL_PER_ADDRESS).await.allowed {
            tracing::info!(purpose = purpose.as_str(), "link request over the per-address budget; dropped");
            return Ok(None);
        }
        let user = self.ports.users.by_email(&email).await?;
        Ok(user.filter(|user| user.status == UserStatus::Active))
    }

    /// Issues a token for the message `kind` to `user`, replacing earlier
    /// ones of the same purpose, and queues the mail that carries it.
    async fn issue_link(&self, user: &User, kind: MailKind, origin: &Origin) -> Result<(), ServiceFailure> {
        let Some(mail) = &self.mail else { return Ok(()) };
        let token = RefreshToken::generate(self.ports.entropy.as_ref());
        let now = self.ports.clock.now();
        let purpose = kind.purpose();
        let record = AccountTokenRecord {
            token_hash: token.hash(),
            user_id: user.id,
            purpose,
            credential_epoch: user.credential_epoch,
            expires_at: now + kind.ttl_seconds(),
        };
        let audited = match purpose {
            TokenPurpose::VerifyEmail => AuditType::EmailVerificationSent,
            TokenPurpose::PasswordReset => AuditType::PasswordResetRequested,
        };
        let event = self.audit_event(origin, audited, Some(user.id));
        let event = if kind == MailKind::Invitation { event.detail("invitation", "true") } else { event };
        mail.tokens.issue_account_token(&record, std::slice::from_ref(&event)).await?;
        event.log();
        let message = Mail { to: user.email.clone(), kind, token, expires_in_seconds: kind.ttl_seconds() };
        if let Err(error) = mail.mailer.submit(message) {
            tracing::warn!(error = %error, user_id = %user.id, kind = kind.as_str(), "mail not queued");
        }
        Ok(())
    }
}
