//! Signing keys and token lifetimes: which source the key ring comes from
//! (`PORTCULLIS_SECRETS`) and, for `env`, the ring itself. The rules of a
//! key ring are the ring's own ([`KeyRing::from_document`],
//! [`check_key_length`]); this module only names the variable when it
//! refuses. It also keeps the rule that production refuses placeholder
//! keys ([`PUBLISHED_PLACEHOLDERS`], [`placeholder_reason`]). Never logs or
//! formats a key.

use super::raw::RawSettings;
use super::secret_files::value_or_file;
use super::values::{invalid, non_empty, parse_int, split_list};
use super::{ConfigError, Deployment};
#[cfg(feature = "vault")]
use crate::adapters::vault::VaultSettings;
use crate::core::keyring::KeyRing;
use crate::core::token::{check_key_length, TokenSettings};
use crate::ports::RingDocument;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashSet;

/// Key values published as examples in Portcullis's own files
/// (`.env.example`, README, SECURITY.md, compose files), compared without
/// case. Anyone can read them, so production refuses them. A test reads
/// those files and checks that every key value they show is refused.
pub const PUBLISHED_PLACEHOLDERS: &[&str] = &["replace-me-with-at-least-32-random-bytes-0000000000"];

/// Words that mark a value as a stand-in for a key. Each is long enough
/// that a random key holds it by chance less than once in a billion.
const PLACEHOLDER_WORDS: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "replaceme",
    "replace-me",
    "replace_me",
    "placeholder",
    "example",
    "insecure",
];

/// The fewest distinct characters a key may have: 32 random bytes in hex
/// have fewer than this about four times in a hundred million.
const MIN_DISTINCT_CHARACTERS: usize = 8;

/// Why `key` is a stand-in rather than a secret, if it is one: a published
/// example, a placeholder word, a `secret…` prefix, or a few characters
/// repeated. The reason never quotes the key.
pub fn placeholder_reason(key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    if PUBLISHED_PLACEHOLDERS.iter().any(|published| lower == *published) {
        return Some("is an example value published in Portcullis's documentation");
    }
    if lower.starts_with("secret") || PLACEHOLDER_WORDS.iter().any(|word| lower.contains(word)) {
        return Some("reads as a placeholder, not a random key");
    }
    let bytes = key.as_bytes();
    let repeats_a_short_unit =
        (1..=16).any(|unit| unit < bytes.len() && bytes.chunks(unit).all(|chunk| *chunk == bytes[..chunk.len()]));
    if repeats_a_short_unit || key.chars().collect::<HashSet<_>>().len() < MIN_DISTINCT_CHARACTERS {
        return Some("repeats a few characters, not a random key");
    }
    None
}
use std::path::PathBuf;

/// Where the key ring comes from.
#[derive(Clone, Debug)]
pub enum SigningKeys {
    /// `PORTCULLIS_JWT_KEYS` (or its file, or `SECRET_KEY`), read once at
    /// start. Empty only in development, where the composition root makes
    /// a random key for the life of the process.
    Env(RingDocument),
    /// `PORTCULLIS_SECRETS=file`: the file `PORTCULLIS_JWT_KEYS_FILE`
    /// names, read again on every fetch.
    File(PathBuf),
    /// `PORTCULLIS_SECRETS=vault`: a Vault KV v2 secret.
    #[cfg(feature = "vault")]
    Vault(VaultSettings),
}

impl SigningKeys {
    /// The source's name, as the start line and `/readyz` give it.
    pub fn source_name(&self) -> &'static str {
        match self {
            Self::Env(_) => "env",
            Self::File(_) => "file",
            #[cfg(feature = "vault")]
            Self::Vault(_) => "vault",
        }
    }

    /// # Errors
    /// [`ConfigError`] when `PORTCULLIS_SECRETS` names a source this build
    /// lacks, when a source's settings are missing or contradict each other,
    /// when a legacy key is too short or a ring document does not parse,
    /// or when production has no key.
    pub fn validate(raw: &RawSettings, deployment: Deployment) -> Result<Self, ConfigError> {
        let source = raw.secrets.as_deref().map(str::trim);
        if !matches!(source, Some("vault")) {
            for (variable, value) in
                [("PORTCULLIS_VAULT_PATH", &raw.vault_path), ("PORTCULLIS_VAULT_AUTH_MOUNT", &raw.vault_auth_mount)]
            {
                if value.is_some() {
                    return Err(invalid(variable, "is only read when PORTCULLIS_SECRETS=vault"));
                }
            }
        }
        match source {
            None | Some("env") => Self::from_environment(raw, deployment),
            Some("file") => {
                refuse_inline_keys(raw, "file", "PORTCULLIS_JWT_KEYS_FILE is read again on every fetch")?;
                let path = raw.jwt_keys_file.as_deref().map(str::trim).filter(|p| !p.is_empty()).ok_or_else(|| {
                    invalid("PORTCULLIS_JWT_KEYS_FILE", "must name the key-ring file when PORTCULLIS_SECRETS=file")
                })?;
                Ok(Self::File(PathBuf::from(path)))
            }
            Some("vault") => Self::from_vault(raw, deployment),
            Some(other) => {
                Err(invalid("PORTCULLIS_SECRETS", format!("{other:?} is not one of `env`, `file`, `vault`")))
            }
        }
    }

    #[cfg(feature = "vault")]
    fn from_vault(raw: &RawSettings, deployment: Deployment) -> Result<Self, ConfigError> {
        refuse_inline_keys(raw, "vault", "the ring is the Vault secret at PORTCULLIS_VAULT_PATH")?;
        if raw.jwt_keys_file.is_some() {
            return Err(invalid("PORTCULLIS_JWT_KEYS_FILE", "is not read when PORTCULLIS_SECRETS=vault; unset it"));
        }
        super::vault::validate(raw, deployment).map(Self::Vault)
    }

    #[cfg(not(feature = "vault"))]
    fn from_vault(_: &RawSettings, _: Deployment) -> Result<Self, ConfigError> {
        Err(invalid(
            "PORTCULLIS_SECRETS",
            "`vault` needs the `vault` feature this build lacks (cargo build --features vault); use `env` or `file`",
        ))
    }

    fn from_environment(raw: &RawSettings, deployment: Deployment) -> Result<Self, ConfigError> {
        let from_file = raw.jwt_keys_file.is_some();
        let jwt_keys = value_or_file(
            "PORTCULLIS_JWT_KEYS",
            raw.jwt_keys.clone(),
            "PORTCULLIS_JWT_KEYS_FILE",
            raw.jwt_keys_file.clone(),
        )?;
        let variable = match (from_file, &jwt_keys) {
            (true, _) => "PORTCULLIS_JWT_KEYS_FILE",
            (false, None) if raw.secret_key.is_some() => "SECRET_KEY",
            (false, _) => "PORTCULLIS_JWT_KEYS",
        };
        let document = match (jwt_keys, raw.secret_key.clone()) {
            (Some(text), _) if text.trim_start().starts_with('{') => {
                // A ring document: the core judges its keys when it builds the ring.
                RingDocument::parse(&text).map_err(|error| invalid(variable, error.to_string()))?
            }
            (Some(list), _) => {
                legacy_list(split_list(&list).map(|k| SecretString::from(k.to_owned())).collect(), variable)?
            }
            (None, Some(key)) => legacy_list(vec![SecretString::from(key)], "SECRET_KEY")?,
            (None, None) => RingDocument::default(),
        };
        if !document.keys.is_empty() {
            KeyRing::from_document(&document).map_err(|error| invalid(variable, error.to_string()))?;
        }
        if deployment == Deployment::Production {
            let hs256 = document.keys.iter().filter(|entry| entry.alg.eq_ignore_ascii_case("HS256"));
            for (position, entry) in hs256.enumerate() {
                if let Some(reason) = placeholder_reason(entry.key.expose_secret()) {
                    return Err(invalid(
                        variable,
                        format!(
                            "key #{} {reason}; production refuses placeholder keys. Generate one with \
                             `openssl rand -base64 48` (or `portcullis keys generate --alg hs256 --raw`)",
                            position + 1
                        ),
                    ));
                }
            }
        }
        if document.keys.is_empty() && deployment == Deployment::Production {
            return Err(invalid(
                "PORTCULLIS_JWT_KEYS",
                "no signing key is set; production refuses to start without one (set one or more comma-separated keys of 32+ bytes, a ring document, or PORTCULLIS_SECRETS=file|vault)",
            ));
        }
        Ok(Self::Env(document))
    }
}

/// The legacy comma-separated HS256 list, each key at least 32 bytes.
fn legacy_list(keys: Vec<SecretString>, variable: &'static str) -> Result<RingDocument, ConfigError> {
    for (position, key) in keys.iter().enumerate() {
        check_key_length(position + 1, key.expose_secret().as_bytes())
            .map_err(|error| invalid(variable, error.to_string()))?;
    }
    Ok(RingDocument::from_hs256_list(keys))
}

/// Keys given inline while another source is chosen would be ignored:
/// refuse them, so nobody believes they are in use.
fn refuse_inline_keys(raw: &RawSettings, source: &str, why: &str) -> Result<(), ConfigError> {
    for (variable, value) in [("PORTCULLIS_JWT_KEYS", &raw.jwt_keys), ("SECRET_KEY", &raw.secret_key)] {
        if value.is_some() {
            return Err(invalid(variable, format!("is not read when PORTCULLIS_SECRETS={source} ({why}); unset it")));
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(variable: &str, value: &str, deployment: Deployment) -> Result<SigningKeys, ConfigError> {
        let mut raw = RawSettings::default();
        match variable {
            "SECRET_KEY" => raw.secret_key = Some(value.to_owned()),
            _ => raw.jwt_keys = Some(value.to_owned()),
        }
        SigningKeys::validate(&raw, deployment)
    }

    fn production(variable: &str, value: &str) -> Result<SigningKeys, ConfigError> {
        keys(variable, value, Deployment::Production)
    }

    /// Every `PORTCULLIS_JWT_KEYS=` or `SECRET_KEY=` value shown in `file`,
    /// commented out or not; `$(…)` commands and `…` elisions are not values.
    fn key_values(file: &str) -> Vec<(&'static str, String)> {
        let text = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap_or_default();
        let mut found = Vec::new();
        for line in text.lines() {
            for variable in ["PORTCULLIS_JWT_KEYS", "SECRET_KEY"] {
                for separator in ["=", ": "] {
                    let needle = format!("{variable}{separator}");
                    let Some(start) = line.find(&needle) else { continue };
                    if line[..start].ends_with('_') {
                        continue; // PORTCULLIS_SECRET_KEY is another (refused) name
                    }
                    let value = line[start + needle.len()..].split_whitespace().next().unwrap_or("");
                    let value = value.trim_matches(|c| c == '"' || c == '\'' || c == '`');
                    if !value.contains('$') && !value.contains('…') {
                        found.push((variable, value.to_owned()));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn production_refuses_every_key_the_env_example_shows_naming_the_variable() {
        let values = key_values(".env.example");
        assert!(values.iter().any(|(variable, _)| *variable == "PORTCULLIS_JWT_KEYS"), "{values:?}");
        for (variable, value) in values {
            let error = production(variable, &value).expect_err(&format!("{variable} example was accepted"));
            assert!(error.to_string().starts_with(variable), "{error}");
            if !value.is_empty() {
                assert!(!error.to_string().contains(&value), "the message quotes the key: {error}");
            }
        }
    }

    #[test]
    fn production_refuses_every_key_value_the_docs_and_compose_files_show() {
        for file in ["README.md", "SECURITY.md", "compose.yaml", "deploy/README.md"] {
            for (variable, value) in key_values(file) {
                assert!(production(variable, &value).is_err(), "{file}: a {variable} example is accepted");
            }
        }
    }

    #[test]
    fn obvious_placeholders_are_refused_in_production_only() {
        for key in [
            "changeme-changeme-changeme-changeme",
            "CHANGE-ME-to-a-long-random-key-please",
            "secret-key-for-portcullis-production",
            "k".repeat(32).as_str(),
            "abcabcabcabcabcabcabcabcabcabcabcabc",
            "0123456701234567012345670123456701234567",
            "aaaaaaaabbbbbbbbccccccccdddddddd",
            "my-placeholder-key-that-is-long-enough",
            "REPLACE-ME-WITH-AT-LEAST-32-RANDOM-BYTES-0000000000",
        ] {
            let error = production("PORTCULLIS_JWT_KEYS", key).expect_err(key).to_string();
            assert!(
                error.contains("PORTCULLIS_JWT_KEYS") && error.contains("key #1") && !error.contains(key),
                "{error}"
            );
            let development = keys("PORTCULLIS_JWT_KEYS", key, Deployment::Development);
            assert!(development.is_ok(), "{key} refused in development");
        }
        let second = production("PORTCULLIS_JWT_KEYS", "Zx8q2LmN4vR7tY1wK9pB3cF6hJ0sD5gA,changeme-changeme-changeme");
        assert!(second.unwrap_err().to_string().contains("key #2"));
        assert!(production("SECRET_KEY", "secretsecretsecretsecretsecretsecret")
            .unwrap_err()
            .to_string()
            .contains("SECRET_KEY"));
    }

    #[test]
    fn random_keys_are_accepted_in_production() {
        use base64::Engine;
        use sha2::Digest;
        for seed in 0..200u64 {
            // A deterministic stand-in for random bytes: each seed's SHA-256.
            let bytes = sha2::Sha256::digest(seed.to_le_bytes());
            let more = sha2::Sha256::digest((seed + 1_000_000).to_le_bytes());
            let base64 = base64::engine::general_purpose::STANDARD.encode([bytes.as_slice(), &more[..16]].concat());
            let hex = crate::core::hex::encode(&bytes);
            for key in [base64, hex] {
                assert!(placeholder_reason(&key).is_none(), "{key} taken for a placeholder");
                assert!(production("PORTCULLIS_JWT_KEYS", &key).is_ok());
            }
        }
    }
}
