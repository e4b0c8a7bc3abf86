//! Where signing keys come from. A source hands back the key ring as it
//! stores it (a [`RingDocument`]); the core checks it (algorithms, states,
//! key material) and builds the ring that signs and verifies. Sources never
//! interpret keys, and nothing here formats one.

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use std::fmt;

/// Keys could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no signing keys are configured")]
    Missing,
    /// The source answered with something that is not a ring document; the
    /// message names the field, never a key.
    #[error("the key ring is malformed: {0}")]
    Malformed(String),
    #[error("secret source is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// One key as a source stores it.
///
/// The document format, shared by every source (a JSON value in a variable,
/// a file, or a Vault KV v2 secret's data):
///
/// ```json
/// {"keys": [
///   {"kid": "2026-11", "alg": "HS256", "state": "active", "key": "<32+ bytes>"},
///   {"kid": "2026-12", "alg": "EdDSA", "state": "verify-only", "key": "-----BEGIN PRIVATE KEY-----\n..."}
/// ]}
/// ```
///
/// `alg` and `state` stay strings here: which values are valid is the
/// core's rule, so every source refuses the same things with the same words.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// The key's public name. Absent for keys listed in the legacy
    /// `PORTCULLIS_JWT_KEYS` form: the core derives one from the key.
    #[serde(default)]
    pub kid: Option<String>,
    /// `HS256`, `EdDSA` or `ES256`.
    pub alg: String,
    /// `active` or `verify-only`.
    pub state: String,
    /// The HS256 secret, or the private key as PKCS#8 PEM.
    pub key: SecretString,
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// A key ring as fetched from its source, not yet checked.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingDocument {
    pub keys: Vec<KeyEntry>,
}

impl RingDocument {
    /// Parses the JSON document format.
    ///
    /// # Errors
    /// [`SecretError::Malformed`] naming what is wrong, never quoting a key.
    pub fn from_json(text: &str) -> Result<Self, SecretError> {
        serde_json::from_str(text).map_err(|error| SecretError::Malformed(describe(&error)))
    }

    /// Parses what `PORTCULLIS_JWT_KEYS` or its file holds: a JSON ring
    /// document when it starts with `{`, else the legacy comma-separated
    /// list of HS256 keys (blank entries skipped).
    ///
    /// # Errors
    /// [`SecretError::Malformed`] for a document that does not parse.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        if text.starts_with('{') {
            return Self::from_json(text);
        }
        let keys = text.split(',').map(str::trim).filter(|k| !k.is_empty());
        Ok(Self::from_hs256_list(keys.map(|k| SecretString::from(k.to_owned())).collect()))
    }

    /// Parses an already decoded JSON value (a Vault secret's `data`).
    ///
    /// # Errors
    /// [`SecretError::Malformed`] naming what is wrong, never quoting a key.
    pub fn from_value(value: serde_json::Value) -> Result<Self, SecretError> {
        serde_json::from_value(value).map_err(|error| SecretError::Malformed(describe(&error)))
    }

    /// The legacy form: HS256 secrets in order, the first active, the rest
    /// verify-only, each named by a hash of itself.
    pub fn from_hs256_list(secrets: Vec<SecretString>) -> Self {
        let keys = secrets
            .into_iter()
            .enumerate()
            .map(|(index, key)| KeyEntry {
                kid: None,
                alg: "HS256".to_owned(),
                state: if index == 0 { "active" } else { "verify-only" }.to_owned(),
                key,
            })
            .collect();
        Self { keys }
    }
}

/// serde_json's message without the input: its messages quote at most a
/// field name or a type, but a line/column is all the position we give.
fn describe(error: &serde_json::Error) -> String {
    match error.classify() {
        serde_json::error::Category::Data => {
            let text = error.to_string();
            // "invalid type: string \"…\", expected …" would quote a value.
            if text.contains('"') && !text.starts_with("unknown field") && !text.starts_with("missing field") {
                format!("a field has the wrong type (line {}, column {})", error.line(), error.column())
            } else {
                text
            }
        }
        _ => format!("not a JSON ring document (line {}, column {})", error.line(), error.column()),
    }
}

/// Supplies the key ring.
///
/// # Errors
/// [`SecretError::Missing`] when no key is configured (the caller decides
/// whether that is fatal), [`SecretError::Malformed`] for a document that
/// is not a ring, [`SecretError::Unavailable`] when the source cannot be
/// reached.
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn key_ring(&self) -> Result<RingDocument, SecretError>;
    /// A short name for logs: `env`, `file`, `vault`.
    fn name(&self) -> &'static str;
    /// The key that seals TOTP secrets, when this source carries one (the
    /// Vault secret's `mfa_key`), as of the last [`SecretSource::key_ring`].
    fn mfa_key(&self) -> Option<SecretString> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn the_document_format_parses_and_debug_never_shows_a_key() {
        let doc = RingDocument::from_json(
            r#"{"keys":[{"kid":"a","alg":"HS256","state":"active","key":"sekrit-sekrit-sekrit-sekrit-sekrit"}]}"#,
        )
        .unwrap();
        assert_eq!(doc.keys[0].key.expose_secret(), "sekrit-sekrit-sekrit-sekrit-sekrit");
        assert!(!format!("{doc:?}").contains("sekrit"));
    }

    #[test]
    fn malformed_documents_are_named_without_quoting_values() {
        for text in [
            r#"{"keys":[{"alg":"HS256","state":"active"}]}"#,
            r#"{"keys":[{"alg":"HS256","state":"active","key":"x","extra":1}]}"#,
            r#"{"keys":[{"alg":"HS256","state":"active","key":12345678}]}"#,
            r#"{"keys":"sekrit-value"}"#,
            "sekrit-value",
        ] {
            let SecretError::Malformed(message) = RingDocument::from_json(text).unwrap_err() else {
                panic!("expected Malformed for {text}")
            };
            assert!(!message.contains("sekrit"), "{message}");
        }
    }

    #[test]
    fn text_is_a_document_or_a_legacy_list() {
        let doc = RingDocument::parse(" a-key-of-thirty-two-bytes-or-more!!, ,b-key-of-thirty-two-bytes-or-more!!\n")
            .unwrap();
        assert_eq!(doc.keys.len(), 2);
        assert_eq!(doc.keys[1].key.expose_secret(), "b-key-of-thirty-two-bytes-or-more!!");
        let doc = RingDocument::parse(r#" {"keys":[{"kid":"k","alg":"EdDSA","state":"active","key":"pem"}]}"#).unwrap();
        assert_eq!(doc.keys[0].alg, "EdDSA");
        assert!(RingDocument::parse("").unwrap().keys.is_empty());
        assert!(matches!(RingDocument::parse("{not json"), Err(SecretError::Malformed(_))));
    }

    #[test]
    fn the_legacy_list_makes_the_first_key_active() {
        let doc =
            RingDocument::from_hs256_list(vec![SecretString::from("a".repeat(32)), SecretString::from("b".repeat(32))]);
        let states: Vec<&str> = doc.keys.iter().map(|k| k.state.as_str()).collect();
        assert_eq!(states, ["active", "verify-only"]);
        assert!(doc.keys.iter().all(|k| k.alg == "HS256" && k.kid.is_none()));
    }
}
