//! E-mail addresses: trimmed, at most 254 bytes, valid syntax, and compared
//! case-insensitively by storing them normalised to lower case.

use std::fmt;

/// The longest address accepted, in bytes (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_BYTES: usize = 254;

/// A syntactically valid, normalised e-mail address.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a string is not an acceptable e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email must not be empty")]
    Empty,
    #[error("email must be at most {MAX_EMAIL_BYTES} bytes")]
    TooLong,
    #[error("email is not a valid address")]
    Invalid,
}

impl Email {
    /// Parses user input: trims surrounding whitespace, checks length and
    /// syntax, and lower-cases the result.
    ///
    /// # Errors
    /// [`EmailError`] says which rule the input broke.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > MAX_EMAIL_BYTES {
            return Err(EmailError::TooLong);
        }
        let normalised = trimmed.to_lowercase();
        // `to_lowercase` can grow some characters; re-check after it.
        if normalised.len() > MAX_EMAIL_BYTES {
            return Err(EmailError::TooLong);
        }
        let parsed = email_address::EmailAddress::parse_with_options(
            &normalised,
            email_address::Options::default().without_display_text().without_domain_literal(),
        )
        .map_err(|_| EmailError::Invalid)?;
        // A usable mailbox needs a dotted domain; `user@localhost` is not one.
        if !parsed.domain().contains('.') || parsed.domain().ends_with('.') {
            return Err(EmailError::Invalid);
        }
        Ok(Self(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the last `@`.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or(self.0.as_str(), |(local, _)| local)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.0).finish()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        let email = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice@example.com");
        assert_eq!(email.local_part(), "alice");
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        for bad in [
            "",
            "   ",
            "alice",
            "alice@",
            "@example.com",
            "a b@example.com",
            "alice@localhost",
            "Alice <alice@example.com>",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn addresses_over_254_bytes_are_rejected() {
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(190));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_valid_results_are_normalised(input in ".{0,300}") {
            if let Ok(email) = Email::parse(&input) {
                prop_assert!(email.as_str().len() <= MAX_EMAIL_BYTES);
                prop_assert_eq!(email.as_str(), email.as_str().to_lowercase());
                prop_assert_eq!(email.as_str(), email.as_str().trim());
                prop_assert_eq!(Email::parse(email.as_str()).unwrap(), email);
            }
        }

        #[test]
        fn case_does_not_matter(local in "[a-z]{1,20}", domain in "[a-z]{1,20}\\.[a-z]{2,5}") {
            let lower = Email::parse(&format!("{local}@{domain}")).unwrap();
            let upper = Email::parse(&format!("{}@{}", local.to_uppercase(), domain.to_uppercase())).unwrap();
            prop_assert_eq!(lower, upper);
        }
    }
}
