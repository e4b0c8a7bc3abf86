//! The key ring: the keys that sign and verify access tokens, checked once
//! when built from a [`RingDocument`] so an invalid ring never exists.
//!
//! Each key has one algorithm (`HS256`, `EdDSA` with Ed25519, `ES256` with
//! P-256) and a state: exactly one key is `active` and signs, every key
//! verifies. A token is checked only by the key its `kid` names, and only
//! under that key's own algorithm, so an HMAC forged with a public key's
//! bytes, or any other algorithm swap, is refused. Errors name a key by its
//! `kid` or position, never by its bytes.

use super::jws::Compact;
pub use super::live_keyring::LiveKeyRing;
use super::token::{check_key_length, MAX_TOKEN_BYTES, MIN_KEY_BYTES};
use super::token::{check_lifetime, claims_to_verified, AccessClaims, Principal, TokenError, TokenSettings};
use super::user::UnixSeconds;
use super::verified_tokens::Verified;
use crate::ports::{KeyEntry, RingDocument};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;

/// A signing algorithm a key may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Hs256,
    EdDsa,
    Es256,
}

impl Algorithm {
    /// Every algorithm, by its JOSE name.
    pub const ALL: [Self; 3] = [Self::Hs256, Self::EdDsa, Self::Es256];

    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
        }
    }

    /// Parses the exact JOSE name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Hs256 => jsonwebtoken::Algorithm::HS256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
        }
    }
}

/// Whether a key signs or only verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Active,
    VerifyOnly,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::VerifyOnly => "verify-only",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Active, Self::VerifyOnly].into_iter().find(|state| state.as_str() == name)
    }
}

/// How an error names a key: its `kid` when it has a valid one, else its
/// 1-based position in the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyName {
    Kid(String),
    Position(usize),
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kid(kid) => write!(f, "key {kid:?}"),
            Self::Position(position) => write!(f, "key #{position}"),
        }
    }
}

/// A ring document that cannot be used. Never quotes key material, nor a
/// value that failed its check (it might be a misplaced secret).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    #[error("the key ring has no keys")]
    Empty,
    #[error("{0}: alg must be one of HS256, EdDSA, ES256")]
    UnknownAlgorithm(KeyName),
    #[error("{0}: state must be `active` or `verify-only`")]
    UnknownState(KeyName),
    #[error("key #{0}: kid must be 1 to 64 characters of A-Z, a-z, 0-9, `.`, `_`, `-`")]
    BadKid(usize),
    #[error("{0}: kid is used by more than one key")]
    DuplicateKid(KeyName),
    #[error("no key is active; exactly one key must be `active`")]
    NoActiveKey,
    #[error("{0} and {1} are both active; exactly one key must be `active`")]
    SeveralActiveKeys(KeyName, KeyName),
    #[error("{key}: is {length} bytes; HS256 keys must be at least {MIN_KEY_BYTES} bytes")]
    TooShort { key: KeyName, length: usize },
    #[error("{key}: an {alg} key must be a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----) on {curve}")]
    NotPkcs8 { key: KeyName, alg: &'static str, curve: &'static str },
}

/// The public half of an asymmetric key, as JWKS publishes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    pub alg: Algorithm,
    /// `Ed25519` or `P-256`.
    pub crv: &'static str,
    /// `OKP` or `EC`.
    pub kty: &'static str,
    /// base64url coordinates.
    pub x: String,
    pub y: Option<String>,
}

struct RingKey {
    kid: String,
    alg: Algorithm,
    state: KeyState,
    decoding: DecodingKey,
    /// The HMAC key of an HS256 key, prepared once: the bearer check runs
    /// on every gateway request, and preparing it costs two hash blocks.
    hmac: Option<ring::hmac::Key>,
    /// The HS256 secret or the PKCS#8 DER: the signing material, and the
    /// key of [`KeyRing::derive`].
    material: SecretSlice<u8>,
    public: Option<PublicKey>,
}

/// The checked keys: one active key signs, all verify.
pub struct KeyRing {
    keys: Vec<RingKey>,
    /// Index of the active key in `keys`.
    active: usize,
    signer: EncodingKey,
    /// Unique to this ring among the rings this process built: what a
    /// cache of verified tokens is keyed by (an address could be reused).
    generation: u64,
}

/// The generation of the next ring built.
static NEXT_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("KeyRing").field("kids", &kids).field("active", &self.signing_kid()).finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Builds the ring from a legacy list of HS256 secrets: the first is
    /// active, the rest verify only.
    ///
    /// # Errors
    /// [`RingError`] when the list is empty or a key is too short.
    pub fn new(secrets: &[SecretString]) -> Result<Self, RingError> {
        Self::from_document(&RingDocument::from_hs256_list(secrets.to_vec()))
    }

    /// Checks every rule of the ring and builds it.
    ///
    /// # Errors
    /// The first [`RingError`] found, naming the key by kid or position.
    pub fn from_document(document: &RingDocument) -> Result<Self, RingError> {
        if document.keys.is_empty() {
            return Err(RingError::Empty);
        }
        let mut keys: Vec<RingKey> = Vec::with_capacity(document.keys.len());
        for (index, entry) in document.keys.iter().enumerate() {
            let key = build_key(index + 1, entry)?;
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(RingError::DuplicateKid(KeyName::Kid(key.kid)));
            }
            keys.push(key);
        }
        let mut active = keys.iter().enumerate().filter(|(_, k)| k.state == KeyState::Active);
        let (index, first) = active.next().ok_or(RingError::NoActiveKey)?;
        if let Some((_, second)) = active.next() {
            return Err(RingError::SeveralActiveKeys(
                KeyName::Kid(first.kid.clone()),
                KeyName::Kid(second.kid.clone()),
            ));
        }
        let material = first.material.expose_secret();
        let signer = match first.alg {
            Algorithm::Hs256 => EncodingKey::from_secret(material),
            Algorithm::EdDsa => EncodingKey::from_ed_der(material),
            Algorithm::Es256 => EncodingKey::from_ec_der(material),
        };
        let generation = NEXT_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Self { keys, active: index, signer, generation })
    }

    /// This ring's generation: no other ring of this process has it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The `kid` of the signing key.
    pub fn signing_kid(&self) -> &str {
        &self.keys[self.active].kid
    }

    /// The algorithm of the signing key.
    pub fn signing_algorithm(&self) -> Algorithm {
        self.keys[self.active].alg
    }

    /// Whether `other` holds the very same keys, in the same order and
    /// states, material included: a reload that finds this may keep the
    /// ring in use, and with it the tokens verified under it.
    pub fn same_keys(&self, other: &Self) -> bool {
        self.active == other.active
            && self.keys.len() == other.keys.len()
            && self.keys.iter().zip(&other.keys).all(|(a, b)| {
                a.kid == b.kid
                    && a.alg == b.alg
                    && a.state == b.state
                    && a.material.expose_secret() == b.material.expose_secret()
            })
    }

    /// Every key's `kid`, algorithm and state, in document order.
    pub fn describe(&self) -> Vec<(&str, Algorithm, KeyState)> {
        self.keys.iter().map(|k| (k.kid.as_str(), k.alg, k.state)).collect()
    }

    /// The public keys of the asymmetric keys, active and verify-only.
    pub fn public_keys(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.iter().filter_map(|k| k.public.as_ref())
    }

    /// Signs `claims` with the active key, under its algorithm.
    pub fn sign(&self, claims: &AccessClaims) -> String {
        let signer = &self.keys[self.active];
        let mut header = Header::new(signer.alg.jwt());
        header.kid = Some(signer.kid.clone());
        // The key was parsed with this very algorithm when the ring was built.
        jsonwebtoken::encode(&header, claims, &self.signer).expect("a checked key signs plain claims")
    }

    /// Checks signature, algorithm, `kid`, issuer, audience and lifetime.
    /// The key is the one the `kid` names, and the header's `alg` must be
    /// that key's algorithm. Revocation is the caller's business.
    ///
    /// # Errors
    /// [`TokenError::Expired`] past `exp` (plus leeway), [`TokenError::Invalid`]
    /// for everything else.
    pub fn verify(&self, token: &str, settings: &TokenSettings, now: UnixSeconds) -> Result<Principal, TokenError> {
        let verified = self.verify_signed(token, settings)?;
        check_lifetime(&verified, settings, now)?;
        Ok(verified.principal)
    }

    /// [`Self::verify`] without the clock: what holds of `token` for as
    /// long as this ring is in use, which [`check_lifetime`] then judges.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] for anything but a token signed by a key of
    /// this ring with that key's algorithm, for this issuer and audience.
    pub fn verify_signed(&self, token: &str, settings: &TokenSettings) -> Result<Verified, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Invalid);
        }
        let compact = Compact::split(token)?;
        let header = compact.header()?;
        let kid = header.kid.as_deref().ok_or(TokenError::Invalid)?;
        let key = self.keys.iter().find(|k| k.kid == kid).ok_or(TokenError::Invalid)?;
        if header.alg != key.alg.as_str() {
            return Err(TokenError::Invalid);
        }
        let claims = if let Some(hmac) = &key.hmac {
            compact.hmac_claims(hmac, settings)?
        } else {
            let mut validation = Validation::new(key.alg.jwt());
            // Time is checked against the injected clock.
            validation.validate_exp = false;
            validation.validate_nbf = false;
            validation.required_spec_claims.clear();
            validation.set_issuer(&[&settings.issuer]);
            validation.set_audience(&[&settings.audience]);
            jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
                .map_err(|_| TokenError::Invalid)?
                .claims
        };
        claims_to_verified(&claims)
    }

    /// A keyed hash of `input` under the active key, for values that every
    /// replica must derive alike without storing them (the refresh token a
    /// rotated parent maps to, device tokens).
    pub fn derive(&self, label: &str, input: &[u8]) -> [u8; 32] {
        derive_with(&self.keys[self.active], label, input)
    }

    /// [`Self::derive`] under every key, the active key first: what another
    /// replica may have derived while its ring had another key active (the
    /// moments of a rotation when replicas disagree).
    pub fn derive_all(&self, label: &str, input: &[u8]) -> Vec<[u8; 32]> {
        let active = std::iter::once(&self.keys[self.active]);
        let others = self.keys.iter().enumerate().filter(|(i, _)| *i != self.active).map(|(_, k)| k);
        active.chain(others).map(|key| derive_with(key, label, input)).collect()
    }
}

fn derive_with(key: &RingKey, label: &str, input: &[u8]) -> [u8; 32] {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.material.expose_secret()).expect("HMAC accepts keys of any length");
    mac.update(label.as_bytes());
    mac.update(&[0]);
    mac.update(input);
    mac.finalize().into_bytes().into()
}

/// Whether `kid` is a name this service accepts and publishes.
pub fn is_valid_kid(kid: &str) -> bool {
    (1..=64).contains(&kid.len()) && kid.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn build_key(position: usize, entry: &KeyEntry) -> Result<RingKey, RingError> {
    let explicit = match &entry.kid {
        Some(kid) if is_valid_kid(kid) => Some(kid.clone()),
        Some(_) => return Err(RingError::BadKid(position)),
        None => None,
    };
    let name = explicit.clone().map_or(KeyName::Position(position), KeyName::Kid);
    let alg = Algorithm::parse(&entry.alg).ok_or_else(|| RingError::UnknownAlgorithm(name.clone()))?;
    let state = KeyState::parse(&entry.state).ok_or_else(|| RingError::UnknownState(name.clone()))?;
    let text = entry.key.expose_secret();
    let hmac = (alg == Algorithm::Hs256).then(|| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, text.as_bytes()));
    let (material, decoding, public_bytes) = match alg {
        Algorithm::Hs256 => {
            check_key_length(position, text.as_bytes())
                .map_err(|_| RingError::TooShort { key: name, length: text.len() })?;
            (text.as_bytes().to_vec(), DecodingKey::from_secret(text.as_bytes()), None)
        }
        Algorithm::EdDsa | Algorithm::Es256 => {
            let der = pkcs8_der(text).ok_or_else(|| not_pkcs8(&name, alg))?;
            let public = public_key_bytes(alg, &der).ok_or_else(|| not_pkcs8(&name, alg))?;
            let decoding = if alg == Algorithm::EdDsa {
                DecodingKey::from_ed_der(&public)
            } else {
                DecodingKey::from_ec_der(&public)
            };
            (der, decoding, Some(public))
        }
    };
    // Without a kid, a key is named by a hash: of the secret for HS256 (as
    // the legacy list always did), of the public key otherwise.
    let kid = explicit.unwrap_or_else(|| key_id(public_bytes.as_deref().unwrap_or(&material)));
    let public = public_bytes.map(|bytes| public_jwk(&kid, alg, &bytes));
    Ok(RingKey { kid, alg, state, decoding, hmac, material: SecretSlice::from(material), public })
}

fn not_pkcs8(name: &KeyName, alg: Algorithm) -> RingError {
    let curve = if alg == Algorithm::EdDsa { "Ed25519" } else { "P-256" };
    RingError::NotPkcs8 { key: name.clone(), alg: alg.as_str(), curve }
}

/// The DER inside a `PRIVATE KEY` PEM block (RFC 7468, strict).
pub fn pkcs8_der(pem: &str) -> Option<Vec<u8>> {
    let (label, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).ok()?;
    (label == "PRIVATE KEY").then_some(der)
}

/// The raw public key of a PKCS#8 private key: 32 bytes for Ed25519, the
/// 65-byte uncompressed point for P-256.
fn public_key_bytes(alg: Algorithm, der: &[u8]) -> Option<Vec<u8>> {
    match alg {
        Algorithm::Hs256 => None,
        Algorithm::EdDsa => {
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).ok().map(|pair| pair.public_key().as_ref().to_vec())
        }
        Algorithm::Es256 => {
            let rng = ring::rand::SystemRandom::new();
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
                .ok()
                .map(|pair| pair.public_key().as_ref().to_vec())
        }
    }
}

fn public_jwk(kid: &str, alg: Algorithm, bytes: &[u8]) -> PublicKey {
    let (kty, crv, x, y) = if alg == Algorithm::EdDsa {
        ("OKP", "Ed25519", URL_SAFE_NO_PAD.encode(bytes), None)
    } else {
        // 0x04 ‖ x ‖ y
        ("EC", "P-256", URL_SAFE_NO_PAD.encode(&bytes[1..33]), Some(URL_SAFE_NO_PAD.encode(&bytes[33..65])))
    };
    PublicKey { kid: kid.to_owned(), alg, crv, kty, x, y }
}

/// A fresh private key for `alg` as PKCS#8 PEM, from the system's random
/// source; `None` for HS256, whose keys are plain random bytes.
pub fn generate_private_key(alg: Algorithm) -> Option<SecretString> {
    let rng = ring::rand::SystemRandom::new();
    let document = match alg {
        Algorithm::Hs256 => return None,
        Algorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng).ok()?,
        Algorithm::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).ok()?,
    };
    let pem = pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, document.as_ref()).ok()?;
    Some(SecretString::from(pem))
}

/// A key's public name: a short hash, so the key itself never travels.
pub fn key_id(bytes: &[u8]) -> String {
    let digest = Sha256::new().chain_update(b"portcullis-kid:").chain_update(bytes).finalize();
    super::hex::encode(&digest[..8])
}

#[cfg(test)]
#[path = "keyring_tests.rs"]
mod tests;
