//! E-mail addresses from a register or login body: parsing never panics,
//! and an accepted address is in its normal form (bounded, NFC, parses to
//! itself).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::core::email::{Email, MAX_EMAIL_BYTES};
use unicode_normalization::is_nfc;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    if let Ok(email) = Email::parse(input) {
        let normal = email.as_str();
        assert!(normal.len() <= MAX_EMAIL_BYTES);
        assert!(is_nfc(normal));
        assert!(!normal.chars().any(char::is_control));
        assert!(normal.rsplit_once('@').is_some_and(|(_, domain)| domain.is_ascii()));
        assert_eq!(Email::parse(normal).as_ref(), Ok(&email));
    }
});
