//! Passwords and the policy a new one must meet.
//!
//! What is hashed is the password in Unicode NFKC (NIST SP 800-63B §5.1.1.2),
//! so the same password typed on two keyboards, or pasted with full-width or
//! composed characters, is the same password. It must never hash anything
//! else, and never let bcrypt truncate:
//!
//! - bcrypt reads at most 72 bytes: a normalised form longer than that is
//!   refused rather than silently truncated, so two passwords that differ
//!   after byte 72 can never collide;
//! - control characters are refused in new passwords; NUL is never even
//!   tried at login, because bcrypt ends its input with a NUL and a
//!   71-byte password followed by NUL would otherwise match the 71-byte one.
//!
//! Hashes made before normalisation still verify: a login tries the NFKC
//! form first, then the password exactly as typed when that differs, so no
//! existing account is locked out (see [`Password::verification_forms`]).

use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use unicode_normalization::UnicodeNormalization;

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

/// A password as typed by a user, with its NFKC form. It is never printed:
/// `Debug` redacts it.
#[derive(Clone)]
pub struct Password {
    typed: SecretString,
    normalised: SecretString,
}

/// Why a new password is refused. Messages never repeat the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_BYTES} bytes of UTF-8")]
    TooLong,
    #[error("password must not contain control characters")]
    ControlCharacter,
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
        let typed: String = raw.into();
        let normalised: String = typed.nfkc().collect();
        Self { typed: SecretString::from(typed), normalised: SecretString::from(normalised) }
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
        if self.typed.expose_secret().chars().any(char::is_control) {
            return Err(PasswordError::ControlCharacter);
        }
        // Every length rule applies to what is hashed, not to what was typed.
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

    /// Whether some form a login tries fits in bcrypt's input without
    /// truncation.
    pub fn fits_bcrypt(&self) -> bool {
        self.verification_forms().next().is_some()
    }

    /// The password to hash: its NFKC form, for the hasher only.
    pub fn expose(&self) -> &str {
        self.normalised.expose_secret()
    }

    /// The forms a stored hash is checked against, in order: the NFKC form,
    /// which every hash made since normalisation holds, then the password as
    /// typed when it differs, which older hashes hold. A form longer than
    /// bcrypt's input or holding a NUL is never tried, so neither truncation
    /// nor bcrypt's NUL terminator can make two passwords match. The number
    /// of forms depends only on what was typed, never on the account, so it
    /// reveals nothing about whether the account exists.
    pub fn verification_forms(&self) -> impl Iterator<Item = &str> {
        let normalised = self.normalised.expose_secret();
        let typed = self.typed.expose_secret();
        let legacy = (typed != normalised).then_some(typed);
        std::iter::once(normalised)
            .chain(legacy)
            .filter(|form| form.len() <= MAX_PASSWORD_BYTES && !form.contains('\0'))
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

    #[test]
    fn control_characters_are_refused_in_new_passwords() {
        for control in ['\0', '\u{7}', '\t', '\n', '\u{7f}', '\u{85}'] {
            let raw = format!("{STRONG}{control}");
            assert_eq!(Password::new(raw, "alice").unwrap_err(), PasswordError::ControlCharacter, "{control:?}");
        }
    }

    #[test]
    fn a_password_with_a_nul_is_never_verified() {
        // A 71-byte password and the same followed by NUL are one bcrypt
        // input (bcrypt appends a NUL); the second must never be tried.
        let typed = format!("{}\0", "a".repeat(71));
        assert_eq!(Password::unchecked(typed).verification_forms().count(), 0);
        assert!(!Password::unchecked("x\0y-correct-Horse").fits_bcrypt());
    }

    #[test]
    fn the_nfkc_form_is_what_is_hashed() {
        // Full-width letters and a ligature fold to their plain forms.
        let wide = Password::new("ｃｏｒｒｅｃｔ-Horse-battery-staple-42", "alice").unwrap();
        assert_eq!(wide.expose(), "correct-Horse-battery-staple-42");
        let ligature = Password::unchecked("ﬁne-Horse-battery-staple");
        assert_eq!(ligature.expose(), "fine-Horse-battery-staple");
    }

    #[test]
    fn logins_try_the_nfkc_form_then_the_typed_one() {
        let composed = Password::unchecked("café-Horse-battery-staple");
        let decomposed = Password::unchecked("cafe\u{301}-Horse-battery-staple");
        let forms: Vec<&str> = decomposed.verification_forms().collect();
        assert_eq!(forms, [composed.expose(), "cafe\u{301}-Horse-battery-staple"]);
        // Already normalised: one form, one bcrypt.
        assert_eq!(composed.verification_forms().count(), 1);
    }

    #[test]
    fn length_rules_apply_to_the_normalised_form() {
        // U+FDFA is 3 bytes typed and 18 Arabic letters once normalised.
        let expanding = format!("{STRONG}{}", "\u{FDFA}".repeat(2));
        assert!(expanding.len() <= MAX_PASSWORD_BYTES);
        assert_eq!(Password::new(expanding.clone(), "alice").unwrap_err(), PasswordError::TooLong);
        // A hash made of the typed form before normalisation still verifies.
        assert_eq!(Password::unchecked(expanding.clone()).verification_forms().collect::<Vec<_>>(), [expanding]);
    }

    proptest! {
        #[test]
        fn accepted_passwords_always_fit_bcrypt(raw in "\\PC{0,90}") {
            if let Ok(password) = Password::new(raw.clone(), "someone") {
                prop_assert!(password.fits_bcrypt());
                prop_assert!(password.expose().len() <= MAX_PASSWORD_BYTES);
                prop_assert!(password.expose().chars().count() >= MIN_PASSWORD_CHARS);
                prop_assert!(!password.expose().chars().any(char::is_control));
            }
        }
    }
}
