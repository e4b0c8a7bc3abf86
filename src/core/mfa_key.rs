//! Second-factor secrets at rest: AES-256-GCM (ring's AEAD) under the key
//! the secret source supplies (`PORTCULLIS_MFA_KEY`). The user's id is the
//! additional authenticated data, so a sealed secret copied onto another
//! user's row does not open. This module must never log or format a key or
//! a secret.
//!
//! A sealed secret is a version byte, the 96-bit random nonce, then the
//! ciphertext and its tag. There is one key at a time: replacing it leaves
//! every enrolled secret unreadable (those users must enrol again or be
//! reset by an admin), which README states.

use super::user::UserId;
use crate::ports::Entropy;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

/// Bytes of the key.
pub const MFA_KEY_BYTES: usize = 32;
const VERSION: u8 = 1;

/// The key that seals second-factor secrets. `Debug` shows nothing of it.
pub struct MfaKey(LessSafeKey);

impl std::fmt::Debug for MfaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaKey([REDACTED])")
    }
}

/// Why a key or a sealed secret was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MfaKeyError {
    #[error("the MFA key must be {MFA_KEY_BYTES} bytes, not {0}")]
    WrongLength(usize),
    #[error("the sealed secret does not open under this key")]
    Unsealable,
}

impl MfaKey {
    /// # Errors
    /// [`MfaKeyError::WrongLength`] unless `bytes` is 32 bytes long.
    pub fn new(bytes: &[u8]) -> Result<Self, MfaKeyError> {
        if bytes.len() != MFA_KEY_BYTES {
            return Err(MfaKeyError::WrongLength(bytes.len()));
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| MfaKeyError::WrongLength(bytes.len()))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// A fresh random key, for a development run without one.
    pub fn random(entropy: &dyn Entropy) -> Self {
        let mut bytes = [0u8; MFA_KEY_BYTES];
        entropy.fill(&mut bytes);
        Self::new(&bytes).expect("32 bytes make a key")
    }

    /// Seals `secret` for `user`.
    pub fn seal(&self, entropy: &dyn Entropy, user: UserId, secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        entropy.fill(&mut nonce);
        let mut in_out = secret.to_vec();
        // Only fails for inputs of gigabytes.
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), aad(user), &mut in_out)
            .expect("a short secret seals");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        sealed
    }

    /// Opens what [`Self::seal`] sealed for `user`.
    ///
    /// # Errors
    /// [`MfaKeyError::Unsealable`] under another key, for another user, or
    /// for bytes that were altered.
    pub fn open(&self, user: UserId, sealed: &[u8]) -> Result<Vec<u8>, MfaKeyError> {
        let (&version, rest) = sealed.split_first().ok_or(MfaKeyError::Unsealable)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(MfaKeyError::Unsealable);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MfaKeyError::Unsealable)?;
        let mut in_out = ciphertext.to_vec();
        let plain = self.0.open_in_place(nonce, aad(user), &mut in_out).map_err(|_| MfaKeyError::Unsealable)?;
        Ok(plain.to_vec())
    }
}

fn aad(user: UserId) -> Aad<[u8; 16]> {
    Aad::from(*user.as_uuid().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testkit::SeededEntropy;
    use uuid::Uuid;

    fn user(n: u128) -> UserId {
        UserId::from_uuid(Uuid::from_u128(n))
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_under_its_key() {
        let entropy = SeededEntropy::new(7);
        let key = MfaKey::new(&[1; 32]).unwrap();
        let sealed = key.seal(&entropy, user(1), b"twenty-byte-secret!!");
        assert!(!sealed.windows(6).any(|w| w == b"twenty"), "the secret is not in the clear");
        assert_eq!(key.open(user(1), &sealed).unwrap(), b"twenty-byte-secret!!");
        assert_eq!(key.open(user(2), &sealed), Err(MfaKeyError::Unsealable), "another user's row");
        assert_eq!(MfaKey::new(&[2; 32]).unwrap().open(user(1), &sealed), Err(MfaKeyError::Unsealable));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(user(1), &altered), Err(MfaKeyError::Unsealable));
        for junk in [&[][..], &[1][..], &[9; 40][..], &sealed[..20]] {
            assert_eq!(key.open(user(1), junk), Err(MfaKeyError::Unsealable));
        }
        // A fresh nonce each time: one secret seals differently twice.
        assert_ne!(key.seal(&entropy, user(1), b"same"), key.seal(&entropy, user(1), b"same"));
    }

    #[test]
    fn keys_of_the_wrong_length_are_refused_and_never_shown() {
        assert_eq!(MfaKey::new(&[0; 31]).unwrap_err(), MfaKeyError::WrongLength(31));
        assert_eq!(MfaKey::new(&[0; 33]).unwrap_err(), MfaKeyError::WrongLength(33));
        assert_eq!(format!("{:?}", MfaKey::new(&[0x41; 32]).unwrap()), "MfaKey([REDACTED])");
    }
}
