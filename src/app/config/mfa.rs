//! `PORTCULLIS_MFA_KEY` (or `PORTCULLIS_MFA_KEY_FILE`): the AES-256-GCM key
//! that seals TOTP secrets at rest, 32 random bytes in base64
//! (`openssl rand -base64 32`). Never formats the value.

use super::values::invalid;
use super::ConfigError;
use crate::core::mfa_key::MFA_KEY_BYTES;
use base64::Engine;

/// The key's bytes. `Debug` shows nothing of them.
#[derive(Clone)]
pub struct MfaKeySetting(Vec<u8>);

impl std::fmt::Debug for MfaKeySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaKeySetting([REDACTED])")
    }
}

impl MfaKeySetting {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// # Errors
    /// [`ConfigError`] naming `PORTCULLIS_MFA_KEY` when the value is not
    /// base64 of exactly 32 bytes.
    pub fn validate(value: Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(value) = value.map(|value| value.trim().to_owned()).filter(|value| !value.is_empty()) else {
            return Ok(None);
        };
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let bytes = engines.iter().find_map(|engine| engine.decode(&value).ok()).ok_or_else(|| {
            invalid("PORTCULLIS_MFA_KEY", "is not base64; generate one with `openssl rand -base64 32`")
        })?;
        if bytes.len() != MFA_KEY_BYTES {
            return Err(invalid(
                "PORTCULLIS_MFA_KEY",
                format!("decodes to {} bytes; it must be {MFA_KEY_BYTES} (`openssl rand -base64 32`)", bytes.len()),
            ));
        }
        Ok(Some(Self(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_32_byte_base64_key_is_taken_and_never_shown() {
        let key = base64::engine::general_purpose::STANDARD.encode([0x5a; 32]);
        let setting = MfaKeySetting::validate(Some(format!("{key}\n"))).unwrap().unwrap();
        assert_eq!(setting.bytes(), &[0x5a; 32]);
        assert!(!format!("{setting:?}").contains(&key[..8]));
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xfb; 32]);
        assert!(MfaKeySetting::validate(Some(url_safe)).unwrap().is_some());
        assert!(MfaKeySetting::validate(None).unwrap().is_none());
        assert!(MfaKeySetting::validate(Some("  ".into())).unwrap().is_none());
    }

    #[test]
    fn other_lengths_and_non_base64_are_refused_naming_the_variable() {
        let short = base64::engine::general_purpose::STANDARD.encode([1; 16]);
        let message = MfaKeySetting::validate(Some(short)).unwrap_err().to_string();
        assert!(message.contains("PORTCULLIS_MFA_KEY") && message.contains("16 bytes"), "{message}");
        let message = MfaKeySetting::validate(Some("not base64 at all!".into())).unwrap_err().to_string();
        assert!(message.contains("PORTCULLIS_MFA_KEY") && !message.contains("at all"), "{message}");
    }
}
