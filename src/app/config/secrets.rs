//! Signing keys and token lifetimes. The key-length rule is the key ring's
//! ([`check_key_length`]); this module only names the variable when it
//! refuses. It also keeps the rule that production refuses placeholder
//! keys ([`PUBLISHED_PLACEHOLDERS`], [`placeholder_reason`]). Never logs or
//! formats a key.

use super::values::{invalid, non_empty, parse_int, split_list};
use super::{ConfigError, Deployment};
use crate::core::token::{check_key_length, TokenSettings};
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

/// The HS256 keys from `PORTCULLIS_JWT_KEYS` (or `SECRET_KEY`); the first
/// signs. Empty only in development, where the composition root makes a
/// random key for the life of the process.
#[derive(Clone, Debug, Default)]
pub struct SigningKeys(pub Vec<SecretString>);

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
        let (keys, variable): (Vec<SecretString>, _) = match (jwt_keys, secret_key) {
            (Some(keys), _) => {
                (split_list(keys).map(|k| SecretString::from(k.to_owned())).collect(), "PORTCULLIS_JWT_KEYS")
            }
            (None, Some(key)) => (vec![SecretString::from(key)], "SECRET_KEY"),
            (None, None) => (Vec::new(), "PORTCULLIS_JWT_KEYS"),
        };
        for (position, key) in keys.iter().enumerate() {
            check_key_length(position + 1, key.expose_secret().as_bytes())
                .map_err(|error| invalid(variable, error.to_string()))?;
        }
        if deployment == Deployment::Production {
            for (position, key) in keys.iter().enumerate() {
                if let Some(reason) = placeholder_reason(key.expose_secret()) {
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
        if keys.is_empty() && deployment == Deployment::Production {
            return Err(invalid(
                "PORTCULLIS_JWT_KEYS",
                "no signing key is set; production refuses to start without one (set one or more comma-separated keys of 32+ bytes)",
            ));
        }
        Ok(Self(keys))
    }
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

    fn production(variable: &str, value: &str) -> Result<SigningKeys, ConfigError> {
        match variable {
            "SECRET_KEY" => SigningKeys::validate(None, Some(value.to_owned()), None, None, Deployment::Production),
            _ => SigningKeys::validate(Some(value), None, None, None, Deployment::Production),
        }
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
            let development = SigningKeys::validate(Some(key), None, None, None, Deployment::Development);
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
