//! Passwords and the policy a new one must meet.
//!
//! bcrypt reads at most 72 bytes: anything longer is refused here rather than
//! silently truncated, so two passwords that differ after byte 72 can never
//! collide.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// Fewest characters (Unicode scalar values) a new password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most bytes of UTF-8 a password may have: bcrypt's input limit.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// zxcvbn score (0..=4) a new password must reach.
pub const MIN_STRENGTH_SCORE: u8 = 3;
/// Local parts shorter than this are not checked for containment: a one- or
/// two-letter local part would forbid most passwords without adding safety,
/// and the strength estimator already sees the whole address.
pub const MIN_LOCAL_PART_CHECKED: usize = 3;

/// A password as typed by a user. It is never printed: `Debug` redacts it.
#[derive(Clone)]
pub struct Password(SecretString);

/// Why a new password is refused. Messages never repeat the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_BYTES} bytes of UTF-8")]
    TooLong,
    #[error("password must not contain the email address's local part")]
    ContainsEmail,
    #[error("password is too easy to guess{}", hint(.0))]
    TooGuessable(Option<String>),
}

#[allow(clippy::ref_option, reason = "thiserror hands the field over by reference")]
fn hint(suggestion: &Option<String>) -> String {
    suggestion.as_ref().map(|s| format!(": {s}")).unwrap_or_default()
}

impl Password {
    /// Wraps a password without judging it: for checking a login, where the
    /// only question is whether it matches.
    pub fn unchecked(raw: impl Into<String>) -> Self {
        Self(SecretString::from(raw.into()))
    }

    /// Accepts a password for an account with `email`'s local part, or says
    /// which rule it breaks.
    ///
    /// # Errors
    /// [`PasswordError`] for the first rule broken, checked cheapest first.
    pub fn new(raw: impl Into<String>, email_local_part: &str) -> Result<Self, PasswordError> {
        let password = Self::unchecked(raw);
        password.check_policy(email_local_part)?;
        Ok(password)
    }

    fn check_policy(&self, email_local_part: &str) -> Result<(), PasswordError> {
        let raw = self.expose();
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        if raw.chars().count() < MIN_PASSWORD_CHARS {
            return Err(PasswordError::TooShort);
        }
        let local = email_local_part.to_lowercase();
        if local.chars().count() >= MIN_LOCAL_PART_CHECKED && raw.to_lowercase().contains(&local) {
            return Err(PasswordError::ContainsEmail);
        }
        let estimate = zxcvbn::zxcvbn(raw, &[email_local_part]);
        if u8::from(estimate.score()) < MIN_STRENGTH_SCORE {
            let suggestion = estimate.feedback().and_then(|f| f.suggestions().first().map(ToString::to_string));
            return Err(PasswordError::TooGuessable(suggestion));
        }
        Ok(())
    }

    /// Whether the password fits in bcrypt's input without truncation.
    pub fn fits_bcrypt(&self) -> bool {
        self.expose().len() <= MAX_PASSWORD_BYTES
    }

    /// The password itself, for the hasher only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// A bcrypt hash in its modular-crypt string form. `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(encoded: impl Into<String>) -> Self {
        Self(encoded.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STRONG: &str = "correct-Horse-battery-staple-42";

    #[test]
    fn a_long_unusual_password_is_accepted() {
        assert!(Password::new(STRONG, "alice").is_ok());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(Password::new("Xy7#kq2!", "alice").unwrap_err(), PasswordError::TooShort);
    }

    #[test]
    fn passwords_over_72_bytes_are_refused_not_truncated() {
        let long = format!("{STRONG}{}", "é".repeat(30));
        assert!(long.chars().count() < 72 && long.len() > 72);
        assert_eq!(Password::new(long, "alice").unwrap_err(), PasswordError::TooLong);
        let exactly = "tH3-quiet-Orchard-sings;7-violet-Lanterns-drift_over-42-copper-Bridges!!";
        assert_eq!(exactly.len(), 72);
        assert!(Password::new(exactly, "alice").is_ok());
    }

    #[test]
    fn guessable_passwords_are_refused() {
        for weak in ["password1234", "aaaaaaaaaaaaaaaa", "qwertyuiop123"] {
            assert!(
                matches!(Password::new(weak, "alice"), Err(PasswordError::TooGuessable(_))),
                "{weak} should be too guessable"
            );
        }
    }

    #[test]
    fn passwords_containing_the_local_part_are_refused() {
        assert_eq!(Password::new("zq-ALICEsmith-9!vX", "alicesmith").unwrap_err(), PasswordError::ContainsEmail);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let shown = format!("{:?} {:?}", Password::unchecked(STRONG), PasswordHash::new("$2b$12$abc"));
        assert!(!shown.contains(STRONG) && !shown.contains("$2b$"));
    }

    proptest! {
        #[test]
        fn accepted_passwords_always_fit_bcrypt(raw in "\\PC{0,90}") {
            if let Ok(password) = Password::new(raw.clone(), "someone") {
                prop_assert!(password.fits_bcrypt());
                prop_assert!(raw.chars().count() >= MIN_PASSWORD_CHARS);
            }
        }
    }
}
