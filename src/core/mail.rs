//! What Portcullis mails and the one-time tokens inside: a link to verify
//! an address, a link to reset a forgotten password, and an invitation
//! (a password-reset token with its own words and a longer life). The core decides
//! who gets which message with which token; rendering it into text and
//! HTML and delivering it are the mailer's (see [`crate::ports::Mailer`]).
//!
//! A token has the shape of a refresh token (256 random bits, base64url)
//! and, like it, is stored only as its SHA-256: a stolen database holds no
//! usable link. It must never be logged or stored in plain form.

use super::email::Email;
use super::refresh::{RefreshToken, TokenHash};
use super::user::{CredentialEpoch, UnixSeconds, UserId};
use std::fmt;
use std::str::FromStr;

/// How long a password-reset link stays valid.
pub const PASSWORD_RESET_TTL_SECONDS: i64 = 30 * 60;
/// How long a verification link stays valid.
pub const VERIFY_EMAIL_TTL_SECONDS: i64 = 24 * 60 * 60;
/// How long an invitation stays valid: a day, like a verification link,
/// since the invited person may not read mail within half an hour.
pub const INVITATION_TTL_SECONDS: i64 = 24 * 60 * 60;

/// What a one-time token proves when it comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    VerifyEmail,
    PasswordReset,
}

impl TokenPurpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
        }
    }

    /// How long a token of this purpose stays valid.
    pub const fn ttl_seconds(self) -> i64 {
        match self {
            Self::VerifyEmail => VERIFY_EMAIL_TTL_SECONDS,
            Self::PasswordReset => PASSWORD_RESET_TTL_SECONDS,
        }
    }
}

impl fmt::Display for TokenPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored purpose that is not one of ours.
#[derive(Debug, thiserror::Error)]
#[error("unknown token purpose")]
pub struct UnknownPurpose;

impl FromStr for TokenPurpose {
    type Err = UnknownPurpose;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::VerifyEmail, Self::PasswordReset].into_iter().find(|p| p.as_str() == s).ok_or(UnknownPurpose)
    }
}

/// Which message carries a token: its words, and how long it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MailKind {
    VerifyEmail,
    PasswordReset,
    /// An administrator's invitation to an account without a usable
    /// password: a [`TokenPurpose::PasswordReset`] token, confirmed like
    /// any reset, that sets the first password.
    Invitation,
}

impl MailKind {
    /// What the token proves when it comes back.
    pub const fn purpose(self) -> TokenPurpose {
        match self {
            Self::VerifyEmail => TokenPurpose::VerifyEmail,
            Self::PasswordReset | Self::Invitation => TokenPurpose::PasswordReset,
        }
    }

    /// How long the token this message carries stays valid.
    pub const fn ttl_seconds(self) -> i64 {
        match self {
            Self::Invitation => INVITATION_TTL_SECONDS,
            other => other.purpose().ttl_seconds(),
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::Invitation => "invitation",
        }
    }
}

/// A one-time token as stored: its hash, never the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountTokenRecord {
    pub token_hash: TokenHash,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    /// The user's epoch at issue: a later cut-off voids the token.
    pub credential_epoch: CredentialEpoch,
    pub expires_at: UnixSeconds,
}

/// One message to send. `Debug` redacts the token.
#[derive(Clone)]
pub struct Mail {
    pub to: Email,
    pub kind: MailKind,
    /// The one-time token the link carries.
    pub token: RefreshToken,
    /// How long the link stays valid, in seconds.
    pub expires_in_seconds: i64,
}

impl fmt::Debug for Mail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to.as_str())
            .field("kind", &self.kind)
            .field("token", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_round_trip_and_resets_expire_sooner_than_verifications() {
        for purpose in [TokenPurpose::VerifyEmail, TokenPurpose::PasswordReset] {
            assert_eq!(purpose.as_str().parse::<TokenPurpose>().unwrap(), purpose);
        }
        assert!("login".parse::<TokenPurpose>().is_err());
        assert_eq!(TokenPurpose::PasswordReset.ttl_seconds(), 1800);
        assert_eq!(TokenPurpose::VerifyEmail.ttl_seconds(), 86_400);
    }

    #[test]
    fn an_invitation_is_a_reset_token_that_lives_a_day() {
        assert_eq!(MailKind::Invitation.purpose(), TokenPurpose::PasswordReset);
        assert_eq!(MailKind::Invitation.ttl_seconds(), 86_400);
        assert_eq!(MailKind::PasswordReset.ttl_seconds(), 1800);
        assert_eq!(MailKind::VerifyEmail.purpose(), TokenPurpose::VerifyEmail);
    }

    #[test]
    fn a_mail_never_prints_its_token() {
        let token = RefreshToken::generate(&crate::core::testkit::SeededEntropy::new(7));
        let secret = token.expose().to_owned();
        let mail = Mail {
            to: Email::parse("ada@example.com").unwrap(),
            kind: MailKind::PasswordReset,
            token,
            expires_in_seconds: 1800,
        };
        assert!(!format!("{mail:?}").contains(&secret));
    }
}
