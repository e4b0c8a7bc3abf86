//! Signing keys and token lifetimes. The rules of a key ring are the
//! ring's own ([`KeyRing::from_document`]); this module only names the
//! variable when it refuses. Never logs or formats a key.

use super::values::{invalid, non_empty, parse_int};
use super::{ConfigError, Deployment};
use crate::core::keyring::KeyRing;
use crate::core::token::TokenSettings;
use crate::ports::RingDocument;
use secrecy::SecretString;

/// The key ring from `PORTCULLIS_JWT_KEYS`: a JSON ring document, or the
/// legacy comma-separated HS256 list whose first key signs (`SECRET_KEY`
/// for a single key). Empty only in development, where the composition
/// root makes a random key for the life of the process.
#[derive(Clone, Debug, Default)]
pub struct SigningKeys(pub RingDocument);

impl SigningKeys {
    /// # Errors
    /// [`ConfigError`] when a key is too short, when `PORTCULLIS_SECRETS`
    /// asks for a source this build lacks, or when production has no key.
    pub fn validate(
        jwt_keys: Option<&str>,
        secret_key: Option<String>,
        secrets: Option<&str>,
        vault_path: Option<&str>,
        deployment: Deployment,
    ) -> Result<Self, ConfigError> {
        match secrets.map(str::trim) {
            None | Some("env") => {}
            Some("vault") => {
                return Err(invalid(
                    "PORTCULLIS_SECRETS",
                    "`vault` is planned but this build has no Vault adapter; use `env`",
                ))
            }
            Some(other) => return Err(invalid("PORTCULLIS_SECRETS", format!("{other:?} is not `env`"))),
        }
        if vault_path.is_some() {
            return Err(invalid(
                "PORTCULLIS_VAULT_PATH",
                "Vault is planned but this build has no Vault adapter; keys come from PORTCULLIS_JWT_KEYS",
            ));
        }
        let (keys, variable) = match (jwt_keys, secret_key) {
            (Some(text), _) => (
                RingDocument::parse(text).map_err(|error| invalid("PORTCULLIS_JWT_KEYS", error.to_string()))?,
                "PORTCULLIS_JWT_KEYS",
            ),
            (None, Some(key)) => (RingDocument::from_hs256_list(vec![SecretString::from(key)]), "SECRET_KEY"),
            (None, None) => (RingDocument::default(), "PORTCULLIS_JWT_KEYS"),
        };
        if !keys.keys.is_empty() {
            KeyRing::from_document(&keys).map_err(|error| invalid(variable, error.to_string()))?;
        }
        if keys.keys.is_empty() && deployment == Deployment::Production {
            return Err(invalid(
                "PORTCULLIS_JWT_KEYS",
                "no signing key is set; production refuses to start without one (set one or more comma-separated keys of 32+ bytes)",
            ));
        }
        Ok(Self(keys))
    }
}

/// How often the key ring is re-read: `PORTCULLIS_SECRETS_REFRESH_SECONDS`,
/// 1 second to a day, 60 by default.
///
/// # Errors
/// [`ConfigError`] naming a value out of range.
pub fn validate_refresh(seconds: Option<&str>) -> Result<std::time::Duration, ConfigError> {
    let seconds = parse_int("PORTCULLIS_SECRETS_REFRESH_SECONDS", seconds, 60, 1, 86_400)?;
    Ok(std::time::Duration::from_secs(seconds.unsigned_abs()))
}

/// # Errors
/// [`ConfigError`] naming a lifetime out of range or an empty issuer or audience.
pub fn validate_tokens(
    access_ttl_seconds: Option<&str>,
    issuer: Option<String>,
    audience: Option<String>,
) -> Result<TokenSettings, ConfigError> {
    let access_ttl_seconds = parse_int("PORTCULLIS_ACCESS_TOKEN_TTL_SECONDS", access_ttl_seconds, 900, 30, 86_400)?;
    let issuer = non_empty("PORTCULLIS_JWT_ISSUER", issuer, "portcullis")?;
    let audience = non_empty("PORTCULLIS_JWT_AUDIENCE", audience, "portcullis-api")?;
    Ok(TokenSettings { issuer, audience, access_ttl_seconds, leeway_seconds: 30 })
}

/// Lifetime and reuse grace of refresh tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshSettings {
    pub ttl_seconds: i64,
    /// How long a rotated refresh token still returns the same child; 0: never.
    pub grace_seconds: i64,
}

impl RefreshSettings {
    /// # Errors
    /// [`ConfigError`] naming a value out of range.
    pub fn validate(ttl_seconds: Option<&str>, grace_seconds: Option<&str>) -> Result<Self, ConfigError> {
        Ok(Self {
            ttl_seconds: parse_int("PORTCULLIS_REFRESH_TOKEN_TTL_SECONDS", ttl_seconds, 2_592_000, 60, 31_536_000)?,
            grace_seconds: parse_int("PORTCULLIS_REFRESH_REUSE_GRACE_SECONDS", grace_seconds, 10, 0, 300)?,
        })
    }
}
