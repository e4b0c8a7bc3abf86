//! Refresh tokens: 256 random bits, base64url, stored only as a hash.
//!
//! When a token is rotated, its child is derived from it with a keyed hash
//! instead of drawn at random, so that within the grace window any replica
//! can hand out the very same child again without the child ever being
//! stored in plain form.

use super::token::KeyRing;
use crate::ports::Entropy;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;

/// Length of a refresh token's random part, in bytes.
pub const REFRESH_TOKEN_BYTES: usize = 32;
const ENCODED_LEN: usize = 43;
const CHILD_LABEL: &str = "portcullis-refresh-rotation";

/// The SHA-256 of a refresh token: the only form in which it is stored, so
/// a stolen database yields no usable token.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TokenHash([u8; 32]);

/// Stored bytes that are not a SHA-256.
#[derive(Debug, thiserror::Error)]
#[error("a token hash is 32 bytes, not {0}")]
pub struct WrongHashLength(usize);

impl TokenHash {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl TryFrom<&[u8]> for TokenHash {
    type Error = WrongHashLength;
    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        <[u8; 32]>::try_from(bytes).map(Self).map_err(|_| WrongHashLength(bytes.len()))
    }
}

/// A refresh token in its client form. `Debug` redacts it.
#[derive(Clone)]
pub struct RefreshToken(SecretString);

/// The string is not a refresh token Portcullis could have issued.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed refresh token")]
pub struct MalformedRefreshToken;

impl RefreshToken {
    /// A fresh random token.
    pub fn generate(entropy: &dyn Entropy) -> Self {
        let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
        entropy.fill(&mut bytes);
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8; REFRESH_TOKEN_BYTES]) -> Self {
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Accepts only the shape this service issues: 43 base64url characters.
    ///
    /// # Errors
    /// [`MalformedRefreshToken`] for anything else.
    pub fn parse(input: &str) -> Result<Self, MalformedRefreshToken> {
        if input.len() != ENCODED_LEN {
            return Err(MalformedRefreshToken);
        }
        let bytes = URL_SAFE_NO_PAD.decode(input).map_err(|_| MalformedRefreshToken)?;
        let bytes: [u8; REFRESH_TOKEN_BYTES] = bytes.try_into().map_err(|_| MalformedRefreshToken)?;
        // Reject non-canonical encodings, so one token has one spelling.
        let token = Self::from_bytes(&bytes);
        if token.expose() != input {
            return Err(MalformedRefreshToken);
        }
        Ok(token)
    }

    /// The SHA-256 under which the token is stored.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.expose().as_bytes()).into())
    }

    /// The token this one rotates into: the same for every call, replica and
    /// retry, and unpredictable without the signing key.
    pub fn child(&self, ring: &KeyRing) -> Self {
        Self::from_bytes(&ring.derive(CHILD_LABEL, self.expose().as_bytes()))
    }

    /// The children this token may have rotated into on a replica whose
    /// ring had another key active: one per key, the active key's first.
    pub fn possible_children(&self, ring: &KeyRing) -> Vec<Self> {
        ring.derive_all(CHILD_LABEL, self.expose().as_bytes()).iter().map(Self::from_bytes).collect()
    }

    /// The token itself, for the response body only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testkit::SeededEntropy;
    use proptest::prelude::*;

    fn ring(fill: char) -> KeyRing {
        KeyRing::new(&[SecretString::from(fill.to_string().repeat(32))]).unwrap()
    }

    #[test]
    fn generated_tokens_parse_back_and_differ() {
        let entropy = SeededEntropy::new(1);
        let a = RefreshToken::generate(&entropy);
        let b = RefreshToken::generate(&entropy);
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(RefreshToken::parse(a.expose()).unwrap().hash(), a.hash());
    }

    #[test]
    fn children_are_stable_per_key_and_distinct_from_parents() {
        let parent = RefreshToken::generate(&SeededEntropy::new(2));
        let child = parent.child(&ring('k'));
        assert_eq!(child.expose(), parent.child(&ring('k')).expose());
        assert_ne!(child.expose(), parent.expose());
        assert_ne!(child.expose(), parent.child(&ring('j')).expose());
        assert!(RefreshToken::parse(child.expose()).is_ok());
    }

    #[test]
    fn debug_hides_the_token() {
        let token = RefreshToken::generate(&SeededEntropy::new(3));
        assert!(!format!("{token:?}").contains(token.expose()));
    }

    proptest! {
        #[test]
        fn parse_accepts_only_canonical_43_character_base64url(input in "[A-Za-z0-9_=+/-]{0,50}") {
            if let Ok(token) = RefreshToken::parse(&input) {
                prop_assert_eq!(token.expose(), input.as_str());
            }
        }
    }
}
