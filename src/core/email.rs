//! E-mail addresses: trimmed, at most 254 bytes, valid syntax, and stored in
//! one normal form, so that two spellings of one mailbox are one account and
//! a look-alike of an address is refused rather than registered beside it.
//!
//! The normal form is the local part lower-cased and in Unicode NFC, and the
//! domain converted to ASCII with IDNA (UTS #46, the WHATWG "be strict"
//! profile). Before that, every non-ASCII character must be allowed in
//! identifiers by UTS #39's General Security Profile, which refuses
//! invisible characters (zero-width spaces and joiners, bidirectional
//! controls, soft hyphens, variation selectors) along with control
//! characters, symbols and unassigned code points. A local part must then be
//! single-script (UTS #39 §5.1) and, when it is not ASCII, must not look
//! exactly like an ASCII one (its UTS #39 skeleton is not ASCII).
//!
//! This module must never look an address up, nor accept one it cannot
//! give back in exactly this form.

use std::fmt;
use unicode_normalization::UnicodeNormalization;
use unicode_security::{GeneralSecurityProfile, MixedScript};

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
    #[error("email must not contain invisible, control or symbol characters")]
    DisallowedCharacter,
    #[error("email's local part must not mix scripts or imitate another address")]
    Confusable,
}

impl Email {
    /// Parses user input: trims surrounding whitespace, checks length,
    /// characters and syntax, and normalises the result.
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
        let (local, domain) = trimmed.rsplit_once('@').ok_or(EmailError::Invalid)?;
        let local: String = local.to_lowercase().nfc().collect();
        // Judged after normalisation: a character allowed decomposed may not
        // be once composed, and what is judged must be what is stored.
        let allowed = |c: char| !c.is_control() && (c.is_ascii() || c.identifier_allowed());
        if !local.chars().chain(domain.chars()).all(allowed) {
            return Err(EmailError::DisallowedCharacter);
        }
        if !local.as_str().is_single_script() || looks_like_ascii(&local) {
            return Err(EmailError::Confusable);
        }
        let domain = idna::domain_to_ascii_strict(domain).map_err(|_| EmailError::Invalid)?;
        let normalised = format!("{local}@{domain}");
        // Lower-casing and Punycode can both grow the address; re-check.
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

/// Whether a non-ASCII local part is, to the eye, an ASCII one: a whole-
/// script look-alike such as Cyrillic `раураl` for `paypal`.
fn looks_like_ascii(local: &str) -> bool {
    !local.is_ascii() && unicode_security::skeleton(local).all(|c| c.is_ascii())
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

    #[test]
    fn nfc_and_nfd_spellings_are_one_address() {
        let composed = Email::parse("caf\u{e9}@example.com").unwrap();
        let decomposed = Email::parse("cafe\u{301}@example.com").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(composed.as_str(), "caf\u{e9}@example.com");
        assert_eq!(Email::parse("CAFE\u{301}@Example.com").unwrap(), composed);
    }

    #[test]
    fn the_domain_is_stored_in_ascii() {
        let email = Email::parse("hans@B\u{fc}cher.example").unwrap();
        assert_eq!(email.as_str(), "hans@xn--bcher-kva.example");
        assert_eq!(Email::parse("hans@xn--bcher-kva.example").unwrap(), email);
        // A full-width dot is a dot to IDNA, but no identifier character.
        assert_eq!(Email::parse("hans@example\u{ff0e}com"), Err(EmailError::DisallowedCharacter));
        assert_eq!(Email::parse("hans@exa_mple.com"), Err(EmailError::Invalid));
    }

    #[test]
    fn invisible_and_control_characters_are_refused() {
        for hidden in [
            "\u{200b}", "\u{200c}", "\u{200d}", "\u{2060}", "\u{feff}", "\u{ad}", "\u{202e}", "\u{fe0f}", "\0",
            "\u{7}", "\u{85}",
        ] {
            for address in [format!("ali{hidden}ce@example.com"), format!("alice@exa{hidden}mple.com")] {
                assert_eq!(Email::parse(&address), Err(EmailError::DisallowedCharacter), "{address:?}");
            }
        }
    }

    #[test]
    fn an_accepted_address_parses_to_itself_once_composed() {
        // Found by the `email` fuzz target: `w` + U+0301 was allowed
        // decomposed, but its NFC form U+1E83 is not an identifier character,
        // so the stored address did not parse again.
        let input = "p\u{31b}.4w\u{301}h@caf\u{301}n\u{301}e\u{301}.en";
        match Email::parse(input) {
            Ok(email) => assert_eq!(Email::parse(email.as_str()), Ok(email)),
            Err(error) => assert_eq!(Email::parse(&input.nfc().collect::<String>()), Err(error)),
        }
    }

    #[test]
    fn a_cyrillic_look_alike_of_a_latin_address_is_refused() {
        // One Cyrillic `а` (U+0430) among Latin letters: mixed scripts.
        assert_eq!(Email::parse("\u{430}lice@example.com"), Err(EmailError::Confusable));
        // Wholly Cyrillic, and to the eye `paypal`.
        assert_eq!(Email::parse("\u{440}\u{430}\u{443}\u{440}\u{430}l@example.com"), Err(EmailError::Confusable));
        assert_eq!(Email::parse("\u{440}\u{430}\u{443}\u{440}\u{430}\u{4cf}@example.com"), Err(EmailError::Confusable));
    }

    #[test]
    fn single_script_addresses_in_other_scripts_are_accepted() {
        for address in [
            "jos\u{e9}.garc\u{ed}a@example.com",
            "stra\u{df}e@example.de",
            "\u{434}\u{43c}\u{438}\u{442}\u{440}\u{438}\u{439}@example.ru",
            "\u{3b1}\u{3bb}\u{3ad}\u{3be}\u{3b1}\u{3bd}\u{3b4}\u{3c1}\u{3bf}\u{3c2}@example.gr",
            "\u{5c71}\u{7530}\u{4e2d}\u{592a}\u{90ce}@example.jp",
            "user+tag-1@example.com",
        ] {
            assert!(Email::parse(address).is_ok(), "{address:?} should be accepted");
        }
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
